"""Shared set-up for the benchmarks: real redis-server, the reference target, a Slack stand-in,
`bb-ops serve` and `bb-ops worker` processes. Everything on 127.0.0.1, bounded in time."""

from __future__ import annotations

import contextlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path

import httpx


from bot.devkit.driver import command_body, sign
from bot.devkit.services import RedisServer, free_port
from bot.devkit.world import CHANNEL, env_block, write_config

SECRET = "bench-signing-secret-0123456789"
TOKEN = "xoxb-bench-0000"


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    if not values:
        return float("nan")
    k = max(0, min(len(values) - 1, int(round(p / 100 * (len(values) - 1)))))
    return values[k]


def summary(name: str, ms: list[float]) -> str:
    return (f"{name}: n={len(ms)} p50={pct(ms, 50):.1f} ms p90={pct(ms, 90):.1f} ms p99={pct(ms, 99):.1f} ms "
            f"max={max(ms):.1f} ms mean={statistics.mean(ms):.1f} ms")


@contextlib.contextmanager
def stack(workers: int = 1, envs: tuple[str, ...] = ("production",)):
    """Redis, a reference target, a stand-in, a config, `bb-ops serve` and N workers."""
    from bot.devkit.reference_target import ReferenceTarget
    from bot.devkit.standin import SlackStandIn

    tmp = Path(tempfile.mkdtemp(prefix="bbops-bench-"))
    redis = RedisServer().start()
    target = ReferenceTarget(workdir=tmp / "target")
    target.start()
    standin = SlackStandIn().start()
    procs: list[subprocess.Popen] = []
    try:
        blocks = {}
        for i, name in enumerate(envs):
            blocks[name] = env_block(target, snapshots_dir=tmp / f"snap-{name}", channels=[CHANNEL],
                                     aliases=["prod"] if name == "production" else [])
        cfg = write_config(tmp / "environments.yaml", blocks)
        port = free_port()
        env = {**{k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "BBOPS_"))},
               "SLACK_SIGNING_SECRET": SECRET, "SLACK_BOT_TOKEN": TOKEN, "SLACK_API_URL": standin.base_url,
               "REDIS_URL": redis.url, "BBOPS_DATABASE_URL": f"sqlite:///{tmp / 'bbops.sqlite3'}",
               "BBOPS_CONFIG": str(cfg), "PORT": str(port), "HOST": "127.0.0.1", "BBOPS_LOG_LEVEL": "WARNING",
               "BB_SMOKE_USER_PROD": target.smoke_user, "BB_SMOKE_PASSWORD_PROD": target.smoke_password}
        bbops = [sys.executable, "-m", "bot.cli"]
        subprocess.run([*bbops, "db", "upgrade"], env=env, check=True, cwd=tmp, stdout=subprocess.DEVNULL)
        log = open(tmp / "bbops.log", "w")
        procs.append(subprocess.Popen([*bbops, "serve"], env=env, cwd=tmp, stdout=log, stderr=log))
        for _ in range(workers):
            procs.append(subprocess.Popen([*bbops, "worker"], env=env, cwd=tmp, stdout=log, stderr=log))
        url = f"http://127.0.0.1:{port}"
        wait_http(url + "/healthz")
        yield {"url": url, "standin": standin, "target": target, "redis": redis, "env": env, "tmp": tmp}
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
        standin.stop()
        target.stop()
        redis.stop()


def wait_http(url: str, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not come up within {timeout_s} s")


def signed_command(text: str, channel: str = CHANNEL, user: str = "U0ALICE", trigger: str | None = None,
                   secret: str = SECRET) -> tuple[str, dict]:
    body = command_body(user, channel, text, "http://127.0.0.1:9/response", trigger)
    return body, {"content-type": "application/x-www-form-urlencoded", **sign(secret, body)}


def bare_app(signing_secret: str, client):
    """A Bolt app that only acks: the baseline of ack_latency.py (the same server stack as bb-ops)."""
    from slack_bolt import App

    app = App(client=client, signing_secret=signing_secret, token_verification_enabled=False)

    @app.command("/bb")
    def on_command(ack):
        ack(text="ok")

    return app


def unique_trigger(i: int) -> str:
    return f"bench.{os.getpid()}.{i}.{time.time_ns()}"


__all__ = ["stack", "signed_command", "pct", "summary", "wait_http", "unique_trigger", "urllib"]
