"""`/bb rollback` end to end on the reference target (PostgreSQL, real Alembic, real Bolt over signed
requests, a second approver's click): the runbook's decision guide — app release first, then a
downgrade when every step back is reversible (or lossy with --accept-data-loss), else a restore
from a verified snapshot that brings the dropped data back."""

from __future__ import annotations

import psycopg
import pytest
from psycopg import sql

from bot.core.runs import RunStatus
from bot.devkit.world import ALICE, BOB, CHANNEL
from tests.support.fixtures_bot import make_driver
from tests.support.messages import thread_texts
from tests.support.platform import Platform, ship
from tests.support.runs import move_run

HEAD = "0006_user_display_name"


def pg_rows(target, query: str):
    url = target.effective_database_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(url) as conn:
        return conn.execute(query).fetchall()


def card_of(bot, run_id):
    run = bot.rt.store.get_run(run_id)
    return next(m for m in bot.standin.messages() if m["ts"] == run.card_ts)["text"]


def latest_run(bot):
    return bot.rt.store.runs(limit=1)[0]


def approved(bot, text: str, *, expect=RunStatus.SUCCEEDED):
    """`/bb <text>` by Alice, approved by Bob; returns (card text, final run, its thread texts)."""
    bot.command(ALICE, CHANNEL, text)
    run = latest_run(bot)
    assert run.status is RunStatus.AWAITING_APPROVAL, (run.status, run.summary)
    card = card_of(bot, run.id)
    bot.click(BOB, run.id, "approve")
    run = bot.rt.store.get_run(run.id)
    thread = thread_texts(bot.standin, run.parent_ts)
    assert run.status is expect, (run.summary, thread[-1:])
    return card, run, thread


@pytest.fixture
def pg_cleanup(pg):
    """Databases a restore keeps for the operator (<db>_pre_restore_*) are dropped after the test, so
    the scratch role can go."""
    names: list[str] = []
    yield names
    with psycopg.connect(pg.admin_dsn, autocommit=True) as admin:
        for prefix in names:
            for (name,) in admin.execute("SELECT datname FROM pg_database WHERE datname LIKE %s",
                                         (prefix + "\\_%",)).fetchall():
                admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def grant_createdb(pg, target, cleanup):
    from sqlalchemy.engine import make_url

    url = make_url(target.effective_database_url)
    with psycopg.connect(pg.admin_dsn, autocommit=True) as admin:
        admin.execute(sql.SQL("ALTER ROLE {} CREATEDB").format(sql.Identifier(url.username)))
    cleanup.append(url.database)
    return url.database


def test_rollback_one_reversible_step_is_a_downgrade_after_the_app_release(tmp_path, make_target, standin):
    target = make_target(revision="0005_budgets", BUDGETBUDDY_RELEASE_HEAD="0005_budgets")
    target.seed()
    ship_160 = ship(target, upto="0005_budgets")          # 0006 comes with release 1.6.0
    tx = "SELECT id, amount, description FROM transactions ORDER BY id"
    with Platform(target, {"1.5.0": "0005_budgets", "1.6.0": None}, tmp_path) as platform, \
            make_driver(tmp_path, target, standin, in_process=True, hooks=platform.hooks()) as bot:
        approved(bot, "deploy prod 1.5.0")
        ship_160()
        approved(bot, "deploy prod 1.6.0")
        assert target.current_revision() == HEAD
        rows = pg_rows(target, tx)
        assert len(rows) == 10

        card, run, thread = approved(bot, "rollback prod")
        assert "release: 1.5.0 (release hook first)" in card
        assert f"revision: {HEAD} → 0005_budgets" in card
        assert f"downgrade {HEAD}: reversible" in card and "method: downgrade" in card
        assert "app release first: 1.6.0 → 1.5.0" in card
        assert "rolled back production to 0005_budgets by downgrade and release 1.5.0; ready, smoke passed" \
            in run.summary
        assert run.plan["method"] == "downgrade" and run.plan["version"] == "1.5.0"
        assert platform.calls == [("release", "1.5.0"), ("release", "1.6.0"), ("release", "1.5.0")]
        detail = thread[-1]
        for step in ("release 1.5.0", "alembic downgrade 0005_budgets", "current == 0005_budgets", "readyz",
                     "login", "/me"):
            assert f"✔ {step}" in detail, detail
        steps = [e["detail"].get("step") for e in bot.rt.store.audit_events(run.id) if e["event"] == "step_finished"]
        assert steps[:3] == ["release_hook", "alembic_downgrade", "verify_current"]

    assert target.current_revision() == "0005_budgets"
    assert pg_rows(target, tx) == rows                                   # the rows are still there
    assert pg_rows(target, "SELECT count(*) FROM accounts")[0][0] == 2


def test_rollback_across_lossy_and_irreversible_restores_the_dropped_data(tmp_path, make_target, standin, pg,
                                                                          pg_cleanup):
    target = make_target(revision="0003_transaction_note", BUDGETBUDDY_RELEASE_HEAD="0003_transaction_note")
    target.seed()
    legacy = pg_rows(target, "SELECT id, legacy_ref FROM transactions ORDER BY id")
    assert len(legacy) == 10 and all(ref and ref.startswith("LEG-") for _, ref in legacy)
    dbname = grant_createdb(pg, target, pg_cleanup)
    ship_160 = ship(target, upto="0003_transaction_note")
    releases = {"1.3.0": "0003_transaction_note", "1.6.0": None}
    with Platform(target, releases, tmp_path) as platform, \
            make_driver(tmp_path, target, standin, in_process=True, hooks=platform.hooks()) as bot:
        approved(bot, "deploy prod 1.3.0")
        ship_160()
        approved(bot, "deploy prod 1.6.0")                             # snapshot at 0003, then upgrade
        assert target.current_revision() == HEAD
        assert not pg_rows(target, "SELECT 1 FROM information_schema.columns WHERE table_name = 'transactions' "
                                   "AND column_name = 'legacy_ref'")
        snap = bot.rt.store.snapshots("production")[0]
        assert snap.verified and snap.revision == "0003_transaction_note"

        card, run, thread = approved(bot, "rollback prod 0003_transaction_note")
        assert f"downgrade {HEAD}: reversible" in card
        assert "downgrade 0005_budgets: irreversible" in card
        assert "downgrade 0004_drop_legacy_ref: lossy" in card
        assert "method: restore" in card and f"snapshot: {snap.name} (revision 0003_transaction_note" in card
        assert "release: 1.3.0 (release hook first)" in card
        assert "restore, because 0005_budgets (irreversible) cannot be downgraded" in card
        assert run.summary.startswith(f"rolled back production to 0003_transaction_note from snapshot {snap.name}")
        detail = thread[-1]
        for step in ("release 1.3.0", "restrict writes", "verify snapshot", "restore into a fresh database",
                     "swap it in", "current == 0003_transaction_note", "readyz", "/me", "allow writes"):
            assert f"✔ {step}" in detail, detail
        assert f"previous database is kept as {dbname}_pre_restore_" in detail
        assert platform.calls[2:] == [("release", "1.3.0"), ("writes", "restricted"), ("writes", "allowed")]
        assert platform.writes == "allowed"

    assert target.current_revision() == "0003_transaction_note"
    assert pg_rows(target, "SELECT id, legacy_ref FROM transactions ORDER BY id") == legacy   # the data is back
    with psycopg.connect(pg.admin_dsn) as admin:
        kept = [r[0] for r in admin.execute("SELECT datname FROM pg_database WHERE datname LIKE %s",
                                            (dbname + "\\_%",))]
    assert len(kept) == 1 and kept[0].startswith(dbname + "_pre_restore_")    # the old one, for the operator


def test_accept_data_loss_is_on_the_card_and_unlocks_only_lossy_steps(tmp_path, make_target, standin):
    # the app was already rolled back by hand: it expects 0003 (and no release hook is configured)
    target = make_target(revision="0004_drop_legacy_ref", BUDGETBUDDY_RELEASE_HEAD="0003_transaction_note")
    with make_driver(tmp_path, target, standin, in_process=True) as bot:
        # lossy, no snapshot, no flag: refused, and the refusal names the way out
        bot.command(ALICE, CHANNEL, "rollback prod")
        run = latest_run(bot)
        assert run.status is RunStatus.FAILED and run.card_ts is None
        assert ("cannot roll back production to 0003_transaction_note: 0004_drop_legacy_ref is lossy and "
                "--accept-data-loss was not given, and there is no verified snapshot") in run.summary
        assert "/bb rollback production -1 --accept-data-loss" in thread_texts(bot.standin, run.parent_ts)[-1]

        card, run, thread = approved(bot, "rollback prod --accept-data-loss")
        assert "downgrade 0004_drop_legacy_ref: lossy" in card and "method: downgrade" in card
        assert "note: --accept-data-loss: downgrading over lossy 0004_drop_legacy_ref" in card
        assert "no release hook is configured" in card
        assert run.plan["accept_data_loss"] is True
        assert target.current_revision() == "0003_transaction_note"

        # irreversible steps stay locked with the flag: restore or nothing
        target.migrate("head")
        bot.command(ALICE, CHANNEL, "rollback prod 0003_transaction_note --accept-data-loss")
        run = latest_run(bot)
        assert run.status is RunStatus.FAILED and run.card_ts is None
        assert "0005_budgets (irreversible) cannot be downgraded" in run.summary
        assert "--accept-data-loss only unlocks lossy steps" in thread_texts(bot.standin, run.parent_ts)[-1]
    assert target.current_revision() == HEAD


def test_rollback_refusals_name_what_is_valid(bot, session_target):
    for text, expected in [
        ("rollback prod 0009_nope", "`0009_nope` is not a revision of production's migrations"),
        ("rollback prod -9", "cannot roll back -9"),
    ]:
        bot.command(ALICE, CHANNEL, text)
        run = latest_run(bot)
        assert run.status is RunStatus.FAILED and run.card_ts is None
        assert expected in run.summary
    assert session_target.current_revision() == HEAD


def test_release_history_is_a_stack_of_what_the_release_hook_put_out(bot):
    from bot.core.plan import Plan
    from workers.recovery import release_stack

    store = bot.rt.store

    def stored(verb, **fields):
        return Plan(verb=verb, env="production", current=HEAD, target="0005_budgets", snapshot=None,
                    **fields).to_dict()

    def run(verb, status, version=None, *, plan=None, released=False):
        r, _ = store.create_run(verb=verb, env="production", args={"version": version} if version else {},
                                text=f"/bb {verb} production", requester=ALICE, channel=CHANNEL, trigger_id=None)
        if plan:
            store.update_run(r.id, plan=plan)
        if released:
            store.audit("step_finished", run_id=r.id, env="production", detail={"step": "release_hook", "ok": True})
        move_run(store, r.id, status)

    run("deploy", RunStatus.SUCCEEDED, "1.4.0")
    run("deploy", RunStatus.SUCCEEDED, "1.5.0")
    run("deploy", RunStatus.SUCCEEDED, "1.5.0")                 # the same release again: one entry
    run("deploy", RunStatus.REJECTED, "2.0.0")                  # never ran
    run("deploy", RunStatus.FAILED, "1.6.0")                    # failed before its release step
    run("deploy", RunStatus.FAILED, "1.6.1", released=True)     # failed after it: 1.6.1 is what runs
    assert release_stack(store, "production") == ["1.4.0", "1.5.0", "1.6.1"]
    run("rollback", RunStatus.SUCCEEDED, plan=stored("rollback", version="1.5.0", method="downgrade"))
    assert release_stack(store, "production") == ["1.4.0", "1.5.0"]
    run("restore", RunStatus.SUCCEEDED, plan=stored("restore", redeploy="1.4.0", method="restore"))
    assert release_stack(store, "production") == ["1.4.0"]
    run("rollback", RunStatus.SUCCEEDED, plan=stored("rollback", method="downgrade"))   # no release: no change
    assert release_stack(store, "production") == ["1.4.0"]
