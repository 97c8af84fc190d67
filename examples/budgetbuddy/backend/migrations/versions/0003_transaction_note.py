"""transactions.note (nullable) and an index on transactions.occurred_at

Verdict: reversible. The downgrade drops only the column and index this upgrade created
(notes written after the upgrade are lost, which is data in things the upgrade created).

Revision ID: 0003_transaction_note
Revises: 0002_accounts_transactions
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_transaction_note"
down_revision = "0002_accounts_transactions"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("transactions") as batch:
        batch.add_column(sa.Column("note", sa.Text(), nullable=True))
    op.create_index("ix_transactions_occurred_at", "transactions", ["occurred_at"])


def downgrade() -> None:
    op.drop_index("ix_transactions_occurred_at", table_name="transactions")
    with op.batch_alter_table("transactions") as batch:
        batch.drop_column("note")
