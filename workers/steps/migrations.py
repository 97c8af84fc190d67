"""RUNBOOK §6: migration mismatch diagnostics — current vs heads, pending revisions with verdicts."""

from bot.core.results import Outcome, StepResult
from workers.diagnostics import MigrationState, diagnose


def run(ctx) -> StepResult:
    env = ctx.env.name
    with ctx.step("migrations") as record:
        diagnosis = diagnose(ctx.alembic)
        record.ok, record.detail = diagnosis.ready, diagnosis.summary()
    lines = diagnosis.lines()
    if diagnosis.state is MigrationState.ALIGNED:
        return StepResult(Outcome.OK, f"{env} migrations {diagnosis.summary()}", lines, [f"/bb readyz {env}"],
                          data={"state": diagnosis.state.value})
    if diagnosis.state is MigrationState.BEHIND:
        return StepResult(Outcome.FAILED, f"{env} migrations {diagnosis.summary()}", lines, [f"/bb migrate {env}"],
                          data={"state": diagnosis.state.value})
    outcome = Outcome.ERROR if diagnosis.state is MigrationState.ERROR else Outcome.FAILED
    return StepResult(outcome, f"{env} migrations {diagnosis.summary()} — treat as not ready", lines,
                      [f"/bb precheck {env}"], data={"state": diagnosis.state.value})
