"""Admin commands, using DATABASE_URL from the environment.

    python -m budgetbuddy.manage create-user USERNAME [PASSWORD]
        Create the user, or set its password when it exists (idempotent). Without
        PASSWORD, the password is read from BUDGETBUDDY_USER_PASSWORD, else from stdin
        (one line), so it need not appear in a process listing.

    python -m budgetbuddy.manage seed
        Insert demo accounts and transactions (with legacy_ref values while that column
        exists, i.e. at revisions 0002..0003), for data-loss tests. Needs revision 0002+.

Exit status: 0 ok, 1 failure (message on stderr), 2 usage error.
"""

from __future__ import annotations

import argparse
import os
import sys
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import sqlalchemy as sa

from .db import describe_db_error, make_engine, users
from .security import hash_password

SEED_OWNER = "seed@budgetbuddy.test"


def _database_url() -> str:
    url = (os.environ.get("DATABASE_URL") or "").strip()
    if not url:
        raise SystemExit("error: DATABASE_URL is not set")
    return url


def create_user(url: str, username: str, password: str) -> str:
    """'created' or 'updated'."""
    engine = make_engine(url, connect_timeout_s=10)
    try:
        with engine.begin() as conn:
            return _upsert_user(conn, username, password)[0]
    finally:
        engine.dispose()


def _upsert_user(conn, username: str, password: str) -> tuple[str, int]:
    """('created' | 'updated', user id)."""
    hashed = hash_password(password)
    existing = conn.execute(sa.select(users.c.id).where(users.c.username == username)).first()
    if existing:
        conn.execute(users.update().where(users.c.id == existing.id).values(password_hash=hashed))
        return "updated", existing.id
    result = conn.execute(
        users.insert().values(
            username=username, password_hash=hashed, created_at=datetime.now(timezone.utc)
        )
    )
    return "created", result.inserted_primary_key[0]


def seed(url: str) -> dict[str, int]:
    engine = make_engine(url, connect_timeout_s=10)
    try:
        with engine.begin() as conn:
            inspector = sa.inspect(conn)
            if not inspector.has_table("transactions"):
                raise RuntimeError(
                    "the schema has no transactions table yet: run `alembic upgrade head` "
                    "(or at least 0002_accounts_transactions) first"
                )
            tx_cols = {c["name"] for c in inspector.get_columns("transactions")}
            meta = sa.MetaData()
            accounts = sa.Table("accounts", meta, autoload_with=conn)
            transactions = sa.Table("transactions", meta, autoload_with=conn)
            owner = conn.execute(
                sa.select(users.c.id).where(users.c.username == SEED_OWNER)
            ).first()
            owner_id = owner.id if owner else _upsert_user(conn, SEED_OWNER, os.urandom(16).hex())[1]
            now = datetime.now(timezone.utc)
            counts = {"accounts": 0, "transactions": 0}
            for a, (name, currency) in enumerate([("Checking", "EUR"), ("Savings", "EUR")]):
                account_id = conn.execute(
                    accounts.insert().values(
                        user_id=owner_id, name=name, currency=currency, created_at=now
                    )
                ).inserted_primary_key[0]
                counts["accounts"] += 1
                for i in range(5):
                    row = {
                        "account_id": account_id,
                        "amount": Decimal(f"-{12 + 7 * i + a}.50"),
                        "description": f"{name} purchase {i + 1}",
                        "occurred_at": now - timedelta(days=3 * i),
                    }
                    if "legacy_ref" in tx_cols:
                        row["legacy_ref"] = f"LEG-{account_id:04d}-{i + 1:03d}"
                    if "note" in tx_cols:
                        row["note"] = f"seeded note {i + 1}"
                    conn.execute(transactions.insert().values(**row))
                    counts["transactions"] += 1
            return counts
    finally:
        engine.dispose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m budgetbuddy.manage")
    sub = parser.add_subparsers(dest="command", required=True)
    cu = sub.add_parser("create-user", help="create a user or reset its password")
    cu.add_argument("username")
    cu.add_argument("password", nargs="?")
    sub.add_parser("seed", help="insert demo accounts and transactions")
    args = parser.parse_args(argv)
    url = _database_url()
    try:
        if args.command == "create-user":
            password = args.password
            if password is None:
                password = os.environ.get("BUDGETBUDDY_USER_PASSWORD")
            if password is None:
                password = sys.stdin.readline().rstrip("\r\n")
            if not password:
                print("error: empty password", file=sys.stderr)
                return 2
            outcome = create_user(url, args.username, password)
            print(f"user {args.username}: {outcome}")
        else:
            counts = seed(url)
            print(f"seeded {counts['accounts']} accounts, {counts['transactions']} transactions")
    except RuntimeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except sa.exc.SQLAlchemyError as exc:
        print(f"error: database: {describe_db_error(exc, url)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
