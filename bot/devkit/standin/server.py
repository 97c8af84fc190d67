"""The stand-in itself: :class:`SlackStandIn` (lifecycle, recording, inspection, persistence,
the HTTP entry points) and the Web API methods it answers.
"""

from __future__ import annotations

import copy
import json
import logging
import threading
import time
import uuid
from collections.abc import Callable
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

from bot.devkit.standin.http_handler import RequestHandler
from bot.devkit.standin.ids import (
    advance_counters,
    format_ts,
    id_serial,
    looks_like_ts,
    next_id,
    next_ts,
    parse_ts,
)
from bot.devkit.standin.protocol import (
    RESPONSE_URL_METHOD,
    UPLOAD_METHOD,
    ApiError,
    Reply,
    authorised,
    blocks_param,
    content_params,
    injected_reply,
    message_content,
    require,
    token_of,
    truthy,
)
from bot.devkit.standin.socket_mode import SocketModeHost
from bot.devkit.standin.state import (
    MESSAGE_KEYS,
    STATE_VERSION,
    parse_state,
    snapshot_key,
    snapshot_value,
    write_atomically,
)
from bot.devkit.standin.transcript import render_transcript

log = logging.getLogger("bot.devkit.standin")  # one logger for the whole stand-in

TEAM_URL = "https://budgetbuddy.slack.com/"
TEAM_NAME = "BudgetBuddy"
BOT_NAME = "bb-ops"
BOT_ID = "B0BBOPS"


class SlackStandIn(SocketModeHost):
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
        self._init_socket_mode()
        self._reset_state()

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> "SlackStandIn":
        if self._server is not None:
            return self
        if self.state_file is not None:
            self._load_state()
        server = ThreadingHTTPServer((self.host, self.port), RequestHandler)
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
        self._close_sockets()
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


    # ------------------------------------------------------------------ inspection

    def messages(self, channel: str | None = None) -> list[dict]:
        """What was posted, in order of first posting, each message once in its final state."""
        with self._lock:
            return [{k: copy.deepcopy(m[k]) for k in MESSAGE_KEYS}
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
        return {snapshot_key(m): snapshot_value(m) for m in self.messages()}

    def changed_since(self, snapshot: dict[str, tuple]) -> list[dict]:
        """The messages (as :meth:`messages` gives them, in its order) posted after ``snapshot``
        was taken, or whose text or blocks differ from what they were then.

        Deleted messages are not reported; an edit that restores the old content is no change.
        """
        return [m for m in self.messages() if snapshot.get(snapshot_key(m)) != snapshot_value(m)]

    def transcript(self, channel: str | None = None) -> str:
        """The channel(s) as a person would read them; see :func:`render_transcript`."""
        with self._lock:
            records = [copy.deepcopy(m) for m in self._messages.values()
                       if channel is None or m["channel"] == channel]
        return render_transcript(records, channel)

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
        ts = next_ts()
        self._last_ts_us = max(self._last_ts_us, parse_ts(ts))
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
        state = {"version": STATE_VERSION, "last_ts": format_ts(self._last_ts_us),
                 "messages": list(self._messages.values()), "files": self._files}
        try:
            write_atomically(self.state_file, json.dumps(state, ensure_ascii=False, indent=1) + "\n")
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
            messages, files, last_ts_us = parse_state(json.loads(raw.decode("utf-8")))
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            log.warning("Slack stand-in: state file %s is corrupt (%s); starting with an empty channel "
                        "(the file is replaced on the next change)", path, exc)
            return
        ids = [f["file_id"] for f in files] + [a["file_id"] for m in messages for a in m["_files"] or []]
        with self._lock:
            self._messages = {(m["channel"], m["ts"]): m for m in messages}
            self._files = files
            self._last_ts_us = max([last_ts_us, *(parse_ts(m["ts"]) for m in messages)])
            advance_counters(self._last_ts_us, max([0, *map(id_serial, ids)]))
        log.debug("Slack stand-in: loaded %d messages and %d files from %s", len(messages), len(files), path)

    # ------------------------------------------------------------------ HTTP entry points

    def _handle_api(self, method: str, params: dict[str, Any], authorization: str) -> Reply:
        with self._lock:
            injected = self._take_injection(method)
            if injected is not None:
                reply = injected_reply(injected)
            elif not authorised(authorization, params):
                reply = Reply(200, {"ok": False, "error": "not_authed"})
            else:
                handler = _METHODS.get(method)
                if handler is None:
                    reply = Reply(200, {"ok": False, "error": "unknown_method"})
                else:
                    try:
                        reply = Reply(200, {"ok": True, **handler(self, {**params, _TOKEN_KEY: token_of(
                            authorization, params)})})
                    except ApiError as exc:
                        reply = Reply(200, {"ok": False, "error": exc.error})
            params.pop("token", None)
            self._record(method, params, reply.status)
            self._flush()
            return reply

    def _handle_upload(self, file_id: str, data: bytes) -> Reply:
        with self._lock:
            params = {"file_id": file_id, "length": len(data)}
            injected = self._take_injection(UPLOAD_METHOD)
            if injected is not None:
                reply = injected_reply(injected)
            elif file_id not in self._pending_files:
                reply = Reply(404, "file not found")
            else:
                self._pending_files[file_id]["data"] = data
                reply = Reply(200, f"OK - {len(data)}")
            self._record(UPLOAD_METHOD, params, reply.status)
            return reply

    def _handle_response_url(self, token: str, payload: dict[str, Any]) -> Reply:
        with self._lock:
            injected = self._take_injection(RESPONSE_URL_METHOD)
            target = self._response_urls.get(token)
            if injected is not None:
                reply = injected_reply(injected)
            elif target is None:
                reply = Reply(404, "no_active_hooks")
            else:
                reply = self._respond(target, payload)
            self._record(RESPONSE_URL_METHOD, payload, reply.status)
            self._flush()
            return reply

    def _respond(self, target: dict[str, Any], payload: dict[str, Any]) -> Reply:
        channel, user = target["channel"], target["user"]
        original_ts = target["message_ts"] or target["last_ts"]
        original = self._messages.get((channel, original_ts)) if original_ts else None
        if truthy(payload.get("delete_original")):
            if original is not None:
                del self._messages[(channel, original["ts"])]
                self._dirty = True
            return Reply(200, {"ok": True})
        text, blocks = content_params(payload)
        if not text and not blocks and not payload.get("attachments"):
            return Reply(400, "no_text")
        if truthy(payload.get("replace_original")) and original is not None:
            original["text"], original["blocks"] = text, blocks or None
            self._dirty = True
            return Reply(200, {"ok": True})
        ephemeral = payload.get("response_type", "ephemeral") != "in_channel"
        posted = self._post(channel, text=text, blocks=blocks, thread_ts=payload.get("thread_ts"),
                            ephemeral=ephemeral, user=user)
        target["last_ts"] = posted["ts"]
        return Reply(200, {"ok": True})

    def _handle_inspect(self, verb: str, what: str, params: dict[str, Any]) -> Reply:
        channel = params.get("channel") or None
        if verb == "GET" and what == "messages":
            return Reply(200, {"ok": True, "messages": self.messages(channel)})
        if verb == "GET" and what == "files":
            return Reply(200, {"ok": True, "files": self.files()})
        if verb == "GET" and what == "calls":
            return Reply(200, {"ok": True, "calls": self.calls(params.get("method") or None)})
        if verb == "GET" and what == "transcript":
            return Reply(200, self.transcript(channel))
        if verb == "POST" and what == "response_url":
            try:
                url = self.response_url(str(params["channel"]), str(params["user"]), params.get("message_ts"))
            except KeyError as exc:
                return Reply(400, f"bad response_url request: missing {exc}")
            return Reply(200, {"ok": True, "url": url})
        if verb == "POST" and what == "reset":
            self.reset()
            return Reply(200, {"ok": True})
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
                return Reply(400, f"bad {what}: {exc}")
            except (TimeoutError, ConnectionError) as exc:
                return Reply(504, str(exc))
            return Reply(200, {"ok": True, "ack": ack})
        if verb == "POST" and what == "inject":
            try:
                self.inject(str(params["method"]), status=int(params.get("status", 429)),
                            retry_after=params.get("retry_after", 1), times=int(params.get("times", 1)),
                            error=params.get("error"))
            except (KeyError, TypeError, ValueError) as exc:
                return Reply(400, f"bad inject: {exc}")
            return Reply(200, {"ok": True})
        return Reply(404, "not found")


# ---------------------------------------------------------------------- Web API methods
# Each takes the stand-in (lock held) and the request params (plus the caller's token under
# _TOKEN_KEY), returns the fields to add to {"ok": true}, or raises ApiError.

_TOKEN_KEY = "_standin_token"


def _apps_connections_open(s: SlackStandIn, p: dict) -> dict:
    if not str(p.get(_TOKEN_KEY) or "").startswith("xapp-"):
        raise ApiError("not_allowed_token_type")  # Slack: only an app-level token opens a socket
    return {"url": s._open_socket_url()}


def _auth_test(s: SlackStandIn, p: dict) -> dict:
    return {"url": TEAM_URL, "team": TEAM_NAME, "user": BOT_NAME, "team_id": s.team_id,
            "user_id": s.bot_user_id, "bot_id": BOT_ID, "is_enterprise_install": False}


def _chat_post_message(s: SlackStandIn, p: dict) -> dict:
    channel = require(p, "channel", "channel_not_found")
    text, blocks = message_content(p)
    m = s._post(channel, text=text, blocks=blocks, thread_ts=p.get("thread_ts"))
    return {"channel": channel, "ts": m["ts"], "message": s._wire_message(m)}


def _chat_post_ephemeral(s: SlackStandIn, p: dict) -> dict:
    channel = require(p, "channel", "channel_not_found")
    user = require(p, "user", "user_not_in_channel")
    text, blocks = message_content(p)
    m = s._post(channel, text=text, blocks=blocks, thread_ts=p.get("thread_ts"), ephemeral=True, user=user)
    return {"message_ts": m["ts"]}


def _chat_update(s: SlackStandIn, p: dict) -> dict:
    channel = require(p, "channel", "channel_not_found")
    ts = require(p, "ts", "message_not_found")
    m = s._messages.get((channel, ts))
    if m is None or m["ephemeral"]:
        raise ApiError("message_not_found")
    if not any(k in p for k in ("text", "blocks", "attachments")):
        raise ApiError("no_text")
    if "text" in p:
        m["text"] = "" if p["text"] is None else str(p["text"])
    if "blocks" in p:  # left out: kept, as Slack does; [] removes them
        m["blocks"] = blocks_param(p["blocks"]) or None
    s._dirty = True
    return {"channel": channel, "ts": ts, "text": m["text"], "message": s._wire_message(m)}


def _chat_delete(s: SlackStandIn, p: dict) -> dict:
    channel = require(p, "channel", "channel_not_found")
    ts = require(p, "ts", "message_not_found")
    m = s._messages.get((channel, ts))
    if m is None or m["ephemeral"]:
        raise ApiError("message_not_found")
    del s._messages[(channel, ts)]
    s._dirty = True
    return {"channel": channel, "ts": ts}


def _chat_get_permalink(s: SlackStandIn, p: dict) -> dict:
    channel = require(p, "channel", "channel_not_found")
    ts = require(p, "message_ts", "message_not_found")
    if not looks_like_ts(ts):
        raise ApiError("message_not_found")
    link = f"{TEAM_URL}archives/{channel}/p{ts.replace('.', '')}"
    m = s._messages.get((channel, ts))
    if m is not None and m["thread_ts"]:
        link += f"?thread_ts={m['thread_ts']}&cid={channel}"
    return {"channel": channel, "permalink": link}


def _conversations_info(s: SlackStandIn, p: dict) -> dict:
    channel = require(p, "channel", "channel_not_found")
    return {"channel": {"id": channel, "name": channel.lower(), "is_channel": channel.startswith("C"),
                        "is_group": False, "is_im": channel.startswith("D"),
                        "is_private": channel.startswith("G"), "is_archived": False, "is_member": True,
                        "context_team_id": s.team_id, "created": 1700000000}}


def _conversations_history(s: SlackStandIn, p: dict) -> dict:
    channel = require(p, "channel", "channel_not_found")
    top = [s._wire_message(m) for m in s._messages.values()
           if m["channel"] == channel and not m["ephemeral"] and m["thread_ts"] is None]
    return {"messages": top[::-1], "has_more": False}


def _conversations_replies(s: SlackStandIn, p: dict) -> dict:
    channel = require(p, "channel", "channel_not_found")
    ts = require(p, "ts", "thread_not_found")
    root = s._thread_root(channel, ts)
    parent = s._messages.get((channel, root))
    if parent is None:
        raise ApiError("thread_not_found")
    replies = [m for m in s._messages.values()
               if m["channel"] == channel and m["thread_ts"] == root and not m["ephemeral"]]
    return {"messages": [s._wire_message(m) for m in [parent, *replies]], "has_more": False}


def _users_info(s: SlackStandIn, p: dict) -> dict:
    user = require(p, "user", "user_not_found")
    is_bot = user == s.bot_user_id
    name = BOT_NAME if is_bot else user.lower()
    return {"user": {"id": user, "team_id": s.team_id, "name": name, "real_name": name, "deleted": False,
                     "is_bot": is_bot, "is_admin": False, "tz": "Etc/UTC", "tz_offset": 0,
                     "profile": {"display_name": name, "real_name": name, "team": s.team_id}}}


def _views_open(s: SlackStandIn, p: dict) -> dict:
    require(p, "trigger_id", "invalid_trigger_id")
    view = p.get("view")
    if not isinstance(view, dict):
        raise ApiError("invalid_arguments")
    return {"view": {"id": next_id("V"), "team_id": s.team_id, "state": {"values": {}},
                     "hash": uuid.uuid4().hex[:16], **view}}


def _files_get_upload_url(s: SlackStandIn, p: dict) -> dict:
    filename = require(p, "filename", "invalid_arguments")
    try:
        length = int(p.get("length", ""))
    except ValueError:
        raise ApiError("invalid_arguments") from None
    file_id = next_id("F")
    s._pending_files[file_id] = {"filename": filename, "length": length, "data": None}
    return {"upload_url": f"{s.root_url}upload/v1/{file_id}", "file_id": file_id}


def _files_complete_upload(s: SlackStandIn, p: dict) -> dict:
    entries = p.get("files")
    if not isinstance(entries, list) or not entries:
        raise ApiError("invalid_arguments")
    pending = []
    for entry in entries:
        file_id = entry.get("id") if isinstance(entry, dict) else None
        if file_id not in s._pending_files or s._pending_files[file_id]["data"] is None:
            raise ApiError("file_not_found")
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

