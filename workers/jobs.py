"""RQ job entry point: ``execute_run(run_id, phase)``. Only the run id crosses the queue.

phases: ``run`` (a read-only verb, start to finish), ``plan`` (a mutating verb: compute the plan,
post the approval card or start at once when no approval is needed), ``execute`` (an approved
mutating run: lock, re-check the plan, act).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time

from bot.core.errors import BBOpsError
from bot.core.results import Outcome, StepResult
from bot.core.runs import RunStatus
from bot.infra.db.models import Run, utcnow
from bot.infra.metrics import RUN_SECONDS, RUNS
from bot.infra.runtime import Runtime, current
from bot.infra.store import RunView
from bot.redaction import redact, redact_exception
from bot.serve import janitor
from bot.slack import render
from workers import steps
from workers.context import StepContext

log = logging.getLogger("bbops.worker")

RUN_HEARTBEAT_S = janitor.RUN_HEARTBEAT_S   # BBOPS_RUN_HEARTBEAT_S; the janitor judges staleness by it
WORKER_NAME = f"{socket.gethostname()}:{os.getpid()}"


def execute_run(run_id: int, phase: str = "run") -> str:
    rt = current()
    if phase == "run":
        return run_read_only(rt, run_id)
    from workers.steps import migrate as change

    if phase == "plan":
        return change.plan(rt, run_id)
    if phase == "execute":
        return change.execute(rt, run_id)
    raise ValueError(f"unknown phase {phase!r}")


class RunHeartbeat:
    """Marks the run alive every few seconds, so a janitor can tell a dead worker's run."""

    def __init__(self, rt: Runtime, run_id: int) -> None:
        self.rt, self.run_id = rt, run_id
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name=f"run-heartbeat-{run_id}", daemon=True)

    def _beat(self) -> None:
        while not self._stop.wait(RUN_HEARTBEAT_S):
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


def safe_step(fn, ctx: StepContext) -> StepResult:
    """Run a step; bb-ops errors and surprises become a clear result, never a traceback in Slack."""
    try:
        return fn(ctx)
    except BBOpsError as exc:
        lines = redact(str(exc)).splitlines() or [type(exc).__name__]
        return StepResult(Outcome.ERROR, lines[0][:300], lines[1:20])
    except Exception as exc:
        log.exception("run %s: step failed unexpectedly", ctx.run.id)
        return StepResult(Outcome.ERROR, f"bb-ops failed while running this step ({type(exc).__name__}); "
                          "the worker log has the details", [])
    finally:
        ctx.close()


def final_status(result: StepResult) -> RunStatus:
    return RunStatus.SUCCEEDED if result.ok else RunStatus.FAILED


def run_read_only(rt: Runtime, run_id: int) -> str:
    run = rt.store.transition(run_id, [RunStatus.QUEUED], RunStatus.RUNNING, event="started",
                              started_at=utcnow(), heartbeat_at=utcnow(), worker=WORKER_NAME,
                              attempts=Run.attempts + 1)
    if run is None:
        existing = rt.store.get_run(run_id)
        log.info("run %s not started: %s", run_id, existing.status.value if existing else "unknown run")
        return "skipped"
    started = time.monotonic()
    env = rt.config.environments.get(run.env) if run.env else None
    thread_ts = start_parent(rt, run, "running…")
    ctx = StepContext(rt, run, env, thread_ts)
    with RunHeartbeat(rt, run.id):
        try:
            module = steps.load(run.verb)
        except LookupError as exc:
            result = StepResult(Outcome.ERROR, str(exc))
        else:
            result = safe_step(module.run, ctx)
    status = final_status(result)
    done = rt.store.transition(run.id, [RunStatus.RUNNING], status, event=status.value,
                               finished_at=utcnow(), summary=result.headline[:1000],
                               detail={"outcome": result.outcome.value, "headline": result.headline[:500]})
    if done is None:  # cancelled or marked abandoned meanwhile: say nothing twice
        return "superseded"
    report(rt, done, thread_ts, result)
    RUNS.labels(verb=run.verb, env=run.env or "-", status=status.value).inc()
    RUN_SECONDS.labels(verb=run.verb).observe(time.monotonic() - started)
    return status.value
