"""The life of a run in a worker, the same for every verb: claim it, keep it alive, turn any error
into a result, report the result, finish it.

* :func:`claim` is the one compare-and-set that gives a run to this worker (queued → running or
  planning, approved → running), counting the attempt; a run someone else moved is not touched.
* :class:`RunHeartbeat` marks the run alive while a worker works on it; the janitor judges a
  worker dead by it.
* :func:`error_result` turns what a step or a plan raised into a result: a bb-ops error says what
  happened (redacted), anything else says "bb-ops failed" and leaves the traceback to the log.
* :func:`finish` moves the run to succeeded or failed (once: a run cancelled or abandoned
  meanwhile is left as it is), closes its approval card, reports, and counts.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from typing import Callable, TypeVar

from bot.core.errors import BBOpsError, PlanRefused
from bot.core.results import Outcome, StepResult
from bot.core.runs import RunStatus
from bot.infra.db.models import Run, utcnow
from bot.infra.metrics import RUN_SECONDS, RUNS
from bot.infra.runtime import Runtime
from bot.infra.store import RunView
from bot.redaction import redact, redact_exception
from bot.slack import render
from bot.slack.cards import close_card

log = logging.getLogger("bbops.worker")

WORKER_NAME = f"{socket.gethostname()}:{os.getpid()}"

T = TypeVar("T")


def claim(rt: Runtime, run_id: int, *, expected: RunStatus, to: RunStatus, event: str) -> RunView | None:
    """Take the run if it is still ``expected``; None when another worker, a cancel or the janitor
    moved it first."""
    run = rt.store.transition(run_id, [expected], to, event=event, started_at=utcnow(), heartbeat_at=utcnow(),
                              worker=WORKER_NAME, attempts=Run.attempts + 1)
    if run is None:
        existing = rt.store.get_run(run_id)
        log.info("run %s not started: %s", run_id, existing.status.value if existing else "unknown run")
    return run


class RunHeartbeat:
    """Marks the run alive every few seconds, so a janitor can tell a dead worker's run."""

    def __init__(self, rt: Runtime, run_id: int) -> None:
        self.rt, self.run_id = rt, run_id
        self.interval_s = rt.settings.run_heartbeat_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name=f"run-heartbeat-{run_id}", daemon=True)

    def _beat(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self.rt.store.update_run(self.run_id, heartbeat_at=utcnow())
            except Exception as exc:
                log.warning("heartbeat of run %s failed: %s", self.run_id, redact_exception(exc))

    def __enter__(self) -> "RunHeartbeat":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=2)


# -- the run's messages ------------------------------------------------------------------------
def start_parent(rt: Runtime, run: RunView, state: str) -> str | None:
    """Post (or re-use) the run's parent message; its thread holds the detail."""
    if run.parent_ts:
        update_parent(rt, run, state)
        return run.parent_ts
    text, blocks = render.parent_message(run.id, run.text, run.requester, state)
    ts = rt.poster.post(run.channel, text, blocks)
    rt.store.update_run(run.id, parent_ts=ts)
    return ts


def update_parent(rt: Runtime, run: RunView, state: str, icon: str = ":hourglass_flowing_sand:") -> None:
    if run.parent_ts:
        text, blocks = render.parent_message(run.id, run.text, run.requester, state, icon)
        rt.poster.update(run.channel, run.parent_ts, text, blocks)


def report(rt: Runtime, run: RunView, thread_ts: str | None, result: StepResult) -> None:
    """The result: detail (or a file) in the thread, the parent edited to the headline."""
    text, blocks, attachment = render.result_detail(result)
    if thread_ts:
        rt.poster.post(run.channel, text, blocks, thread_ts=thread_ts, attachment=attachment)
        ptext, pblocks = render.result_parent(run.id, run.text, run.requester, result)
        rt.poster.update(run.channel, thread_ts, ptext, pblocks)
    else:
        rt.poster.post(run.channel, text, blocks, attachment=attachment)


# -- errors become results ---------------------------------------------------------------------
def error_result(exc: Exception, run: RunView, *, doing: str, prefix: str = "",
                 nothing_changed: bool = False) -> StepResult:
    """What ``exc`` (raised while ``doing``) means for the person in the channel. Call it in the
    ``except`` block: an unexpected error is logged with its traceback."""
    if isinstance(exc, PlanRefused):
        return exc.result
    if isinstance(exc, BBOpsError):
        lines = redact(str(exc)).splitlines() or [type(exc).__name__]
        return StepResult(Outcome.ERROR, prefix + lines[0][:300], lines[1:20])
    log.exception("run %s: %s failed unexpectedly", run.id, doing)
    changed = "; nothing was changed" if nothing_changed else ""
    return StepResult(Outcome.ERROR, f"bb-ops failed while {doing} ({type(exc).__name__}){changed}; the worker "
                      "log has the details", [], [run.text] if nothing_changed else [])


def guarded(fn: Callable[[], T], run: RunView, *, doing: str, prefix: str = "",
            nothing_changed: bool = False) -> T | StepResult:
    """``fn()``, or the result that says why it raised (never a traceback in Slack)."""
    try:
        return fn()
    except Exception as exc:
        return error_result(exc, run, doing=doing, prefix=prefix, nothing_changed=nothing_changed)


# -- the end -----------------------------------------------------------------------------------
def finish(rt: Runtime, run: RunView, thread_ts: str | None, result: StepResult, *, from_status: RunStatus,
           started: float | None = None) -> str:
    """Settle the run as succeeded or failed, close its card, report, count; the status, or
    ``superseded`` when the run was cancelled or marked abandoned meanwhile (it says nothing twice)."""
    status = RunStatus.SUCCEEDED if result.ok else RunStatus.FAILED
    done = rt.store.transition(run.id, [from_status], status, event=status.value, finished_at=utcnow(),
                               summary=result.headline[:1000],
                               detail={"outcome": result.outcome.value, "headline": result.headline[:500]})
    if done is None:
        return "superseded"
    if done.card_ts and done.card_ts != thread_ts:
        close_card(rt, done, f"{status.value}: {result.headline[:200]}")
    report(rt, done, thread_ts, result)
    RUNS.labels(verb=run.verb, env=run.env or "-", status=status.value).inc()
    if started is not None:
        RUN_SECONDS.labels(verb=run.verb).observe(time.monotonic() - started)
    return status.value
