"""The real Bolt app over signed HTTP-style requests: verification, refusals, duplicates."""

import json
import time

from bot.devkit.driver import command_body, sign
from bot.devkit.world import ALICE, CHANNEL, OTHER_CHANNEL


def _dispatch(bot, body, headers):
    from slack_bolt import BoltRequest

    return bot.app.dispatch(BoltRequest(body=body, headers={"content-type": "application/x-www-form-urlencoded",
                                                            **headers}))


def _runs(bot):
    return bot.rt.store.runs(limit=100)


def _body(bot, text="readyz prod", channel=CHANNEL, trigger="t-1"):
    return command_body(ALICE, channel, text, bot.standin.response_url(channel, ALICE), trigger)


def test_missing_signature_is_401_and_starts_nothing(bot):
    resp = _dispatch(bot, _body(bot), {})
    assert resp.status == 401
    assert _runs(bot) == [] and bot.standin.messages() == []


def test_forged_signature_is_401(bot):
    body = _body(bot)
    headers = sign("not-the-secret", body)
    assert _dispatch(bot, body, headers).status == 401
    tampered = sign(bot.secret, body)
    assert _dispatch(bot, body.replace("readyz", "migrate"), tampered).status == 401
    assert _runs(bot) == []


def test_stale_timestamp_is_401(bot):
    body = _body(bot)
    old = int(time.time()) - 6 * 60
    assert _dispatch(bot, body, sign(bot.secret, body, timestamp=old)).status == 401
    assert _runs(bot) == []


def test_valid_command_is_acked_ephemeral_and_recorded(bot):
    body = _body(bot)
    resp = _dispatch(bot, body, sign(bot.secret, body))
    assert resp.status == 200
    payload = json.loads(resp.body)
    assert "Queued as run 1" in payload["text"] and payload["response_type"] == "ephemeral"
    (run,) = _runs(bot)
    assert (run.verb, run.env, run.requester, run.channel, run.status.value) == ("readyz", "production", ALICE, CHANNEL, "queued")
    assert [e["event"] for e in bot.rt.store.audit_events(run.id)] == ["requested"]


def test_redelivery_with_the_same_trigger_starts_nothing_new(bot):
    body = _body(bot, trigger="same-trigger")
    first = _dispatch(bot, body, sign(bot.secret, body))
    again = _dispatch(bot, body, {**sign(bot.secret, body), "x-slack-retry-num": "1", "x-slack-retry-reason": "http_timeout"})
    assert first.status == 200 and again.status == 200
    assert len(_runs(bot)) == 1


def test_unknown_verb_and_env_get_ephemeral_help(bot):
    msgs = bot.command(ALICE, CHANNEL, "frobnicate prod")
    assert len(msgs) == 1 and msgs[0]["ephemeral"] and msgs[0]["user"] == ALICE
    assert "not a bb-ops verb" in msgs[0]["text"] and "readyz" in msgs[0]["text"]
    msgs = bot.command(ALICE, CHANNEL, "readyz moon")
    assert "not a configured environment" in msgs[0]["text"] and "production (prod)" in msgs[0]["text"]
    assert _runs(bot) == []


def test_wrong_channel_is_refused(bot):
    msgs = bot.command(ALICE, OTHER_CHANNEL, "readyz prod")
    assert len(msgs) == 1 and msgs[0]["ephemeral"]
    assert "may not act on `production`" in msgs[0]["text"] and "Nothing was started" in msgs[0]["text"]
    assert _runs(bot) == []
    assert [e["event"] for e in bot.rt.store.audit_events()] == ["refused"]


def test_help_lists_verbs_envs_and_approvers(bot):
    (msg,) = bot.command(ALICE, CHANNEL, "help")
    assert msg["ephemeral"]
    for word in ("/bb readyz <env>", "/bb rollback", "production", "prod", "<@U0BOB>"):
        assert word in msg["text"]


def test_empty_signing_secret_is_refused(tmp_path, session_target, standin):
    import pytest

    from bot.core.errors import ConfigError
    from bot.slack.app import create_app

    with pytest.raises(ConfigError, match="SLACK_SIGNING_SECRET"):
        from dataclasses import replace

        from tests.support.fixtures_bot import make_driver

        driver = make_driver(tmp_path, session_target, standin, in_process=True)
        driver.rt.settings = replace(driver.rt.settings, slack_signing_secret="")
        create_app(driver.rt)
