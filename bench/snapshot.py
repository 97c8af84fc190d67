"""Snapshot cost: `workers.target.snapshots.take` (pg_dump -Fc, then SHA-256 and a full read of the archive,
recorded in the bot database) against a plain `pg_dump -Fc`, on a PostgreSQL database of at least
100 MB that this script makes (generate_series inserts) and drops again. Target (issue 7): take +
verify ≤ 1.3× plain pg_dump. Figures only.

    .venv/bin/python bench/snapshot.py [--mb 100] [--rounds 5]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path


import psycopg

from bot.core.config import BotConfig
from bot.devkit.reference_target import dotenv_quote
from bot.devkit.services import PostgresServer

ROWS_PER_BATCH = 200_000


class _Runtime:
    def __init__(self, store) -> None:
        self.store = store


def fill(url: str, target_mb: int) -> int:
    """Rows of a realistic mix (ids, amounts, timestamps, text) until the database has target_mb."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE TABLE ledger (id bigint PRIMARY KEY, account int NOT NULL, amount numeric(12,2), "
                     "booked_at timestamptz, memo text, ref text)")
        start = 0
        while conn.execute("SELECT pg_database_size(current_database())").fetchone()[0] < target_mb * 1024 * 1024:
            conn.execute(
                "INSERT INTO ledger SELECT g, g %% 997, (g %% 100000) / 100.0, "
                "timestamptz '2024-01-01' + (g || ' seconds')::interval, "
                "'payment ' || (g %% 5000) || ' for invoice ' || md5(g::text), md5((g * 7)::text) "
                "FROM generate_series(%s, %s) g", (start + 1, start + ROWS_PER_BATCH))
            start += ROWS_PER_BATCH
        conn.execute("VACUUM ANALYZE ledger")
        return conn.execute("SELECT pg_database_size(current_database())").fetchone()[0]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mb", type=int, default=100, help="database size to build, MB (default 100)")
    ap.add_argument("--rounds", type=int, default=5, help="timed rounds of each, alternating (default 5)")
    args = ap.parse_args()

    from bot.devkit.reference_target import scratch_postgres_database
    from bot.infra.db.engine import make_engine, upgrade
    from bot.infra.store import Store
    from workers.target import snapshots

    tmp = Path(tempfile.mkdtemp(prefix="bbops-bench-snap-"))
    server = PostgresServer()
    try:
        with scratch_postgres_database(server.admin_dsn, prefix="bbsnapbench", host=server.host,
                                      port=server.port) as url:
            plain_url = url.replace("postgresql+psycopg://", "postgresql://")
            t0 = time.perf_counter()
            size = fill(plain_url, args.mb)
            print(f"database: {size / 2**20:.0f} MB (built in {time.perf_counter() - t0:.1f} s)")

            env_file = tmp / "app.env"
            env_file.write_text(f"DATABASE_URL={dotenv_quote(url)}\n")
            config = BotConfig.model_validate({"environments": {"bench": {
                "base_url": "http://127.0.0.1:9", "channels": ["C0BENCH"], "app_env": {"file": str(env_file)},
                "approval": {"approvers": ["U0BENCH"]},
                "snapshots": {"dir": str(tmp / "snapshots"), "keep": 2}}}})
            env = config.environments["bench"]
            bot_db = f"sqlite:///{tmp / 'bbops.sqlite3'}"
            upgrade(bot_db)
            rt = _Runtime(Store(make_engine(bot_db)))
            db = snapshots.target_db(env)

            plain, taken, verify_only, archive = [], [], [], 0
            for i in range(args.rounds):
                out = tmp / f"plain-{i}.dump"
                t0 = time.perf_counter()
                snapshots.run_pg(env, db, ["pg_dump", "--format=custom", "--no-owner", "--file", str(out),
                                           *db.pg_args(), "--dbname", db.database], 3600, "pg_dump")
                plain.append(time.perf_counter() - t0)
                out.unlink()

                t0 = time.perf_counter()
                snap = snapshots.take(rt, env, None, "bench")
                taken.append(time.perf_counter() - t0)
                if not snap.verified:
                    print(f"snapshot failed verification: {snap.verify_detail}")
                    return 1
                archive = snap.size_bytes
                t0 = time.perf_counter()
                snapshots.verify(env, db, Path(snap.path), expected_sha256=snap.sha256)
                verify_only.append(time.perf_counter() - t0)
            p, t = statistics.median(plain), statistics.median(taken)
            print(f"archive: {archive / 2**20:.1f} MB (-Fc)")
            print(f"plain pg_dump -Fc:            median {p:.2f} s  ({', '.join(f'{x:.2f}' for x in plain)})")
            print(f"take + verify (sha256, full read): median {t:.2f} s  ({', '.join(f'{x:.2f}' for x in taken)})")
            print(f"of which verify (sha256 and full read, side by side): median {statistics.median(verify_only):.2f} s")
            print(f"ratio: {t / p:.2f}x (target <= 1.3x)")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
