"""`/bb migrate` and `/bb deploy` end to end: signed command → plan card → signed Approve click →
snapshot (pg_dump, verified) → alembic upgrade head → current == head → readyz, against the real
reference target on PostgreSQL with rows in it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import psycopg

from bot.core.runs import RunStatus
from bot.devkit.world import ALICE, BOB, CHANNEL, env_block, write_config
from tests.support.fixtures_bot import make_driver
from tests.support.messages import thread_texts

HEAD = "0006_user_display_name"


def pg_rows(target, sql: str):
    url = target.effective_database_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(url) as conn:
        return conn.execute(sql).fetchall()


def buttons(msg) -> dict:
    for block in msg.get("blocks") or []:
        if block.get("type") == "actions":
            return {e["action_id"]: e["value"] for e in block["elements"]}
    return {}


def events(bot, run_id):
    return [(e["event"], e["actor"]) for e in bot.rt.store.audit_events(run_id)]


def test_full_migrate_of_a_database_with_data(tmp_path, make_target, standin):
    target = make_target(revision="0003_transaction_note")
    target.seed()
    tx_before = pg_rows(target, "SELECT id, amount, description FROM transactions ORDER BY id")
    assert len(tx_before) == 10
    with make_driver(tmp_path, target, standin, in_process=True) as bot:
        msgs = bot.command(ALICE, CHANNEL, "migrate prod")
        assert msgs[0]["ephemeral"] and "Queued as run 1" in msgs[0]["text"]
        run = bot.rt.store.get_run(1)
        assert run.status is RunStatus.AWAITING_APPROVAL

        # the card: plan with verdicts, requester, expiry; buttons whose value is exactly the run id
        card = next(m for m in standin.messages() if m["ts"] == run.card_ts)
        assert card["thread_ts"] is None and not card["ephemeral"]
        text = card["text"]
        assert "<@U0ALICE>" in text and "needs approval" in text and "before 20" in text
        assert "revision: 0003_transaction_note → 0006_user_display_name" in text
        assert "upgrade 0004_drop_legacy_ref: lossy" in text
        assert "upgrade 0005_budgets: irreversible" in text
        assert "upgrade 0006_user_display_name: reversible" in text
        assert "snapshot: verified snapshot before the upgrade" in text
        assert buttons(card) == {"bb_approve": "1", "bb_reject": "1", "bb_cancel": "1"}
        assert run.plan["target"] == HEAD and len(run.plan_hash) == 64

        msgs = bot.click(BOB, run.id, "approve")
        run = bot.rt.store.get_run(run.id)
        assert run.status is RunStatus.SUCCEEDED, run.summary
        assert run.approved_by == BOB

    # the environment really moved, and the data is still there
    assert target.current_revision() == HEAD
    tx_after = pg_rows(target, "SELECT id, amount, description FROM transactions ORDER BY id")
    assert tx_after == tx_before
    assert pg_rows(target, "SELECT count(*) FROM budgets")[0][0] == 2      # 0005 derived them from the rows
    assert {r[0] for r in pg_rows(target, "SELECT currency FROM accounts")} == {"EUR"}

    # the snapshot was taken before the upgrade, verified by a full read, recorded
    snaps = bot.rt.store.snapshots("production")
    assert len(snaps) == 1 and snaps[0].verified and snaps[0].revision == "0003_transaction_note"
    assert Path(snaps[0].path).stat().st_size == snaps[0].size_bytes > 0
    restored = subprocess.run(["pg_restore", "--list", snaps[0].path], capture_output=True, text=True, timeout=60)
    assert "TABLE DATA public transactions" in restored.stdout

    # parent (the card, edited) shows the result; the thread has the steps and the alembic output
    parent = next(m for m in standin.messages() if m["ts"] == run.parent_ts)
    assert ":white_check_mark:" in parent["text"] and f"migrated production to {HEAD}; ready" in parent["text"]
    assert buttons(parent) == {}
    thread = "\n".join(thread_texts(standin, run.parent_ts))
    for line in ("✔ snapshot: production-", "verified)", "✔ alembic upgrade head: exited 0",
                 f"✔ current == head: {HEAD}", "200 status=ready", "Running upgrade 0005_budgets -> 0006"):
        assert line in thread
    # the same story, step by step, in the audit trail
    trail = events(bot, run.id)
    assert trail[:6] == [("requested", ALICE), ("planning", "system"), ("planned", "system"),
                         ("approval_requested", "system"), ("approved", BOB), ("started", "system")]
    steps = [e["detail"].get("step") for e in bot.rt.store.audit_events(run.id) if e["event"] == "step_started"]
    assert steps == ["snapshot", "alembic_upgrade", "verify_head", "readyz"]
    assert [e for e, _ in trail][-2:] == ["lock_released", "succeeded"]
    assert bot.rt.store.verify_audit() is None


def test_migrate_when_aligned_says_nothing_to_do(tmp_path, session_target, standin):
    with make_driver(tmp_path, session_target, standin, in_process=True) as bot:
        bot.command(ALICE, CHANNEL, "migrate prod")
        run = bot.rt.store.get_run(1)
    assert run.status is RunStatus.SUCCEEDED and run.card_ts is None
    assert f"nothing to migrate: production is at head {HEAD}" in run.summary


def test_failed_migration_names_the_snapshot_taken_before_it(tmp_path, make_target, standin):
    target = make_target(revision="0005_budgets")
    backend = target.isolate_backend()
    (backend / "migrations" / "versions" / "0006_user_display_name.py").write_text(
        '"""broken"""\nfrom alembic import op\nrevision = "0006_user_display_name"\n'
        'down_revision = "0005_budgets"\nbranch_labels = None\ndepends_on = None\n\n\n'
        'def upgrade():\n    op.execute("ALTER TABLE no_such_table ADD COLUMN x int")\n\n\n'
        'def downgrade():\n    pass\n')
    with make_driver(tmp_path, target, standin, in_process=True) as bot:
        bot.command(ALICE, CHANNEL, "migrate prod")
        bot.click(BOB, 1, "approve")
        run = bot.rt.store.get_run(1)
        snaps = bot.rt.store.snapshots("production")
    assert run.status is RunStatus.FAILED
    assert "migration of production failed; snapshot production-" in run.summary
    assert snaps and snaps[0].verified and snaps[0].name in run.summary
    thread = "\n".join(thread_texts(standin, run.parent_ts))
    assert "no_such_table" in thread and "✘ alembic upgrade head" in thread
    assert "/bb rollback production" in thread
    assert target.current_revision() == "0005_budgets"   # transactional DDL: nothing half-applied


# -- deploy -----------------------------------------------------------------------------------
RECORDER = """import json, os, sys
with open(sys.argv[1], "a") as f:
    f.write(json.dumps({"argv": sys.argv[2:], "cwd": os.getcwd()}) + "\\n")
"""


def test_deploy_runs_the_release_hook_then_migrates_then_smoke(tmp_path, make_target, standin):
    target = make_target(revision="0005_budgets")
    hook = tmp_path / "release.py"
    hook.write_text(RECORDER)
    calls = tmp_path / "calls.jsonl"
    with make_driver(tmp_path, target, standin, in_process=True,
                     hooks={"release": [sys.executable, str(hook), str(calls), "--version={version}", "{version}"]}) as bot:
        bot.command(ALICE, CHANNEL, "deploy prod 1.2.3")
        run = bot.rt.store.get_run(1)
        assert run.status is RunStatus.AWAITING_APPROVAL
        assert run.plan["version"] == "1.2.3" and run.plan["target"] == HEAD
        card = next(m for m in standin.messages() if m["ts"] == run.card_ts)
        assert "release: 1.2.3 (release hook first)" in card["text"]
        assert "upgrade 0006_user_display_name: reversible" in card["text"]
        assert not calls.exists()                      # nothing runs before the approval
        bot.click(BOB, 1, "approve")
        run = bot.rt.store.get_run(1)
    assert run.status is RunStatus.SUCCEEDED, run.summary
    assert "deployed 1.2.3 to production: migrated, ready, smoke passed" in run.summary
    recorded = [json.loads(line) for line in calls.read_text().splitlines()]
    assert recorded == [{"argv": ["--version=1.2.3", "1.2.3"], "cwd": str(target.backend_dir.parent)}]
    assert target.current_revision() == HEAD
    thread = "\n".join(thread_texts(standin, run.parent_ts))
    for line in ("✔ release hook: done", "✔ snapshot", "✔ alembic upgrade head", "✔ readyz", "✔ login", "✔ /me"):
        assert line in thread


def test_deploy_stops_when_the_release_hook_fails(tmp_path, session_target, standin):
    hook = tmp_path / "release.py"
    hook.write_text("import sys\nprint('cannot fetch release', sys.argv[1])\nsys.exit(3)\n")
    with make_driver(tmp_path, session_target, standin, in_process=True,
                     hooks={"release": [sys.executable, str(hook), "{version}"]}) as bot:
        bot.command(ALICE, CHANNEL, "deploy prod 2.0.0")
        bot.click(BOB, 1, "approve")
        run = bot.rt.store.get_run(1)
    assert run.status is RunStatus.FAILED
    assert "failed at the release hook; nothing was migrated" in run.summary
    thread = "\n".join(thread_texts(standin, run.parent_ts))
    assert "release hook exited with status 3" in thread and "cannot fetch release 2.0.0" in thread


def test_a_bad_version_is_refused_before_anything_starts(bot):
    msgs = bot.command(ALICE, CHANNEL, "deploy prod 1.2.3;rm")
    assert msgs[0]["ephemeral"] and "A version is a release like" in msgs[0]["text"]
    assert bot.rt.store.runs() == []


def test_hook_argument_with_shell_metacharacters_arrives_literally(tmp_path, session_target):
    from bot.core.config import parse_config
    from workers.target import hooks

    evil = "$(touch {canary}); rm -rf {canary}.dir `touch {canary}` | tee x && echo '\"; *"
    canary = tmp_path / "canary"
    evil = evil.format(canary=canary)
    argv = hooks.hook_argv(["./release.sh", "--version={version}", "{version}", "{other}"], version=evil)
    assert argv == ["./release.sh", f"--version={evil}", evil, "{other}"]
    # a value is never read again for placeholders
    assert hooks.hook_argv(["{version}", "{name}"], version="{name}", name="x") == ["{name}", "x"]

    hook = tmp_path / "record.py"
    hook.write_text(RECORDER)
    calls = tmp_path / "calls.jsonl"
    block = env_block(session_target, snapshots_dir=tmp_path / "s",
                      hooks={"release": [sys.executable, str(hook), str(calls), "{version}"]})
    env = parse_config({"environments": {"production": block}}).environments["production"]
    hooks.run_hook(env, "release", version=evil)
    recorded = json.loads(calls.read_text())
    assert recorded["argv"] == [evil]                 # one argument, byte for byte
    assert not canary.exists() and not Path(str(canary) + ".dir").exists()


# -- `bb-ops say` then `bb-ops click` as separate processes ---------------------------------------
def test_say_then_click_as_separate_processes(tmp_path, make_target):
    target = make_target(revision="0005_budgets")
    cfg = write_config(tmp_path / "environments.yaml",
                       {"production": env_block(target, snapshots_dir=tmp_path / "snapshots", aliases=["prod"])})
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "BBOPS_", "REDIS_URL"))}
    env.update({"BBOPS_CONFIG": str(cfg), "BBOPS_DATABASE_URL": f"sqlite:///{tmp_path / 'bot.sqlite3'}",
                "BBOPS_LOG_LEVEL": "WARNING"})
    cwd = tmp_path / "app"
    cwd.mkdir()

    def bbops(*args):
        res = subprocess.run([sys.executable, "-m", "bot.cli", *args], env=env, cwd=cwd, capture_output=True,
                             text=True, timeout=150)
        assert res.returncode == 0, res.stderr
        return json.loads(res.stdout)

    said = bbops("say", "--as", ALICE, "--channel", CHANNEL, "/bb migrate prod", "--json")
    card = next(m for m in said if buttons(m))
    assert set(buttons(card).values()) == {"1"}
    refused = bbops("click", "--as", ALICE, "--run", "1", "approve", "--json")
    assert len(refused) == 1 and refused[0]["ephemeral"] and refused[0]["user"] == ALICE
    assert "another approver must approve it" in refused[0]["text"]
    clicked = bbops("click", "--as", BOB, "--run", "1", "approve", "--json")
    parent = next(m for m in clicked if m["ts"] == card["ts"])
    assert f"migrated production to {HEAD}; ready" in parent["text"]
    assert any(m["thread_ts"] == card["ts"] and "✔ alembic upgrade head" in m["text"] for m in clicked)
    assert target.current_revision() == HEAD
    # one continuous channel across the processes: the card is edited, not posted again
    state = json.loads((cwd / "var" / "slack-standin.json").read_text())
    assert sum(1 for m in state["messages"] if m["ts"] == card["ts"]) == 1
