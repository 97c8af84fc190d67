"""Columns and their types, read from SQLAlchemy expressions: ``Column(...)`` definitions, column
types, how a type change compares (same, widen, narrow, change) and the PostgreSQL enum types
that creating something would create.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass

from bot.analysis.expressions import (
    UNKNOWN,
    Scope,
    is_sqlalchemy,
    last_part,
    literal,
    qualname,
    resolve,
    str_value,
    unparse,
)

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only: importing typing costs start-up time
    from typing import Any


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
class TypeInfo:
    family: str  # string, char, int, numeric, float, enum, named, unknown
    a: Any = None
    b: Any = None
    native_enum: bool = False
    creates_type: bool = False
    enum_name: str | None = None
    text: str = ""


def type_info(expr: ast.AST | None, scope: Scope, depth: int = 0) -> TypeInfo | None:
    if expr is None or depth > 8:
        return None
    display = unparse(expr, 60)
    resolved = resolve(expr, scope)
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
            dialects = [literal(a, scope) for a in expr.args[1:]]
            dialects += [literal(k.value, scope) for k in expr.keywords if k.arg == "dialect_names"]
            flat: list[Any] = []
            for d in dialects:
                flat.extend(d if isinstance(d, (list, tuple)) else [d])
            if "postgresql" in flat and expr.args:
                return type_info(expr.args[0], scope, depth + 1)
            return type_info(callee.value, scope, depth + 1)
    qual = qualname(callee, scope)
    name = last_part(qual)
    if not is_sqlalchemy(qual) or not name:
        return TypeInfo("unknown", text=display, a=unparse(expr, 400))

    def arg(pos: int, kw: str) -> Any:
        if call is None:
            return None
        for k in call.keywords:
            if k.arg == kw:
                return literal(k.value, scope)
        if len(call.args) > pos:
            return literal(call.args[pos], scope)
        return None

    def kwarg(kw: str, default: Any = None) -> Any:
        if call is None:
            return default
        for k in call.keywords:
            if k.arg == kw:
                return literal(k.value, scope)
        return default

    if name in _STR_TYPES or name in _TEXT_TYPES:
        length = arg(0, "length") if name in _STR_TYPES else None
        collation = arg(1 if name in _STR_TYPES else 0, "collation")
        if length is UNKNOWN or collation is UNKNOWN:
            return TypeInfo("unknown", text=display, a=unparse(expr, 400))
        return TypeInfo("string", length, collation, text=display)
    if name in _CHAR_TYPES:
        length = arg(0, "length")
        if length is UNKNOWN:
            return TypeInfo("unknown", text=display, a=unparse(expr, 400))
        return TypeInfo("char", length or 1, text=display)
    if name in _INT_TYPES:
        return TypeInfo("int", _INT_TYPES[name], text=display)
    if name in _NUMERIC_TYPES:
        precision, scale = arg(0, "precision"), arg(1, "scale")
        if precision is UNKNOWN or scale is UNKNOWN:
            return TypeInfo("unknown", text=display, a=unparse(expr, 400))
        if precision is not None and scale is None:
            scale = 0
        return TypeInfo("numeric", precision, scale, text=display)
    if name in _FLOAT_TYPES or name in _REAL_TYPES or name in _DOUBLE_TYPES:
        if name in _REAL_TYPES:
            bits = 24
        elif name in _DOUBLE_TYPES:
            bits = 53
        else:
            precision = arg(0, "precision")
            if precision is UNKNOWN:
                return TypeInfo("unknown", text=display, a=unparse(expr, 400))
            bits = 24 if isinstance(precision, int) and precision <= 24 else 53
        return TypeInfo("float", bits, text=display)
    if name in _ENUM_TYPES:
        values: Any = []
        if call is not None:
            for a in call.args:
                v = literal(a, scope)
                if not isinstance(v, str):
                    values = None  # a Python enum class or computed values
                    break
                values.append(v)
            for k in call.keywords:
                if k.arg == "values":
                    v = literal(k.value, scope)
                    values = list(v) if isinstance(v, (list, tuple)) else None
        native = kwarg("native_enum", True) is not False
        creates = native and kwarg("create_type", True) is not False
        enum_name = str_value(next((k.value for k in call.keywords if k.arg == "name"), None), scope) if call else None
        return TypeInfo(
            "enum",
            frozenset(values) if values is not None else None,
            native_enum=native,
            creates_type=creates,
            enum_name=enum_name,
            text=display,
        )
    if name == "ARRAY" and call is not None and call.args:
        item = type_info(call.args[0], scope, depth + 1)
        return TypeInfo(
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
        params = (unparse(call, 400).split("(", 1)[1],)
    return TypeInfo("named", canonical, params, text=display)


def compare_types(old: TypeInfo | None, new: TypeInfo | None) -> str:
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


def native_enums(expr: ast.AST | None, scope: Scope, depth: int = 0) -> list[str]:
    """Names of PostgreSQL enum types that creating ``expr`` (a Column, a create_table
    call ...) would create."""
    found: list[str] = []
    if expr is None or depth > 6:
        return found
    for node in ast.walk(expr):
        target: ast.AST | None = None
        if isinstance(node, ast.Call):
            qual = last_part(qualname(node.func, scope))
            if qual in _ENUM_TYPES:
                target = node
        elif isinstance(node, ast.Name) and isinstance(scope.lookup(node.id), ast.Call):
            bound = scope.lookup(node.id)
            if last_part(qualname(bound.func, scope)) in _ENUM_TYPES:  # type: ignore[union-attr]
                target = node
            elif depth < 6:
                found.extend(native_enums(bound, scope, depth + 1))
        if target is not None:
            info = type_info(target, scope)
            if info is not None and info.creates_type:
                found.append(info.enum_name or "<unnamed>")
    return found


# --------------------------------------------------------------------------------------
# Columns
# --------------------------------------------------------------------------------------


@dataclass
class ColumnInfo:
    name: str | None
    type: TypeInfo | None
    type_expr: ast.AST | None
    nullable: bool
    has_server_default: bool
    implicit: bool  # index=True / unique=True / ForeignKey: creates more objects


_NOT_TYPES = {"ForeignKey", "Sequence", "Identity", "Computed", "CheckConstraint",
              "FetchedValue", "DefaultClause"}


def column_info(expr: ast.AST | None, scope: Scope) -> ColumnInfo | None:
    expr = resolve(expr, scope)
    if not isinstance(expr, ast.Call) or last_part(qualname(expr.func, scope)) != "Column":
        return None
    name: str | None = None
    type_expr: ast.AST | None = None
    implicit = False
    args = list(expr.args)
    if args and str_value(args[0], scope) is not None:
        name = str_value(args.pop(0), scope)
    for a in args:
        qual = last_part(qualname(a.func if isinstance(a, ast.Call) else a, scope))
        if qual in _NOT_TYPES:
            implicit = implicit or qual == "ForeignKey"
            continue
        if type_expr is None:
            type_expr = a
    kws = {k.arg: k.value for k in expr.keywords if k.arg}
    if "name" in kws and name is None:
        name = str_value(kws["name"], scope)
    if "type_" in kws:
        type_expr = kws["type_"]
    primary_key = literal(kws.get("primary_key"), scope) is True
    nullable_value = literal(kws.get("nullable"), scope) if "nullable" in kws else None
    nullable = (not primary_key) if nullable_value in (None, UNKNOWN) else bool(nullable_value)
    for flag in ("index", "unique"):
        if literal(kws.get(flag), scope) is True:
            implicit = True
    has_default = "server_default" in kws and not (
        isinstance(kws["server_default"], ast.Constant) and kws["server_default"].value is None
    )
    return ColumnInfo(name, type_info(type_expr, scope), type_expr, nullable, has_default, implicit)

