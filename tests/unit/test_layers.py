"""The rooms keep their one-way doors (docs/ARCHITECTURE.md).

Every import of every module in bot/ and workers/ is read with ``ast`` (imports inside functions
and under ``TYPE_CHECKING`` included) and held against the layering: no cycle between modules,
``bot`` imports ``workers`` only in its entry points, only ``bot/cli`` imports ``bot/devkit``,
each room imports only the rooms below it, and no module grows past 1,000 lines.
"""

from __future__ import annotations

import ast
from functools import lru_cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("bot", "workers")
MAX_LINES = 1000

#: room -> the rooms it may import (besides itself). A room is the second dotted part under bot
#: (bot.core, bot.infra, ...) or the whole of workers; rendering is the part of bot.slack that
#: workers may use.
ALLOWED = {
    "bot.core": set(),
    "bot.redaction": {"bot.core"},
    "bot.analysis": {"bot.core", "bot.redaction"},
    "bot.infra": {"bot.core", "bot.redaction", "bot.analysis"},
    "bot.slack": {"bot.core", "bot.redaction", "bot.analysis", "bot.infra"},
    "bot.serve": {"bot.core", "bot.redaction", "bot.analysis", "bot.infra", "bot.slack"},
    "workers": {"bot.core", "bot.redaction", "bot.analysis", "bot.infra", "bot.slack.render",
                "bot.slack.cards"},
    "bot.devkit": {"bot.core", "bot.redaction", "bot.analysis", "bot.infra", "bot.slack", "bot.serve",
                   "workers"},
    "bot.cli": {"bot.core", "bot.redaction", "bot.analysis", "bot.infra", "bot.slack", "bot.serve",
                "bot.devkit", "workers"},
}
ENTRY_POINTS = ("bot.cli", "bot.devkit")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


@lru_cache(maxsize=1)
def modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if "migrations" in path.relative_to(ROOT).parts:   # Alembic scripts of the bot's own DB
                continue
            found[_module_name(path)] = path
    return found


def _resolve(name: str) -> str | None:
    """The longest known module that ``name`` (a dotted import target) lies in."""
    known = modules()
    while name and name not in known:
        name = name.rpartition(".")[0]
    return name or None


@lru_cache(maxsize=1)
def edges() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for name, path in modules().items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        targets: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                candidates = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")[: len(package.split(".")) - node.level + 1]
                    source = ".".join(base + ([node.module] if node.module else []))
                else:
                    source = node.module or ""
                candidates = [f"{source}.{alias.name}" for alias in node.names] or [source]
            else:
                continue
            for candidate in candidates:
                if candidate.split(".")[0] in PACKAGES:
                    target = _resolve(candidate)
                    if target and target != name:
                        targets.add(target)
        graph[name] = targets
    return graph


def room(module: str) -> str:
    parts = module.split(".")
    if parts[0] == "workers":
        return "workers"
    return ".".join(parts[:2]) if len(parts) > 1 else "bot"


def _allowed(source: str, target: str) -> bool:
    src, dst = room(source), room(target)
    if src == dst:
        return True
    permitted = ALLOWED.get(src, set())
    return any(target == p or target.startswith(p + ".") or dst == p for p in permitted)


def test_the_graph_is_read():
    graph = edges()
    assert "workers.lifecycle" in graph and "bot.core.grammar" in graph
    assert any(t.startswith("bot.core") for t in graph["workers.lifecycle"]), "imports were not resolved"


def test_no_import_cycle():
    graph = edges()
    state: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                cycles.append(stack[stack.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)
    assert not cycles, "import cycles:\n" + "\n".join(" -> ".join(c) for c in cycles)


def test_bot_imports_workers_only_in_entry_points():
    bad = [f"{src} -> {dst}" for src, targets in edges().items() for dst in targets
           if src.startswith("bot") and dst.startswith("workers") and room(src) not in ENTRY_POINTS]
    assert not bad, "bot must not import workers outside bot/cli and bot/devkit:\n" + "\n".join(sorted(bad))


def test_only_the_cli_imports_the_devkit():
    bad = [f"{src} -> {dst}" for src, targets in edges().items() for dst in targets
           if room(dst) == "bot.devkit" and room(src) not in ("bot.devkit", "bot.cli")]
    assert not bad, "only bot/cli may import bot/devkit:\n" + "\n".join(sorted(bad))


def test_each_room_imports_only_the_rooms_below_it():
    bad = [f"{src} -> {dst}" for src, targets in edges().items() for dst in targets if not _allowed(src, dst)]
    assert not bad, "imports against the layering (see docs/ARCHITECTURE.md):\n" + "\n".join(sorted(bad))


@pytest.mark.parametrize("name", sorted(modules()))
def test_no_module_over_a_thousand_lines(name):
    lines = modules()[name].read_text().count("\n")
    assert lines <= MAX_LINES, f"{modules()[name].relative_to(ROOT)} has {lines} lines; split it along its seams"


def test_the_checker_catches_a_cycle_and_a_forbidden_edge(monkeypatch):
    """The checks above are only worth something if they can fail."""
    fake = {"bot.core.a": {"bot.core.b"}, "bot.core.b": {"bot.core.a"}, "bot.infra.x": {"workers.jobs"},
            "workers.jobs": set()}
    assert not _allowed("bot.infra.x", "workers.jobs")
    assert not _allowed("bot.core.grammar", "bot.infra.store")
    assert _allowed("workers.jobs", "bot.slack.render") and not _allowed("workers.jobs", "bot.slack.approvals")
    monkeypatch.setattr(__import__(__name__, fromlist=["edges"]), "edges", lambda: fake)
    with pytest.raises(AssertionError, match="cycles"):
        test_no_import_cycle()
    with pytest.raises(AssertionError, match="outside bot/cli"):
        test_bot_imports_workers_only_in_entry_points()
