"""Getting a run id to a worker: RQ on Redis, or in-process when no REDIS_URL is set.

Only the run id crosses the queue (RQ's JSON serializer); the run's truth lives in the bot
database, so a job Redis lost can always be enqueued again from it.
"""

from __future__ import annotations

import logging
import threading
from typing import Callable, Protocol

from bot import keys
from bot.errors import QueueUnavailable

log = logging.getLogger("bbops.queue")

JOB_FUNCTION = "workers.jobs.execute_run"


class Enqueuer(Protocol):
    def enqueue(self, run_id: int, *, mutating: bool, timeout_s: float, phase: str = "run",
                attempt: int = 0) -> None: ...


class RQEnqueuer:
    def __init__(self, redis) -> None:
        from rq import Queue
        from rq.serializers import JSONSerializer

        self.redis = redis
        self.queues = {name: Queue(name, connection=redis, serializer=JSONSerializer) for name in keys.QUEUES}

    def enqueue(self, run_id: int, *, mutating: bool, timeout_s: float, phase: str = "run",
                attempt: int = 0) -> None:
        from redis.exceptions import RedisError

        queue = self.queues[keys.QUEUE_CHANGE if mutating else keys.QUEUE_READ]
        try:
            queue.enqueue(JOB_FUNCTION, run_id, phase, job_id=keys.job_id(run_id, phase, attempt),
                          job_timeout=int(timeout_s) + 30, result_ttl=3600, failure_ttl=7 * 86400,
                          description=f"bb-ops run {run_id} ({phase})")
        except RedisError as exc:
            raise QueueUnavailable(f"the queue (Redis) is unavailable: {type(exc).__name__}") from exc

    def job_known(self, run_id: int, phase: str, attempt: int) -> bool:
        """Whether Redis still has this run's job (waiting, running or finished)."""
        from rq.job import Job

        return Job.exists(keys.job_id(run_id, phase, attempt), connection=self.redis)

    def depth(self) -> dict[str, int]:
        return {name: q.count for name, q in self.queues.items()}


class InProcessEnqueuer:
    """No Redis: `say`, `click`, `shell` and the demo run the very job function a worker would,
    in this process, after the Slack request has been answered (``drain``)."""

    def __init__(self, runner: Callable[[int, str], object] | None = None) -> None:
        self._pending: list[tuple[int, str]] = []
        self._lock = threading.Lock()
        self._runner = runner

    def enqueue(self, run_id: int, *, mutating: bool, timeout_s: float, phase: str = "run",
                attempt: int = 0) -> None:
        with self._lock:
            self._pending.append((run_id, phase))

    def drain(self) -> int:
        """Run every pending job, including jobs those jobs enqueue; returns how many ran."""
        if self._runner is None:
            from workers.jobs import execute_run

            self._runner = execute_run
        ran = 0
        while True:
            with self._lock:
                if not self._pending:
                    return ran
                run_id, phase = self._pending.pop(0)
            self._runner(run_id, phase)
            ran += 1
