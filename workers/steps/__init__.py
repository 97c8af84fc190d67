"""One module per verb, named by the verb table's ``step`` (``bot.core.verbs``).

A read-only verb's module exposes ``run(ctx) -> StepResult``. A mutating verb's module exposes
``plan(ctx) -> Plan`` (pure reading; raises ``PlanRefused`` when there is nothing to approve) and
``run(ctx, plan) -> StepResult``; one that also exposes ``take_snapshot_early(ctx, plan)`` has it
run while the execution re-checks the plan, and gets its future as ``run(ctx, plan,
early_snapshot=...)`` (``workers.change_flow``).

Importing this package checks the table: a verb whose step module is missing fails here, at the
worker's start, not when someone first types it.
"""

from __future__ import annotations

import importlib
import importlib.util
from types import ModuleType

from bot.core.verbs import VERBS, verb

STEPS: dict[str, str] = {v.name: f"{__name__}.{v.step}" for v in VERBS.values() if v.step is not None}

_missing = sorted(f"{name} (workers/steps/{module.rpartition('.')[2]}.py)" for name, module in STEPS.items()
                  if importlib.util.find_spec(module) is None)
if _missing:
    raise ImportError(f"verbs without a step module: {', '.join(_missing)}")


def load(name: str) -> ModuleType:
    """The step module of verb ``name`` (imported once per process, before RQ forks)."""
    try:
        module = STEPS[verb(name).name]
    except KeyError:
        raise LookupError(f"no runbook step for verb {name!r}") from None
    return importlib.import_module(module)


def preload() -> None:
    for module in STEPS.values():
        importlib.import_module(module)
