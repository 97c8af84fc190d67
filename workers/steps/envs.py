"""`/bb envs`: each environment with its current revision, lock holder and last run."""

from __future__ import annotations

from bot.core.errors import BBOpsError
from bot.core.results import Outcome, StepResult
from workers.target.alembic import TargetAlembic


def run(ctx) -> StepResult:
    from bot.infra.locks import describe_holder

    rt = ctx.rt
    lines = []
    for name, env in rt.config.environments.items():
        if env.backend is not None:
            try:
                revision = ", ".join(TargetAlembic(env).current()) or "none"
            except BBOpsError as exc:
                revision = f"unknown ({str(exc).splitlines()[0][:80]})"
        else:
            revision = "n/a (no backend)"
        lock = describe_holder(rt, name) or "unlocked"
        last = next((r for r in rt.store.runs(env=name, limit=5) if r.id != ctx.run.id), None)
        last_text = f"last run {last.id} `{last.text}` {last.status.value}" if last else "no runs yet"
        alias = f" ({', '.join(env.aliases)})" if env.aliases else ""
        lines.append(f"{name}{alias}: revision {revision}; {lock}; {last_text}")
    return StepResult(Outcome.OK, f"{len(lines)} environments", lines, ["/bb help"])
