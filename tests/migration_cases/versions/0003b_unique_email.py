"""unique email

Revision ID: 0003b
Revises: 0002
"""
from alembic import op

revision = "0003b"
down_revision = "0002"
branch_labels = ("email",)
depends_on = None


def upgrade():
    op.create_unique_constraint("uq_users_email", "users", ["email"])


def downgrade():
    op.drop_constraint("uq_users_email", "users", type_="unique")
