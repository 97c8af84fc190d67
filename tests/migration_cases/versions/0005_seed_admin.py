"""seed the admin user

Revision ID: 0005
Revises: 0004
"""
from alembic import op
import sqlalchemy as sa

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

users = sa.table("users", sa.column("username", sa.String), sa.column("email", sa.String))


def upgrade():
    op.bulk_insert(users, [{"username": "admin", "email": "admin@example.invalid"}])


def downgrade():
    pass
