"""The bot's own database: runs, approvals, snapshots and the audit trail (SQLAlchemy 2 + Alembic)."""
