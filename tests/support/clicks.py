"""Approval cards in tests: ask for a run that needs approval, press its buttons with signed
`block_actions` requests (genuine, or forged in one field), read the ephemeral answers."""

from __future__ import annotations

import json
import urllib.parse
from types import SimpleNamespace

from bot.core.runs import RunStatus
from bot.devkit.driver import action_body
from bot.devkit.world import ALICE, CHANNEL


def request(bot, text="deploy prod 1.0.0", user=ALICE):
    """Ask for a run that needs approval; returns it, awaiting approval with its card posted."""
    bot.command(user, CHANNEL, text)
    run = bot.rt.store.runs(limit=1)[0]
    assert run.status is RunStatus.AWAITING_APPROVAL, run.summary
    return run


def press(bot, user, run, action="approve", *, value=None, channel=None, message_ts=None,
          container_channel=None, drain=True) -> list[dict]:
    """A signed block_actions request as Slack sends it, optionally forged in one field."""
    fake = SimpleNamespace(id=run.id if value is None else value, channel=channel or run.channel,
                           card_ts=run.card_ts if message_ts is None else message_ts)
    body = action_body(user, fake, action, bot.standin.response_url(fake.channel, user, fake.card_ts))
    if container_channel is not None:
        payload = json.loads(urllib.parse.unquote(body.removeprefix("payload=")))
        payload["container"]["channel_id"] = container_channel
        body = "payload=" + urllib.parse.quote(json.dumps(payload))
    before = bot.standin.snapshot()
    resp = bot.dispatch(body)
    assert resp.status == 200
    if drain:
        bot.rt.enqueuer.drain()
    return bot.standin.changed_since(before)


def ephemeral_to(msgs, user) -> str:
    said = [m for m in msgs if m["ephemeral"] and m["user"] == user]
    assert len(said) == 1, msgs
    return said[0]["text"]
