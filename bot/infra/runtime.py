"""Wiring: settings + config + bot database + Slack client + queue, built once per process.

`serve`, `worker`, `say`, `click`, `shell` and the demo each build one Runtime; workers load it
before RQ forks its work horses, so a job only looks it up (``current()``).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Callable

from bot.core.config import BotConfig, load_config
from bot.core.settings import Settings
from bot.infra.db.engine import make_engine
from bot.infra.poster import SlackPoster, make_client
from bot.infra.queue import Enqueuer, InProcessEnqueuer, RQEnqueuer
from bot.infra.store import Store
from bot.redaction import (
    install_logging_filter,
    register_env,
    register_env_file,
    register_secrets,
)

log = logging.getLogger("bbops")


@dataclass
class Runtime:
    settings: Settings
    config: BotConfig
    store: Store
    poster: SlackPoster
    enqueuer: Enqueuer
    redis: object | None = None

    @property
    def client(self):
        return self.poster.client

    @property
    def in_process(self) -> bool:
        return isinstance(self.enqueuer, InProcessEnqueuer)


def register_known_secrets(settings: Settings, config: BotConfig, environ=None) -> None:
    """Teach the redactor every secret this process can know about, before anything is said."""
    environ = os.environ if environ is None else environ
    register_secrets(settings.secrets())
    register_env({k: environ.get(k) for k in ("REDIS_URL", "BBOPS_DATABASE_URL") if environ.get(k)},
                 source="bb-ops")
    for env in config.environments.values():
        if env.app_env.file and env.app_env.file.is_file():
            register_env_file(env.app_env.file)
        if env.smoke:
            pw = environ.get(env.smoke.password_env)
            if pw:
                register_secrets({f"{env.smoke.password_env}": pw})


def connect_redis(url: str):
    from redis import Redis

    return Redis.from_url(url, socket_connect_timeout=2, socket_timeout=5, health_check_interval=15,
                          retry_on_timeout=True)


def build_runtime(settings: Settings, *, config: BotConfig | None = None, client=None,
                  enqueuer: Enqueuer | None = None, in_process: bool | None = None,
                  job: Callable[[int, str], object] | None = None) -> Runtime:
    """``job``: the job function an in-process queue runs (``workers.jobs.execute_run``, handed over
    by the entry points; ``bot`` does not import ``workers``)."""
    install_logging_filter()
    config = config or load_config(settings.config_path)
    register_known_secrets(settings, config)
    store = Store(make_engine(settings.database_url))
    if client is None:
        client = make_client(settings.slack_bot_token, settings.slack_api_url)
    redis = None
    if enqueuer is None:
        if settings.redis_url and not in_process:
            redis = connect_redis(settings.redis_url)
            enqueuer = RQEnqueuer(redis)
        else:
            enqueuer = InProcessEnqueuer(job)
    elif isinstance(enqueuer, RQEnqueuer):
        redis = enqueuer.redis
    return Runtime(settings=settings, config=config, store=store, poster=SlackPoster(client),
                   enqueuer=enqueuer, redis=redis)


_current: Runtime | None = None


def set_current(rt: Runtime | None) -> None:
    global _current, _pid
    _current, _pid = rt, os.getpid()


_pid = os.getpid()


def current() -> Runtime:
    """The process's runtime. In an RQ work horse (a fork), pooled DB connections inherited from the
    parent are dropped first: a connection must never be shared across processes."""
    global _current, _pid
    if _current is None:
        # an RQ worker started with `rq worker` rather than `bb-ops worker`: build from the environment
        _current = build_runtime(Settings.from_env())
        _pid = os.getpid()
    elif _pid != os.getpid():
        _current.store.engine.dispose(close=False)
        _pid = os.getpid()
    return _current
