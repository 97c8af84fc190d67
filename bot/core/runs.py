"""Run states: what a run can be, and which moves between them are allowed.

Every status change goes through ``Store.transition``, which refuses a move ``TRANSITIONS`` does
not list (``InvalidTransition``); each entry says who makes that move.
"""

from __future__ import annotations

import enum
from typing import Iterable

from bot.core.errors import InvalidTransition


class RunStatus(str, enum.Enum):
    QUEUED = "queued"                      # recorded; waiting for a worker
    PLANNING = "planning"                  # a worker is computing the plan of a mutating run
    AWAITING_APPROVAL = "awaiting_approval"
    APPROVED = "approved"                  # approved, queued for execution
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


#: every allowed move: a state -> the states a run in it may go to next (none out of a final state)
TRANSITIONS: dict[RunStatus, frozenset[RunStatus]] = {
    RunStatus.QUEUED: frozenset({
        RunStatus.PLANNING,            # worker: a mutating run's plan starts
        RunStatus.RUNNING,             # worker: a read-only run starts
        RunStatus.CANCELLED,           # the requester or an approver cancels
        RunStatus.FAILED,              # janitor: its job keeps ending without starting the run
    }),
    RunStatus.PLANNING: frozenset({
        RunStatus.AWAITING_APPROVAL,   # approvals: the plan needs approval
        RunStatus.APPROVED,            # worker: no approval needed for this verb here
        RunStatus.SUCCEEDED,           # worker: nothing to do (already at head)
        RunStatus.FAILED,              # worker: cannot plan; janitor: its job failed
        RunStatus.CANCELLED,           # cancelled while planning
        RunStatus.QUEUED,              # janitor: the planning worker died; nothing changed, retry
        RunStatus.ABANDONED,           # janitor: the planning worker died too often
    }),
    RunStatus.AWAITING_APPROVAL: frozenset({
        RunStatus.APPROVED,            # an approver approves
        RunStatus.REJECTED,            # an approver rejects
        RunStatus.EXPIRED,             # nobody decided within expires_after_minutes
        RunStatus.CANCELLED,           # the requester or an approver cancels
    }),
    RunStatus.APPROVED: frozenset({
        RunStatus.RUNNING,             # worker: execution starts
        RunStatus.CANCELLED,           # cancelled before execution started
        RunStatus.FAILED,              # janitor: its job keeps ending without starting the run
    }),
    RunStatus.RUNNING: frozenset({
        RunStatus.SUCCEEDED,           # worker: done
        RunStatus.FAILED,              # worker: failed or refused; janitor: its job failed
        RunStatus.AWAITING_APPROVAL,   # worker: the plan changed since it was approved: approve again
        RunStatus.QUEUED,              # janitor: a read-only run's worker died; retry
        RunStatus.ABANDONED,           # janitor: its worker died (a mutating run: maybe half-changed)
    }),
    RunStatus.SUCCEEDED: frozenset(),
    RunStatus.FAILED: frozenset(),
    RunStatus.REJECTED: frozenset(),
    RunStatus.CANCELLED: frozenset(),
    RunStatus.EXPIRED: frozenset(),
    RunStatus.ABANDONED: frozenset(),
}

FINAL = frozenset(status for status, moves in TRANSITIONS.items() if not moves)
SETTLED = FINAL | {RunStatus.AWAITING_APPROVAL}
ACTIVE = frozenset(set(RunStatus) - FINAL)


def check_moves(from_states: Iterable[RunStatus], to: RunStatus) -> None:
    """Raise InvalidTransition unless every move from one of ``from_states`` to ``to`` is allowed."""
    bad = [st.value for st in from_states if to not in TRANSITIONS[st]]
    if bad:
        raise InvalidTransition(f"a run never moves from {', '.join(bad)} to {to.value} "
                                "(bot.core.runs.TRANSITIONS)")
