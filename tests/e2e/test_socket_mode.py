"""`bb-ops socket` end to end, with no network: the real Bolt SocketModeHandler (slack-sdk's builtin
Socket Mode client) in a subprocess opens a WebSocket to the Slack stand-in, which delivers `/bb`
envelopes and records the acks; the jobs run against the reference target.

Also the stand-in's Socket Mode endpoint at the protocol level (RFC 6455 handshake and frames),
with a raw socket client written here rather than the stand-in's own frame code."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import socket
import struct
import subprocess
import sys
import time
import urllib.parse

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.devkit.standin import SOCKET_MODE_METHOD
from bot.devkit.world import ALICE, CHANNEL, env_block, write_config

APP_TOKEN = "xapp-1-test"
BOT_TOKEN = "xoxb-test-0000-bbops"
PROXY_VARS = ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy")


def _env(tmp_path, target, standin, **extra) -> dict:
    cfg = write_config(tmp_path / "env.yaml", {"production": env_block(target, snapshots_dir=tmp_path / "snaps",
                                                                       aliases=["prod"])})
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("SLACK_", "BBOPS_", "REDIS_URL")) and k not in PROXY_VARS}
    env.update({"BBOPS_CONFIG": str(cfg), "BBOPS_DATABASE_URL": f"sqlite:///{tmp_path / 'bot.sqlite3'}",
                "SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_API_URL": standin.base_url, **extra})
    return env


def _bb_ops(*argv, env, cwd, timeout=60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "bot.cli", *argv], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout)


@pytest.fixture
def socket_bot(tmp_path, session_target, standin):
    """`bb-ops socket` running against the stand-in, connected; no REDIS_URL (jobs run in-process)."""
    env = _env(tmp_path, session_target, standin, SLACK_APP_TOKEN=APP_TOKEN)
    res = _bb_ops("db", "upgrade", env=env, cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    log_path = tmp_path / "socket.log"
    with open(log_path, "w") as log:
        proc = subprocess.Popen([sys.executable, "-m", "bot.cli", "socket"], cwd=tmp_path, env=env,
                                stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60  # generous for a loaded machine; a dead process fails at once
        while True:
            try:
                standin.wait_for_socket(timeout=0.2)
                break
            except TimeoutError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    if proc.poll() is None:
                        proc.kill()
                    proc.wait(timeout=10)
                    pytest.fail(f"bb-ops socket never connected (exit {proc.returncode}):\n{log_path.read_text()}")
        yield proc, log_path
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)


def test_readyz_over_socket_mode(socket_bot, standin):
    proc, log_path = socket_bot
    (opened,) = standin.calls("apps.connections.open")
    assert opened["status"] == 200

    ack = standin.send_slash_command(ALICE, CHANNEL, "readyz prod", timeout=10)
    assert ack["response_type"] == "ephemeral" and "Queued as run 1" in ack["text"], ack
    (acked,) = standin.calls(SOCKET_MODE_METHOD)
    assert acked["params"]["type"] == "slash_commands" and acked["status"] == 200

    def done(msgs):
        parents = [m for m in msgs if not m["ephemeral"] and m["thread_ts"] is None]
        return (any("production is ready" in m["text"] for m in parents)
                and any(m["thread_ts"] is not None for m in msgs))

    try:
        msgs = standin.wait_for(done, timeout=30)
    except TimeoutError as exc:
        pytest.fail(f"{exc}\n--- bb-ops socket log:\n{log_path.read_text()}")
    ack_msg, parent, reply = msgs  # in order of posting: the ack first, then the result
    assert ack_msg["ephemeral"] and ack_msg["user"] == ALICE and ack_msg["channel"] == CHANNEL
    assert ack_msg["text"] == ack["text"]
    assert not parent["ephemeral"] and parent["channel"] == CHANNEL and parent["thread_ts"] is None
    assert "run 1" in parent["text"] and "/bb readyz production" in parent["text"] and "<@U0ALICE>" in parent["text"]
    assert "production is ready" in parent["text"]
    assert reply["thread_ts"] == parent["ts"] and "200 status=ready" in reply["text"]
    assert "next: `/bb smoke production`" in reply["text"]
    assert proc.poll() is None, log_path.read_text()


def test_refusal_over_socket_mode_is_only_the_ack(socket_bot, standin):
    ack = standin.send_slash_command(ALICE, CHANNEL, "frobnicate prod", timeout=10)
    assert ack["response_type"] == "ephemeral" and "not a bb-ops verb" in ack["text"]
    time.sleep(0.5)
    (msg,) = standin.messages()
    assert msg["ephemeral"] and msg["user"] == ALICE and "not a bb-ops verb" in msg["text"]


def test_socket_without_app_token_exits_1(tmp_path, standin):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "BBOPS_", "REDIS_URL"))}
    env.update({"SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_API_URL": standin.base_url,
                "BBOPS_DATABASE_URL": f"sqlite:///{tmp_path / 'bot.sqlite3'}"})
    res = _bb_ops("socket", env=env, cwd=tmp_path, timeout=30)
    assert res.returncode == 1
    assert "SLACK_APP_TOKEN is not set" in res.stderr and "xapp-" in res.stderr
    assert "Traceback" not in res.stderr
    assert standin.calls() == []  # refused before talking to Slack


def test_socket_with_a_bot_token_as_app_token_exits_1(tmp_path, session_target, standin):
    env = _env(tmp_path, session_target, standin, SLACK_APP_TOKEN="xoxb-not-an-app-token")
    assert _bb_ops("db", "upgrade", env=env, cwd=tmp_path).returncode == 0
    res = _bb_ops("socket", env=env, cwd=tmp_path, timeout=30)
    assert res.returncode == 1
    assert "Slack refused to open a Socket Mode connection (not_allowed_token_type)" in res.stderr
    assert "Traceback" not in res.stderr and "xoxb-not-an-app-token" not in res.stderr
    assert [c["status"] for c in standin.calls()] == [200]   # one apps.connections.open, answered ok=false


# -- the stand-in's Socket Mode endpoint, at the protocol level ---------------------------------------


class RawWebSocket:
    """A deliberately small RFC 6455 client: masked frames out, unmasked frames in."""

    def __init__(self, url: str):
        parts = urllib.parse.urlsplit(url)
        assert parts.scheme == "ws"
        self.sock = socket.create_connection((parts.hostname, parts.port), timeout=5)
        self.key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall((f"GET {parts.path} HTTP/1.1\r\nHost: {parts.hostname}:{parts.port}\r\n"
                           "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                           f"Sec-WebSocket-Key: {self.key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
        self.buf = b""
        while b"\r\n\r\n" not in self.buf:
            chunk = self.sock.recv(4096)
            assert chunk, f"connection closed during the handshake: {self.buf!r}"
            self.buf += chunk
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = head.decode().split("\r\n")
        self.status = int(lines[0].split()[1])
        self.headers = {k.strip().lower(): v.strip() for k, v in (ln.split(":", 1) for ln in lines[1:])}

    def _recv(self, n: int) -> bytes:
        while len(self.buf) < n:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise ConnectionError("closed")
            self.buf += chunk
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def send(self, opcode: int, data: bytes, *, fin: bool = True, masked: bool = True) -> None:
        n = len(data)
        head = bytes([(0x80 if fin else 0) | opcode])
        bit = 0x80 if masked else 0
        if n < 126:
            head += bytes([bit | n])
        elif n < 65536:
            head += bytes([bit | 126]) + struct.pack("!H", n)
        else:
            head += bytes([bit | 127]) + struct.pack("!Q", n)
        if masked:
            key = os.urandom(4)
            data = bytes(b ^ key[i % 4] for i, b in enumerate(data))
            head += key
        self.sock.sendall(head + data)

    def send_json(self, obj: dict) -> None:
        self.send(0x1, json.dumps(obj).encode())

    def recv(self) -> tuple[int, bytes]:
        b1, b2 = self._recv(2)
        assert not b2 & 0x80, "server frames are never masked"
        n = b2 & 0x7F
        if n == 126:
            (n,) = struct.unpack("!H", self._recv(2))
        elif n == 127:
            (n,) = struct.unpack("!Q", self._recv(8))
        return b1 & 0x0F, self._recv(n)

    def recv_json(self) -> dict:
        opcode, data = self.recv()
        assert opcode == 0x1, (opcode, data)
        return json.loads(data)

    def close(self) -> None:
        self.sock.close()


def _open_url(standin, token=APP_TOKEN) -> str:
    return WebClient(token=BOT_TOKEN, base_url=standin.base_url).apps_connections_open(app_token=token)["url"]


def test_connections_open_wants_an_app_token(standin):
    with pytest.raises(SlackApiError) as err:
        _open_url(standin, token=BOT_TOKEN)
    assert err.value.response["error"] == "not_allowed_token_type"
    url = _open_url(standin)
    assert url.startswith(f"ws://127.0.0.1:{standin.port}/socket-mode/")
    assert [c["status"] for c in standin.calls("apps.connections.open")] == [200, 200]
    assert all("token" not in c["params"] for c in standin.calls())


def test_handshake_hello_ping_and_a_fragmented_ack(standin):
    url = _open_url(standin)
    ws = RawWebSocket(url)
    try:
        assert ws.status == 101 and ws.headers["upgrade"].lower() == "websocket"
        expected = base64.b64encode(hashlib.sha1((ws.key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest())
        assert ws.headers["sec-websocket-accept"] == expected.decode()
        hello = ws.recv_json()
        assert hello["type"] == "hello" and hello["num_connections"] == 1
        ws.send(0x9, b"are you there")
        assert ws.recv() == (0xA, b"are you there")
        assert standin.wait_for_socket(timeout=2) == 1

        import threading

        result = {}
        sender = threading.Thread(target=lambda: result.update(ack=standin.send_slash_command(
            ALICE, CHANNEL, "status", trigger_id="t-raw", timeout=5)))
        sender.start()
        envelope = ws.recv_json()
        assert envelope["type"] == "slash_commands" and envelope["accepts_response_payload"] is True
        payload = envelope["payload"]
        assert (payload["command"], payload["text"], payload["user_id"], payload["channel_id"], payload["trigger_id"]) \
            == ("/bb", "status", ALICE, CHANNEL, "t-raw")
        assert payload["response_url"].startswith(standin.root_url + "response/") and payload["team_id"] == "T0BUDGET"
        ack = json.dumps({"envelope_id": envelope["envelope_id"],
                          "payload": {"text": "nothing is running", "response_type": "ephemeral"}}).encode()
        ws.send(0x1, ack[:10], fin=False)   # one message in three frames, a ping between them
        ws.send(0x9, b"mid")
        ws.send(0x0, ack[10:20], fin=False)
        ws.send(0x0, ack[20:])
        assert ws.recv() == (0xA, b"mid")
        sender.join(timeout=5)
        assert result["ack"] == {"text": "nothing is running", "response_type": "ephemeral"}
        (msg,) = standin.messages()
        assert msg["ephemeral"] and msg["user"] == ALICE and msg["text"] == "nothing is running"

        action = {"type": "block_actions", "user": {"id": ALICE}, "actions": [{"action_id": "bb_approve"}]}
        sender = threading.Thread(target=lambda: result.update(action=standin.send_block_action(action, timeout=5)))
        sender.start()
        envelope = ws.recv_json()
        assert envelope["type"] == "interactive" and envelope["payload"] == action
        ws.send_json({"envelope_id": envelope["envelope_id"]})
        sender.join(timeout=5)
        assert result["action"] == {}
        assert len(standin.messages()) == 1   # Slack shows nothing of a block_actions ack
        assert [c["params"]["type"] for c in standin.calls(SOCKET_MODE_METHOD)] == ["slash_commands", "interactive"]

        ws.send(0x8, struct.pack("!H", 1000) + b"bye")
        opcode, data = ws.recv()
        assert opcode == 0x8 and struct.unpack("!H", data[:2])[0] == 1000
    finally:
        ws.close()
    deadline = time.monotonic() + 2
    while standin._sockets and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not standin._sockets


def test_socket_urls_are_single_use_and_bad_frames_close(standin):
    url = _open_url(standin)
    ws = RawWebSocket(url)
    assert ws.recv_json()["type"] == "hello"
    again = RawWebSocket(url)
    assert again.status == 404
    again.close()
    unknown = RawWebSocket(f"ws://127.0.0.1:{standin.port}/socket-mode/nope")
    assert unknown.status == 404
    unknown.close()
    ws.send(0x1, b'{"envelope_id": "x"}', masked=False)   # a client must mask
    opcode, data = ws.recv()
    assert opcode == 0x8 and struct.unpack("!H", data[:2])[0] == 1002
    ws.close()


def test_no_ack_times_out_and_a_dropped_connection_fails_fast(standin):
    with pytest.raises(TimeoutError, match="no Socket Mode client"):
        standin.send_slash_command(ALICE, CHANNEL, "status", timeout=0.3)
    ws = RawWebSocket(_open_url(standin))
    assert ws.recv_json()["type"] == "hello"
    standin.wait_for_socket(timeout=2)
    with pytest.raises(TimeoutError, match="no ack"):
        standin.send_slash_command(ALICE, CHANNEL, "status", timeout=0.5)
    import threading

    errors = []

    def send():
        try:
            standin.send_slash_command(ALICE, CHANNEL, "status", timeout=5)
        except Exception as exc:
            errors.append(exc)

    sender = threading.Thread(target=send)
    started = time.monotonic()
    sender.start()
    ws.recv_json()  # the first, unanswered envelope
    ws.recv_json()  # this one
    ws.close()
    sender.join(timeout=5)
    assert len(errors) == 1 and isinstance(errors[0], ConnectionError) and time.monotonic() - started < 4
    assert standin.messages() == []


def test_remote_standin_delivers_over_the_socket_too(standin):
    import threading

    from bot.devkit.standin import RemoteSlackStandIn

    remote = RemoteSlackStandIn(standin.base_url)
    with pytest.raises(TimeoutError, match="no Socket Mode client"):
        remote.send_slash_command(ALICE, CHANNEL, "status", timeout=0.3)
    ws = RawWebSocket(_open_url(standin))
    try:
        assert ws.recv_json()["type"] == "hello"

        def answer():
            envelope = ws.recv_json()
            ws.send_json({"envelope_id": envelope["envelope_id"],
                          "payload": {"text": f"you said {envelope['payload']['text']}"}})

        responder = threading.Thread(target=answer)
        responder.start()
        assert remote.send_slash_command(ALICE, CHANNEL, "status 7", timeout=5) == {"text": "you said status 7"}
        responder.join(timeout=5)
        assert [m["text"] for m in remote.messages(CHANNEL)] == ["you said status 7"]
    finally:
        ws.close()
