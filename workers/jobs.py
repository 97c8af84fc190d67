"""RQ job entry point: ``execute_run(run_id, phase)``. Only the run id crosses the queue.

A phase names a runner: ``run`` (a read-only verb, start to finish), ``plan`` (a mutating verb:
compute the plan, post the approval card or start at once when no approval is needed),
``execute`` (an approved mutating run: lock, re-check the plan, act).
"""

from __future__ import annotations

from typing import Callable

from bot.infra.runtime import Runtime, current
from workers.change_flow import execute_phase, plan_phase
from workers.read_only import run_read_only

RUNNERS: dict[str, Callable[[Runtime, int], str]] = {
    "run": run_read_only,
    "plan": plan_phase,
    "execute": execute_phase,
}


def execute_run(run_id: int, phase: str = "run") -> str:
    try:
        runner = RUNNERS[phase]
    except KeyError:
        raise ValueError(f"unknown phase {phase!r}") from None
    return runner(current(), run_id)
