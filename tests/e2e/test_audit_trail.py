"""The audit trail of real approval flows: every click is a row, `/bb history` and `/bb status`
read it back, and `bb-ops audit export` / `audit verify` (the real CLI) catch an edited, a deleted
and a swapped row of it. (tests/test_bot_db.py covers the chain on synthetic rows in both
databases; this is the trail the bot writes itself.)"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys

import pytest

from bot.core.runs import RunStatus
from bot.devkit.world import ALICE, BOB, CAROL, CHANNEL, MALLORY, OTHER_CHANNEL
from tests.support.clicks import press, request
from tests.support.fixtures_bot import make_driver

CLICK_EVENTS = ("approved", "rejected", "cancelled", "approval_refused")


def cli(db_url, *args):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "BBOPS_", "REDIS_URL"))}
    env.update({"BBOPS_DATABASE_URL": db_url, "BBOPS_LOG_LEVEL": "WARNING"})
    return subprocess.run([sys.executable, "-m", "bot.cli", *args], env=env, capture_output=True, text=True,
                          timeout=60)


@pytest.fixture
def trail(tmp_path, session_target, standin):
    """A bot database holding a real trail: refused clicks, an approval and a full run, a rejection."""
    with make_driver(tmp_path, session_target, standin, in_process=True) as bot:
        one = request(bot, "deploy prod 1.0.0")
        clicks = [(ALICE, one, "approve", {}), (MALLORY, one, "approve", {}),
                  (BOB, one, "approve", {"channel": OTHER_CHANNEL}), (BOB, one, "approve", {}),
                  (BOB, one, "approve", {})]
        two = request(bot, "deploy prod 1.0.1")
        clicks += [(CAROL, two, "reject", {}), (ALICE, two, "cancel", {})]
        for user, run, action, forged in clicks:
            press(bot, user, run, action, **forged)
        yield bot, clicks
        bot.rt.store.engine.dispose()


def test_every_click_allowed_or_refused_is_an_audit_row(trail):
    bot, clicks = trail
    rows = [(e["actor"], e["run_id"], e["event"], e["detail"].get("reason"))
            for e in bot.rt.store.audit_events() if e["event"] in CLICK_EVENTS]
    assert rows == [
        (ALICE, 1, "approval_refused", "self_approval"),
        (MALLORY, 1, "approval_refused", "not_approver"),
        (BOB, 1, "approval_refused", "forged"),
        (BOB, 1, "approved", None),
        (BOB, 1, "approval_refused", "decided"),
        (CAROL, 2, "rejected", None),
        (ALICE, 2, "approval_refused", "not_cancellable"),
    ]
    assert len(rows) == len(clicks)
    assert bot.rt.store.verify_audit() is None


def test_history_lists_requester_approver_outcome_and_link(trail):
    bot, _ = trail
    three = request(bot, "deploy prod 1.0.2", user=CAROL)
    bot.command(ALICE, CHANNEL, f"cancel {three.id}")
    msgs = bot.command(MALLORY, CHANNEL, "history prod")
    run = bot.rt.store.runs(limit=1)[0]
    assert run.verb == "history" and run.status is RunStatus.SUCCEEDED
    detail = next(m for m in msgs if m["thread_ts"] == run.parent_ts)["text"]
    lines = {int(line.split()[1]): line for line in detail.splitlines() if line.startswith("run ")}
    assert set(lines) == {1, 2, 3}
    assert "`/bb deploy production 1.0.0` by <@U0ALICE>, approved by <@U0BOB>: succeeded" in lines[1]
    assert "`/bb deploy production 1.0.1` by <@U0ALICE>, rejected by <@U0CAROL>: rejected" in lines[2]
    assert "`/bb deploy production 1.0.2` by <@U0CAROL>, cancelled by <@U0ALICE>: cancelled" in lines[3]
    first = bot.rt.store.get_run(1)
    link = f"<https://budgetbuddy.slack.com/archives/{CHANNEL}/p{first.parent_ts.replace('.', '')}|thread>"
    assert lines[1].endswith(link)
    status = bot.command(MALLORY, CHANNEL, "status 1")[0]["text"]
    assert "*succeeded*" in status and "approved by <@U0BOB> at" in status


def _copy(db_path, dest):
    src, dst = sqlite3.connect(db_path), sqlite3.connect(dest)
    src.backup(dst)
    src.close()
    return dst


def test_audit_export_is_the_chained_trail_and_verify_holds(trail, tmp_path):
    bot, _ = trail
    url = bot.rt.settings.database_url
    res = cli(url, "audit", "export", "--format", "jsonl")
    assert res.returncode == 0, res.stderr
    lines = [json.loads(line) for line in res.stdout.splitlines()]
    assert [e["id"] for e in lines] == list(range(1, len(lines) + 1))
    for prev, ev in zip(lines, lines[1:]):
        assert ev["prev_hash"] == prev["hash"]
    names = [e["event"] for e in lines if e["run_id"] == 1]
    for expected in ("requested", "planned", "approval_requested", "approval_refused", "approved",
                     "lock_acquired", "step_started", "step_finished", "lock_released", "succeeded"):
        assert expected in names
    approved = next(e for e in lines if e["event"] == "approved")
    assert approved["actor"] == BOB and approved["env"] == "production" and approved["detail"]["plan_hash"]
    ok = cli(url, "audit", "verify")
    assert ok.returncode == 0 and "holds" in ok.stdout


@pytest.mark.parametrize("tamper", ["edit", "delete", "swap"])
def test_audit_verify_names_the_first_tampered_row(trail, tmp_path, tamper):
    """Someone with database access rewrites history: who approved, a refusal that "never happened",
    two decisions in another order. `audit verify` exits non-zero naming the row."""
    bot, _ = trail
    db_path = bot.rt.settings.database_url.removeprefix("sqlite:///")
    copy = tmp_path / f"tampered-{tamper}.sqlite3"
    con = _copy(db_path, copy)
    events = bot.rt.store.audit_events()
    approved = next(e for e in events if e["event"] == "approved")
    refused = next(e for e in events if e["event"] == "approval_refused")
    if tamper == "edit":
        con.execute("UPDATE audit_events SET actor = ? WHERE id = ?", (CAROL, approved["id"]))
        expected = approved["id"]
    elif tamper == "delete":
        con.execute("DELETE FROM audit_events WHERE id = ?", (refused["id"],))
        expected = refused["id"] + 1
    else:
        cols = "ts, run_id, env, event, actor, detail, prev_hash, hash"
        a = con.execute(f"SELECT {cols} FROM audit_events WHERE id = ?", (refused["id"],)).fetchone()
        b = con.execute(f"SELECT {cols} FROM audit_events WHERE id = ?", (approved["id"],)).fetchone()
        sets = ", ".join(f"{c.strip()} = ?" for c in cols.split(","))
        con.execute(f"UPDATE audit_events SET {sets} WHERE id = ?", (*b, refused["id"]))
        con.execute(f"UPDATE audit_events SET {sets} WHERE id = ?", (*a, approved["id"]))
        expected = refused["id"]
    con.commit()
    con.close()
    res = cli(f"sqlite:///{copy}", "audit", "verify")
    assert res.returncode == 1, res.stdout
    assert f"chain broken at event id {expected}:" in res.stderr
    # the untouched original still verifies
    assert cli(bot.rt.settings.database_url, "audit", "verify").returncode == 0
