"""Runs in a given state for tests, reached only by moves bb-ops itself makes."""

from __future__ import annotations

from collections import deque

from bot.core.runs import TRANSITIONS, RunStatus


def path(start: RunStatus, to: RunStatus) -> list[RunStatus]:
    """The shortest chain of allowed moves from ``start`` to ``to``: the states after ``start``."""
    came_from: dict[RunStatus, RunStatus | None] = {start: None}
    todo = deque([start])
    while todo:
        here = todo.popleft()
        if here is to:
            chain: list[RunStatus] = []
            while came_from[here] is not None:
                chain.append(here)
                here = came_from[here]
            return chain[::-1]
        for nxt in RunStatus:          # in declaration order: the same path every time
            if nxt in TRANSITIONS[here] and nxt not in came_from:
                came_from[nxt] = here
                todo.append(nxt)
    raise ValueError(f"no run goes from {start.value} to {to.value}")


def move_run(store, run_id: int, to: RunStatus, **last):
    """Move the run to ``to`` along :func:`path` from its current state; ``last`` (event, fields)
    goes with the final move. Returns the run, as ``Store.transition`` does."""
    moved = store.get_run(run_id)
    chain = path(moved.status, to)
    if not chain:
        raise ValueError(f"run {run_id} is {to.value} already")
    for i, status in enumerate(chain):
        kwargs = last if i == len(chain) - 1 else {}
        moved = store.transition(run_id, [moved.status], status, **kwargs)
    return moved
