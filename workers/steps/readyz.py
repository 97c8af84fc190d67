"""RUNBOOK §1.2 / §2.3: GET /api/readyz — 200 with status=ready, 503 means do not continue."""

from bot.core.results import Outcome, StepResult
from workers import probes


def run(ctx) -> StepResult:
    with ctx.step("readyz") as record:
        check = probes.readyz(ctx.target)
        record.ok, record.detail = check.ok, check.detail
    env = ctx.env.name
    if check.ok:
        return StepResult(Outcome.OK, f"{env} is ready", [check.line()], [f"/bb smoke {env}"])
    why = check.data.get("reason") or check.detail
    return StepResult(Outcome.FAILED, f"{env} is not ready: {why}", [check.line()],
                      [f"/bb migrations {env}", f"/bb precheck {env}"])
