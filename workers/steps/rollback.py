"""`/bb rollback` and `/bb restore`: the runbook's rollback (RUNBOOK §4) and its decision guide (§5).

**Plan** (``rollback_plan``, pure reading: Alembic ``current``, the scripts read with ``ast``, the bot
database):

1. *App release first.* The previous release comes from the bot database: the releases that the
   environment's deploys (and earlier rollbacks / restores) actually put out, in order, as a stack
   (a deploy pushes its version, a rollback returns to an earlier one). The release hook is run
   with the version below the top. Unknown history or no release hook: the card says so.
2. *Downgrade or restore.* The steps between the current revision and the target (``-1``..``-9``
   or a revision) come from :func:`bot.analysis.steps_between`, each with its verdict
   and reasons. ``alembic downgrade <target>`` only when every step is ``reversible``, or when the
   worst is ``lossy`` and the requester said ``--accept-data-loss`` (shown on the card). Anything
   else — ``opaque``, ``irreversible``, or lossy without the flag — is a restore from the newest
   *verified* snapshot taken at or before the target revision (a snapshot at an older revision is
   restored and then upgraded to the target). No such snapshot: the plan is refused, naming what
   is missing.

**Restore** (``/bb restore <env> <snapshot>``, and rollback by restore): restrict writes (hook) →
verify the snapshot again (SHA-256 + full read) → restore into a fresh database → swap it in (the
old database kept as ``<db>_pre_restore_<stamp>``) → redeploy (release hook) → readiness → smoke →
allow writes. A failure stops there, leaves writes restricted and the original database intact (or,
after the swap, kept under its new name), and the result says what state the environment is in and
what to do next.

Plans are plain dicts shown on the approval card (``bot.slack.approvals.plan_lines``) and hashed: they
hold nothing that changes by itself between approval and execution (no ages, no error texts).
"""

from __future__ import annotations

import logging
import re
import time
from pathlib import Path

from bot.analysis import (
    AnalysisError,
    RevisionAnalysis,
    Verdict,
    analyze_dir,
    steps_between,
)
from bot.core.errors import BBOpsError, PlanRefused
from bot.core.results import Outcome, StepResult
from bot.core.runs import RunStatus
from bot.slack.render import step_line
from workers import probes
from workers.context import StepContext
from workers.diagnostics import MigrationState, diagnose
from workers.steps.migrate import output_to_thread, progress, scripts_digest
from workers.target import hooks, snapshots

log = logging.getLogger("bbops.rollback")

STEPS_BACK = re.compile(r"^-([1-9])$")
RELEASE_VERBS = ("deploy", "rollback", "restore")
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


def release_stack(store, env_name: str, before_run_id: int | None = None) -> list[str]:
    """The environment's releases as a stack, oldest first; the top is the running release."""
    runs = [r for r in reversed(store.runs(env=env_name, limit=HISTORY_RUNS))
            if r.verb in RELEASE_VERBS and (before_run_id is None or r.id < before_run_id)]
    stack: list[str] = []
    for run in runs:
        plan = run.plan or {}
        version = (run.args or {}).get("version") if run.verb == "deploy" else (plan.get("version")
                                                                               or plan.get("redeploy"))
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


def _rollback_release(ctx: StepContext) -> tuple[str | None, list[str]]:
    env = ctx.env
    stack = release_stack(ctx.rt.store, env.name, before_run_id=ctx.run.id)
    running = stack[-1] if stack else None
    previous = stack[-2] if len(stack) >= 2 else None
    if env.hooks.release is None:
        return None, ["no release hook is configured: roll the app back to its previous release yourself "
                      "first (RUNBOOK §4)"]
    if previous is None:
        known = f"only {running} is recorded" if running else "no deploy is recorded"
        return None, [f"previous release unknown ({known} for {env.name} in bb-ops): the app release is not "
                      "rolled back; do it by hand first if the running release needs the newer schema"]
    return previous, [f"app release first: {running} → {previous} (release hook)"]


# -- plans ------------------------------------------------------------------------------------------
def _analyses(ctx: StepContext) -> tuple[list[RevisionAnalysis], Path]:
    versions = ctx.alembic.versions_dir()
    try:
        return analyze_dir(versions), versions
    except AnalysisError as exc:
        raise PlanRefused(f"cannot read the migration scripts of {ctx.env.name}: {exc}", Outcome.ERROR,
                          next_commands=[f"/bb migrations {ctx.env.name}"]) from None


def _resolve_target(analyses: list[RevisionAnalysis], current: str, want: str, env: str) -> str | None:
    """The revision a rollback goes to (None: base)."""
    by_rev = {a.revision: a for a in analyses}
    steps = STEPS_BACK.match(want)
    if steps:
        rev: str | None = current
        for i in range(int(steps.group(1))):
            if rev is None:
                raise PlanRefused(f"cannot roll back {want}: {current} is only {i} revision(s) above base",
                                  Outcome.REFUSED, next_commands=[f"/bb migrations {env}"])
            if rev not in by_rev:
                raise PlanRefused(f"cannot roll back {want}: {rev} is not in {env}'s migration scripts",
                                  Outcome.REFUSED, next_commands=[f"/bb migrations {env}"])
            downs = by_rev[rev].down_revisions
            if len(downs) > 1:
                raise PlanRefused(f"cannot roll back {want}: {rev} merges {', '.join(downs)}; name the revision "
                                  "to go back to", Outcome.REFUSED,
                                  next_commands=[f"/bb rollback {env} {downs[0]}", f"/bb migrations {env}"])
            rev = downs[0] if downs else None
        return rev
    if want == "base":
        return None
    if want in by_rev:
        return want
    matches = [r for r in by_rev if len(want) > 3 and r.startswith(want)]
    if len(matches) == 1:
        return matches[0]
    known = ", ".join(a.revision for a in analyses[-6:])
    raise PlanRefused(f"`{want}` is not a revision of {env}'s migrations" +
                      (f" (ambiguous: {', '.join(sorted(matches))})" if matches else ""), Outcome.REFUSED,
                      [f"revisions: {known}"], [f"/bb rollback {env} -1", f"/bb migrations {env}"])


def _at_or_before(analyses: list[RevisionAnalysis], target: str | None) -> set[str | None]:
    """The target and every revision below it (None: base): where a usable snapshot may be."""
    by_rev = {a.revision: a for a in analyses}
    allowed: set[str | None] = {None}
    stack = [target] if target else []
    while stack:
        rev = stack.pop()
        if rev in allowed or rev not in by_rev:
            continue
        allowed.add(rev)
        stack.extend(by_rev[rev].down_revisions + by_rev[rev].dependencies)
    return allowed


def _describe_snapshot(snap) -> str:
    return (f"{snap.name} (revision {snap.revision or 'base'}, taken {snap.created_at:%Y-%m-%d %H:%M} UTC, "
            f"{snap.size_bytes:,} bytes, verified)")


def _current_revision(ctx: StepContext) -> str:
    env = ctx.env.name
    diagnosis = diagnose(ctx.alembic)
    if diagnosis.state not in (MigrationState.ALIGNED, MigrationState.BEHIND):
        raise PlanRefused(f"cannot plan a rollback: {diagnosis.summary()}", Outcome.FAILED, diagnosis.lines(),
                          [f"/bb migrations {env}", f"/bb snapshots {env}"])
    if len(diagnosis.current) != 1:
        raise PlanRefused(f"nothing to roll back: {env}'s database has no migration revision", Outcome.FAILED,
                          diagnosis.lines(), [f"/bb migrations {env}"])
    return diagnosis.current[0]


def rollback_plan(ctx: StepContext) -> dict:
    env = ctx.env
    args = ctx.run.args or {}
    want = str(args.get("target") or "-1")
    accept = bool(args.get("accept_data_loss"))
    current = _current_revision(ctx)
    analyses, versions = _analyses(ctx)
    target = _resolve_target(analyses, current, want, env.name)
    shown_target = target or "base"
    try:
        steps = steps_between(analyses, current, target)
    except AnalysisError as exc:
        raise PlanRefused(f"cannot roll back {env.name} to {shown_target}: {exc}", Outcome.REFUSED,
                          next_commands=[f"/bb migrations {env.name}", f"/bb migrate {env.name}"]) from None
    if not steps:
        raise PlanRefused(f"nothing to roll back: {env.name} is at {current}", Outcome.OK,
                          next_commands=[f"/bb readyz {env.name}"])
    revisions = [{"revision": s.revision, "verdict": s.verdict.value, "reasons": list(s.reasons),
                  "direction": "downgrade"} for s in steps]
    worst = max((s.verdict for s in steps), key=lambda v: v.severity)
    lossy = [s.revision for s in steps if s.verdict is Verdict.LOSSY]
    worse = [f"{s.revision} ({s.verdict.value})" for s in steps if s.verdict.severity > Verdict.LOSSY.severity]
    version, notes = _rollback_release(ctx)
    plan: dict = {"verb": "rollback", "env": env.name, "current": current, "target": shown_target,
                  "revisions": revisions, "code": scripts_digest(versions)}
    if version:
        plan["version"] = version
    if accept:
        plan["accept_data_loss"] = True

    if worst is Verdict.REVERSIBLE or (worst is Verdict.LOSSY and accept):
        plan["method"] = "downgrade"
        plan["snapshot"] = None
        if worst is Verdict.LOSSY:
            notes.append(f"--accept-data-loss: downgrading over lossy {', '.join(lossy)}; the data the upgrade "
                         "dropped or rewrote does not come back")
        elif accept:
            notes.append("--accept-data-loss is not needed: every step back is reversible")
        notes.append(f"alembic downgrade {shown_target}, then current == {shown_target}, readyz, smoke")
        plan["notes"] = notes
        return plan

    allowed = _at_or_before(analyses, target)
    candidates = [s for s in ctx.rt.store.snapshots(env.name, verified_only=True) if s.revision in allowed]
    present = [s for s in candidates if Path(s.path).is_file()]
    why = (f"{', '.join(worse)} cannot be downgraded" if worse else
           f"{', '.join(lossy)} {'is' if len(lossy) == 1 else 'are'} lossy and --accept-data-loss was not given")
    if not present:
        lines = [f"downgrade {r['revision']}: {r['verdict']}" + (f" — {'; '.join(r['reasons'])}" if r["reasons"] else "")
                 for r in revisions]
        lines.append(f"missing: a verified snapshot of {env.name} taken at {shown_target} or an earlier revision")
        for s in candidates:
            if s not in present:
                lines.append(f"snapshot {s.name} is recorded but its file {s.path} is gone")
        others = [s for s in ctx.rt.store.snapshots(env.name) if s not in candidates][:3]
        for s in others:
            lines.append(f"snapshot {s.name}: revision {s.revision or 'base'}"
                         + ("" if s.verified else ", NOT verified") + " — not usable for this target")
        nxt = [f"/bb snapshots {env.name}"]
        if accept and worse:
            lines.append(f"--accept-data-loss only unlocks lossy steps; {', '.join(worse)} is not lossy")
        elif worst is Verdict.LOSSY:
            lines.append("--accept-data-loss would downgrade over the lossy step(s), losing their data")
            nxt.insert(0, f"/bb rollback {env.name} {want} --accept-data-loss")
        raise PlanRefused(f"cannot roll back {env.name} to {shown_target}: {why}, and there is no verified "
                          f"snapshot at or before {shown_target} to restore", Outcome.REFUSED, lines, nxt)
    snap = present[0]
    plan["method"] = "restore"
    plan["snapshot"] = _describe_snapshot(snap)
    plan["restore"] = {"name": snap.name, "revision": snap.revision, "sha256": snap.sha256}
    if accept and worse:
        notes.append(f"--accept-data-loss does not apply: {', '.join(worse)} cannot be downgraded")
    notes.append(f"restore, because {why}")
    notes.extend(_restore_notes(ctx, snap))
    if snap.revision != target:
        notes.append(f"the snapshot is at {snap.revision or 'base'}: after the restore, alembic upgrade {shown_target}")
    plan["notes"] = notes
    return plan


def _restore_notes(ctx: StepContext, snap) -> list[str]:
    env = ctx.env
    db = snapshots.target_db(env)
    problems = snapshots.restore_problems(env, db)
    if problems:
        raise PlanRefused(f"cannot restore {env.name}: {problems[0]}", Outcome.REFUSED, problems[1:],
                          [f"/bb snapshots {env.name}"])
    notes = [f"data written since {snap.created_at:%Y-%m-%d %H:%M} UTC is not in the snapshot; the current "
             f"database is kept as {_label(db)}_pre_restore_<time> until an operator drops it"]
    if env.hooks.restrict_writes is None:
        notes.append("no restrict_writes hook is configured: writes are not stopped during the restore")
    return notes


def restore_plan(ctx: StepContext) -> dict:
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
    plan: dict = {"verb": "restore", "env": env.name, "current": current or "unknown",
                  "target": snap.revision or "base", "method": "restore", "snapshot": _describe_snapshot(snap),
                  "restore": {"name": snap.name, "revision": snap.revision, "sha256": snap.sha256}}
    notes = _restore_notes(ctx, snap)
    if diagnosis.state is MigrationState.ERROR:
        notes.append("the current revision could not be read (see /bb migrations)")
    stack = release_stack(ctx.rt.store, env.name, before_run_id=snap.run_id) if snap.run_id else []
    if env.hooks.release is None:
        notes.append("no release hook is configured: redeploy a release compatible with revision "
                     f"{snap.revision or 'base'} yourself")
    elif stack:
        plan["redeploy"] = stack[-1]    # after the swap (not "version": that one goes first)
        notes.append(f"redeploy {stack[-1]}, the release that was running when the snapshot was taken")
    else:
        notes.append("the release running when the snapshot was taken is unknown: no redeploy; make sure the "
                     f"running release works with revision {snap.revision or 'base'}")
    plan["notes"] = notes
    return plan


# -- execution --------------------------------------------------------------------------------------
class _Flow:
    """Numbered steps: the parent message says which one runs; ``lines`` collects the results."""

    def __init__(self, ctx: StepContext, names: list[str]) -> None:
        self.ctx, self.names, self.lines = ctx, names, []

    def begin(self, name: str) -> None:
        progress(self.ctx, self.names.index(name) + 1, len(self.names), name)

    def ok(self, name: str, detail: str) -> None:
        self.lines.append(step_line(True, name, detail))

    def failed(self, name: str, detail: str) -> None:
        self.lines.append(step_line(False, name, detail))


def _label(db) -> str:
    return Path(db.database or "").name if db.kind == "sqlite" else (db.database or "")


def _release(ctx: StepContext, flow: _Flow, name: str, version: str) -> str | None:
    """Run the release hook; None when it worked, else the error's first line."""
    flow.begin(name)
    with ctx.step("release_hook") as box:
        try:
            out = hooks.run_hook(ctx.env, "release", version=version)
        except BBOpsError as exc:
            box["ok"], box["detail"] = False, str(exc).splitlines()[0]
            output_to_thread(ctx, "release hook output", getattr(exc, "output", "") or str(exc))
            flow.failed(name, str(exc).splitlines()[0])
            return str(exc).splitlines()[0]
        box["ok"], box["detail"] = True, version
    if out:
        output_to_thread(ctx, "release hook output", out)
    flow.ok(name, "release hook exited 0")
    return None


def _writes_hook(ctx: StepContext, flow: _Flow, name: str, hook: str) -> str | None:
    flow.begin(name)
    with ctx.step(hook) as box:
        try:
            out = hooks.run_hook(ctx.env, hook)
        except BBOpsError as exc:
            box["ok"], box["detail"] = False, str(exc).splitlines()[0]
            flow.failed(name, str(exc).splitlines()[0])
            return str(exc).splitlines()[0]
        box["ok"] = True
    if out:
        output_to_thread(ctx, f"{hook} hook output", out)
    flow.ok(name, "done" if out is not None else "no hook configured")
    return None


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


def _verify_current(ctx: StepContext, flow: _Flow, name: str, target: str) -> tuple[bool, str]:
    flow.begin(name)
    with ctx.step("verify_current") as box:
        try:
            current = ctx.alembic.current()
        except BBOpsError as exc:
            current, box["detail"] = None, str(exc).splitlines()[0]
        expected = [] if target == "base" else [target]
        box["ok"] = current == expected
        box["detail"] = box["detail"] or f"current {current}"
    shown = "unreadable" if current is None else (", ".join(current) or "base")
    if box["ok"]:
        flow.ok(name, target)
    else:
        flow.failed(name, f"current {shown}, expected {target}")
    return box["ok"], shown


def _ready_and_smoke(ctx: StepContext, flow: _Flow) -> str | None:
    """readyz (with patience), then the smoke test; None when both pass, else what failed."""
    from workers.steps import smoke

    flow.begin("readyz")
    with ctx.step("readyz") as box:
        check = wait_ready(ctx)
        box["ok"], box["detail"] = check.ok, check.detail
    flow.lines.append(check.line())
    if not check.ok:
        return f"not ready: {check.detail}"
    flow.begin("smoke")
    result = smoke.run(ctx)
    flow.lines.extend(result.lines)
    if not result.ok:
        return f"smoke test failed: {result.headline}"
    return None


def run_rollback(ctx: StepContext, plan: dict) -> StepResult:
    if plan.get("method") == "restore":
        return _restore_flow(ctx, plan, release_first=plan.get("version"))
    env, target = ctx.env, plan["target"]
    version = plan.get("version")
    names = ([f"release {version}"] if version else []) + [
        f"alembic downgrade {target}", f"current == {target}", "readyz", "smoke"]
    flow = _Flow(ctx, names)
    app = f"the app runs release {version}" if version else "the app release was not changed by bb-ops"

    if version:
        error = _release(ctx, flow, f"release {version}", version)
        if error:
            return StepResult(Outcome.FAILED, f"rollback of {env.name} stopped at the release hook: {error}",
                              flow.lines + ["state: the database was not changed; the release may be half-done "
                                            "(see the hook output)"], [f"/bb readyz {env.name}", f"/bb history {env.name}"])

    step = f"alembic downgrade {target}"
    flow.begin(step)
    with ctx.step("alembic_downgrade") as box:
        try:
            out = ctx.alembic.run("downgrade", target, timeout_s=env.timeouts.migrate_s)
        except BBOpsError as exc:
            box["ok"], box["detail"] = False, str(exc).splitlines()[0]
            output_to_thread(ctx, "alembic downgrade output", getattr(exc, "output", "") or str(exc))
            flow.failed(step, str(exc).splitlines()[0])
            try:
                now = ", ".join(ctx.alembic.current()) or "base"
            except BBOpsError:
                now = "unreadable"
            return StepResult(Outcome.FAILED, f"rollback of {env.name} failed: alembic downgrade {target} did not "
                              f"finish; the database is at revision {now}",
                              flow.lines + [f"state: database at {now}; {app}"],
                              [f"/bb migrations {env.name}", f"/bb snapshots {env.name}"])
        box["ok"] = True
    output_to_thread(ctx, "alembic downgrade output", out)
    flow.ok(step, "exited 0")

    ok, shown = _verify_current(ctx, flow, f"current == {target}", target)
    if not ok:
        return StepResult(Outcome.FAILED, f"{env.name} is at {shown} after the downgrade, not {target}",
                          flow.lines + [f"state: database at {shown}; {app}"], [f"/bb migrations {env.name}"])
    problem = _ready_and_smoke(ctx, flow)
    if problem:
        return StepResult(Outcome.FAILED, f"rolled back {env.name} to {target} by downgrade, but {problem}",
                          flow.lines + [f"state: database at {target}; {app}"],
                          [f"/bb readyz {env.name}", f"/bb smoke {env.name}"])
    return StepResult(Outcome.OK, f"rolled back {env.name} to {target} by downgrade"
                      + (f" and release {version}" if version else "") + "; ready, smoke passed",
                      flow.lines, [f"/bb history {env.name}", f"/bb migrations {env.name}"])


def run_restore(ctx: StepContext, plan: dict) -> StepResult:
    return _restore_flow(ctx, plan, redeploy=plan.get("redeploy"))


def _restore_flow(ctx: StepContext, plan: dict, *, release_first: str | None = None,
                  redeploy: str | None = None) -> StepResult:
    restore = _Restore(ctx, plan, release_first, redeploy)
    try:
        return restore.run()
    except Exception as exc:   # whatever broke, say what state the environment is in
        log.exception("run %s: restore failed unexpectedly", ctx.run.id)
        if restore.fresh and not restore.kept:
            snapshots.drop_fresh(restore.db, restore.fresh)
            restore.fresh = None
        return restore.stop("an unexpected error", f"bb-ops failed ({type(exc).__name__}; the worker log has the "
                            "details)", [f"/bb readyz {ctx.env.name}", f"/bb snapshots {ctx.env.name}"])


class _Restore:
    """The restore steps, and what state each failure leaves the environment in."""

    def __init__(self, ctx: StepContext, plan: dict, release_first: str | None, redeploy: str | None) -> None:
        self.ctx, self.env, self.verb = ctx, ctx.env, ctx.run.verb
        info = plan["restore"]
        self.name, self.revision, self.sha256 = info["name"], info["revision"], info["sha256"]
        self.target = plan["target"]
        self.release_first, self.redeploy = release_first, redeploy
        self.upgrade_to = self.target if self.verb == "rollback" and (self.revision or "base") != self.target else None
        self.db = snapshots.target_db(self.env)
        self.label = _label(self.db)
        self.flow = _Flow(ctx, ([f"release {release_first}"] if release_first else []) + [
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
            error = _release(ctx, flow, f"release {self.release_first}", self.release_first)
            if error:
                return self.stop("the release hook", error, [f"/bb readyz {env.name}", f"/bb history {env.name}"])

        if env.hooks.restrict_writes is not None:
            error = _writes_hook(ctx, flow, "restrict writes", "restrict_writes")
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
        with ctx.step("verify_snapshot") as box:
            if snap is None:
                ok, detail = False, "the snapshot is no longer recorded (pruned?)"
            else:
                ok, detail = snapshots.verify(env, self.db, Path(snap.path), expected_sha256=self.sha256)
            box["ok"], box["detail"] = ok, detail
        if not ok:
            if snap is not None:
                ctx.rt.store.update_snapshot(name, verified=False, verify_detail=detail)
            flow.failed("verify snapshot", f"{name}: {detail}")
            return self.stop("verification", f"snapshot {name} failed verification: {detail}; nothing was restored",
                             [f"/bb snapshots {env.name}"])
        flow.ok("verify snapshot", f"{name}: sha256 matches; {detail}")

        step = "restore into a fresh database"
        flow.begin(step)
        with ctx.step("restore_fresh") as box:
            try:
                self.fresh = snapshots.restore_fresh(env, self.db, Path(snap.path), self.revision)
            except BBOpsError as exc:
                box["ok"], box["detail"] = False, str(exc).splitlines()[0]
                flow.failed(step, str(exc).splitlines()[0])
                if getattr(exc, "detail", ""):
                    output_to_thread(ctx, "pg_restore output", exc.detail)
                return self.stop("the restore", str(exc).splitlines()[0] + "; the half-restored database was dropped",
                                 [f"/bb snapshots {env.name}", f"/bb readyz {env.name}", ctx.run.text])
            box["ok"], box["detail"] = True, self.fresh
        shown = Path(self.fresh).name if self.db.kind == "sqlite" else self.fresh
        flow.ok(step, f"{shown} at revision {self.revision or 'base'}")

        step = "swap it in"
        flow.begin(step)
        with ctx.step("swap") as box:
            try:
                self.kept = snapshots.swap_in(env, self.db, self.fresh)
            except snapshots.RestoreFailed as exc:
                box["ok"], box["detail"] = False, str(exc)
                flow.failed(step, str(exc))
                self.fresh = None
                if exc.original_intact:
                    return self.stop("the swap", f"{exc}; the fresh database was dropped", [f"/bb readyz {env.name}"])
                return StepResult(Outcome.FAILED, f"{self.verb} of {env.name} stopped at the swap: {exc}",
                                  flow.lines + [f"state: {env.name} has no database named {self.label}: {exc}",
                                                f"state: {self.writes()}"], [f"/bb readyz {env.name}"])
            box["ok"], box["detail"] = True, f"previous database kept as {self.kept}"
        self.fresh = None
        flow.ok(step, f"{self.label} is the restored snapshot; the previous database is kept as {self.kept}")
        after = [f"/bb readyz {env.name}", f"/bb smoke {env.name}", f"/bb migrations {env.name}"]

        if self.redeploy:
            error = _release(ctx, flow, f"redeploy {self.redeploy}", self.redeploy)
            if error:
                return self.stop("the redeploy", error, after)
        if self.upgrade_to:
            step = f"alembic upgrade {self.upgrade_to}"
            flow.begin(step)
            with ctx.step("alembic_upgrade") as box:
                try:
                    out = ctx.alembic.run("upgrade", self.upgrade_to, timeout_s=env.timeouts.migrate_s)
                except BBOpsError as exc:
                    box["ok"], box["detail"] = False, str(exc).splitlines()[0]
                    output_to_thread(ctx, "alembic upgrade output", getattr(exc, "output", "") or str(exc))
                    flow.failed(step, str(exc).splitlines()[0])
                    return self.stop(step, str(exc).splitlines()[0], after)
                box["ok"] = True
            output_to_thread(ctx, "alembic upgrade output", out)
            flow.ok(step, "exited 0")
        ok, shown = _verify_current(ctx, flow, f"current == {self.target}", self.target)
        if not ok:
            return self.stop("the revision check", f"the database is at {shown}, not {self.target}", after)
        problem = _ready_and_smoke(ctx, flow)
        if problem:
            return self.stop("readiness" if problem.startswith("not ready") else "the smoke test", problem, after)

        if env.hooks.allow_writes is not None and self.restricted:
            error = _writes_hook(ctx, flow, "allow writes", "allow_writes")
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
