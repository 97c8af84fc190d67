"""What `rollback` and `restore` share: the environment's release history (which release to go
back to), the release hook as a numbered step, the revision check after the change, and readiness
(with patience) followed by the smoke test.
"""

from __future__ import annotations

import time

from bot.core.errors import BBOpsError
from bot.core.plan import Plan
from bot.core.runs import RunStatus
from bot.core.verbs import RELEASE_VERBS
from workers import probes
from workers.context import NumberedSteps, StepContext
from workers.steps import smoke
from workers.target import hooks

HISTORY_RUNS = 300            # how far back the release history looks
READY_POLL_S = 0.5


# -- release history ------------------------------------------------------------------------------
def _released(store, run) -> bool:
    """Did this run's release hook put its version out? (A deploy that failed after its release
    step still changed the running release.)"""
    if run.status is RunStatus.SUCCEEDED:
        return True
    if run.status not in (RunStatus.FAILED, RunStatus.ABANDONED):
        return False
    return any(ev["event"] == "step_finished" and (ev["detail"] or {}).get("step") == "release_hook"
               and (ev["detail"] or {}).get("ok") is True for ev in store.audit_events(run.id))


def _version_put_out(run) -> str | None:
    """The release a deploy, rollback or restore run put out (if its release hook ran)."""
    if run.verb == "deploy":
        return (run.args or {}).get("version")
    if run.plan is None:
        return None
    plan = Plan.from_dict(run.plan)
    return plan.version or plan.redeploy


def release_stack(store, env_name: str, before_run_id: int | None = None) -> list[str]:
    """The environment's releases as a stack, oldest first; the top is the running release."""
    runs = [r for r in reversed(store.runs(env=env_name, limit=HISTORY_RUNS))
            if r.verb in RELEASE_VERBS and (before_run_id is None or r.id < before_run_id)]
    stack: list[str] = []
    for run in runs:
        version = _version_put_out(run)
        if not version or not _released(store, run):
            continue
        if run.verb == "deploy":
            if not stack or stack[-1] != version:
                stack.append(version)
        elif version in stack:            # back to an earlier release: what came after it is undone
            del stack[len(stack) - stack[::-1].index(version):]
        else:
            stack.append(version)
    return stack


# -- steps --------------------------------------------------------------------------------------
def release_step(ctx: StepContext, steps: NumberedSteps, name: str, version: str) -> str | None:
    """Run the release hook; None when it worked, else the error's first line."""
    steps.begin(name)
    with ctx.step("release_hook") as record:
        try:
            out = hooks.run_hook(ctx.env, "release", version=version)
        except BBOpsError as exc:
            record.ok, record.detail = False, str(exc).splitlines()[0]
            ctx.output_to_thread("release hook output", getattr(exc, "output", "") or str(exc))
            steps.failed(name, str(exc).splitlines()[0])
            return str(exc).splitlines()[0]
        record.ok, record.detail = True, version
    if out:
        ctx.output_to_thread("release hook output", out)
    steps.ok(name, "release hook exited 0")
    return None


def verify_current(ctx: StepContext, steps: NumberedSteps, name: str, target: str) -> tuple[bool, str]:
    """Is the database at ``target`` ("base": no revision)? Also says what it is at."""
    steps.begin(name)
    with ctx.step("verify_current") as record:
        try:
            current = ctx.alembic.current()
        except BBOpsError as exc:
            current, record.detail = None, str(exc).splitlines()[0]
        expected = [] if target == "base" else [target]
        record.ok = current == expected
        record.detail = record.detail or f"current {current}"
    shown = "unreadable" if current is None else (", ".join(current) or "base")
    if record.ok:
        steps.ok(name, target)
    else:
        steps.failed(name, f"current {shown}, expected {target}")
    return record.ok, shown


def wait_ready(ctx: StepContext) -> probes.Check:
    """readyz until ready, for a while: an app just released or whose database was just swapped
    may need a moment (reconnect, start-up)."""
    deadline = time.monotonic() + min(ctx.env.timeouts.smoke_s, 60.0)
    attempts = 0
    while True:
        attempts += 1
        check = probes.readyz(ctx.target)
        if check.ok or time.monotonic() >= deadline:
            if attempts > 1:
                check.detail += f" (after {attempts} tries)"
            return check
        time.sleep(READY_POLL_S)


def ready_and_smoke(ctx: StepContext, steps: NumberedSteps) -> str | None:
    """readyz (with patience), then the smoke test; None when both pass, else what failed."""
    steps.begin("readyz")
    with ctx.step("readyz") as record:
        check = wait_ready(ctx)
        record.ok, record.detail = check.ok, check.detail
    steps.lines.append(check.line())
    if not check.ok:
        return f"not ready: {check.detail}"
    steps.begin("smoke")
    result = smoke.run(ctx)
    steps.lines.extend(result.lines)
    if not result.ok:
        return f"smoke test failed: {result.headline}"
    return None
