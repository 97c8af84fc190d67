"""Mutating runs: plan → (approval) → lock → re-check the plan → act → verify.

``plan(rt, run_id)`` computes the plan and either posts the approval card or, for a verb the
environment does not guard, goes straight on. ``execute(rt, run_id)`` runs an approved plan:
it takes the environment's lock (refusing, naming the holder, when another run has it),
recomputes the plan and stops with a fresh card when its hash differs from the approved one,
then runs the runbook steps, editing the parent message as each completes.
"""

from __future__ import annotations

import hashlib
import logging
import time
from pathlib import Path

from bot import approvals, locks
from bot.db.models import Run, RunStatus, utcnow
from bot.errors import BBOpsError
from bot.metrics import RUN_SECONDS, RUNS
from bot.render import Outcome, StepResult, step_line
from bot.runtime import Runtime
from workers import probes
from workers.context import StepContext
from workers.diagnostics import MigrationState, diagnose
from workers.jobs import RunHeartbeat, WORKER_NAME, report, safe_step, start_parent, update_parent

log = logging.getLogger("bbops.change")


class PlanRefused(BBOpsError):
    """The plan cannot be made (not ready, nothing to do); the message says why and what next."""

    def __init__(self, message: str, outcome: Outcome = Outcome.FAILED, lines: list[str] | None = None,
                 next_commands: list[str] | None = None) -> None:
        super().__init__(message)
        self.result = StepResult(outcome, message, lines or [], next_commands or [])


def scripts_digest(versions_dir: Path) -> str:
    h = hashlib.sha256()
    for path in sorted(versions_dir.glob("*.py")):
        h.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()[:16]


# -- plans ------------------------------------------------------------------------------------
def migrate_plan(ctx: StepContext) -> dict:
    env = ctx.env
    diagnosis = diagnose(ctx.alembic)
    if diagnosis.state is MigrationState.ALIGNED:
        raise PlanRefused(f"nothing to migrate: {env.name} is at head {diagnosis.heads[0]}", Outcome.OK,
                          diagnosis.lines(), [f"/bb readyz {env.name}"])
    if diagnosis.state is not MigrationState.BEHIND:
        raise PlanRefused(f"cannot plan a migration: {diagnosis.summary()}", Outcome.FAILED, diagnosis.lines(),
                          [f"/bb migrations {env.name}"])
    return {
        "verb": "migrate", "env": env.name,
        "current": ",".join(diagnosis.current) or None, "target": diagnosis.heads[0],
        "revisions": [{"revision": p.revision, "verdict": p.verdict, "reasons": p.reasons, "direction": "upgrade"}
                      for p in diagnosis.pending],
        "code": scripts_digest(ctx.alembic.versions_dir()),
        "snapshot": "verified snapshot before the upgrade",
    }


def deploy_plan(ctx: StepContext) -> dict:
    version = ctx.run.args.get("version")
    try:
        plan = migrate_plan(ctx)
    except PlanRefused as refused:
        if refused.result.outcome is not Outcome.OK:
            raise
        plan = {"verb": "migrate", "env": ctx.env.name, "current": None, "target": None, "revisions": [],
                "code": scripts_digest(ctx.alembic.versions_dir()), "snapshot": None}
        plan["notes"] = ["no pending migrations: release hook, then smoke"]
    plan.update({"verb": "deploy", "version": version})
    return plan


def make_plan(ctx: StepContext) -> dict:
    verb = ctx.run.verb
    if verb == "migrate":
        return migrate_plan(ctx)
    if verb == "deploy":
        return deploy_plan(ctx)
    from workers import rollback

    if verb == "rollback":
        return rollback.rollback_plan(ctx)
    if verb == "restore":
        return rollback.restore_plan(ctx)
    raise PlanRefused(f"no plan for verb {verb}", Outcome.ERROR)


def plan(rt: Runtime, run_id: int) -> str:
    run = rt.store.transition(run_id, [RunStatus.QUEUED], RunStatus.PLANNING, event="planning",
                              started_at=utcnow(), heartbeat_at=utcnow(), worker=WORKER_NAME,
                              attempts=Run.attempts + 1)
    if run is None:
        return "skipped"
    env = rt.config.environments[run.env]
    thread_ts = start_parent(rt, run, "planning…")
    run = rt.store.get_run(run.id)
    ctx = StepContext(rt, run, env, thread_ts)
    try:
        the_plan = make_plan(ctx)
    except PlanRefused as refused:
        return _finish(rt, run, thread_ts, refused.result, from_status=RunStatus.PLANNING)
    except BBOpsError as exc:
        return _finish(rt, run, thread_ts, StepResult(Outcome.ERROR, f"cannot plan: {str(exc).splitlines()[0]}",
                                                      str(exc).splitlines()[1:]), from_status=RunStatus.PLANNING)
    finally:
        ctx.close()
    rt.store.audit("planned", run_id=run.id, env=run.env, detail={"plan": the_plan,
                                                                  "plan_hash": approvals.plan_hash(the_plan)})
    if env.needs_approval(run.verb):
        approvals.request_approval(rt, run, the_plan)
        return "awaiting_approval"
    moved = rt.store.transition(run.id, [RunStatus.PLANNING], RunStatus.APPROVED, event="approval_not_required",
                                plan=the_plan, plan_hash=approvals.plan_hash(the_plan), approved_by=None)
    if moved is not None:
        return execute(rt, run.id)
    return "superseded"


# -- execution ---------------------------------------------------------------------------------
def execute(rt: Runtime, run_id: int) -> str:
    run = rt.store.transition(run_id, [RunStatus.APPROVED], RunStatus.RUNNING, event="started",
                              started_at=utcnow(), heartbeat_at=utcnow(), worker=WORKER_NAME,
                              attempts=Run.attempts + 1)
    if run is None:
        return "skipped"
    env = rt.config.environments[run.env]
    thread_ts = run.parent_ts or run.card_ts
    started = time.monotonic()
    lease = locks.acquire(rt, env.name, run.id)
    if isinstance(lease, locks.Holder):
        holder = rt.store.get_run(lease.run_id)
        who = f" (`{holder.text}` by <@{holder.requester}>)" if holder else ""
        result = StepResult(Outcome.REFUSED,
                            f"{env.name} is locked by run {lease.run_id}{who} since {lease.since:%H:%M:%S} UTC; "
                            "nothing was changed", [f"when it has finished, ask again: `{run.text}`"],
                            [f"/bb status {lease.run_id}", run.text])
        rt.store.audit("lock_refused", run_id=run.id, env=env.name, detail={"holder_run": lease.run_id})
        return _finish(rt, run, thread_ts, result, from_status=RunStatus.RUNNING)
    rt.store.audit("lock_acquired", run_id=run.id, env=env.name)
    lease.start_heartbeat()
    ctx = StepContext(rt, run, env, thread_ts)
    try:
        with RunHeartbeat(rt, run.id):
            fresh = safe_plan(ctx)
            if isinstance(fresh, StepResult):
                return _finish(rt, run, thread_ts, fresh, from_status=RunStatus.RUNNING, started=started)
            if approvals.plan_hash(fresh) != run.plan_hash and env.needs_approval(run.verb):
                return _replan(rt, run, thread_ts, fresh)
            result = safe_step(lambda c: run_plan(c, fresh), ctx)
        return _finish(rt, run, thread_ts, result, from_status=RunStatus.RUNNING, started=started)
    finally:
        lease.release()
        rt.store.audit("lock_released", run_id=run.id, env=env.name)


def safe_plan(ctx: StepContext) -> dict | StepResult:
    try:
        return make_plan(ctx)
    except PlanRefused as refused:
        return refused.result
    except BBOpsError as exc:
        lines = str(exc).splitlines()
        return StepResult(Outcome.ERROR, f"cannot re-check the plan: {lines[0]}", lines[1:])


def describe_change(old: dict, new: dict) -> str:
    changes = []
    for key, label in (("target", "head"), ("current", "current revision"), ("code", "migration scripts"),
                       ("version", "version"), ("method", "method"), ("snapshot", "snapshot")):
        if old.get(key) != new.get(key):
            changes.append(f"{label} moved from {old.get(key) or 'none'} to {new.get(key) or 'none'}")
    if not changes and old.get("revisions") != new.get("revisions"):
        changes.append("the pending revisions changed")
    return "; ".join(changes) or "the plan changed"


def _replan(rt: Runtime, run, thread_ts: str | None, fresh: dict) -> str:
    what = describe_change(run.plan or {}, fresh)
    rt.store.audit("plan_changed", run_id=run.id, env=run.env, detail={"change": what})
    if thread_ts:
        rt.poster.post(run.channel, f":warning: plan changed since approval: {what}. Nothing was changed; "
                       "a fresh card asks for approval of the new plan.", thread_ts=thread_ts)
    approvals.close_card(rt, run, f":warning: plan changed since approval ({what}) — superseded by a new card")
    rt.store.update_run(run.id, card_ts=None)
    approvals.request_approval(rt, rt.store.get_run(run.id), fresh)
    return "replanned"


def run_plan(ctx: StepContext, the_plan: dict) -> StepResult:
    verb = ctx.run.verb
    if verb in ("migrate", "deploy"):
        return run_migrate(ctx, the_plan)
    from workers import rollback

    if verb == "rollback":
        return rollback.run_rollback(ctx, the_plan)
    return rollback.run_restore(ctx, the_plan)


def progress(ctx: StepContext, n: int, total: int, what: str) -> None:
    update_parent(ctx.rt, ctx.rt.store.get_run(ctx.run.id), f"step {n}/{total}: {what}…")


def output_to_thread(ctx: StepContext, title: str, output: str) -> None:
    """Command output (redacted by the poster) in the thread; long output as a file."""
    lines = output.strip().splitlines()
    if not lines:
        return
    if len(lines) > 30 or len(output) > 2500:
        ctx.rt.poster.post(ctx.run.channel, f"{title}: {len(lines)} lines, attached", thread_ts=ctx.thread_ts,
                           attachment=(f"{title.replace(' ', '-')}.log", output))
    else:
        ctx.say(f"{title}:\n```{output.strip()}```")


def run_migrate(ctx: StepContext, the_plan: dict) -> StepResult:
    from workers import hooks, snapshots
    from workers.steps import smoke

    env, lines = ctx.env, []
    deploy = ctx.run.verb == "deploy"
    steps = (["release hook"] if deploy else []) + (["snapshot", "alembic upgrade head", "verify current == head"]
                                                     if the_plan.get("target") else []) + ["readyz"] + (["smoke"] if deploy else [])
    total = len(steps)

    def step_no(name):
        return steps.index(name) + 1

    if deploy:
        progress(ctx, step_no("release hook"), total, f"release hook {the_plan['version']}")
        with ctx.step("release_hook") as box:
            try:
                out = hooks.run_hook(env, "release", version=the_plan["version"])
            except BBOpsError as exc:
                box["ok"] = False
                lines.append(step_line(False, "release hook", str(exc).splitlines()[0]))
                return StepResult(Outcome.FAILED, f"deploy of {the_plan['version']} to {env.name} failed at the "
                                  "release hook; nothing was migrated", lines + str(exc).splitlines()[1:],
                                  [f"/bb readyz {env.name}"])
            box["ok"] = True
        lines.append(step_line(True, "release hook", "not configured" if out is None else "done"))
        if out:
            output_to_thread(ctx, "release hook output", out)

    if the_plan.get("target"):
        progress(ctx, step_no("snapshot"), total, "snapshot")
        with ctx.step("snapshot") as box:
            snap = snapshots.take(ctx.rt, env, ctx.run.id, the_plan.get("current"))
            box["ok"], box["detail"] = snap.verified, f"{snap.name}: {snap.verify_detail}"
        if not snap.verified:
            lines.append(step_line(False, "snapshot", f"{snap.name} failed verification: {snap.verify_detail}"))
            return StepResult(Outcome.FAILED, f"snapshot of {env.name} failed verification; nothing was migrated",
                              lines, [f"/bb snapshots {env.name}", f"/bb precheck {env.name}"])
        lines.append(step_line(True, "snapshot", f"{snap.name} ({snap.size_bytes:,} bytes, verified)"))

        progress(ctx, step_no("alembic upgrade head"), total, "alembic upgrade head")
        with ctx.step("alembic_upgrade") as box:
            try:
                out = ctx.alembic.run("upgrade", "head", timeout_s=env.timeouts.migrate_s)
            except BBOpsError as exc:
                box["ok"] = False
                output_to_thread(ctx, "alembic upgrade output", getattr(exc, "output", "") or str(exc))
                lines.append(step_line(False, "alembic upgrade head", str(exc).splitlines()[0]))
                return StepResult(Outcome.FAILED, f"migration of {env.name} failed; snapshot {snap.name} was taken "
                                  "before it", lines, [f"/bb migrations {env.name}", f"/bb rollback {env.name}"])
            box["ok"] = True
        output_to_thread(ctx, "alembic upgrade output", out)
        lines.append(step_line(True, "alembic upgrade head", "exited 0"))

        progress(ctx, step_no("verify current == head"), total, "verify current == head")
        with ctx.step("verify_head") as box:
            current = ctx.alembic.current()
            box["ok"] = current == [the_plan["target"]]
            box["detail"] = f"current {current}"
        if not box["ok"]:
            lines.append(step_line(False, "current == head", f"current {', '.join(current) or 'none'}, expected "
                                   f"{the_plan['target']}"))
            return StepResult(Outcome.FAILED, f"{env.name} is not at head after the upgrade", lines,
                              [f"/bb migrations {env.name}"])
        lines.append(step_line(True, "current == head", the_plan["target"]))

    progress(ctx, step_no("readyz"), total, "readyz")
    with ctx.step("readyz") as box:
        check = probes.readyz(ctx.target)
        box["ok"], box["detail"] = check.ok, check.detail
    lines.append(check.line())
    if not check.ok:
        return StepResult(Outcome.FAILED, f"{env.name} is not ready after the change: {check.detail}", lines,
                          [f"/bb migrations {env.name}", f"/bb rollback {env.name}"])
    if deploy:
        progress(ctx, step_no("smoke"), total, "smoke test")
        smoke_result = smoke.run(ctx)
        lines.extend(smoke_result.lines)
        if not smoke_result.ok:
            return StepResult(Outcome.FAILED, f"deployed {the_plan['version']} to {env.name} but the smoke test "
                              f"failed: {smoke_result.headline}", lines, [f"/bb rollback {env.name}"])
        return StepResult(Outcome.OK, f"deployed {the_plan['version']} to {env.name}: migrated, ready, smoke passed",
                          lines, [f"/bb history {env.name}"])
    return StepResult(Outcome.OK, f"migrated {env.name} to {the_plan.get('target')}; ready", lines,
                      [f"/bb smoke {env.name}", f"/bb history {env.name}"])


def _finish(rt: Runtime, run, thread_ts, result: StepResult, *, from_status: RunStatus,
            started: float | None = None) -> str:
    status = RunStatus.SUCCEEDED if result.ok else RunStatus.FAILED
    done = rt.store.transition(run.id, [from_status], status, event=status.value, finished_at=utcnow(),
                               summary=result.headline[:1000],
                               detail={"outcome": result.outcome.value, "headline": result.headline[:500]})
    if done is None:
        return "superseded"
    if done.card_ts and done.card_ts != thread_ts:
        approvals.close_card(rt, done, f"{status.value}: {result.headline[:200]}")
    report(rt, done, thread_ts, result)
    RUNS.labels(verb=run.verb, env=run.env or "-", status=status.value).inc()
    if started is not None:
        RUN_SECONDS.labels(verb=run.verb).observe(time.monotonic() - started)
    return status.value
