"""Migration diagnostics (RUNBOOK §6): the target's current revision vs its heads.

States: aligned, behind (with the pending revisions, each with its reversibility verdict),
ahead_or_unknown, multiple_heads, error. `current`/`heads` run in the target's own Python; the
pending list and verdicts come from reading the scripts with ``ast`` (never importing them).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import Enum

from bot.core.errors import BBOpsError
from bot.redaction import redact


class MigrationState(str, Enum):
    ALIGNED = "aligned"
    BEHIND = "behind"
    AHEAD_OR_UNKNOWN = "ahead_or_unknown"
    MULTIPLE_HEADS = "multiple_heads"
    ERROR = "error"


@dataclass
class Pending:
    revision: str
    verdict: str
    reasons: list[str]


@dataclass
class Diagnosis:
    state: MigrationState
    current: list[str] = field(default_factory=list)
    heads: list[str] = field(default_factory=list)
    pending: list[Pending] = field(default_factory=list)
    error: str = ""

    @property
    def ready(self) -> bool:
        return self.state is MigrationState.ALIGNED

    def summary(self) -> str:
        cur = ", ".join(self.current) or "none (empty database)"
        head = ", ".join(self.heads) or "?"
        if self.state is MigrationState.ALIGNED:
            return f"aligned: current {cur} is the head"
        if self.state is MigrationState.BEHIND:
            return f"behind: current {cur}, head {head}, {len(self.pending)} pending"
        if self.state is MigrationState.MULTIPLE_HEADS:
            return f"multiple heads: {head} (merge them before migrating); current {cur}"
        if self.state is MigrationState.AHEAD_OR_UNKNOWN:
            return f"ahead or unknown: current {cur} is not in the migration scripts (head {head})"
        return f"error: {self.error}"

    def lines(self) -> list[str]:
        out = [f"current: {', '.join(self.current) or 'none'}", f"heads: {', '.join(self.heads) or '?'}"]
        for p in self.pending:
            why = f" — {'; '.join(p.reasons)}" if p.reasons else ""
            out.append(f"pending {p.revision}: {p.verdict}{why}")
        if self.error:
            out.append(self.error)
        return out


def load_graph(versions_dir) -> dict:
    """revision -> RevisionAnalysis for every script in the versions folder."""
    from bot.analysis import analyze_dir

    return {a.revision: a for a in analyze_dir(versions_dir)}


def _parents(analysis) -> tuple[str, ...]:
    down = analysis.down_revision
    if down is None:
        return ()
    return tuple(down) if isinstance(down, (list, tuple)) else (down,)


def ancestors(graph: dict, rev: str) -> list[str]:
    """``rev`` and everything below it, nearest first (breadth-first)."""
    seen, order, frontier = set(), [], [rev]
    while frontier:
        nxt = []
        for r in frontier:
            if r in seen or r not in graph:
                continue
            seen.add(r)
            order.append(r)
            nxt.extend(_parents(graph[r]))
        frontier = nxt
    return order


def pending_between(graph: dict, current: list[str], head: str) -> list[str]:
    """Revisions an upgrade from ``current`` to ``head`` applies, in the order they run."""
    applied = set()
    for c in current:
        applied.update(ancestors(graph, c))
    return [r for r in reversed(ancestors(graph, head)) if r not in applied]


UNKNOWN_REVISION = re.compile(r"Can't locate revision identified by '([0-9A-Za-z_]{1,64})'")


def diagnose(alembic) -> Diagnosis:
    try:
        heads = alembic.heads()
    except BBOpsError as exc:
        return Diagnosis(MigrationState.ERROR, error=redact(str(exc)))
    try:
        current = alembic.current()
    except BBOpsError as exc:
        # `alembic current` refuses a database stamped with a revision its scripts do not know
        unknown = UNKNOWN_REVISION.search(getattr(exc, "output", "") or "")
        if unknown:
            return Diagnosis(MigrationState.AHEAD_OR_UNKNOWN, [unknown.group(1)], heads)
        return Diagnosis(MigrationState.ERROR, heads=heads, error=redact(str(exc)))
    try:
        graph = load_graph(alembic.versions_dir())
    except Exception as exc:  # the scripts could not be read: still report current/heads
        return Diagnosis(MigrationState.ERROR, current, heads, error=redact(f"cannot read migration scripts: {exc}"))
    if len(heads) > 1:
        return Diagnosis(MigrationState.MULTIPLE_HEADS, current, heads)
    if not heads:
        return Diagnosis(MigrationState.ERROR, current, heads, error="alembic heads printed no head revision")
    head = heads[0]
    if any(c not in graph for c in current):
        return Diagnosis(MigrationState.AHEAD_OR_UNKNOWN, current, heads)
    if current == [head]:
        return Diagnosis(MigrationState.ALIGNED, current, heads)
    pending = [Pending(r, graph[r].verdict.value, list(graph[r].reasons)) for r in pending_between(graph, current, head)]
    if not pending:  # current is not below head: a branch tip that is not the head
        return Diagnosis(MigrationState.AHEAD_OR_UNKNOWN, current, heads)
    return Diagnosis(MigrationState.BEHIND, current, heads, pending)
