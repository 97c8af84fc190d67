"""bb-ops error tree.

    BBOpsError                      anything bb-ops raises on purpose
    ├── ConfigError                 config file or environment is invalid or unsafe
    ├── UsageError                  a CLI call is malformed (exit 2)
    ├── TargetError                 the target environment could not be reached or answered badly
    │   ├── TargetUnreachable       connection refused / DNS / TLS
    │   ├── TargetTimeout           no answer within timeouts.http_s
    │   └── TargetBadResponse       answered, but not what the runbook expects (non-JSON, wrong status)
    ├── SubprocessFailed            a target subprocess (alembic, pg_dump, hook) exited non-zero or timed out
    ├── LockHeld                    another run holds the environment lock (a refusal, not a crash)
    ├── LockUnavailable             the lock could not be taken or checked (Redis down): nothing ran
    ├── QueueUnavailable            Redis could not take the job (the run stays in the outbox)
    ├── InvalidTransition           a run state change the transitions table does not allow (a bug)
    ├── PlanRefused                 a plan cannot be made (nothing to do, not ready); carries the result to show
    ├── RestoreFailed               a restore step failed; says whether the original database is intact
    ├── PostFailed                  Slack did not take a message (after the client's retries)
    └── AnalysisError               a migrations folder cannot be analysed (missing, unreadable, ambiguous)

Messages are written for the person in the channel: what happened and what to do next.
Lower-layer errors (httpx, redis, subprocess, SQLAlchemy) are translated once, at the edge
that calls them, and chained with ``from exc``. Every message is redacted before it leaves.
"""

from __future__ import annotations

from bot.core.results import Outcome, StepResult


class BBOpsError(Exception):
    """Base of every error bb-ops raises on purpose."""


class ConfigError(BBOpsError):
    """The config file or the process environment is invalid or unsafe."""


class UsageError(BBOpsError):
    """A command-line call is malformed."""


class TargetError(BBOpsError):
    """The target environment could not be reached or answered badly."""


class TargetUnreachable(TargetError):
    pass


class TargetTimeout(TargetError):
    pass


class TargetBadResponse(TargetError):
    pass


class SubprocessFailed(BBOpsError):
    """A target subprocess exited non-zero or timed out."""

    def __init__(self, message: str, *, returncode: int | None = None, output: str = "") -> None:
        super().__init__(message)
        self.returncode = returncode
        self.output = output


class LockHeld(BBOpsError):
    """Another run holds the environment's lock."""

    def __init__(self, message: str, *, holder_run_id: int | None = None) -> None:
        super().__init__(message)
        self.holder_run_id = holder_run_id


class LockUnavailable(BBOpsError):
    """The environment's lock could not be taken (Redis unavailable); nothing was changed."""


class QueueUnavailable(BBOpsError):
    """Redis could not take the job; the run stays queued in the bot database."""


class InvalidTransition(BBOpsError):
    """A run was asked to move between states that ``bot.core.runs.TRANSITIONS`` does not allow."""


class PlanRefused(BBOpsError):
    """The plan cannot be made (not ready, nothing to do); ``result`` says why and what to type next."""

    def __init__(self, message: str, outcome: Outcome = Outcome.FAILED, lines: list[str] | None = None,
                 next_commands: list[str] | None = None) -> None:
        super().__init__(message)
        self.result = StepResult(outcome, message, lines or [], next_commands or [])


class RestoreFailed(BBOpsError):
    """A restore step failed. ``original_intact``: the live database is the one from before the
    restore, under its own name; ``detail``: the lower-level error, redacted."""

    def __init__(self, message: str, *, original_intact: bool, detail: str = "") -> None:
        super().__init__(message)
        self.original_intact = original_intact
        self.detail = detail


class PostFailed(BBOpsError):
    """Slack did not take a message (after the client's own retries)."""


class AnalysisError(BBOpsError):
    """The versions folder cannot be analysed (missing, unreadable, ambiguous history)."""
