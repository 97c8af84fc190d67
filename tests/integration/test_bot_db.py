"""The bot database on SQLite and PostgreSQL: real Alembic upgrade, runs, the audit hash chain."""

import json
import os
import subprocess
import sys

import pytest
from sqlalchemy import text

from bot.core.runs import RunStatus
from bot.infra.db.engine import current_and_head, make_engine, upgrade
from bot.infra.store import Store


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'bot.sqlite3'}"
    else:
        pg = request.getfixturevalue("pg")
        with pg.scratch("bbopsdb") as url:
            yield url


@pytest.fixture
def store(db_url):
    upgrade(db_url)
    return Store(make_engine(db_url))


def _new_run(store, trigger="t1", user="U0ALICE"):
    return store.create_run(verb="readyz", env="production", args={}, text="/bb readyz production",
                            requester=user, channel="C0DEPLOYS", trigger_id=trigger)


def test_upgrade_reaches_head_and_is_idempotent(db_url):
    upgrade(db_url)
    upgrade(db_url)
    current, head = current_and_head(make_engine(db_url), db_url)
    assert current == head == "0001_initial"


def test_runs_compare_and_set(store):
    run, created = _new_run(store)
    assert created and run.status is RunStatus.QUEUED
    dup, created_again = _new_run(store)
    assert not created_again and dup.id == run.id
    moved = store.transition(run.id, [RunStatus.QUEUED], RunStatus.RUNNING, event="started")
    assert moved.status is RunStatus.RUNNING
    assert store.transition(run.id, [RunStatus.QUEUED], RunStatus.RUNNING) is None   # only once
    assert [e["event"] for e in store.audit_events(run.id)] == ["requested", "started"]


def _events(store, n=5):
    for i in range(n):
        _new_run(store, trigger=f"t{i}")
    return store.audit_events()


def test_audit_chain_holds(store):
    _events(store)
    assert store.verify_audit() is None


def test_audit_verify_catches_an_edited_row(store):
    events = _events(store)
    victim = events[2]["id"]
    with store.engine.begin() as conn:
        conn.execute(text("UPDATE audit_events SET actor = 'U0MALLORY' WHERE id = :id"), {"id": victim})
    broken = store.verify_audit()
    assert broken is not None and broken.event_id == victim and "edited" in broken.reason


def test_audit_verify_catches_a_deleted_row(store):
    events = _events(store)
    victim = events[2]["id"]
    with store.engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_events WHERE id = :id"), {"id": victim})
    broken = store.verify_audit()
    assert broken is not None and broken.event_id == victim + 1 and "deleted" in broken.reason


def test_audit_verify_catches_a_deleted_newest_row(store):
    events = _events(store)
    with store.engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_events WHERE id = :id"), {"id": events[-1]["id"]})
    broken = store.verify_audit()
    assert broken is not None and "deleted" in broken.reason


def test_audit_verify_catches_swapped_rows(store):
    events = _events(store)
    a, b = events[1], events[2]
    with store.engine.begin() as conn:
        for src, dst in ((a, b), (b, a)):
            conn.execute(text("UPDATE audit_events SET actor=:actor, detail=:detail, ts=:ts, run_id=:run_id, "
                              "event=:event, prev_hash=:prev_hash, hash=:hash WHERE id=:id"),
                         {"actor": src["actor"], "detail": json.dumps(src["detail"]), "ts": src["ts"],
                          "run_id": src["run_id"], "event": src["event"], "prev_hash": src["prev_hash"],
                          "hash": src["hash"], "id": dst["id"]})
    broken = store.verify_audit()
    assert broken is not None and broken.event_id == a["id"]


def test_audit_cli_export_and_verify(store, db_url, tmp_path):
    _events(store, 3)
    env = {**os.environ, "BBOPS_DATABASE_URL": db_url}
    res = subprocess.run([sys.executable, "-m", "bot.cli", "audit", "export", "--format", "jsonl"], env=env,
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    lines = [json.loads(line) for line in res.stdout.splitlines()]
    assert len(lines) == 3
    assert {"id", "ts", "run_id", "env", "event", "actor", "detail", "prev_hash", "hash"} <= set(lines[0])
    assert lines[1]["prev_hash"] == lines[0]["hash"]
    ok = subprocess.run([sys.executable, "-m", "bot.cli", "audit", "verify"], env=env, capture_output=True,
                        text=True, timeout=60)
    assert ok.returncode == 0, ok.stderr
    with store.engine.begin() as conn:
        conn.execute(text("UPDATE audit_events SET event = 'approved' WHERE id = 2"))
    bad = subprocess.run([sys.executable, "-m", "bot.cli", "audit", "verify"], env=env, capture_output=True,
                         text=True, timeout=60)
    assert bad.returncode == 1 and "event id 2" in bad.stderr
