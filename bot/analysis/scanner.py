"""Scanning ``upgrade()`` / ``downgrade()``: every op call in order, with its arguments read
statically, and every statement that cannot be judged (raw SQL, connections, conditionals,
loops over data, unknown calls). Loops over literal lists are unrolled and module-level
helper functions are followed.
"""

from __future__ import annotations

import ast
import re
import sys

from bot.analysis.columns import column_info
from bot.analysis.expressions import (
    Scope,
    ScriptModule,
    last_part,
    literal,
    name_key,
    qualname,
    record_import,
    resolve,
    str_value,
    unparse,
)
from bot.analysis.ops import (
    BATCH_OP_SIGNATURES,
    CONSTRAINT_CREATORS,
    OP_SIGNATURES,
    RAW_OPS,
    Op,
    Scan,
)

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only: importing typing costs start-up time
    from collections.abc import Sequence
    from typing import Any


_HARMLESS_CALLS = {"print"}
_HARMLESS_METHODS = {"debug", "info", "warning", "warn", "error", "critical", "exception"}

_MAX_INLINE_DEPTH = 4
UNKNOWN = object()


class Scanner:
    def __init__(self, module: ScriptModule, fn: str) -> None:
        self.module = module
        self.scan = Scan(fn)
        self.inline_depth = 0
        self.inlining: list[str] = []

    # -- helpers ------------------------------------------------------------------

    def opaque(self, node: ast.AST, text: str) -> None:
        self.scan.opaque.append((getattr(node, "lineno", 0), f"{self.scan.fn}() {text}"))

    def op_target(self, func: ast.AST, scope: Scope) -> tuple[str, str | None] | None:
        """('op', None) for alembic.op.X, ('batch', table) for batch_op.X."""
        if not isinstance(func, ast.Attribute):
            return None
        base = func.value
        if isinstance(base, ast.Name):
            batch = scope.batch(base.id)
            if batch is not None:
                return ("batch", batch[0])
        qual = qualname(base, scope)
        if qual in {"alembic.op", "op"}:
            return ("op", None)
        return None

    def describe_raw(self, node: ast.AST, scope: Scope) -> str:
        """Why a statement is opaque, naming the raw SQL it runs if visible."""
        for sub in ast.walk(node):
            if isinstance(sub, ast.Call) and isinstance(sub.func, ast.Attribute):
                attr = sub.func.attr
                if attr == "execute":
                    sql = _sql_snippet(sub.args[0] if sub.args else None, scope)
                    base = qualname(sub.func.value, scope) or unparse(sub.func.value, 30)
                    return f"runs raw SQL ({base}.execute{sql})"
                if attr in ("get_bind", "connect", "begin") or attr == "connection":
                    return f"uses the database connection ({unparse(sub.func, 40)}())"
            if isinstance(sub, ast.Call) and last_part(qualname(sub.func, scope)) == "text":
                return f"runs raw SQL ({unparse(sub, 70)})"
            if isinstance(sub, ast.Attribute) and sub.attr in {"connection", "bind"}:
                return f"uses the database connection ({unparse(sub, 40)})"
        return f"runs code that cannot be judged statically: {unparse(node, 70)}"

    # -- statements ---------------------------------------------------------------

    def run(self, fdef: ast.FunctionDef | ast.AsyncFunctionDef | None) -> Scan:
        if fdef is None:
            self.scan.missing = True
            return self.scan
        if isinstance(fdef, ast.AsyncFunctionDef):
            self.opaque(fdef, "is a coroutine; Alembic does not await it")
            return self.scan
        scope = Scope(self.module)
        params = [a.arg for a in fdef.args.args + fdef.args.kwonlyargs]
        if params and not all(
            _has_default(fdef, a) for a in params
        ):  # multidb template: upgrade(engine_name)
            self.opaque(fdef, f"takes parameters ({', '.join(params)}): dispatches dynamically")
        self.block(fdef.body, scope)
        return self.scan

    def block(self, body: Sequence[ast.stmt], scope: Scope) -> bool:
        """Scan statements; False when control flow stopped (return / raise)."""
        for index, stmt in enumerate(body):
            if index == 0 and _is_docstring(stmt):
                continue
            if not self.stmt(stmt, scope):
                return False
        return True

    def stmt(self, stmt: ast.stmt, scope: Scope) -> bool:
        if isinstance(stmt, ast.Pass):
            return True
        if isinstance(stmt, ast.Expr):
            if isinstance(stmt.value, ast.Constant):
                return True  # stray string / Ellipsis
            if isinstance(stmt.value, ast.Call):
                self.call_stmt(stmt.value, scope)
                return True
            if isinstance(stmt.value, (ast.Await,)):
                self.opaque(stmt, "awaits code that cannot be judged")
                return True
            self.opaque(stmt, self.describe_raw(stmt, scope))
            return True
        if isinstance(stmt, ast.Return):
            if isinstance(stmt.value, ast.Call):
                self.call_stmt(stmt.value, scope)  # return op.drop_table(...)
            elif stmt.value is not None and _has_side_effect(stmt.value, scope):
                self.opaque(stmt, self.describe_raw(stmt.value, scope))
            return False
        if isinstance(stmt, ast.Raise):
            text = unparse(stmt.exc, 100) if stmt.exc is not None else "an exception"
            self.scan.raises = self.scan.raises or f"raises {text} (line {stmt.lineno})"
            return False
        if isinstance(stmt, (ast.Import, ast.ImportFrom)):
            record_import(stmt, scope.aliases)
            return True
        if isinstance(stmt, (ast.Assign, ast.AnnAssign)):
            self.assign(stmt, scope)
            return True
        if isinstance(stmt, ast.With):
            return self.with_stmt(stmt, scope)
        if isinstance(stmt, ast.For):
            return self.for_stmt(stmt, scope)
        if isinstance(stmt, (ast.FunctionDef, ast.ClassDef)):
            self.opaque(stmt, f"defines {stmt.name} inside the function; cannot be judged")
            return True
        if isinstance(stmt, ast.Assert):
            if _has_side_effect(stmt, scope):
                self.opaque(stmt, self.describe_raw(stmt, scope))
            return True
        if isinstance(stmt, ast.If):
            self.opaque(stmt, f"has conditional code (if {unparse(stmt.test, 60)}) that cannot be judged statically")
            return True
        if isinstance(stmt, ast.Try) or type(stmt).__name__ == "TryStar":
            self.opaque(stmt, "has try/except code whose outcome cannot be judged statically")
            return True
        if isinstance(stmt, (ast.While, ast.AsyncFor)):
            self.opaque(stmt, "loops over data; cannot be judged statically")
            return True
        self.opaque(stmt, f"runs code that cannot be judged statically: {unparse(stmt, 60)}")
        return True

    def assign(self, stmt: ast.Assign | ast.AnnAssign, scope: Scope) -> None:
        value = stmt.value
        targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
        if value is None:
            return
        if isinstance(value, ast.Call):
            target = self.op_target(value.func, scope)
            if target is not None:
                kind = value.func.attr  # type: ignore[union-attr]
                if kind in {"create_table"}:
                    self.call_stmt(value, scope)
                    for t in targets:
                        if isinstance(t, ast.Name):
                            scope.vars[t.id] = value
                    return
                self.call_stmt(value, scope)
                return
        if _has_side_effect(value, scope):
            self.opaque(stmt, self.describe_raw(value, scope))
            return
        for t in targets:
            for sub in ast.walk(t):
                root = sub
                while isinstance(root, ast.Subscript):
                    root = root.value
                if isinstance(sub, ast.Attribute) or (
                    isinstance(sub, ast.Subscript)
                    and not (isinstance(root, ast.Name) and scope.local_lookup(root.id) is not None)
                ):  # item assignment into local data is fine; anything else may have effects
                    self.opaque(stmt, f"assigns to {unparse(t, 40)}, which cannot be judged statically")
                    return
        for t in targets:
            if isinstance(t, ast.Name):
                scope.vars[t.id] = value
            else:
                for sub in ast.walk(t):
                    if isinstance(sub, ast.Name):
                        scope.vars[sub.id] = ast.Constant(value=None)

    def with_stmt(self, stmt: ast.With, scope: Scope) -> bool:
        inner = scope.child()
        for item in stmt.items:
            ctx = item.context_expr
            if isinstance(ctx, ast.Call):
                target = self.op_target(ctx.func, scope)
                attr = ctx.func.attr if isinstance(ctx.func, ast.Attribute) else ""
                if target == ("op", None) and attr == "batch_alter_table":
                    table_expr = ctx.args[0] if ctx.args else next(
                        (k.value for k in ctx.keywords if k.arg == "table_name"), None)
                    schema_expr = ctx.args[1] if len(ctx.args) > 1 else next(
                        (k.value for k in ctx.keywords if k.arg == "schema"), None)
                    table = _table_key(table_expr, schema_expr, scope)
                    if item.optional_vars is not None and isinstance(item.optional_vars, ast.Name):
                        inner.batch_aliases[item.optional_vars.id] = (table or "<?>", ctx)
                    continue
                if attr == "autocommit_block":
                    continue  # transparent: statements inside are judged on their own
            self.opaque(stmt, f"runs inside a context manager ({unparse(ctx, 60)}) that cannot be judged")
            return True
        return self.block(stmt.body, inner)

    def for_stmt(self, stmt: ast.For, scope: Scope) -> bool:
        values = literal(stmt.iter, scope)
        if (
            isinstance(stmt.target, ast.Name)
            and isinstance(values, (list, tuple))
            and len(values) <= 50
            and not stmt.orelse
            and not any(isinstance(n, (ast.Break, ast.Continue)) for n in ast.walk(stmt))
        ):
            for value in values:  # a loop over literal names: unroll it
                inner = scope.child()
                inner.vars[stmt.target.id] = ast.Constant(value=value)
                if not self.block(stmt.body, inner):
                    return False
            return True
        self.opaque(stmt, f"loops over {unparse(stmt.iter, 50)}; cannot be judged statically")
        return True

    def call_stmt(self, call: ast.Call, scope: Scope) -> None:
        target = self.op_target(call.func, scope)
        if target is not None:
            kind = call.func.attr  # type: ignore[union-attr]
            if kind not in RAW_OPS:
                impure = _impure_args(call, scope)
                if impure:
                    self.opaque(call, f"computes an argument of {unparse(call.func, 40)} with {impure}")
                    return
            self.op_call(kind, call, scope, batch_table=target[1] if target[0] == "batch" else None,
                         is_batch=target[0] == "batch")
            return
        qual = qualname(call.func, scope) or ""
        harmless = False
        if isinstance(call.func, ast.Name) and call.func.id in _HARMLESS_CALLS and not scope.lookup(call.func.id):
            harmless = True
        if isinstance(call.func, ast.Attribute) and call.func.attr in _HARMLESS_METHODS:
            base = qualname(call.func.value, scope) or ""
            if re.search(r"(^|\.)(log|logger|logging|LOG|LOGGER|_log|_logger)$", base) or base == "logging":
                harmless = True
        if qual in {"warnings.warn"}:
            harmless = True
        if harmless:
            impure = _impure_args(call, scope)
            if impure:
                self.opaque(call, f"calls {impure} inside {unparse(call.func, 30)}(); cannot be judged")
            return
        if isinstance(call.func, ast.Name) and call.func.id in self.module.functions and not scope.lookup(call.func.id):
            self.inline(call, scope)
            return
        self.opaque(call, self.describe_raw(call, scope))

    def inline(self, call: ast.Call, scope: Scope) -> None:
        name = call.func.id  # type: ignore[union-attr]
        fdef = self.module.functions[name]
        if self.inline_depth >= _MAX_INLINE_DEPTH or name in self.inlining or isinstance(fdef, ast.AsyncFunctionDef):
            self.opaque(call, f"calls {name}() recursively or too deeply; cannot be judged")
            return
        args = fdef.args
        if args.vararg or args.kwarg or args.posonlyargs or any(isinstance(a, ast.Starred) for a in call.args) or any(
            k.arg is None for k in call.keywords
        ):
            self.opaque(call, f"calls {name}() with arguments that cannot be followed")
            return
        inner = Scope(self.module)
        params = [a.arg for a in args.args]
        defaults = dict(zip(params[len(params) - len(args.defaults):], args.defaults))
        for kwarg_, default in zip(args.kwonlyargs, args.kw_defaults):
            params.append(kwarg_.arg)
            if default is not None:
                defaults[kwarg_.arg] = default
        if len(call.args) > len(args.args):
            self.opaque(call, f"calls {name}() with too many arguments")
            return
        bound: dict[str, ast.expr] = dict(zip(params, call.args))
        for k in call.keywords:
            bound[k.arg] = k.value  # type: ignore[index]
        for p in params:
            value = bound.get(p, defaults.get(p))
            if value is None:
                self.opaque(call, f"calls {name}() without argument {p}")
                return
            # bind the caller's expression, resolved in the caller's scope
            inner.vars[p] = _freeze(value, scope)
        self.inline_depth += 1
        self.inlining.append(name)
        try:
            self.block(fdef.body, inner)
        finally:
            self.inline_depth -= 1
            self.inlining.pop()

    # -- op calls -----------------------------------------------------------------

    def op_call(self, kind: str, call: ast.Call, scope: Scope, batch_table: str | None, is_batch: bool) -> None:
        label = ("batch_op." if is_batch else "op.") + kind
        if kind in RAW_OPS:
            if kind == "execute":
                sql = _sql_snippet(call.args[0] if call.args else None, scope)
                self.opaque(call, f"runs raw SQL ({label}{sql})")
            else:
                self.opaque(call, RAW_OPS[kind])
            return
        if kind == "f":
            return
        if kind == "batch_alter_table":
            self.opaque(call, "uses batch_alter_table outside a with block")
            return
        sigs = BATCH_OP_SIGNATURES if is_batch else OP_SIGNATURES
        if kind not in sigs:
            self.opaque(call, f"calls {label}, which this analyzer does not know")
            return
        positional, varargs = sigs[kind]
        if any(isinstance(a, ast.Starred) for a in call.args) or any(k.arg is None for k in call.keywords):
            if kind != "create_table":
                self.opaque(call, f"calls {label} with *args/**kwargs that cannot be followed")
                return
        bound: dict[str, Any] = {}
        rest: list[ast.expr] = []
        for i, a in enumerate(call.args):
            if i < len(positional):
                bound[positional[i]] = a
            else:
                rest.append(a)
        if rest and varargs is None:
            self.opaque(call, f"calls {label} with unexpected arguments")
            return
        kwargs = {k.arg: k.value for k in call.keywords if k.arg is not None}
        for name in positional:
            if name in kwargs:
                bound[name] = kwargs.pop(name)
        op = Op(kind=kind, fn=self.scan.fn, line=call.lineno, args=bound, kwargs=kwargs,
                 scope=scope, batch=is_batch)
        schema = kwargs.get("schema")
        if is_batch:
            op.table = batch_table
        elif kind == "create_foreign_key":
            op.table = _table_key(bound.get("source_table"), kwargs.get("source_schema"), scope)
        elif kind == "rename_table":
            op.table = _table_key(bound.get("old_table_name"), schema, scope)
            op.name = _table_key(bound.get("new_table_name"), schema, scope)
        elif kind == "bulk_insert":
            op.table = self.bulk_table(bound.get("table"), scope)
        elif kind == "drop_index" and "table_name" not in bound:
            op.table = None
        else:
            op.table = _table_key(bound.get("table_name"), schema, scope)
        if kind in {"drop_column", "alter_column"}:
            op.name = name_key(bound.get("column_name"), scope)
        elif kind == "add_column":
            op.column = column_info(bound.get("column"), scope)
            if op.column is None:
                self.opaque(call, f"calls {label} with a column it cannot read ({unparse(bound.get('column') or call, 50)})")
                return
            op.name = op.column.name
        elif kind in {"create_index", "drop_index"}:
            op.name = name_key(bound.get("index_name"), scope)
        elif kind in CONSTRAINT_CREATORS or kind == "drop_constraint":
            op.name = name_key(bound.get("constraint_name"), scope)
        if kind in {"create_index", "create_unique_constraint", "create_primary_key"}:
            op.columns = _names(bound.get("columns"), scope)
        elif kind == "create_foreign_key":
            op.columns = _names(bound.get("local_cols"), scope)
        if kind == "create_table":
            op.args["columns"] = rest
        if kind == "bulk_insert" and op.table is None:
            self.opaque(call, f"bulk-inserts rows into a table it cannot identify ({unparse(bound.get('table') or call, 40)})")
            return
        self.scan.ops.append(op)

    def bulk_table(self, expr: ast.AST | None, scope: Scope) -> str | None:
        expr = resolve(expr, scope)
        if isinstance(expr, ast.Call):
            last = last_part(qualname(expr.func, scope))
            if last in {"table", "Table", "create_table"} and expr.args:
                schema = next((k.value for k in expr.keywords if k.arg == "schema"), None)
                return _table_key(expr.args[0], schema, scope)
        return None


def _has_default(fdef: ast.FunctionDef | ast.AsyncFunctionDef, name: str) -> bool:
    args = fdef.args
    positional = [a.arg for a in args.args]
    if name in positional:
        return positional.index(name) >= len(positional) - len(args.defaults)
    for a, d in zip(args.kwonlyargs, args.kw_defaults):
        if a.arg == name:
            return d is not None
    return False


def _freeze(expr: ast.expr, scope: Scope) -> ast.expr:
    """Resolve names of a caller's argument in the caller's scope."""
    resolved = resolve(expr, scope)
    return resolved if isinstance(resolved, ast.expr) else expr


def _is_docstring(stmt: ast.stmt) -> bool:
    return isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant) and isinstance(stmt.value.value, str)


_SIDE_EFFECT_ATTRS = {
    "execute", "exec_driver_sql", "get_bind", "connect", "begin", "scalar", "scalars", "fetchall",
    "fetchone", "first", "all", "one", "commit", "rollback", "create", "drop", "create_all", "drop_all",
    "get_context", "run_async", "invoke", "query", "add", "delete", "merge", "flush", "reflect",
}
_IMPURE_BUILTINS = {"exec", "eval", "__import__", "open", "getattr", "setattr", "delattr", "globals",
                    "locals", "compile", "vars", "input", "breakpoint"}
# libraries whose constructors build types / columns / values without touching the database
_PURE_ROOTS = {"sqlalchemy", "sa", "sqlmodel", "sqlalchemy_utils", "geoalchemy2", "pgvector"}


def _impure_call(call: ast.Call, scope: Scope, strict: bool, depth: int = 0) -> str | None:
    """Why a call may run SQL or ops (None when it only builds values).  ``strict``
    also distrusts application / third-party code (statement level)."""
    func = call.func
    if isinstance(func, ast.Attribute) and func.attr in _SIDE_EFFECT_ATTRS:
        return f"{unparse(func, 40)}()"
    qual = qualname(func, scope)
    if qual is None:
        if isinstance(func, ast.Attribute):
            return None  # a method of a value built here (sa.Integer().with_variant(...))
        return f"{unparse(func, 40)}()"
    root = qual.split(".")[0]
    if root in {"alembic", "op", "context"} or (isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name)
                                                 and scope.batch(func.value.id) is not None):
        if last_part(qual) in {"f", "inline_literal"}:
            return None
        return f"{qual}()"
    if isinstance(func, ast.Name) and func.id in scope.module.functions and scope.local_lookup(func.id) is None \
            and scope.alias(func.id) is None:
        fdef = scope.module.functions[func.id]
        if depth >= _MAX_INLINE_DEPTH:
            return f"{func.id}()"
        inner = Scope(scope.module)
        for node in ast.walk(fdef):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                record_import(node, inner.aliases)
        for node in ast.walk(fdef):
            if isinstance(node, ast.Call):
                why = _impure_call(node, inner, strict, depth + 1)
                if why:
                    return f"{func.id}(), which calls {why}"
        return None
    if "." not in qual:
        if qual in _IMPURE_BUILTINS:
            return f"{qual}()"
        return None  # builtins, and constructors bound to local names
    if root in _PURE_ROOTS or root in sys.stdlib_module_names:
        return None
    return f"{qual}()" if strict else None


def _impure_args(call: ast.Call, scope: Scope) -> str | None:
    for arg in list(call.args) + [k.value for k in call.keywords]:
        for node in ast.walk(arg):
            if isinstance(node, ast.Call):
                why = _impure_call(node, scope, strict=False)
                if why:
                    return why
    return None


def _has_side_effect(expr: ast.AST, scope: Scope) -> bool:
    """True when an assignment's value calls something beyond value constructors."""
    for node in ast.walk(expr):
        if isinstance(node, ast.Call) and _impure_call(node, scope, strict=True):
            return True
        if isinstance(node, (ast.Await, ast.Yield, ast.YieldFrom, ast.NamedExpr, ast.Lambda)):
            return True
    return False


def _table_key(expr: ast.AST | None, schema: ast.AST | None, scope: Scope) -> str | None:
    name = name_key(expr, scope)
    if name is None:
        return None
    schema_name = name_key(schema, scope) if schema is not None else None
    return f"{schema_name}.{name}" if schema_name else name


def _names(expr: ast.AST | None, scope: Scope) -> tuple[str, ...]:
    expr = resolve(expr, scope)
    if isinstance(expr, (ast.List, ast.Tuple)):
        out = []
        for e in expr.elts:
            k = name_key(e, scope)
            if k is not None:
                out.append(k)
        return tuple(out)
    return ()


def _sql_snippet(expr: ast.AST | None, scope: Scope) -> str:
    if expr is None:
        return ""
    text = str_value(expr, scope)
    if text is None and isinstance(resolve(expr, scope), ast.Call):
        call = resolve(expr, scope)
        if call.args:  # type: ignore[union-attr]
            text = str_value(call.args[0], scope)  # type: ignore[union-attr]
    if text is None:
        return f": {unparse(expr, 50)}"
    text = " ".join(text.split())
    if len(text) > 60:
        text = text[:59] + "…"
    return f': "{text}"'

