"""Reading a revision script's expressions without running them: what its module level holds
(imports, constants, helper functions), scopes, and the values of names, strings and literals.
"""

from __future__ import annotations

import ast

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only: importing typing costs start-up time
    from typing import Any


UNKNOWN = object()


class ScriptModule:
    """What the module level of a script tells us: imports, constants, helper defs."""

    def __init__(self, tree: ast.Module) -> None:
        self.aliases: dict[str, str] = {}
        self.vars: dict[str, ast.expr] = {}
        self.functions: dict[str, ast.FunctionDef | ast.AsyncFunctionDef] = {}
        for stmt in tree.body:
            if isinstance(stmt, (ast.Import, ast.ImportFrom)):
                record_import(stmt, self.aliases)
            elif isinstance(stmt, ast.Assign) and len(stmt.targets) == 1:
                target = stmt.targets[0]
                if isinstance(target, ast.Name):
                    self.vars[target.id] = stmt.value
            elif isinstance(stmt, ast.AnnAssign) and stmt.value is not None:
                if isinstance(stmt.target, ast.Name):
                    self.vars[stmt.target.id] = stmt.value
            elif isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
                self.functions[stmt.name] = stmt


def record_import(stmt: ast.Import | ast.ImportFrom, aliases: dict[str, str]) -> None:
    if isinstance(stmt, ast.Import):
        for alias in stmt.names:
            if alias.asname:
                aliases[alias.asname] = alias.name
            else:
                top = alias.name.split(".")[0]
                aliases[top] = top
    else:
        if stmt.level:  # relative import: local code
            for alias in stmt.names:
                aliases[alias.asname or alias.name] = "." + (stmt.module or "") + "." + alias.name
            return
        for alias in stmt.names:
            if alias.name == "*":
                continue
            aliases[alias.asname or alias.name] = f"{stmt.module}.{alias.name}"


class Scope:
    def __init__(self, module: ScriptModule, parent: "Scope | None" = None) -> None:
        self.module = module
        self.parent = parent
        self.vars: dict[str, ast.expr] = {}
        self.aliases: dict[str, str] = {}
        self.batch_aliases: dict[str, tuple[str, ast.AST]] = {}  # name -> (table key, node)

    def child(self) -> "Scope":
        return Scope(self.module, self)

    def alias(self, name: str) -> str | None:
        scope: Scope | None = self
        while scope is not None:
            if name in scope.aliases:
                return scope.aliases[name]
            scope = scope.parent
        return self.module.aliases.get(name)

    def local_lookup(self, name: str) -> ast.expr | None:
        scope: Scope | None = self
        while scope is not None:
            if name in scope.vars:
                return scope.vars[name]
            scope = scope.parent
        return None

    def lookup(self, name: str) -> ast.expr | None:
        local = self.local_lookup(name)
        if local is not None:
            return local
        if self.alias(name) is not None:
            return None
        return self.module.vars.get(name)

    def batch(self, name: str) -> tuple[str, ast.AST] | None:
        scope: Scope | None = self
        while scope is not None:
            if name in scope.batch_aliases:
                return scope.batch_aliases[name]
            scope = scope.parent
        return None


def qualname(expr: ast.AST, scope: Scope, depth: int = 0) -> str | None:
    """Dotted name of an expression with import aliases expanded (``sa.String`` ->
    ``sqlalchemy.String``). Function-local bindings shadow imports."""
    if depth > 10:
        return None
    if isinstance(expr, ast.Name):
        local = scope.local_lookup(expr.id)
        if local is not None:
            if isinstance(local, (ast.Name, ast.Attribute)):
                return qualname(local, scope, depth + 1)
            return expr.id
        alias = scope.alias(expr.id)
        if alias is not None:
            return alias
        bound = scope.module.vars.get(expr.id)
        if isinstance(bound, (ast.Name, ast.Attribute)):
            return qualname(bound, scope, depth + 1)
        return expr.id
    if isinstance(expr, ast.Attribute):
        base = qualname(expr.value, scope, depth + 1)
        if base is None:
            return None
        return f"{base}.{expr.attr}"
    return None


def resolve(expr: ast.AST | None, scope: Scope) -> ast.AST | None:
    """Follow simple variable bindings (``t = sa.table(...)``; ``NAME = "users"``)."""
    seen = 0
    while isinstance(expr, ast.Name) and seen < 10:
        bound = scope.lookup(expr.id)
        if bound is None:
            break
        expr = bound
        seen += 1
    return expr


def str_value(expr: ast.AST | None, scope: Scope) -> str | None:
    expr = resolve(expr, scope)
    if expr is None:
        return None
    if isinstance(expr, ast.Constant) and isinstance(expr.value, str):
        return expr.value
    if isinstance(expr, ast.Call) and len(expr.args) == 1 and not expr.keywords:
        name = qualname(expr.func, scope) or ""
        last = name.rsplit(".", 1)[-1]
        if last in {"f", "conv", "quoted_name"}:
            return str_value(expr.args[0], scope)
    if isinstance(expr, ast.JoinedStr):
        parts = []
        for value in expr.values:
            if isinstance(value, ast.Constant) and isinstance(value.value, str):
                parts.append(value.value)
            elif isinstance(value, ast.FormattedValue) and value.format_spec is None and value.conversion == -1:
                inner = str_value(value.value, scope)
                if inner is None:
                    return None
                parts.append(inner)
            else:
                return None
        return "".join(parts)
    if isinstance(expr, ast.BinOp) and isinstance(expr.op, ast.Add):
        left, right = str_value(expr.left, scope), str_value(expr.right, scope)
        if left is not None and right is not None:
            return left + right
    return None


def name_key(expr: ast.AST | None, scope: Scope) -> str | None:
    """Identity of a table/column/index name: its string value, else its source text."""
    if expr is None:
        return None
    text = str_value(expr, scope)
    if text is not None:
        return text
    resolved = resolve(expr, scope)
    if isinstance(resolved, ast.Constant) and resolved.value is None:
        return None
    return "<" + unparse(expr) + ">"


def literal(expr: ast.AST | None, scope: Scope, depth: int = 0) -> Any:
    if expr is None or depth > 10:
        return UNKNOWN
    expr = resolve(expr, scope)
    if isinstance(expr, ast.Constant):
        return expr.value
    if isinstance(expr, (ast.Tuple, ast.List, ast.Set)):
        values = [literal(e, scope, depth + 1) for e in expr.elts]
        if any(v is UNKNOWN for v in values):
            return UNKNOWN
        return tuple(values) if isinstance(expr, ast.Tuple) else list(values)
    if isinstance(expr, ast.UnaryOp) and isinstance(expr.op, ast.USub):
        value = literal(expr.operand, scope, depth + 1)
        if isinstance(value, (int, float)):
            return -value
        return UNKNOWN
    text = str_value(expr, scope)
    if text is not None:
        return text
    return UNKNOWN


def unparse(node: ast.AST, limit: int = 80) -> str:
    try:
        text = ast.unparse(node)
    except Exception:  # pragma: no cover - ast.unparse handles every parsed node
        text = type(node).__name__
    text = " ".join(text.split())
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return text


def last_part(name: str | None) -> str:
    return (name or "").rsplit(".", 1)[-1]


def is_sqlalchemy(qual: str | None) -> bool:
    if not qual:
        return False
    return qual.split(".")[0] in {"sqlalchemy", "sa"} or "." not in qual

