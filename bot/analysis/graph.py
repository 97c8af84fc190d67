"""The revision graph: base-first order, and the revisions an ``alembic downgrade`` steps back over."""

from __future__ import annotations

from bot.analysis.model import RevisionAnalysis, as_tuple
from bot.core.errors import AnalysisError

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only: importing them costs start-up time
    from collections.abc import Iterable, Sequence


def _index(analyses: Iterable[RevisionAnalysis]) -> tuple[dict[str, RevisionAnalysis], dict[str, str]]:
    by_rev: dict[str, RevisionAnalysis] = {}
    for a in analyses:
        if a.revision in by_rev:
            raise AnalysisError(
                f"revision {a.revision} is defined twice: {by_rev[a.revision].path or '?'} and {a.path or '?'}"
            )
        by_rev[a.revision] = a
    labels: dict[str, str] = {}
    for a in by_rev.values():
        for label in as_tuple(a.branch_labels):
            labels.setdefault(label, a.revision)
    return by_rev, labels


def _parents(a: RevisionAnalysis, by_rev: dict[str, RevisionAnalysis], labels: dict[str, str],
             with_dependencies: bool = True) -> list[str]:
    """Known parents: down revisions plus depends_on (revision ids or branch labels).
    Parents outside this folder (another version location) are ignored."""
    out = [r for r in a.down_revisions if r in by_rev]
    if with_dependencies:
        for dep in a.dependencies:
            rev = dep if dep in by_rev else labels.get(dep)
            if rev is not None and rev not in out and rev != a.revision:
                out.append(rev)
    return out


def topological_order(analyses: Iterable[RevisionAnalysis]) -> list[RevisionAnalysis]:
    """Base first; a revision comes after its down revisions and its depends_on. Chains
    stay together: the next revision is a child of the most recently emitted one when
    possible, ties broken by file order."""
    items = list(analyses)
    by_rev, labels = _index(items)
    order = {a.revision: i for i, a in enumerate(items)}
    parents = {a.revision: _parents(a, by_rev, labels) for a in items}
    pending = {rev: len(ps) for rev, ps in parents.items()}
    children: dict[str, list[str]] = {rev: [] for rev in by_rev}
    for rev, ps in parents.items():
        for p in ps:
            children[p].append(rev)
    emitted_at: dict[str, int] = {}
    ready = [rev for rev, n in pending.items() if n == 0]
    out: list[RevisionAnalysis] = []
    while ready:
        ready.sort(key=lambda r: (-max((emitted_at[p] for p in parents[r]), default=-1), order[r]))
        rev = ready.pop(0)
        emitted_at[rev] = len(out)
        out.append(by_rev[rev])
        for child in children[rev]:
            pending[child] -= 1
            if pending[child] == 0:
                ready.append(child)
    if len(out) != len(items):
        stuck = sorted(rev for rev, n in pending.items() if n > 0)
        raise AnalysisError("the revision graph has a cycle through: " + ", ".join(stuck))
    return out


def _resolve_rev(ref: str, by_rev: dict[str, RevisionAnalysis], labels: dict[str, str], what: str) -> str:
    if ref in by_rev:
        return ref
    if ref in labels:
        return labels[ref]
    matches = [r for r in by_rev if len(r) > 3 and r.startswith(ref)]  # Alembic's partial ids
    if len(matches) == 1:
        return matches[0]
    if len(matches) > 1:
        raise AnalysisError(f"{what} revision {ref!r} is ambiguous: {', '.join(sorted(matches))}")
    raise AnalysisError(f"{what} revision {ref!r} is not in the migrations directory")


def steps_between(analyses: Sequence[RevisionAnalysis], current: str, target: str | None) -> list[RevisionAnalysis]:
    """The revisions ``alembic downgrade <target>`` undoes when the database is at
    ``current``: current first, in the order Alembic steps back. ``target=None`` (or
    ``"base"``) means base. Same selection as Alembic: every ancestor of ``current``
    (down revisions and depends_on) that descends from a child of ``target``.

    Raises AnalysisError when a revision is unknown or ``target`` is not an ancestor of
    ``current``.
    """
    items = topological_order(analyses)
    by_rev, labels = _index(items)
    if current in (None, "base"):
        if target in (None, "base"):
            return []
        raise AnalysisError(f"target revision {target!r} is not an ancestor of base")
    cur = _resolve_rev(current, by_rev, labels, "current")
    parents = {a.revision: _parents(a, by_rev, labels) for a in items}

    def ancestors(start: str) -> set[str]:
        seen = {start}
        stack = [start]
        while stack:
            for p in parents[stack.pop()]:
                if p not in seen:
                    seen.add(p)
                    stack.append(p)
        return seen

    active = ancestors(cur)
    if target in (None, "base"):
        selected = active
    else:
        tgt = _resolve_rev(target, by_rev, labels, "target")
        if tgt == cur:
            return []
        if tgt not in active:
            raise AnalysisError(f"target revision {tgt} is not an ancestor of current revision {cur}")
        down_children: dict[str, list[str]] = {r: [] for r in by_rev}
        all_children: dict[str, list[str]] = {r: [] for r in by_rev}
        for a in items:
            for p in _parents(a, by_rev, labels, with_dependencies=False):
                down_children[p].append(a.revision)
            for p in parents[a.revision]:
                all_children[p].append(a.revision)
        descendants: set[str] = set()
        stack = list(down_children[tgt])
        while stack:
            rev = stack.pop()
            if rev in descendants:
                continue
            descendants.add(rev)
            stack.extend(all_children[rev])
        selected = descendants & active
        if not selected:  # reachable only through depends_on: Alembic says "Nothing to drop"
            raise AnalysisError(f"target revision {tgt} is not an ancestor of current revision {cur} "
                                "through its down revisions: nothing to downgrade")
    return [a for a in reversed(items) if a.revision in selected]

