"""`/bb history <env>`: the last runs with who asked, who approved, outcome and a link to the thread."""

from __future__ import annotations

from bot.render import Outcome, StepResult

LIMIT = 15


def run(ctx) -> StepResult:
    rt, env = ctx.rt, ctx.env.name
    lines = []
    for r in rt.store.runs(env=env, limit=LIMIT + 1):
        if r.id == ctx.run.id:
            continue
        approver = f", approved by <@{r.approved_by}>" if r.approved_by else ""
        link = ""
        if r.parent_ts:
            url = rt.poster.permalink(r.channel, r.parent_ts)
            link = f" <{url}|thread>" if url else ""
        lines.append(f"run {r.id} {r.created_at:%Y-%m-%d %H:%M} `{r.text}` by <@{r.requester}>{approver}: "
                     f"{r.status.value}{link}")
    if not lines:
        return StepResult(Outcome.OK, f"no runs on {env} yet", [], [f"/bb readyz {env}"])
    return StepResult(Outcome.OK, f"last {len(lines[:LIMIT])} runs on {env}", lines[:LIMIT], [f"/bb envs"])
