"""The Slack Web API stand-in, driven by the real slack_sdk WebClient (no mocks)."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import time
import urllib.parse
import urllib.request

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler
from slack_sdk.webhook import WebhookClient

from bot.devkit.standin import (
    RESPONSE_URL_METHOD,
    UPLOAD_METHOD,
    RemoteSlackStandIn,
    SlackStandIn,
)

CH = "C0DEPLOYS"
CARD = [
    {"type": "section", "text": {"type": "mrkdwn", "text": "*migrate production* requested by <@U0ALICE>"}},
    {"type": "context", "elements": [{"type": "mrkdwn", "text": "run r-42"},
                                     {"type": "mrkdwn", "text": "plan: 2 revisions"}]},
    {"type": "actions", "elements": [
        {"type": "button", "text": {"type": "plain_text", "text": "Approve"}, "value": "r-42", "action_id": "approve"},
        {"type": "button", "text": {"type": "plain_text", "text": "Reject"}, "value": "r-42", "action_id": "reject"},
    ]},
]
MESSAGE_KEYS = {"channel", "thread_ts", "ts", "text", "blocks", "ephemeral", "user"}


@pytest.fixture
def slack():
    with SlackStandIn() as standin:
        yield standin


@pytest.fixture
def client(slack):
    return WebClient(token="xoxb-test-token", base_url=slack.base_url)


def test_base_url_is_local_with_trailing_slash(slack):
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+/api/", slack.base_url)
    assert slack.port != 0


def test_auth_test_answers_like_slack(slack, client):
    resp = client.auth_test()
    assert resp["ok"] is True
    assert resp["url"] == "https://budgetbuddy.slack.com/"
    assert (resp["team"], resp["user"], resp["bot_id"]) == ("BudgetBuddy", "bb-ops", "B0BBOPS")
    assert (resp["team_id"], resp["user_id"]) == ("T0BUDGET", "U0BBOPS")
    assert slack.calls("auth.test") == [{"method": "auth.test", "params": {}, "status": 200}]


def test_missing_token_is_not_authed(slack):
    with pytest.raises(SlackApiError) as err:
        WebClient(base_url=slack.base_url).chat_postMessage(channel=CH, text="x")
    assert err.value.response["error"] == "not_authed"
    assert slack.messages() == []


def test_post_message_json_with_blocks(slack, client):
    resp = client.chat_postMessage(channel=CH, text="migrate production", blocks=CARD)
    assert resp["channel"] == CH and resp["message"]["text"] == "migrate production"
    [msg] = slack.messages(CH)
    assert set(msg) == MESSAGE_KEYS
    assert msg == {"channel": CH, "thread_ts": None, "ts": resp["ts"], "text": "migrate production",
                   "blocks": CARD, "ephemeral": False, "user": None}
    assert re.fullmatch(r"\d{10}\.\d{6}", resp["ts"])


def test_post_message_form_encoded_blocks_are_decoded(slack, client):
    # api_call(params=...) sends application/x-www-form-urlencoded, blocks as a JSON string
    client.api_call("chat.postMessage", params={"channel": CH, "text": "form", "blocks": json.dumps(CARD)})
    [msg] = slack.messages()
    assert msg["blocks"] == CARD
    assert slack.calls("chat.postMessage")[0]["params"]["blocks"] == CARD


def test_post_message_requires_channel_and_content(slack, client):
    with pytest.raises(SlackApiError) as err:
        client.api_call("chat.postMessage", json={"channel": CH, "text": ""})
    assert err.value.response["error"] == "no_text"
    with pytest.raises(SlackApiError) as err:
        client.api_call("chat.postMessage", json={"text": "no channel"})
    assert err.value.response["error"] == "channel_not_found"
    assert slack.messages() == []


def test_ts_strictly_increasing_and_threads_honoured(slack, client):
    parent = client.chat_postMessage(channel=CH, text="parent")["ts"]
    tss = [client.chat_postMessage(channel=CH, text=f"r{i}", thread_ts=parent)["ts"] for i in range(5)]
    all_ts = [m["ts"] for m in slack.messages()]
    assert all_ts == [parent, *tss]
    assert all(float(a) < float(b) for a, b in zip(all_ts, all_ts[1:]))
    assert [m["thread_ts"] for m in slack.messages()] == [None] + [parent] * 5


def test_reply_to_a_reply_joins_the_parent_thread(slack, client):
    parent = client.chat_postMessage(channel=CH, text="parent")["ts"]
    reply = client.chat_postMessage(channel=CH, text="reply", thread_ts=parent)["ts"]
    client.chat_postMessage(channel=CH, text="reply to reply", thread_ts=reply)
    assert slack.messages()[-1]["thread_ts"] == parent


def test_update_edits_once_in_final_state(slack, client):
    ts = client.chat_postMessage(channel=CH, text="queued", blocks=CARD)["ts"]
    client.chat_postMessage(channel=CH, text="later message")
    client.chat_update(channel=CH, ts=ts, text="running", blocks=CARD[:1])
    resp = client.chat_update(channel=CH, ts=ts, text="succeeded", blocks=[])
    assert resp["ts"] == ts and resp["text"] == "succeeded"
    msgs = slack.messages()
    assert [m["text"] for m in msgs] == ["succeeded", "later message"]
    assert msgs[0]["ts"] == ts and msgs[0]["blocks"] is None


def test_update_without_blocks_keeps_blocks_as_slack_does(slack, client):
    ts = client.chat_postMessage(channel=CH, text="card", blocks=CARD)["ts"]
    client.chat_update(channel=CH, ts=ts, text="fallback only")
    [msg] = slack.messages()
    assert msg["text"] == "fallback only" and msg["blocks"] == CARD


def test_update_of_unknown_or_ephemeral_message_is_not_found(slack, client):
    with pytest.raises(SlackApiError) as err:
        client.chat_update(channel=CH, ts="1700000000.000100", text="x")
    assert err.value.response["error"] == "message_not_found"
    eph = client.chat_postEphemeral(channel=CH, user="U0ALICE", text="secret")["message_ts"]
    with pytest.raises(SlackApiError):
        client.chat_update(channel=CH, ts=eph, text="x")
    ts = client.chat_postMessage(channel="C0OTHER", text="elsewhere")["ts"]
    with pytest.raises(SlackApiError):
        client.chat_update(channel=CH, ts=ts, text="wrong channel")


def test_post_ephemeral(slack, client):
    parent = client.chat_postMessage(channel=CH, text="parent")["ts"]
    resp = client.chat_postEphemeral(channel=CH, user="U0BOB", text="only bob", thread_ts=parent)
    msg = slack.messages()[-1]
    assert msg == {"channel": CH, "thread_ts": parent, "ts": resp["message_ts"], "text": "only bob",
                   "blocks": None, "ephemeral": True, "user": "U0BOB"}
    with pytest.raises(SlackApiError):
        client.api_call("chat.postEphemeral", json={"channel": CH, "text": "to nobody"})


def test_response_url_ephemeral_and_in_channel(slack):
    hook = WebhookClient(slack.response_url(CH, "U0ALICE"))
    assert hook.send(text="unknown verb `frob`; valid: help, envs, ...").status_code == 200
    assert hook.send(text="everyone sees this", response_type="in_channel", blocks=CARD[:1]).status_code == 200
    eph, public = slack.messages(CH)
    assert eph["ephemeral"] is True and eph["user"] == "U0ALICE" and eph["thread_ts"] is None
    assert public["ephemeral"] is False and public["user"] is None and public["blocks"] == CARD[:1]
    assert [c["status"] for c in slack.calls(RESPONSE_URL_METHOD)] == [200, 200]
    assert hook.send(text="").status_code == 400  # no text, no blocks: refused like Slack


def test_response_url_replace_and_delete_original(slack, client):
    card = client.chat_postMessage(channel=CH, text="approve?", blocks=CARD)["ts"]
    hook = WebhookClient(slack.response_url(CH, "U0BOB", message_ts=card))
    hook.send(text="approved by <@U0BOB>", replace_original=True)
    [msg] = slack.messages()
    assert (msg["ts"], msg["text"], msg["blocks"], msg["ephemeral"]) == (card, "approved by <@U0BOB>", None, False)
    # without message_ts, replace/delete act on the last message posted through the same URL
    hook2 = WebhookClient(slack.response_url(CH, "U0ALICE"))
    hook2.send(text="working…")
    hook2.send(text="done", replace_original=True)
    assert [m["text"] for m in slack.messages()] == ["approved by <@U0BOB>", "done"]
    hook2.send(text="", delete_original=True)
    assert [m["text"] for m in slack.messages()] == ["approved by <@U0BOB>"]


def test_get_permalink_has_slack_shape(slack, client):
    parent = client.chat_postMessage(channel=CH, text="parent")["ts"]
    reply = client.chat_postMessage(channel=CH, text="reply", thread_ts=parent)["ts"]
    link = client.chat_getPermalink(channel=CH, message_ts=parent)["permalink"]
    assert link == f"https://budgetbuddy.slack.com/archives/{CH}/p{parent.replace('.', '')}"
    link = client.chat_getPermalink(channel=CH, message_ts=reply)["permalink"]
    assert CH in link and reply.replace(".", "") in link and f"thread_ts={parent}" in link


def test_conversations_users_views_and_unknown(slack, client):
    assert client.conversations_info(channel=CH)["channel"]["id"] == CH
    user = client.users_info(user="U0ALICE")["user"]
    assert user["id"] == "U0ALICE" and user["is_bot"] is False and user["profile"]["display_name"]
    assert client.users_info(user="U0BBOPS")["user"]["is_bot"] is True
    view = {"type": "modal", "title": {"type": "plain_text", "text": "Rollback"}, "blocks": []}
    assert client.views_open(trigger_id="123.456", view=view)["view"]["type"] == "modal"
    with pytest.raises(SlackApiError) as err:
        client.api_call("admin.nuke.everything")
    assert err.value.response["error"] == "unknown_method"
    assert [c["method"] for c in slack.calls()] == [
        "conversations.info", "users.info", "users.info", "views.open", "admin.nuke.everything"]


def test_files_upload_v2_into_a_thread(slack, client):
    parent = client.chat_postMessage(channel=CH, text="migrate production")["ts"]
    log = "INFO  [alembic] upgrade a1 -> b2\nINFO  [alembic] upgrade b2 -> c3\n"
    resp = client.files_upload_v2(channel=CH, thread_ts=parent, content=log, filename="x.log",
                                  title="alembic upgrade", initial_comment="output attached")
    file_id = resp["file"]["id"]
    assert slack.files() == [{"channel": CH, "thread_ts": parent, "filename": "x.log", "title": "alembic upgrade",
                              "content": log, "initial_comment": "output attached", "file_id": file_id}]
    note = slack.messages()[-1]
    assert note["thread_ts"] == parent and "📎 alembic upgrade" in note["text"]
    assert [c["method"] for c in slack.calls()][1:] == [
        "files.getUploadURLExternal", UPLOAD_METHOD, "files.completeUploadExternal"]
    assert slack.calls(UPLOAD_METHOD)[0]["params"] == {"file_id": file_id, "length": len(log.encode())}


def test_upload_accepts_multipart_and_rejects_unknown_file(slack, client):
    got = client.files_getUploadURLExternal(filename="m.txt", length=5)
    boundary = "b0undary"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"m.txt\"\r\n"
            f"Content-Type: text/plain\r\n\r\nhello\r\n--{boundary}--\r\n").encode()
    req = urllib.request.Request(got["upload_url"], data=body, method="POST",
                                 headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
    with urllib.request.urlopen(req) as r:
        assert r.status == 200
    client.files_completeUploadExternal(files=[{"id": got["file_id"], "title": "m"}], channel_id=CH)
    assert slack.files()[0]["content"] == "hello"
    with pytest.raises(SlackApiError) as err:
        client.files_completeUploadExternal(files=[{"id": "F0NOPE", "title": "x"}], channel_id=CH)
    assert err.value.response["error"] == "file_not_found"


def test_rate_limit_retry_handler_retries_after_injected_429(slack, client):
    client.retry_handlers.append(RateLimitErrorRetryHandler(max_retry_count=2))
    slack.inject("chat.postMessage", status=429, retry_after=1)
    started = time.monotonic()
    resp = client.chat_postMessage(channel=CH, text="after the storm")
    assert resp["ok"] is True
    assert time.monotonic() - started >= 1.0  # it honoured Retry-After
    assert [c["status"] for c in slack.calls("chat.postMessage")] == [429, 200]
    assert [m["text"] for m in slack.messages()] == ["after the storm"]


def test_429_without_retry_handler_raises_with_retry_after(slack, client):
    slack.inject("*", retry_after=7)
    with pytest.raises(SlackApiError) as err:
        client.chat_postMessage(channel=CH, text="x")
    assert err.value.response.status_code == 429
    assert err.value.response.headers.get("Retry-After") == "7"
    assert err.value.response["error"] == "ratelimited"
    assert client.chat_postMessage(channel=CH, text="y")["ok"] is True  # times=1: next one passes


def test_injected_500_raises_and_creates_nothing(slack, client):
    client.retry_handlers.clear()  # the default connection-error handler must not matter either
    slack.inject("chat.postMessage", status=500, times=2)
    for _ in range(2):
        with pytest.raises(SlackApiError) as err:
            client.chat_postMessage(channel=CH, text="lost")
        assert err.value.response.status_code == 500
    assert slack.messages() == []
    assert [c["status"] for c in slack.calls("chat.postMessage")] == [500, 500]
    client.chat_postMessage(channel=CH, text="kept")
    assert [m["text"] for m in slack.messages()] == ["kept"]


def test_injected_ok_false_error_and_wildcard(slack, client):
    slack.inject("chat.postMessage", error="channel_not_found")
    with pytest.raises(SlackApiError) as err:
        client.chat_postMessage(channel=CH, text="x")
    assert err.value.response.status_code == 200 and err.value.response["error"] == "channel_not_found"
    slack.inject("*", error="ratelimited")
    with pytest.raises(SlackApiError):
        client.auth_test()
    client.auth_test()
    assert slack.messages() == []
    with pytest.raises(ValueError):
        slack.inject("chat.update", status=200)


def test_transcript_reads_like_the_channel(slack, client):
    card = client.chat_postMessage(channel=CH, text="migrate production requested by <@U0ALICE>", blocks=CARD)["ts"]
    client.chat_postMessage(channel=CH, text="/bb readyz staging: ready")  # another top-level message
    client.chat_postMessage(channel=CH, text="step 1/2: snapshot taken", thread_ts=card)
    client.chat_postEphemeral(channel=CH, user="U0ALICE", text="you cannot approve your own run", thread_ts=card)
    client.files_upload_v2(channel=CH, thread_ts=card, content="a\nb\nc\n", filename="migrate.log", title="migrate.log")
    client.chat_update(channel=CH, ts=card, text="migrate production: succeeded",
                       blocks=[{"type": "section",
                                "text": {"type": "mrkdwn", "text": "*migrate production*: succeeded"},
                                "accessory": {"type": "button", "text": {"type": "plain_text", "text": "Details"}}},
                               CARD[1]])
    client.chat_postMessage(channel="C0ELSEWHERE", text="not here")
    text = slack.transcript(CH)
    assert text == (
        f"#{CH}\n"
        "• migrate production: succeeded\n"
        "  *migrate production*: succeeded [Details]\n"
        "  run r-42 · plan: 2 revisions\n"
        "    ↳ step 1/2: snapshot taken\n"
        "    ↳ (only visible to U0ALICE) you cannot approve your own run\n"
        "    ↳ 📎 migrate.log (3 lines)\n"
        "• /bb readyz staging: ready\n"
    )
    everything = slack.transcript()
    assert everything.startswith(text) and "#C0ELSEWHERE\n• not here" in everything


def test_transcript_shows_buttons_and_dedupes_fallback(slack, client):
    client.chat_postMessage(channel=CH, text="*migrate production* requested by <@U0ALICE>", blocks=CARD)
    assert slack.transcript(CH).splitlines()[1:] == [
        "• *migrate production* requested by <@U0ALICE>",
        "  run r-42 · plan: 2 revisions",
        "  [Approve] [Reject]",
    ]


def test_wait_for_polls_and_times_out_with_messages(slack, client):
    import threading

    timer = threading.Timer(0.2, lambda: client.chat_postMessage(channel=CH, text="late result"))
    timer.start()
    msgs = slack.wait_for(lambda ms: any(m["text"] == "late result" for m in ms), timeout=5)
    assert msgs[-1]["text"] == "late result"
    with pytest.raises(TimeoutError) as err:
        slack.wait_for(lambda ms: False, timeout=0.1)
    assert "late result" in str(err.value)


def test_reset_forgets_everything(slack, client):
    client.chat_postMessage(channel=CH, text="x")
    client.files_upload_v2(channel=CH, content="x", filename="x.txt")
    slack.inject("auth.test", status=500)
    slack.reset()
    assert (slack.messages(), slack.files(), slack.calls()) == ([], [], [])
    assert client.auth_test()["ok"] is True  # the injection is gone too


def test_bolt_app_say_and_respond_reach_the_standin(slack):
    from slack_bolt import App, BoltRequest

    secret = "s3cret"
    app = App(client=WebClient(token="xoxb-test-token", base_url=slack.base_url), signing_secret=secret,
              process_before_response=True)

    @app.command("/bb")
    def bb(ack, say, respond, command):
        ack()
        say(text=f"readyz {command['text']}: ready")
        respond(text="only you see this")

    body = urllib.parse.urlencode({
        "command": "/bb", "text": "prod", "user_id": "U0ALICE", "channel_id": CH, "team_id": "T0BUDGET",
        "trigger_id": "1.2.3", "response_url": slack.response_url(CH, "U0ALICE"),
    })
    ts = str(int(time.time()))
    sig = "v0=" + hmac.new(secret.encode(), f"v0:{ts}:{body}".encode(), hashlib.sha256).hexdigest()
    resp = app.dispatch(BoltRequest(body=body, headers={
        "content-type": ["application/x-www-form-urlencoded"],
        "x-slack-signature": [sig], "x-slack-request-timestamp": [ts]}))
    assert resp.status == 200
    assert [(m["text"], m["ephemeral"], m["user"]) for m in slack.messages(CH)] == [
        ("readyz prod: ready", False, None), ("only you see this", True, "U0ALICE")]
    assert slack.calls("auth.test")  # Bolt checked the token against the stand-in


def test_remote_standin_reads_another_process_view(slack, client):
    remote = RemoteSlackStandIn(slack.base_url)
    client.chat_postMessage(channel=CH, text="hello")
    assert remote.messages(CH) == slack.messages(CH)
    assert remote.transcript(CH) == slack.transcript(CH)
    remote.inject("chat.postMessage", status=503)
    with pytest.raises(SlackApiError):
        client.chat_postMessage(channel=CH, text="x")
    assert [c["status"] for c in remote.calls("chat.postMessage")] == [200, 503]
    remote.reset()
    assert slack.messages() == [] and remote.files() == []


# ---------------------------------------------------------------------- state_file: one channel across processes


def _fresh_process(monkeypatch):
    """Make this process's ts/id counters look like a new process's (they are module globals)."""
    from bot.devkit.standin import ids as slack_standin

    monkeypatch.setattr(slack_standin, "_last_ts_us", 0)
    monkeypatch.setattr(slack_standin, "_last_id", 0)


def test_state_file_carries_the_channel_to_the_next_standin(tmp_path, monkeypatch):
    from bot.devkit.standin import ids as slack_standin

    state = tmp_path / "slack.json"
    # the first run's clock was an hour ahead: the next run must still issue greater ts
    monkeypatch.setattr(slack_standin, "_last_ts_us", int((time.time() + 3600) * 1_000_000))
    with SlackStandIn(state_file=state) as first:
        c1 = WebClient(token="xoxb-test-token", base_url=first.base_url)
        card = c1.chat_postMessage(channel=CH, text="migrate production", blocks=CARD)["ts"]
        c1.chat_postMessage(channel=CH, text="step 1/2", thread_ts=card)
        c1.chat_postEphemeral(channel=CH, user="U0ALICE", text="only alice")
        gone = c1.chat_postMessage(channel=CH, text="deleted later")["ts"]
        c1.files_upload_v2(channel=CH, thread_ts=card, content="a\nb\n", filename="m.log", title="m.log")
        c1.chat_delete(channel=CH, ts=gone)
        first_messages, first_files, first_transcript = first.messages(), first.files(), first.transcript()
    assert [p.name for p in tmp_path.iterdir()] == ["slack.json"]  # no temp files left behind
    assert json.loads(state.read_text())["messages"]

    _fresh_process(monkeypatch)
    with SlackStandIn(state_file=state) as second:
        assert second.messages() == first_messages
        assert second.files() == first_files
        assert second.transcript() == first_transcript  # 📎 lines included
        assert second.calls() == []  # calls are per process
        c2 = WebClient(token="xoxb-test-token", base_url=second.base_url)
        c2.chat_update(channel=CH, ts=card, text="migrate production: succeeded", blocks=[])
        assert c2.conversations_replies(channel=CH, ts=card)["messages"][1]["text"] == "step 1/2"
        new = c2.chat_postMessage(channel=CH, text="/bb status: idle")["ts"]
        assert all(float(new) > float(m["ts"]) for m in first_messages)
        assert float(new) > float(gone)  # even the deleted message's ts is never reused
        up = c2.files_upload_v2(channel=CH, content="x", filename="n.log")
        assert up["file"]["id"] not in {f["file_id"] for f in first_files}
        second_messages = second.messages()
    assert second_messages[0]["text"] == "migrate production: succeeded" and second_messages[0]["blocks"] is None
    assert [m["text"] for m in second_messages][-2:] == ["/bb status: idle", "📎 n.log"]

    _fresh_process(monkeypatch)
    with SlackStandIn(state_file=state) as third:
        assert third.messages() == second_messages
        assert [f["filename"] for f in third.files()] == ["m.log", "n.log"]
        # a response_url click on a message from an earlier run replaces it in place
        WebhookClient(third.response_url(CH, "U0BOB", message_ts=card)).send(
            text="approved by <@U0BOB>", replace_original=True)
        third.reset()
    with SlackStandIn(state_file=state) as fourth:
        assert fourth.messages() == [] and fourth.files() == []


def test_state_file_is_shared_with_a_real_second_process(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    state = tmp_path / "slack.json"
    with SlackStandIn(state_file=state) as first:
        card = WebClient(token="xoxb-t", base_url=first.base_url).chat_postMessage(
            channel=CH, text="approve?", blocks=CARD)["ts"]
    script = (
        "import json, sys\n"
        "from slack_sdk import WebClient\n"
        "from bot.devkit.standin import SlackStandIn\n"
        "with SlackStandIn(state_file=sys.argv[1]) as s:\n"
        "    c = WebClient(token='xoxb-t', base_url=s.base_url)\n"
        "    c.chat_update(channel=sys.argv[2], ts=sys.argv[3], text='approved', blocks=[])\n"
        "    c.chat_postMessage(channel=sys.argv[2], text='running')\n"
        "    print(json.dumps(s.messages()))\n"
    )
    out = subprocess.run([sys.executable, "-c", script, str(state), CH, card], check=True, capture_output=True,
                         text=True, timeout=60, cwd=Path(__file__).resolve().parents[2])
    msgs = json.loads(out.stdout)
    assert [(m["ts"] == card, m["text"]) for m in msgs] == [(True, "approved"), (False, "running")]
    assert float(msgs[1]["ts"]) > float(card)
    with SlackStandIn(state_file=state) as again:
        assert again.messages() == msgs


@pytest.mark.parametrize("content", [
    b"{not json", b"", b"\xff\xfe\x00binary", b'["a", "list"]', b'{"version": 99, "messages": [], "files": []}',
    b'{"version": 1, "last_ts": "1.000000", "messages": [{"channel": "C0DEPLOYS", "ts": 5}], "files": []}',
    b'{"version": 1, "last_ts": "1.000000", "messages": [], "files": [{"filename": null}]}',
], ids=["json", "empty", "binary", "list", "version", "message", "file"])
def test_corrupt_state_file_starts_empty_with_a_warning(tmp_path, caplog, content):
    state = tmp_path / "slack.json"
    state.write_bytes(content)
    with caplog.at_level("WARNING", logger="bot.devkit.standin"), SlackStandIn(state_file=state) as slack:
        assert slack.messages() == [] and slack.files() == []
        assert any("slack.json" in r.getMessage() and r.levelname == "WARNING" for r in caplog.records)
        ts = WebClient(token="xoxb-t", base_url=slack.base_url).chat_postMessage(channel=CH, text="fresh")["ts"]
    assert [m["ts"] for m in json.loads(state.read_text())["messages"]] == [ts]  # replaced by a good file


def test_unreadable_state_file_never_crashes(tmp_path, caplog):
    state = tmp_path / "slack.json"
    state.mkdir()  # reading and replacing it both fail
    with caplog.at_level("WARNING", logger="bot.devkit.standin"), SlackStandIn(state_file=state) as slack:
        client = WebClient(token="xoxb-t", base_url=slack.base_url)
        assert client.chat_postMessage(channel=CH, text="still served")["ok"] is True
        assert [m["text"] for m in slack.messages()] == ["still served"]
    assert [r.levelname for r in caplog.records] == ["WARNING", "ERROR"]


def test_missing_state_file_and_directory_are_created(tmp_path):
    state = tmp_path / "sub" / "dir" / "slack.json"
    with SlackStandIn(state_file=state) as slack:
        assert slack.messages() == []
        assert not state.exists()  # nothing written until something changes
        WebClient(token="xoxb-t", base_url=slack.base_url).chat_postMessage(channel=CH, text="x")
    assert json.loads(state.read_text())["messages"][0]["text"] == "x"


def test_changed_since_reports_new_and_edited_messages(slack, client):
    assert slack.changed_since(slack.snapshot()) == []
    a = client.chat_postMessage(channel=CH, text="a", blocks=CARD)["ts"]
    b = client.chat_postMessage(channel=CH, text="b", blocks=CARD)["ts"]
    c = client.chat_postMessage(channel=CH, text="c")["ts"]
    d = client.chat_postMessage(channel=CH, text="d")["ts"]
    e = client.chat_postMessage(channel=CH, text="e")["ts"]
    before = slack.snapshot()
    assert set(before) == {f"{CH}:{ts}" for ts in (a, b, c, d, e)}
    client.chat_postMessage(channel="C0OTHER", text="new elsewhere")
    client.chat_update(channel=CH, ts=c, text="c edited")
    client.chat_update(channel=CH, ts=a, text="a", blocks=CARD[:1])  # blocks only
    client.chat_update(channel=CH, ts=b, text="b", blocks=json.loads(json.dumps(CARD)))  # same content: no change
    client.chat_update(channel=CH, ts=d, text="d changed")
    client.chat_update(channel=CH, ts=d, text="d")  # changed back: no change
    client.chat_delete(channel=CH, ts=e)  # deleted: not reported
    client.chat_postEphemeral(channel=CH, user="U0ALICE", text="psst")
    changed = slack.changed_since(before)
    assert [m["text"] for m in changed] == ["a", "c edited", "new elsewhere", "psst"]
    assert changed == [m for m in slack.messages() if m["text"] in ("a", "c edited", "new elsewhere", "psst")]
    assert changed[0]["blocks"] == CARD[:1]
    assert len(slack.changed_since({})) == len(slack.messages())
    assert slack.changed_since(slack.snapshot()) == []
    # the snapshot is frozen: later edits are measured against it, not against live objects
    client.chat_update(channel=CH, ts=b, text="b late")
    assert [m["text"] for m in slack.changed_since(before)] == ["a", "b late", "c edited", "new elsewhere", "psst"]
    assert RemoteSlackStandIn(slack.base_url).changed_since(before) == slack.changed_since(before)


def test_every_change_is_saved_at_once(tmp_path):
    state = tmp_path / "slack.json"

    def saved():
        data = json.loads(state.read_text())
        return [{k: m[k] for k in MESSAGE_KEYS} for m in data["messages"]], data["files"]

    with SlackStandIn(state_file=state) as slack:
        client = WebClient(token="xoxb-t", base_url=slack.base_url)
        ts = client.chat_postMessage(channel=CH, text="posted", blocks=CARD)["ts"]
        hook = WebhookClient(slack.response_url(CH, "U0BOB"))
        steps = [
            lambda: client.chat_update(channel=CH, ts=ts, text="updated"),
            lambda: client.chat_postEphemeral(channel=CH, user="U0ALICE", text="ephemeral"),
            lambda: client.files_upload_v2(channel=CH, content="x", filename="x.txt"),
            lambda: hook.send(text="via response_url"),
            lambda: hook.send(text="replaced", replace_original=True),
            lambda: hook.send(text="", delete_original=True),
            lambda: client.chat_delete(channel=CH, ts=ts),
            slack.reset,
        ]
        assert saved() == (slack.messages(), [])
        for step in steps:
            before = state.read_text()
            step()
            assert state.read_text() != before
            assert saved() == (slack.messages(), slack.files())
