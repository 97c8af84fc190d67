"""The HTTP side: one request handler for the Web API, uploads, response URLs, the ``/_standin``
inspection endpoints and the Socket Mode WebSocket upgrade.
"""

from __future__ import annotations

import base64
import json
import logging
import urllib.parse
from http.server import BaseHTTPRequestHandler
from typing import Any

from bot.devkit.standin.protocol import Reply, decode_json_params, parse_multipart
from bot.devkit.standin.socket_mode import (
    SocketModeConnection,
    SocketModeHost,
    ws_accept,
)

log = logging.getLogger("bot.devkit.standin")  # one logger for the whole stand-in


class RequestHandler(BaseHTTPRequestHandler):
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
        standin: SocketModeHost = self.server.standin  # type: ignore[attr-defined]
        upgrade = (self.headers.get("Upgrade") or "").lower()
        connection = [t.strip().lower() for t in (self.headers.get("Connection") or "").split(",")]
        key = (self.headers.get("Sec-WebSocket-Key") or "").strip()
        try:
            key_ok = len(base64.b64decode(key, validate=True)) == 16
        except ValueError:
            key_ok = False
        if upgrade != "websocket" or "upgrade" not in connection or not key_ok:
            self._send(Reply(400, "a WebSocket upgrade request is expected here"))
            return
        if (self.headers.get("Sec-WebSocket-Version") or "").strip() != "13":
            self._send(Reply(426, "unsupported WebSocket version", {"Sec-WebSocket-Version": "13"}))
            return
        if not standin._take_socket_ticket(ticket):
            self._send(Reply(404, "unknown or used Socket Mode URL: call apps.connections.open"))
            return
        self.protocol_version = "HTTP/1.1"  # the status line of an upgrade (RFC 6455 §4.2.2)
        self.send_response(101, "Switching Protocols")
        self.send_header("Upgrade", "websocket")
        self.send_header("Connection", "Upgrade")
        self.send_header("Sec-WebSocket-Accept", ws_accept(key))
        self.end_headers()
        self.wfile.flush()
        self.close_connection = True
        SocketModeConnection(standin, self.connection, self.rfile, ticket).serve()

    def do_POST(self) -> None:  # noqa: N802 - stdlib name
        self._dispatch("POST")

    def _dispatch(self, verb: str) -> None:
        standin = self.server.standin  # type: ignore[attr-defined]  # the SlackStandIn serving us
        url = urllib.parse.urlsplit(self.path)
        parts = [p for p in url.path.split("/") if p]
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        content_type = self.headers.get("Content-Type") or ""
        try:
            if len(parts) == 3 and parts[:2] == ["upload", "v1"] and verb == "POST":
                if content_type.startswith("multipart/form-data"):
                    fields = parse_multipart(content_type, body)
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
                    reply = Reply(404, "not found")
        except ValueError as exc:  # undecodable body
            reply = Reply(400, f"invalid request: {exc}")
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
                params.update(parse_multipart(content_type, body))
            else:
                params.update(urllib.parse.parse_qsl(body.decode("utf-8"), keep_blank_values=True))
        return decode_json_params(params)

    def _send(self, reply: Reply) -> None:
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

