"""Mutating runs: plan → (approval) → lock → re-check the plan → act → verify.

``plan(rt, run_id)`` computes the plan and either posts the approval card or, for a verb the
environment does not guard, goes straight on. ``execute(rt, run_id)`` runs an approved plan:
it takes the environment's lock (refusing, naming the holder, when another run has it: a locked
environment does not queue changes, see docs/DECISIONS.md), recomputes the plan and stops with a
fresh card when its hash differs from the approved one, then runs the runbook steps, editing the
parent message as each completes. A migration's snapshot is taken while the plan is re-checked
(both only read; it is discarded if the plan changed). The lock is released before the run's final
state is written, so a run reported settled never still holds its environment.
"""

from __future__ import annotations

import hashlib
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from bot.core.errors import BBOpsError, LockUnavailable, PlanRefused
from bot.core.results import Outcome, StepResult
from bot.core.runs import RunStatus
from bot.infra import locks
from bot.infra.db.models import Run, utcnow
from bot.infra.metrics import RUN_SECONDS, RUNS
from bot.infra.runtime import Runtime
from bot.redaction import redact
from bot.slack import approvals
from bot.slack.render import step_line
from workers import probes
from workers.context import StepContext
from workers.diagnostics import MigrationState, diagnose
from workers.jobs import (
    WORKER_NAME,
    RunHeartbeat,
    report,
    safe_step,
    start_parent,
    update_parent,
)

log = logging.getLogger("bbops.change")


def scripts_digest(versions_dir: Path) -> str:
    h = hashlib.sha256()
    for path in sorted(versions_dir.glob("*.py")):
        h.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()[:16]


# -- plans ------------------------------------------------------------------------------------
class _BothAtOnce:
    """The target's `alembic heads` and `alembic current`, started together: two subprocesses of
    the target's Python at once instead of one after the other (planning and the re-check before
    execution both need both). Errors surface where ``diagnose`` expects them."""

    def __init__(self, alembic) -> None:
        self._alembic = alembic
        with ThreadPoolExecutor(max_workers=2, thread_name_prefix="alembic") as pool:
            self._heads = pool.submit(alembic.heads)
            self._current = pool.submit(alembic.current)

    def heads(self) -> list[str]:
        return self._heads.result()

    def current(self) -> list[str]:
        return self._current.result()

    def versions_dir(self) -> Path:
        return self._alembic.versions_dir()


def migrate_plan(ctx: StepContext) -> dict:
    env = ctx.env
    diagnosis = diagnose(_BothAtOnce(ctx.alembic))
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
    from bot.core.grammar import VERSION_RE

    version = ctx.run.args.get("version")
    if not isinstance(version, str) or not VERSION_RE.match(version):
        # the grammar already refused it; this guards runs recorded by anything else
        raise PlanRefused("cannot plan a deploy: the version is not a release like `1.4.2` or a commit id",
                          Outcome.REFUSED, next_commands=[f"/bb deploy {ctx.env.name} <version>"])
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
    from workers.steps import rollback

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
        with RunHeartbeat(rt, run.id):       # planning runs target subprocesses: show we are alive
            the_plan = make_plan(ctx)
    except PlanRefused as refused:
        return _finish(rt, run, thread_ts, refused.result, from_status=RunStatus.PLANNING)
    except BBOpsError as exc:
        lines = redact(str(exc)).splitlines() or [type(exc).__name__]
        return _finish(rt, run, thread_ts, StepResult(Outcome.ERROR, f"cannot plan: {lines[0]}", lines[1:]),
                       from_status=RunStatus.PLANNING)
    except Exception as exc:
        log.exception("run %s: planning failed unexpectedly", run.id)
        return _finish(rt, run, thread_ts, StepResult(
            Outcome.ERROR, f"bb-ops failed while planning ({type(exc).__name__}); nothing was changed; the worker "
            "log has the details", [], [run.text]), from_status=RunStatus.PLANNING)
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
    try:
        lease = locks.acquire(rt, env.name, run.id)
    except LockUnavailable as exc:
        rt.store.audit("lock_unavailable", run_id=run.id, env=env.name, detail={"error": str(exc)})
        result = StepResult(Outcome.REFUSED, f"{exc}; nothing was changed",
                            ["the change needs the environment's lock, which lives in Redis",
                             f"when Redis is back, ask again: `{run.text}`"], [run.text])
        return _finish(rt, run, thread_ts, result, from_status=RunStatus.RUNNING, started=started)
    if isinstance(lease, locks.Holder):
        return _finish(rt, run, thread_ts, lock_refusal(rt, run, lease), from_status=RunStatus.RUNNING,
                       started=started)
    rt.store.audit("lock_acquired", run_id=run.id, env=env.name,
                   detail={"ttl_s": locks.LEASE_TTL_S, "worker": WORKER_NAME})
    lease.start_heartbeat()
    ctx = StepContext(rt, run, env, thread_ts)
    fresh = None
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"snapshot-{run.id}")
    try:
        with RunHeartbeat(rt, run.id):
            by = f" by <@{run.approved_by}>" if run.approved_by else ""
            update_parent(rt, run, f"approved{by}; re-checking the plan…")
            # a migration's first step is the snapshot: take it while the plan is re-checked (both
            # only read, and the lock is held); it is kept only if the re-checked plan is the same
            early = (pool.submit(snapshot_step, ctx, run.plan.get("current"))
                     if run.verb == "migrate" and (run.plan or {}).get("target") else None)
            fresh = safe_plan(ctx)
            same = not isinstance(fresh, StepResult) and approvals.plan_hash(fresh) == run.plan_hash
            if early is not None and not (same and fresh.get("current") == run.plan.get("current")):
                _discard(ctx, early)
                early = None
            if isinstance(fresh, StepResult):
                result = fresh
            elif not same and env.needs_approval(run.verb):
                result = None   # the plan changed: ask again, after the lock is released
            else:
                result = safe_step(lambda c: run_plan(c, fresh, early_snapshot=early), ctx)
    finally:
        pool.shutdown(wait=True)
        # free the environment before the run is reported settled: whoever reads "succeeded"
        # may start the next change at once
        lease.release()
        rt.store.audit("lock_released", run_id=run.id, env=env.name,
                       detail={"lease_lost": lease.lost} if lease.lost else None)
    if result is None:
        return _replan(rt, run, thread_ts, fresh)
    return _finish(rt, run, thread_ts, result, from_status=RunStatus.RUNNING, started=started)


def snapshot_step(ctx: StepContext, revision: str | None):
    """Take and verify the pre-migration snapshot, audited as the step ``snapshot``."""
    from workers.target import snapshots

    with ctx.step("snapshot") as box:
        snap = snapshots.take(ctx.rt, ctx.env, ctx.run.id, revision)
        box["ok"], box["detail"] = snap.verified, f"{snap.name}: {snap.verify_detail}"
    return snap


def _discard(ctx: StepContext, early) -> None:
    """A snapshot taken for a plan that will not run as approved: labelled with a revision that may
    no longer be current, so it goes (file and row)."""
    try:
        snap = early.result()
    except Exception:
        return      # it failed; nothing was kept
    Path(snap.path).unlink(missing_ok=True)
    ctx.rt.store.delete_snapshot(snap.name)
    ctx.audit("snapshot_discarded", name=snap.name, why="the re-checked plan differs from the approved one")


def lock_refusal(rt: Runtime, run, holder: locks.Holder) -> StepResult:
    """The documented choice: a locked environment refuses (naming the holder), it does not queue."""
    held = rt.store.get_run(holder.run_id) if holder.run_id else None
    who = f" (`{held.text}` by <@{held.requester}>)" if held else ""
    rt.store.audit("lock_refused", run_id=run.id, env=run.env,
                   detail={"holder_run": holder.run_id, "since": holder.since.isoformat()})
    return StepResult(Outcome.REFUSED,
                      f"{run.env} is locked by run {holder.run_id}{who} since {holder.since:%H:%M:%S} UTC; "
                      "nothing was changed",
                      [f"one change per environment at a time; when run {holder.run_id} has finished, ask again: "
                       f"`{run.text}`"],
                      [f"/bb status {holder.run_id}", run.text])


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
    """The plan changed between approval and execution: change nothing, say what moved, and ask
    for approval of the new plan on a fresh card (a new message: the old card cannot approve it)."""
    what = describe_change(run.plan or {}, fresh)
    rt.store.audit("plan_changed", run_id=run.id, env=run.env,
                   detail={"change": what, "approved_hash": run.plan_hash, "new_hash": approvals.plan_hash(fresh)})
    if thread_ts:
        rt.poster.post(run.channel, f":warning: plan changed since approval: {what}. Nothing was changed; "
                       "a fresh card asks for approval of the new plan.", thread_ts=thread_ts)
    if run.card_ts and run.card_ts != run.parent_ts:
        approvals.close_card(rt, run, f":warning: plan changed since approval ({what}) — superseded by a new card")
    update_parent(rt, run, f"plan changed since approval: {what}; waiting for approval of the new plan", ":warning:")
    approvals.request_approval(rt, rt.store.get_run(run.id), fresh, fresh=True)
    return "replanned"


def run_plan(ctx: StepContext, the_plan: dict, *, early_snapshot=None) -> StepResult:
    verb = ctx.run.verb
    if verb in ("migrate", "deploy"):
        return run_migrate(ctx, the_plan, early_snapshot=early_snapshot)
    from workers.steps import rollback

    if verb == "rollback":
        return rollback.run_rollback(ctx, the_plan)
    return rollback.run_restore(ctx, the_plan)


def progress(ctx: StepContext, n: int, total: int, what: str) -> None:
    run = ctx.rt.store.get_run(ctx.run.id)
    by = f" (approved by <@{run.approved_by}>)" if run.approved_by else ""
    update_parent(ctx.rt, run, f"step {n}/{total}: {what}…{by}")


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


def run_migrate(ctx: StepContext, the_plan: dict, *, early_snapshot=None) -> StepResult:
    """Release hook (deploy), snapshot, upgrade, current == head, readyz, smoke (deploy).
    ``early_snapshot``: a future of the snapshot already being taken (see ``execute``)."""
    from workers.steps import smoke
    from workers.target import hooks

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
        snap = early_snapshot.result() if early_snapshot is not None else snapshot_step(ctx, the_plan.get("current"))
        if not snap.verified:
            lines.append(step_line(False, "snapshot", f"{snap.name} failed verification: {snap.verify_detail}"))
            return StepResult(Outcome.FAILED, f"snapshot of {env.name} failed verification; nothing was migrated",
                              lines, [f"/bb snapshots {env.name}", f"/bb precheck {env.name}"])
        lines.append(step_line(True, "snapshot", f"{snap.name} ({snap.size_bytes:,} bytes, verified)"))

        progress(ctx, step_no("alembic upgrade head"), total, "alembic upgrade head")
        # the check after the upgrade is `alembic current`: its Python starts now and imports Alembic
        # while the upgrade runs; it reads the revision only when asked, once the upgrade has exited
        with ctx.alembic.current_on_cue() as after:
            with ctx.step("alembic_upgrade") as box:
                try:
                    out = ctx.alembic.run("upgrade", "head", timeout_s=env.timeouts.migrate_s)
                except BBOpsError as exc:
                    box["ok"] = False
                    output_to_thread(ctx, "alembic upgrade output", getattr(exc, "output", "") or str(exc))
                    message = str(exc).splitlines()
                    box["detail"] = message[0]
                    lines.append(step_line(False, "alembic upgrade head", message[0]))
                    lines.extend(f"    {line}" for line in message[1:][-4:])    # the error itself (redacted)
                    lines.append(f"• current revision now: {_current_or_unknown(ctx)}")
                    return StepResult(Outcome.FAILED, f"migration of {env.name} failed; snapshot {snap.name} was "
                                      "taken before it", lines, [f"/bb migrations {env.name}", f"/bb rollback {env.name}"])
                box["ok"] = True
            output_to_thread(ctx, "alembic upgrade output", out)
            lines.append(step_line(True, "alembic upgrade head", "exited 0"))

            progress(ctx, step_no("verify current == head"), total, "verify current == head")
            with ctx.step("verify_head") as box:
                current = after.current()
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


def _current_or_unknown(ctx: StepContext) -> str:
    try:
        return ", ".join(ctx.alembic.current()) or "none"
    except BBOpsError as exc:
        return f"unknown ({str(exc).splitlines()[0][:120]})"


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
