"""Alembic environment for the BudgetBuddy reference backend.

DATABASE_URL comes from the environment only (never from alembic.ini, never hard-coded):
``sqlite:///path`` or ``postgresql+psycopg://user:password@host:port/db`` (a plain
``postgresql://`` URL means psycopg 3 as well). SQLite runs in batch mode so that
ALTER-style operations work there too.
"""

from __future__ import annotations

import os
import sys
from logging.config import fileConfig
from pathlib import Path

from alembic import context
from sqlalchemy.pool import NullPool

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from budgetbuddy.db import make_engine, normalize_url  # noqa: E402

config = context.config
if config.config_file_name is not None:
    fileConfig(config.config_file_name, disable_existing_loggers=False)

target_metadata = None


def _database_url() -> str:
    url = (os.environ.get("DATABASE_URL") or "").strip()
    if not url:
        raise SystemExit(
            "error: DATABASE_URL is not set; export it (or put it in the deployment's .env) "
            "before running alembic"
        )
    return url


def run_migrations_offline() -> None:
    url = normalize_url(_database_url())
    context.configure(
        url=url,
        target_metadata=target_metadata,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
        render_as_batch=url.get_backend_name() == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    engine = make_engine(_database_url(), connect_timeout_s=10, poolclass=NullPool)
    try:
        with engine.connect() as connection:
            context.configure(
                connection=connection,
                target_metadata=target_metadata,
                render_as_batch=connection.dialect.name == "sqlite",
            )
            with context.begin_transaction():
                context.run_migrations()
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
