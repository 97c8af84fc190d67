"""Engines and schema upgrades for the bot database (SQLite file by default, PostgreSQL via URL)."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine, make_url

from bot.core.errors import ConfigError

HERE = Path(__file__).resolve().parent


def make_engine(url: str) -> Engine:
    """An engine that is safe for several processes (serve + workers) on SQLite as well."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):
            dbapi_conn.isolation_level = None          # let SQLAlchemy emit BEGIN itself
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        @event.listens_for(engine, "begin")
        def _begin_immediate(conn):
            # one writer at a time, decided at BEGIN: no read-then-upgrade deadlocks
            conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    if parsed.get_backend_name() == "postgresql":
        if parsed.drivername == "postgresql":
            parsed = parsed.set(drivername="postgresql+psycopg")
        return create_engine(parsed, pool_pre_ping=True, pool_size=5, max_overflow=10,
                             connect_args={"connect_timeout": 10})
    raise ConfigError(f"BBOPS_DATABASE_URL: unsupported database '{parsed.get_backend_name()}'; "
                      "use sqlite:///path or postgresql://...")


def alembic_config(url: str):
    from alembic.config import Config

    cfg = Config(str(HERE / "alembic.ini"))
    cfg.set_main_option("script_location", str(HERE / "migrations"))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(url: str, engine: Engine | None = None) -> None:
    """`bb-ops db upgrade`: bring the bot database to the newest schema."""
    from alembic import command

    engine = engine or make_engine(url)
    cfg = alembic_config(url)
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")


def current_and_head(engine: Engine, url: str) -> tuple[str | None, str | None]:
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(alembic_config(url)).get_current_head()
    with engine.connect() as conn:
        current = MigrationContext.configure(conn).get_current_revision()
    return current, head


def require_head(engine: Engine, url: str) -> None:
    current, head = current_and_head(engine, url)
    if current != head:
        raise ConfigError(f"the bot database is at revision {current or 'none'}, the code expects {head}: "
                          "run `bb-ops db upgrade` (Procfile release) first")
