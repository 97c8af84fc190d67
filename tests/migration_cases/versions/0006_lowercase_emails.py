"""lowercase emails

Revision ID: 0006
Revises: 0005
"""
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade():
    op.execute("UPDATE users SET email = lower(email)")


def downgrade():
    # the original spelling is gone
    op.execute("SELECT 1")
