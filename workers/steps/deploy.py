"""`/bb deploy <env> <version>`: the release hook, then migrate's steps, then the smoke test.

The plan is migrate's plan with the version (or, when nothing is pending, the release hook and
smoke alone).
"""

from __future__ import annotations

import dataclasses

from bot.core.errors import BBOpsError, PlanRefused
from bot.core.grammar import VERSION_RE
from bot.core.plan import Plan
from bot.core.results import Outcome, StepResult
from workers.context import NumberedSteps, StepContext
from workers.steps import migrate, smoke
from workers.target import hooks


def plan(ctx: StepContext) -> Plan:
    version = ctx.run.args.get("version")
    if not isinstance(version, str) or not VERSION_RE.match(version):
        # the grammar already refused it; this guards runs recorded by anything else
        raise PlanRefused("cannot plan a deploy: the version is not a release like `1.4.2` or a commit id",
                          Outcome.REFUSED, next_commands=[f"/bb deploy {ctx.env.name} <version>"])
    try:
        planned = migrate.plan(ctx)
    except PlanRefused as refused:
        if refused.result.outcome is not Outcome.OK:
            raise
        planned = Plan(verb="migrate", env=ctx.env.name, current=None, target=None, revisions=(),
                       code=migrate.scripts_digest(ctx.alembic.versions_dir()), snapshot=None,
                       notes=("no pending migrations: release hook, then smoke",))
    return dataclasses.replace(planned, verb="deploy", version=version)


def run(ctx: StepContext, plan: Plan) -> StepResult:
    env, version = ctx.env, plan.version
    steps = NumberedSteps(ctx, ["release hook"] + migrate.change_steps(plan) + ["smoke"])

    steps.begin("release hook", f"release hook {version}")
    with ctx.step("release_hook") as record:
        try:
            out = hooks.run_hook(env, "release", version=version)
        except BBOpsError as exc:
            record.ok = False
            steps.failed("release hook", str(exc).splitlines()[0])
            return StepResult(Outcome.FAILED, f"deploy of {version} to {env.name} failed at the release hook; "
                              "nothing was migrated", steps.lines + str(exc).splitlines()[1:],
                              [f"/bb readyz {env.name}"])
        record.ok = True
    steps.ok("release hook", "not configured" if out is None else "done")
    if out:
        ctx.output_to_thread("release hook output", out)

    failed = migrate.apply(ctx, plan, steps)
    if failed is not None:
        return failed

    steps.begin("smoke", "smoke test")
    smoke_result = smoke.run(ctx)
    steps.lines.extend(smoke_result.lines)
    if not smoke_result.ok:
        return StepResult(Outcome.FAILED, f"deployed {version} to {env.name} but the smoke test "
                          f"failed: {smoke_result.headline}", steps.lines, [f"/bb rollback {env.name}"])
    return StepResult(Outcome.OK, f"deployed {version} to {env.name}: migrated, ready, smoke passed",
                      steps.lines, [f"/bb history {env.name}"])
