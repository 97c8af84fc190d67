"""Socket Mode: the RFC 6455 WebSocket server end, and the stand-in's side of Slack's Socket Mode
protocol (``hello``, envelopes, acks). See the package doc.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import logging
import socket
import struct
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

from bot.devkit.standin.protocol import SOCKET_MODE_METHOD

log = logging.getLogger("bot.devkit.standin")  # one logger for the whole stand-in


_WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
_OP_CONTINUATION, _OP_TEXT, _OP_BINARY, _OP_CLOSE, _OP_PING, _OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
_WS_MAX_MESSAGE = 16 * 1024 * 1024


class _WebSocketError(Exception):
    """A protocol violation by the client: close with ``code``."""

    def __init__(self, code: int, reason: str):
        super().__init__(reason)
        self.code, self.reason = code, reason


def ws_accept(key: str) -> str:
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


class SocketModeConnection:
    """The server end of one Socket Mode WebSocket, on a request handler's socket."""

    def __init__(self, standin: SocketModeHost, sock: socket.socket, rfile: Any, ticket: str):
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


class SocketModeHost:
    """The Socket Mode half of :class:`~bot.devkit.standin.server.SlackStandIn`, mixed into it.

    Hands out one-use URLs (``apps.connections.open``), keeps the live connections (oldest first),
    delivers envelopes to the newest one and waits for their acks. Relies on the stand-in for
    ``host``/``port``, ``team_id``, :meth:`calls`, its response URLs (``_new_response_url``,
    ``_response_urls``, ``_respond``) and its recording (``_lock``, ``_record``, ``_flush``).
    """

    def _init_socket_mode(self) -> None:
        # URLs handed out by apps.connections.open and not used yet, live connections (oldest
        # first) and envelopes waiting for their ack; all under _socket_cond.
        self._socket_cond = threading.Condition()
        self._socket_tickets: set[str] = set()
        self._sockets: list[SocketModeConnection] = []
        self._envelopes: dict[str, dict[str, Any]] = {}

    def _close_sockets(self) -> None:
        with self._socket_cond:
            sockets, self._sockets = self._sockets, []
            self._socket_tickets.clear()
            self._socket_cond.notify_all()
        for conn in sockets:  # their handler threads would otherwise block in recv forever
            conn.close(1001, "stand-in stopping")
            conn.abort()

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

    def _socket_opened(self, conn: "SocketModeConnection") -> None:
        with self._socket_cond:
            count = len(self._sockets) + 1
        conn.send_json({"type": "hello", "num_connections": count,
                        "debug_info": {"host": f"slack-standin:{self.port}", "build_number": 1,
                                       "approximate_connection_time": 18060},
                        "connection_info": {"app_id": "A0BBOPS"}})
        with self._socket_cond:
            self._sockets.append(conn)
            self._socket_cond.notify_all()

    def _socket_closed(self, conn: "SocketModeConnection") -> None:
        with self._socket_cond:
            if conn in self._sockets:
                self._sockets.remove(conn)
            for slot in self._envelopes.values():
                if slot.get("conn") is conn and not slot["done"]:
                    slot["done"], slot["error"] = True, "the Socket Mode connection closed"
            self._socket_cond.notify_all()

    def _socket_message(self, conn: "SocketModeConnection", text: str) -> None:
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
