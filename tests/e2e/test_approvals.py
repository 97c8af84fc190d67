"""Four-eyes approval over real signed `block_actions` requests to the real Bolt app: who may
click what, expiry, one decision per run, forged payloads, cancel, and a plan that changed
between approval and execution. Every click, allowed or refused, is an audit row."""

from __future__ import annotations

import json
import threading
import time

from bot.core.runs import RunStatus
from bot.devkit.driver import action_body
from bot.devkit.world import ALICE, BOB, CAROL, CHANNEL, MALLORY, OTHER_CHANNEL
from tests.support.clicks import ephemeral_to, press, request
from tests.support.fixtures_bot import make_driver

HEAD = "0006_user_display_name"


def refusals(bot, run_id=None):
    return [e["detail"]["reason"] for e in bot.rt.store.audit_events(run_id) if e["event"] == "approval_refused"]


def decisions(bot, run_id):
    return [(e["event"], e["actor"]) for e in bot.rt.store.audit_events(run_id)
            if e["event"] in ("approved", "rejected", "cancelled", "expired")]


def test_self_approval_and_non_approvers_are_refused(bot):
    run = request(bot)
    text = ephemeral_to(press(bot, ALICE, run, "approve"), ALICE)
    assert "you requested run 1; another approver must approve it (four eyes)" in text
    text = ephemeral_to(press(bot, MALLORY, run, "approve"), MALLORY)
    assert "you are not an approver for `production`" in text and "<@U0BOB>" in text
    text = ephemeral_to(press(bot, MALLORY, run, "reject"), MALLORY)
    assert "not an approver" in text
    assert bot.rt.store.get_run(1).status is RunStatus.AWAITING_APPROVAL
    assert refusals(bot, 1) == ["self_approval", "not_approver", "not_approver"]
    assert [e["actor"] for e in bot.rt.store.audit_events(1) if e["event"] == "approval_refused"] == [
        ALICE, MALLORY, MALLORY]
    # another approver may
    press(bot, BOB, run, "approve")
    assert bot.rt.store.get_run(1).status is RunStatus.SUCCEEDED
    assert decisions(bot, 1) == [("approved", BOB)]


def test_self_approval_where_the_config_allows_it(tmp_path, session_target, standin):
    with make_driver(tmp_path, session_target, standin, in_process=True,
                     approval={"allow_self_approval": True}) as bot:
        run = request(bot)
        press(bot, ALICE, run, "approve")
        assert bot.rt.store.get_run(run.id).status is RunStatus.SUCCEEDED
        assert decisions(bot, run.id) == [("approved", ALICE)]


def test_an_expired_approval_is_refused(tmp_path, session_target, standin):
    with make_driver(tmp_path, session_target, standin, in_process=True,
                     approval={"expires_after_minutes": 0.001}) as bot:     # 60 ms
        run = request(bot)
        time.sleep(0.2)
        text = ephemeral_to(press(bot, BOB, run, "approve"), BOB)
        assert f"run {run.id}'s approval expired at" in text and "Ask again with `/bb deploy production 1.0.0`" in text
        after = bot.rt.store.get_run(run.id)
        assert after.status is RunStatus.EXPIRED and after.approved_by is None
        card = next(m for m in standin.messages() if m["ts"] == run.card_ts)
        assert "approval expired" in card["text"] and not any(b["type"] == "actions" for b in card["blocks"])
        # a second try is told it already expired, and nothing ran
        text = ephemeral_to(press(bot, CAROL, run, "approve"), CAROL)
        assert "already expired" in text
        assert refusals(bot, run.id) == ["expired", "decided"]
        assert "started" not in [e["event"] for e in bot.rt.store.audit_events(run.id)]


def test_a_double_click_has_one_effect_and_the_second_clicker_is_told_who_decided(bot):
    run = request(bot)
    press(bot, BOB, run, "approve")
    text = ephemeral_to(press(bot, BOB, run, "approve"), BOB)
    assert "run 1 was already approved by <@U0BOB> at" in text and "it is succeeded" in text
    text = ephemeral_to(press(bot, CAROL, run, "reject"), CAROL)
    assert "already approved by <@U0BOB>" in text and "Nothing changed." in text
    trail = [e["event"] for e in bot.rt.store.audit_events(1)]
    assert trail.count("approved") == 1 and trail.count("started") == 1 and trail.count("succeeded") == 1
    assert refusals(bot, 1) == ["decided", "decided"]
    assert bot.rt.store.get_run(1).approved_by == BOB


def test_simultaneous_clicks_take_exactly_one_decision(bot):
    run = request(bot)
    clicks = [(BOB, "approve"), (BOB, "approve"), (CAROL, "approve"), (CAROL, "reject")]
    gate = threading.Barrier(len(clicks))

    def click(user, action):
        gate.wait()
        press(bot, user, run, action, drain=False)

    threads = [threading.Thread(target=click, args=c) for c in clicks]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    pending = list(bot.rt.enqueuer._pending)
    made = decisions(bot, run.id)
    assert len(made) == 1, made
    assert len(refusals(bot, run.id)) == 3
    winner = made[0]
    if winner[0] == "approved":
        assert pending == [(run.id, "execute")]       # one execution queued, not two
    else:
        assert pending == []
    losers = [m for m in bot.standin.messages() if m["ephemeral"] and ":no_entry:" in m["text"]]
    assert len(losers) == 3 and all(f"already {winner[0]} by <@{winner[1]}>" in m["text"] for m in losers)
    bot.rt.enqueuer.drain()


def test_forged_button_payloads_are_refused_and_change_nothing(bot):
    run = request(bot)
    forgeries = [
        ("wrong channel", dict(channel=OTHER_CHANNEL), "forged"),
        ("container from another channel", dict(container_channel=OTHER_CHANNEL), "forged"),
        ("another message", dict(message_ts="1700000000.000100"), "forged"),
        ("unknown run id", dict(value="999"), "unknown_run"),
        ("value not a number", dict(value="1; DROP TABLE runs"), "unknown_run"),
        ("value with a sign", dict(value="+1"), "unknown_run"),
        ("leading zero", dict(value="01"), "unknown_run"),
        ("non-ASCII digits", dict(value="\uff11"), "unknown_run"),    # fullwidth 1: int() would take it
        ("empty value", dict(value=""), "unknown_run"),
    ]
    for what, forged, reason in forgeries:
        msgs = press(bot, BOB, run, "approve", **forged)
        assert [m for m in msgs if not m["ephemeral"]] == [], what     # nothing in the channel changed
        assert ":no_entry:" in ephemeral_to(msgs, BOB), what
        assert bot.rt.store.get_run(run.id).status is RunStatus.AWAITING_APPROVAL, what
        assert bot.rt.store.get_run(run.id).approved_by is None, what
    assert [e["detail"]["reason"] for e in bot.rt.store.audit_events() if e["event"] == "approval_refused"] == [
        reason for _, _, reason in forgeries]
    assert bot.rt.enqueuer._pending == []
    # a run that has no card (yet) has no buttons to press, whatever the payload says
    queued, _ = bot.rt.store.create_run(verb="migrate", env="production", args={}, text="/bb migrate production",
                                        requester=ALICE, channel=CHANNEL, trigger_id=None)
    for action in ("cancel", "approve"):
        msgs = press(bot, ALICE, queued, action, message_ts=run.card_ts)
        assert "not on run" in ephemeral_to(msgs, ALICE)
    assert bot.rt.store.get_run(queued.id).status is RunStatus.QUEUED
    # the genuine card still works
    press(bot, BOB, run, "approve")
    assert bot.rt.store.get_run(run.id).status is RunStatus.SUCCEEDED


def test_an_unsigned_or_badly_signed_click_is_rejected_by_bolt(bot):
    run = request(bot)
    body = action_body(BOB, run, "approve", bot.standin.response_url(run.channel, BOB, run.card_ts))
    from slack_bolt import BoltRequest

    resp = bot.app.dispatch(BoltRequest(body=body, headers={
        "content-type": "application/x-www-form-urlencoded", "x-slack-request-timestamp": str(int(time.time())),
        "x-slack-signature": "v0=" + "0" * 64}))
    assert resp.status == 401
    assert bot.rt.store.get_run(run.id).status is RunStatus.AWAITING_APPROVAL


def test_reject_ends_the_run(bot):
    run = request(bot)
    msgs = press(bot, CAROL, run, "reject")
    after = bot.rt.store.get_run(run.id)
    assert after.status is RunStatus.REJECTED and after.finished_at is not None
    card = next(m for m in msgs if m["ts"] == run.card_ts)
    assert "rejected by <@U0CAROL>" in card["text"] and not any(b["type"] == "actions" for b in card["blocks"])
    assert any(m["thread_ts"] == run.card_ts and "Nothing was changed" in m["text"] for m in msgs)
    text = ephemeral_to(press(bot, BOB, run, "approve"), BOB)
    assert "already rejected by <@U0CAROL>" in text
    assert decisions(bot, run.id) == [("rejected", CAROL)]


def test_cancel_by_requester_approver_or_stranger(bot):
    one, two, three = request(bot), request(bot), request(bot)
    # a stranger may not
    msgs = bot.command(MALLORY, CHANNEL, f"cancel {one.id}")
    assert "only the requester (<@U0ALICE>) or an approver may cancel run 1" in ephemeral_to(msgs, MALLORY)
    assert bot.rt.store.get_run(one.id).status is RunStatus.AWAITING_APPROVAL
    # the requester may
    msgs = bot.command(ALICE, CHANNEL, f"cancel {one.id}")
    assert "Run 1 cancelled." in ephemeral_to(msgs, ALICE)
    card = next(m for m in msgs if m["ts"] == one.card_ts)
    assert "cancelled by <@U0ALICE>" in card["text"] and not any(b["type"] == "actions" for b in card["blocks"])
    # an approver may
    bot.command(CAROL, CHANNEL, f"cancel {two.id}")
    assert bot.rt.store.get_run(two.id).status is RunStatus.CANCELLED
    # the Cancel button: a stranger is refused, the requester is not
    assert "only the requester" in ephemeral_to(press(bot, MALLORY, three, "cancel"), MALLORY)
    assert bot.rt.store.get_run(three.id).status is RunStatus.AWAITING_APPROVAL
    press(bot, ALICE, three, "cancel")
    assert bot.rt.store.get_run(three.id).status is RunStatus.CANCELLED
    # decided is decided
    msgs = bot.command(ALICE, CHANNEL, f"cancel {one.id}")
    assert "run 1 is cancelled and can no longer be cancelled" in ephemeral_to(msgs, ALICE)
    assert "already cancelled by <@U0ALICE>" in ephemeral_to(press(bot, BOB, one, "approve"), BOB)
    assert decisions(bot, one.id) == [("cancelled", ALICE)]
    assert decisions(bot, two.id) == [("cancelled", CAROL)]
    assert decisions(bot, three.id) == [("cancelled", ALICE)]
    # a finished run cannot be cancelled
    four = request(bot)
    press(bot, BOB, four, "approve")
    msgs = bot.command(ALICE, CHANNEL, f"cancel {four.id}")
    assert f"run {four.id} is succeeded and can no longer be cancelled" in ephemeral_to(msgs, ALICE)
    trail = [e["event"] for e in bot.rt.store.audit_events()]
    assert trail.count("cancel_refused") == 3 and trail.count("approval_refused") == 2


def test_a_verb_not_in_required_for_runs_without_approval(tmp_path, session_target, standin):
    with make_driver(tmp_path, session_target, standin, in_process=True,
                     approval={"required_for": ["migrate"]}) as bot:
        bot.command(ALICE, CHANNEL, "deploy prod 1.0.1")
        run = bot.rt.store.get_run(1)
        assert run.status is RunStatus.SUCCEEDED, run.summary
        assert run.card_ts is None and run.approved_by is None
        assert "approval_not_required" in [e["event"] for e in bot.rt.store.audit_events(1)]


def test_plan_changed_after_approval_asks_again_on_a_fresh_card(tmp_path, make_target, standin):
    target = make_target(revision="0005_budgets")
    backend = target.isolate_backend()
    target.restart()                    # the target now reads its migrations from the copy
    with make_driver(tmp_path, target, standin, in_process=True) as bot:
        run = request(bot, "migrate prod")
        assert run.plan["target"] == HEAD
        # someone merges a new migration between the card and the approval
        (backend / "migrations" / "versions" / "0007_budget_note.py").write_text(
            '"""budgets.note"""\nimport sqlalchemy as sa\nfrom alembic import op\n'
            'revision = "0007_budget_note"\ndown_revision = "0006_user_display_name"\n'
            'branch_labels = None\ndepends_on = None\n\n\ndef upgrade():\n'
            '    op.add_column("budgets", sa.Column("note", sa.String(100), nullable=True))\n\n\n'
            'def downgrade():\n    op.drop_column("budgets", "note")\n')
        msgs = press(bot, BOB, run, "approve")
        after = bot.rt.store.get_run(run.id)
        assert target.current_revision() == "0005_budgets"            # nothing was changed
        # the snapshot taken while the plan was re-checked belonged to the old plan: gone
        assert bot.rt.store.snapshots("production") == []
        assert "snapshot_discarded" in [e["event"] for e in bot.rt.store.audit_events(run.id)]
        assert after.status is RunStatus.AWAITING_APPROVAL and after.approved_by is None
        assert after.plan["target"] == "0007_budget_note" and after.plan_hash != run.plan_hash
        note = next(m for m in msgs if m["thread_ts"] == run.parent_ts and "plan changed since approval" in m["text"])
        assert "head moved from 0006_user_display_name to 0007_budget_note" in note["text"]
        fresh = next(m for m in standin.messages() if m["ts"] == after.card_ts)
        assert after.card_ts != run.card_ts and fresh["thread_ts"] is None
        assert "upgrade 0007_budget_note: reversible" in fresh["text"]
        assert set(json.dumps(b) for b in fresh["blocks"] if b["type"] == "actions")
        # the old card can no longer approve anything
        assert "not on run 1's current approval card" in ephemeral_to(press(bot, CAROL, run, "approve"), CAROL)
        # the fresh card can
        press(bot, CAROL, after, "approve")
        done = bot.rt.store.get_run(run.id)
        assert done.status is RunStatus.SUCCEEDED, done.summary
        assert target.current_revision() == "0007_budget_note"
        assert [s.revision for s in bot.rt.store.snapshots("production")] == ["0005_budgets"]
        trail = [(e["event"], e["actor"]) for e in bot.rt.store.audit_events(run.id)
                 if e["event"] in ("approved", "plan_changed", "approval_requested", "succeeded")]
        assert trail == [("approval_requested", "system"), ("approved", BOB), ("plan_changed", "system"),
                         ("approval_requested", "system"), ("approved", CAROL), ("succeeded", "system")]
