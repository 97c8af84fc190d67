"""drop transactions.legacy_ref

Verdict: LOSSY. The upgrade drops a column that existed before it (created by 0002), with
its values. The downgrade runs and re-adds the column, but empty: the legacy references
that existed before the upgrade do not come back. Roll back past this step by restoring
a snapshot, not by downgrading.

Revision ID: 0004_drop_legacy_ref
Revises: 0003_transaction_note
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_drop_legacy_ref"
down_revision = "0003_transaction_note"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("transactions") as batch:
        batch.drop_column("legacy_ref")


def downgrade() -> None:
    with op.batch_alter_table("transactions") as batch:
        batch.add_column(sa.Column("legacy_ref", sa.String(64), nullable=True))
