"""What a runbook step reports back: an outcome, a headline, detail lines, what to type next.

A step returns a ``StepResult``; ``Outcome`` keeps an expected failure (the runbook says stop) apart
from a refusal (policy, lock, approval) and from an error (bb-ops or the target misbehaved).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum


class Outcome(str, Enum):
    OK = "ok"            # the runbook step passed
    FAILED = "failed"    # the step ran and the runbook says stop (not ready, smoke failed, ...)
    REFUSED = "refused"  # policy, lock or approval said no
    ERROR = "error"      # bb-ops or the target misbehaved (unreachable, timeout, garbage)


@dataclass
class StepResult:
    """What a runbook step reports back: one headline, detail lines, what to type next."""

    outcome: Outcome
    headline: str
    lines: list[str] = field(default_factory=list)
    next_commands: list[str] = field(default_factory=list)
    data: dict = field(default_factory=dict)
    attachment: tuple[str, str] | None = None     # (filename, full output) for the thread

    @property
    def ok(self) -> bool:
        return self.outcome is Outcome.OK
