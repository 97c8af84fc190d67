"""users.display_name (nullable)

Verdict: reversible. The downgrade drops only the column this upgrade added (display
names set after the upgrade are lost: data in things the upgrade created).

Revision ID: 0006_user_display_name
Revises: 0005_budgets
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_user_display_name"
down_revision = "0005_budgets"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("display_name", sa.String(100), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.drop_column("display_name")
