"""Database access: engine, the few tables the app touches, migration state.

Imported by ``migrations/env.py`` and ``budgetbuddy.manage`` too, so it must not load
the app's settings or the web stack.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

import sqlalchemy as sa
from sqlalchemy.engine import URL, Connection, Engine, make_url

BACKEND_DIR = Path(__file__).resolve().parents[1]
MIGRATIONS_DIR = BACKEND_DIR / "migrations"
VERSION_TABLE = "alembic_version"

# The app only touches columns that exist since the first revision, so it keeps working
# at every revision (e.g. after `alembic downgrade -1`).
metadata = sa.MetaData()
users = sa.Table(
    "users",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("username", sa.String(255), nullable=False, unique=True),
    sa.Column("password_hash", sa.String(255), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True)),
)


def normalize_url(raw: str) -> URL:
    """Parse DATABASE_URL; plain ``postgresql://``/``postgres://`` mean psycopg 3."""
    url = make_url(raw.strip())
    if url.drivername in ("postgresql", "postgres"):
        url = url.set(drivername="postgresql+psycopg")
    return url


def mask_url(raw: str) -> str:
    """DATABASE_URL with the password replaced by ***, for logs and messages."""
    try:
        return normalize_url(raw).render_as_string(hide_password=True)
    except Exception:
        return "<unparseable DATABASE_URL>"


def url_password(raw: str) -> str | None:
    try:
        return normalize_url(raw).password
    except Exception:
        return None


def make_engine(raw: str, connect_timeout_s: int = 2, **kwargs) -> Engine:
    url = normalize_url(raw)
    connect_args: dict = {}
    if url.get_backend_name() == "sqlite":
        connect_args = {"timeout": connect_timeout_s, "check_same_thread": False}
    elif url.get_backend_name() == "postgresql":
        # libpq's minimum is 2 s; keeps readyz and migrations from hanging on a dead host.
        connect_args = {"connect_timeout": max(2, int(connect_timeout_s))}
    return sa.create_engine(url, connect_args=connect_args, **kwargs)


def describe_db_error(exc: BaseException, raw_url: str, leaky: bool = False) -> str:
    """One line describing a database error, without credentials (unless leaky)."""
    inner = getattr(exc, "orig", None) or exc
    text = " ".join(str(inner).split()) or type(inner).__name__
    if len(text) > 400:
        text = text[:400] + "..."
    if not leaky:
        password = url_password(raw_url)
        if password:
            for form in {password, quote(password, safe=""), quote(password)}:
                text = text.replace(form, "***")
    return text


def script_heads(migrations_dir: Path = MIGRATIONS_DIR) -> tuple[list[str], set[str]]:
    """(heads, every known revision id) of the migrations folder."""
    from alembic.script import ScriptDirectory

    script = ScriptDirectory(str(migrations_dir))
    heads = list(script.get_heads())
    known = {rev.revision for rev in script.walk_revisions()}
    return heads, known


def current_revisions(conn: Connection) -> list[str] | None:
    """The database's alembic_version rows; None when the table does not exist."""
    if not sa.inspect(conn).has_table(VERSION_TABLE):
        return None
    rows = conn.execute(sa.text(f"SELECT version_num FROM {VERSION_TABLE}")).scalars().all()
    return sorted(rows)
