"""Drive the real Bolt app exactly as Slack would: signed slash commands and button clicks.

Used by `bb-ops say`, `click`, `shell`, the demo, the tests and the benchmarks. Slack itself is
the one stand-in: a local Slack Web API server (``bot.devkit.standin``) that the real slack-sdk
client reaches through its base URL. With no ``SLACK_API_URL`` the driver starts one in-process
whose state lives in ``var/slack-standin.json``, so successive `say` and `click` calls see one
continuous channel; with ``SLACK_API_URL`` it reads a shared stand-in (one a worker posts to).
"""

from __future__ import annotations

import json
import secrets
import time
import urllib.parse
import urllib.request
from dataclasses import replace
from pathlib import Path

from slack_bolt import BoltRequest
from slack_sdk.signature import SignatureVerifier

from bot.core import defaults
from bot.core.config import BotConfig
from bot.core.errors import BBOpsError, ConfigError
from bot.core.runs import RunStatus
from bot.core.settings import Settings
from bot.infra.db.engine import upgrade
from bot.infra.runtime import Runtime, build_runtime, set_current
from bot.slack.app import create_app
from workers.jobs import execute_run

LOCAL_TOKEN = "xoxb-0000000000-local-standin"
STATE_FILE = Path("var/slack-standin.json")
TEAM_ID = "T0BUDGET"


class DriverError(BBOpsError):
    pass


def sign(secret: str, body: str, timestamp: int | None = None) -> dict[str, str]:
    ts = str(int(time.time()) if timestamp is None else timestamp)
    sig = SignatureVerifier(secret).generate_signature(timestamp=ts, body=body)
    return {"x-slack-request-timestamp": ts, "x-slack-signature": sig}


def command_body(user: str, channel: str, text: str, response_url: str, trigger_id: str | None = None) -> str:
    return urllib.parse.urlencode({
        "token": "legacy-unused", "team_id": TEAM_ID, "team_domain": "budgetbuddy",
        "channel_id": channel, "channel_name": "deploys", "user_id": user, "user_name": user.lower(),
        "command": "/bb", "text": text, "api_app_id": "A0BBOPS", "response_url": response_url,
        "trigger_id": trigger_id or f"{int(time.time())}.{secrets.token_hex(6)}",
    })


def action_body(user: str, run, action: str, response_url: str) -> str:
    payload = {
        "type": "block_actions", "team": {"id": TEAM_ID, "domain": "budgetbuddy"},
        "user": {"id": user, "username": user.lower(), "team_id": TEAM_ID},
        "api_app_id": "A0BBOPS", "token": "legacy-unused", "trigger_id": f"{int(time.time())}.{secrets.token_hex(6)}",
        "container": {"type": "message", "message_ts": run.card_ts, "channel_id": run.channel, "is_ephemeral": False},
        "channel": {"id": run.channel, "name": "deploys"},
        "message": {"ts": run.card_ts, "type": "message", "text": ""},
        "response_url": response_url,
        "actions": [{"action_id": f"bb_{action}", "block_id": "bb_approval", "type": "button",
                     "value": str(run.id), "action_ts": f"{time.time():.6f}"}],
    }
    return "payload=" + urllib.parse.quote(json.dumps(payload))


class Driver:
    def __init__(self, settings: Settings, *, config: BotConfig | None = None, standin=None,
                 state_file: Path | None = STATE_FILE, in_process: bool | None = None,
                 migrate_db: bool = True) -> None:
        from bot.devkit.standin import RemoteSlackStandIn, SlackStandIn

        self._owned = None
        if standin is None:
            if settings.slack_api_url != defaults.SLACK_API_URL:
                standin = RemoteSlackStandIn(settings.slack_api_url)
            else:
                if state_file is not None:
                    state_file.parent.mkdir(parents=True, exist_ok=True)
                standin = self._owned = SlackStandIn(state_file=state_file).start()
        self.standin = standin
        if settings.redis_url and not in_process and settings.slack_api_url == defaults.SLACK_API_URL:
            raise ConfigError("with REDIS_URL set, the worker posts to SLACK_API_URL: start a shared stand-in "
                              "(`python -m bot.devkit.standin --port 3001`) and set SLACK_API_URL for both, "
                              "or unset REDIS_URL to run jobs in-process")
        settings = replace(settings, slack_api_url=standin.base_url,
                           slack_bot_token=settings.slack_bot_token or LOCAL_TOKEN,
                           slack_signing_secret=settings.slack_signing_secret or secrets.token_hex(16))
        if migrate_db:
            upgrade(settings.database_url)
        self.rt: Runtime = build_runtime(settings, config=config, in_process=in_process, job=execute_run)
        set_current(self.rt)
        self.app = create_app(self.rt, process_before_response=True)
        self.secret = settings.slack_signing_secret

    def close(self) -> None:
        if self._owned is not None:
            self._owned.stop()
            self._owned = None

    def __enter__(self) -> "Driver":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- Slack requests --------------------------------------------------------------------
    def dispatch(self, body: str, content_type: str = "application/x-www-form-urlencoded",
                 headers: dict | None = None):
        hdrs = {"content-type": content_type, **sign(self.secret, body), **(headers or {})}
        return self.app.dispatch(BoltRequest(body=body, headers=hdrs))

    def _show_ack(self, response, channel: str, user: str, response_url: str) -> None:
        """Slack shows a command's ack body to the user; the stand-in records it the same way."""
        if response.status != 200:
            raise DriverError(f"the bot answered HTTP {response.status}: {response.body[:200]}")
        if response.body:
            try:
                payload = json.loads(response.body)
            except ValueError:
                payload = {"text": response.body}
            req = urllib.request.Request(response_url, data=json.dumps(payload).encode(),
                                         headers={"content-type": "application/json"}, method="POST")
            with urllib.request.urlopen(req, timeout=10) as r:
                r.read()

    def command(self, user: str, channel: str, text: str, *, trigger_id: str | None = None,
                wait_s: float = 600) -> list[dict]:
        """`/bb <text>` as ``user`` in ``channel``; returns every message posted or changed."""
        before = self._snapshot()
        response_url = self.standin.response_url(channel, user)
        trigger_id = trigger_id or f"{int(time.time())}.{secrets.token_hex(6)}"
        resp = self.dispatch(command_body(user, channel, text, response_url, trigger_id))
        self._show_ack(resp, channel, user, response_url)
        self.settle(self._runs_of_trigger(trigger_id), wait_s)
        return self._changed(before)

    def click(self, user: str, run_id: int, action: str, *, wait_s: float = 600) -> list[dict]:
        run = self.rt.store.get_run(run_id)
        if run is None:
            raise DriverError(f"no run {run_id} in the bot database ({self.rt.settings.database_url.split('://')[0]})")
        if not run.card_ts:
            raise DriverError(f"run {run_id} has no approval card to click (status {run.status.value})")
        before = self._snapshot()
        response_url = self.standin.response_url(run.channel, user, run.card_ts)
        resp = self.dispatch(action_body(user, run, action, response_url))
        if resp.status != 200:
            raise DriverError(f"the bot answered HTTP {resp.status}: {resp.body[:200]}")
        self.settle([run_id], wait_s)
        return self._changed(before)

    # -- waiting -----------------------------------------------------------------------------
    def _runs_of_trigger(self, trigger_id: str) -> list[int]:
        from sqlalchemy import select

        from bot.infra.db.models import Run

        with self.rt.store.session() as s:
            return list(s.execute(select(Run.id).where(Run.trigger_id == trigger_id)).scalars())

    def settle(self, run_ids: list[int], wait_s: float) -> None:
        """In-process: run the queued jobs now. With Redis: wait until the runs have settled."""
        if self.rt.in_process:
            self.rt.enqueuer.drain()
            return
        deadline = time.monotonic() + wait_s
        pending = set(run_ids)
        while pending and time.monotonic() < deadline:
            for rid in list(pending):
                run = self.rt.store.get_run(rid)
                if run is None or (run.status.settled and run.status is not RunStatus.APPROVED):
                    pending.discard(rid)
            if pending:
                time.sleep(0.05)
        time.sleep(0.05)  # the worker's last Slack call follows its final DB write closely

    # -- what Slack shows ------------------------------------------------------------------
    def _snapshot(self):
        return self.standin.snapshot()

    def _changed(self, before) -> list[dict]:
        return self.standin.changed_since(before)


def render_messages(messages: list[dict]) -> str:
    """Messages as a person reads them in the channel (threads indented, ephemeral marked)."""
    out = []
    for m in messages:
        who = f" (only visible to {m['user']})" if m.get("ephemeral") else ""
        indent = "    ↳ " if m.get("thread_ts") and m["thread_ts"] != m["ts"] else ""
        text = (m.get("text") or "").strip()
        lines = text.splitlines() or [""]
        out.append(f"{indent}{lines[0]}{who}")
        pad = " " * len(indent) if indent else "  "
        out.extend(f"{pad}{line}" for line in lines[1:])
    return "\n".join(out)
