"""`/bb restore <env> <snapshot>` end to end: restrict writes → verify again → restore into a fresh
database → swap → redeploy → readiness → smoke → allow writes; and a restore that fails half-way
leaves the original database untouched and writes restricted."""

from __future__ import annotations

import secrets
import sqlite3

import psycopg
from psycopg import sql

from bot.core.runs import RunStatus
from bot.devkit.world import ALICE, BOB, CHANNEL
from tests.support.fixtures_bot import make_driver
from tests.support.messages import thread_texts
from tests.support.platform import Platform, ship

HEAD = "0006_user_display_name"


def latest_run(bot):
    return bot.rt.store.runs(limit=1)[0]


def card_of(bot, run):
    return next(m for m in bot.standin.messages() if m["ts"] == run.card_ts)["text"]


def approve(bot, text):
    bot.command(ALICE, CHANNEL, text)
    run = latest_run(bot)
    assert run.status is RunStatus.AWAITING_APPROVAL, (run.status, run.summary)
    card = card_of(bot, run)
    bot.click(BOB, run.id, "approve")
    return card, bot.rt.store.get_run(run.id)


def test_restore_of_an_unknown_snapshot_is_refused(bot):
    bot.command(ALICE, CHANNEL, "restore prod production-20990101T000000000000Z-nope")
    run = latest_run(bot)
    assert run.status is RunStatus.FAILED and run.card_ts is None
    assert "there is no snapshot `production-20990101T000000000000Z-nope` of production" in run.summary
    assert "next: `/bb snapshots production`" in thread_texts(bot.standin, run.parent_ts)[-1]


def test_restore_failing_half_way_leaves_the_original_database_untouched(tmp_path, make_target, standin, pg):
    target = make_target(revision="0005_budgets")
    target.seed()
    url = target.effective_database_url
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    role, dbname = parsed.username, parsed.database
    gone = f"bbgone_{secrets.token_hex(3)}"
    admin_target = psycopg.conninfo.make_conninfo(pg.admin_dsn, dbname=dbname)
    with psycopg.connect(admin_target, autocommit=True) as admin:      # a reporting role reads transactions
        admin.execute(sql.SQL("CREATE ROLE {}").format(sql.Identifier(gone)))
        admin.execute(sql.SQL("GRANT SELECT ON transactions TO {}").format(sql.Identifier(gone)))
    with Platform(target, {}, tmp_path) as platform, \
            make_driver(tmp_path, target, standin, in_process=True, hooks=platform.hooks(release=False)) as bot:
        _, run = approve(bot, "migrate prod")                           # snapshot at 0005, then head
        assert run.status is RunStatus.SUCCEEDED, run.summary
        snap = bot.rt.store.snapshots("production")[0]
        assert snap.verified and snap.revision == "0005_budgets"

        # since the snapshot: the reporting role was retired, and a user signed up
        with psycopg.connect(admin_target, autocommit=True) as admin:
            admin.execute(sql.SQL("REVOKE ALL ON transactions FROM {}").format(sql.Identifier(gone)))
            admin.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(gone)))
        target.create_user("signed-up-after@budgetbuddy.test", "An0ther-pass!")

        # without CREATEDB the plan is refused before anything happens
        bot.command(ALICE, CHANNEL, f"restore prod {snap.name}")
        run = latest_run(bot)
        assert run.status is RunStatus.FAILED and run.card_ts is None
        assert f"the target's database role {role} lacks CREATEDB" in run.summary

        with psycopg.connect(pg.admin_dsn, autocommit=True) as admin:
            admin.execute(sql.SQL("ALTER ROLE {} CREATEDB").format(sql.Identifier(role)))
        card, run = approve(bot, f"restore prod {snap.name}")
        assert f"snapshot: {snap.name} (revision 0005_budgets" in card and "method: restore" in card
        assert f"the current database is kept as {dbname}_pre_restore_<time>" in card
        assert run.status is RunStatus.FAILED
        assert run.summary.startswith(f"restore of production stopped at the restore: restoring into the fresh "
                                      f"database {dbname}_restore_")
        assert f'role "{gone}" does not exist' in run.summary
        detail = thread_texts(bot.standin, run.parent_ts)[-1]
        assert "✔ restrict writes" in detail and "✔ verify snapshot" in detail
        assert "✘ restore into a fresh database" in detail
        assert f"state: the original database {dbname} is untouched and live" in detail
        assert "state: writes are still restricted: once the environment is checked, allow them" in detail
        assert "swap" not in [e["detail"].get("step") for e in bot.rt.store.audit_events(run.id)
                              if e["event"] == "step_started"]
        assert platform.writes == "restricted"

    # the original database, as it was: at head, with the row written after the snapshot
    assert target.current_revision() == HEAD
    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as conn:
        users = {r[0] for r in conn.execute("SELECT username FROM users")}
        assert "signed-up-after@budgetbuddy.test" in users
        assert conn.execute("SELECT count(*) FROM transactions").fetchone()[0] == 10
    with psycopg.connect(pg.admin_dsn) as admin:                       # nothing half-restored left behind
        assert admin.execute("SELECT datname FROM pg_database WHERE datname LIKE %s",
                             (dbname + "\\_%",)).fetchall() == []
    assert target.login().status_code == 200


def test_restore_on_sqlite_swaps_files_and_redeploys_the_release_of_the_snapshot(tmp_path, make_target, standin):
    target = make_target(sqlite=True, revision="0005_budgets", BUDGETBUDDY_RELEASE_HEAD="0005_budgets")
    target.seed()
    ship_160 = ship(target, upto="0005_budgets")
    with Platform(target, {"1.5.0": "0005_budgets", "1.6.0": None}, tmp_path) as platform, \
            make_driver(tmp_path, target, standin, in_process=True, hooks=platform.hooks()) as bot:
        assert approve(bot, "deploy prod 1.5.0")[1].status is RunStatus.SUCCEEDED
        ship_160()
        assert approve(bot, "deploy prod 1.6.0")[1].status is RunStatus.SUCCEEDED
        snap = bot.rt.store.snapshots("production")[0]
        assert snap.verified and snap.revision == "0005_budgets" and snap.path.endswith(".sqlite3")
        target.create_user("signed-up-after@budgetbuddy.test", "An0ther-pass!")

        card, run = approve(bot, f"restore prod {snap.name}")
        assert "release: 1.5.0 (release hook first)" not in card
        assert "redeploy 1.5.0, the release that was running when the snapshot was taken" in card
        assert run.status is RunStatus.SUCCEEDED, (run.summary, thread_texts(bot.standin, run.parent_ts)[-1:])
        assert run.summary == f"restored production to 0005_budgets from snapshot {snap.name}; ready, smoke passed"
        detail = thread_texts(bot.standin, run.parent_ts)[-1]
        for step in ("restrict writes", "verify snapshot", "restore into a fresh database", "swap it in",
                     "redeploy 1.5.0", "current == 0005_budgets", "readyz", "/me", "allow writes"):
            assert f"✔ {step}" in detail, detail
        assert platform.calls[2:] == [("writes", "restricted"), ("release", "1.5.0"), ("writes", "allowed")]

    assert target.current_revision() == "0005_budgets"
    with sqlite3.connect(target.sqlite_path) as con:
        users = {r[0] for r in con.execute("SELECT username FROM users")}
        assert "signed-up-after@budgetbuddy.test" not in users and target.smoke_user in users
    kept = list(target.sqlite_path.parent.glob(target.sqlite_path.name + "_pre_restore_*"))
    assert len(kept) == 1
    with sqlite3.connect(kept[0]) as con:                                   # the old one, for the operator
        assert "signed-up-after@budgetbuddy.test" in {r[0] for r in con.execute("SELECT username FROM users")}
