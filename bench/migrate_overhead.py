"""What bb-ops adds to a migration: `/bb migrate` from the approval click to "done", against the
same work done by hand, on equivalent PostgreSQL databases with data, in the same run.

    bot:  signed Approve click → worker: lock, re-check the plan (alembic heads + current) while
          the snapshot is taken (pg_dump -Fc streamed to the file and through a full read by
          pg_restore, then the file's size and SHA-256 checked), alembic upgrade head,
          current == head (its Python started during the upgrade, asked after it), readyz, every
          step audited and posted to the (stand-in) channel
    raw:  pg_dump -Fc, then alembic upgrade head (what the runbook has a person type)

Each round builds two identical databases (0003_transaction_note, --rows transactions), runs one
with the bot and one by hand, alternating which goes first. The bot runs its jobs in-process
(the very job function an RQ worker runs; no queue latency is counted). Figures only, no
pass/fail; the issue's target is a ratio ≤ 1.1×.

    .venv/bin/python bench/migrate_overhead.py [--rounds 3] [--rows 200000]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path


from bot.devkit.reference_target import ReferenceTarget
from bot.devkit.services import PostgresServer
from bot.devkit.world import (
    ALICE,
    BOB,
    CHANNEL,
    env_block,
    make_settings,
    write_config,
)

START = "0003_transaction_note"
HEAD = "0006_user_display_name"


def fill(target: ReferenceTarget, rows: int) -> None:
    """Accounts and `rows` transactions (with legacy refs and notes), by SQL on the server."""
    import psycopg

    url = target.effective_database_url.replace("postgresql+psycopg://", "postgresql://")
    accounts = max(1, rows // 400)
    with psycopg.connect(url) as conn:
        conn.execute("INSERT INTO accounts (user_id, name, currency) SELECT u.id, 'account ' || g, "
                     "CASE WHEN g %% 2 = 0 THEN 'eur' ELSE 'usd' END FROM users u, generate_series(1, %s) g",
                     (accounts,))
        conn.execute("INSERT INTO transactions (account_id, amount, description, legacy_ref, note, occurred_at) "
                     "SELECT a.id, round((random() * 200 - 150)::numeric, 2), 'purchase ' || g, "
                     "'LEG-' || a.id || '-' || g, 'note ' || g, now() - g * interval '1 minute' "
                     "FROM accounts a, generate_series(1, %s) g", (rows // accounts,))
        conn.execute("ANALYZE")


def prepare(pg: PostgresServer, stack: ExitStack, workdir: Path, rows: int) -> ReferenceTarget:
    url = stack.enter_context(pg.scratch("bbbench"))
    target = ReferenceTarget(workdir=workdir, database_url=url)
    target.write_env_file()
    target.migrate(START)
    target.create_user()
    fill(target, rows)
    return target


def raw_migration(target: ReferenceTarget, dump_path: Path) -> float:
    """pg_dump -Fc + alembic upgrade head, as the runbook has a person type them."""
    from sqlalchemy.engine import make_url

    from workers.target.snapshots import TargetDB

    u = make_url(target.effective_database_url)
    db = TargetDB("postgresql", target.effective_database_url, u.host, u.port, u.username, u.password, u.database)
    env = {**target.process_env(), "PGPASSWORD": u.password or ""}
    started = time.perf_counter()
    subprocess.run(["pg_dump", "--format=custom", "--no-owner", "--file", str(dump_path), *db.pg_args(),
                    "--dbname", u.database], env=env, check=True, stdout=subprocess.DEVNULL)
    subprocess.run([target.python, "-m", "alembic", "upgrade", "head"], cwd=target.backend_dir, env=env, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    elapsed = time.perf_counter() - started
    assert target.current_revision() == HEAD
    return elapsed


def bot_migration(target: ReferenceTarget, workdir: Path) -> tuple[float, dict[str, float]]:
    """`/bb migrate prod` (plan and card, not timed), then the Approve click → done (timed)."""
    from bot.devkit.driver import Driver
    from bot.devkit.standin import SlackStandIn

    os.environ["BB_SMOKE_USER_PROD"], os.environ["BB_SMOKE_PASSWORD_PROD"] = target.smoke_user, target.smoke_password
    target.start(migrate=False)
    try:
        with SlackStandIn() as standin:
            cfg = write_config(workdir / "environments.yaml", {"production": env_block(
                target, snapshots_dir=workdir / "snapshots", aliases=["prod"])})
            settings = make_settings(workdir, cfg, slack_api_url=standin.base_url)
            with Driver(settings, standin=standin, in_process=True) as bot:
                bot.command(ALICE, CHANNEL, "migrate prod")
                run = bot.rt.store.runs(limit=1)[0]
                assert run.status.value == "awaiting_approval", run.summary
                started = time.perf_counter()
                bot.click(BOB, run.id, "approve")
                elapsed = time.perf_counter() - started
                run = bot.rt.store.get_run(run.id)
                assert run.status.value == "succeeded", run.summary
                steps = step_times(bot.rt.store.audit_events(run.id))
                bot.rt.store.engine.dispose()
    finally:
        target.stop()
    assert target.current_revision() == HEAD
    return elapsed, steps


def step_times(events: list[dict]) -> dict[str, float]:
    """Seconds per audited step (the snapshot runs while the plan is re-checked), plus the time from
    the approval to the lock, from the lock to the upgrade, and from the last step to the end."""
    out, opened = {}, {}
    approved = next(e["ts"] for e in events if e["event"] == "approved")
    locked = next(e["ts"] for e in events if e["event"] == "lock_acquired")
    out["approval → lock"] = (locked - approved).total_seconds()
    upgrade = next(e["ts"] for e in events if e["event"] == "step_started" and e["detail"].get("step") == "alembic_upgrade")
    out["lock → upgrade starts (re-check ∥ snapshot)"] = (upgrade - locked).total_seconds()
    for e in events:
        step = e["detail"].get("step") if isinstance(e["detail"], dict) else None
        if e["event"] == "step_started":
            opened[step] = e["ts"]
        elif e["event"] == "step_finished" and step in opened:
            out[step] = (e["ts"] - opened.pop(step)).total_seconds()
    last_step = max(e["ts"] for e in events if e["event"] == "step_finished")
    done = next(e["ts"] for e in events if e["event"] == "succeeded")
    out["last step → succeeded"] = (done - last_step).total_seconds()
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--rows", type=int, default=200_000, help="transactions per database (default 200000)")
    args = ap.parse_args()
    # the bot's steps overlap subprocesses: on a small machine the figures are CPU-bound, and another
    # busy process on it (a test suite) shifts them by tenths of a second
    print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f} at start", flush=True)
    if not shutil.which("pg_dump"):
        print("pg_dump is not installed (PostgreSQL client tools); nothing measured")
        return 1
    pg = PostgresServer()
    tmp = Path(tempfile.mkdtemp(prefix="bbops-bench-migrate-"))
    bots, raws, breakdowns, sizes = [], [], [], []
    try:
        for i in range(args.rounds):
            with ExitStack() as stack:
                bot_target = prepare(pg, stack, tmp / f"bot-{i}", args.rows)
                raw_target = prepare(pg, stack, tmp / f"raw-{i}", args.rows)
                order = ("bot", "raw") if i % 2 == 0 else ("raw", "bot")
                for which in order:
                    if which == "bot":
                        elapsed, steps = bot_migration(bot_target, tmp / f"bot-{i}")
                        bots.append(elapsed)
                        breakdowns.append(steps)
                    else:
                        dump = tmp / f"raw-{i}.dump"
                        raws.append(raw_migration(raw_target, dump))
                        sizes.append(dump.stat().st_size)
            print(f"round {i + 1}: bot {bots[-1]:.2f} s, raw {raws[-1]:.2f} s, ratio {bots[-1] / raws[-1]:.2f}×",
                  flush=True)
    finally:
        pg.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    bot_med, raw_med = statistics.median(bots), statistics.median(raws)
    print(f"\ndatabase: {args.rows:,} transactions, {START} → {HEAD} (3 revisions), "
          f"dump {statistics.median(sizes) / 1e6:.1f} MB (-Fc)")
    print(f"bot  /bb migrate, approval click → done: median {bot_med:.2f} s  ({', '.join(f'{b:.2f}' for b in bots)})")
    print(f"raw  pg_dump -Fc + alembic upgrade head: median {raw_med:.2f} s  ({', '.join(f'{r:.2f}' for r in raws)})")
    print(f"ratio bot / raw: {bot_med / raw_med:.2f}×  (target ≤ 1.1×)")
    print("bot steps (median s): " + ", ".join(
        f"{name} {statistics.median(b[name] for b in breakdowns if name in b):.2f}"
        for name in breakdowns[0]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
