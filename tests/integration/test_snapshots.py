"""Verified snapshots: a full read of the archive catches a truncated dump (``pg_restore --list``
alone does not), a snapshot that fails verification blocks the migrate end to end, retention keeps
the newest verified ones, and `/bb snapshots` lists them."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import psycopg
import pytest

from bot.core.errors import SubprocessFailed
from bot.core.runs import RunStatus
from bot.devkit.world import ALICE, BOB, CHANNEL
from bot.infra.db.models import utcnow
from tests.support.fixtures_bot import make_driver
from tests.support.messages import thread_texts
from tests.support.processes import alive, wait_until
from workers.target import snapshots

BULK = ("INSERT INTO transactions (account_id, amount, description, occurred_at) "
        "SELECT (SELECT min(id) FROM accounts), g, 'bulk row ' || g, now() FROM generate_series(1, 20000) g")


def pg_exec(target, query: str):
    url = target.effective_database_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(url, autocommit=True) as conn:
        cur = conn.execute(query)
        return cur.fetchall() if cur.description else None


def test_full_read_catches_a_truncated_archive_that_pg_restore_list_accepts(tmp_path, make_target, standin):
    target = make_target(revision="0005_budgets")
    target.seed()
    pg_exec(target, BULK)
    with make_driver(tmp_path, target, standin, in_process=True) as bot:
        env = bot.rt.config.environments["production"]
        db = snapshots.target_db(env)
        snap = snapshots.take(bot.rt, env, None, "0005_budgets")
        assert snap.verified, snap.verify_detail
        assert "full read" in snap.verify_detail and len(snap.sha256) == 64 and snap.size_bytes > 50_000
        path = Path(snap.path)
        assert snapshots.verify(env, db, path, expected_sha256=snap.sha256)[0]

        truncated = tmp_path / "truncated.dump"
        truncated.write_bytes(path.read_bytes()[: snap.size_bytes * 3 // 4])
        listing = subprocess.run(["pg_restore", "--list", str(truncated)], capture_output=True, text=True)
        assert listing.returncode == 0 and "TABLE DATA public transactions" in listing.stdout   # TOC reads fine
        ok, detail = snapshots.verify(env, db, truncated)
        assert not ok and "full read of the archive failed" in detail and "end of file" in detail

        # the recorded checksum catches any change to the file, even one a full read would accept
        ok, detail = snapshots.verify(env, db, path, expected_sha256="0" * 64)
        assert not ok and "checksum mismatch" in detail
        assert snapshots.verify(env, db, tmp_path / "missing.dump") == (False, "snapshot file is missing or empty")


def test_a_truncated_snapshot_blocks_the_migrate(tmp_path, make_target, standin, monkeypatch):
    target = make_target(revision="0005_budgets")
    target.seed()
    pg_exec(target, BULK)          # enough data that the cut falls in the data, past the table of contents
    # pg_dump that exits 0 but whose archive is cut short (a writer killed or a full volume under an NFS
    # mount that did not report it): the real pg_dump, then its archive cut to three quarters, whether
    # it was written to a file (--file) or to stdout (the snapshot streams it through a pipe)
    real = shutil.which("pg_dump")
    bindir = tmp_path / "bin"
    bindir.mkdir()
    wrapper = bindir / "pg_dump"
    wrapper.write_text(f"#!{sys.executable}\nimport os, subprocess, sys\n"
                       "if '--file' in sys.argv:\n"
                       f"    rc = subprocess.call([{real!r}, *sys.argv[1:]])\n"
                       "    path = sys.argv[sys.argv.index('--file') + 1]\n"
                       "    if rc == 0:\n"
                       "        size = os.path.getsize(path)\n"
                       "        with open(path, 'r+b') as f:\n"
                       "            f.truncate(size * 3 // 4)\n"
                       "else:\n"
                       f"    done = subprocess.run([{real!r}, *sys.argv[1:]], stdout=subprocess.PIPE)\n"
                       "    rc = done.returncode\n"
                       "    sys.stdout.buffer.write(done.stdout[: len(done.stdout) * 3 // 4] if rc == 0 else done.stdout)\n"
                       "    sys.stdout.buffer.flush()\n"
                       "sys.exit(rc)\n")
    wrapper.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ['PATH']}")
    with make_driver(tmp_path, target, standin, in_process=True) as bot:
        bot.command(ALICE, CHANNEL, "migrate prod")
        run = bot.rt.store.runs(limit=1)[0]
        assert run.status is RunStatus.AWAITING_APPROVAL
        bot.click(BOB, run.id, "approve")
        run = bot.rt.store.get_run(run.id)
        assert run.status is RunStatus.FAILED
        assert "snapshot of production failed verification; nothing was migrated" in run.summary
        assert "full read of the archive failed" in thread_texts(bot.standin, run.parent_ts)[-1]
        assert target.current_revision() == "0005_budgets"               # the upgrade never ran

        snap = bot.rt.store.snapshots("production")[0]
        assert not snap.verified
        bot.command(ALICE, CHANNEL, "snapshots prod")
        listing = thread_texts(bot.standin, bot.rt.store.runs(limit=1)[0].parent_ts)[-1]
        assert f"{snap.name}: revision 0005_budgets" in listing and "NOT verified (full read of the archive failed" \
            in listing and "0 verified" in bot.rt.store.runs(limit=1)[0].summary

        # and an unverified snapshot is never restored
        bot.command(ALICE, CHANNEL, f"restore prod {snap.name}")
        run = bot.rt.store.runs(limit=1)[0]
        assert run.status is RunStatus.FAILED and run.card_ts is None
        assert f"snapshot {snap.name} is not verified" in run.summary


def test_retention_keeps_the_newest_verified_snapshots(tmp_path, session_target, standin):
    with make_driver(tmp_path, session_target, standin, in_process=True, snapshots={"keep": 2}) as bot:
        env = bot.rt.config.environments["production"]
        directory = snapshots.snapshot_dir(env)

        def add(name, verified, age_min, revision="0006_user_display_name"):
            path = directory / f"{name}.dump"
            path.write_bytes(b"x" * 2048)
            bot.rt.store.add_snapshot(name=name, env="production", run_id=None, revision=revision, path=str(path),
                                      size_bytes=2048, sha256="0" * 64, verified=verified,
                                      verify_detail="full read ok" if verified else "full read of the archive failed",
                                      created_at=utcnow() - timedelta(minutes=age_min))
            return path

        paths = {n: add(n, v, a) for n, v, a in [("v1", True, 300), ("v2", True, 200), ("u3", False, 150),
                                                 ("v4", True, 100)]}
        assert snapshots.prune(bot.rt, env) == ["u3", "v1"]
        assert [s.name for s in bot.rt.store.snapshots("production")] == ["v4", "v2"]
        assert not paths["v1"].exists() and not paths["u3"].exists() and paths["v2"].exists()

        paths["u5"] = add("u5", False, 5)            # the latest attempt failed: it stays visible
        assert snapshots.prune(bot.rt, env) == []
        bot.command(ALICE, CHANNEL, "snapshots prod")
        run = bot.rt.store.runs(limit=1)[0]
        assert run.summary == "3 snapshots of production, 2 verified"
        text = thread_texts(bot.standin, run.parent_ts)[-1]
        assert "u5: revision 0006_user_display_name, 2,048 bytes, 5 min old, NOT verified" in text
        assert "v4: revision 0006_user_display_name, 2,048 bytes, 1 h old, verified" in text
        assert "next: `/bb restore production v4`" in text

        paths["v6"] = add("v6", True, 1)
        assert snapshots.prune(bot.rt, env) == ["u5", "v2"]
        assert [s.name for s in bot.rt.store.snapshots("production")] == ["v6", "v4"]


def _pg_dump_wrapper(bindir: Path, body: str) -> None:
    """A pg_dump on PATH that runs the real one into memory, then does ``body`` with ``out`` (its archive)."""
    bindir.mkdir()
    wrapper = bindir / "pg_dump"
    wrapper.write_text(f"#!{sys.executable}\nimport os, subprocess, sys, time\n"
                       f"out = subprocess.run([{shutil.which('pg_dump')!r}, *sys.argv[1:]], stdout=subprocess.PIPE,"
                       " check=True).stdout\n" + body)
    wrapper.chmod(0o755)


def test_a_pg_dump_that_fails_or_hangs_mid_stream_leaves_no_snapshot(tmp_path, session_target, standin, monkeypatch):
    # half of the archive streamed, then an error (exit 1) / then nothing more, ever (killed at snapshot_s)
    _pg_dump_wrapper(tmp_path / "fails", "sys.stdout.buffer.write(out[: len(out) // 2]); sys.stdout.flush()\n"
                     "print('pg_dump: error: connection to server lost', file=sys.stderr)\nsys.exit(1)\n")
    pidfile = tmp_path / "hung.pid"
    _pg_dump_wrapper(tmp_path / "hangs", "sys.stdout.buffer.write(out[: len(out) // 2]); sys.stdout.flush()\n"
                     f"open({str(pidfile)!r}, 'w').write(str(os.getpid()))\ntime.sleep(3600)\n")
    with make_driver(tmp_path, session_target, standin, in_process=True, timeouts={"snapshot_s": 2}) as bot:
        env = bot.rt.config.environments["production"]
        directory = snapshots.snapshot_dir(env)
        path = os.environ["PATH"]

        monkeypatch.setenv("PATH", f"{tmp_path / 'fails'}{os.pathsep}{path}")
        with pytest.raises(SubprocessFailed) as failed:
            snapshots.take(bot.rt, env, None, "0006_user_display_name")
        assert "pg_dump exited with status 1" in str(failed.value) and "connection to server lost" in str(failed.value)
        assert list(directory.iterdir()) == [] and bot.rt.store.snapshots("production") == []

        monkeypatch.setenv("PATH", f"{tmp_path / 'hangs'}{os.pathsep}{path}")
        t0 = time.monotonic()
        with pytest.raises(SubprocessFailed, match=r"pg_dump did not finish within 2 s"):
            snapshots.take(bot.rt, env, None, "0006_user_display_name")
        assert time.monotonic() - t0 < 10
        wait_until(lambda: not alive(int(pidfile.read_text())), 5, "the hung pg_dump to be gone")
        assert list(directory.iterdir()) == [] and bot.rt.store.snapshots("production") == []
