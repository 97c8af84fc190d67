"""runs, audit trail, snapshots

Revision ID: 0001_initial
Revises:
"""
import sqlalchemy as sa
from alembic import op

from bot.infra.db.models import UTCDateTime

revision = "0001_initial"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "runs",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("verb", sa.String(32), nullable=False),
        sa.Column("env", sa.String(32), index=True),
        sa.Column("args", sa.JSON, nullable=False),
        sa.Column("text", sa.String(600), nullable=False),
        sa.Column("requester", sa.String(32), nullable=False),
        sa.Column("channel", sa.String(32), nullable=False),
        sa.Column("trigger_id", sa.String(128), unique=True),
        sa.Column("status", sa.String(24), nullable=False, index=True),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        sa.Column("enqueued_at", UTCDateTime),
        sa.Column("started_at", UTCDateTime),
        sa.Column("finished_at", UTCDateTime),
        sa.Column("heartbeat_at", UTCDateTime),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("worker", sa.String(128)),
        sa.Column("parent_ts", sa.String(32)),
        sa.Column("card_ts", sa.String(32)),
        sa.Column("plan", sa.JSON),
        sa.Column("plan_hash", sa.String(64)),
        sa.Column("approved_by", sa.String(32)),
        sa.Column("decided_at", UTCDateTime),
        sa.Column("expires_at", UTCDateTime),
        sa.Column("summary", sa.Text, nullable=False),
        sa.Column("delay_notified", sa.Boolean, nullable=False),
    )
    op.create_table(
        "audit_events",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("ts", UTCDateTime, nullable=False),
        sa.Column("run_id", sa.Integer, index=True),
        sa.Column("env", sa.String(32)),
        sa.Column("event", sa.String(40), nullable=False),
        sa.Column("actor", sa.String(32), nullable=False),
        sa.Column("detail", sa.JSON, nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
    )
    op.create_table(
        "audit_head",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("last_id", sa.Integer, nullable=False),
        sa.Column("last_hash", sa.String(64), nullable=False),
    )
    op.bulk_insert(sa.table("audit_head", sa.column("id", sa.Integer), sa.column("last_id", sa.Integer),
                            sa.column("last_hash", sa.String)),
                   [{"id": 1, "last_id": 0, "last_hash": "0" * 64}])
    op.create_table(
        "snapshots",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(100), nullable=False, unique=True),
        sa.Column("env", sa.String(32), nullable=False, index=True),
        sa.Column("run_id", sa.Integer),
        sa.Column("revision", sa.String(64)),
        sa.Column("path", sa.String(500), nullable=False),
        sa.Column("size_bytes", sa.BigInteger, nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("verified", sa.Boolean, nullable=False),
        sa.Column("verify_detail", sa.Text, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("snapshots")
    op.drop_table("audit_head")
    op.drop_table("audit_events")
    op.drop_table("runs")
