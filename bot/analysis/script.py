"""One revision script, read with :mod:`ast` (never imported or run): its identifiers and its verdict."""

from __future__ import annotations

import ast
import os
import re

from bot.analysis.expressions import UNKNOWN, Scope, ScriptModule, literal
from bot.analysis.judge import Judge
from bot.analysis.model import RevisionAnalysis, Verdict
from bot.analysis.scanner import Scanner

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only: importing typing costs start-up time
    from typing import Any


_HEADER_RE = {
    name: re.compile(rf"^{name}\s*(?::[^=\n]*)?=\s*(.+?)\s*$", re.M)
    for name in ("revision", "down_revision", "branch_labels", "depends_on")
}
_DOC_REV_RE = re.compile(r"^\s*Revision ID:\s*(\S+)", re.M)
_DOC_REVISES_RE = re.compile(r"^\s*Revises:\s*(.*)$", re.M)


def _header_from_text(text: str) -> dict[str, Any]:
    """Identifiers of a script that does not parse, read with regular expressions."""
    out: dict[str, Any] = {}
    for name, rx in _HEADER_RE.items():
        m = rx.search(text)
        if m:
            try:
                out[name] = ast.literal_eval(m.group(1))
            except Exception:
                pass
    if "revision" not in out or not isinstance(out["revision"], str):
        m = _DOC_REV_RE.search(text)
        if m:
            out["revision"] = m.group(1).strip(",")
    if "down_revision" not in out:
        m = _DOC_REVISES_RE.search(text)
        if m:
            parts = tuple(p.strip() for p in m.group(1).split(",") if p.strip())
            out["down_revision"] = None if not parts else parts[0] if len(parts) == 1 else parts
    return out


def _norm_ref(value: Any) -> str | tuple[str, ...] | None | object:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
        return tuple(value)
    return UNKNOWN


def _fallback_revision(filename: str) -> str:
    base = os.path.basename(filename)
    return base[:-3] if base.endswith(".py") else base


def analyze_source(source: str | bytes, filename: str = "<script>") -> RevisionAnalysis:
    """Analyse the text of one Alembic revision script (never imported or run)."""
    try:
        tree = ast.parse(source, filename=filename)
    except (SyntaxError, ValueError) as exc:
        text = source.decode("utf-8", "replace") if isinstance(source, bytes) else source
        header = _header_from_text(text)
        revision = header.get("revision") if isinstance(header.get("revision"), str) else _fallback_revision(filename)
        down = _norm_ref(header.get("down_revision"))
        where = f" (line {exc.lineno})" if getattr(exc, "lineno", None) else ""
        msg = getattr(exc, "msg", None) or str(exc)
        return RevisionAnalysis(
            revision=revision,
            down_revision=None if down is UNKNOWN else down,  # type: ignore[arg-type]
            verdict=Verdict.OPAQUE,
            reasons=[f"cannot parse {os.path.basename(filename)}: {type(exc).__name__}: {msg}{where}"],
            path=filename,
            depends_on=_clean_ref(header.get("depends_on")),
            branch_labels=_clean_ref(header.get("branch_labels")),
        )
    module = ScriptModule(tree)
    findings: list[tuple[int, int, str]] = []
    scope = Scope(module)

    def header(name: str) -> Any:
        if name not in module.vars:
            return None
        value = literal(module.vars[name], scope)
        norm = _norm_ref(value)
        if norm is UNKNOWN:
            findings.append((Verdict.OPAQUE.severity, 0, f"{name} is not a literal: cannot read it statically"))
            return None
        return norm

    revision = header("revision")
    if not isinstance(revision, str):
        text = source.decode("utf-8", "replace") if isinstance(source, bytes) else source
        m = _DOC_REV_RE.search(text)
        revision = m.group(1) if m else _fallback_revision(filename)
        if "revision" not in module.vars:
            findings.append((Verdict.OPAQUE.severity, 0,
                             "no `revision = ...` assignment: Alembic cannot load this file"))
    down_revision = header("down_revision")
    depends_on = header("depends_on")
    branch_labels = header("branch_labels")
    message = ast.get_docstring(tree)
    message = message.strip().splitlines()[0] if message and message.strip() else None

    up = Scanner(module, "upgrade").run(_find_function(tree, "upgrade"))
    down = Scanner(module, "downgrade").run(_find_function(tree, "downgrade"))
    findings.extend(Judge(up, down).run())
    verdict, reasons = _summarise(findings, down_revision)
    return RevisionAnalysis(
        revision=revision,
        down_revision=down_revision,
        verdict=verdict,
        reasons=reasons,
        path=filename,
        depends_on=depends_on,
        branch_labels=branch_labels,
        message=message,
    )


def _clean_ref(value: Any) -> str | tuple[str, ...] | None:
    norm = _norm_ref(value)
    return None if norm is UNKNOWN else norm  # type: ignore[return-value]


def _find_function(tree: ast.Module, name: str) -> ast.FunctionDef | ast.AsyncFunctionDef | None:
    found = None
    for stmt in tree.body:
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)) and stmt.name == name:
            found = stmt  # the last definition wins, as at import time
    return found


def _summarise(findings: list[tuple[int, int, str]], down_revision: Any) -> tuple[Verdict, list[str]]:
    by_severity = {v.severity: v for v in Verdict}
    worst = max((f[0] for f in findings), default=0)
    if not findings:
        merge = isinstance(down_revision, tuple) and len(down_revision) > 1
        return Verdict.REVERSIBLE, ["merge point with no schema changes: nothing to undo" if merge
                                    else "no schema or data changes: nothing to undo"]
    ordered = sorted(findings, key=lambda f: (-f[0], f[1]))
    reasons = list(dict.fromkeys(f[2] for f in ordered))
    if worst == 0 and isinstance(down_revision, tuple) and len(down_revision) > 1:
        reasons = [r.replace("no schema or data changes", "merge point with no schema changes") for r in reasons]
    return by_severity[worst], reasons


def analyze_file(path: str | os.PathLike[str]) -> RevisionAnalysis:
    path = os.fspath(path)
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except OSError as exc:
        return RevisionAnalysis(
            revision=_fallback_revision(path),
            down_revision=None,
            verdict=Verdict.OPAQUE,
            reasons=[f"cannot read {os.path.basename(path)}: {exc.strerror or exc}"],
            path=path,
        )
    return analyze_source(data, filename=path)

