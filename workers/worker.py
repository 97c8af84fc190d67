"""`bb-ops worker`: an RQ worker on the bb-ops queues.

Loads config, the bot database and every step module *before* RQ forks its work horses, so a job
only looks them up. Outlives a Redis restart: a lost connection is retried with backoff instead of
exiting. Runs the janitor (requeue lost jobs, mark dead workers' runs) beside the work loop.
"""

from __future__ import annotations

import logging
import os
import time

from bot.errors import ConfigError
from bot.runtime import build_runtime, set_current
from bot.settings import Settings

log = logging.getLogger("bbops.worker")

BACKOFF_MAX_S = 30.0


def make_worker(rt, name: str | None = None):
    from rq import Worker
    from rq.serializers import JSONSerializer

    from bot import keys

    worker = Worker(list(keys.QUEUES), connection=rt.redis, serializer=JSONSerializer,
                    name=name or f"bbops-{os.uname().nodename}-{os.getpid()}", job_monitoring_interval=5)
    return worker


def run_worker(settings: Settings, *, burst: bool = False, name: str | None = None) -> int:
    from redis.exceptions import ConnectionError as RedisConnectionError
    from redis.exceptions import TimeoutError as RedisTimeoutError

    from bot.db.engine import require_head
    from bot.server import start_background
    from workers import steps

    if not settings.redis_url:
        raise ConfigError("REDIS_URL is not set: the worker takes jobs from Redis "
                          "(without Redis, `say`/`shell`/the demo run jobs in-process)")
    rt = build_runtime(settings)
    require_head(rt.store.engine, settings.database_url)
    set_current(rt)
    steps.preload()
    import workers.change  # noqa: F401  (loaded before the fork, like every step)

    stop = None if burst else start_background(rt)
    delay = 0.5
    try:
        while True:
            try:
                worker = make_worker(rt, name)
                delay = 0.5
                worker.work(burst=burst, with_scheduler=False, logging_level="WARNING")
                return 0
            except (RedisConnectionError, RedisTimeoutError) as exc:
                log.warning("redis unavailable (%s); retrying in %.1f s", type(exc).__name__, delay)
                time.sleep(delay)
                delay = min(BACKOFF_MAX_S, delay * 2)
                if burst:
                    continue
    finally:
        if stop is not None:
            stop.set()
