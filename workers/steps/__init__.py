"""One module per runbook step. Each exposes ``run(ctx: StepContext) -> StepResult``."""

from __future__ import annotations

import importlib

STEP_MODULES = {
    "healthz": "workers.steps.healthz",
    "readyz": "workers.steps.readyz",
    "precheck": "workers.steps.precheck",
    "smoke": "workers.steps.smoke",
    "migrations": "workers.steps.migrations",
    "envs": "workers.steps.envs",
    "history": "workers.steps.history",
    "snapshots": "workers.steps.snapshots",
}


def load(verb: str):
    """The step module for a read-only verb (imported once per process, before RQ forks)."""
    try:
        return importlib.import_module(STEP_MODULES[verb])
    except KeyError:
        raise LookupError(f"no runbook step for verb {verb!r}") from None


def preload() -> None:
    for name in STEP_MODULES.values():
        importlib.import_module(name)
