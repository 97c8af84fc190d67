"""Run states: what a run can be, and which moves between them are allowed."""

from __future__ import annotations

import enum


class RunStatus(str, enum.Enum):
    QUEUED = "queued"                      # recorded; waiting for a worker
    PLANNING = "planning"                  # a worker is computing the plan of a mutating run
    AWAITING_APPROVAL = "awaiting_approval"
    APPROVED = "approved"                  # approved, queued for execution
    WAITING_LOCK = "waiting_lock"          # approved, environment locked by another run
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    REJECTED = "rejected"
    CANCELLED = "cancelled"
    EXPIRED = "expired"
    ABANDONED = "abandoned"                # its worker died; the environment may be half-changed

    @property
    def settled(self) -> bool:
        """Nothing more happens to this run without a person acting."""
        return self in SETTLED

    @property
    def final(self) -> bool:
        return self in FINAL


FINAL = frozenset({RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.REJECTED, RunStatus.CANCELLED,
                   RunStatus.EXPIRED, RunStatus.ABANDONED})
SETTLED = FINAL | {RunStatus.AWAITING_APPROVAL}
ACTIVE = frozenset(set(RunStatus) - FINAL)
