"""Tests of bot.analysis: the static reversibility analyzer behind
``bb-ops migrations analyze`` and the rollback planner.

The one unacceptable error is calling a lossy step reversible: the case table pins the
verdict of every op kind, and a hypothesis property checks that no generated script
with a lossy upgrade op is ever called reversible (while the exact mirror of a purely
reversible upgrade is).  steps_between is checked against Alembic's own revision map,
and a few verdicts against real Alembic runs on SQLite.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.analysis import (
    AnalysisError,
    RevisionAnalysis,
    Verdict,
    analyze_dir,
    analyze_source,
    run_cli,
    steps_between,
)

REPO = Path(__file__).resolve().parents[2]
CASES_DIR = Path(__file__).resolve().parents[1] / "migration_cases"

HEADER = '''"""{message}

Revision ID: {rev}
Revises: {down_doc}
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision: str = {rev!r}
down_revision: Union[str, Sequence[str], None] = {down!r}
branch_labels: Union[str, Sequence[str], None] = {labels!r}
depends_on: Union[str, Sequence[str], None] = {depends!r}
'''


def script(upgrade: str = "pass", downgrade: str | None = "pass", *, rev: str = "r1", down=None,
           labels=None, depends=None, message: str = "test revision") -> str:
    """An Alembic revision script as `alembic revision` writes it."""
    down_doc = ", ".join(down) if isinstance(down, (tuple, list)) else down
    text = HEADER.format(message=message, rev=rev, down=down, down_doc=down_doc, labels=labels, depends=depends)
    text += "\n\ndef upgrade() -> None:\n" + textwrap.indent(textwrap.dedent(upgrade).strip() or "pass", "    ") + "\n"
    if downgrade is not None:
        text += "\n\ndef downgrade() -> None:\n" + textwrap.indent(textwrap.dedent(downgrade).strip() or "pass", "    ") + "\n"
    return text


R, L, O, I = Verdict.REVERSIBLE, Verdict.LOSSY, Verdict.OPAQUE, Verdict.IRREVERSIBLE

# (id, upgrade body, downgrade body, expected verdict, substring expected in the reasons)
CASES: list[tuple[str, str, str | None, Verdict, str]] = [
    # ---- tables
    ("create_table", """
        op.create_table("budgets",
            sa.Column("id", sa.Integer(), nullable=False),
            sa.Column("name", sa.String(length=100), nullable=False),
            sa.PrimaryKeyConstraint("id"))
        op.create_index(op.f("ix_budgets_name"), "budgets", ["name"], unique=False)
     """, """
        op.drop_index(op.f("ix_budgets_name"), table_name="budgets")
        op.drop_table("budgets")
     """, R, "downgrade drops table budgets created by the upgrade"),
    ("create_table without drop", 'op.create_table("budgets", sa.Column("id", sa.Integer()))',
     'op.drop_index("ix_other", table_name="other")', I, "does not drop table budgets"),
    ("create_table if_not_exists", 'op.create_table("budgets", sa.Column("id", sa.Integer()), if_not_exists=True)',
     'op.drop_table("budgets")', L, "only if it does not exist"),
    ("drop_table re-created empty", 'op.drop_table("audit")', """
        op.create_table("audit", sa.Column("id", sa.INTEGER(), autoincrement=True, nullable=False),
                        sa.PrimaryKeyConstraint("id", name="audit_pkey"))
     """, L, "upgrade drops table audit with all its rows"),
    ("drop_table not re-created", 'op.drop_table("audit")', 'op.drop_index("ix_x", table_name="x")', I,
     "does not re-create it"),
    ("scratch table created and dropped by the upgrade", """
        op.create_table("tmp", sa.Column("id", sa.Integer()))
        op.drop_table("tmp")
     """, "pass", R, "no schema or data changes"),
    ("scratch table in both directions", """
        op.create_table("tmp", sa.Column("id", sa.Integer()))
        op.drop_table("tmp")
     """, """
        op.create_table("tmp", sa.Column("id", sa.Integer()))
        op.drop_table("tmp")
     """, R, "no schema or data changes"),
    ("table swap drops the old rows", """
        op.create_table("users_new", sa.Column("id", sa.Integer()))
        op.drop_table("users")
        op.rename_table("users_new", "users")
     """, """
        op.rename_table("users", "users_new")
        op.create_table("users", sa.Column("id", sa.Integer()))
        op.drop_table("users_new")
     """, L, "upgrade drops table users"),
    ("create_table with a native enum", """
        op.create_table("payments", sa.Column("id", sa.Integer()),
                        sa.Column("status", sa.Enum("new", "paid", name="payment_status"), nullable=False))
     """, 'op.drop_table("payments")', O, "enum type payment_status"),
    ("create_table with an enum bound to a variable", """
        status = postgresql.ENUM("new", "paid", name="payment_status")
        op.create_table("payments", sa.Column("status", status))
     """, 'op.drop_table("payments")', O, "enum type payment_status"),
    ("create_table with an existing enum (create_type=False)", """
        op.create_table("payments",
                        sa.Column("status", postgresql.ENUM("new", "paid", name="payment_status", create_type=False)))
     """, 'op.drop_table("payments")', R, "drops table payments"),
    ("create_table with a non-native enum", """
        op.create_table("payments", sa.Column("status", sa.Enum("new", "paid", native_enum=False)))
     """, 'op.drop_table("payments")', R, "drops table payments"),
    ("create_table in a schema", 'op.create_table("budgets", sa.Column("id", sa.Integer()), schema="app")',
     'op.drop_table("budgets", schema="app")', R, "app.budgets"),
    ("drop_table in another schema is not the inverse",
     'op.create_table("budgets", sa.Column("id", sa.Integer()), schema="app")',
     'op.drop_table("budgets")', I, "does not drop table app.budgets"),
    # ---- columns
    ("add_column", 'op.add_column("users", sa.Column("nickname", sa.String(length=50), nullable=True))',
     'op.drop_column("users", "nickname")', R,
     "downgrade drops column users.nickname created by the upgrade, its data is lost"),
    ("add_column with index=True and its index", """
        op.add_column("users", sa.Column("team_id", sa.Integer(), sa.ForeignKey("teams.id"), index=True))
     """, """
        op.drop_constraint("users_team_id_fkey", "users", type_="foreignkey")
        op.drop_index("ix_users_team_id", table_name="users")
        op.drop_column("users", "team_id")
     """, R, "drops column users.team_id"),
    ("add_column with server_default=sa.text", """
        op.add_column("users", sa.Column("created_at", sa.DateTime(timezone=True),
                      server_default=sa.text("now()"), nullable=False))
     """, 'op.drop_column("users", "created_at")', R, "users.created_at"),
    ("add_column without drop", 'op.add_column("users", sa.Column("nickname", sa.String(50)))',
     'op.drop_index("ix_users_x", table_name="users")', I, "does not drop column users.nickname"),
    ("add_column if_not_exists", 'op.add_column("users", sa.Column("nickname", sa.String(50)), if_not_exists=True)',
     'op.drop_column("users", "nickname")', L, "only if it does not exist"),
    ("add_column with a native enum", """
        op.add_column("users", sa.Column("role", sa.Enum("admin", "member", name="user_role")))
     """, 'op.drop_column("users", "role")', O, "enum type user_role"),
    ("drop_column re-added nullable", 'op.drop_column("users", "legacy_id")',
     'op.add_column("users", sa.Column("legacy_id", sa.INTEGER(), autoincrement=False, nullable=True))', L,
     "upgrade drops column users.legacy_id and its data"),
    ("drop_column re-added NOT NULL without default", 'op.drop_column("users", "legacy_id")',
     'op.add_column("users", sa.Column("legacy_id", sa.INTEGER(), autoincrement=False, nullable=False))', I,
     "NOT NULL without a server default"),
    ("drop_column re-added NOT NULL with a server default", 'op.drop_column("users", "flag")',
     'op.add_column("users", sa.Column("flag", sa.Boolean(), server_default=sa.false(), nullable=False))', L,
     "with only its server default"),
    ("drop_column not re-added", 'op.drop_column("users", "legacy_id")', 'op.drop_index("ix_a", table_name="a")', I,
     "does not re-add it"),
    ("drop_column, downgrade empty", 'op.drop_column("users", "legacy_id")', "pass", I, "downgrade() is empty"),
    ("downgrade drops a column the upgrade did not add",
     'op.add_column("users", sa.Column("nickname", sa.String(50)))', """
        op.drop_column("users", "nickname")
        op.drop_column("users", "email")
     """, I, "downgrade drops users.email, which the upgrade did not create"),
    ("add then alter a new column, downgrade drops it", """
        op.add_column("users", sa.Column("score", sa.Integer(), nullable=True))
        op.alter_column("users", "score", existing_type=sa.Integer(), nullable=False)
     """, 'op.drop_column("users", "score")', R, "drops column users.score"),
    # ---- indexes
    ("create_index", 'op.create_index("ix_users_email", "users", ["email"], unique=True)',
     'op.drop_index("ix_users_email", table_name="users")', R, "drops unique index ix_users_email"),
    ("create_index concurrently, drop_index without table_name", """
        op.create_index("ix_users_email", "users", ["email"], postgresql_concurrently=True)
     """, 'op.drop_index("ix_users_email")', R, "drops index ix_users_email"),
    ("create_index without drop", 'op.create_index("ix_users_email", "users", ["email"])',
     'op.drop_index("ix_other", table_name="users")', I, "does not drop index ix_users_email"),
    ("drop_index re-created", 'op.drop_index("ix_users_email", table_name="users")',
     'op.create_index("ix_users_email", "users", ["email"], unique=False)', R, "re-creates index ix_users_email"),
    ("drop unique index re-created", 'op.drop_index("ix_users_email", table_name="users")',
     'op.create_index("ix_users_email", "users", ["email"], unique=True)', L, "duplicate values"),
    ("drop_index not re-created", 'op.drop_index("ix_users_email", table_name="users")',
     'op.create_index("ix_other", "users", ["x"])', I, "does not re-create index ix_users_email"),
    ("index on a column the upgrade added", """
        op.add_column("users", sa.Column("team_id", sa.Integer()))
        op.create_index("ix_users_team_id", "users", ["team_id"])
     """, 'op.drop_column("users", "team_id")', R, "drops column users.team_id"),
    ("index without a name", 'op.create_index(None, "users", ["email"])', 'op.drop_index(None, table_name="users")',
     O, "without a name"),
    # ---- constraints
    ("create_unique_constraint", 'op.create_unique_constraint("uq_users_email", "users", ["email"])',
     'op.drop_constraint("uq_users_email", "users", type_="unique")', R, "drops unique constraint uq_users_email"),
    ("create_check_constraint", 'op.create_check_constraint("ck_amount_positive", "expenses", "amount > 0")',
     'op.drop_constraint("ck_amount_positive", "expenses", type_="check")', R, "check constraint ck_amount_positive"),
    ("create_check_constraint with sa.text condition",
     'op.create_check_constraint("ck_amount_positive", "expenses", sa.text("amount > 0"))',
     'op.drop_constraint("ck_amount_positive", "expenses", type_="check")', R, "check constraint"),
    ("create_foreign_key", 'op.create_foreign_key("fk_exp_user", "expenses", "users", ["user_id"], ["id"], ondelete="CASCADE")',
     'op.drop_constraint("fk_exp_user", "expenses", type_="foreignkey")', R, "foreign key constraint fk_exp_user"),
    ("create_primary_key", 'op.create_primary_key("pk_tags", "tags", ["id"])',
     'op.drop_constraint("pk_tags", "tags", type_="primary")', R, "primary key constraint pk_tags"),
    ("create constraint without drop", 'op.create_unique_constraint("uq_users_email", "users", ["email"])',
     'op.drop_index("ix_other", table_name="users")', I, "does not drop unique constraint uq_users_email"),
    ("create constraint without a name", 'op.create_unique_constraint(None, "users", ["email"])',
     'op.drop_constraint(None, "users", type_="unique")', O, "without a name"),
    ("drop unique constraint re-created", 'op.drop_constraint("uq_users_email", "users", type_="unique")',
     'op.create_unique_constraint("uq_users_email", "users", ["email"])', L,
     "it fails if rows written since the upgrade violate it"),
    ("drop check constraint re-created", 'op.drop_constraint("ck_amount_positive", "expenses", type_="check")',
     'op.create_check_constraint("ck_amount_positive", "expenses", "amount > 0")', L, "check constraint"),
    ("drop foreign key re-created", 'op.drop_constraint("fk_exp_user", "expenses", type_="foreignkey")',
     'op.create_foreign_key("fk_exp_user", "expenses", "users", ["user_id"], ["id"])', L, "foreign key constraint"),
    ("drop constraint not re-created", 'op.drop_constraint("uq_users_email", "users", type_="unique")',
     'op.create_index("ix_x", "users", ["x"])', I, "does not re-create unique constraint uq_users_email"),
    ("drop column and its FK, re-created together", """
        op.drop_constraint("fk_exp_user", "expenses", type_="foreignkey")
        op.drop_column("expenses", "user_id")
     """, """
        op.add_column("expenses", sa.Column("user_id", sa.Integer(), nullable=True))
        op.create_foreign_key("fk_exp_user", "expenses", "users", ["user_id"], ["id"])
     """, L, "upgrade drops column expenses.user_id"),
    # ---- renames
    ("rename_table", 'op.rename_table("expense", "expenses")', 'op.rename_table("expenses", "expense")', R,
     "renames table expenses back to expense"),
    ("rename_table not renamed back", 'op.rename_table("expense", "expenses")',
     'op.drop_index("ix_x", table_name="expenses")', I, "does not rename table expenses back to expense"),
    ("rename column", 'op.alter_column("users", "name", new_column_name="full_name", existing_type=sa.String(100))',
     'op.alter_column("users", "full_name", new_column_name="name", existing_type=sa.String(100))', R,
     "renames column users.full_name back to name"),
    ("rename column not renamed back", 'op.alter_column("users", "name", new_column_name="full_name")',
     'op.drop_index("ix_x", table_name="users")', I, "does not rename column users.full_name back to name"),
    ("rename column in a batch", """
        with op.batch_alter_table("users") as batch_op:
            batch_op.alter_column("name", new_column_name="full_name")
     """, """
        with op.batch_alter_table("users") as batch_op:
            batch_op.alter_column("full_name", new_column_name="name")
     """, R, "renames column users.full_name back to name"),
    # ---- types
    ("widen String(50) -> String(255)", """
        op.alter_column("users", "name", existing_type=sa.VARCHAR(length=50), type_=sa.String(length=255),
                        existing_nullable=True)
     """, """
        op.alter_column("users", "name", existing_type=sa.String(length=255), type_=sa.VARCHAR(length=50),
                        existing_nullable=True)
     """, L, "downgrade narrows users.name"),
    ("widen Integer -> BigInteger", 'op.alter_column("t", "n", existing_type=sa.Integer(), type_=sa.BigInteger())',
     'op.alter_column("t", "n", existing_type=sa.BigInteger(), type_=sa.Integer())', L, "downgrade narrows t.n"),
    ("widen Numeric precision", 'op.alter_column("t", "amount", existing_type=sa.Numeric(10, 2), type_=sa.Numeric(14, 2))',
     'op.alter_column("t", "amount", existing_type=sa.Numeric(14, 2), type_=sa.Numeric(10, 2))', L,
     "downgrade narrows t.amount"),
    ("widen String -> Text", 'op.alter_column("t", "body", existing_type=sa.String(200), type_=sa.Text())',
     'op.alter_column("t", "body", existing_type=sa.Text(), type_=sa.String(200))', L, "downgrade narrows t.body"),
    ("widen Date -> DateTime", 'op.alter_column("t", "day", existing_type=sa.Date(), type_=sa.DateTime())',
     'op.alter_column("t", "day", existing_type=sa.DateTime(), type_=sa.Date())', L, "downgrade narrows t.day"),
    ("narrow String(255) -> String(50)", 'op.alter_column("users", "name", existing_type=sa.String(255), type_=sa.String(50))',
     'op.alter_column("users", "name", existing_type=sa.String(50), type_=sa.String(255))', L, "upgrade narrows users.name"),
    ("narrow BigInteger -> Integer", 'op.alter_column("t", "n", existing_type=sa.BigInteger(), type_=sa.Integer())',
     'op.alter_column("t", "n", existing_type=sa.Integer(), type_=sa.BigInteger())', L, "upgrade narrows t.n"),
    ("narrow Numeric scale", 'op.alter_column("t", "amount", existing_type=sa.Numeric(12, 4), type_=sa.Numeric(12, 2))',
     'op.alter_column("t", "amount", existing_type=sa.Numeric(12, 2), type_=sa.Numeric(12, 4))', L, "upgrade narrows t.amount"),
    ("convert Integer -> String", 'op.alter_column("t", "code", existing_type=sa.Integer(), type_=sa.String(20))',
     'op.alter_column("t", "code", existing_type=sa.String(20), type_=sa.Integer(), postgresql_using="code::integer")',
     L, "converts t.code"),
    ("type change with a USING rewrite", """
        op.alter_column("t", "amount", existing_type=sa.Integer(), type_=sa.Numeric(12, 2),
                        postgresql_using="amount / 100.0")
     """, 'op.alter_column("t", "amount", existing_type=sa.Numeric(12, 2), type_=sa.Integer())', L, "rewrites"),
    ("type change without existing_type", 'op.alter_column("t", "n", type_=sa.BigInteger())',
     'op.alter_column("t", "n", type_=sa.Integer())', L, "downgrade narrows t.n"),
    ("type change not reverted", 'op.alter_column("t", "n", existing_type=sa.Integer(), type_=sa.BigInteger())',
     'op.drop_index("ix_x", table_name="t")', I, "does not change it back"),
    ("type change reverted to the wrong type", 'op.alter_column("t", "n", existing_type=sa.Integer(), type_=sa.BigInteger())',
     'op.alter_column("t", "n", existing_type=sa.BigInteger(), type_=sa.SmallInteger())', I, "not its original type"),
    ("same type spelled differently", 'op.alter_column("t", "s", existing_type=sa.VARCHAR(length=50), type_=sa.String(50))',
     'op.alter_column("t", "s", existing_type=sa.String(50), type_=sa.VARCHAR(length=50))', R, "no schema or data changes"),
    ("type with a PostgreSQL variant", """
        op.alter_column("t", "n", existing_type=sa.Integer(),
                        type_=sa.Integer().with_variant(postgresql.BIGINT(), "postgresql"))
     """, 'op.alter_column("t", "n", existing_type=sa.BigInteger(), type_=sa.Integer())', L, "downgrade narrows t.n"),
    ("alter to a native enum", """
        op.alter_column("users", "role", existing_type=sa.String(20),
                        type_=sa.Enum("admin", "member", name="user_role"), postgresql_using="role::user_role")
     """, 'op.alter_column("users", "role", existing_type=sa.Enum("admin", "member", name="user_role"), type_=sa.String(20))',
     O, "enum"),
    # ---- nullable / defaults / comments
    ("nullable True -> False", 'op.alter_column("users", "email", existing_type=sa.String(255), nullable=False)',
     'op.alter_column("users", "email", existing_type=sa.String(255), nullable=True)', R,
     "the downgrade makes it nullable again"),
    ("nullable False -> True", """
        op.alter_column("users", "email", existing_type=sa.String(255), existing_nullable=False, nullable=True)
     """, 'op.alter_column("users", "email", existing_type=sa.String(255), nullable=False)', L,
     "downgrade sets users.email NOT NULL again"),
    ("nullable change not reverted", 'op.alter_column("users", "email", nullable=False)',
     'op.drop_index("ix_x", table_name="users")', I, "does not make it nullable again"),
    ("nullable no-op", 'op.alter_column("users", "email", existing_nullable=True, nullable=True)',
     'op.alter_column("users", "email", existing_nullable=True, nullable=True)', R, "no schema or data changes"),
    ("server_default change", """
        op.alter_column("users", "active", existing_type=sa.Boolean(), server_default=sa.text("true"))
     """, 'op.alter_column("users", "active", existing_type=sa.Boolean(), server_default=None)', R,
     "restores the server default of users.active"),
    ("server_default change not reverted", 'op.alter_column("users", "active", server_default="1")',
     'op.drop_index("ix_x", table_name="users")', I, "does not restore the server default"),
    ("column comment", 'op.alter_column("users", "email", comment="login", existing_type=sa.String(255))',
     'op.alter_column("users", "email", comment=None, existing_comment="login", existing_type=sa.String(255))', R,
     "restores the comment"),
    ("table comment", 'op.create_table_comment("users", "people who log in")',
     'op.drop_table_comment("users", existing_comment="people who log in")', R, "comment of table users"),
    ("downgrade alters something the upgrade did not",
     'op.add_column("users", sa.Column("nickname", sa.String(50)))', """
        op.drop_column("users", "nickname")
        op.alter_column("users", "email", nullable=True)
     """, I, "downgrade changes nullable of users.email"),
    # ---- batch_alter_table
    ("batch add/drop column", """
        with op.batch_alter_table("users", schema=None) as batch_op:
            batch_op.add_column(sa.Column("age", sa.Integer(), nullable=True))
            batch_op.create_index(batch_op.f("ix_users_age"), ["age"], unique=False)
     """, """
        with op.batch_alter_table("users", schema=None) as batch_op:
            batch_op.drop_index(batch_op.f("ix_users_age"))
            batch_op.drop_column("age")
     """, R, "downgrade drops column users.age"),
    ("batch drop column", """
        with op.batch_alter_table("users") as batch_op:
            batch_op.drop_column("legacy")
     """, """
        with op.batch_alter_table("users") as batch_op:
            batch_op.add_column(sa.Column("legacy", sa.TEXT(), nullable=True))
     """, L, "upgrade drops column users.legacy"),
    ("batch narrowing", """
        with op.batch_alter_table("users") as batch_op:
            batch_op.alter_column("name", existing_type=sa.String(255), type_=sa.String(50))
     """, """
        with op.batch_alter_table("users") as batch_op:
            batch_op.alter_column("name", existing_type=sa.String(50), type_=sa.String(255))
     """, L, "upgrade narrows users.name"),
    ("batch constraint", """
        with op.batch_alter_table("users") as batch_op:
            batch_op.create_unique_constraint("uq_users_email", ["email"])
     """, """
        with op.batch_alter_table("users") as batch_op:
            batch_op.drop_constraint("uq_users_email", type_="unique")
     """, R, "unique constraint uq_users_email on users"),
    ("batch op in the downgrade on another table is not the inverse", """
        with op.batch_alter_table("users") as batch_op:
            batch_op.add_column(sa.Column("age", sa.Integer()))
     """, """
        with op.batch_alter_table("accounts") as batch_op:
            batch_op.drop_column("age")
     """, I, "does not drop column users.age"),
    ("batch execute", """
        with op.batch_alter_table("users") as batch_op:
            batch_op.execute("UPDATE users SET age = 0")
     """, """
        pass
     """, I, "downgrade() is empty"),
    # ---- bulk_insert
    ("bulk_insert into a new table", """
        roles = op.create_table("roles", sa.Column("id", sa.Integer()), sa.Column("name", sa.String(20)))
        op.bulk_insert(roles, [{"id": 1, "name": "admin"}, {"id": 2, "name": "member"}])
     """, 'op.drop_table("roles")', R, "go away with the table"),
    ("bulk_insert into an existing table, downgrade deletes with raw SQL", """
        roles = sa.table("roles", sa.column("name", sa.String))
        op.bulk_insert(roles, [{"name": "auditor"}])
     """, """op.execute("DELETE FROM roles WHERE name = 'auditor'")""", O, "inserts 1 row into existing table roles"),
    ("bulk_insert into an existing table, not deleted", """
        op.bulk_insert(sa.table("roles", sa.column("name")), [{"name": "auditor"}])
        op.add_column("roles", sa.Column("level", sa.Integer()))
     """, 'op.drop_column("roles", "level")', I, "does not delete them"),
    # ---- raw SQL and code that cannot be judged
    ("op.execute in the upgrade", """
        op.add_column("users", sa.Column("email_lower", sa.String(255)))
        op.execute("UPDATE users SET email_lower = lower(email)")
     """, 'op.drop_column("users", "email_lower")', O, 'op.execute: "UPDATE users SET email_lower'),
    ("op.execute in the downgrade", 'op.create_index("ix_a", "t", ["a"])', 'op.execute("DROP INDEX ix_a")', O,
     "downgrade() runs raw SQL"),
    ("sa.text through op.execute", 'op.execute(sa.text("UPDATE users SET active = true"))',
     'op.execute(sa.text("UPDATE users SET active = false"))', O, "UPDATE users SET active = true"),
    ("connection use", """
        conn = op.get_bind()
        conn.execute(sa.text("DELETE FROM sessions"))
     """, "pass", I, "downgrade() is empty"),
    ("connection use with a downgrade", """
        conn = op.get_bind()
        conn.execute(sa.text("UPDATE users SET x = 1"))
     """, 'op.get_bind().execute(sa.text("UPDATE users SET x = 0"))', O, "database connection"),
    ("loop over data", """
        conn = op.get_bind()
        for row in conn.execute(sa.text("SELECT id FROM users")):
            conn.execute(sa.text("UPDATE users SET n = 1 WHERE id = :id"), {"id": row.id})
     """, 'op.drop_index("ix_q", table_name="q")', O, "loops over"),
    ("conditional code", """
        if op.get_context().dialect.name == "postgresql":
            op.create_index("ix_a", "t", ["a"])
     """, 'op.drop_index("ix_a", table_name="t")', O, "conditional code"),
    ("try/except", """
        try:
            op.create_index("ix_a", "t", ["a"])
        except Exception:
            pass
     """, 'op.drop_index("ix_a", table_name="t")', O, "try/except"),
    ("unknown op", 'op.create_sequence("seq")', 'op.drop_sequence("seq")', O, "does not know"),
    ("enum type created through the connection", """
        status = postgresql.ENUM("new", "paid", name="payment_status")
        status.create(op.get_bind(), checkfirst=True)
        op.add_column("payments", sa.Column("status", status))
     """, """
        op.drop_column("payments", "status")
        postgresql.ENUM(name="payment_status").drop(op.get_bind(), checkfirst=True)
     """, O, "op.get_bind()"),
    ("ALTER TYPE ... ADD VALUE", """
        with op.get_context().autocommit_block():
            op.execute("ALTER TYPE payment_status ADD VALUE 'refunded'")
     """, "pass", I, "downgrade() is empty"),
    ("ALTER TYPE with a raw SQL downgrade", """
        op.execute("ALTER TYPE payment_status RENAME VALUE 'paid' TO 'settled'")
     """, """op.execute("ALTER TYPE payment_status RENAME VALUE 'settled' TO 'paid'")""", O, "ALTER TYPE"),
    ("stray create_index in the downgrade", 'op.add_column("t", sa.Column("x", sa.Integer()))', """
        op.drop_column("t", "x")
        op.create_index("ix_t_y", "t", ["y"])
     """, I, "undoes nothing the upgrade did"),
    # ---- shapes of downgrade()
    ("missing downgrade", 'op.add_column("t", sa.Column("x", sa.Integer()))', None, I, "no downgrade() function"),
    ("pass-only downgrade", 'op.add_column("t", sa.Column("x", sa.Integer()))', "pass", I, "downgrade() is empty"),
    ("docstring-only downgrade", 'op.add_column("t", sa.Column("x", sa.Integer()))', '"""Downgrade schema."""', I,
     "downgrade() is empty"),
    ("raising downgrade", 'op.drop_column("t", "x")', 'raise NotImplementedError("restore from backup")', I,
     "raises NotImplementedError"),
    ("downgrade raising after some ops", """
        op.add_column("t", sa.Column("x", sa.Integer()))
        op.drop_column("t", "y")
     """, """
        op.drop_column("t", "x")
        raise RuntimeError("cannot restore t.y")
     """, I, "raises RuntimeError"),
    ("empty revision", "pass", "pass", R, "no schema or data changes"),
    ("docstrings only", '"""Upgrade schema."""', '"""Downgrade schema."""', R, "no schema or data changes"),
    # ---- code shapes the analyzer follows
    ("loop over literal column names", """
        for name in ("street", "city"):
            op.drop_column("addresses", name)
     """, """
        for name in ("street", "city"):
            op.add_column("addresses", sa.Column(name, sa.String(100), nullable=True))
     """, L, "upgrade drops column addresses.city"),
    ("helper function", """
        _add("users", "nickname")
     """, """
        op.drop_column("users", "nickname")
     """, R, "drops column users.nickname"),
    ("table name constant", 'op.add_column(TABLE, sa.Column("x", sa.Integer()))', 'op.drop_column(TABLE, "x")', R,
     "drops column users.x"),
    ("helper called in an assignment is not trusted", """
        op.add_column("t", sa.Column("x", sa.Integer()))
        count = _drop_email()
     """, 'op.drop_column("t", "x")', O, "_drop_email()"),
    ("op hidden inside print()", 'print(op.drop_column("users", "email"))',
     'op.add_column("users", sa.Column("email", sa.Text(), nullable=True))', O, "inside print()"),
    ("pure helper building rows", """
        roles = op.create_table("roles", sa.Column("name", sa.String(10)))
        op.bulk_insert(roles, _rows())
     """, 'op.drop_table("roles")', R, "go away with the table"),
    ("op after a return in a with block never runs", 'op.add_column("t", sa.Column("x", sa.Integer()))', """
        with op.batch_alter_table("t") as batch_op:
            return
        op.drop_column("t", "x")
     """, I, "downgrade() is empty"),
    ("collation change", 'op.alter_column("t", "n", existing_type=sa.String(50), type_=sa.String(50, collation="C"))',
     'op.alter_column("t", "n", existing_type=sa.String(50, collation="C"), type_=sa.String(50))', L, "converts t.n"),
    ("timestamp precision cut", """
        op.alter_column("t", "at", existing_type=postgresql.TIMESTAMP(precision=6),
                        type_=postgresql.TIMESTAMP(precision=0))
     """, """
        op.alter_column("t", "at", existing_type=postgresql.TIMESTAMP(precision=0),
                        type_=postgresql.TIMESTAMP(precision=6))
     """, L, "converts t.at"),
    ("assignment to an attribute", """
        op.add_column("t", sa.Column("x", sa.Integer()))
        context.config.attributes["skip"] = True
     """, 'op.drop_column("t", "x")', O, "assigns to context.config.attributes"),
    ("local data prepared for bulk_insert", """
        roles = op.create_table("roles", sa.Column("name", sa.String(10)))
        rows = [{"name": "admin"}]
        rows[0]["name"] = "root"
        op.bulk_insert(roles, rows)
     """, 'op.drop_table("roles")', R, "go away with the table"),
    ("logging is harmless", """
        log.info("adding column")
        op.add_column("t", sa.Column("x", sa.Integer()))
     """, 'op.drop_column("t", "x")', R, "drops column t.x"),
]

HELPERS = '''

import logging

log = logging.getLogger(__name__)
TABLE = "users"


def _add(table, name):
    op.add_column(table, sa.Column(name, sa.String(50), nullable=True))


def _drop_email():
    op.drop_column("users", "email")
    return 1


def _rows():
    return [{"name": n} for n in ("admin", "member")]
'''


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_verdicts(case):
    _, upgrade, downgrade, expected, reason = case
    source = script(upgrade, downgrade) + HELPERS
    result = analyze_source(source, "case.py")
    assert result.verdict is expected, result.reasons
    assert any(reason in r for r in result.reasons), result.reasons
    assert result.revision == "r1"


def test_case_table_covers_every_verdict_and_op_kind():
    kinds = {"create_table", "drop_table", "add_column", "drop_column", "alter_column", "rename_table",
             "create_index", "drop_index", "create_unique_constraint", "create_check_constraint",
             "create_foreign_key", "create_primary_key", "drop_constraint", "batch_alter_table", "bulk_insert",
             "execute", "get_bind", "Enum", "create_table_comment"}
    text = "\n".join(c[1] + (c[2] or "") for c in CASES)
    assert {k for k in kinds if k not in text} == set()
    assert {c[3] for c in CASES} == set(Verdict)


def test_reasons_are_short_sentences_naming_the_object():
    result = analyze_source(script('op.drop_column("expenses", "note")',
                                   'op.add_column("expenses", sa.Column("note", sa.Text(), nullable=True))'))
    assert result.verdict is Verdict.LOSSY
    assert result.reasons == ["upgrade drops column expenses.note and its data; the downgrade re-adds it empty"]


def test_worst_op_wins_and_reasons_lead_with_it():
    result = analyze_source(script("""
        op.add_column("users", sa.Column("nickname", sa.String(50)))
        op.drop_column("users", "legacy")
        op.execute("UPDATE users SET nickname = name")
        op.create_index("ix_a", "users", ["a"])
    """, """
        op.drop_column("users", "nickname")
        op.add_column("users", sa.Column("legacy", sa.Integer(), nullable=True))
    """))
    # reversible add_column < lossy drop_column < opaque execute < irreversible: the index is never
    # dropped, and the downgrade has no raw SQL that might drop it, so that much is certain
    assert result.verdict is Verdict.IRREVERSIBLE
    severities = [_severity_of(r) for r in result.reasons]
    assert severities == sorted(severities, reverse=True)
    assert any("UPDATE users" in r for r in result.reasons)
    assert any("drops column users.legacy" in r for r in result.reasons)


def _severity_of(reason: str) -> int:
    if "does not drop index" in reason:
        return 3
    if "raw SQL" in reason:
        return 2
    if "upgrade drops column" in reason:
        return 1
    return 0


def test_missing_inverse_is_opaque_when_the_downgrade_runs_raw_sql():
    # the raw SQL might be the inverse: do not claim certainty either way
    result = analyze_source(script('op.add_column("t", sa.Column("x", sa.Integer()))',
                                   'op.execute("ALTER TABLE t DROP COLUMN x")'))
    assert result.verdict is Verdict.OPAQUE


def test_verdict_order():
    assert [v.severity for v in (Verdict.REVERSIBLE, Verdict.LOSSY, Verdict.OPAQUE, Verdict.IRREVERSIBLE)] == [0, 1, 2, 3]
    assert Verdict("lossy") is Verdict.LOSSY and Verdict.LOSSY == "lossy"


# ---------------------------------------------------------------------------------------
# revision identifiers
# ---------------------------------------------------------------------------------------


def test_plain_and_annotated_identifiers():
    plain = '''
from alembic import op
import sqlalchemy as sa

revision = "abc123"
down_revision = "def456"
branch_labels = ("billing",)
depends_on = "0001"


def upgrade():
    op.add_column("t", sa.Column("x", sa.Integer()))


def downgrade():
    op.drop_column("t", "x")
'''
    result = analyze_source(plain, "abc123_x.py")
    assert (result.revision, result.down_revision, result.branch_labels, result.depends_on) == (
        "abc123", "def456", ("billing",), "0001")
    assert result.verdict is Verdict.REVERSIBLE
    assert result.path == "abc123_x.py"

    annotated = script(rev="f00d", down=("a1", "b2"), depends=["x9"], labels="main")
    result = analyze_source(annotated)
    assert result.revision == "f00d" and result.down_revision == ("a1", "b2")
    assert result.depends_on == ("x9",) and result.branch_labels == "main"
    assert result.is_merge and result.down_revisions == ("a1", "b2") and result.dependencies == ("x9",)
    assert result.message == "test revision"


@pytest.mark.parametrize("imports,call,expected", [
    ("from alembic import op as alembic_op", "alembic_op", L),
    ("import alembic", "alembic.op", L),
    ("from alembic import op\nops = op", "ops", L),
    ("from alembic.op import drop_column", "", O),  # a bare call it does not follow: never reversible
])
def test_op_spelled_differently(imports, call, expected):
    prefix = f"{call}." if call else ""
    source = (f"{imports}\nimport sqlalchemy as sa\n\nrevision = 'x1'\ndown_revision = None\n\n\n"
              f"def upgrade():\n    {prefix}drop_column('t', 'c')\n\n\n"
              f"def downgrade():\n    {prefix or 'op.'}add_column('t', sa.Column('c', sa.Text()))\n")
    result = analyze_source(source)
    assert result.verdict is expected, result.reasons


def test_to_json_shape():
    merge = analyze_source(script(rev="m1", down=("a", "b")))
    assert merge.to_json() == {"revision": "m1", "down_revision": ["a", "b"], "verdict": "reversible",
                               "reasons": ["merge point with no schema changes: nothing to undo"]}
    base = analyze_source(script(rev="b0", down=None))
    assert base.to_json()["down_revision"] is None
    assert json.loads(json.dumps(base.to_json())) == base.to_json()


def test_unparsable_script_is_opaque_with_the_syntax_error():
    broken = script('op.add_column("t", sa.Column("x", sa.Integer())', 'op.drop_column("t", "x")', rev="bad1", down="r0")
    result = analyze_source(broken, "bad1_broken.py")
    assert result.verdict is Verdict.OPAQUE
    assert result.revision == "bad1" and result.down_revision == "r0"  # still placed in the history
    assert "SyntaxError" in result.reasons[0] and "bad1_broken.py" in result.reasons[0]


def test_script_without_revision_is_opaque():
    result = analyze_source("from alembic import op\n\ndef upgrade():\n    pass\n\ndef downgrade():\n    pass\n",
                            "/x/helpers.py")
    assert result.verdict is Verdict.OPAQUE
    assert result.revision == "helpers"
    assert any("no `revision" in r for r in result.reasons)


def test_analyzer_never_runs_the_script(tmp_path):
    marker = tmp_path / "ran"
    evil = script('op.add_column("t", sa.Column("x", sa.Integer()))', 'op.drop_column("t", "x")') + (
        f"\nopen({str(marker)!r}, 'w').write('ran')\nimport this_module_does_not_exist\n")
    assert analyze_source(evil).verdict is Verdict.REVERSIBLE
    assert not marker.exists()


# ---------------------------------------------------------------------------------------
# folders: topological order, merges, branches, depends_on
# ---------------------------------------------------------------------------------------


def write(directory: Path, name: str, text: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text(text)
    return path


def branchy(directory: Path) -> Path:
    """base -> users -> {drop legacy (branch a), index (branch b)} -> merge -> audit(depends on b)."""
    # file names in an order unrelated to the history
    write(directory, "e5_merge.py", script(rev="e5", down=("c3", "d4"), message="merge heads"))
    write(directory, "a1_base.py", script('op.create_table("users", sa.Column("id", sa.Integer(), primary_key=True))',
                                          'op.drop_table("users")', rev="a1", down=None))
    write(directory, "d4_index.py", script('op.create_index("ix_users_id", "users", ["id"])',
                                           'op.drop_index("ix_users_id", table_name="users")', rev="d4", down="b2",
                                           labels="search"))
    write(directory, "b2_cols.py", script('op.add_column("users", sa.Column("legacy", sa.Text()))',
                                          'op.drop_column("users", "legacy")', rev="b2", down="a1"))
    write(directory, "c3_drop.py", script('op.drop_column("users", "legacy")',
                                          'op.add_column("users", sa.Column("legacy", sa.Text(), nullable=True))',
                                          rev="c3", down="b2"))
    write(directory, "f6_audit.py", script('op.execute("INSERT INTO audit SELECT 1")', "pass", rev="f6", down="e5",
                                           depends="search"))
    write(directory, "__init__.py", "")
    write(directory, ".#e5_merge.py", "lock file")
    write(directory, "README", "not a script")
    return directory


def test_analyze_dir_orders_base_first_with_merges_and_branches(tmp_path):
    analyses = analyze_dir(branchy(tmp_path / "versions"))
    order = [a.revision for a in analyses]
    assert order[0] == "a1" and order[1] == "b2" and order[-2:] == ["e5", "f6"]
    assert set(order[2:4]) == {"c3", "d4"}
    position = {rev: i for i, rev in enumerate(order)}
    for a in analyses:
        for parent in a.down_revisions + ("d4",) * (a.revision == "f6"):
            assert position[parent] < position[a.revision]
    verdicts = {a.revision: a.verdict for a in analyses}
    assert verdicts == {"a1": R, "b2": R, "c3": L, "d4": R, "e5": R, "f6": I}
    assert analyses[position["e5"]].reasons == ["merge point with no schema changes: nothing to undo"]
    assert all(a.path.endswith(".py") for a in analyses)


def test_topological_order_matches_alembic(tmp_path):
    from alembic.script.revision import Revision, RevisionMap

    analyses = analyze_dir(branchy(tmp_path / "versions"))
    revmap = RevisionMap(lambda: [Revision(a.revision, a.down_revision, dependencies=a.depends_on,
                                           branch_labels=a.branch_labels) for a in analyses])
    alembic_order = [r.revision for r in revmap.iterate_revisions("heads", "base")]  # heads first
    ours = [a.revision for a in analyses]
    # both are valid topological orders of the same graph
    assert set(alembic_order) == set(ours)
    for a in analyses:
        for parent in revmap.get_revision(a.revision)._all_down_revisions:
            assert ours.index(parent) < ours.index(a.revision)


def test_chains_stay_together(tmp_path):
    d = tmp_path / "v"
    write(d, "0.py", script(rev="root", down=None))
    for branch in "xy":
        prev = "root"
        for i in range(3):
            write(d, f"{i}{branch}.py", script(rev=f"{branch}{i}", down=prev))
            prev = f"{branch}{i}"
    order = [a.revision for a in analyze_dir(d)]
    assert order == ["root", "x0", "x1", "x2", "y0", "y1", "y2"]


def test_unparsable_file_in_a_folder(tmp_path):
    d = tmp_path / "v"
    write(d, "a.py", script(rev="a", down=None))
    write(d, "b.py", "revision = 'b'\ndown_revision = 'a'\ndef upgrade(:\n")
    analyses = analyze_dir(d)
    assert [a.revision for a in analyses] == ["a", "b"]
    assert analyses[1].verdict is Verdict.OPAQUE and "SyntaxError" in analyses[1].reasons[0]


def test_missing_dir_and_broken_histories(tmp_path):
    with pytest.raises(AnalysisError, match="not found"):
        analyze_dir(tmp_path / "nope")
    (tmp_path / "file.py").write_text("x = 1")
    with pytest.raises(AnalysisError, match="not a directory"):
        analyze_dir(tmp_path / "file.py")
    dup = tmp_path / "dup"
    write(dup, "a.py", script(rev="a"))
    write(dup, "b.py", script(rev="a"))
    with pytest.raises(AnalysisError, match="defined twice"):
        analyze_dir(dup)
    cyc = tmp_path / "cyc"
    write(cyc, "a.py", script(rev="a", down="b"))
    write(cyc, "b.py", script(rev="b", down="a"))
    with pytest.raises(AnalysisError, match="cycle"):
        analyze_dir(cyc)
    write(tmp_path / "empty", "notes.txt", "")
    assert analyze_dir(tmp_path / "empty") == []


def test_down_revision_outside_the_folder_is_a_root(tmp_path):
    d = tmp_path / "v"
    write(d, "b.py", script(rev="b", down="elsewhere"))
    write(d, "c.py", script(rev="c", down="b"))
    assert [a.revision for a in analyze_dir(d)] == ["b", "c"]


def test_recursive_version_locations(tmp_path):
    d = tmp_path / "v"
    write(d, "a.py", script(rev="a", down=None))
    write(d / "2024", "b.py", script(rev="b", down="a"))
    assert [a.revision for a in analyze_dir(d)] == ["a"]
    assert [a.revision for a in analyze_dir(d, recursive=True)] == ["a", "b"]


def test_the_fixture_folder():
    analyses = analyze_dir(CASES_DIR / "versions")
    assert {a.revision: a.verdict.value for a in analyses} == {
        "0001": "reversible", "0002": "reversible", "0003a": "lossy", "0003b": "reversible",
        "0004": "reversible", "0005": "irreversible", "0006": "opaque",
    }
    assert [a.revision for a in analyses][:2] == ["0001", "0002"]


# ---------------------------------------------------------------------------------------
# steps_between
# ---------------------------------------------------------------------------------------


def ra(rev, down=None, depends=None, labels=None, verdict=Verdict.REVERSIBLE) -> RevisionAnalysis:
    return RevisionAnalysis(revision=rev, down_revision=down, verdict=verdict, reasons=[], depends_on=depends,
                            branch_labels=labels)


GRAPH = [ra("a"), ra("b", "a"), ra("c1", "b"), ra("d1", "c1"), ra("c2", "b"), ra("m", ("d1", "c2")),
         ra("x", None, labels="other"), ra("y", "x", depends="c1"), ra("z", "m", depends="other"),
         ra("cafe0001", "z"), ra("cafe0002", "cafe0001"), ra("beef0003", "cafe0002")]


@pytest.mark.parametrize("current,target,expected", [
    ("b", "a", ["b"]),
    ("d1", "a", ["d1", "c1", "b"]),
    ("d1", None, ["d1", "c1", "b", "a"]),
    ("d1", "base", ["d1", "c1", "b", "a"]),
    ("d1", "d1", []),
    ("m", "b", {"m", "d1", "c1", "c2"}),  # both branches of the merge
    ("m", "c1", ["m", "d1"]),  # the other branch stays
    ("z", None, {"z", "m", "d1", "c1", "c2", "x", "b", "a"}),  # depends_on pulls in another root
    ("y", "b", ["y", "c1"]),  # y depends on c1, so it goes too
    ("beef0003", "cafe0001", ["beef0003", "cafe0002"]),
    ("beef", "cafe0001", ["beef0003", "cafe0002"]),  # partial ids as Alembic takes them
    ("other", "base", ["x"]),  # branch label
])
def test_steps_between(current, target, expected):
    steps = [s.revision for s in steps_between(GRAPH, current, target)]
    if isinstance(expected, set):  # independent branches: any order that undoes children first
        assert set(steps) == expected and steps[0] == current
        assert steps.index("d1") < steps.index("c1")
    else:
        assert steps == expected


@pytest.mark.parametrize("current,target,message", [
    ("m", "x", "not an ancestor"),
    ("b", "d1", "not an ancestor"),
    ("y", "c1", "nothing to downgrade"),  # c1 is only a dependency of y: Alembic refuses too
    ("nope", "a", "not in the migrations directory"),
    ("m", "zz", "not in the migrations directory"),
    ("beef0003", "cafe", "ambiguous"),
    ("m", "d", "not in the migrations directory"),  # "d1" is too short to match a prefix (Alembic: > 3 chars)
])
def test_steps_between_errors(current, target, message):
    with pytest.raises(AnalysisError, match=message):
        steps_between(GRAPH, current, target)


def test_steps_between_from_base():
    assert steps_between(GRAPH, "base", None) == []
    with pytest.raises(AnalysisError):
        steps_between(GRAPH, "base", "a")


@st.composite
def revision_graphs(draw):
    n = draw(st.integers(min_value=1, max_value=9))
    revs = []
    for i in range(n):
        name = f"r{i}"
        parents = draw(st.lists(st.sampled_from([f"r{j}" for j in range(i)]), max_size=2, unique=True)) if i else []
        down = None if not parents else parents[0] if len(parents) == 1 else tuple(parents)
        deps = None
        if i > 1 and draw(st.booleans()):
            dep = draw(st.sampled_from([f"r{j}" for j in range(i)]))
            deps = dep if dep not in parents else None
        revs.append(ra(name, down, deps))
    order = draw(st.permutations(revs))
    current = draw(st.sampled_from([r.revision for r in revs]))
    target = draw(st.sampled_from([None] + [r.revision for r in revs]))
    return list(order), current, target


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(revision_graphs())
def test_steps_between_matches_alembic(graph):
    """Same revisions as `alembic downgrade <target>` from <current>, in an order that
    steps back over every revision before its parents."""
    from alembic.script.revision import Revision, RevisionMap

    analyses, current, target = graph
    revmap = RevisionMap(lambda: [Revision(a.revision, a.down_revision, dependencies=a.depends_on)
                                  for a in analyses])
    try:
        expected = [r.revision for r in revmap.iterate_revisions(current, target or "base",
                                                                  select_for_downgrade=True)]
        alembic_error = None
    except Exception as exc:  # alembic refuses: target not an ancestor
        expected, alembic_error = None, exc
    if target == current:
        assert steps_between(analyses, current, target) == []
        return
    if alembic_error is not None:
        with pytest.raises(AnalysisError):
            steps_between(analyses, current, target)
        return
    ours = [s.revision for s in steps_between(analyses, current, target)]
    assert set(ours) == set(expected)
    assert ours[0] == current or current not in ours
    by_rev = {a.revision: a for a in analyses}
    for i, rev in enumerate(ours):  # a revision is undone before anything it builds on
        for parent in by_rev[rev].down_revisions + by_rev[rev].dependencies:
            if parent in ours:
                assert ours.index(parent) > i


# ---------------------------------------------------------------------------------------
# the property: a lossy upgrade is never called reversible
# ---------------------------------------------------------------------------------------

TABLES = ["users", "expenses", "budgets"]
COLUMNS = ["amount", "note", "email", "name"]
NARROWINGS = [
    ("sa.String(length=255)", "sa.String(length=50)"),
    ("sa.Text()", "sa.String(length=20)"),
    ("sa.BigInteger()", "sa.Integer()"),
    ("sa.Integer()", "sa.SmallInteger()"),
    ("sa.Numeric(12, 4)", "sa.Numeric(12, 2)"),
    ("sa.Numeric(14, 2)", "sa.Numeric(10, 2)"),
    ("sa.DateTime()", "sa.Date()"),
    ("sa.Float()", "sa.Integer()"),
]


@st.composite
def lossy_ops(draw):
    """(upgrade line, the downgrade line that best undoes it)"""
    table, column = draw(st.sampled_from(TABLES)), draw(st.sampled_from(COLUMNS))
    kind = draw(st.sampled_from(["drop_column", "drop_table", "narrow", "batch_drop_column", "batch_narrow"]))
    if kind == "drop_column":
        return (f'op.drop_column("{table}", "{column}")',
                f'op.add_column("{table}", sa.Column("{column}", sa.Text(), nullable=True))')
    if kind == "batch_drop_column":
        return (f'with op.batch_alter_table("{table}") as batch_op:\n    batch_op.drop_column("{column}")',
                f'with op.batch_alter_table("{table}") as batch_op:\n'
                f'    batch_op.add_column(sa.Column("{column}", sa.Text(), nullable=True))')
    if kind == "drop_table":
        return (f'op.drop_table("{table}")', f'op.create_table("{table}", sa.Column("id", sa.Integer()))')
    wide, narrow = draw(st.sampled_from(NARROWINGS))
    if kind == "batch_narrow":
        return (f'with op.batch_alter_table("{table}") as batch_op:\n'
                f'    batch_op.alter_column("{column}", existing_type={wide}, type_={narrow})',
                f'with op.batch_alter_table("{table}") as batch_op:\n'
                f'    batch_op.alter_column("{column}", existing_type={narrow}, type_={wide})')
    return (f'op.alter_column("{table}", "{column}", existing_type={wide}, type_={narrow})',
            f'op.alter_column("{table}", "{column}", existing_type={narrow}, type_={wide})')


@st.composite
def reversible_ops(draw):
    table, column = draw(st.sampled_from(TABLES)), draw(st.sampled_from(["extra", "flag", "code"]))
    n = draw(st.integers(0, 99))
    kind = draw(st.sampled_from(["add_column", "create_table", "create_index", "unique", "fk", "rename_table",
                                 "tighten", "default", "batch_add", "rename_column", "check"]))
    if kind == "add_column":
        return (f'op.add_column("{table}", sa.Column("{column}{n}", sa.Integer(), nullable=True))',
                f'op.drop_column("{table}", "{column}{n}")')
    if kind == "batch_add":
        return (f'with op.batch_alter_table("{table}") as batch_op:\n'
                f'    batch_op.add_column(sa.Column("{column}{n}", sa.String(10)))',
                f'with op.batch_alter_table("{table}") as batch_op:\n    batch_op.drop_column("{column}{n}")')
    if kind == "create_table":
        return (f'op.create_table("new_{n}", sa.Column("id", sa.Integer(), primary_key=True))',
                f'op.drop_table("new_{n}")')
    if kind == "create_index":
        return (f'op.create_index("ix_{table}_{n}", "{table}", ["{column}"])',
                f'op.drop_index("ix_{table}_{n}", table_name="{table}")')
    if kind == "unique":
        return (f'op.create_unique_constraint("uq_{table}_{n}", "{table}", ["{column}"])',
                f'op.drop_constraint("uq_{table}_{n}", "{table}", type_="unique")')
    if kind == "check":
        return (f'op.create_check_constraint("ck_{table}_{n}", "{table}", "{column} > 0")',
                f'op.drop_constraint("ck_{table}_{n}", "{table}", type_="check")')
    if kind == "fk":
        return (f'op.create_foreign_key("fk_{table}_{n}", "{table}", "users", ["{column}"], ["id"])',
                f'op.drop_constraint("fk_{table}_{n}", "{table}", type_="foreignkey")')
    if kind == "rename_table":
        return (f'op.rename_table("old_{n}", "renamed_{n}")', f'op.rename_table("renamed_{n}", "old_{n}")')
    if kind == "rename_column":
        return (f'op.alter_column("{table}", "c{n}", new_column_name="d{n}")',
                f'op.alter_column("{table}", "d{n}", new_column_name="c{n}")')
    if kind == "tighten":
        return (f'op.alter_column("{table}", "t{n}", existing_type=sa.Integer(), nullable=False)',
                f'op.alter_column("{table}", "t{n}", existing_type=sa.Integer(), nullable=True)')
    return (f'op.alter_column("{table}", "s{n}", server_default="0")',
            f'op.alter_column("{table}", "s{n}", server_default=None)')


NOISE_DOWN = [
    'op.drop_table("users")',
    'op.drop_column("users", "email")',
    'op.create_index("ix_noise", "users", ["email"])',
    'op.execute("DELETE FROM users")',
    "pass",
    'raise NotImplementedError()',
]


@st.composite
def lossy_scripts(draw):
    lossy = draw(st.lists(lossy_ops(), min_size=1, max_size=3))
    fine = draw(st.lists(reversible_ops(), max_size=4))
    pairs = draw(st.permutations(lossy + fine))
    up = [p[0] for p in pairs]
    mirror = [p[1] for p in reversed(pairs)]
    style = draw(st.sampled_from(["mirror", "shuffled", "partial", "extra", "noise"]))
    if style == "shuffled":
        down = draw(st.permutations(mirror))
    elif style == "partial":
        down = draw(st.lists(st.sampled_from(mirror), max_size=len(mirror), unique=True))
    elif style == "extra":
        down = mirror + draw(st.lists(st.sampled_from(NOISE_DOWN), max_size=2))
    elif style == "noise":
        down = draw(st.lists(st.sampled_from(NOISE_DOWN + mirror), max_size=6))
    else:
        down = mirror
    return "\n".join(up), "\n".join(down) or "pass"


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(lossy_scripts())
def test_lossy_upgrade_is_never_called_reversible(scripts):
    up, down = scripts
    result = analyze_source(script(up, down))
    assert result.verdict is not Verdict.REVERSIBLE, (up, down, result.reasons)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(reversible_ops(), min_size=1, max_size=6, unique_by=lambda p: p[0]))
def test_exact_mirror_of_reversible_ops_is_reversible(pairs):
    up = "\n".join(p[0] for p in pairs)
    down = "\n".join(p[1] for p in reversed(pairs))
    result = analyze_source(script(up, down))
    assert result.verdict is Verdict.REVERSIBLE, (up, down, result.reasons)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(reversible_ops(), min_size=1, max_size=5, unique_by=lambda p: p[0]), st.data())
def test_dropping_any_inverse_makes_it_irreversible(pairs, data):
    """Leaving one upgrade op undone is never reversible."""
    victim = data.draw(st.integers(0, len(pairs) - 1))
    up = "\n".join(p[0] for p in pairs)
    down_ops = [p[1] for i, p in enumerate(pairs) if i != victim and p[1] != pairs[victim][1]]
    result = analyze_source(script(up, "\n".join(reversed(down_ops)) or "pass"))
    assert result.verdict is Verdict.IRREVERSIBLE, (up, down_ops, result.reasons)


# ---------------------------------------------------------------------------------------
# command line
# ---------------------------------------------------------------------------------------


def run_module(*args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PYTHONPATH"] = str(REPO)
    return subprocess.run([sys.executable, "-m", "bot.analysis", *args], capture_output=True, text=True,
                          cwd=REPO, env=env, timeout=60)


def test_cli_json(tmp_path):
    versions = branchy(tmp_path / "versions")
    proc = run_module(str(versions), "--json")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert isinstance(data, list) and len(data) == 6
    for item in data:
        assert list(item) == ["revision", "down_revision", "verdict", "reasons"]
        assert item["verdict"] in {"reversible", "lossy", "irreversible", "opaque"}
        assert isinstance(item["reasons"], list) and all(isinstance(r, str) and r for r in item["reasons"])
        assert item["down_revision"] is None or isinstance(item["down_revision"], (str, list))
    assert data[0] == {"revision": "a1", "down_revision": None, "verdict": "reversible",
                       "reasons": ["downgrade drops table users created by the upgrade; rows written to it are lost"]}
    merge = next(item for item in data if item["revision"] == "e5")
    assert merge["down_revision"] == ["c3", "d4"] and merge["verdict"] == "reversible"
    assert proc.stderr == ""


def test_cli_human_table(tmp_path):
    proc = run_module(str(branchy(tmp_path / "versions")))
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].split() == ["REVISION", "DOWN_REVISION", "VERDICT"]
    assert any(line.split()[:3] == ["c3", "b2", "lossy"] for line in lines)
    assert any(line.startswith("e5") and "(c3, d4)" in line for line in lines)
    assert "    - upgrade drops column users.legacy" in proc.stdout
    assert lines[-1].startswith("6 revisions:")


def test_cli_errors_and_help(tmp_path):
    proc = run_module(str(tmp_path / "missing"), "--json")
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert "migrations directory not found" in proc.stderr and "missing" in proc.stderr
    proc = run_module("--help")
    assert proc.returncode == 0 and "--json" in proc.stdout
    proc = run_module()
    assert proc.returncode == 2


def test_run_cli_in_process(tmp_path, capsys):
    import io

    out = io.StringIO()
    assert run_cli(str(branchy(tmp_path / "v")), True, out) == 0
    assert [item["revision"] for item in json.loads(out.getvalue())][:2] == ["a1", "b2"]
    assert run_cli(str(tmp_path / "missing"), True, io.StringIO()) == 2
    assert "not found" in capsys.readouterr().err


def test_module_imports_only_the_standard_library():
    code = ("import sys; before = set(sys.modules); import bot.analysis; "
            "print('\\n'.join(sorted(set(sys.modules) - before)))")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PYTHONPATH"] = str(REPO)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, env=env,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr
    loaded = {m.split(".")[0] for m in proc.stdout.split()}
    assert loaded - set(sys.stdlib_module_names) - {"bot"} == set()


# ---------------------------------------------------------------------------------------
# ground truth: real Alembic on SQLite agrees with the verdicts it can show
# ---------------------------------------------------------------------------------------

ENV_PY = '''
from alembic import context
from sqlalchemy import create_engine

config = context.config
engine = create_engine(config.get_main_option("sqlalchemy.url"))
with engine.connect() as connection:
    context.configure(connection=connection, target_metadata=None, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()
'''


def _alembic(tmp_path: Path, revisions: list[str]):
    from alembic import command
    from alembic.config import Config

    root = tmp_path / "alembic"
    (root / "versions").mkdir(parents=True)
    (root / "env.py").write_text(ENV_PY)
    (root / "script.py.mako").write_text("")
    for i, text in enumerate(revisions):
        (root / "versions" / f"{i:04d}.py").write_text(text)
    db = tmp_path / "app.db"
    cfg = Config()
    cfg.set_main_option("script_location", str(root))
    cfg.set_main_option("sqlalchemy.url", f"sqlite:///{db}")
    return command, cfg, db, root / "versions"


def _snapshot(db: Path) -> tuple:
    with sqlite3.connect(db) as conn:
        tables = [r[0] for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type='table' AND name != 'alembic_version' ORDER BY name")]
        schema = {t: [tuple(c[1:3]) for c in conn.execute(f"PRAGMA table_info({t})")] for t in tables}
        rows = {t: sorted(conn.execute(f"SELECT * FROM {t}").fetchall()) for t in tables}
    return schema, rows


def test_reversible_and_lossy_verdicts_hold_on_a_real_database(tmp_path):
    base = script('op.create_table("users", sa.Column("id", sa.Integer(), primary_key=True), '
                  'sa.Column("name", sa.String(50)), sa.Column("legacy", sa.Text()))',
                  'op.drop_table("users")', rev="0001", down=None)
    reversible = script("""
        op.create_table("budgets", sa.Column("id", sa.Integer(), primary_key=True))
        op.add_column("users", sa.Column("nickname", sa.String(50), nullable=True))
        op.create_index("ix_users_name", "users", ["name"])
    """, """
        op.drop_index("ix_users_name", table_name="users")
        op.drop_column("users", "nickname")
        op.drop_table("budgets")
    """, rev="0002", down="0001")
    lossy = script("""
        with op.batch_alter_table("users") as batch_op:
            batch_op.drop_column("legacy")
    """, """
        with op.batch_alter_table("users") as batch_op:
            batch_op.add_column(sa.Column("legacy", sa.Text(), nullable=True))
    """, rev="0003", down="0002")
    command, cfg, db, versions = _alembic(tmp_path, [base, reversible, lossy])
    verdicts = {a.revision: a.verdict for a in analyze_dir(versions)}
    assert verdicts == {"0001": R, "0002": R, "0003": L}

    command.upgrade(cfg, "0001")
    with sqlite3.connect(db) as conn:
        conn.execute("INSERT INTO users (id, name, legacy) VALUES (1, 'ann', 'old data'), (2, 'bob', NULL)")
    before = _snapshot(db)

    command.upgrade(cfg, "0002")
    with sqlite3.connect(db) as conn:  # data written into what the upgrade created
        conn.execute("UPDATE users SET nickname = 'annie' WHERE id = 1")
        conn.execute("INSERT INTO budgets (id) VALUES (7)")
    command.downgrade(cfg, "0001")
    assert _snapshot(db) == before  # reversible: schema and every pre-existing row and value are back

    command.upgrade(cfg, "0003")
    command.downgrade(cfg, "0001")
    schema, rows = _snapshot(db)
    assert schema == before[0]  # lossy: the downgrade runs and the schema comes back ...
    assert rows != before[1]  # ... but the dropped column's values do not
    assert rows["users"] == [(1, "ann", None), (2, "bob", None)]
