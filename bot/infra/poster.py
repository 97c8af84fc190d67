"""The one place that talks to Slack's Web API. Everything it sends is redacted first.

Slack faults (:class:`SlackRetry`, one retry handler for every call of the client): 429 waits
exactly the ``Retry-After`` Slack gave (plus at most 0.25 s of jitter); 5xx answers (500, 502,
503, 504), refused or reset connections and timeouts are retried with exponential backoff
(0.25 s doubling, at most 8 s apart), up to ``SLACK_MAX_RETRIES`` retries per call. Calls are
synchronous, so a run's messages reach Slack in the order the run says them, retried or not.
Each retry is logged and counted (``bbops_slack_retries_total{reason}``). A post that still
fails is logged (redacted) and raised as ``PostFailed`` to the caller, never silently dropped.
A text over Slack's limits is not truncated: the summary stays in the message and the full
(redacted) text goes into the thread as a file.
"""

from __future__ import annotations

import http.client
import logging
import random
import socket
import time
from urllib.error import HTTPError, URLError

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.handler import RetryHandler

from bot.core.defaults import (
    MESSAGE_MAX_CHARS,
    SECTION_MAX_CHARS,
    SLACK_BACKOFF_BASE_S,
    SLACK_BACKOFF_MAX_S,
    SLACK_MAX_RETRIES,
    SLACK_RETRY_AFTER_MAX_S,
    SLACK_TIMEOUT_S,
)
from bot.core.errors import PostFailed
from bot.infra.metrics import count_shared
from bot.redaction import redact, redact_obj

log = logging.getLogger("bbops.slack")

SERVER_ERRORS = (500, 502, 503, 504)
_CONNECTION_ERRORS = (ConnectionError, http.client.RemoteDisconnected, http.client.IncompleteRead,
                      TimeoutError, socket.timeout)


class SlackRetry(RetryHandler):
    """Retry 429 (after Retry-After), 5xx and connection errors (with backoff); log and count each."""

    def __init__(self, max_retry_count: int = SLACK_MAX_RETRIES, *,
                 backoff_base_s: float = SLACK_BACKOFF_BASE_S, backoff_max_s: float = SLACK_BACKOFF_MAX_S,
                 sleep=time.sleep) -> None:
        super().__init__(max_retry_count=max_retry_count)
        self.backoff_base_s, self.backoff_max_s, self._sleep = backoff_base_s, backoff_max_s, sleep

    @staticmethod
    def reason(response, error) -> str | None:
        if response is not None:
            if response.status_code == 429:
                return "rate_limited"
            if response.status_code in SERVER_ERRORS:
                return "server_error"
            return None
        if isinstance(error, HTTPError):
            return None
        if isinstance(error, URLError):
            return "connection"
        if isinstance(error, _CONNECTION_ERRORS):
            return "timeout" if isinstance(error, (TimeoutError, socket.timeout)) else "connection"
        return None

    def _can_retry(self, *, state, request, response=None, error=None) -> bool:
        return self.reason(response, error) is not None

    def wait_s(self, state, response) -> float:
        if response is not None and response.status_code == 429:
            retry_after = None
            for key, value in response.headers.items():
                if key.lower() == "retry-after":
                    retry_after = value[0] if isinstance(value, list) else value
            try:
                wait = float(retry_after) if retry_after is not None else 1.0
            except ValueError:
                wait = 1.0
            return min(max(wait, 0.0), SLACK_RETRY_AFTER_MAX_S) + random.uniform(0, 0.25)
        backoff = min(self.backoff_max_s, self.backoff_base_s * (2 ** state.current_attempt))
        return backoff * random.uniform(0.8, 1.2)

    def prepare_for_next_attempt(self, *, state, request, response=None, error=None) -> None:
        reason = self.reason(response, error) or "other"
        wait = self.wait_s(state, response)
        method = request.url.rstrip("/").rsplit("/", 1)[-1]
        what = f"HTTP {response.status_code}" if response is not None else type(error).__name__
        log.warning("slack %s: %s; retry %d of %d in %.2f s", method, what, state.current_attempt + 1,
                    self.max_retry_count, wait, extra={"slack_method": method})
        count_shared("slack_retries", reason)
        state.next_attempt_requested = True
        self._sleep(wait)
        state.increment_current_attempt()


def make_client(token: str, base_url: str, *, retries: int = SLACK_MAX_RETRIES,
                timeout_s: int = SLACK_TIMEOUT_S) -> WebClient:
    return WebClient(token=token, base_url=base_url, timeout=timeout_s,
                     retry_handlers=[SlackRetry(max_retry_count=retries)])


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
        if len(text) > MESSAGE_MAX_CHARS:
            return False
        for block in blocks or []:
            t = block.get("text", {}).get("text", "") if isinstance(block.get("text"), dict) else ""
            if len(t) > SECTION_MAX_CHARS:
                return False
        return True

    # -- messages -----------------------------------------------------------------------------
    def post(self, channel: str, text: str, blocks: list | None = None, thread_ts: str | None = None,
             attachment: tuple[str, str] | None = None) -> str:
        """Post a message; returns its ts. Oversized text moves into a file in the thread."""
        overflow = None
        if not self._fits(text, blocks):
            overflow = text
            text = text[:MESSAGE_MAX_CHARS - 80].rsplit("\n", 1)[0] + "\n… (full text in the attached file)"
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
            text, blocks = text[:MESSAGE_MAX_CHARS - 40] + " …", None
        params = {"channel": channel, "ts": ts, "text": text}
        if blocks is not None:
            params["blocks"] = blocks
        self._call("chat_update", **params)

    def ephemeral(self, channel: str, user: str, text: str, blocks: list | None = None) -> None:
        params = {"channel": channel, "user": user, "text": text[:MESSAGE_MAX_CHARS]}
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
