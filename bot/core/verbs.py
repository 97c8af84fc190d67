"""The verbs of `/bb`: one table that the grammar, `help`, config validation and the worker's
dispatch all read (DESIGN.md, "Slash commands"), and how long each verb's jobs may take.

A new verb is a row here plus, unless the ack path answers it, one module under
``workers/steps`` named by its ``step``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from bot.core.defaults import JOB_TIMEOUT_MIN_S


@dataclass(frozen=True)
class Verb:
    name: str
    usage: str              # "/bb deploy <env> <version>"
    description: str        # one line for `help`
    needs_env: bool         # takes an environment as its first argument
    mutates: bool           # changes the target: plan -> approval -> lock
    default_approval: bool  # in approval.required_for when the config does not say
    step: str | None        # module under workers/steps that runs it; None: answered on the ack path

    @property
    def takes_run_id(self) -> bool:
        """``status`` and ``cancel``: the one argument is a run id."""
        return self.usage.endswith("<run-id>")


def _table(*verbs: Verb) -> dict[str, Verb]:
    return {v.name: v for v in verbs}


#: every verb, in the order `help` lists them
VERBS: dict[str, Verb] = _table(
    Verb("help", "/bb help", "verbs, environments, who may approve where",
         needs_env=False, mutates=False, default_approval=False, step=None),
    Verb("envs", "/bb envs", "environments with their current revision, lock holder, last run",
         needs_env=False, mutates=False, default_approval=False, step="envs"),
    Verb("healthz", "/bb healthz <env>", "GET /api/healthz",
         needs_env=True, mutates=False, default_approval=False, step="healthz"),
    Verb("readyz", "/bb readyz <env>", "GET /api/readyz: ready or not, and why",
         needs_env=True, mutates=False, default_approval=False, step="readyz"),
    Verb("precheck", "/bb precheck <env>",
         "required config present and safe, healthz, readyz, migration diagnostics",
         needs_env=True, mutates=False, default_approval=False, step="precheck"),
    Verb("smoke", "/bb smoke <env>", "the 5-minute smoke test: healthz, readyz, login, /me",
         needs_env=True, mutates=False, default_approval=False, step="smoke"),
    Verb("migrations", "/bb migrations <env>", "current vs heads, pending revisions and their reversibility",
         needs_env=True, mutates=False, default_approval=False, step="migrations"),
    Verb("migrate", "/bb migrate <env>", "snapshot, then alembic upgrade head (needs approval)",
         needs_env=True, mutates=True, default_approval=True, step="migrate"),
    Verb("deploy", "/bb deploy <env> <version>", "release hook, migrate, smoke (needs approval)",
         needs_env=True, mutates=True, default_approval=True, step="deploy"),
    Verb("rollback", "/bb rollback <env> [-1|<revision>] [--accept-data-loss]",
         "app release first, then downgrade or restore (needs approval)",
         needs_env=True, mutates=True, default_approval=True, step="rollback"),
    Verb("restore", "/bb restore <env> <snapshot>", "restore a verified snapshot (needs approval)",
         needs_env=True, mutates=True, default_approval=True, step="restore"),
    Verb("snapshots", "/bb snapshots <env>", "snapshots with revision, size, age, verified",
         needs_env=True, mutates=False, default_approval=False, step="snapshots"),
    Verb("history", "/bb history <env>", "the last runs: who asked, who approved, outcome",
         needs_env=True, mutates=False, default_approval=False, step="history"),
    Verb("status", "/bb status <run-id>", "one run's state",
         needs_env=False, mutates=False, default_approval=False, step=None),
    Verb("cancel", "/bb cancel <run-id>", "cancel a queued or waiting run",
         needs_env=False, mutates=False, default_approval=False, step=None),
)

#: verbs whose runs change the target (plan -> approval -> lock), in table order
MUTATING: tuple[str, ...] = tuple(v.name for v in VERBS.values() if v.mutates)
#: verbs that change the running release of an environment (its release history)
RELEASE_VERBS: tuple[str, ...] = ("deploy", "rollback", "restore")


def verb(name: str) -> Verb:
    """The table's row for ``name``; LookupError for a verb bb-ops does not know."""
    found = VERBS.get(name)
    if found is None:
        raise LookupError(f"{name!r} is not a bb-ops verb")
    return found


# -- job timeouts --------------------------------------------------------------------------------
class _Timeouts(Protocol):
    """The environment's ``timeouts`` (bot.core.config.Timeouts) as read here."""

    @property
    def http_s(self) -> float: ...
    @property
    def migrate_s(self) -> float: ...
    @property
    def smoke_s(self) -> float: ...
    @property
    def hook_s(self) -> float: ...
    @property
    def snapshot_s(self) -> float: ...


class _TimedEnvironment(Protocol):
    """An environment (bot.core.config.Environment), which imports this table for validation."""

    @property
    def timeouts(self) -> _Timeouts: ...


def job_timeout_s(env: _TimedEnvironment | None, verb: str, phase: str) -> float:
    if env is None:
        return JOB_TIMEOUT_MIN_S
    t = env.timeouts
    if phase == "execute":
        # the longest plan: a restore verifies and restores a snapshot (2 × snapshot_s), may
        # upgrade to the target, runs three hooks, polls readiness and smoke-tests
        return 2 * t.snapshot_s + t.migrate_s + 3 * t.hook_s + t.smoke_s + 120
    if verb == "smoke":
        return t.smoke_s + 30
    return max(JOB_TIMEOUT_MIN_S, 12 * t.http_s + 60)
