"""The Alembic operations the analyser knows, and one op call found in ``upgrade()`` /
``downgrade()``.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field

from bot.analysis.columns import ColumnInfo
from bot.analysis.expressions import UNKNOWN, Scope, literal

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only: importing typing costs start-up time
    from typing import Any


# --------------------------------------------------------------------------------------
# Op signatures (alembic.operations.Operations / BatchOperations, Alembic 1.13 - 1.20)
# --------------------------------------------------------------------------------------

# name -> (positional parameter names, name of *varargs or None)
OP_SIGNATURES: dict[str, tuple[tuple[str, ...], str | None]] = {
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

BATCH_OP_SIGNATURES: dict[str, tuple[tuple[str, ...], str | None]] = {
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

CONSTRAINT_CREATORS = {
    "create_unique_constraint": "unique",
    "create_check_constraint": "check",
    "create_foreign_key": "foreign key",
    "create_primary_key": "primary key",
    "create_exclude_constraint": "exclude",
}

# op.* calls that run SQL or touch the connection: never judged
RAW_OPS = {
    "execute": "runs raw SQL",
    "get_bind": "uses the database connection (op.get_bind())",
    "get_context": "uses the migration context (op.get_context())",
    "run_async": "runs arbitrary async code (op.run_async)",
    "invoke": "invokes a custom operation object (op.invoke)",
    "inline_literal": "builds raw SQL values (op.inline_literal)",
    "implementation_for": "registers a custom operation",
    "register_operation": "registers a custom operation",
}

ALTER_CHANGES = ("new_column_name", "type_", "nullable", "server_default", "comment")
ALTER_KNOWN = set(ALTER_CHANGES) | {
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


@dataclass
class Op:
    kind: str
    fn: str  # "upgrade" / "downgrade"
    line: int
    table: str | None = None
    name: str | None = None  # column / index / constraint name
    args: dict[str, Any] = field(default_factory=dict)
    kwargs: dict[str, ast.expr] = field(default_factory=dict)
    column: ColumnInfo | None = None
    columns: tuple[str, ...] = ()
    scope: Scope | None = None
    batch: bool = False
    consumed: bool = False
    used: set[str] = field(default_factory=set)  # alter_column aspects already paired

    def kw(self, name: str) -> Any:
        if name not in self.kwargs:
            return UNKNOWN
        return literal(self.kwargs[name], self.scope)  # type: ignore[arg-type]

    def changes(self) -> dict[str, ast.expr]:
        return {k: v for k, v in self.kwargs.items() if k in ALTER_CHANGES and not (
            k in ("nullable", "type_", "new_column_name")
            and isinstance(v, ast.Constant) and v.value is None
        )}


@dataclass
class Scan:
    fn: str
    missing: bool = False
    ops: list[Op] = field(default_factory=list)
    opaque: list[tuple[int, str]] = field(default_factory=list)
    raises: str | None = None

    @property
    def empty(self) -> bool:
        return not self.ops and not self.opaque and self.raises is None

