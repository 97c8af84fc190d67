"""RUNBOOK §1.2: GET /api/healthz must answer 200."""

from bot.core.results import Outcome, StepResult
from workers import probes


def run(ctx) -> StepResult:
    with ctx.step("healthz") as record:
        check = probes.healthz(ctx.target)
        record.ok, record.detail = check.ok, check.detail
    env = ctx.env.name
    if check.ok:
        return StepResult(Outcome.OK, f"{env} is healthy", [check.line()], [f"/bb readyz {env}"])
    return StepResult(Outcome.FAILED, f"{env} is not healthy", [check.line()],
                      [f"/bb readyz {env}", f"/bb precheck {env}"])
