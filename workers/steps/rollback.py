"""`/bb rollback`: the runbook's rollback (RUNBOOK §4) and its decision guide (§5).

**Plan** (``plan``, pure reading: Alembic ``current``, the scripts read with ``ast``, the bot
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

**Run**: the release hook (when a previous release is known), then ``alembic downgrade <target>``,
current == target, readiness, smoke; or, by restore, the steps of ``workers.steps.restore``.

The plan (``bot.core.plan.Plan``) is shown on the approval card and hashed: it holds nothing that
changes by itself between approval and execution (no ages, no error texts).
"""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

from bot.analysis import (
    AnalysisError,
    RevisionAnalysis,
    Verdict,
    analyze_dir,
    steps_between,
)
from bot.core.errors import BBOpsError, PlanRefused
from bot.core.plan import Plan, PlannedRevision, RestoreSource
from bot.core.results import Outcome, StepResult
from workers.context import NumberedSteps, StepContext
from workers.diagnostics import MigrationState, diagnose
from workers.recovery import ready_and_smoke, release_stack, release_step, verify_current
from workers.steps.migrate import scripts_digest
from workers.steps.restore import describe_snapshot, restore_flow, restore_notes

STEPS_BACK = re.compile(r"^-([1-9])$")


# -- the app release first ----------------------------------------------------------------------
def _previous_release(ctx: StepContext) -> tuple[str | None, list[str]]:
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


def plan(ctx: StepContext) -> Plan:
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
    revisions = tuple(PlannedRevision(s.revision, s.verdict.value, tuple(s.reasons), "downgrade") for s in steps)
    worst = max((s.verdict for s in steps), key=lambda v: v.severity)
    lossy = [s.revision for s in steps if s.verdict is Verdict.LOSSY]
    worse = [f"{s.revision} ({s.verdict.value})" for s in steps if s.verdict.severity > Verdict.LOSSY.severity]
    version, notes = _previous_release(ctx)
    planned = Plan(verb="rollback", env=env.name, current=current, target=shown_target, revisions=revisions,
                   code=scripts_digest(versions), version=version or None, accept_data_loss=accept)

    if worst is Verdict.REVERSIBLE or (worst is Verdict.LOSSY and accept):
        if worst is Verdict.LOSSY:
            notes.append(f"--accept-data-loss: downgrading over lossy {', '.join(lossy)}; the data the upgrade "
                         "dropped or rewrote does not come back")
        elif accept:
            notes.append("--accept-data-loss is not needed: every step back is reversible")
        notes.append(f"alembic downgrade {shown_target}, then current == {shown_target}, readyz, smoke")
        return replace(planned, method="downgrade", snapshot=None, notes=tuple(notes))

    allowed = _at_or_before(analyses, target)
    candidates = [s for s in ctx.rt.store.snapshots(env.name, verified_only=True) if s.revision in allowed]
    present = [s for s in candidates if Path(s.path).is_file()]
    why = (f"{', '.join(worse)} cannot be downgraded" if worse else
           f"{', '.join(lossy)} {'is' if len(lossy) == 1 else 'are'} lossy and --accept-data-loss was not given")
    if not present:
        lines = [f"downgrade {r.revision}: {r.verdict}" + (f" — {'; '.join(r.reasons)}" if r.reasons else "")
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
    if accept and worse:
        notes.append(f"--accept-data-loss does not apply: {', '.join(worse)} cannot be downgraded")
    notes.append(f"restore, because {why}")
    notes.extend(restore_notes(ctx, snap))
    if snap.revision != target:
        notes.append(f"the snapshot is at {snap.revision or 'base'}: after the restore, alembic upgrade {shown_target}")
    return replace(planned, method="restore", snapshot=describe_snapshot(snap),
                   restore=RestoreSource(snap.name, snap.revision, snap.sha256), notes=tuple(notes))


# -- execution --------------------------------------------------------------------------------------
def run(ctx: StepContext, plan: Plan) -> StepResult:
    if plan.method == "restore":
        return restore_flow(ctx, plan, release_first=plan.version)
    env, target, version = ctx.env, plan.target, plan.version
    names = ([f"release {version}"] if version else []) + [
        f"alembic downgrade {target}", f"current == {target}", "readyz", "smoke"]
    flow = NumberedSteps(ctx, names)
    app = f"the app runs release {version}" if version else "the app release was not changed by bb-ops"

    if version:
        error = release_step(ctx, flow, f"release {version}", version)
        if error:
            return StepResult(Outcome.FAILED, f"rollback of {env.name} stopped at the release hook: {error}",
                              flow.lines + ["state: the database was not changed; the release may be half-done "
                                            "(see the hook output)"], [f"/bb readyz {env.name}", f"/bb history {env.name}"])

    step = f"alembic downgrade {target}"
    flow.begin(step)
    with ctx.step("alembic_downgrade") as record:
        try:
            out = ctx.alembic.run("downgrade", target, timeout_s=env.timeouts.migrate_s)
        except BBOpsError as exc:
            record.ok, record.detail = False, str(exc).splitlines()[0]
            ctx.output_to_thread("alembic downgrade output", getattr(exc, "output", "") or str(exc))
            flow.failed(step, str(exc).splitlines()[0])
            try:
                now = ", ".join(ctx.alembic.current()) or "base"
            except BBOpsError:
                now = "unreadable"
            return StepResult(Outcome.FAILED, f"rollback of {env.name} failed: alembic downgrade {target} did not "
                              f"finish; the database is at revision {now}",
                              flow.lines + [f"state: database at {now}; {app}"],
                              [f"/bb migrations {env.name}", f"/bb snapshots {env.name}"])
        record.ok = True
    ctx.output_to_thread("alembic downgrade output", out)
    flow.ok(step, "exited 0")

    ok, shown = verify_current(ctx, flow, f"current == {target}", target)
    if not ok:
        return StepResult(Outcome.FAILED, f"{env.name} is at {shown} after the downgrade, not {target}",
                          flow.lines + [f"state: database at {shown}; {app}"], [f"/bb migrations {env.name}"])
    problem = ready_and_smoke(ctx, flow)
    if problem:
        return StepResult(Outcome.FAILED, f"rolled back {env.name} to {target} by downgrade, but {problem}",
                          flow.lines + [f"state: database at {target}; {app}"],
                          [f"/bb readyz {env.name}", f"/bb smoke {env.name}"])
    return StepResult(Outcome.OK, f"rolled back {env.name} to {target} by downgrade"
                      + (f" and release {version}" if version else "") + "; ready, smoke passed",
                      flow.lines, [f"/bb history {env.name}", f"/bb migrations {env.name}"])
