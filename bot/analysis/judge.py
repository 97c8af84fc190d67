"""Judging a revision: pair every upgrade op with its inverse in the downgrade.

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

"""

from __future__ import annotations

import ast
import re

from bot.analysis.columns import compare_types, native_enums, type_info
from bot.analysis.expressions import literal, str_value, unparse
from bot.analysis.model import Verdict
from bot.analysis.ops import ALTER_KNOWN, CONSTRAINT_CREATORS, Op, Scan


class Judge:
    """Pairs every upgrade op with its inverse in the downgrade.

    A forward simulation records, for every op, which tables and columns were created
    by the upgrade at that moment (and, during the downgrade, which ones the downgrade
    itself re-created): "does this drop destroy pre-existing data?" depends on when it
    runs (``create_table users_new; drop_table users; rename_table users_new users``
    does destroy the old rows)."""

    def __init__(self, up: Scan, down: Scan) -> None:
        self.up = up
        self.down = down
        self.findings: list[tuple[int, int, str]] = []  # (severity, line, text)
        self.matched: set[int] = set()  # ids of creator ops whose inverse was found
        # per op id: tables / columns created by the upgrade at that moment -> creator op
        self.ctx_tables: dict[int, dict[str, Op]] = {}
        self.ctx_cols: dict[int, dict[tuple[str, str], Op]] = {}
        # per downgrade op id: tables / columns the downgrade itself has re-created so far
        self.ctx_down_tables: dict[int, set[str]] = {}
        self.ctx_down_cols: dict[int, set[tuple[str, str]]] = {}

    def add(self, verdict: Verdict, line: int, text: str) -> None:
        self.findings.append((verdict.severity, line, text))

    # unmatched ops: irreversible when we understood every line of the other function,
    # opaque when raw SQL there might be doing the job
    def missing_inverse(self, op: Op, text: str) -> None:
        self.add(Verdict.OPAQUE if self.down.opaque else Verdict.IRREVERSIBLE, op.line, text)

    def stray_down(self, op: Op, text: str) -> None:
        self.add(Verdict.OPAQUE if self.up.opaque else Verdict.IRREVERSIBLE, 10**6 + op.line, text)

    # -- simulation ---------------------------------------------------------------

    def simulate(self) -> None:
        tables: dict[str, Op] = {}
        cols: dict[tuple[str, str], Op] = {}
        for op in self.up.ops:
            self.ctx_tables[id(op)] = dict(tables)
            self.ctx_cols[id(op)] = dict(cols)
            _apply(op, tables, cols, creating=True)
        # creators whose table / column still exists when the upgrade ends
        self.alive = {id(op) for op in tables.values()} | {id(op) for op in cols.values()}
        down_tables: dict[str, Op] = {}
        down_cols: dict[tuple[str, str], Op] = {}
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

    def table_creator(self, op: Op, table: str | None = None) -> Op | None:
        table = op.table if table is None else table
        return self.ctx_tables[id(op)].get(table) if table is not None else None

    def column_creator(self, op: Op, column: str | None = None) -> Op | None:
        column = op.name if column is None else column
        if op.table is None or column is None:
            return None
        return self.ctx_cols[id(op)].get((op.table, column))

    def created(self, op: Op) -> bool:
        """The table (or the column) ``op`` works on was created by the upgrade."""
        if self.table_creator(op) is not None:
            return True
        if op.kind in {"add_column", "drop_column", "alter_column"}:
            return self.column_creator(op) is not None
        return bool(op.columns) and any(self.column_creator(op, c) is not None for c in op.columns)

    def recreated_by_down(self, op: Op) -> bool:
        """A downgrade op that belongs to re-creating a table/column the upgrade dropped."""
        tables = self.ctx_down_tables.get(id(op), set())
        cols = self.ctx_down_cols.get(id(op), set())
        if op.table in tables:
            return True
        if op.kind in {"alter_column", "drop_column"} and (op.table, op.name) in cols:
            return True
        return bool(op.columns) and all((op.table, c) in cols for c in op.columns)

    def find(self, pred) -> Op | None:
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
        deferred: list[Op] = []
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
                    names.extend(native_enums(e, op.scope))  # type: ignore[arg-type]
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

    def pair(self, op: Op) -> bool:
        """Pair one upgrade op with its inverse. False: no explicit inverse found,
        decide after all explicit pairs are known (it may be covered by dropping a table
        or column that the upgrade created)."""
        handler = getattr(self, "pair_" + op.kind, None)
        if handler is None:  # pragma: no cover - every scanned kind has a handler
            self.add(Verdict.OPAQUE, op.line, f"upgrade() {_op_label(op)} cannot be judged")
            return True
        return handler(op)

    def pair_create_table(self, op: Op) -> bool:
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

    def pair_drop_table(self, op: Op) -> bool:
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

    def pair_add_column(self, op: Op) -> bool:
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

    def pair_drop_column(self, op: Op) -> bool:
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

    def pair_rename_table(self, op: Op) -> bool:
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

    def pair_create_index(self, op: Op) -> bool:
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

    def pair_drop_index(self, op: Op) -> bool:
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

    def _pair_constraint_creator(self, op: Op) -> bool:
        kind = CONSTRAINT_CREATORS[op.kind]
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

    def pair_drop_constraint(self, op: Op) -> bool:
        if self.created(op):
            return True
        type_ = op.args.get("type_", op.kwargs.get("type_"))
        kind_hint = str_value(type_, op.scope) if type_ is not None else None  # type: ignore[arg-type]
        label = f"{kind_hint} constraint" if kind_hint else "constraint"
        if op.name is None:
            self.add(Verdict.OPAQUE, op.line,
                     f"upgrade drops a {label} without a name on {op.table}: cannot tell which one")
            return True
        inv = self.find(lambda d: (d.kind in CONSTRAINT_CREATORS or (d.kind == "create_index" and d.kw("unique") is True))
                        and d.name == op.name and d.table == op.table)
        if inv is None:
            self.missing_inverse(op, f"downgrade does not re-create {label} {op.name} dropped from {op.table} "
                                     "by the upgrade")
            return True
        inv.consumed = True
        kind = CONSTRAINT_CREATORS.get(inv.kind, "unique")
        if self.recreated_by_down(inv):
            self.add(Verdict.REVERSIBLE, op.line, f"downgrade re-creates {kind} constraint {op.name} on {op.table}")
        else:
            self.add(Verdict.LOSSY, op.line,
                     f"downgrade re-creates {kind} constraint {op.name} on {op.table}: it fails if rows written "
                     "since the upgrade violate it (they would have to be changed or deleted first)")
        return True

    def pair_create_table_comment(self, op: Op) -> bool:
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

    def pair_bulk_insert(self, op: Op) -> bool:
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

    def pair_alter_column(self, op: Op) -> bool:
        scope = op.scope
        changes = op.changes()
        new_name = str_value(changes["new_column_name"], scope) if "new_column_name" in changes else None  # type: ignore[arg-type]
        after = new_name or op.name
        names = {after, op.name}
        if self.created(op):
            for d in self.down.ops:
                if d.kind == "alter_column" and d.table == op.table and d.name in names:
                    d.used.update(d.changes())
            return True
        col = f"{op.table}.{op.name}"

        def candidates(aspect: str) -> list[Op]:
            return [d for d in self.down.ops
                    if d.kind == "alter_column" and d.table == op.table and d.name in names
                    and aspect in d.changes() and aspect not in d.used]

        for key in op.kwargs:
            if key not in ALTER_KNOWN and not re.match(r"^(postgresql|mysql|mssql|oracle|sqlite)_", key):
                self.add(Verdict.OPAQUE, op.line, f"upgrade alters {col} with argument {key}, which cannot be judged")

        if "new_column_name" in changes:
            inv = next((d for d in candidates("new_column_name")
                        if d.name == after and str_value(d.kwargs["new_column_name"], d.scope) == op.name), None)
            if inv is None:
                self.missing_inverse(op, f"downgrade does not rename column {op.table}.{after} back to {op.name}")
            else:
                inv.used.add("new_column_name")
                self.add(Verdict.REVERSIBLE, op.line, f"downgrade renames column {op.table}.{after} back to {op.name}")

        if "type_" in changes:
            self.judge_type(op, col, candidates("type_"))

        if "nullable" in changes:
            value = literal(changes["nullable"], scope)
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

    def judge_type(self, op: Op, col: str, candidates: list[Op]) -> None:
        scope = op.scope
        new_expr = op.kwargs["type_"]
        new = type_info(new_expr, scope)  # type: ignore[arg-type]
        existing_given = "existing_type" in op.kwargs and not (
            isinstance(op.kwargs["existing_type"], ast.Constant) and op.kwargs["existing_type"].value is None)
        old = type_info(op.kwargs["existing_type"], scope) if existing_given else None  # type: ignore[arg-type]
        inv = candidates[0] if candidates else None
        down_t = type_info(inv.kwargs["type_"], inv.scope) if inv is not None else None  # type: ignore[arg-type]
        if inv is not None:
            inv.used.add("type_")
        if old is None and down_t is not None:
            old = down_t  # the type the downgrade goes back to is the best guess of the original
        old_text = old.text if old else "its previous type"
        new_text = new.text if new else unparse(new_expr, 60)
        if any(t is not None and t.native_enum for t in (old, new, down_t)):
            self.add(Verdict.OPAQUE, op.line,
                     f"upgrade changes {col} from {old_text} to {new_text}: PostgreSQL enum types change through "
                     "ALTER TYPE / raw SQL, which cannot be judged statically")
            return
        if inv is not None and existing_given:
            back = compare_types(old, down_t)
            if back == "unknown":
                self.add(Verdict.OPAQUE, op.line,
                         f"cannot tell whether the downgrade's type for {col} ({down_t.text if down_t else '?'}) "
                         f"is its original type {old_text}")
            elif back != "same":
                self.add(Verdict.IRREVERSIBLE, op.line,
                         f"downgrade sets {col} to {down_t.text if down_t else '?'}, not its original type {old_text}")
        verdict = compare_types(old, new)
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
                     f"upgrade rewrites the values of {col} (postgresql_using={unparse(op.kwargs['postgresql_using'], 40)})")

    # -- covered / leftovers ------------------------------------------------------

    def cover(self, op: Op) -> None:
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
        elif op.kind in CONSTRAINT_CREATORS:
            self.missing_inverse(op, f"downgrade does not drop {CONSTRAINT_CREATORS[op.kind]} constraint "
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


def _apply(op: Op, tables: dict[str, Op], cols: dict[tuple[str, str], Op], creating: bool) -> None:
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
        new = str_value(op.kwargs["new_column_name"], op.scope)  # type: ignore[arg-type]
        if new and (op.table, op.name) in cols:
            cols[(op.table, new)] = cols.pop((op.table, op.name))


def _op_label(op: Op) -> str:
    if op.kind in {"add_column", "drop_column", "alter_column"}:
        return f"{op.kind} {op.table}.{op.name}"
    if op.kind == "rename_table":
        return f"rename_table {op.table} -> {op.name}"
    if op.kind in {"create_table", "drop_table", "bulk_insert", "create_table_comment", "drop_table_comment"}:
        return f"{op.kind} {op.table}"
    target = f" on {op.table}" if op.table else ""
    return f"{op.kind} {op.name}{target}"

