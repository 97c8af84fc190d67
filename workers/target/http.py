"""HTTP to the target environment (httpx), with the environment's timeouts.

Proxies and certificates are not taken from the process environment (``trust_env=False``), and
lower-layer errors become bb-ops errors here, once, with messages that say what to do next and
name only the path — never a full URL with its query string.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

import httpx

from bot.core.errors import TargetBadResponse, TargetTimeout, TargetUnreachable

VENDOR_MEDIA_TYPE = "application/vnd.budgetbuddy.v1+json"


@dataclass(frozen=True)
class Answer:
    status: int
    text: str
    elapsed_ms: float
    content_type: str

    def json(self) -> Any:
        """The JSON body, or TargetBadResponse naming what came instead."""
        try:
            return json.loads(self.text)
        except ValueError:
            snippet = " ".join(self.text.split())[:80]
            raise TargetBadResponse(f"answered {self.status} with a body that is not JSON: {snippet!r}") from None

    def json_or_none(self) -> Any:
        try:
            return json.loads(self.text)
        except ValueError:
            return None


class TargetClient:
    def __init__(self, env_name: str, base_url: str, timeout_s: float) -> None:
        self.env_name = env_name
        self.timeout_s = timeout_s
        self._client = httpx.Client(base_url=base_url, timeout=httpx.Timeout(timeout_s), trust_env=False,
                                    follow_redirects=False, headers={"user-agent": "bb-ops"})

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> "TargetClient":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def request(self, method: str, path: str, **kwargs) -> Answer:
        started = time.perf_counter()
        where = f"{method} {path}"
        try:
            resp = self._client.request(method, path, **kwargs)
        except httpx.TimeoutException:
            raise TargetTimeout(f"{self.env_name} did not answer {where} within {self.timeout_s:g} s "
                                f"(timeouts.http_s). Is the app overloaded or hung? Try `/bb healthz {self.env_name}`.") from None
        except httpx.ConnectError as exc:
            raise TargetUnreachable(f"{self.env_name} refused or could not be reached for {where} "
                                    f"({_reason(exc)}). Is the app running, and is base_url right?") from None
        except httpx.HTTPError as exc:
            raise TargetUnreachable(f"{self.env_name}: {where} failed: {type(exc).__name__} ({_reason(exc)})") from None
        elapsed = (time.perf_counter() - started) * 1000
        try:
            text = resp.text
        except Exception:  # undecodable body
            text = resp.content.decode("utf-8", "replace")
        return Answer(resp.status_code, text, elapsed, resp.headers.get("content-type", ""))


def _reason(exc: Exception) -> str:
    text = str(exc) or type(exc).__name__
    # httpx messages may carry the URL; keep only the errno-style part
    return text.split(" for url")[0][:160]
