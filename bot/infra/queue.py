"""Getting a run id to a worker: RQ on Redis, or in-process when no REDIS_URL is set.

Only the run id crosses the queue (RQ's JSON serializer); the run's truth lives in the bot
database, so a job Redis lost can always be enqueued again from it.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from typing import Callable, Protocol

from bot.core.defaults import FAST_TIMEOUT_S
from bot.core.errors import QueueUnavailable
from bot.infra import keys

log = logging.getLogger("bbops.queue")

#: what an RQ worker runs, by name (the entry points hand the function itself to an in-process queue)
JOB_FUNCTION = "workers.jobs.execute_run"


class Enqueuer(Protocol):
    def enqueue(self, run_id: int, *, mutating: bool, timeout_s: float, phase: str = "run",
                attempt: int = 0) -> None: ...


def fast_client(redis, timeout_s: float = FAST_TIMEOUT_S):
    """A client on the same Redis as ``redis`` that gives up after ``timeout_s`` and never retries:
    for the ack path, the janitor and scrapes, where "Redis is unavailable" is an answer."""
    from redis import ConnectionPool, Redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    pool = redis.connection_pool
    kwargs = {k: v for k, v in pool.connection_kwargs.items() if not k.startswith(("orig_", "maint_"))}
    kwargs.update(socket_timeout=timeout_s, socket_connect_timeout=timeout_s, retry_on_timeout=False,
                  retry=Retry(NoBackoff(), 0))
    return Redis(connection_pool=ConnectionPool(connection_class=pool.connection_class, **kwargs))


@contextlib.contextmanager
def redis_unavailable_is_queue_unavailable():
    """Translate a Redis failure into QueueUnavailable, once, at this edge."""
    from redis.exceptions import RedisError

    try:
        yield
    except RedisError as exc:
        raise QueueUnavailable(f"the queue (Redis) is unavailable: {type(exc).__name__}") from exc


class RQEnqueuer:
    """Enqueue on RQ through a fast-failing client (``fast_client``): when Redis is down or hung,
    ``enqueue`` raises QueueUnavailable within about a second and the run stays in the outbox."""

    def __init__(self, redis) -> None:
        from rq import Queue
        from rq.serializers import JSONSerializer

        self.redis = redis
        self.fast = fast_client(redis)
        self.queues = {name: Queue(name, connection=self.fast, serializer=JSONSerializer) for name in keys.QUEUES}

    def enqueue(self, run_id: int, *, mutating: bool, timeout_s: float, phase: str = "run",
                attempt: int = 0) -> None:
        queue = self.queues[keys.QUEUE_CHANGE if mutating else keys.QUEUE_READ]
        with redis_unavailable_is_queue_unavailable():
            queue.enqueue(JOB_FUNCTION, run_id, phase, job_id=keys.job_id(run_id, phase, attempt),
                          job_timeout=int(timeout_s) + 30, result_ttl=3600, failure_ttl=7 * 86400,
                          description=f"bb-ops run {run_id} ({phase})")

    def job_state(self, run_id: int, phase: str, attempt: int) -> str | None:
        """RQ's status of this run's job ("queued", "started", "finished", "failed", …), or None when
        Redis does not have it. Raises QueueUnavailable when Redis cannot say."""
        from rq.exceptions import NoSuchJobError
        from rq.job import Job
        from rq.serializers import JSONSerializer

        with redis_unavailable_is_queue_unavailable():
            try:
                job = Job.fetch(keys.job_id(run_id, phase, attempt), connection=self.fast, serializer=JSONSerializer)
                status = job.get_status(refresh=False)
            except NoSuchJobError:
                return None
        return getattr(status, "value", status)

    def forget_job(self, run_id: int, phase: str, attempt: int) -> None:
        """Drop an ended job (and its registry entries) so the same id can be enqueued again."""
        from rq.exceptions import NoSuchJobError
        from rq.job import Job
        from rq.serializers import JSONSerializer

        with redis_unavailable_is_queue_unavailable():
            try:
                Job.fetch(keys.job_id(run_id, phase, attempt), connection=self.fast, serializer=JSONSerializer).delete()
            except NoSuchJobError:
                pass

    def claim_requeue(self, run_id: int, phase: str, attempt: int, ttl_s: int = 10) -> bool:
        """Only one janitor at a time looks at (and re-enqueues) a given job: SET NX, released by
        ``release_requeue``; the TTL frees it should that janitor die meanwhile."""
        with redis_unavailable_is_queue_unavailable():
            return bool(self.fast.set(keys.requeue_claim(keys.job_id(run_id, phase, attempt)), "1",
                                      nx=True, ex=ttl_s))

    def release_requeue(self, run_id: int, phase: str, attempt: int) -> None:
        from redis.exceptions import RedisError

        try:
            self.fast.delete(keys.requeue_claim(keys.job_id(run_id, phase, attempt)))
        except RedisError:
            pass  # the claim's TTL frees it

    def depth(self) -> dict[str, int]:
        return {name: q.count for name, q in self.queues.items()}


class InProcessEnqueuer:
    """No Redis: `say`, `click`, `shell` and the demo run the very job function a worker would,
    in this process, after the Slack request has been answered (``drain``)."""

    def __init__(self, runner: Callable[[int, str], object] | None = None) -> None:
        """``runner``: the job function (``workers.jobs.execute_run``), handed over by the entry point
        that builds the runtime; without one, jobs are only collected (nobody runs them here)."""
        self._pending: list[tuple[int, str]] = []
        self._lock = threading.Lock()
        self._runner = runner

    def _run(self, run_id: int, phase: str) -> None:
        if self._runner is None:
            raise RuntimeError("this in-process queue was built without a job function; nothing can run its jobs")
        self._runner(run_id, phase)

    def enqueue(self, run_id: int, *, mutating: bool, timeout_s: float, phase: str = "run",
                attempt: int = 0) -> None:
        with self._lock:
            self._pending.append((run_id, phase))

    def drain(self) -> int:
        """Run every pending job, including jobs those jobs enqueue; returns how many ran."""
        ran = 0
        while True:
            with self._lock:
                if not self._pending:
                    return ran
                run_id, phase = self._pending.pop(0)
            self._run(run_id, phase)
            ran += 1

    # -- `bb-ops socket` without REDIS_URL (bot.serve.http.socket_mode; docs/DECISIONS.md "Socket Mode") --
    def run_next(self) -> bool:
        """Run the oldest pending job, if any; returns whether one ran."""
        with self._lock:
            if not self._pending:
                return False
            run_id, phase = self._pending.pop(0)
        self._run(run_id, phase)
        return True

    def wake(self) -> None:
        """Tell the thread of ``drain_in_background`` to look for pending jobs now."""
        wakeup = getattr(self, "_wakeup", None)
        if wakeup is not None:
            wakeup.set()

    def drain_in_background(self, stop: threading.Event, *, hold: Callable[[], bool] = lambda: False,
                            poll_s: float = 1.0) -> threading.Thread:
        """A daemon thread that runs pending jobs one at a time until ``stop`` is set.

        It looks when ``wake()`` is called (and every ``poll_s`` seconds), and starts no job while
        ``hold()`` is true: the caller holds jobs back while the request that queued them is still
        being acked, so results never reach Slack before the ack. A job that raises is logged.
        """
        self._wakeup = threading.Event()

        def loop() -> None:
            while not stop.is_set():
                self._wakeup.wait(poll_s)
                self._wakeup.clear()
                while not stop.is_set() and not hold():
                    try:
                        if not self.run_next():
                            break
                    except Exception as exc:
                        from bot.redaction import redact_exception

                        log.error("in-process job failed: %s", redact_exception(exc))

        thread = threading.Thread(target=loop, name="bbops-inprocess-jobs", daemon=True)
        thread.start()
        return thread
