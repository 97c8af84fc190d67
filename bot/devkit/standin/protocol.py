"""What goes over the wire: the names of non-API calls in ``calls()``, one HTTP reply, a Web API
error, and reading request parameters the way Slack does.
"""

from __future__ import annotations

import email.parser
import email.policy
import json
from http import HTTPStatus
from typing import Any

#: ``calls()`` method name of the upload POST to a ``files.getUploadURLExternal`` URL.
UPLOAD_METHOD = "file_upload"
#: ``calls()`` method name of a POST to a :meth:`SlackStandIn.response_url` URL.
RESPONSE_URL_METHOD = "response_url"
#: ``calls()`` method name of a Socket Mode ack (params: envelope_id, type, payload).
SOCKET_MODE_METHOD = "socket_mode_ack"

_JSON_PARAMS = ("blocks", "attachments", "files", "view", "metadata")


class Reply:
    """One HTTP answer: a status, a body (dict → JSON, str → text/plain) and headers."""

    def __init__(self, status: int, body: dict | str, headers: dict[str, str] | None = None):
        self.status = status
        self.body = body
        self.headers = headers or {}


class ApiError(Exception):
    """A method's ``{"ok": false, "error": ...}``."""

    def __init__(self, error: str):
        super().__init__(error)
        self.error = error


def require(p: dict, key: str, error: str) -> str:
    value = p.get(key)
    if value in (None, ""):
        raise ApiError(error)
    return str(value)


def blocks_param(value: Any) -> list | None:
    if value in (None, ""):
        return None
    if not isinstance(value, list):
        raise ApiError("invalid_blocks")
    return value


def content_params(p: dict) -> tuple[str, list | None]:
    text = p.get("text")
    return ("" if text is None else str(text)), blocks_param(p.get("blocks"))


def message_content(p: dict) -> tuple[str, list | None]:
    text, blocks = content_params(p)
    if not text and not blocks and not p.get("attachments"):
        raise ApiError("no_text")
    return text, blocks


def truthy(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes")
    return bool(value)


def token_of(authorization: str, params: dict) -> str:
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return str(params.get("token") or "")


def authorised(authorization: str, params: dict) -> bool:
    scheme, _, token = authorization.partition(" ")
    return (scheme.lower() == "bearer" and bool(token.strip())) or bool(params.get("token"))


def injected_reply(inj: dict[str, Any]) -> Reply:
    if inj["error"] is not None:
        return Reply(200, {"ok": False, "error": inj["error"]})
    if inj["status"] == 429:
        headers = {} if inj["retry_after"] is None else {"Retry-After": str(int(inj["retry_after"]))}
        return Reply(429, {"ok": False, "error": "ratelimited"}, headers)
    try:
        phrase = HTTPStatus(inj["status"]).phrase
    except ValueError:
        phrase = "Error"
    return Reply(inj["status"], f"{inj['status']} {phrase}")


def decode_json_params(params: dict[str, Any]) -> dict[str, Any]:
    for key in _JSON_PARAMS:
        if isinstance(params.get(key), str) and params[key].strip()[:1] in ("[", "{"):
            try:
                params[key] = json.loads(params[key])
            except ValueError:
                pass  # the method answers invalid_blocks / invalid_arguments
    return params


def parse_multipart(content_type: str, body: bytes) -> dict[str, Any]:
    msg = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + body)
    fields: dict[str, Any] = {}
    for part in msg.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not name:
            continue
        payload = part.get_payload(decode=True) or b""
        fields[name] = payload if part.get_filename() else payload.decode("utf-8", errors="replace")
    return fields

