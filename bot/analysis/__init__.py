"""Static reversibility analysis of Alembic revision scripts.

``bb-ops migrations analyze DIR --json`` (and ``python -m bot.analysis DIR
--json``) reads every revision script of an Alembic versions folder with :mod:`ast` --
the scripts are never imported or run, so the target's code, its dependencies and its
``env.py`` are never loaded -- and says for each revision whether stepping back over it
with ``alembic downgrade`` is safe.

Verdicts (DESIGN.md, "migrations analyze"):

``reversible``
    The downgrade brings back the schema and every row and value that existed before
    the upgrade. The only data it throws away is data written into things the upgrade
    created (a new table, a new column); the reasons say so.
``lossy``
    The downgrade runs and restores the schema, but data does not survive the round
    trip: the upgrade dropped a column or table, narrowed or converted a type, or the
    downgrade narrows a type again, re-imposes NOT NULL or re-creates a unique / check /
    foreign-key / primary-key constraint or unique index that rows written since the
    upgrade may violate (the downgrade then fails, or works only once those rows are
    changed or removed).  ``rollback --accept-data-loss`` may downgrade over these.
``opaque``
    Raw SQL (``op.execute``, ``sa.text`` as a statement, ``op.get_bind()`` / connection
    use), loops over data, conditionals, PostgreSQL enum types, unknown ``op.*`` calls or
    other code whose effect cannot be judged statically.
``irreversible``
    No working downgrade: ``downgrade()`` is missing, empty (``pass`` / docstring only)
    while the upgrade changes something, raises, or leaves an upgrade op undone (for
    example an ``add_column`` with no ``drop_column``), or does something the upgrade
    did not do (which changes the schema that existed before the upgrade).

A revision's verdict is the worst of its findings, in the order
``reversible < lossy < opaque < irreversible``: lossy is the only non-reversible verdict
where a downgrade is known to work, opaque means "could be anything, including lossy",
and irreversible means the downgrade is known not to work (or not to restore the
schema), which no acknowledgement can fix.  Rollback plans treat everything but
``reversible`` as "restore from snapshot".  When in doubt the analyzer never says
``reversible``.

Rules, per upgrade op and the inverse looked for in ``downgrade()``:

==============================================  =========================================
upgrade op                                      verdict of the pair
==============================================  =========================================
create_table / add_column, inverse drops it     reversible ("... created by the upgrade,
                                                its data is lost")
  ... with ``if_not_exists=True``               lossy (a pre-existing table/column would
                                                be dropped)
  ... with a native PostgreSQL enum type        opaque (the type outlives the table)
drop_table / drop_column, inverse re-creates    lossy (comes back empty)
  ... re-added NOT NULL without server default  irreversible (fails on a table with rows)
create_index / create_*_constraint, dropped     reversible
drop_index (non-unique), re-created             reversible
drop_index (unique) / drop_constraint,          lossy (re-creating it fails if rows
re-created                                      written since violate it)
rename_table / alter_column(new_column_name),   reversible
renamed back
alter_column type_: any real change             lossy: the upgrade narrows, or converts,
                                                or the downgrade narrows back
  ... to or from a native enum                  opaque
alter_column nullable=False (tighten)           reversible (the downgrade relaxes)
alter_column nullable=True (relax)              lossy (the downgrade's NOT NULL fails on
                                                NULLs written since)
alter_column server_default / comment,          reversible
table comments, restored
bulk_insert into a table the upgrade created    reversible (rows go with the table)
bulk_insert into an existing table              irreversible (nothing deletes the rows) or
                                                opaque (the downgrade runs raw SQL)
op.execute, sa.text as SQL, op.get_bind(),      opaque (``sa.text`` inside DDL arguments,
connections, loops over data, if / try,         e.g. ``server_default=sa.text("now()")``,
unknown op.* calls, helpers it cannot follow    is fine)
an upgrade op with no inverse                   irreversible; opaque when the downgrade
                                                runs raw SQL that might be the inverse
a downgrade op that undoes nothing              irreversible (opaque when the upgrade
                                                runs raw SQL)
==============================================  =========================================

Ops inside ``with op.batch_alter_table("t") as batch_op:`` are the same ops on ``t``.
Ops on tables / columns the upgrade created are covered by the drop of that table /
column; ops on tables / columns the downgrade re-creates belong to that re-creation.
Whether a table or column "was created by the upgrade" is decided at the moment each
op runs (a forward simulation), so ``create_table users_new; drop_table users;
rename_table users_new users`` is lossy. Loops over literal lists are unrolled and
module-level helper functions are followed; anything else is opaque.

Only the standard library is imported at module level: this runs in pipelines and
must start fast (``python -X importtime -m bot.analysis``).
"""

from __future__ import annotations

import ast
import json
import os
import re
import sys
from dataclasses import dataclass, field
from enum import Enum

from bot.core.errors import AnalysisError

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only: importing typing costs start-up time
    from typing import Any, Iterable, Sequence, TextIO

__all__ = [
    "AnalysisError",
    "RevisionAnalysis",
    "Verdict",
    "analyze_dir",
    "analyze_file",
    "analyze_source",
    "main",
    "run_cli",
    "steps_between",
    "topological_order",
]


class Verdict(str, Enum):
    REVERSIBLE = "reversible"
    LOSSY = "lossy"
    IRREVERSIBLE = "irreversible"
    OPAQUE = "opaque"

    @property
    def severity(self) -> int:
        """reversible 0 < lossy 1 < opaque 2 < irreversible 3."""
        return _SEVERITY[self]

    def __str__(self) -> str:  # pragma: no cover - cosmetic
        return self.value


_SEVERITY = {
    Verdict.REVERSIBLE: 0,
    Verdict.LOSSY: 1,
    Verdict.OPAQUE: 2,
    Verdict.IRREVERSIBLE: 3,
}


@dataclass(frozen=True)
class RevisionAnalysis:
    revision: str
    down_revision: str | tuple[str, ...] | None
    verdict: Verdict
    reasons: list[str]
    path: str = ""
    depends_on: str | tuple[str, ...] | None = None
    branch_labels: str | tuple[str, ...] | None = None
    message: str | None = None  # first line of the script's docstring, if any

    @property
    def down_revisions(self) -> tuple[str, ...]:
        return _as_tuple(self.down_revision)

    @property
    def dependencies(self) -> tuple[str, ...]:
        return _as_tuple(self.depends_on)

    @property
    def is_merge(self) -> bool:
        return len(self.down_revisions) > 1

    @property
    def is_reversible(self) -> bool:
        return self.verdict is Verdict.REVERSIBLE

    def to_json(self) -> dict:
        down = self.down_revision
        if isinstance(down, tuple):
            down = list(down)
        return {
            "revision": self.revision,
            "down_revision": down,
            "verdict": self.verdict.value,
            "reasons": list(self.reasons),
        }


def _as_tuple(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    return tuple(value)


# --------------------------------------------------------------------------------------
# Op signatures (alembic.operations.Operations / BatchOperations, Alembic 1.13 - 1.20)
# --------------------------------------------------------------------------------------

# name -> (positional parameter names, name of *varargs or None)
_SIGS: dict[str, tuple[tuple[str, ...], str | None]] = {
    "create_table": (("table_name",), "columns"),
    "drop_table": (("table_name",), None),
    "add_column": (("table_name", "column"), None),
    "drop_column": (("table_name", "column_name"), None),
    "alter_column": (("table_name", "column_name"), None),
    "rename_table": (("old_table_name", "new_table_name"), None),
    "create_index": (("index_name", "table_name", "columns"), None),
    "drop_index": (("index_name", "table_name"), None),
    "create_unique_constraint": (("constraint_name", "table_name", "columns"), None),
    "create_check_constraint": (("constraint_name", "table_name", "condition"), None),
    "create_foreign_key": (
        ("constraint_name", "source_table", "referent_table", "local_cols", "remote_cols"),
        None,
    ),
    "create_primary_key": (("constraint_name", "table_name", "columns"), None),
    "create_exclude_constraint": (("constraint_name", "table_name"), "elements"),
    "drop_constraint": (("constraint_name", "table_name", "type_"), None),
    "create_table_comment": (("table_name", "comment"), None),
    "drop_table_comment": (("table_name",), None),
    "bulk_insert": (("table", "rows"), None),
}

_BATCH_SIGS: dict[str, tuple[tuple[str, ...], str | None]] = {
    "add_column": (("column",), None),
    "drop_column": (("column_name",), None),
    "alter_column": (("column_name",), None),
    "create_index": (("index_name", "columns"), None),
    "drop_index": (("index_name",), None),
    "create_unique_constraint": (("constraint_name", "columns"), None),
    "create_check_constraint": (("constraint_name", "condition"), None),
    "create_foreign_key": (("constraint_name", "referent_table", "local_cols", "remote_cols"), None),
    "create_primary_key": (("constraint_name", "columns"), None),
    "create_exclude_constraint": (("constraint_name",), "elements"),
    "drop_constraint": (("constraint_name", "type_"), None),
    "create_table_comment": (("comment",), None),
    "drop_table_comment": ((), None),
}

_CONSTRAINT_CREATORS = {
    "create_unique_constraint": "unique",
    "create_check_constraint": "check",
    "create_foreign_key": "foreign key",
    "create_primary_key": "primary key",
    "create_exclude_constraint": "exclude",
}

# op.* calls that run SQL or touch the connection: never judged
_RAW_OPS = {
    "execute": "runs raw SQL",
    "get_bind": "uses the database connection (op.get_bind())",
    "get_context": "uses the migration context (op.get_context())",
    "run_async": "runs arbitrary async code (op.run_async)",
    "invoke": "invokes a custom operation object (op.invoke)",
    "inline_literal": "builds raw SQL values (op.inline_literal)",
    "implementation_for": "registers a custom operation",
    "register_operation": "registers a custom operation",
}

_ALTER_CHANGES = ("new_column_name", "type_", "nullable", "server_default", "comment")
_ALTER_KNOWN = set(_ALTER_CHANGES) | {
    "existing_type",
    "existing_server_default",
    "existing_nullable",
    "existing_comment",
    "schema",
    "postgresql_using",
    "insert_before",
    "insert_after",
    "autoincrement",
    "existing_autoincrement",
}

_HARMLESS_CALLS = {"print"}
_HARMLESS_METHODS = {"debug", "info", "warning", "warn", "error", "critical", "exception"}

_MAX_INLINE_DEPTH = 4
_UNKNOWN = object()


# --------------------------------------------------------------------------------------
# Scopes and expression helpers
# --------------------------------------------------------------------------------------


class _Module:
    """What the module level of a script tells us: imports, constants, helper defs."""

    def __init__(self, tree: ast.Module) -> None:
        self.aliases: dict[str, str] = {}
        self.vars: dict[str, ast.expr] = {}
        self.functions: dict[str, ast.FunctionDef | ast.AsyncFunctionDef] = {}
        for stmt in tree.body:
            if isinstance(stmt, (ast.Import, ast.ImportFrom)):
                _record_import(stmt, self.aliases)
            elif isinstance(stmt, ast.Assign) and len(stmt.targets) == 1:
                target = stmt.targets[0]
                if isinstance(target, ast.Name):
                    self.vars[target.id] = stmt.value
            elif isinstance(stmt, ast.AnnAssign) and stmt.value is not None:
                if isinstance(stmt.target, ast.Name):
                    self.vars[stmt.target.id] = stmt.value
            elif isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
                self.functions[stmt.name] = stmt


def _record_import(stmt: ast.Import | ast.ImportFrom, aliases: dict[str, str]) -> None:
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


class _Scope:
    def __init__(self, module: _Module, parent: "_Scope | None" = None) -> None:
        self.module = module
        self.parent = parent
        self.vars: dict[str, ast.expr] = {}
        self.aliases: dict[str, str] = {}
        self.batch_aliases: dict[str, tuple[str, ast.AST]] = {}  # name -> (table key, node)

    def child(self) -> "_Scope":
        return _Scope(self.module, self)

    def alias(self, name: str) -> str | None:
        scope: _Scope | None = self
        while scope is not None:
            if name in scope.aliases:
                return scope.aliases[name]
            scope = scope.parent
        return self.module.aliases.get(name)

    def local_lookup(self, name: str) -> ast.expr | None:
        scope: _Scope | None = self
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
        scope: _Scope | None = self
        while scope is not None:
            if name in scope.batch_aliases:
                return scope.batch_aliases[name]
            scope = scope.parent
        return None


def _qualname(expr: ast.AST, scope: _Scope, depth: int = 0) -> str | None:
    """Dotted name of an expression with import aliases expanded (``sa.String`` ->
    ``sqlalchemy.String``). Function-local bindings shadow imports."""
    if depth > 10:
        return None
    if isinstance(expr, ast.Name):
        local = scope.local_lookup(expr.id)
        if local is not None:
            if isinstance(local, (ast.Name, ast.Attribute)):
                return _qualname(local, scope, depth + 1)
            return expr.id
        alias = scope.alias(expr.id)
        if alias is not None:
            return alias
        bound = scope.module.vars.get(expr.id)
        if isinstance(bound, (ast.Name, ast.Attribute)):
            return _qualname(bound, scope, depth + 1)
        return expr.id
    if isinstance(expr, ast.Attribute):
        base = _qualname(expr.value, scope, depth + 1)
        if base is None:
            return None
        return f"{base}.{expr.attr}"
    return None


def _resolve(expr: ast.AST | None, scope: _Scope) -> ast.AST | None:
    """Follow simple variable bindings (``t = sa.table(...)``; ``NAME = "users"``)."""
    seen = 0
    while isinstance(expr, ast.Name) and seen < 10:
        bound = scope.lookup(expr.id)
        if bound is None:
            break
        expr = bound
        seen += 1
    return expr


def _str(expr: ast.AST | None, scope: _Scope) -> str | None:
    expr = _resolve(expr, scope)
    if expr is None:
        return None
    if isinstance(expr, ast.Constant) and isinstance(expr.value, str):
        return expr.value
    if isinstance(expr, ast.Call) and len(expr.args) == 1 and not expr.keywords:
        name = _qualname(expr.func, scope) or ""
        last = name.rsplit(".", 1)[-1]
        if last in {"f", "conv", "quoted_name"}:
            return _str(expr.args[0], scope)
    if isinstance(expr, ast.JoinedStr):
        parts = []
        for value in expr.values:
            if isinstance(value, ast.Constant) and isinstance(value.value, str):
                parts.append(value.value)
            elif isinstance(value, ast.FormattedValue) and value.format_spec is None and value.conversion == -1:
                inner = _str(value.value, scope)
                if inner is None:
                    return None
                parts.append(inner)
            else:
                return None
        return "".join(parts)
    if isinstance(expr, ast.BinOp) and isinstance(expr.op, ast.Add):
        left, right = _str(expr.left, scope), _str(expr.right, scope)
        if left is not None and right is not None:
            return left + right
    return None


def _key(expr: ast.AST | None, scope: _Scope) -> str | None:
    """Identity of a table/column/index name: its string value, else its source text."""
    if expr is None:
        return None
    text = _str(expr, scope)
    if text is not None:
        return text
    resolved = _resolve(expr, scope)
    if isinstance(resolved, ast.Constant) and resolved.value is None:
        return None
    return "<" + _unparse(expr) + ">"


def _literal(expr: ast.AST | None, scope: _Scope, depth: int = 0) -> Any:
    if expr is None or depth > 10:
        return _UNKNOWN
    expr = _resolve(expr, scope)
    if isinstance(expr, ast.Constant):
        return expr.value
    if isinstance(expr, (ast.Tuple, ast.List, ast.Set)):
        values = [_literal(e, scope, depth + 1) for e in expr.elts]
        if any(v is _UNKNOWN for v in values):
            return _UNKNOWN
        return tuple(values) if isinstance(expr, ast.Tuple) else list(values)
    if isinstance(expr, ast.UnaryOp) and isinstance(expr.op, ast.USub):
        value = _literal(expr.operand, scope, depth + 1)
        if isinstance(value, (int, float)):
            return -value
        return _UNKNOWN
    text = _str(expr, scope)
    if text is not None:
        return text
    return _UNKNOWN


def _unparse(node: ast.AST, limit: int = 80) -> str:
    try:
        text = ast.unparse(node)
    except Exception:  # pragma: no cover - ast.unparse handles every parsed node
        text = type(node).__name__
    text = " ".join(text.split())
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return text


def _last(name: str | None) -> str:
    return (name or "").rsplit(".", 1)[-1]


def _is_sqlalchemy(qual: str | None) -> bool:
    if not qual:
        return False
    return qual.split(".")[0] in {"sqlalchemy", "sa"} or "." not in qual


# --------------------------------------------------------------------------------------
# Types
# --------------------------------------------------------------------------------------

_STR_TYPES = {"String", "VARCHAR", "Unicode", "NVARCHAR"}
_TEXT_TYPES = {"Text", "TEXT", "UnicodeText", "CLOB"}
_CHAR_TYPES = {"CHAR", "NCHAR"}
_INT_TYPES = {"SmallInteger": 16, "SMALLINT": 16, "Integer": 32, "INTEGER": 32, "INT": 32,
              "BigInteger": 64, "BIGINT": 64}
_INT_DIGITS = {16: 4, 32: 9, 64: 18}  # every number with this many digits fits
_INT_MAX_DIGITS = {16: 5, 32: 10, 64: 19}  # digits of the largest value
_NUMERIC_TYPES = {"Numeric", "NUMERIC", "DECIMAL"}
_FLOAT_TYPES = {"Float", "FLOAT"}
_REAL_TYPES = {"REAL"}
_DOUBLE_TYPES = {"Double", "DOUBLE", "DOUBLE_PRECISION"}
_ENUM_TYPES = {"Enum", "ENUM"}
_SYNONYMS = {
    "Boolean": "BOOLEAN", "BOOLEAN": "BOOLEAN",
    "Date": "DATE", "DATE": "DATE",
    "DateTime": "TIMESTAMP", "DATETIME": "TIMESTAMP", "TIMESTAMP": "TIMESTAMP",
    "Time": "TIME", "TIME": "TIME",
    "Interval": "INTERVAL", "INTERVAL": "INTERVAL",
    "JSON": "JSON", "JSONB": "JSONB",
    "Uuid": "UUID", "UUID": "UUID",
    "LargeBinary": "BYTEA", "BYTEA": "BYTEA", "BLOB": "BYTEA", "BINARY": "BYTEA",
    "VARBINARY": "BYTEA",
}


@dataclass(frozen=True)
class _Type:
    family: str  # string, char, int, numeric, float, enum, named, unknown
    a: Any = None
    b: Any = None
    native_enum: bool = False
    creates_type: bool = False
    enum_name: str | None = None
    text: str = ""


def _type_info(expr: ast.AST | None, scope: _Scope, depth: int = 0) -> _Type | None:
    if expr is None or depth > 8:
        return None
    display = _unparse(expr, 60)
    resolved = _resolve(expr, scope)
    if resolved is None:
        return None
    expr = resolved
    if isinstance(expr, ast.Constant) and expr.value is None:
        return None
    call: ast.Call | None = None
    callee: ast.AST = expr
    if isinstance(expr, ast.Call):
        call = expr
        callee = expr.func
        # X.with_variant(Y, "postgresql") -> Y on PostgreSQL, X elsewhere
        if isinstance(callee, ast.Attribute) and callee.attr == "with_variant":
            dialects = [_literal(a, scope) for a in expr.args[1:]]
            dialects += [_literal(k.value, scope) for k in expr.keywords if k.arg == "dialect_names"]
            flat: list[Any] = []
            for d in dialects:
                flat.extend(d if isinstance(d, (list, tuple)) else [d])
            if "postgresql" in flat and expr.args:
                return _type_info(expr.args[0], scope, depth + 1)
            return _type_info(callee.value, scope, depth + 1)
    qual = _qualname(callee, scope)
    name = _last(qual)
    if not _is_sqlalchemy(qual) or not name:
        return _Type("unknown", text=display, a=_unparse(expr, 400))

    def arg(pos: int, kw: str) -> Any:
        if call is None:
            return None
        for k in call.keywords:
            if k.arg == kw:
                return _literal(k.value, scope)
        if len(call.args) > pos:
            return _literal(call.args[pos], scope)
        return None

    def kwarg(kw: str, default: Any = None) -> Any:
        if call is None:
            return default
        for k in call.keywords:
            if k.arg == kw:
                return _literal(k.value, scope)
        return default

    if name in _STR_TYPES or name in _TEXT_TYPES:
        length = arg(0, "length") if name in _STR_TYPES else None
        collation = arg(1 if name in _STR_TYPES else 0, "collation")
        if length is _UNKNOWN or collation is _UNKNOWN:
            return _Type("unknown", text=display, a=_unparse(expr, 400))
        return _Type("string", length, collation, text=display)
    if name in _CHAR_TYPES:
        length = arg(0, "length")
        if length is _UNKNOWN:
            return _Type("unknown", text=display, a=_unparse(expr, 400))
        return _Type("char", length or 1, text=display)
    if name in _INT_TYPES:
        return _Type("int", _INT_TYPES[name], text=display)
    if name in _NUMERIC_TYPES:
        precision, scale = arg(0, "precision"), arg(1, "scale")
        if precision is _UNKNOWN or scale is _UNKNOWN:
            return _Type("unknown", text=display, a=_unparse(expr, 400))
        if precision is not None and scale is None:
            scale = 0
        return _Type("numeric", precision, scale, text=display)
    if name in _FLOAT_TYPES or name in _REAL_TYPES or name in _DOUBLE_TYPES:
        if name in _REAL_TYPES:
            bits = 24
        elif name in _DOUBLE_TYPES:
            bits = 53
        else:
            precision = arg(0, "precision")
            if precision is _UNKNOWN:
                return _Type("unknown", text=display, a=_unparse(expr, 400))
            bits = 24 if isinstance(precision, int) and precision <= 24 else 53
        return _Type("float", bits, text=display)
    if name in _ENUM_TYPES:
        values: Any = []
        if call is not None:
            for a in call.args:
                v = _literal(a, scope)
                if not isinstance(v, str):
                    values = None  # a Python enum class or computed values
                    break
                values.append(v)
            for k in call.keywords:
                if k.arg == "values":
                    v = _literal(k.value, scope)
                    values = list(v) if isinstance(v, (list, tuple)) else None
        native = kwarg("native_enum", True) is not False
        creates = native and kwarg("create_type", True) is not False
        enum_name = _str(next((k.value for k in call.keywords if k.arg == "name"), None), scope) if call else None
        return _Type(
            "enum",
            frozenset(values) if values is not None else None,
            native_enum=native,
            creates_type=creates,
            enum_name=enum_name,
            text=display,
        )
    if name == "ARRAY" and call is not None and call.args:
        item = _type_info(call.args[0], scope, depth + 1)
        return _Type(
            "named",
            "ARRAY",
            item,
            native_enum=bool(item and item.native_enum),
            creates_type=bool(item and item.creates_type),
            enum_name=item.enum_name if item else None,
            text=display,
        )
    canonical = _SYNONYMS.get(name, name.upper())
    params: tuple = ()
    if canonical in {"TIMESTAMP", "TIME"}:
        params = (bool(kwarg("timezone", False)), kwarg("precision", None))
    elif call is not None and (call.args or call.keywords):
        params = (_unparse(call, 400).split("(", 1)[1],)
    return _Type("named", canonical, params, text=display)


def _compare_types(old: _Type | None, new: _Type | None) -> str:
    """'same', 'widen' (every old value fits the new type), 'narrow', 'change' or
    'unknown'."""
    if old is None or new is None:
        return "unknown"
    if old.family == "unknown" or new.family == "unknown":
        if old.family == new.family and old.a == new.a:
            return "same"
        return "unknown"
    f_old, f_new = old.family, new.family
    if f_old == "enum" or f_new == "enum":
        if f_old == f_new == "enum":
            if old.a is None or new.a is None:
                return "unknown" if old.a != new.a or old.a is None else "same"
            if old.a == new.a:
                return "same"
            if old.a <= new.a:
                return "widen"
            if new.a <= old.a:
                return "narrow"
            return "change"
        if f_old == "enum" and f_new == "string" and old.a is not None:
            longest = max((len(v) for v in old.a), default=0)
            return "widen" if new.a is None or new.a >= longest else "narrow"
        if f_new == "enum" and f_old == "string":
            return "narrow"
        return "change"
    if f_old == f_new == "string":
        if old.b != new.b:
            return "change"  # collation
        if old.a == new.a:
            return "same"
        if new.a is None:
            return "widen"
        if old.a is None:
            return "narrow"
        return "widen" if new.a > old.a else "narrow"
    if f_old == f_new == "char":
        if old.a == new.a:
            return "same"
        return "widen" if new.a > old.a else "narrow"
    if f_old == f_new == "int" or f_old == f_new == "float":
        if old.a == new.a:
            return "same"
        return "widen" if new.a > old.a else "narrow"
    if f_old == "int" and f_new == "numeric":
        if new.a is None:
            return "widen"
        return "widen" if (new.a - (new.b or 0)) >= _INT_MAX_DIGITS[old.a] else "narrow"
    if f_old == "numeric" and f_new == "int":
        if old.a is not None and not old.b and old.a <= _INT_DIGITS[new.a]:
            return "widen"
        return "narrow"
    if f_old == "int" and f_new == "float":
        return "widen" if {16: 24, 32: 53}.get(old.a, 99) <= new.a else "narrow"
    if f_old == "float" and f_new == "int":
        return "narrow"
    if f_old == f_new == "numeric":
        if (old.a, old.b) == (new.a, new.b):
            return "same"
        if new.a is None:
            return "widen"
        if old.a is None:
            return "narrow"
        int_old, int_new = old.a - (old.b or 0), new.a - (new.b or 0)
        if int_new >= int_old and (new.b or 0) >= (old.b or 0):
            return "widen"
        return "narrow"
    if f_old == f_new == "named":
        if old.a == new.a and old.b == new.b:
            return "same"
        if old.a == "DATE" and new.a == "TIMESTAMP":
            return "widen"
        if old.a == "TIMESTAMP" and new.a == "DATE":
            return "narrow"
        return "change"
    return "change"


def _native_enums(expr: ast.AST | None, scope: _Scope, depth: int = 0) -> list[str]:
    """Names of PostgreSQL enum types that creating ``expr`` (a Column, a create_table
    call ...) would create."""
    found: list[str] = []
    if expr is None or depth > 6:
        return found
    for node in ast.walk(expr):
        target: ast.AST | None = None
        if isinstance(node, ast.Call):
            qual = _last(_qualname(node.func, scope))
            if qual in _ENUM_TYPES:
                target = node
        elif isinstance(node, ast.Name) and isinstance(scope.lookup(node.id), ast.Call):
            bound = scope.lookup(node.id)
            if _last(_qualname(bound.func, scope)) in _ENUM_TYPES:  # type: ignore[union-attr]
                target = node
            elif depth < 6:
                found.extend(_native_enums(bound, scope, depth + 1))
        if target is not None:
            info = _type_info(target, scope)
            if info is not None and info.creates_type:
                found.append(info.enum_name or "<unnamed>")
    return found


# --------------------------------------------------------------------------------------
# Columns
# --------------------------------------------------------------------------------------


@dataclass
class _Column:
    name: str | None
    type: _Type | None
    type_expr: ast.AST | None
    nullable: bool
    has_server_default: bool
    implicit: bool  # index=True / unique=True / ForeignKey: creates more objects


_NOT_TYPES = {"ForeignKey", "Sequence", "Identity", "Computed", "CheckConstraint",
              "FetchedValue", "DefaultClause"}


def _column_info(expr: ast.AST | None, scope: _Scope) -> _Column | None:
    expr = _resolve(expr, scope)
    if not isinstance(expr, ast.Call) or _last(_qualname(expr.func, scope)) != "Column":
        return None
    name: str | None = None
    type_expr: ast.AST | None = None
    implicit = False
    args = list(expr.args)
    if args and _str(args[0], scope) is not None:
        name = _str(args.pop(0), scope)
    for a in args:
        qual = _last(_qualname(a.func if isinstance(a, ast.Call) else a, scope))
        if qual in _NOT_TYPES:
            implicit = implicit or qual == "ForeignKey"
            continue
        if type_expr is None:
            type_expr = a
    kws = {k.arg: k.value for k in expr.keywords if k.arg}
    if "name" in kws and name is None:
        name = _str(kws["name"], scope)
    if "type_" in kws:
        type_expr = kws["type_"]
    primary_key = _literal(kws.get("primary_key"), scope) is True
    nullable_value = _literal(kws.get("nullable"), scope) if "nullable" in kws else None
    nullable = (not primary_key) if nullable_value in (None, _UNKNOWN) else bool(nullable_value)
    for flag in ("index", "unique"):
        if _literal(kws.get(flag), scope) is True:
            implicit = True
    has_default = "server_default" in kws and not (
        isinstance(kws["server_default"], ast.Constant) and kws["server_default"].value is None
    )
    return _Column(name, _type_info(type_expr, scope), type_expr, nullable, has_default, implicit)


# --------------------------------------------------------------------------------------
# Scanning upgrade() / downgrade()
# --------------------------------------------------------------------------------------


@dataclass
class _Op:
    kind: str
    fn: str  # "upgrade" / "downgrade"
    line: int
    table: str | None = None
    name: str | None = None  # column / index / constraint name
    args: dict[str, Any] = field(default_factory=dict)
    kwargs: dict[str, ast.expr] = field(default_factory=dict)
    column: _Column | None = None
    columns: tuple[str, ...] = ()
    scope: _Scope | None = None
    batch: bool = False
    consumed: bool = False
    used: set[str] = field(default_factory=set)  # alter_column aspects already paired

    def kw(self, name: str) -> Any:
        if name not in self.kwargs:
            return _UNKNOWN
        return _literal(self.kwargs[name], self.scope)  # type: ignore[arg-type]

    def changes(self) -> dict[str, ast.expr]:
        return {k: v for k, v in self.kwargs.items() if k in _ALTER_CHANGES and not (
            k in ("nullable", "type_", "new_column_name")
            and isinstance(v, ast.Constant) and v.value is None
        )}


@dataclass
class _Scan:
    fn: str
    missing: bool = False
    ops: list[_Op] = field(default_factory=list)
    opaque: list[tuple[int, str]] = field(default_factory=list)
    raises: str | None = None

    @property
    def empty(self) -> bool:
        return not self.ops and not self.opaque and self.raises is None


class _Scanner:
    def __init__(self, module: _Module, fn: str) -> None:
        self.module = module
        self.scan = _Scan(fn)
        self.inline_depth = 0
        self.inlining: list[str] = []

    # -- helpers ------------------------------------------------------------------

    def opaque(self, node: ast.AST, text: str) -> None:
        self.scan.opaque.append((getattr(node, "lineno", 0), f"{self.scan.fn}() {text}"))

    def op_target(self, func: ast.AST, scope: _Scope) -> tuple[str, str | None] | None:
        """('op', None) for alembic.op.X, ('batch', table) for batch_op.X."""
        if not isinstance(func, ast.Attribute):
            return None
        base = func.value
        if isinstance(base, ast.Name):
            batch = scope.batch(base.id)
            if batch is not None:
                return ("batch", batch[0])
        qual = _qualname(base, scope)
        if qual in {"alembic.op", "op"}:
            return ("op", None)
        return None

    def describe_raw(self, node: ast.AST, scope: _Scope) -> str:
        """Why a statement is opaque, naming the raw SQL it runs if visible."""
        for sub in ast.walk(node):
            if isinstance(sub, ast.Call) and isinstance(sub.func, ast.Attribute):
                attr = sub.func.attr
                if attr == "execute":
                    sql = _sql_snippet(sub.args[0] if sub.args else None, scope)
                    base = _qualname(sub.func.value, scope) or _unparse(sub.func.value, 30)
                    return f"runs raw SQL ({base}.execute{sql})"
                if attr in ("get_bind", "connect", "begin") or attr == "connection":
                    return f"uses the database connection ({_unparse(sub.func, 40)}())"
            if isinstance(sub, ast.Call) and _last(_qualname(sub.func, scope)) == "text":
                return f"runs raw SQL ({_unparse(sub, 70)})"
            if isinstance(sub, ast.Attribute) and sub.attr in {"connection", "bind"}:
                return f"uses the database connection ({_unparse(sub, 40)})"
        return f"runs code that cannot be judged statically: {_unparse(node, 70)}"

    # -- statements ---------------------------------------------------------------

    def run(self, fdef: ast.FunctionDef | ast.AsyncFunctionDef | None) -> _Scan:
        if fdef is None:
            self.scan.missing = True
            return self.scan
        if isinstance(fdef, ast.AsyncFunctionDef):
            self.opaque(fdef, "is a coroutine; Alembic does not await it")
            return self.scan
        scope = _Scope(self.module)
        params = [a.arg for a in fdef.args.args + fdef.args.kwonlyargs]
        if params and not all(
            _has_default(fdef, a) for a in params
        ):  # multidb template: upgrade(engine_name)
            self.opaque(fdef, f"takes parameters ({', '.join(params)}): dispatches dynamically")
        self.block(fdef.body, scope)
        return self.scan

    def block(self, body: Sequence[ast.stmt], scope: _Scope) -> bool:
        """Scan statements; False when control flow stopped (return / raise)."""
        for index, stmt in enumerate(body):
            if index == 0 and _is_docstring(stmt):
                continue
            if not self.stmt(stmt, scope):
                return False
        return True

    def stmt(self, stmt: ast.stmt, scope: _Scope) -> bool:
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
            text = _unparse(stmt.exc, 100) if stmt.exc is not None else "an exception"
            self.scan.raises = self.scan.raises or f"raises {text} (line {stmt.lineno})"
            return False
        if isinstance(stmt, (ast.Import, ast.ImportFrom)):
            _record_import(stmt, scope.aliases)
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
            self.opaque(stmt, f"has conditional code (if {_unparse(stmt.test, 60)}) that cannot be judged statically")
            return True
        if isinstance(stmt, ast.Try) or type(stmt).__name__ == "TryStar":
            self.opaque(stmt, "has try/except code whose outcome cannot be judged statically")
            return True
        if isinstance(stmt, (ast.While, ast.AsyncFor)):
            self.opaque(stmt, "loops over data; cannot be judged statically")
            return True
        self.opaque(stmt, f"runs code that cannot be judged statically: {_unparse(stmt, 60)}")
        return True

    def assign(self, stmt: ast.Assign | ast.AnnAssign, scope: _Scope) -> None:
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
                    self.opaque(stmt, f"assigns to {_unparse(t, 40)}, which cannot be judged statically")
                    return
        for t in targets:
            if isinstance(t, ast.Name):
                scope.vars[t.id] = value
            else:
                for sub in ast.walk(t):
                    if isinstance(sub, ast.Name):
                        scope.vars[sub.id] = ast.Constant(value=None)

    def with_stmt(self, stmt: ast.With, scope: _Scope) -> bool:
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
            self.opaque(stmt, f"runs inside a context manager ({_unparse(ctx, 60)}) that cannot be judged")
            return True
        return self.block(stmt.body, inner)

    def for_stmt(self, stmt: ast.For, scope: _Scope) -> bool:
        values = _literal(stmt.iter, scope)
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
        self.opaque(stmt, f"loops over {_unparse(stmt.iter, 50)}; cannot be judged statically")
        return True

    def call_stmt(self, call: ast.Call, scope: _Scope) -> None:
        target = self.op_target(call.func, scope)
        if target is not None:
            kind = call.func.attr  # type: ignore[union-attr]
            if kind not in _RAW_OPS:
                impure = _impure_args(call, scope)
                if impure:
                    self.opaque(call, f"computes an argument of {_unparse(call.func, 40)} with {impure}")
                    return
            self.op_call(kind, call, scope, batch_table=target[1] if target[0] == "batch" else None,
                         is_batch=target[0] == "batch")
            return
        qual = _qualname(call.func, scope) or ""
        harmless = False
        if isinstance(call.func, ast.Name) and call.func.id in _HARMLESS_CALLS and not scope.lookup(call.func.id):
            harmless = True
        if isinstance(call.func, ast.Attribute) and call.func.attr in _HARMLESS_METHODS:
            base = _qualname(call.func.value, scope) or ""
            if re.search(r"(^|\.)(log|logger|logging|LOG|LOGGER|_log|_logger)$", base) or base == "logging":
                harmless = True
        if qual in {"warnings.warn"}:
            harmless = True
        if harmless:
            impure = _impure_args(call, scope)
            if impure:
                self.opaque(call, f"calls {impure} inside {_unparse(call.func, 30)}(); cannot be judged")
            return
        if isinstance(call.func, ast.Name) and call.func.id in self.module.functions and not scope.lookup(call.func.id):
            self.inline(call, scope)
            return
        self.opaque(call, self.describe_raw(call, scope))

    def inline(self, call: ast.Call, scope: _Scope) -> None:
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
        inner = _Scope(self.module)
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

    def op_call(self, kind: str, call: ast.Call, scope: _Scope, batch_table: str | None, is_batch: bool) -> None:
        label = ("batch_op." if is_batch else "op.") + kind
        if kind in _RAW_OPS:
            if kind == "execute":
                sql = _sql_snippet(call.args[0] if call.args else None, scope)
                self.opaque(call, f"runs raw SQL ({label}{sql})")
            else:
                self.opaque(call, _RAW_OPS[kind])
            return
        if kind == "f":
            return
        if kind == "batch_alter_table":
            self.opaque(call, "uses batch_alter_table outside a with block")
            return
        sigs = _BATCH_SIGS if is_batch else _SIGS
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
        op = _Op(kind=kind, fn=self.scan.fn, line=call.lineno, args=bound, kwargs=kwargs,
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
            op.name = _key(bound.get("column_name"), scope)
        elif kind == "add_column":
            op.column = _column_info(bound.get("column"), scope)
            if op.column is None:
                self.opaque(call, f"calls {label} with a column it cannot read ({_unparse(bound.get('column') or call, 50)})")
                return
            op.name = op.column.name
        elif kind in {"create_index", "drop_index"}:
            op.name = _key(bound.get("index_name"), scope)
        elif kind in _CONSTRAINT_CREATORS or kind == "drop_constraint":
            op.name = _key(bound.get("constraint_name"), scope)
        if kind in {"create_index", "create_unique_constraint", "create_primary_key"}:
            op.columns = _names(bound.get("columns"), scope)
        elif kind == "create_foreign_key":
            op.columns = _names(bound.get("local_cols"), scope)
        if kind == "create_table":
            op.args["columns"] = rest
        if kind == "bulk_insert" and op.table is None:
            self.opaque(call, f"bulk-inserts rows into a table it cannot identify ({_unparse(bound.get('table') or call, 40)})")
            return
        self.scan.ops.append(op)

    def bulk_table(self, expr: ast.AST | None, scope: _Scope) -> str | None:
        expr = _resolve(expr, scope)
        if isinstance(expr, ast.Call):
            last = _last(_qualname(expr.func, scope))
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


def _freeze(expr: ast.expr, scope: _Scope) -> ast.expr:
    """Resolve names of a caller's argument in the caller's scope."""
    resolved = _resolve(expr, scope)
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


def _impure_call(call: ast.Call, scope: _Scope, strict: bool, depth: int = 0) -> str | None:
    """Why a call may run SQL or ops (None when it only builds values).  ``strict``
    also distrusts application / third-party code (statement level)."""
    func = call.func
    if isinstance(func, ast.Attribute) and func.attr in _SIDE_EFFECT_ATTRS:
        return f"{_unparse(func, 40)}()"
    qual = _qualname(func, scope)
    if qual is None:
        if isinstance(func, ast.Attribute):
            return None  # a method of a value built here (sa.Integer().with_variant(...))
        return f"{_unparse(func, 40)}()"
    root = qual.split(".")[0]
    if root in {"alembic", "op", "context"} or (isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name)
                                                 and scope.batch(func.value.id) is not None):
        if _last(qual) in {"f", "inline_literal"}:
            return None
        return f"{qual}()"
    if isinstance(func, ast.Name) and func.id in scope.module.functions and scope.local_lookup(func.id) is None \
            and scope.alias(func.id) is None:
        fdef = scope.module.functions[func.id]
        if depth >= _MAX_INLINE_DEPTH:
            return f"{func.id}()"
        inner = _Scope(scope.module)
        for node in ast.walk(fdef):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                _record_import(node, inner.aliases)
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


def _impure_args(call: ast.Call, scope: _Scope) -> str | None:
    for arg in list(call.args) + [k.value for k in call.keywords]:
        for node in ast.walk(arg):
            if isinstance(node, ast.Call):
                why = _impure_call(node, scope, strict=False)
                if why:
                    return why
    return None


def _has_side_effect(expr: ast.AST, scope: _Scope) -> bool:
    """True when an assignment's value calls something beyond value constructors."""
    for node in ast.walk(expr):
        if isinstance(node, ast.Call) and _impure_call(node, scope, strict=True):
            return True
        if isinstance(node, (ast.Await, ast.Yield, ast.YieldFrom, ast.NamedExpr, ast.Lambda)):
            return True
    return False


def _table_key(expr: ast.AST | None, schema: ast.AST | None, scope: _Scope) -> str | None:
    name = _key(expr, scope)
    if name is None:
        return None
    schema_name = _key(schema, scope) if schema is not None else None
    return f"{schema_name}.{name}" if schema_name else name


def _names(expr: ast.AST | None, scope: _Scope) -> tuple[str, ...]:
    expr = _resolve(expr, scope)
    if isinstance(expr, (ast.List, ast.Tuple)):
        out = []
        for e in expr.elts:
            k = _key(e, scope)
            if k is not None:
                out.append(k)
        return tuple(out)
    return ()


def _sql_snippet(expr: ast.AST | None, scope: _Scope) -> str:
    if expr is None:
        return ""
    text = _str(expr, scope)
    if text is None and isinstance(_resolve(expr, scope), ast.Call):
        call = _resolve(expr, scope)
        if call.args:  # type: ignore[union-attr]
            text = _str(call.args[0], scope)  # type: ignore[union-attr]
    if text is None:
        return f": {_unparse(expr, 50)}"
    text = " ".join(text.split())
    if len(text) > 60:
        text = text[:59] + "…"
    return f': "{text}"'


# --------------------------------------------------------------------------------------
# Judging a revision: pair every upgrade op with its inverse in the downgrade
# --------------------------------------------------------------------------------------


class _Judge:
    """Pairs every upgrade op with its inverse in the downgrade.

    A forward simulation records, for every op, which tables and columns were created
    by the upgrade at that moment (and, during the downgrade, which ones the downgrade
    itself re-created): "does this drop destroy pre-existing data?" depends on when it
    runs (``create_table users_new; drop_table users; rename_table users_new users``
    does destroy the old rows)."""

    def __init__(self, up: _Scan, down: _Scan) -> None:
        self.up = up
        self.down = down
        self.findings: list[tuple[int, int, str]] = []  # (severity, line, text)
        self.matched: set[int] = set()  # ids of creator ops whose inverse was found
        # per op id: tables / columns created by the upgrade at that moment -> creator op
        self.ctx_tables: dict[int, dict[str, _Op]] = {}
        self.ctx_cols: dict[int, dict[tuple[str, str], _Op]] = {}
        # per downgrade op id: tables / columns the downgrade itself has re-created so far
        self.ctx_down_tables: dict[int, set[str]] = {}
        self.ctx_down_cols: dict[int, set[tuple[str, str]]] = {}

    def add(self, verdict: Verdict, line: int, text: str) -> None:
        self.findings.append((verdict.severity, line, text))

    # unmatched ops: irreversible when we understood every line of the other function,
    # opaque when raw SQL there might be doing the job
    def missing_inverse(self, op: _Op, text: str) -> None:
        self.add(Verdict.OPAQUE if self.down.opaque else Verdict.IRREVERSIBLE, op.line, text)

    def stray_down(self, op: _Op, text: str) -> None:
        self.add(Verdict.OPAQUE if self.up.opaque else Verdict.IRREVERSIBLE, 10**6 + op.line, text)

    # -- simulation ---------------------------------------------------------------

    def simulate(self) -> None:
        tables: dict[str, _Op] = {}
        cols: dict[tuple[str, str], _Op] = {}
        for op in self.up.ops:
            self.ctx_tables[id(op)] = dict(tables)
            self.ctx_cols[id(op)] = dict(cols)
            _apply(op, tables, cols, creating=True)
        # creators whose table / column still exists when the upgrade ends
        self.alive = {id(op) for op in tables.values()} | {id(op) for op in cols.values()}
        down_tables: dict[str, _Op] = {}
        down_cols: dict[tuple[str, str], _Op] = {}
        for op in self.down.ops:
            self.ctx_tables[id(op)] = dict(tables)
            self.ctx_cols[id(op)] = dict(cols)
            self.ctx_down_tables[id(op)] = set(down_tables)
            self.ctx_down_cols[id(op)] = set(down_cols)
            _apply(op, tables, cols, creating=False)
            # what the downgrade creates and drops again itself (a scratch table) cancels out
            if op.kind == "drop_table" and op.table in down_tables:
                down_tables.pop(op.table).consumed = True
                op.consumed = True
            elif op.kind == "drop_column" and (op.table, op.name) in down_cols:
                down_cols.pop((op.table, op.name)).consumed = True  # type: ignore[arg-type]
                op.consumed = True
            _apply(op, down_tables, down_cols, creating=True)

    def table_creator(self, op: _Op, table: str | None = None) -> _Op | None:
        table = op.table if table is None else table
        return self.ctx_tables[id(op)].get(table) if table is not None else None

    def column_creator(self, op: _Op, column: str | None = None) -> _Op | None:
        column = op.name if column is None else column
        if op.table is None or column is None:
            return None
        return self.ctx_cols[id(op)].get((op.table, column))

    def created(self, op: _Op) -> bool:
        """The table (or the column) ``op`` works on was created by the upgrade."""
        if self.table_creator(op) is not None:
            return True
        if op.kind in {"add_column", "drop_column", "alter_column"}:
            return self.column_creator(op) is not None
        return bool(op.columns) and any(self.column_creator(op, c) is not None for c in op.columns)

    def recreated_by_down(self, op: _Op) -> bool:
        """A downgrade op that belongs to re-creating a table/column the upgrade dropped."""
        tables = self.ctx_down_tables.get(id(op), set())
        cols = self.ctx_down_cols.get(id(op), set())
        if op.table in tables:
            return True
        if op.kind in {"alter_column", "drop_column"} and (op.table, op.name) in cols:
            return True
        return bool(op.columns) and all((op.table, c) in cols for c in op.columns)

    def find(self, pred) -> _Op | None:
        for op in self.down.ops:
            if not op.consumed and pred(op):
                return op
        return None

    # -- main ---------------------------------------------------------------------

    def run(self) -> list[tuple[int, int, str]]:
        up, down = self.up, self.down
        for line, text in up.opaque:
            self.add(Verdict.OPAQUE, line, text)
        if up.raises:
            self.add(Verdict.OPAQUE, 0, f"upgrade() {up.raises}")
        if up.missing:
            self.add(Verdict.OPAQUE, 0, "no upgrade() function: not a usable revision script")
        self.simulate()
        if down.missing:
            self.add(Verdict.IRREVERSIBLE, 0, "no downgrade() function: Alembic cannot step back over this revision")
            self.lossy_facts()
            return self.findings
        if down.raises and not down.ops and not down.opaque:
            self.add(Verdict.IRREVERSIBLE, 0, f"downgrade() {down.raises}")
            self.lossy_facts()
            return self.findings
        if down.raises:
            self.add(Verdict.IRREVERSIBLE, 0, f"downgrade() {down.raises} after its first steps")
        if down.empty and up.empty:
            self.add(Verdict.REVERSIBLE, 0, "no schema or data changes: nothing to undo")
            return self.findings
        for line, text in down.opaque:
            self.add(Verdict.OPAQUE, 10**6 + line, text)
        self.enum_checks()
        deferred: list[_Op] = []
        for op in reversed(up.ops):
            if not self.pair(op):
                deferred.append(op)
        for op in deferred:
            self.cover(op)
        self.stray_downgrade_ops()
        if down.empty and any(f[0] > 0 for f in self.findings):
            # an upgrade with a net effect and nothing to undo it: say so plainly
            summary = ", ".join(_op_label(op) for op in up.ops[:3])
            if len(up.ops) > 3:
                summary += f" and {len(up.ops) - 3} more"
            summary = f"does {summary}" if summary else "runs code"
            self.findings = [f for f in self.findings if f[0] == Verdict.OPAQUE.severity]
            self.add(Verdict.IRREVERSIBLE, 0,
                     f"downgrade() is empty (pass / docstring only) but the upgrade {summary}")
            self.lossy_facts()
        return self.findings

    def lossy_facts(self) -> None:
        """When the downgrade is unusable, still say what the upgrade destroys."""
        for op in self.up.ops:
            if op.kind == "drop_table" and not self.created(op):
                self.add(Verdict.LOSSY, op.line, f"upgrade drops table {op.table} and all its rows")
            elif op.kind == "drop_column" and not self.created(op):
                self.add(Verdict.LOSSY, op.line, f"upgrade drops column {op.table}.{op.name} and its data")

    def enum_checks(self) -> None:
        for scan in (self.up, self.down):
            for op in scan.ops:
                exprs: list[ast.AST] = []
                if op.kind == "create_table":
                    exprs = list(op.args.get("columns", []))
                elif op.kind == "add_column" and op.column is not None and op.column.type_expr is not None:
                    exprs = [op.column.type_expr]
                names: list[str] = []
                for e in exprs:
                    names.extend(_native_enums(e, op.scope))  # type: ignore[arg-type]
                for enum_name in dict.fromkeys(names):
                    what = f"table {op.table}" if op.kind == "create_table" else f"column {op.table}.{op.name}"
                    self.add(
                        Verdict.OPAQUE,
                        op.line if scan is self.up else 10**6 + op.line,
                        f"{scan.fn}() creates {what} with PostgreSQL enum type {enum_name}: the type "
                        "lives outside the table (drop_table / drop_column leave it behind), so whether "
                        "the schema comes back cannot be judged statically",
                    )

    # -- pairing --------------------------------------------------------------------

    def pair(self, op: _Op) -> bool:
        """Pair one upgrade op with its inverse. False: no explicit inverse found,
        decide after all explicit pairs are known (it may be covered by dropping a table
        or column that the upgrade created)."""
        handler = getattr(self, "pair_" + op.kind, None)
        if handler is None:  # pragma: no cover - every scanned kind has a handler
            self.add(Verdict.OPAQUE, op.line, f"upgrade() {_op_label(op)} cannot be judged")
            return True
        return handler(op)

    def pair_create_table(self, op: _Op) -> bool:
        if id(op) not in self.alive:
            return True  # dropped again by the upgrade itself
        inv = self.find(lambda d: d.kind == "drop_table" and self.table_creator(d) is op)
        if inv is None:
            self.missing_inverse(op, f"downgrade does not drop table {op.table} created by the upgrade")
            return True
        inv.consumed = True
        self.matched.add(id(op))
        if op.kw("if_not_exists") is True:
            self.add(Verdict.LOSSY, op.line,
                     f"upgrade creates table {op.table} only if it does not exist, yet the downgrade drops it: "
                     "rows of a table that already existed would be lost")
        else:
            self.add(Verdict.REVERSIBLE, op.line,
                     f"downgrade drops table {op.table} created by the upgrade; rows written to it are lost")
        return True

    def pair_drop_table(self, op: _Op) -> bool:
        if self.created(op):
            return True  # created and dropped again by the same upgrade
        inv = self.find(lambda d: d.kind == "create_table" and d.table == op.table)
        if inv is None:
            self.missing_inverse(op, f"upgrade drops table {op.table} with all its rows and the downgrade "
                                     "does not re-create it")
            return True
        inv.consumed = True
        self.add(Verdict.LOSSY, op.line,
                 f"upgrade drops table {op.table} with all its rows; the downgrade re-creates it empty")
        return True

    def pair_add_column(self, op: _Op) -> bool:
        if self.table_creator(op) is not None:
            return False  # goes with its table
        if id(op) not in self.alive:
            return True  # dropped again by the upgrade itself
        inv = self.find(lambda d: d.kind == "drop_column" and self.column_creator(d) is op)
        if inv is None:
            self.missing_inverse(op, f"downgrade does not drop column {op.table}.{op.name} added by the upgrade")
            return True
        inv.consumed = True
        self.matched.add(id(op))
        if op.kw("if_not_exists") is True:
            self.add(Verdict.LOSSY, op.line,
                     f"upgrade adds column {op.table}.{op.name} only if it does not exist, yet the downgrade "
                     "drops it: data of a column that already existed would be lost")
        else:
            self.add(Verdict.REVERSIBLE, op.line,
                     f"downgrade drops column {op.table}.{op.name} created by the upgrade, its data is lost")
        return True

    def pair_drop_column(self, op: _Op) -> bool:
        if self.created(op):
            return True
        inv = self.find(lambda d: d.kind == "add_column" and d.table == op.table and d.name == op.name)
        if inv is None:
            self.missing_inverse(op, f"upgrade drops column {op.table}.{op.name} with its data and the downgrade "
                                     "does not re-add it")
            return True
        inv.consumed = True
        col = inv.column
        self.add(Verdict.LOSSY, op.line,
                 f"upgrade drops column {op.table}.{op.name} and its data; the downgrade re-adds it "
                 + ("with only its server default" if col and col.has_server_default else "empty"))
        if col is not None and not col.nullable and not col.has_server_default and not self.recreated_by_down(inv):
            self.add(Verdict.IRREVERSIBLE, inv.line + 10**6,
                     f"downgrade re-adds {op.table}.{op.name} as NOT NULL without a server default: "
                     f"it fails as soon as {op.table} has rows")
        return True

    def pair_rename_table(self, op: _Op) -> bool:
        inv = self.find(lambda d: d.kind == "rename_table" and d.table == op.name and d.name == op.table)
        if inv is not None:
            inv.consumed = True
        if self.created(op):
            return True
        if inv is None:
            self.missing_inverse(op, f"downgrade does not rename table {op.name} back to {op.table}")
            return True
        self.add(Verdict.REVERSIBLE, op.line, f"downgrade renames table {op.name} back to {op.table}")
        return True

    def pair_create_index(self, op: _Op) -> bool:
        if op.name is None:
            inv = self.find(lambda d: d.kind == "drop_index" and d.name is None)
            if inv is not None:
                inv.consumed = True
            self.add(Verdict.OPAQUE, op.line,
                     f"upgrade creates an index without a name on {op.table}: whether the downgrade can drop it "
                     "depends on the naming convention")
            return True
        inv = self.find(lambda d: d.kind == "drop_index" and d.name == op.name
                        and (d.table is None or d.table == op.table or self.table_creator(d) is not None))
        if inv is None:
            return False
        inv.consumed = True
        if not self.created(op):
            unique = " unique" if op.kw("unique") is True else ""
            self.add(Verdict.REVERSIBLE, op.line,
                     f"downgrade drops{unique} index {op.name} on {op.table} created by the upgrade")
        return True

    def pair_drop_index(self, op: _Op) -> bool:
        if self.created(op):
            return True
        inv = self.find(lambda d: d.kind == "create_index" and d.name == op.name
                        and (op.table is None or d.table == op.table))
        if inv is None:
            self.missing_inverse(op, f"downgrade does not re-create index {op.name}"
                                 + (f" on {op.table}" if op.table else "") + " dropped by the upgrade")
            return True
        inv.consumed = True
        table = op.table or inv.table
        if inv.kw("unique") is True and not self.recreated_by_down(inv):
            self.add(Verdict.LOSSY, op.line,
                     f"downgrade re-creates unique index {op.name} on {table}: it fails if duplicate values "
                     "were written since the upgrade (they would have to be changed or deleted first)")
        else:
            self.add(Verdict.REVERSIBLE, op.line, f"downgrade re-creates index {op.name} on {table}")
        return True

    def _pair_constraint_creator(self, op: _Op) -> bool:
        kind = _CONSTRAINT_CREATORS[op.kind]
        if op.name is None:
            inv = self.find(lambda d: d.kind == "drop_constraint" and d.name is None and d.table == op.table)
            if inv is not None:
                inv.consumed = True
            elif self.created(op):
                return False
            self.add(Verdict.OPAQUE, op.line,
                     f"upgrade creates a {kind} constraint without a name on {op.table}: whether the downgrade "
                     "can drop it depends on the naming convention in env.py")
            return True
        inv = self.find(lambda d: d.kind == "drop_constraint" and d.name == op.name
                        and (d.table == op.table or self.table_creator(d) is not None))
        if inv is None:
            return False
        inv.consumed = True
        if not self.created(op):
            self.add(Verdict.REVERSIBLE, op.line,
                     f"downgrade drops {kind} constraint {op.name} on {op.table} created by the upgrade")
        return True

    pair_create_unique_constraint = _pair_constraint_creator
    pair_create_check_constraint = _pair_constraint_creator
    pair_create_foreign_key = _pair_constraint_creator
    pair_create_primary_key = _pair_constraint_creator
    pair_create_exclude_constraint = _pair_constraint_creator

    def pair_drop_constraint(self, op: _Op) -> bool:
        if self.created(op):
            return True
        type_ = op.args.get("type_", op.kwargs.get("type_"))
        kind_hint = _str(type_, op.scope) if type_ is not None else None  # type: ignore[arg-type]
        label = f"{kind_hint} constraint" if kind_hint else "constraint"
        if op.name is None:
            self.add(Verdict.OPAQUE, op.line,
                     f"upgrade drops a {label} without a name on {op.table}: cannot tell which one")
            return True
        inv = self.find(lambda d: (d.kind in _CONSTRAINT_CREATORS or (d.kind == "create_index" and d.kw("unique") is True))
                        and d.name == op.name and d.table == op.table)
        if inv is None:
            self.missing_inverse(op, f"downgrade does not re-create {label} {op.name} dropped from {op.table} "
                                     "by the upgrade")
            return True
        inv.consumed = True
        kind = _CONSTRAINT_CREATORS.get(inv.kind, "unique")
        if self.recreated_by_down(inv):
            self.add(Verdict.REVERSIBLE, op.line, f"downgrade re-creates {kind} constraint {op.name} on {op.table}")
        else:
            self.add(Verdict.LOSSY, op.line,
                     f"downgrade re-creates {kind} constraint {op.name} on {op.table}: it fails if rows written "
                     "since the upgrade violate it (they would have to be changed or deleted first)")
        return True

    def pair_create_table_comment(self, op: _Op) -> bool:
        if self.created(op):
            return True
        inv = self.find(lambda d: d.kind in {"create_table_comment", "drop_table_comment"} and d.table == op.table)
        if inv is None:
            self.missing_inverse(op, f"downgrade does not restore the comment of table {op.table}")
            return True
        inv.consumed = True
        self.add(Verdict.REVERSIBLE, op.line, f"downgrade restores the comment of table {op.table}")
        return True

    pair_drop_table_comment = pair_create_table_comment

    def pair_bulk_insert(self, op: _Op) -> bool:
        if self.created(op):
            return False  # fine if the table itself goes away; decided in cover()
        rows = op.args.get("rows")
        n = len(rows.elts) if isinstance(rows, (ast.List, ast.Tuple)) else None
        what = f"{n} row{'s' if n != 1 else ''}" if n is not None else "rows"
        if self.down.opaque:
            self.add(Verdict.OPAQUE, op.line,
                     f"upgrade inserts {what} into existing table {op.table}; whether the downgrade's raw SQL "
                     "deletes exactly those cannot be judged")
        else:
            self.add(Verdict.IRREVERSIBLE, op.line,
                     f"upgrade inserts {what} into existing table {op.table} and the downgrade does not delete them")
        return True

    def pair_alter_column(self, op: _Op) -> bool:
        scope = op.scope
        changes = op.changes()
        new_name = _str(changes["new_column_name"], scope) if "new_column_name" in changes else None  # type: ignore[arg-type]
        after = new_name or op.name
        names = {after, op.name}
        if self.created(op):
            for d in self.down.ops:
                if d.kind == "alter_column" and d.table == op.table and d.name in names:
                    d.used.update(d.changes())
            return True
        col = f"{op.table}.{op.name}"

        def candidates(aspect: str) -> list[_Op]:
            return [d for d in self.down.ops
                    if d.kind == "alter_column" and d.table == op.table and d.name in names
                    and aspect in d.changes() and aspect not in d.used]

        for key in op.kwargs:
            if key not in _ALTER_KNOWN and not re.match(r"^(postgresql|mysql|mssql|oracle|sqlite)_", key):
                self.add(Verdict.OPAQUE, op.line, f"upgrade alters {col} with argument {key}, which cannot be judged")

        if "new_column_name" in changes:
            inv = next((d for d in candidates("new_column_name")
                        if d.name == after and _str(d.kwargs["new_column_name"], d.scope) == op.name), None)
            if inv is None:
                self.missing_inverse(op, f"downgrade does not rename column {op.table}.{after} back to {op.name}")
            else:
                inv.used.add("new_column_name")
                self.add(Verdict.REVERSIBLE, op.line, f"downgrade renames column {op.table}.{after} back to {op.name}")

        if "type_" in changes:
            self.judge_type(op, col, candidates("type_"))

        if "nullable" in changes:
            value = _literal(changes["nullable"], scope)
            existing = op.kw("existing_nullable")
            if value not in (True, False):
                self.add(Verdict.OPAQUE, op.line, f"upgrade sets nullability of {col} to a value it cannot read")
            elif existing is value:
                for d in candidates("nullable"):
                    if d.kw("nullable") is value:
                        d.used.add("nullable")  # a no-op echoed by the downgrade
            else:
                inv = next((d for d in candidates("nullable") if d.kw("nullable") is (not value)), None)
                if inv is None:
                    self.missing_inverse(op, f"upgrade makes {col} " + ("NOT NULL" if value is False else "nullable")
                                         + " and the downgrade does not make it "
                                         + ("nullable again" if value is False else "NOT NULL again"))
                else:
                    inv.used.add("nullable")
                    if value is False:
                        self.add(Verdict.REVERSIBLE, op.line,
                                 f"upgrade sets {col} NOT NULL; the downgrade makes it nullable again")
                    else:
                        self.add(Verdict.LOSSY, op.line,
                                 f"downgrade sets {col} NOT NULL again: it fails if NULLs were written since the "
                                 "upgrade (they would have to be filled or deleted first)")

        for aspect, label in (("server_default", "server default"), ("comment", "comment")):
            if aspect in changes:
                inv = next(iter(candidates(aspect)), None)
                if inv is None:
                    self.missing_inverse(op, f"downgrade does not restore the {label} of {col}")
                else:
                    inv.used.add(aspect)
                    self.add(Verdict.REVERSIBLE, op.line, f"downgrade restores the {label} of {col}")
        return True

    def judge_type(self, op: _Op, col: str, candidates: list[_Op]) -> None:
        scope = op.scope
        new_expr = op.kwargs["type_"]
        new = _type_info(new_expr, scope)  # type: ignore[arg-type]
        existing_given = "existing_type" in op.kwargs and not (
            isinstance(op.kwargs["existing_type"], ast.Constant) and op.kwargs["existing_type"].value is None)
        old = _type_info(op.kwargs["existing_type"], scope) if existing_given else None  # type: ignore[arg-type]
        inv = candidates[0] if candidates else None
        down_t = _type_info(inv.kwargs["type_"], inv.scope) if inv is not None else None  # type: ignore[arg-type]
        if inv is not None:
            inv.used.add("type_")
        if old is None and down_t is not None:
            old = down_t  # the type the downgrade goes back to is the best guess of the original
        old_text = old.text if old else "its previous type"
        new_text = new.text if new else _unparse(new_expr, 60)
        if any(t is not None and t.native_enum for t in (old, new, down_t)):
            self.add(Verdict.OPAQUE, op.line,
                     f"upgrade changes {col} from {old_text} to {new_text}: PostgreSQL enum types change through "
                     "ALTER TYPE / raw SQL, which cannot be judged statically")
            return
        if inv is not None and existing_given:
            back = _compare_types(old, down_t)
            if back == "unknown":
                self.add(Verdict.OPAQUE, op.line,
                         f"cannot tell whether the downgrade's type for {col} ({down_t.text if down_t else '?'}) "
                         f"is its original type {old_text}")
            elif back != "same":
                self.add(Verdict.IRREVERSIBLE, op.line,
                         f"downgrade sets {col} to {down_t.text if down_t else '?'}, not its original type {old_text}")
        verdict = _compare_types(old, new)
        if verdict == "same":
            return
        if inv is None:
            self.missing_inverse(op, f"upgrade changes the type of {col} from {old_text} to {new_text} and the "
                                     "downgrade does not change it back")
        if verdict == "widen":
            self.add(Verdict.LOSSY, op.line,
                     f"downgrade narrows {col} from {new_text} back to {old_text}: values written since the upgrade "
                     "that do not fit make it fail or are cut")
        elif verdict == "narrow":
            self.add(Verdict.LOSSY, op.line,
                     f"upgrade narrows {col} from {old_text} to {new_text}: existing values that do not fit are cut "
                     "or rejected, and the downgrade cannot bring them back")
        elif verdict == "change":
            self.add(Verdict.LOSSY, op.line,
                     f"upgrade converts {col} from {old_text} to {new_text}: converting back is not guaranteed to "
                     "give the same values")
        else:
            self.add(Verdict.LOSSY, op.line,
                     f"upgrade changes the type of {col} from {old_text} to {new_text}; whether values survive the "
                     "round trip cannot be told")
        if "postgresql_using" in op.kwargs:
            self.add(Verdict.LOSSY, op.line,
                     f"upgrade rewrites the values of {col} (postgresql_using={_unparse(op.kwargs['postgresql_using'], 40)})")

    # -- covered / leftovers ------------------------------------------------------

    def cover(self, op: _Op) -> None:
        """An upgrade op without an explicit inverse: fine when it lives on a table or
        column the upgrade created and the downgrade drops again."""
        creator = self.table_creator(op)
        if creator is not None:
            if id(creator) in self.matched and op.kind == "bulk_insert":
                self.add(Verdict.REVERSIBLE, op.line, f"rows the upgrade inserts into {op.table} go away with the table")
            return  # covered by the drop of the table, or its missing drop is reported already
        adders = [self.column_creator(op, c) for c in op.columns]
        adders = [a for a in adders if a is not None]
        if adders:
            return  # covered by the drop of the column(s), or the missing drop is reported already
        if op.kind == "create_index":
            self.missing_inverse(op, f"downgrade does not drop index {op.name} created on {op.table} by the upgrade")
        elif op.kind in _CONSTRAINT_CREATORS:
            self.missing_inverse(op, f"downgrade does not drop {_CONSTRAINT_CREATORS[op.kind]} constraint "
                                     f"{op.name} created on {op.table} by the upgrade")
        else:
            self.missing_inverse(op, f"downgrade does not undo {_op_label(op)}")

    def stray_downgrade_ops(self) -> None:
        for d in self.down.ops:
            if d.kind == "alter_column":
                left = [a for a in d.changes() if a not in d.used]
                if not left or self.created(d) or self.recreated_by_down(d):
                    continue
                self.stray_down(d, f"downgrade changes {', '.join(left)} of {d.table}.{d.name}, which the upgrade "
                                   "did not change")
                continue
            if d.consumed:
                continue
            if self.created(d):
                continue  # cleanup of a table / column the upgrade created, before dropping it
            if d.kind in {"drop_index", "drop_constraint"}:
                implicit = [c for (t, c), adder in self.ctx_cols[id(d)].items()
                            if (d.table is None or t == d.table) and adder.column and adder.column.implicit]
                if implicit and (d.name is None or any(c in d.name for c in implicit)):
                    continue  # created implicitly by add_column(Column(..., index=True / unique=True / ForeignKey))
                if d.table is None and any(
                    u.kind == "create_index" and u.name == d.name and self.created(u) for u in self.up.ops
                ):
                    continue
            if self.recreated_by_down(d) and d.kind not in {"drop_table", "drop_column", "rename_table"}:
                continue  # part of re-creating what the upgrade dropped
            if d.kind in {"drop_table", "drop_column"}:
                target = d.table if d.kind == "drop_table" else f"{d.table}.{d.name}"
                self.stray_down(d, f"downgrade drops {target}, which the upgrade did not create: "
                                   "data that existed before the upgrade is lost")
            else:
                self.stray_down(d, f"downgrade runs {_op_label(d)}, which undoes nothing the upgrade did: "
                                   "the schema does not come back as it was")


def _apply(op: _Op, tables: dict[str, _Op], cols: dict[tuple[str, str], _Op], creating: bool) -> None:
    """Track which tables / columns exist because the upgrade created them."""
    if op.kind == "create_table" and op.table:
        if creating:
            tables[op.table] = op
    elif op.kind == "drop_table" and op.table:
        tables.pop(op.table, None)
        for key in [k for k in cols if k[0] == op.table]:
            del cols[key]
    elif op.kind == "rename_table" and op.table and op.name:
        if op.table in tables:
            tables[op.name] = tables.pop(op.table)
        for key in [k for k in cols if k[0] == op.table]:
            cols[(op.name, key[1])] = cols.pop(key)
    elif op.kind == "add_column" and op.table and op.name:
        if creating and op.table not in tables:
            cols[(op.table, op.name)] = op
    elif op.kind == "drop_column" and op.table and op.name:
        cols.pop((op.table, op.name), None)
    elif op.kind == "alter_column" and op.table and op.name and "new_column_name" in op.kwargs:
        new = _str(op.kwargs["new_column_name"], op.scope)  # type: ignore[arg-type]
        if new and (op.table, op.name) in cols:
            cols[(op.table, new)] = cols.pop((op.table, op.name))


def _op_label(op: _Op) -> str:
    if op.kind in {"add_column", "drop_column", "alter_column"}:
        return f"{op.kind} {op.table}.{op.name}"
    if op.kind == "rename_table":
        return f"rename_table {op.table} -> {op.name}"
    if op.kind in {"create_table", "drop_table", "bulk_insert", "create_table_comment", "drop_table_comment"}:
        return f"{op.kind} {op.table}"
    target = f" on {op.table}" if op.table else ""
    return f"{op.kind} {op.name}{target}"


# --------------------------------------------------------------------------------------
# One script
# --------------------------------------------------------------------------------------

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
    return _UNKNOWN


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
            down_revision=None if down is _UNKNOWN else down,  # type: ignore[arg-type]
            verdict=Verdict.OPAQUE,
            reasons=[f"cannot parse {os.path.basename(filename)}: {type(exc).__name__}: {msg}{where}"],
            path=filename,
            depends_on=_clean_ref(header.get("depends_on")),
            branch_labels=_clean_ref(header.get("branch_labels")),
        )
    module = _Module(tree)
    findings: list[tuple[int, int, str]] = []
    scope = _Scope(module)

    def header(name: str) -> Any:
        if name not in module.vars:
            return None
        value = _literal(module.vars[name], scope)
        norm = _norm_ref(value)
        if norm is _UNKNOWN:
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

    up = _Scanner(module, "upgrade").run(_find_function(tree, "upgrade"))
    down = _Scanner(module, "downgrade").run(_find_function(tree, "downgrade"))
    findings.extend(_Judge(up, down).run())
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
    return None if norm is _UNKNOWN else norm  # type: ignore[return-value]


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


# --------------------------------------------------------------------------------------
# A versions folder
# --------------------------------------------------------------------------------------

# the file names Alembic loads: *.py, not __init__.py, not Emacs lock files
_SOURCE_FILE = re.compile(r"(?!\.\#|__init__)(.*\.py)$")


def _script_files(directory: str, recursive: bool) -> list[str]:
    files: list[str] = []
    if recursive:
        for root, dirs, names in os.walk(directory):
            dirs[:] = sorted(d for d in dirs if d != "__pycache__" and not d.startswith("."))
            files.extend(os.path.join(root, n) for n in sorted(names) if _SOURCE_FILE.match(n))
    else:
        files = [os.path.join(directory, n) for n in sorted(os.listdir(directory))
                 if _SOURCE_FILE.match(n) and os.path.isfile(os.path.join(directory, n))]
    return files


def analyze_dir(path: str | os.PathLike[str], *, recursive: bool = False) -> list[RevisionAnalysis]:
    """Analyse every revision script in an Alembic versions folder, base first.

    Raises AnalysisError when the folder is missing or unreadable, when two scripts
    claim the same revision id, or when the revision graph has a cycle. A script that
    does not parse is reported as ``opaque`` with the syntax error as its reason.
    """
    directory = os.fspath(path)
    if not os.path.exists(directory):
        raise AnalysisError(f"migrations directory not found: {directory}")
    if not os.path.isdir(directory):
        raise AnalysisError(f"not a directory: {directory}")
    try:
        files = _script_files(directory, recursive)
    except OSError as exc:
        raise AnalysisError(f"cannot read migrations directory {directory}: {exc.strerror or exc}") from exc
    analyses = [analyze_file(f) for f in files]
    return topological_order(analyses)


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
        for label in _as_tuple(a.branch_labels):
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


# --------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------


def _format_ref(value: str | tuple[str, ...] | None) -> str:
    if value is None:
        return "-"
    if isinstance(value, str):
        return value
    return "(" + ", ".join(value) + ")"


def format_table(analyses: Sequence[RevisionAnalysis]) -> str:
    """Human-readable table: one row per revision, reasons indented below it."""
    rows = [(a.revision, _format_ref(a.down_revision), a.verdict.value) for a in analyses]
    w_rev = max([len("REVISION")] + [len(r[0]) for r in rows])
    w_down = max([len("DOWN_REVISION")] + [len(r[1]) for r in rows])
    lines = [f"{'REVISION':<{w_rev}}  {'DOWN_REVISION':<{w_down}}  VERDICT"]
    for a, (rev, down, verdict) in zip(analyses, rows):
        lines.append(f"{rev:<{w_rev}}  {down:<{w_down}}  {verdict}")
        for reason in a.reasons:
            lines.append(f"    - {reason}")
    counts: dict[str, int] = {}
    for a in analyses:
        counts[a.verdict.value] = counts.get(a.verdict.value, 0) + 1
    summary = ", ".join(f"{counts[v.value]} {v.value}" for v in Verdict if v.value in counts)
    lines.append(f"{len(analyses)} revision{'s' if len(analyses) != 1 else ''}" + (f": {summary}" if summary else ""))
    return "\n".join(lines) + "\n"


def run_cli(directory: str, as_json: bool, out: TextIO | None = None, *, recursive: bool = False,
            err: TextIO | None = None) -> int:
    """``migrations analyze``: 0 on success, 2 (message on stderr) when the folder cannot
    be analysed."""
    out = out if out is not None else sys.stdout
    err = err if err is not None else sys.stderr
    try:
        analyses = analyze_dir(directory, recursive=recursive)
    except AnalysisError as exc:
        print(f"migrations analyze: error: {exc}", file=err)
        return 2
    if as_json:
        json.dump([a.to_json() for a in analyses], out, indent=2)
        out.write("\n")
    else:
        out.write(format_table(analyses))
    return 0


def add_arguments(parser: Any) -> None:
    """Arguments of ``migrations analyze`` (shared with bot.cli)."""
    parser.add_argument("directory", metavar="DIR", help="an Alembic versions folder (…/migrations/versions)")
    parser.add_argument("--json", action="store_true", dest="as_json",
                        help='print a JSON list of {"revision", "down_revision", "verdict", "reasons"}')
    parser.add_argument("--recursive", action="store_true",
                        help="also read subfolders (Alembic's recursive_version_locations)")


def main(argv: Sequence[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(
        prog="python -m bot.analysis",
        description="Judge whether each Alembic revision can be downgraded safely, by reading the scripts "
                    "with ast (never importing them). Verdicts: reversible, lossy, opaque, irreversible.",
    )
    add_arguments(parser)
    args = parser.parse_args(argv)
    return run_cli(args.directory, args.as_json, sys.stdout, recursive=args.recursive)

