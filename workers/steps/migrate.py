"""`/bb migrate <env>`: snapshot, `alembic upgrade <approved head>`, current == head, readyz.

``plan`` reads the target (Alembic ``heads`` and ``current`` in its own Python, the scripts with
``ast``) and refuses when there is nothing to migrate or the state is not "behind". ``apply`` is
the part `deploy` shares: the numbered steps from the snapshot to readiness.
"""

from __future__ import annotations

import hashlib
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

from bot.core.errors import BBOpsError, PlanRefused
from bot.core.plan import Plan, PlannedRevision
from bot.core.results import Outcome, StepResult
from workers import probes
from workers.context import NumberedSteps, StepContext
from workers.diagnostics import MigrationState, diagnose
from workers.target import snapshots


def scripts_digest(versions_dir: Path) -> str:
    h = hashlib.sha256()
    for path in sorted(versions_dir.glob("*.py")):
        h.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()[:16]


class HeadsAndCurrent:
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


# -- plan ----------------------------------------------------------------------------------------
def plan(ctx: StepContext) -> Plan:
    env = ctx.env
    diagnosis = diagnose(HeadsAndCurrent(ctx.alembic))
    if diagnosis.state is MigrationState.ALIGNED:
        raise PlanRefused(f"nothing to migrate: {env.name} is at head {diagnosis.heads[0]}", Outcome.OK,
                          diagnosis.lines(), [f"/bb readyz {env.name}"])
    if diagnosis.state is not MigrationState.BEHIND:
        raise PlanRefused(f"cannot plan a migration: {diagnosis.summary()}", Outcome.FAILED, diagnosis.lines(),
                          [f"/bb migrations {env.name}"])
    return Plan(
        verb="migrate", env=env.name,
        current=",".join(diagnosis.current) or None, target=diagnosis.heads[0],
        revisions=tuple(PlannedRevision(p.revision, p.verdict, tuple(p.reasons), "upgrade") for p in diagnosis.pending),
        code=scripts_digest(ctx.alembic.versions_dir()),
        snapshot="verified snapshot before the upgrade",
    )


# -- run -----------------------------------------------------------------------------------------
def snapshot_step(ctx: StepContext, revision: str | None):
    """Take and verify the pre-migration snapshot, audited as the step ``snapshot``."""
    with ctx.step("snapshot") as record:
        snap = snapshots.take(ctx.rt, ctx.env, ctx.run.id, revision)
        record.ok, record.detail = snap.verified, f"{snap.name}: {snap.verify_detail}"
    return snap


def take_snapshot_early(ctx: StepContext, approved: Plan):
    """The snapshot the upgrade starts with, taken while the execution re-checks the plan."""
    return snapshot_step(ctx, approved.current)


def change_steps(plan: Plan) -> list[str]:
    """The numbered steps of ``apply`` for this plan."""
    return (["snapshot", "alembic upgrade head", "verify current == head"] if plan.target else []) + ["readyz"]


def apply(ctx: StepContext, plan: Plan, steps: NumberedSteps, *, early_snapshot: Future | None = None
          ) -> StepResult | None:
    """Snapshot, upgrade, current == head, readyz: None when all passed (their lines in
    ``steps.lines``), else the failed result. ``early_snapshot``: the snapshot already being taken."""
    env = ctx.env
    if plan.target:
        steps.begin("snapshot")
        snap = early_snapshot.result() if early_snapshot is not None else snapshot_step(ctx, plan.current)
        if not snap.verified:
            steps.failed("snapshot", f"{snap.name} failed verification: {snap.verify_detail}")
            return StepResult(Outcome.FAILED, f"snapshot of {env.name} failed verification; nothing was migrated",
                              steps.lines, [f"/bb snapshots {env.name}", f"/bb precheck {env.name}"])
        steps.ok("snapshot", f"{snap.name} ({snap.size_bytes:,} bytes, verified)")

        steps.begin("alembic upgrade head")
        # the check after the upgrade is `alembic current`: its Python starts now and imports Alembic
        # while the upgrade runs; it reads the revision only when asked, once the upgrade has exited
        with ctx.alembic.current_on_cue() as after:
            with ctx.step("alembic_upgrade") as record:
                try:
                    out = ctx.alembic.run("upgrade", "head", timeout_s=env.timeouts.migrate_s)
                except BBOpsError as exc:
                    record.ok = False
                    ctx.output_to_thread("alembic upgrade output", getattr(exc, "output", "") or str(exc))
                    message = str(exc).splitlines()
                    record.detail = message[0]
                    steps.failed("alembic upgrade head", message[0])
                    steps.lines.extend(f"    {line}" for line in message[1:][-4:])    # the error itself (redacted)
                    steps.lines.append(f"• current revision now: {_current_or_unknown(ctx)}")
                    return StepResult(Outcome.FAILED, f"migration of {env.name} failed; snapshot {snap.name} was "
                                      "taken before it", steps.lines,
                                      [f"/bb migrations {env.name}", f"/bb rollback {env.name}"])
                record.ok = True
            ctx.output_to_thread("alembic upgrade output", out)
            steps.ok("alembic upgrade head", "exited 0")

            steps.begin("verify current == head")
            with ctx.step("verify_head") as record:
                current = after.current()
                record.ok = current == [plan.target]
                record.detail = f"current {current}"
        if not record.ok:
            steps.failed("current == head", f"current {', '.join(current) or 'none'}, expected {plan.target}")
            return StepResult(Outcome.FAILED, f"{env.name} is not at head after the upgrade", steps.lines,
                              [f"/bb migrations {env.name}"])
        steps.ok("current == head", plan.target)

    steps.begin("readyz")
    with ctx.step("readyz") as record:
        check = probes.readyz(ctx.target)
        record.ok, record.detail = check.ok, check.detail
    steps.lines.append(check.line())
    if not check.ok:
        return StepResult(Outcome.FAILED, f"{env.name} is not ready after the change: {check.detail}", steps.lines,
                          [f"/bb migrations {env.name}", f"/bb rollback {env.name}"])
    return None


def run(ctx: StepContext, plan: Plan, *, early_snapshot: Future | None = None) -> StepResult:
    steps = NumberedSteps(ctx, change_steps(plan))
    failed = apply(ctx, plan, steps, early_snapshot=early_snapshot)
    if failed is not None:
        return failed
    return StepResult(Outcome.OK, f"migrated {ctx.env.name} to {plan.target}; ready", steps.lines,
                      [f"/bb smoke {ctx.env.name}", f"/bb history {ctx.env.name}"])


def _current_or_unknown(ctx: StepContext) -> str:
    try:
        return ", ".join(ctx.alembic.current()) or "none"
    except BBOpsError as exc:
        return f"unknown ({str(exc).splitlines()[0][:120]})"
