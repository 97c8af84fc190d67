"""`/bb restore <env> <snapshot>` (and rollback by restore): RUNBOOK §4.

**Plan**: the snapshot must be recorded, verified and present; the plan says what data is lost,
what is kept (the current database, renamed), whether writes are restricted, and which release is
put out again after the swap (the one running when the snapshot was taken, from the bot database).

**Run**: restrict writes (hook) → verify the snapshot again (SHA-256 + full read) → restore into a
fresh database → swap it in (the old database kept as ``<db>_pre_restore_<stamp>``) → redeploy
(release hook) → readiness → smoke → allow writes. A failure stops there, leaves writes restricted
and the original database intact (or, after the swap, kept under its new name), and the result
says what state the environment is in and what to do next.
"""

from __future__ import annotations

import logging
from pathlib import Path

from bot.core.errors import BBOpsError, PlanRefused, RestoreFailed
from bot.core.plan import Plan, RestoreSource
from bot.core.results import Outcome, StepResult
from bot.slack.render import step_line
from workers.context import NumberedSteps, StepContext
from workers.diagnostics import MigrationState, diagnose
from workers.recovery import ready_and_smoke, release_stack, release_step, verify_current
from workers.target import hooks, snapshots

log = logging.getLogger("bbops.restore")


def describe_snapshot(snap) -> str:
    return (f"{snap.name} (revision {snap.revision or 'base'}, taken {snap.created_at:%Y-%m-%d %H:%M} UTC, "
            f"{snap.size_bytes:,} bytes, verified)")


def restore_notes(ctx: StepContext, snap) -> list[str]:
    env = ctx.env
    db = snapshots.target_db(env)
    problems = snapshots.restore_problems(env, db)
    if problems:
        raise PlanRefused(f"cannot restore {env.name}: {problems[0]}", Outcome.REFUSED, problems[1:],
                          [f"/bb snapshots {env.name}"])
    notes = [f"data written since {snap.created_at:%Y-%m-%d %H:%M} UTC is not in the snapshot; the current "
             f"database is kept as {db_label(db)}_pre_restore_<time> until an operator drops it"]
    if env.hooks.restrict_writes is None:
        notes.append("no restrict_writes hook is configured: writes are not stopped during the restore")
    return notes


def plan(ctx: StepContext) -> Plan:
    env = ctx.env
    name = str((ctx.run.args or {}).get("snapshot") or "")
    snap = ctx.rt.store.snapshot(env.name, name)
    if snap is None:
        known = [s.name for s in ctx.rt.store.snapshots(env.name)][:5]
        raise PlanRefused(f"there is no snapshot `{name}` of {env.name}", Outcome.REFUSED,
                          [f"snapshots of {env.name}: {', '.join(known) if known else 'none yet'}"],
                          [f"/bb snapshots {env.name}"])
    if not snap.verified:
        raise PlanRefused(f"snapshot {name} is not verified ({snap.verify_detail}); it will not be restored",
                          Outcome.REFUSED, next_commands=[f"/bb snapshots {env.name}"])
    if not Path(snap.path).is_file():
        raise PlanRefused(f"snapshot {name}'s file is gone ({snap.path})", Outcome.REFUSED,
                          next_commands=[f"/bb snapshots {env.name}"])
    diagnosis = diagnose(ctx.alembic)
    current = ",".join(diagnosis.current) if diagnosis.state is not MigrationState.ERROR else None
    notes = restore_notes(ctx, snap)
    if diagnosis.state is MigrationState.ERROR:
        notes.append("the current revision could not be read (see /bb migrations)")
    redeploy = None
    stack = release_stack(ctx.rt.store, env.name, before_run_id=snap.run_id) if snap.run_id else []
    if env.hooks.release is None:
        notes.append("no release hook is configured: redeploy a release compatible with revision "
                     f"{snap.revision or 'base'} yourself")
    elif stack:
        redeploy = stack[-1]    # after the swap (not "version": that one goes first)
        notes.append(f"redeploy {stack[-1]}, the release that was running when the snapshot was taken")
    else:
        notes.append("the release running when the snapshot was taken is unknown: no redeploy; make sure the "
                     f"running release works with revision {snap.revision or 'base'}")
    return Plan(verb="restore", env=env.name, current=current or "unknown", target=snap.revision or "base",
                method="restore", snapshot=describe_snapshot(snap),
                restore=RestoreSource(snap.name, snap.revision, snap.sha256), redeploy=redeploy, notes=tuple(notes))


# -- execution --------------------------------------------------------------------------------------
def db_label(db) -> str:
    return Path(db.database or "").name if db.kind == "sqlite" else (db.database or "")


def writes_hook(ctx: StepContext, flow: NumberedSteps, name: str, hook: str) -> str | None:
    flow.begin(name)
    with ctx.step(hook) as record:
        try:
            out = hooks.run_hook(ctx.env, hook)
        except BBOpsError as exc:
            record.ok, record.detail = False, str(exc).splitlines()[0]
            flow.failed(name, str(exc).splitlines()[0])
            return str(exc).splitlines()[0]
        record.ok = True
    if out:
        ctx.output_to_thread(f"{hook} hook output", out)
    flow.ok(name, "done" if out is not None else "no hook configured")
    return None


def run(ctx: StepContext, plan: Plan) -> StepResult:
    return restore_flow(ctx, plan, redeploy=plan.redeploy)


def restore_flow(ctx: StepContext, plan: Plan, *, release_first: str | None = None,
                 redeploy: str | None = None) -> StepResult:
    restore = RestoreFlow(ctx, plan, release_first, redeploy)
    try:
        return restore.run()
    except Exception as exc:   # whatever broke, say what state the environment is in
        log.exception("run %s: restore failed unexpectedly", ctx.run.id)
        if restore.fresh and not restore.kept:
            snapshots.drop_fresh(restore.db, restore.fresh)
            restore.fresh = None
        return restore.stop("an unexpected error", f"bb-ops failed ({type(exc).__name__}; the worker log has the "
                            "details)", [f"/bb readyz {ctx.env.name}", f"/bb snapshots {ctx.env.name}"])


class RestoreFlow:
    """The restore steps, and what state each failure leaves the environment in."""

    def __init__(self, ctx: StepContext, plan: Plan, release_first: str | None, redeploy: str | None) -> None:
        self.ctx, self.env, self.verb = ctx, ctx.env, ctx.run.verb
        source = plan.restore
        self.name, self.revision, self.sha256 = source.name, source.revision, source.sha256
        self.target = plan.target
        self.release_first, self.redeploy = release_first, redeploy
        self.upgrade_to = self.target if self.verb == "rollback" and (self.revision or "base") != self.target else None
        self.db = snapshots.target_db(self.env)
        self.label = db_label(self.db)
        self.flow = NumberedSteps(ctx, ([f"release {release_first}"] if release_first else []) + [
            "restrict writes", "verify snapshot", "restore into a fresh database", "swap it in"]
            + ([f"redeploy {redeploy}"] if redeploy else [])
            + ([f"alembic upgrade {self.upgrade_to}"] if self.upgrade_to else [])
            + [f"current == {self.target}", "readyz", "smoke", "allow writes"])
        self.restricted = False
        self.fresh: str | None = None      # the fresh database (or file) while it is not swapped in
        self.kept: str | None = None       # the previous database's name once swapped out

    # -- what state are we in ---------------------------------------------------------------------
    def writes(self) -> str:
        hooks_ = self.env.hooks
        if not self.restricted:
            return ("no restrict_writes hook is configured, so writes were never restricted"
                    if hooks_.restrict_writes is None else "writes were not restricted")
        if hooks_.allow_writes:
            return (f"writes are still restricted: once the environment is checked, allow them with the "
                    f"allow_writes hook (`{' '.join(hooks_.allow_writes)}`)")
        return "writes are still restricted; no allow_writes hook is configured: lift the restriction by hand"

    def database(self) -> str:
        if self.kept:
            return (f"the restored snapshot {self.name} is live as {self.label}; the previous database is kept as "
                    f"{self.kept} (docs/OPERATIONS.md: how to swap it back or drop it)")
        return f"the original database {self.label} is untouched and live"

    def stop(self, step: str, why: str, nxt: list[str]) -> StepResult:
        return StepResult(Outcome.FAILED, f"{self.verb} of {self.env.name} stopped at {step}: {why}",
                          self.flow.lines + [f"state: {self.database()}", f"state: {self.writes()}"], nxt)

    # -- the steps ----------------------------------------------------------------------------------
    def run(self) -> StepResult:
        ctx, env, flow, name = self.ctx, self.env, self.flow, self.name
        if self.release_first:
            error = release_step(ctx, flow, f"release {self.release_first}", self.release_first)
            if error:
                return self.stop("the release hook", error, [f"/bb readyz {env.name}", f"/bb history {env.name}"])

        if env.hooks.restrict_writes is not None:
            error = writes_hook(ctx, flow, "restrict writes", "restrict_writes")
            if error:
                return StepResult(Outcome.FAILED, f"{self.verb} of {env.name} stopped: the restrict_writes hook "
                                  f"failed: {error}",
                                  flow.lines + [f"state: {self.database()}", "state: whether writes are restricted "
                                                "depends on how far the hook got; check the app"],
                                  [f"/bb readyz {env.name}"])
            self.restricted = True
        else:
            flow.lines.append(step_line(None, "restrict writes", "no restrict_writes hook configured"))

        snap = ctx.rt.store.snapshot(env.name, name)
        flow.begin("verify snapshot")
        with ctx.step("verify_snapshot") as record:
            if snap is None:
                ok, detail = False, "the snapshot is no longer recorded (pruned?)"
            else:
                ok, detail = snapshots.verify(env, self.db, Path(snap.path), expected_sha256=self.sha256)
            record.ok, record.detail = ok, detail
        if not ok:
            if snap is not None:
                ctx.rt.store.update_snapshot(name, verified=False, verify_detail=detail)
            flow.failed("verify snapshot", f"{name}: {detail}")
            return self.stop("verification", f"snapshot {name} failed verification: {detail}; nothing was restored",
                             [f"/bb snapshots {env.name}"])
        flow.ok("verify snapshot", f"{name}: sha256 matches; {detail}")

        step = "restore into a fresh database"
        flow.begin(step)
        with ctx.step("restore_fresh") as record:
            try:
                self.fresh = snapshots.restore_fresh(env, self.db, Path(snap.path), self.revision)
            except BBOpsError as exc:
                record.ok, record.detail = False, str(exc).splitlines()[0]
                flow.failed(step, str(exc).splitlines()[0])
                if getattr(exc, "detail", ""):
                    ctx.output_to_thread("pg_restore output", exc.detail)
                return self.stop("the restore", str(exc).splitlines()[0] + "; the half-restored database was dropped",
                                 [f"/bb snapshots {env.name}", f"/bb readyz {env.name}", ctx.run.text])
            record.ok, record.detail = True, self.fresh
        shown = Path(self.fresh).name if self.db.kind == "sqlite" else self.fresh
        flow.ok(step, f"{shown} at revision {self.revision or 'base'}")

        step = "swap it in"
        flow.begin(step)
        with ctx.step("swap") as record:
            try:
                self.kept = snapshots.swap_in(env, self.db, self.fresh)
            except RestoreFailed as exc:
                record.ok, record.detail = False, str(exc)
                flow.failed(step, str(exc))
                self.fresh = None
                if exc.original_intact:
                    return self.stop("the swap", f"{exc}; the fresh database was dropped", [f"/bb readyz {env.name}"])
                return StepResult(Outcome.FAILED, f"{self.verb} of {env.name} stopped at the swap: {exc}",
                                  flow.lines + [f"state: {env.name} has no database named {self.label}: {exc}",
                                                f"state: {self.writes()}"], [f"/bb readyz {env.name}"])
            record.ok, record.detail = True, f"previous database kept as {self.kept}"
        self.fresh = None
        flow.ok(step, f"{self.label} is the restored snapshot; the previous database is kept as {self.kept}")
        after = [f"/bb readyz {env.name}", f"/bb smoke {env.name}", f"/bb migrations {env.name}"]

        if self.redeploy:
            error = release_step(ctx, flow, f"redeploy {self.redeploy}", self.redeploy)
            if error:
                return self.stop("the redeploy", error, after)
        if self.upgrade_to:
            step = f"alembic upgrade {self.upgrade_to}"
            flow.begin(step)
            with ctx.step("alembic_upgrade") as record:
                try:
                    out = ctx.alembic.run("upgrade", self.upgrade_to, timeout_s=env.timeouts.migrate_s)
                except BBOpsError as exc:
                    record.ok, record.detail = False, str(exc).splitlines()[0]
                    ctx.output_to_thread("alembic upgrade output", getattr(exc, "output", "") or str(exc))
                    flow.failed(step, str(exc).splitlines()[0])
                    return self.stop(step, str(exc).splitlines()[0], after)
                record.ok = True
            ctx.output_to_thread("alembic upgrade output", out)
            flow.ok(step, "exited 0")
        ok, shown = verify_current(ctx, flow, f"current == {self.target}", self.target)
        if not ok:
            return self.stop("the revision check", f"the database is at {shown}, not {self.target}", after)
        problem = ready_and_smoke(ctx, flow)
        if problem:
            return self.stop("readiness" if problem.startswith("not ready") else "the smoke test", problem, after)

        if env.hooks.allow_writes is not None and self.restricted:
            error = writes_hook(ctx, flow, "allow writes", "allow_writes")
            if error:
                return self.stop("allow writes", f"the allow_writes hook failed: {error}; the restore itself "
                                 "succeeded", after)
            self.restricted = False
        elif self.restricted:
            flow.lines.append(step_line(None, "allow writes", "no allow_writes hook configured"))
        else:
            flow.lines.append(step_line(None, "allow writes", "writes were never restricted"))
        flow.lines.append(f"state: {self.database()}")
        if self.restricted:
            flow.lines.append(f"state: {self.writes()}")
        how = "rolled back" if self.verb == "rollback" else "restored"
        return StepResult(Outcome.OK, f"{how} {env.name} to {self.target} from snapshot {name}; ready, smoke passed"
                          + ("; writes are still restricted (no allow_writes hook)" if self.restricted else ""),
                          flow.lines, [f"/bb history {env.name}", f"/bb snapshots {env.name}"])
