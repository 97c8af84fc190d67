"""Fixtures: real Redis, real PostgreSQL, the real reference target, a local Slack stand-in.

Services that cannot be had make the tests fail loudly, never skip.
"""

from __future__ import annotations

import os

import pytest

from bot.devkit.reference_target import ReferenceTarget
from bot.devkit.services import PostgresServer, RedisServer
from bot.devkit.standin import SlackStandIn
from bot.devkit.world import SMOKE_PASSWORD_ENV, SMOKE_USER_ENV


@pytest.fixture(scope="session")
def redis_server():
    server = RedisServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def pg():
    server = PostgresServer()
    yield server
    server.stop()


@pytest.fixture
def standin():
    with SlackStandIn() as s:
        yield s


@pytest.fixture
def pg_url(pg):
    """A fresh, empty PostgreSQL database (and its own role) for one test."""
    with pg.scratch("bbops") as url:
        yield url


def _start_target(workdir, database_url, revision: str = "head", **env_overrides) -> ReferenceTarget:
    target = ReferenceTarget(workdir=workdir, database_url=database_url, env_overrides=env_overrides)
    if revision == "head":
        target.start()
    else:  # a target whose database is behind its code
        target.write_env_file()
        target.migrate(revision)
        target.create_user()
        target.start(migrate=False)
    os.environ[SMOKE_USER_ENV] = target.smoke_user
    os.environ[SMOKE_PASSWORD_ENV] = target.smoke_password
    return target


@pytest.fixture(scope="session")
def session_target(tmp_path_factory, pg):
    """The reference target on PostgreSQL at head, shared by read-only tests that do not change it."""
    with pg.scratch("bbtarget") as url:
        target = _start_target(tmp_path_factory.mktemp("target"), url)
        yield target
        target.stop()


@pytest.fixture
def fresh_target(tmp_path, pg):
    """A reference target of its own (PostgreSQL, at head) for a test that changes it."""
    with pg.scratch("bbtarget") as url:
        target = _start_target(tmp_path / "target", url)
        yield target
        target.stop()


@pytest.fixture
def make_target(tmp_path, pg):
    """Start targets with chosen env overrides (fault flags, leaky mode); each on its own database."""
    started, scratches = [], []

    def make(name: str = "target", *, sqlite: bool = False, revision: str = "head", **env_overrides) -> ReferenceTarget:
        url = None
        if not sqlite:
            cm = pg.scratch("bbtarget")
            url = cm.__enter__()
            scratches.append(cm)
        target = _start_target(tmp_path / name, url, revision, **env_overrides)
        started.append(target)
        return target

    yield make
    for target in started:
        target.stop()
    for cm in reversed(scratches):
        cm.__exit__(None, None, None)


@pytest.fixture
def bot(tmp_path, session_target, standin):
    """The bot in-process (no Redis) against the shared reference target, SQLite bot database."""
    from tests.support.fixtures_bot import make_driver

    driver = make_driver(tmp_path, session_target, standin, in_process=True)
    yield driver
    driver.close()
