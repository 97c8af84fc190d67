"""A local stand-in for the Slack Web API, for tests, the local shell, `say` and `click`.

The *real* ``slack_sdk.WebClient`` talks to it over HTTP on 127.0.0.1::

    with SlackStandIn() as slack:
        client = WebClient(token="xoxb-test", base_url=slack.base_url)
        client.chat_postMessage(channel="C0DEPLOYS", text="hello")
        assert slack.messages("C0DEPLOYS")[0]["text"] == "hello"

It answers the handful of methods bb-ops uses the way Slack does (HTTP 200 with
``{"ok": ...}``, form-encoded or JSON bodies, ``blocks`` as a JSON string inside form
data), keeps whole messages (channel, thread, text, blocks, ephemeral recipient), and can
be told to fail: :meth:`SlackStandIn.inject` makes the next calls answer 429 with a
``Retry-After`` header, a plain 5xx, or HTTP 200 ``{"ok": false, "error": ...}``.

Semantics worth knowing, all as Slack behaves:

- ``chat.update`` replaces the fields it is given; ``blocks`` left out are *kept* (to drop
  them, send ``blocks=[]``). Ephemeral messages cannot be updated (``message_not_found``).
- ``thread_ts`` naming a reply is normalised to that reply's parent.
- ``files.completeUploadExternal`` with a channel posts one message in the channel or
  thread, ``"📎 <title>"`` per file (after ``initial_comment`` if given).
- A response_url accepts any number of posts (Slack allows 5 in 30 minutes);
  ``replace_original`` / ``delete_original`` act on the message given as ``message_ts``
  to :meth:`SlackStandIn.response_url` or, failing that, on the last message posted
  through the same URL.
- ``chat.getPermalink`` answers for any well-formed ts, in Slack's own shape
  ``https://budgetbuddy.slack.com/archives/C…/p1700000000000100``.

Persistence (``state_file=``): successive processes (``bb-ops say``, then ``bb-ops click``)
can share one continuous channel. :meth:`SlackStandIn.start` loads messages and files from
the JSON file if it exists (a corrupt or unreadable file is logged and ignored), and every
change (post, update, delete, ephemeral, file, reset) rewrites it atomically. New ts stay
strictly greater than any loaded one and file ids never repeat. Calls, injections, pending
uploads and response URLs are per process. The file is meant for one process at a time;
two stand-ins writing it at once would each overwrite the other.

:meth:`SlackStandIn.snapshot` / :meth:`SlackStandIn.changed_since` tell what one step
posted or edited: the messages created, or whose text/blocks changed, since the snapshot.

Not part of Slack: ``GET /_standin/{messages,files,calls,transcript}`` and
``POST /_standin/{reset,inject}`` let another process (an RQ worker's poster, ``say``)
read and steer a stand-in started with ``python -m bot.slack_standin --port N``;
:class:`RemoteSlackStandIn` wraps them. These are never recorded in :meth:`calls`.

Stdlib only, so anything may import it.
"""

from __future__ import annotations

import copy
import email.parser
import email.policy
import json
import logging
import os
import re
import tempfile
import threading
import time
import urllib.parse
import urllib.request
import uuid
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable

__all__ = ["SlackStandIn", "RemoteSlackStandIn", "UPLOAD_METHOD", "RESPONSE_URL_METHOD"]

log = logging.getLogger(__name__)

#: ``calls()`` method name of the upload POST to a ``files.getUploadURLExternal`` URL.
UPLOAD_METHOD = "file_upload"
#: ``calls()`` method name of a POST to a :meth:`SlackStandIn.response_url` URL.
RESPONSE_URL_METHOD = "response_url"

TEAM_URL = "https://budgetbuddy.slack.com/"
TEAM_NAME = "BudgetBuddy"
BOT_NAME = "bb-ops"
BOT_ID = "B0BBOPS"

_MESSAGE_KEYS = ("channel", "thread_ts", "ts", "text", "blocks", "ephemeral", "user")
_FILE_KEYS = ("channel", "thread_ts", "filename", "title", "content", "initial_comment", "file_id")
_JSON_PARAMS = ("blocks", "attachments", "files", "view", "metadata")

#: Format version of a ``state_file``.
STATE_VERSION = 1

# ts and ids are unique across every stand-in in the process, and ts follows the wall clock,
# so messages from two stand-ins (or two runs) never share a ts. A loaded state file pushes
# both counters past everything it holds (_advance_counters).
_counter_lock = threading.Lock()
_last_ts_us = 0
_last_id = 0
_ID_RE = re.compile(r"[A-Z]0([0-9A-F]{8})")


def _next_ts() -> str:
    global _last_ts_us
    with _counter_lock:
        _last_ts_us = max(int(time.time() * 1_000_000), _last_ts_us + 1)
        return _format_ts(_last_ts_us)


def _next_id(prefix: str) -> str:
    global _last_id
    with _counter_lock:
        _last_id += 1
        return f"{prefix}0{_last_id:08X}"


def _advance_counters(ts_us: int, id_number: int) -> None:
    global _last_ts_us, _last_id
    with _counter_lock:
        _last_ts_us = max(_last_ts_us, ts_us)
        _last_id = max(_last_id, id_number)


def _format_ts(ts_us: int) -> str:
    return f"{ts_us // 1_000_000}.{ts_us % 1_000_000:06d}"


def _ts_us(ts: str) -> int:
    """``"1700000000.000100"`` → microseconds (a ts must pass :func:`_looks_like_ts`)."""
    head, _, tail = ts.partition(".")
    return int(head) * 1_000_000 + int(tail[:6].ljust(6, "0"))


def _id_number(file_id: str) -> int:
    match = _ID_RE.fullmatch(file_id)
    return int(match.group(1), 16) if match else 0


class _Reply:
    """One HTTP answer: a status, a body (dict → JSON, str → text/plain) and headers."""

    def __init__(self, status: int, body: dict | str, headers: dict[str, str] | None = None):
        self.status = status
        self.body = body
        self.headers = headers or {}


class _ApiError(Exception):
    """A method's ``{"ok": false, "error": ...}``."""

    def __init__(self, error: str):
        super().__init__(error)
        self.error = error


class SlackStandIn:
    """A Slack Web API on 127.0.0.1 that records what the bot posts. See the module doc."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, bot_user_id: str = "U0BBOPS",
                 team_id: str = "T0BUDGET", state_file: Path | str | None = None):
        self.host = host
        self.port = port
        self.bot_user_id = bot_user_id
        self.team_id = team_id
        #: JSON file the channel is loaded from on start() and saved to on every change.
        self.state_file = Path(state_file) if state_file is not None else None
        self._lock = threading.RLock()
        self._dirty = False
        self._last_ts_us = 0  # the highest ts this channel ever held, deleted messages included
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._response_urls: dict[str, dict[str, Any]] = {}
        self._reset_state()

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> "SlackStandIn":
        if self._server is not None:
            return self
        if self.state_file is not None:
            self._load_state()
        server = ThreadingHTTPServer((self.host, self.port), _Handler)
        server.daemon_threads = True
        server.standin = self  # type: ignore[attr-defined]
        self._server = server
        self.port = server.server_address[1]
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name=f"slack-standin:{self.port}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if server is not None:
            server.shutdown()
            server.server_close()
        if thread is not None:
            thread.join(timeout=5)

    def __enter__(self) -> "SlackStandIn":
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        where = self.root_url if self._server is not None else "not started"
        return f"<SlackStandIn {where}>"

    @property
    def root_url(self) -> str:
        if self._server is None:
            raise RuntimeError("SlackStandIn is not started: call start() or use it as a context manager")
        return f"http://{self.host}:{self.port}/"

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT/api/`` — for ``WebClient(base_url=...)`` / ``SLACK_API_URL``."""
        return self.root_url + "api/"

    def response_url(self, channel: str, user: str, message_ts: str | None = None) -> str:
        """A fresh response_url for a command or action by ``user`` in ``channel``.

        ``message_ts`` is the message a block_actions payload came from; ``replace_original``
        and ``delete_original`` posts act on it.
        """
        token = uuid.uuid4().hex
        with self._lock:
            self._response_urls[token] = {"channel": channel, "user": user,
                                          "message_ts": message_ts, "last_ts": None}
        return f"{self.root_url}response/{token}"

    # ------------------------------------------------------------------ inspection

    def messages(self, channel: str | None = None) -> list[dict]:
        """What was posted, in order of first posting, each message once in its final state."""
        with self._lock:
            return [{k: copy.deepcopy(m[k]) for k in _MESSAGE_KEYS}
                    for m in self._messages.values() if channel is None or m["channel"] == channel]

    def files(self) -> list[dict]:
        with self._lock:
            return [dict(f) for f in self._files]

    def calls(self, method: str | None = None) -> list[dict]:
        with self._lock:
            return [copy.deepcopy(c) for c in self._calls if method is None or c["method"] == method]

    def inject(self, method: str, *, status: int = 429, retry_after: int | None = 1, times: int = 1,
               error: str | None = None) -> None:
        """Make the next ``times`` calls of ``method`` (``"*"``: any call) fail.

        With ``error``: HTTP 200 ``{"ok": false, "error": error}``. Else HTTP ``status``: 429
        answers ``{"ok": false, "error": "ratelimited"}`` with ``Retry-After: retry_after``
        (unless None); any other status answers a plain-text body. Injected failures are
        recorded in :meth:`calls` and change nothing else.
        """
        if times < 1:
            raise ValueError("times must be at least 1")
        if error is None and not 400 <= status <= 599:
            raise ValueError(f"status must be an HTTP error status, not {status}")
        with self._lock:
            self._injections.append({"method": method, "status": status, "retry_after": retry_after,
                                     "times": times, "error": error})

    def wait_for(self, predicate: Callable[[list[dict]], bool], timeout: float = 10.0) -> list[dict]:
        """Poll :meth:`messages` until ``predicate(messages)`` holds; return those messages."""
        deadline = time.monotonic() + timeout
        while True:
            msgs = self.messages()
            if predicate(msgs):
                return msgs
            if time.monotonic() >= deadline:
                raise TimeoutError(
                    f"Slack stand-in: condition not met within {timeout}s; messages so far:\n"
                    + json.dumps(msgs, indent=1, ensure_ascii=False) + "\n\n" + self.transcript())
            time.sleep(0.02)

    def reset(self) -> None:
        """Forget messages, files, calls and injections (response URLs stay valid).

        With a ``state_file``, the file is emptied too.
        """
        with self._lock:
            self._reset_state()
            self._dirty = True
            self._flush()

    def snapshot(self) -> dict[str, tuple]:
        """The messages as they are now, for :meth:`changed_since`.

        ``{"<channel>:<ts>": (text, blocks as canonical JSON)}``; later changes never alter it.
        """
        return {_snapshot_key(m): _snapshot_value(m) for m in self.messages()}

    def changed_since(self, snapshot: dict[str, tuple]) -> list[dict]:
        """The messages (as :meth:`messages` gives them, in its order) posted after ``snapshot``
        was taken, or whose text or blocks differ from what they were then.

        Deleted messages are not reported; an edit that restores the old content is no change.
        """
        return [m for m in self.messages() if snapshot.get(_snapshot_key(m)) != _snapshot_value(m)]

    def transcript(self, channel: str | None = None) -> str:
        """The channel(s) as a person would read them; see :func:`_render_transcript`."""
        with self._lock:
            records = [copy.deepcopy(m) for m in self._messages.values()
                       if channel is None or m["channel"] == channel]
        return _render_transcript(records, channel)

    # ------------------------------------------------------------------ state

    def _reset_state(self) -> None:
        self._messages: dict[tuple[str, str], dict[str, Any]] = {}
        self._files: list[dict[str, Any]] = []
        self._calls: list[dict[str, Any]] = []
        self._injections: list[dict[str, Any]] = []
        self._pending_files: dict[str, dict[str, Any]] = {}

    def _take_injection(self, method: str) -> dict[str, Any] | None:
        for inj in self._injections:
            if inj["method"] in ("*", method):
                inj["times"] -= 1
                if inj["times"] <= 0:
                    self._injections.remove(inj)
                return inj
        return None

    def _record(self, method: str, params: dict[str, Any], status: int) -> None:
        self._calls.append({"method": method, "params": params, "status": status})

    def _thread_root(self, channel: str, thread_ts: Any) -> str | None:
        if thread_ts in (None, ""):
            return None
        thread_ts = str(thread_ts)
        parent = self._messages.get((channel, thread_ts))
        if parent is not None and parent["thread_ts"] is not None:
            return parent["thread_ts"]
        return thread_ts

    def _post(self, channel: str, *, text: str, blocks: list | None, thread_ts: Any = None,
              ephemeral: bool = False, user: str | None = None,
              attached: list[dict] | None = None, comment: str | None = None) -> dict[str, Any]:
        ts = _next_ts()
        self._last_ts_us = max(self._last_ts_us, _ts_us(ts))
        self._dirty = True
        record = {"channel": channel, "thread_ts": self._thread_root(channel, thread_ts), "ts": ts,
                  "text": text, "blocks": blocks or None, "ephemeral": ephemeral,
                  "user": user if ephemeral else None, "_files": attached, "_comment": comment}
        self._messages[(channel, ts)] = record
        return record

    def _wire_message(self, m: dict[str, Any]) -> dict[str, Any]:
        """A message as Slack's API returns it."""
        out: dict[str, Any] = {"type": "message", "subtype": "bot_message", "text": m["text"],
                               "user": self.bot_user_id, "bot_id": BOT_ID, "team": self.team_id,
                               "ts": m["ts"]}
        if m["blocks"]:
            out["blocks"] = m["blocks"]
        if m["thread_ts"]:
            out["thread_ts"] = m["thread_ts"]
        return out

    # ------------------------------------------------------------------ persistence

    def _flush(self) -> None:
        """Save the state if it changed since the last save (lock held)."""
        if not self._dirty or self.state_file is None:
            self._dirty = False
            return
        self._dirty = False
        state = {"version": STATE_VERSION, "last_ts": _format_ts(self._last_ts_us),
                 "messages": list(self._messages.values()), "files": self._files}
        try:
            _write_atomically(self.state_file, json.dumps(state, ensure_ascii=False, indent=1) + "\n")
        except (OSError, TypeError, ValueError) as exc:
            log.error("Slack stand-in: could not save state to %s: %s", self.state_file, exc)

    def _load_state(self) -> None:
        """Replace messages and files with the state file's; never raises."""
        path = self.state_file
        assert path is not None
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            return
        except OSError as exc:
            log.warning("Slack stand-in: cannot read state file %s (%s); starting with an empty channel",
                        path, exc)
            return
        try:
            messages, files, last_ts_us = _parse_state(json.loads(raw.decode("utf-8")))
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            log.warning("Slack stand-in: state file %s is corrupt (%s); starting with an empty channel "
                        "(the file is replaced on the next change)", path, exc)
            return
        ids = [f["file_id"] for f in files] + [a["file_id"] for m in messages for a in m["_files"] or []]
        with self._lock:
            self._messages = {(m["channel"], m["ts"]): m for m in messages}
            self._files = files
            self._last_ts_us = max([last_ts_us, *(_ts_us(m["ts"]) for m in messages)])
            _advance_counters(self._last_ts_us, max([0, *map(_id_number, ids)]))
        log.debug("Slack stand-in: loaded %d messages and %d files from %s", len(messages), len(files), path)

    # ------------------------------------------------------------------ HTTP entry points

    def _handle_api(self, method: str, params: dict[str, Any], authorization: str) -> _Reply:
        with self._lock:
            injected = self._take_injection(method)
            if injected is not None:
                reply = _injected_reply(injected)
            elif not _authorised(authorization, params):
                reply = _Reply(200, {"ok": False, "error": "not_authed"})
            else:
                handler = _METHODS.get(method)
                if handler is None:
                    reply = _Reply(200, {"ok": False, "error": "unknown_method"})
                else:
                    try:
                        reply = _Reply(200, {"ok": True, **handler(self, params)})
                    except _ApiError as exc:
                        reply = _Reply(200, {"ok": False, "error": exc.error})
            params.pop("token", None)
            self._record(method, params, reply.status)
            self._flush()
            return reply

    def _handle_upload(self, file_id: str, data: bytes) -> _Reply:
        with self._lock:
            params = {"file_id": file_id, "length": len(data)}
            injected = self._take_injection(UPLOAD_METHOD)
            if injected is not None:
                reply = _injected_reply(injected)
            elif file_id not in self._pending_files:
                reply = _Reply(404, "file not found")
            else:
                self._pending_files[file_id]["data"] = data
                reply = _Reply(200, f"OK - {len(data)}")
            self._record(UPLOAD_METHOD, params, reply.status)
            return reply

    def _handle_response_url(self, token: str, payload: dict[str, Any]) -> _Reply:
        with self._lock:
            injected = self._take_injection(RESPONSE_URL_METHOD)
            target = self._response_urls.get(token)
            if injected is not None:
                reply = _injected_reply(injected)
            elif target is None:
                reply = _Reply(404, "no_active_hooks")
            else:
                reply = self._respond(target, payload)
            self._record(RESPONSE_URL_METHOD, payload, reply.status)
            self._flush()
            return reply

    def _respond(self, target: dict[str, Any], payload: dict[str, Any]) -> _Reply:
        channel, user = target["channel"], target["user"]
        original_ts = target["message_ts"] or target["last_ts"]
        original = self._messages.get((channel, original_ts)) if original_ts else None
        if _truthy(payload.get("delete_original")):
            if original is not None:
                del self._messages[(channel, original["ts"])]
                self._dirty = True
            return _Reply(200, {"ok": True})
        text, blocks = _content(payload)
        if not text and not blocks and not payload.get("attachments"):
            return _Reply(400, "no_text")
        if _truthy(payload.get("replace_original")) and original is not None:
            original["text"], original["blocks"] = text, blocks or None
            self._dirty = True
            return _Reply(200, {"ok": True})
        ephemeral = payload.get("response_type", "ephemeral") != "in_channel"
        posted = self._post(channel, text=text, blocks=blocks, thread_ts=payload.get("thread_ts"),
                            ephemeral=ephemeral, user=user)
        target["last_ts"] = posted["ts"]
        return _Reply(200, {"ok": True})

    def _handle_inspect(self, verb: str, what: str, params: dict[str, Any]) -> _Reply:
        channel = params.get("channel") or None
        if verb == "GET" and what == "messages":
            return _Reply(200, {"ok": True, "messages": self.messages(channel)})
        if verb == "GET" and what == "files":
            return _Reply(200, {"ok": True, "files": self.files()})
        if verb == "GET" and what == "calls":
            return _Reply(200, {"ok": True, "calls": self.calls(params.get("method") or None)})
        if verb == "GET" and what == "transcript":
            return _Reply(200, self.transcript(channel))
        if verb == "POST" and what == "response_url":
            try:
                url = self.response_url(str(params["channel"]), str(params["user"]), params.get("message_ts"))
            except KeyError as exc:
                return _Reply(400, f"bad response_url request: missing {exc}")
            return _Reply(200, {"ok": True, "url": url})
        if verb == "POST" and what == "reset":
            self.reset()
            return _Reply(200, {"ok": True})
        if verb == "POST" and what == "inject":
            try:
                self.inject(str(params["method"]), status=int(params.get("status", 429)),
                            retry_after=params.get("retry_after", 1), times=int(params.get("times", 1)),
                            error=params.get("error"))
            except (KeyError, TypeError, ValueError) as exc:
                return _Reply(400, f"bad inject: {exc}")
            return _Reply(200, {"ok": True})
        return _Reply(404, "not found")


# ---------------------------------------------------------------------- Web API methods
# Each takes the stand-in (lock held) and the request params, returns the fields to add to
# {"ok": true}, or raises _ApiError.


def _auth_test(s: SlackStandIn, p: dict) -> dict:
    return {"url": TEAM_URL, "team": TEAM_NAME, "user": BOT_NAME, "team_id": s.team_id,
            "user_id": s.bot_user_id, "bot_id": BOT_ID, "is_enterprise_install": False}


def _chat_post_message(s: SlackStandIn, p: dict) -> dict:
    channel = _require(p, "channel", "channel_not_found")
    text, blocks = _message_content(p)
    m = s._post(channel, text=text, blocks=blocks, thread_ts=p.get("thread_ts"))
    return {"channel": channel, "ts": m["ts"], "message": s._wire_message(m)}


def _chat_post_ephemeral(s: SlackStandIn, p: dict) -> dict:
    channel = _require(p, "channel", "channel_not_found")
    user = _require(p, "user", "user_not_in_channel")
    text, blocks = _message_content(p)
    m = s._post(channel, text=text, blocks=blocks, thread_ts=p.get("thread_ts"), ephemeral=True, user=user)
    return {"message_ts": m["ts"]}


def _chat_update(s: SlackStandIn, p: dict) -> dict:
    channel = _require(p, "channel", "channel_not_found")
    ts = _require(p, "ts", "message_not_found")
    m = s._messages.get((channel, ts))
    if m is None or m["ephemeral"]:
        raise _ApiError("message_not_found")
    if not any(k in p for k in ("text", "blocks", "attachments")):
        raise _ApiError("no_text")
    if "text" in p:
        m["text"] = "" if p["text"] is None else str(p["text"])
    if "blocks" in p:  # left out: kept, as Slack does; [] removes them
        m["blocks"] = _blocks(p["blocks"]) or None
    s._dirty = True
    return {"channel": channel, "ts": ts, "text": m["text"], "message": s._wire_message(m)}


def _chat_delete(s: SlackStandIn, p: dict) -> dict:
    channel = _require(p, "channel", "channel_not_found")
    ts = _require(p, "ts", "message_not_found")
    m = s._messages.get((channel, ts))
    if m is None or m["ephemeral"]:
        raise _ApiError("message_not_found")
    del s._messages[(channel, ts)]
    s._dirty = True
    return {"channel": channel, "ts": ts}


def _chat_get_permalink(s: SlackStandIn, p: dict) -> dict:
    channel = _require(p, "channel", "channel_not_found")
    ts = _require(p, "message_ts", "message_not_found")
    if not _looks_like_ts(ts):
        raise _ApiError("message_not_found")
    link = f"{TEAM_URL}archives/{channel}/p{ts.replace('.', '')}"
    m = s._messages.get((channel, ts))
    if m is not None and m["thread_ts"]:
        link += f"?thread_ts={m['thread_ts']}&cid={channel}"
    return {"channel": channel, "permalink": link}


def _conversations_info(s: SlackStandIn, p: dict) -> dict:
    channel = _require(p, "channel", "channel_not_found")
    return {"channel": {"id": channel, "name": channel.lower(), "is_channel": channel.startswith("C"),
                        "is_group": False, "is_im": channel.startswith("D"),
                        "is_private": channel.startswith("G"), "is_archived": False, "is_member": True,
                        "context_team_id": s.team_id, "created": 1700000000}}


def _conversations_history(s: SlackStandIn, p: dict) -> dict:
    channel = _require(p, "channel", "channel_not_found")
    top = [s._wire_message(m) for m in s._messages.values()
           if m["channel"] == channel and not m["ephemeral"] and m["thread_ts"] is None]
    return {"messages": top[::-1], "has_more": False}


def _conversations_replies(s: SlackStandIn, p: dict) -> dict:
    channel = _require(p, "channel", "channel_not_found")
    ts = _require(p, "ts", "thread_not_found")
    root = s._thread_root(channel, ts)
    parent = s._messages.get((channel, root))
    if parent is None:
        raise _ApiError("thread_not_found")
    replies = [m for m in s._messages.values()
               if m["channel"] == channel and m["thread_ts"] == root and not m["ephemeral"]]
    return {"messages": [s._wire_message(m) for m in [parent, *replies]], "has_more": False}


def _users_info(s: SlackStandIn, p: dict) -> dict:
    user = _require(p, "user", "user_not_found")
    is_bot = user == s.bot_user_id
    name = BOT_NAME if is_bot else user.lower()
    return {"user": {"id": user, "team_id": s.team_id, "name": name, "real_name": name, "deleted": False,
                     "is_bot": is_bot, "is_admin": False, "tz": "Etc/UTC", "tz_offset": 0,
                     "profile": {"display_name": name, "real_name": name, "team": s.team_id}}}


def _views_open(s: SlackStandIn, p: dict) -> dict:
    _require(p, "trigger_id", "invalid_trigger_id")
    view = p.get("view")
    if not isinstance(view, dict):
        raise _ApiError("invalid_arguments")
    return {"view": {"id": _next_id("V"), "team_id": s.team_id, "state": {"values": {}},
                     "hash": uuid.uuid4().hex[:16], **view}}


def _files_get_upload_url(s: SlackStandIn, p: dict) -> dict:
    filename = _require(p, "filename", "invalid_arguments")
    try:
        length = int(p.get("length", ""))
    except ValueError:
        raise _ApiError("invalid_arguments") from None
    file_id = _next_id("F")
    s._pending_files[file_id] = {"filename": filename, "length": length, "data": None}
    return {"upload_url": f"{s.root_url}upload/v1/{file_id}", "file_id": file_id}


def _files_complete_upload(s: SlackStandIn, p: dict) -> dict:
    entries = p.get("files")
    if not isinstance(entries, list) or not entries:
        raise _ApiError("invalid_arguments")
    pending = []
    for entry in entries:
        file_id = entry.get("id") if isinstance(entry, dict) else None
        if file_id not in s._pending_files or s._pending_files[file_id]["data"] is None:
            raise _ApiError("file_not_found")
        pending.append((file_id, entry))
    raw_channels = p.get("channels") or []
    if isinstance(raw_channels, str):
        raw_channels = raw_channels.split(",")
    channels = [str(c).strip() for c in raw_channels if str(c).strip()]
    if p.get("channel_id"):
        channels.insert(0, str(p["channel_id"]))
    comment = p.get("initial_comment") or None
    uploaded = []
    for file_id, entry in pending:
        f = s._pending_files.pop(file_id)
        content = f["data"].decode("utf-8", errors="replace")
        uploaded.append({"file_id": file_id, "filename": f["filename"],
                         "title": entry.get("title") or f["filename"], "content": content})
    for channel in channels or [None]:
        thread_ts = s._thread_root(channel, p.get("thread_ts")) if channel else None
        for u in uploaded:
            s._files.append({"channel": channel, "thread_ts": thread_ts, "filename": u["filename"],
                             "title": u["title"], "content": u["content"], "initial_comment": comment,
                             "file_id": u["file_id"]})
            s._dirty = True
        if channel:
            text = "\n".join([*([comment] if comment else []), *(f"📎 {u['title']}" for u in uploaded)])
            s._post(channel, text=text, blocks=None, thread_ts=thread_ts, attached=uploaded, comment=comment)
    return {"files": [{"id": u["file_id"], "name": u["filename"], "title": u["title"],
                       "mimetype": "text/plain", "filetype": "text", "size": len(u["content"].encode()),
                       "user": s.bot_user_id,
                       "permalink": f"{TEAM_URL}files/{s.bot_user_id}/{u['file_id']}/{u['filename']}"}
                      for u in uploaded]}


_METHODS: dict[str, Callable[[SlackStandIn, dict], dict]] = {
    "auth.test": _auth_test,
    "chat.postMessage": _chat_post_message,
    "chat.postEphemeral": _chat_post_ephemeral,
    "chat.update": _chat_update,
    "chat.delete": _chat_delete,
    "chat.getPermalink": _chat_get_permalink,
    "conversations.info": _conversations_info,
    "conversations.history": _conversations_history,
    "conversations.replies": _conversations_replies,
    "users.info": _users_info,
    "views.open": _views_open,
    "files.getUploadURLExternal": _files_get_upload_url,
    "files.completeUploadExternal": _files_complete_upload,
}


# ---------------------------------------------------------------------- state file and snapshots


def _snapshot_key(m: dict[str, Any]) -> str:
    return f"{m['channel']}:{m['ts']}"


def _snapshot_value(m: dict[str, Any]) -> tuple:
    return (m["text"], json.dumps(m["blocks"], sort_keys=True, ensure_ascii=False))


def _write_atomically(path: Path, text: str) -> None:
    """Write ``text`` to a temporary file beside ``path``, then os.replace it over ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def _check(ok: bool, what: str) -> None:
    if not ok:
        raise ValueError(what)


def _optional_str(value: Any) -> bool:
    return value is None or isinstance(value, str)


def _parse_state(data: Any) -> tuple[list[dict[str, Any]], list[dict[str, Any]], int]:
    """Validate a loaded state file: (message records, file records, last ts in µs); ValueError if bad."""
    _check(isinstance(data, dict), "not a JSON object")
    _check(data.get("version") == STATE_VERSION, f"unknown version {data.get('version')!r}")
    raw_messages, raw_files, last_ts = data.get("messages"), data.get("files"), data.get("last_ts")
    _check(isinstance(raw_messages, list) and isinstance(raw_files, list), "messages/files are not lists")
    _check(isinstance(last_ts, str) and _looks_like_ts(last_ts), f"bad last_ts {last_ts!r}")
    messages, seen = [], set()
    for i, m in enumerate(raw_messages):
        _check(isinstance(m, dict), f"message {i} is not an object")
        _check(isinstance(m.get("channel"), str) and bool(m["channel"]), f"message {i}: bad channel")
        _check(isinstance(m.get("ts"), str) and _looks_like_ts(m["ts"]), f"message {i}: bad ts")
        _check(m.get("thread_ts") is None or (isinstance(m["thread_ts"], str) and _looks_like_ts(m["thread_ts"])),
               f"message {i}: bad thread_ts")
        _check(isinstance(m.get("text"), str), f"message {i}: bad text")
        _check(m.get("blocks") is None or isinstance(m["blocks"], list), f"message {i}: bad blocks")
        _check(isinstance(m.get("ephemeral"), bool), f"message {i}: bad ephemeral")
        _check(_optional_str(m.get("user")) and _optional_str(m.get("_comment")), f"message {i}: bad user/comment")
        attached = m.get("_files")
        _check(attached is None or (isinstance(attached, list) and all(
            isinstance(a, dict) and all(isinstance(a.get(k), str) for k in ("file_id", "filename", "title", "content"))
            for a in attached)), f"message {i}: bad _files")
        key = (m["channel"], m["ts"])
        _check(key not in seen, f"message {i}: duplicate ts {m['ts']}")
        seen.add(key)
        messages.append({**{k: m.get(k) for k in _MESSAGE_KEYS}, "_files": attached, "_comment": m.get("_comment")})
    files = []
    for i, f in enumerate(raw_files):
        _check(isinstance(f, dict), f"file {i} is not an object")
        _check(all(isinstance(f.get(k), str) for k in ("filename", "title", "content", "file_id"))
               and all(_optional_str(f.get(k)) for k in ("channel", "thread_ts", "initial_comment")),
               f"file {i}: bad fields")
        files.append({k: f.get(k) for k in _FILE_KEYS})
    return messages, files, _ts_us(last_ts)


# ---------------------------------------------------------------------- request helpers


def _require(p: dict, key: str, error: str) -> str:
    value = p.get(key)
    if value in (None, ""):
        raise _ApiError(error)
    return str(value)


def _blocks(value: Any) -> list | None:
    if value in (None, ""):
        return None
    if not isinstance(value, list):
        raise _ApiError("invalid_blocks")
    return value


def _content(p: dict) -> tuple[str, list | None]:
    text = p.get("text")
    return ("" if text is None else str(text)), _blocks(p.get("blocks"))


def _message_content(p: dict) -> tuple[str, list | None]:
    text, blocks = _content(p)
    if not text and not blocks and not p.get("attachments"):
        raise _ApiError("no_text")
    return text, blocks


def _truthy(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes")
    return bool(value)


def _looks_like_ts(ts: str) -> bool:
    head, dot, tail = ts.partition(".")
    return bool(dot) and head.isdigit() and tail.isdigit()


def _authorised(authorization: str, params: dict) -> bool:
    scheme, _, token = authorization.partition(" ")
    return (scheme.lower() == "bearer" and bool(token.strip())) or bool(params.get("token"))


def _injected_reply(inj: dict[str, Any]) -> _Reply:
    if inj["error"] is not None:
        return _Reply(200, {"ok": False, "error": inj["error"]})
    if inj["status"] == 429:
        headers = {} if inj["retry_after"] is None else {"Retry-After": str(int(inj["retry_after"]))}
        return _Reply(429, {"ok": False, "error": "ratelimited"}, headers)
    try:
        phrase = HTTPStatus(inj["status"]).phrase
    except ValueError:
        phrase = "Error"
    return _Reply(inj["status"], f"{inj['status']} {phrase}")


def _decode_json_params(params: dict[str, Any]) -> dict[str, Any]:
    for key in _JSON_PARAMS:
        if isinstance(params.get(key), str) and params[key].strip()[:1] in ("[", "{"):
            try:
                params[key] = json.loads(params[key])
            except ValueError:
                pass  # the method answers invalid_blocks / invalid_arguments
    return params


def _parse_multipart(content_type: str, body: bytes) -> dict[str, Any]:
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


class _Handler(BaseHTTPRequestHandler):
    server_version = "SlackStandIn/1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        log.debug("slack stand-in: " + format, *args)

    def do_GET(self) -> None:  # noqa: N802 - stdlib name
        self._dispatch("GET")

    def do_POST(self) -> None:  # noqa: N802 - stdlib name
        self._dispatch("POST")

    def _dispatch(self, verb: str) -> None:
        standin: SlackStandIn = self.server.standin  # type: ignore[attr-defined]
        url = urllib.parse.urlsplit(self.path)
        parts = [p for p in url.path.split("/") if p]
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        content_type = self.headers.get("Content-Type") or ""
        try:
            if len(parts) == 3 and parts[:2] == ["upload", "v1"] and verb == "POST":
                if content_type.startswith("multipart/form-data"):
                    fields = _parse_multipart(content_type, body)
                    raw = fields.get("file")
                    body = raw if isinstance(raw, bytes) else next(
                        (v for v in fields.values() if isinstance(v, bytes)), body)
                reply = standin._handle_upload(parts[2], body)
            else:
                params = self._params(url.query, body, content_type)
                if len(parts) == 2 and parts[0] == "api":
                    reply = standin._handle_api(parts[1], params, self.headers.get("Authorization") or "")
                elif len(parts) == 2 and parts[0] == "response" and verb == "POST":
                    if isinstance(params.get("payload"), str):  # form-encoded payload=<json>
                        params = json.loads(params["payload"])
                    reply = standin._handle_response_url(parts[1], params)
                elif len(parts) == 2 and parts[0] == "_standin":
                    reply = standin._handle_inspect(verb, parts[1], params)
                else:
                    reply = _Reply(404, "not found")
        except ValueError as exc:  # undecodable body
            reply = _Reply(400, f"invalid request: {exc}")
        self._send(reply)

    @staticmethod
    def _params(query: str, body: bytes, content_type: str) -> dict[str, Any]:
        params: dict[str, Any] = dict(urllib.parse.parse_qsl(query, keep_blank_values=True))
        if body:
            if content_type.startswith("application/json"):
                data = json.loads(body.decode("utf-8"))
                if not isinstance(data, dict):
                    raise ValueError("JSON body must be an object")
                params.update(data)
            elif content_type.startswith("multipart/form-data"):
                params.update(_parse_multipart(content_type, body))
            else:
                params.update(urllib.parse.parse_qsl(body.decode("utf-8"), keep_blank_values=True))
        return _decode_json_params(params)

    def _send(self, reply: _Reply) -> None:
        if isinstance(reply.body, dict):
            data = json.dumps(reply.body, ensure_ascii=False).encode("utf-8")
            ctype = "application/json; charset=utf-8"
        else:
            data = reply.body.encode("utf-8")
            ctype = "text/plain; charset=utf-8"
        self.send_response(reply.status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        for k, v in reply.headers.items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)


# ---------------------------------------------------------------------- transcript


def _render_transcript(records: list[dict[str, Any]], channel: str | None) -> str:
    """Render messages the way the channel reads.

    ::

        #C0DEPLOYS
        • migrate production requested by <@U0ALICE>
          [Approve] [Reject]
            ↳ step 1/3: snapshot taken
            ↳ 📎 migrate.log (12 lines)
        • (only visible to U0BOB) you cannot approve your own run

    Top-level messages in order, each with its thread replies indented beneath; edited
    messages in their final state; a reply whose parent this stand-in never saw is shown
    in place as ``↳ (in thread <ts>)``.
    """
    channels = [channel] if channel is not None else list(dict.fromkeys(m["channel"] for m in records))
    out: list[str] = []
    for ch in channels:
        msgs = [m for m in records if m["channel"] == ch]
        if out:
            out.append("")
        out.append(f"#{ch}")
        if not msgs:
            out.append("(no messages)")
            continue
        tops = {m["ts"] for m in msgs if m["thread_ts"] is None}
        replies: dict[str, list[dict]] = {}
        for m in msgs:
            if m["thread_ts"] is not None:
                replies.setdefault(m["thread_ts"], []).append(m)
        shown_orphans: set[str] = set()
        for m in msgs:
            if m["thread_ts"] is None:
                out.extend(_render_message(m, "• ", "  "))
                for r in replies.get(m["ts"], []):
                    out.extend(_render_message(r, "    ↳ ", "      "))
            elif m["thread_ts"] not in tops and m["thread_ts"] not in shown_orphans:
                shown_orphans.add(m["thread_ts"])
                out.append(f"• (in thread {m['thread_ts']})")
                for r in replies[m["thread_ts"]]:
                    out.extend(_render_message(r, "    ↳ ", "      "))
    return "\n".join(out) + "\n"


def _render_message(m: dict[str, Any], first: str, rest: str) -> list[str]:
    lines: list[str] = []
    if m.get("_files"):
        lines.extend((m.get("_comment") or "").splitlines())
        for f in m["_files"]:
            n = len(f["content"].splitlines())
            line = f"📎 {f['filename']} ({n} line{'' if n == 1 else 's'})"
            if f["title"] != f["filename"]:
                line += f" — {f['title']}"
            lines.append(line)
    else:
        block_lines = _render_blocks(m["blocks"] or [])
        text = (m["text"] or "").strip()
        if text and text not in "\n".join(block_lines):
            lines.extend(text.splitlines())
        lines.extend(block_lines)
    if not lines:
        lines = ["(empty message)"]
    if m["ephemeral"]:
        lines[0] = f"(only visible to {m['user']}) {lines[0]}"
    return [first + lines[0], *(rest + line for line in lines[1:])]


def _text_of(obj: Any) -> str:
    if isinstance(obj, dict):
        return str(obj.get("text") or "")
    return "" if obj is None else str(obj)


def _element_label(el: dict[str, Any]) -> str:
    kind = el.get("type")
    if kind == "button":
        return f"[{_text_of(el.get('text'))}]"
    if kind == "overflow":
        return "[⋯]"
    if kind in ("image",):
        return f"[image: {el.get('alt_text', '')}]"
    placeholder = _text_of(el.get("placeholder"))
    return f"[{placeholder or kind} ▾]" if "select" in str(kind) else f"[{placeholder or kind}]"


def _rich_text(el: Any) -> str:
    if isinstance(el, list):
        return "".join(_rich_text(e) for e in el)
    if not isinstance(el, dict):
        return ""
    kind = el.get("type")
    if kind == "user":
        return f"<@{el.get('user_id', '')}>"
    if kind == "channel":
        return f"<#{el.get('channel_id', '')}>"
    if kind == "link":
        return el.get("text") or el.get("url", "")
    if kind == "emoji":
        return f":{el.get('name', '')}:"
    if kind == "rich_text_list":
        return "\n".join("• " + _rich_text(item) for item in el.get("elements", []))
    if kind in ("rich_text_preformatted", "rich_text_quote"):
        return "\n" + _rich_text(el.get("elements", [])) + "\n"
    if "text" in el and isinstance(el["text"], str):
        return el["text"]
    return _rich_text(el.get("elements", []))


def _render_blocks(blocks: list[Any]) -> list[str]:
    lines: list[str] = []
    for b in blocks:
        if not isinstance(b, dict):
            continue
        kind = b.get("type")
        if kind in ("section", "header"):
            row = _text_of(b.get("text"))
            acc = b.get("accessory")
            if isinstance(acc, dict) and acc.get("type") != "image":
                row = f"{row} {_element_label(acc)}".strip()
            lines.extend(row.splitlines())
            for field in b.get("fields") or []:
                lines.extend(_text_of(field).splitlines())
        elif kind == "context":
            parts = [_text_of(e) if e.get("type") != "image" else "" for e in b.get("elements", [])
                     if isinstance(e, dict)]
            row = " · ".join(p for p in parts if p)
            if row:
                lines.extend(row.splitlines())
        elif kind == "actions":
            lines.append(" ".join(_element_label(e) for e in b.get("elements", []) if isinstance(e, dict)))
        elif kind == "divider":
            lines.append("────────")
        elif kind == "rich_text":
            lines.extend(line for line in _rich_text(b.get("elements", [])).splitlines() if line.strip())
        elif kind == "image":
            lines.append(f"[image: {b.get('alt_text', '')}]")
        else:
            lines.append(f"[{kind} block]")
    return lines


# ---------------------------------------------------------------------- another process's stand-in


class RemoteSlackStandIn:
    """The inspection half of :class:`SlackStandIn` for one running in another process.

    ``RemoteSlackStandIn("http://127.0.0.1:8899/api/")`` (a ``SLACK_API_URL``) offers
    ``messages``, ``files``, ``calls``, ``transcript``, ``inject``, ``reset``, ``wait_for``,
    ``snapshot``, ``changed_since``.
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

    def inject(self, method: str, *, status: int = 429, retry_after: int | None = 1, times: int = 1,
               error: str | None = None) -> None:
        self._post("inject", {"method": method, "status": status, "retry_after": retry_after,
                              "times": times, "error": error})

    wait_for = SlackStandIn.wait_for
    snapshot = SlackStandIn.snapshot
    changed_since = SlackStandIn.changed_since


def main(argv: list[str] | None = None) -> int:
    """``python -m bot.slack_standin [--host H] [--port N] [--state-file F]``: serve until interrupted."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m bot.slack_standin",
                                     description="A local Slack Web API stand-in.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--state-file", type=Path, default=None,
                        help="JSON file to load the channel from and save it to")
    args = parser.parse_args(argv)
    import signal

    def _interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _interrupt)
    standin = SlackStandIn(host=args.host, port=args.port, state_file=args.state_file).start()
    print(f"SLACK_API_URL={standin.base_url}", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        standin.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
