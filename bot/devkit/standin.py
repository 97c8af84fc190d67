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
``POST /_standin/{reset,inject,slash_command,block_action}`` let another process (an RQ worker's poster, ``say``)
read and steer a stand-in started with ``python -m bot.devkit.standin --port N``;
:class:`RemoteSlackStandIn` wraps them. These are never recorded in :meth:`calls`.

Socket Mode (``bb-ops socket``, Bolt's ``SocketModeHandler`` on slack-sdk's builtin client):
``apps.connections.open`` with an app-level token (``xapp-…``; any other token answers
``not_allowed_token_type``) answers ``{"ok": true, "url": "ws://127.0.0.1:PORT/socket-mode/<id>"}``
(each URL is good for one connection), and the same HTTP server speaks RFC 6455 there: the
Upgrade handshake, masked client frames, text/close/ping/pong, ``{"type": "hello"}`` on
connect. :meth:`SlackStandIn.send_slash_command` delivers a ``slash_commands`` envelope to the
newest connection and waits for its ack; the ack's payload is shown to the user the way Slack
shows a command's response (ephemeral unless ``response_type`` is ``in_channel``, exactly like
a post to the command's response_url) and returned. :meth:`SlackStandIn.send_block_action`
delivers an ``interactive`` envelope; Slack shows nothing of a block_actions ack, so its payload
is only returned. Every ack is recorded in :meth:`calls` as ``SOCKET_MODE_METHOD``.
:meth:`SlackStandIn.wait_for_socket` waits for a client to connect.

Stdlib only, so anything may import it.
"""

from __future__ import annotations

import base64
import copy
import email.parser
import email.policy
import hashlib
import json
import logging
import os
import re
import socket
import struct
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable

__all__ = ["SlackStandIn", "RemoteSlackStandIn", "UPLOAD_METHOD", "RESPONSE_URL_METHOD", "SOCKET_MODE_METHOD"]

log = logging.getLogger(__name__)

#: ``calls()`` method name of the upload POST to a ``files.getUploadURLExternal`` URL.
UPLOAD_METHOD = "file_upload"
#: ``calls()`` method name of a POST to a :meth:`SlackStandIn.response_url` URL.
RESPONSE_URL_METHOD = "response_url"
#: ``calls()`` method name of a Socket Mode ack (params: envelope_id, type, payload).
SOCKET_MODE_METHOD = "socket_mode_ack"

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
        # Socket Mode: URLs handed out by apps.connections.open and not used yet, live connections
        # (oldest first) and envelopes waiting for their ack; all under _socket_cond.
        self._socket_cond = threading.Condition()
        self._socket_tickets: set[str] = set()
        self._sockets: list[_SocketModeConnection] = []
        self._envelopes: dict[str, dict[str, Any]] = {}
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
        with self._socket_cond:
            sockets, self._sockets = self._sockets, []
            self._socket_tickets.clear()
            self._socket_cond.notify_all()
        for conn in sockets:  # their handler threads would otherwise block in recv forever
            conn.close(1001, "stand-in stopping")
            conn.abort()
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
        return self._new_response_url(channel, user, message_ts)[1]

    def _new_response_url(self, channel: str, user: str, message_ts: str | None) -> tuple[str, str]:
        token = uuid.uuid4().hex
        url = f"{self.root_url}response/{token}"
        with self._lock:
            self._response_urls[token] = {"channel": channel, "user": user,
                                          "message_ts": message_ts, "last_ts": None}
        return token, url

    # ------------------------------------------------------------------ Socket Mode

    def wait_for_socket(self, timeout: float = 10.0) -> int:
        """Wait until a Socket Mode client is connected (and was sent ``hello``); returns how many are."""
        with self._socket_cond:
            if not self._socket_cond.wait_for(lambda: self._sockets, timeout=timeout):
                raise TimeoutError(f"Slack stand-in: no Socket Mode client connected within {timeout}s "
                                   f"(apps.connections.open calls so far: {len(self.calls('apps.connections.open'))})")
            return len(self._sockets)

    def send_slash_command(self, user: str, channel: str, text: str, trigger_id: str | None = None,
                           timeout: float = 10.0, command: str = "/bb") -> dict:
        """Deliver ``/bb <text>`` by ``user`` in ``channel`` over Socket Mode; wait for the ack.

        The envelope's payload has the fields of an HTTP slash command, with a fresh response_url
        of this stand-in. The ack's payload is shown to the user as Slack shows a command's response
        (recorded like a post to that response_url: ephemeral unless ``response_type`` is
        ``in_channel``) and returned (``{}`` for an empty ack). TimeoutError when no client is
        connected or no ack comes within ``timeout`` seconds (Slack would show ``operation_timeout``);
        ConnectionError when the connection closes first.
        """
        token, url = self._new_response_url(channel, user, None)
        payload = {
            "token": "legacy-unused", "team_id": self.team_id, "team_domain": "budgetbuddy",
            "channel_id": channel, "channel_name": "deploys", "user_id": user, "user_name": user.lower(),
            "command": command, "text": text, "api_app_id": "A0BBOPS", "is_enterprise_install": "false",
            "response_url": url, "trigger_id": trigger_id or f"{int(time.time())}.{uuid.uuid4().hex[:12]}",
        }
        return self._deliver("slash_commands", payload, timeout, accepts_response_payload=True,
                             respond_to=token)

    def send_block_action(self, payload: dict, timeout: float = 10.0) -> dict:
        """Deliver an ``interactive`` envelope (a block_actions ``payload`` as Slack builds it) over
        Socket Mode; wait for the ack and return its payload (``{}`` for an empty ack).

        Slack shows nothing of a block_actions ack, so nothing is posted; the app answers through
        the payload's response_url or the Web API. Errors as :meth:`send_slash_command`.
        """
        return self._deliver("interactive", copy.deepcopy(payload), timeout, accepts_response_payload=False)

    def _deliver(self, kind: str, payload: dict, timeout: float, *, accepts_response_payload: bool,
                 respond_to: str | None = None) -> dict:
        deadline = time.monotonic() + timeout
        self.wait_for_socket(timeout)
        envelope_id = str(uuid.uuid4())
        slot: dict[str, Any] = {"type": kind, "respond_to": respond_to, "done": False, "ack": None,
                                "error": None}
        with self._socket_cond:
            if not self._sockets:
                raise ConnectionError("Slack stand-in: the Socket Mode client disconnected")
            conn = self._sockets[-1]
            slot["conn"] = conn
            self._envelopes[envelope_id] = slot
        try:
            try:
                conn.send_json({"envelope_id": envelope_id, "type": kind,
                                "accepts_response_payload": accepts_response_payload, "payload": payload})
            except OSError as exc:
                raise ConnectionError(f"Slack stand-in: could not send the {kind} envelope: {exc}") from exc
            with self._socket_cond:
                if not self._socket_cond.wait_for(lambda: slot["done"], timeout=max(0.0, deadline - time.monotonic())):
                    raise TimeoutError(f"Slack stand-in: no ack for {kind} envelope {envelope_id} within "
                                       f"{timeout}s (Slack would tell the user the app did not respond)")
            if slot["error"] is not None:
                raise ConnectionError(f"Slack stand-in: {slot['error']} before {kind} envelope {envelope_id} "
                                      "was acked")
            return copy.deepcopy(slot["ack"])
        finally:
            with self._socket_cond:
                self._envelopes.pop(envelope_id, None)

    def _open_socket_url(self) -> str:
        """apps.connections.open: a URL good for one WebSocket connection."""
        ticket = uuid.uuid4().hex
        with self._socket_cond:
            self._socket_tickets.add(ticket)
        return f"ws://{self.host}:{self.port}/socket-mode/{ticket}"

    def _take_socket_ticket(self, ticket: str) -> bool:
        with self._socket_cond:
            if ticket not in self._socket_tickets:
                return False
            self._socket_tickets.discard(ticket)
            return True

    def _socket_opened(self, conn: "_SocketModeConnection") -> None:
        with self._socket_cond:
            count = len(self._sockets) + 1
        conn.send_json({"type": "hello", "num_connections": count,
                        "debug_info": {"host": f"slack-standin:{self.port}", "build_number": 1,
                                       "approximate_connection_time": 18060},
                        "connection_info": {"app_id": "A0BBOPS"}})
        with self._socket_cond:
            self._sockets.append(conn)
            self._socket_cond.notify_all()

    def _socket_closed(self, conn: "_SocketModeConnection") -> None:
        with self._socket_cond:
            if conn in self._sockets:
                self._sockets.remove(conn)
            for slot in self._envelopes.values():
                if slot.get("conn") is conn and not slot["done"]:
                    slot["done"], slot["error"] = True, "the Socket Mode connection closed"
            self._socket_cond.notify_all()

    def _socket_message(self, conn: "_SocketModeConnection", text: str) -> None:
        """A text frame from the app: an ack ``{"envelope_id", "payload"?}``; anything else is ignored."""
        try:
            message = json.loads(text)
        except ValueError:
            log.warning("Slack stand-in: Socket Mode client sent a text frame that is not JSON: %.200s", text)
            return
        if not isinstance(message, dict) or not isinstance(message.get("envelope_id"), str):
            log.debug("Slack stand-in: ignoring Socket Mode message %.200s", text)
            return
        envelope_id = message["envelope_id"]
        ack = message.get("payload")
        ack = ack if isinstance(ack, dict) else ({} if ack is None else {"text": str(ack)})
        with self._socket_cond:
            slot = self._envelopes.get(envelope_id)
        status = 200
        with self._lock:
            if slot is None:
                status = 404  # unknown or already timed out: Slack drops it
            elif slot["respond_to"] is not None and ack:
                target = self._response_urls.get(slot["respond_to"])
                if target is not None:
                    status = self._respond(target, ack).status
            self._record(SOCKET_MODE_METHOD, {"envelope_id": envelope_id,
                                              "type": slot["type"] if slot else None,
                                              "payload": copy.deepcopy(ack)}, status)
            self._flush()
        if slot is not None:
            with self._socket_cond:
                slot["ack"], slot["done"] = ack, True
                self._socket_cond.notify_all()

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
                        reply = _Reply(200, {"ok": True, **handler(self, {**params, _TOKEN_KEY: _token(
                            authorization, params)})})
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
        if verb == "POST" and what in ("slash_command", "block_action"):
            try:
                timeout = float(params.get("timeout", 10))
                if what == "slash_command":
                    ack = self.send_slash_command(str(params["user"]), str(params["channel"]), str(params["text"]),
                                                  params.get("trigger_id"), timeout=timeout)
                else:
                    if not isinstance(params.get("payload"), dict):
                        raise KeyError("payload")
                    ack = self.send_block_action(params["payload"], timeout=timeout)
            except (KeyError, TypeError, ValueError) as exc:
                return _Reply(400, f"bad {what}: {exc}")
            except (TimeoutError, ConnectionError) as exc:
                return _Reply(504, str(exc))
            return _Reply(200, {"ok": True, "ack": ack})
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
# Each takes the stand-in (lock held) and the request params (plus the caller's token under
# _TOKEN_KEY), returns the fields to add to {"ok": true}, or raises _ApiError.

_TOKEN_KEY = "_standin_token"


def _apps_connections_open(s: SlackStandIn, p: dict) -> dict:
    if not str(p.get(_TOKEN_KEY) or "").startswith("xapp-"):
        raise _ApiError("not_allowed_token_type")  # Slack: only an app-level token opens a socket
    return {"url": s._open_socket_url()}


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
    "apps.connections.open": _apps_connections_open,
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


def _token(authorization: str, params: dict) -> str:
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return str(params.get("token") or "")


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


# ---------------------------------------------------------------------- WebSocket (RFC 6455)

_WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
_OP_CONTINUATION, _OP_TEXT, _OP_BINARY, _OP_CLOSE, _OP_PING, _OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
_WS_MAX_MESSAGE = 16 * 1024 * 1024


class _WebSocketError(Exception):
    """A protocol violation by the client: close with ``code``."""

    def __init__(self, code: int, reason: str):
        super().__init__(reason)
        self.code, self.reason = code, reason


def _ws_accept(key: str) -> str:
    """The Sec-WebSocket-Accept for a Sec-WebSocket-Key (RFC 6455 §4.2.2)."""
    return base64.b64encode(hashlib.sha1((key + _WS_GUID).encode("ascii")).digest()).decode("ascii")


def _ws_mask(data: bytes, key: bytes) -> bytes:
    if not data:
        return data
    n = len(data)
    pad = (key * (n // 4 + 1))[:n]
    return (int.from_bytes(data, "big") ^ int.from_bytes(pad, "big")).to_bytes(n, "big")


def _ws_encode(opcode: int, data: bytes, *, fin: bool = True, mask: bytes | None = None) -> bytes:
    """One frame; a server's frames are unmasked, a client's carry a 4-byte ``mask``."""
    head = bytes([(0x80 if fin else 0) | opcode])
    mbit = 0x80 if mask else 0
    n = len(data)
    if n <= 125:
        head += bytes([mbit | n])
    elif n <= 0xFFFF:
        head += bytes([mbit | 126]) + struct.pack("!H", n)
    else:
        head += bytes([mbit | 127]) + struct.pack("!Q", n)
    if mask:
        return head + mask + _ws_mask(data, mask)
    return head + data


def _ws_read_frame(read: Callable[[int], bytes], *, masked: bool = True) -> tuple[bool, int, bytes]:
    """(fin, opcode, unmasked payload) of the next frame. ``read(n)`` returns n bytes or raises.

    ``masked``: frames must be masked (a server reading a client) or must not be (a client).
    """
    b1, b2 = read(2)
    fin, opcode, length = bool(b1 & 0x80), b1 & 0x0F, b2 & 0x7F
    if b1 & 0x70:
        raise _WebSocketError(1002, "reserved bits set without a negotiated extension")
    if bool(b2 & 0x80) != masked:
        raise _WebSocketError(1002, "client frames must be masked" if masked else "server frames must not be masked")
    if length == 126:
        (length,) = struct.unpack("!H", read(2))
    elif length == 127:
        (length,) = struct.unpack("!Q", read(8))
    if opcode >= 0x8 and (length > 125 or not fin):
        raise _WebSocketError(1002, "control frames are short and not fragmented")
    if length > _WS_MAX_MESSAGE:
        raise _WebSocketError(1009, "message too big")
    key = read(4) if masked else b""
    data = read(length) if length else b""
    return fin, opcode, (_ws_mask(data, key) if masked else data)


class _SocketModeConnection:
    """The server end of one Socket Mode WebSocket, on a request handler's socket."""

    def __init__(self, standin: SlackStandIn, sock: socket.socket, rfile: Any, ticket: str):
        self.standin = standin
        self.ticket = ticket
        self._sock = sock
        self._rfile = rfile
        self._send_lock = threading.Lock()
        self._close_sent = False

    def __repr__(self) -> str:
        return f"<Socket Mode connection {self.ticket[:8]}>"

    def _read(self, n: int) -> bytes:
        data = self._rfile.read(n)
        if len(data) < n:
            raise ConnectionError("the client closed the connection")
        return data

    def send_frame(self, opcode: int, data: bytes) -> None:
        with self._send_lock:
            if self._close_sent:
                raise ConnectionError("the Socket Mode connection is closing")
            if opcode == _OP_CLOSE:
                self._close_sent = True
            self._sock.sendall(_ws_encode(opcode, data))

    def send_json(self, obj: dict) -> None:
        self.send_frame(_OP_TEXT, json.dumps(obj, ensure_ascii=False).encode("utf-8"))

    def close(self, code: int = 1000, reason: str = "") -> None:
        """Start (or answer) the closing handshake; never raises."""
        try:
            self.send_frame(_OP_CLOSE, struct.pack("!H", code) + reason.encode("utf-8")[:120])
        except OSError:
            pass

    def abort(self) -> None:
        try:
            self._sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def serve(self) -> None:
        """Read frames until the connection closes: answer pings, hand text messages to the stand-in."""
        kind: int | None = None
        parts: list[bytes] = []
        try:
            self.standin._socket_opened(self)
            while True:
                try:
                    fin, opcode, data = _ws_read_frame(self._read)
                except _WebSocketError as exc:
                    log.warning("Slack stand-in: Socket Mode protocol error: %s", exc.reason)
                    self.close(exc.code, exc.reason)
                    return
                if opcode == _OP_PING:
                    self.send_frame(_OP_PONG, data)
                elif opcode == _OP_PONG:
                    pass
                elif opcode == _OP_CLOSE:
                    code = struct.unpack("!H", data[:2])[0] if len(data) >= 2 else 1000
                    self.close(1000 if code in (1005, 1006, 1015) else code)  # echo, as RFC 6455 §5.5.1
                    return
                elif opcode in (_OP_TEXT, _OP_BINARY, _OP_CONTINUATION):
                    if (opcode == _OP_CONTINUATION) != (kind is not None):
                        self.close(1002, "unexpected continuation frame" if kind is None else "expected a continuation frame")
                        return
                    kind = opcode if kind is None else kind
                    parts.append(data)
                    if sum(map(len, parts)) > _WS_MAX_MESSAGE:
                        self.close(1009, "message too big")
                        return
                    if fin:
                        message, was_text, kind, parts = b"".join(parts), kind == _OP_TEXT, None, []
                        if not was_text:
                            log.warning("Slack stand-in: ignoring a binary Socket Mode message (%d bytes)", len(message))
                            continue
                        try:
                            text = message.decode("utf-8")
                        except UnicodeDecodeError:
                            self.close(1007, "text frame is not UTF-8")
                            return
                        self.standin._socket_message(self, text)
                else:
                    self.close(1002, f"unknown opcode {opcode:#x}")
                    return
        except OSError:  # the client went away (ConnectionError is an OSError)
            pass
        finally:
            self.standin._socket_closed(self)


class _Handler(BaseHTTPRequestHandler):
    server_version = "SlackStandIn/1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        log.debug("slack stand-in: " + format, *args)

    def do_GET(self) -> None:  # noqa: N802 - stdlib name
        parts = [p for p in urllib.parse.urlsplit(self.path).path.split("/") if p]
        if len(parts) == 2 and parts[0] == "socket-mode":
            self._socket_mode(parts[1])
            return
        self._dispatch("GET")

    def _socket_mode(self, ticket: str) -> None:
        """The WebSocket handshake (RFC 6455 §4.2), then the connection until it closes."""
        standin: SlackStandIn = self.server.standin  # type: ignore[attr-defined]
        upgrade = (self.headers.get("Upgrade") or "").lower()
        connection = [t.strip().lower() for t in (self.headers.get("Connection") or "").split(",")]
        key = (self.headers.get("Sec-WebSocket-Key") or "").strip()
        try:
            key_ok = len(base64.b64decode(key, validate=True)) == 16
        except ValueError:
            key_ok = False
        if upgrade != "websocket" or "upgrade" not in connection or not key_ok:
            self._send(_Reply(400, "a WebSocket upgrade request is expected here"))
            return
        if (self.headers.get("Sec-WebSocket-Version") or "").strip() != "13":
            self._send(_Reply(426, "unsupported WebSocket version", {"Sec-WebSocket-Version": "13"}))
            return
        if not standin._take_socket_ticket(ticket):
            self._send(_Reply(404, "unknown or used Socket Mode URL: call apps.connections.open"))
            return
        self.protocol_version = "HTTP/1.1"  # the status line of an upgrade (RFC 6455 §4.2.2)
        self.send_response(101, "Switching Protocols")
        self.send_header("Upgrade", "websocket")
        self.send_header("Connection", "Upgrade")
        self.send_header("Sec-WebSocket-Accept", _ws_accept(key))
        self.end_headers()
        self.wfile.flush()
        self.close_connection = True
        _SocketModeConnection(standin, self.connection, self.rfile, ticket).serve()

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


def main(argv: list[str] | None = None) -> int:
    """``python -m bot.devkit.standin [--host H] [--port N] [--state-file F]``: serve until interrupted."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m bot.devkit.standin",
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
