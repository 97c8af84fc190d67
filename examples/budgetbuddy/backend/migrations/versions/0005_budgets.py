"""budgets table, derived from transactions; currency codes normalised in place

Verdict: IRREVERSIBLE. The upgrade migrates data with raw SQL (budgets computed from
transactions, accounts.currency rewritten to upper case in place); the original values
are not kept anywhere, so the downgrade refuses to run. Restore a snapshot instead.

Revision ID: 0005_budgets
Revises: 0004_drop_legacy_ref
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_budgets"
down_revision = "0004_drop_legacy_ref"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "budgets",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "account_id",
            sa.Integer(),
            sa.ForeignKey("accounts.id", name="fk_budgets_account_id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("period", sa.String(16), nullable=False, server_default="monthly"),
        sa.Column("amount", sa.Numeric(12, 2), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.UniqueConstraint("account_id", "period", name="uq_budgets_account_period"),
    )
    op.execute(
        "INSERT INTO budgets (account_id, period, amount) "
        "SELECT account_id, 'monthly', SUM(-amount) FROM transactions "
        "WHERE amount < 0 GROUP BY account_id"
    )
    op.execute("UPDATE accounts SET currency = UPPER(currency)")


def downgrade() -> None:
    raise NotImplementedError(
        "0005_budgets is irreversible: accounts.currency was rewritten in place and budgets "
        "were derived from transactions; restore a snapshot taken before 0005 instead"
    )
