"""The runner of a read-only verb: claim the run, run its step, finish and report."""

from __future__ import annotations

import time

from bot.core.results import Outcome, StepResult
from bot.core.runs import RunStatus
from bot.infra.runtime import Runtime
from workers import steps
from workers.context import StepContext
from workers.lifecycle import RunHeartbeat, claim, finish, guarded, start_parent


def run_read_only(rt: Runtime, run_id: int) -> str:
    run = claim(rt, run_id, expected=RunStatus.QUEUED, to=RunStatus.RUNNING, event="started")
    if run is None:
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
            try:
                result = guarded(lambda: module.run(ctx), run, doing="running this step")
            finally:
                ctx.close()
    return finish(rt, run, thread_ts, result, from_status=RunStatus.RUNNING, started=started)
