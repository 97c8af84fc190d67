"""The runbook's HTTP checks (healthz, readyz, login, /me): shared by the probe, precheck and smoke steps.

Each returns a ``Check``: passed or not, one line for the thread, timing. None of them raises for
a target that is down, slow or answering garbage: that is a failed check with a clear line.
"""

from __future__ import annotations

import json
from collections import deque
from dataclasses import dataclass, field

from bot.core.errors import TargetError
from workers.target.http import VENDOR_MEDIA_TYPE, TargetClient


@dataclass
class Check:
    name: str
    ok: bool
    detail: str
    elapsed_ms: float | None = None
    data: dict = field(default_factory=dict)

    def line(self) -> str:
        from bot.slack.render import step_line

        return step_line(self.ok, self.name, self.detail, self.elapsed_ms)


def _reason_of(body) -> str:
    if isinstance(body, dict):
        for key in ("reason", "detail", "message", "error"):
            if body.get(key):
                value = body[key]
                return value if isinstance(value, str) else json.dumps(value)[:300]
        return json.dumps(body)[:300]
    return str(body)[:300]


_issued_tokens: deque[str] = deque()
MAX_REMEMBERED_TOKENS = 32


def _remember_token(token: str) -> None:
    """Mask an issued bearer token by value in every encoding; keep only the newest few (they
    expire within minutes, and the JWT pattern still masks their raw shape)."""
    from bot.redaction import default_redactor

    redactor = default_redactor()
    redactor.add_secret("bearer token", token)
    _issued_tokens.append(token)
    while len(_issued_tokens) > MAX_REMEMBERED_TOKENS:
        redactor.forget_secret(_issued_tokens.popleft())


def _said(ans) -> str:
    """What the target said with an unexpected status, shortened (redacted later, like all text)."""
    body = ans.json_or_none()
    said = _reason_of(body) if body is not None else " ".join(ans.text.split())
    return f": {said[:240]}" if said else ""


def healthz(client: TargetClient) -> Check:
    try:
        ans = client.request("GET", "/api/healthz")
    except TargetError as exc:
        return Check("healthz", False, str(exc))
    if ans.status != 200:
        return Check("healthz", False, f"GET /api/healthz answered {ans.status}, expected 200{_said(ans)}",
                     ans.elapsed_ms)
    try:
        ans.json()
    except TargetError as exc:
        return Check("healthz", False, f"GET /api/healthz {exc}", ans.elapsed_ms)
    return Check("healthz", True, "200 OK", ans.elapsed_ms)


def readyz(client: TargetClient) -> Check:
    try:
        ans = client.request("GET", "/api/readyz")
    except TargetError as exc:
        return Check("readyz", False, str(exc))
    body = ans.json_or_none()
    if ans.status == 200:
        if body is None:
            return Check("readyz", False, f"GET /api/readyz answered 200 with a body that is not JSON: "
                         f"{' '.join(ans.text.split())[:80]!r}", ans.elapsed_ms)
        status = body.get("status") if isinstance(body, dict) else None
        if status == "ready":
            return Check("readyz", True, "200 status=ready", ans.elapsed_ms)
        return Check("readyz", False, f"answered 200 but status={status!r}, expected 'ready'", ans.elapsed_ms)
    if ans.status == 503:
        reason = _reason_of(body) if body is not None else " ".join(ans.text.split())[:300]
        return Check("readyz", False, f"503 not ready: {reason}", ans.elapsed_ms, {"reason": reason})
    return Check("readyz", False, f"GET /api/readyz answered {ans.status}, expected 200{_said(ans)}", ans.elapsed_ms)


def login(client: TargetClient, username: str, password: str) -> Check:
    headers = {"accept": VENDOR_MEDIA_TYPE, "content-type": VENDOR_MEDIA_TYPE}
    try:
        ans = client.request("POST", "/api/auth/login", headers=headers,
                             content=json.dumps({"username": username, "password": password}))
    except TargetError as exc:
        return Check("login", False, str(exc))
    if ans.status != 200:
        return Check("login", False, f"POST /api/auth/login answered {ans.status}, expected 200"
                     + (" (check the smoke user's credentials)" if ans.status == 401 else _said(ans)), ans.elapsed_ms)
    try:
        body = ans.json()
    except TargetError as exc:
        return Check("login", False, f"POST /api/auth/login {exc}", ans.elapsed_ms)
    token = body.get("access_token") if isinstance(body, dict) else None
    if not isinstance(token, str) or not token:
        return Check("login", False, "login answered 200 without an access_token", ans.elapsed_ms)
    _remember_token(token)
    return Check("login", True, "200, access token issued", ans.elapsed_ms, {"token": token})


def me(client: TargetClient, token: str) -> Check:
    headers = {"accept": VENDOR_MEDIA_TYPE, "authorization": f"Bearer {token}"}
    try:
        ans = client.request("GET", "/api/me", headers=headers)
    except TargetError as exc:
        return Check("/me", False, str(exc))
    if ans.status != 200:
        return Check("/me", False, f"GET /api/me answered {ans.status}, expected 200{_said(ans)}", ans.elapsed_ms)
    try:
        body = ans.json()
    except TargetError as exc:
        return Check("/me", False, f"GET /api/me {exc}", ans.elapsed_ms)
    if not isinstance(body, dict) or not (body.get("username") or body.get("id")):
        return Check("/me", False, "GET /api/me answered 200 without a user payload", ans.elapsed_ms)
    return Check("/me", True, f"200, authenticated as {body.get('username') or body.get('id')}", ans.elapsed_ms)
