"""`/bb snapshots <env>`: snapshots with revision, size, age and verified state, newest first."""

from __future__ import annotations

from bot.core.results import Outcome, StepResult
from bot.infra.db.models import utcnow


def _age(delta) -> str:
    s = int(delta.total_seconds())
    if s < 60:
        return "<1 min"
    if s < 3600:
        return f"{s // 60} min"
    if s < 86400:
        return f"{s // 3600} h"
    return f"{s // 86400} d"


def run(ctx) -> StepResult:
    env = ctx.env.name
    snaps = ctx.rt.store.snapshots(env)
    if not snaps:
        return StepResult(Outcome.OK, f"no snapshots of {env} yet (one is taken before every migrate)", [],
                          [f"/bb migrate {env}"])
    now = utcnow()
    lines = [f"{s.name}: revision {s.revision or 'base'}, {s.size_bytes:,} bytes, {_age(now - s.created_at)} old, "
             + ("verified" if s.verified else f"NOT verified ({s.verify_detail})") for s in snaps]
    verified = [s for s in snaps if s.verified]
    keep = ctx.env.snapshots.keep if ctx.env.snapshots else None
    if keep:
        lines.append(f"retention: the newest {keep} verified snapshots are kept")
    return StepResult(Outcome.OK, f"{len(snaps)} snapshots of {env}, {len(verified)} verified", lines,
                      [f"/bb restore {env} {verified[0].name}"] if verified else [f"/bb migrate {env}"])
