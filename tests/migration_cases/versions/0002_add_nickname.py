"""add nickname

Revision ID: 0002
Revises: 0001
"""
from alembic import op
import sqlalchemy as sa

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade():
    op.add_column("users", sa.Column("nickname", sa.String(length=50), nullable=True))
    op.create_index("ix_users_nickname", "users", ["nickname"])


def downgrade():
    op.drop_index("ix_users_nickname", table_name="users")
    op.drop_column("users", "nickname")
