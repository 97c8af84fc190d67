"""The verbs of `/bb` and what each needs. (Verb table: see the layers issue; timeouts of jobs here.)"""

from __future__ import annotations

from bot.core.config import Environment


def job_timeout_s(env: Environment | None, verb: str, phase: str) -> float:
    if env is None:
        return 120.0
    t = env.timeouts
    if phase == "execute":
        # the longest plan: a restore verifies and restores a snapshot (2 × snapshot_s), may
        # upgrade to the target, runs three hooks, polls readiness and smoke-tests
        return 2 * t.snapshot_s + t.migrate_s + 3 * t.hook_s + t.smoke_s + 120
    if verb == "smoke":
        return t.smoke_s + 30
    return max(120.0, 12 * t.http_s + 60)
