"""`bb-ops worker`: an RQ worker on the bb-ops queues.

Loads config, the bot database and (through ``preload``, from the entry point) the job function with
every step module *before* RQ forks its work horses, so a job only looks them up. Runs the janitor (requeue lost jobs, mark dead workers' runs) beside the work
loop.

Faults:

* **Redis restarts or hangs.** RQ retries a lost connection while it waits for jobs (backoff
  capped at ``BACKOFF_MAX_S``); anything else that makes RQ's loop give up (a timeout, an error
  after a job) brings a fresh RQ worker, under a new name, after the same backoff. Only a
  requested stop (SIGTERM/SIGINT) or ``--burst`` ends the process.
* **A work horse dies** (SIGKILL from the OOM killer, a segfault): RQ tells this process, which
  hands the run to :func:`bot.serve.janitor.reap_run` at once: a read-only run is retried, a mutating
  run that was executing is marked abandoned, its lock freed, its thread told.
* **A job raises past the step runner** (RQ's job timeout, the bot database gone): the run is
  failed (read-only) or abandoned (mutating) right away, with a message in its thread.
* Every log record of a job carries its ``run_id``, ``job_id`` and ``phase`` (``bot.infra.logs.bind``).
"""

from __future__ import annotations

import logging
import os
import random
import signal
import threading
import time
from typing import Callable

from bot.core.errors import ConfigError
from bot.core.settings import Settings
from bot.infra.runtime import build_runtime, set_current

log = logging.getLogger("bbops.worker")

BACKOFF_START_S = 0.5
BACKOFF_MAX_S = 5.0


def _run_id(job) -> int | None:
    try:
        run_id = job.args[0]
    except Exception:
        return None
    return run_id if isinstance(run_id, int) else None


def _phase(job) -> str | None:
    try:
        return job.args[1] if len(job.args) > 1 else "run"
    except Exception:
        return None


def _stop_requested(worker) -> bool:
    """Whether SIGTERM/SIGINT asked this RQ worker to stop (RQ notes the time of the request)."""
    return worker is not None and (getattr(worker, "_stop_requested", False)
                                   or getattr(worker, "_shutdown_requested_date", None) is not None)


#: held by the janitor thread for each of its bot-database calls, and by RQ's fork of a work horse:
#: a fork while another thread is inside an SQLite transaction leaves the horse with SQLite's
#: in-process lock bookkeeping saying "locked" for good ("database is locked" after busy_timeout)
FORK_GUARD = threading.RLock()


def janitor_runtime(rt):
    """The runtime the worker's janitor thread uses: the same one, with a fork-guarded store."""
    from bot.serve.http import guarded_runtime

    return guarded_runtime(rt, FORK_GUARD)


def _make_worker_class():
    from rq import Worker

    class BBOpsWorker(Worker):
        """RQ's forking worker, with bb-ops' log fields bound in each work horse, forking only while
        no other thread of this process is inside a bot-database transaction."""

        def fork_work_horse(self, job, queue):
            with FORK_GUARD:
                super().fork_work_horse(job, queue)

        def perform_job(self, job, queue, execution):  # runs in the work horse
            from bot.infra import logs

            run_id = _run_id(job)
            logs.bind(run_id=run_id, job_id=job.id, phase=_phase(job))
            log.info("job %s started", job.id)
            try:
                return super().perform_job(job, queue, execution)
            finally:
                log.info("job %s ended", job.id)
                logs.bind(run_id=None, job_id=None, phase=None)

    return BBOpsWorker


def make_worker(rt, name: str | None = None):
    from rq.serializers import JSONSerializer

    from bot.infra import keys

    def horse_killed(job, retpid, ret_val, rusage) -> None:  # runs in this (parent) process
        run_id = _run_id(job)
        if run_id is None:
            return
        signum = os.WTERMSIG(ret_val) if ret_val and os.WIFSIGNALED(ret_val) else None
        detail = f"work horse {retpid} killed by signal {signum}" if signum else f"work horse {retpid} exited {ret_val}"
        log.error("job %s: %s", job.id, detail, extra={"run_id": run_id, "job_id": job.id})
        _reap(rt, run_id, why="its worker died", detail=detail, retry=True)

    def job_raised(job, exc_type, exc_value, tb):  # runs in the work horse
        run_id = _run_id(job)
        if run_id is not None:
            why = (f"the job ran past its time limit ({job.timeout} s)" if exc_type.__name__ == "JobTimeoutException"
                   else f"the job raised {exc_type.__name__}")
            _reap(rt, run_id, why=why, detail=f"job {job.id}", retry=False)
        return True  # go on with RQ's own handling (FailedJobRegistry)

    cls = _make_worker_class()
    worker = cls(list(keys.QUEUES), connection=rt.redis, serializer=JSONSerializer,
                 name=name or f"bbops-{os.uname().nodename}-{os.getpid()}", job_monitoring_interval=5,
                 work_horse_killed_handler=horse_killed, exception_handlers=[job_raised])
    worker.max_connection_wait_time = BACKOFF_MAX_S
    return worker


def _reap(rt, run_id: int, **kwargs) -> None:
    from bot.redaction import redact_exception
    from bot.serve.janitor import reap_run

    try:
        reap_run(rt, run_id, **kwargs)
    except Exception as exc:  # the heartbeat janitor gets it later
        log.error("could not settle run %s: %s", run_id, redact_exception(exc), extra={"run_id": run_id})


def _backoff(seconds: float) -> bool:
    """Sleep between RQ workers; True when SIGTERM/SIGINT came meanwhile (RQ's handlers belong to the
    worker that ended, so ours stand in while no RQ worker runs)."""
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        return stop.wait(seconds)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def run_worker(settings: Settings, *, burst: bool = False, name: str | None = None,
               preload: Callable[[], None] = lambda: None) -> int:
    """``preload``: imports the job function and its step modules (handed over by ``bb-ops worker``:
    ``bot`` does not import ``workers``); called once, before RQ forks its work horses."""
    from bot.infra.db.engine import require_head
    from bot.infra.metrics import share_counters_via
    from bot.infra.queue import fast_client
    from bot.redaction import redact_exception
    from bot.serve.http import start_background

    if not settings.redis_url:
        raise ConfigError("REDIS_URL is not set: the worker takes jobs from Redis "
                          "(without Redis, `say`/`shell`/the demo run jobs in-process)")
    rt = build_runtime(settings)
    require_head(rt.store.engine, settings.database_url)
    set_current(rt)
    share_counters_via(fast_client(rt.redis))
    preload()

    stop = None if burst else start_background(janitor_runtime(rt))
    base = name or f"bbops-{os.uname().nodename}-{os.getpid()}"
    delay, attempt = BACKOFF_START_S, 0
    try:
        while True:
            worker = None
            started = time.monotonic()
            try:
                # a fresh name per attempt: RQ refuses a name whose registration outlived a blip
                worker = make_worker(rt, base if attempt == 0 else f"{base}.{attempt}")
                worker.work(burst=burst, with_scheduler=False, logging_level="WARNING")
                if burst or _stop_requested(worker):
                    return 0
                log.warning("the RQ worker loop ended without a stop request; starting a new one in %.1f s", delay)
            except Exception as exc:  # Redis refused, reset or timed out (at birth, teardown, after a job)
                if _stop_requested(worker):
                    return 0
                log.warning("redis unavailable (%s); retrying in %.1f s", redact_exception(exc), delay)
            if time.monotonic() - started > 60:
                delay = BACKOFF_START_S  # it ran fine for a while: this is a new outage
            attempt += 1
            if _backoff(delay * random.uniform(0.8, 1.2)):
                return 0  # SIGTERM/SIGINT while waiting for Redis
            delay = min(BACKOFF_MAX_S, delay * 2)
    finally:
        if stop is not None:
            stop.set()
