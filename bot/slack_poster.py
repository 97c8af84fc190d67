"""The one place that talks to Slack's Web API. Everything it sends is redacted first.

Slack faults: 429 honours Retry-After, 5xx and connection errors are retried with backoff
(slack-sdk's retry handlers); a post that still fails is logged (redacted) and reported to the
caller, never silently dropped. A text over Slack's limits is not truncated: the summary stays
in the message and the full (redacted) text goes into the thread as a file.
"""

from __future__ import annotations

import logging

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)

from bot.redaction import redact, redact_obj
from bot.render import MESSAGE_TEXT_LIMIT, SECTION_LIMIT

log = logging.getLogger("bbops.slack")


def make_client(token: str, base_url: str, *, retries: int = 5, timeout_s: int = 15) -> WebClient:
    client = WebClient(token=token, base_url=base_url, timeout=timeout_s)
    client.retry_handlers.extend([
        RateLimitErrorRetryHandler(max_retry_count=retries),
        ServerErrorRetryHandler(max_retry_count=retries),
        ConnectionErrorRetryHandler(max_retry_count=retries),
    ])
    return client


class PostFailed(Exception):
    pass


class SlackPoster:
    def __init__(self, client: WebClient) -> None:
        self.client = client

    # -- the chokepoint -----------------------------------------------------------------------
    def _call(self, method: str, **params):
        params = redact_obj(params)
        try:
            return getattr(self.client, method)(**params)
        except SlackApiError as exc:
            error = exc.response.get("error") if exc.response is not None else "unknown"
            log.error("slack %s failed: %s", method, error)
            raise PostFailed(f"Slack {method} failed: {error}") from None
        except Exception as exc:  # connection errors after retries, timeouts
            log.error("slack %s failed: %s", method, redact(f"{type(exc).__name__}: {exc}"))
            raise PostFailed(f"Slack {method} failed: {type(exc).__name__}") from None

    @staticmethod
    def _fits(text: str, blocks: list | None) -> bool:
        if len(text) > MESSAGE_TEXT_LIMIT:
            return False
        for block in blocks or []:
            t = block.get("text", {}).get("text", "") if isinstance(block.get("text"), dict) else ""
            if len(t) > SECTION_LIMIT:
                return False
        return True

    # -- messages -----------------------------------------------------------------------------
    def post(self, channel: str, text: str, blocks: list | None = None, thread_ts: str | None = None,
             attachment: tuple[str, str] | None = None) -> str:
        """Post a message; returns its ts. Oversized text moves into a file in the thread."""
        overflow = None
        if not self._fits(text, blocks):
            overflow = text
            text = text[:MESSAGE_TEXT_LIMIT - 80].rsplit("\n", 1)[0] + "\n… (full text in the attached file)"
            blocks = None
        params = {"channel": channel, "text": text}
        if blocks:
            params["blocks"] = blocks
        if thread_ts:
            params["thread_ts"] = thread_ts
        resp = self._call("chat_postMessage", **params)
        ts = resp["ts"]
        if overflow is not None:
            self.upload(channel, thread_ts or ts, "message.txt", overflow, title="full message")
        if attachment is not None:
            self.upload(channel, thread_ts or ts, attachment[0], attachment[1], title=attachment[0])
        return ts

    def update(self, channel: str, ts: str, text: str, blocks: list | None = None) -> None:
        if not self._fits(text, blocks):
            text, blocks = text[:MESSAGE_TEXT_LIMIT - 40] + " …", None
        params = {"channel": channel, "ts": ts, "text": text}
        if blocks is not None:
            params["blocks"] = blocks
        self._call("chat_update", **params)

    def ephemeral(self, channel: str, user: str, text: str, blocks: list | None = None) -> None:
        params = {"channel": channel, "user": user, "text": text[:MESSAGE_TEXT_LIMIT]}
        if blocks:
            params["blocks"] = blocks
        self._call("chat_postEphemeral", **params)

    def upload(self, channel: str, thread_ts: str | None, filename: str, content: str, title: str = "") -> None:
        self._call("files_upload_v2", channel=channel, thread_ts=thread_ts, filename=filename,
                   content=content, title=title or filename)

    def permalink(self, channel: str, ts: str) -> str | None:
        try:
            return self._call("chat_getPermalink", channel=channel, message_ts=ts)["permalink"]
        except PostFailed:
            return None
