"""`/bb history <env>`: the last runs with who asked, who approved, outcome and a link to the thread."""

from __future__ import annotations

from bot.core.results import Outcome, StepResult
from bot.core.runs import RunStatus
from bot.slack.cards import decisions

LIMIT = 15


def run(ctx) -> StepResult:
    rt, env = ctx.rt, ctx.env.name
    lines = []
    for r in rt.store.runs(env=env, limit=LIMIT + 1):
        if r.id == ctx.run.id:
            continue
        # who decided, from the audit trail (approved, then perhaps cancelled or superseded)
        decided = [f"{ev['event']} by <@{ev['actor']}>"
                   for ev in decisions(rt, r.id) if ev["actor"] not in ("system", "", None)]
        approver = (", " + ", ".join(decided)) if decided else ""
        link = ""
        if r.parent_ts:
            url = rt.poster.permalink(r.channel, r.parent_ts)
            link = f" <{url}|thread>" if url else ""
        why = f" ({r.summary[:120]})" if r.status in (RunStatus.FAILED, RunStatus.ABANDONED) and r.summary else ""
        lines.append(f"run {r.id} {r.created_at:%Y-%m-%d %H:%M} `{r.text}` by <@{r.requester}>{approver}: "
                     f"{r.status.value}{why}{link}")
    if not lines:
        return StepResult(Outcome.OK, f"no runs on {env} yet", [], [f"/bb readyz {env}"])
    return StepResult(Outcome.OK, f"last {len(lines[:LIMIT])} runs on {env}", lines[:LIMIT], ["/bb envs"])
