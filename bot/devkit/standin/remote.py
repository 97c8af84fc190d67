"""A stand-in running in another process (``python -m bot.devkit.standin``), steered over HTTP."""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from bot.devkit.standin.server import SlackStandIn


class RemoteSlackStandIn:
    """The inspection half of :class:`SlackStandIn` for one running in another process.

    ``RemoteSlackStandIn("http://127.0.0.1:8899/api/")`` (a ``SLACK_API_URL``) offers
    ``messages``, ``files``, ``calls``, ``transcript``, ``inject``, ``reset``, ``wait_for``,
    ``snapshot``, ``changed_since``, ``send_slash_command``, ``send_block_action``.
    """

    def __init__(self, base_url: str, timeout: float = 5.0):
        root = base_url.rstrip("/")
        self.base_url = root + "/"
        self.root_url = (root[: -len("/api")] if root.endswith("/api") else root) + "/"
        self.timeout = timeout

    def _get(self, what: str, **query: str | None) -> Any:
        q = urllib.parse.urlencode({k: v for k, v in query.items() if v is not None})
        with urllib.request.urlopen(f"{self.root_url}_standin/{what}?{q}", timeout=self.timeout) as r:
            body = r.read().decode("utf-8")
        return json.loads(body) if r.headers.get_content_type() == "application/json" else body

    def _post(self, what: str, payload: dict[str, Any]) -> Any:
        req = urllib.request.Request(f"{self.root_url}_standin/{what}", data=json.dumps(payload).encode(),
                                     headers={"Content-Type": "application/json"}, method="POST")
        with urllib.request.urlopen(req, timeout=self.timeout) as r:
            body = r.read().decode("utf-8")
        return json.loads(body) if r.headers.get_content_type() == "application/json" else body

    def response_url(self, channel: str, user: str, message_ts: str | None = None) -> str:
        return self._post("response_url", {"channel": channel, "user": user, "message_ts": message_ts})["url"]

    def messages(self, channel: str | None = None) -> list[dict]:
        return self._get("messages", channel=channel)["messages"]

    def files(self) -> list[dict]:
        return self._get("files")["files"]

    def calls(self, method: str | None = None) -> list[dict]:
        return self._get("calls", method=method)["calls"]

    def transcript(self, channel: str | None = None) -> str:
        return self._get("transcript", channel=channel)

    def reset(self) -> None:
        self._post("reset", {})

    def send_slash_command(self, user: str, channel: str, text: str, trigger_id: str | None = None,
                           timeout: float = 10.0) -> dict:
        """As :meth:`SlackStandIn.send_slash_command`, to the stand-in's Socket Mode client."""
        return self._post_waiting("slash_command", {"user": user, "channel": channel, "text": text,
                                                    "trigger_id": trigger_id, "timeout": timeout}, timeout)

    def send_block_action(self, payload: dict, timeout: float = 10.0) -> dict:
        """As :meth:`SlackStandIn.send_block_action`."""
        return self._post_waiting("block_action", {"payload": payload, "timeout": timeout}, timeout)

    def _post_waiting(self, what: str, payload: dict[str, Any], timeout: float) -> dict:
        req = urllib.request.Request(f"{self.root_url}_standin/{what}", data=json.dumps(payload).encode(),
                                     headers={"Content-Type": "application/json"}, method="POST")
        try:
            with urllib.request.urlopen(req, timeout=timeout + self.timeout) as r:
                return json.loads(r.read().decode("utf-8"))["ack"]
        except urllib.error.HTTPError as exc:
            message = exc.read().decode("utf-8", errors="replace")
            if exc.code == 504:
                raise TimeoutError(message) from None
            raise ValueError(message) from None

    def inject(self, method: str, *, status: int = 429, retry_after: int | None = 1, times: int = 1,
               error: str | None = None) -> None:
        self._post("inject", {"method": method, "status": status, "retry_after": retry_after,
                              "times": times, "error": error})

    wait_for = SlackStandIn.wait_for
    snapshot = SlackStandIn.snapshot
    changed_since = SlackStandIn.changed_since

