"""Ack latency of `/bb` against `bb-ops serve` vs a bare Bolt app that only acks (same server stack).

300 signed slash commands at concurrency 16, against each; prints p50/p99 for both, the ratio,
errors, and how many commands got their answer in the channel. Target (issue 4): p99 ≤ 1.5× the
bare app and < 1 s, zero errors, every command answered.

    .venv/bin/python bench/ack_latency.py [--n 300] [--concurrency 16]
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
from common import (
    SECRET,
    pct,
    signed_command,
    stack,
    summary,
    unique_trigger,
    wait_http,
)

BARE_SERVER = """
import sys, uvicorn
sys.path.insert(0, sys.argv[4])  # bench/, for common.py
from common import bare_app
from slack_sdk import WebClient
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response
from starlette.routing import Route
from slack_bolt import BoltRequest

# Bolt calls auth.test once, at the first request, as it does in bb-ops: answered by a Slack stand-in
app = bare_app(sys.argv[2], WebClient(token="xoxb-bare", base_url=sys.argv[3]))

async def events(request):
    body = (await request.body()).decode()
    r = await run_in_threadpool(app.dispatch, BoltRequest(body=body, headers=dict(request.headers)))
    return Response(r.body, r.status, headers=r.first_headers_without_set_cookie())

uvicorn.run(Starlette(routes=[Route("/slack/events", events, methods=["POST"]),
                              Route("/healthz", lambda r: Response("ok"), methods=["GET"])]),
            host="127.0.0.1", port=int(sys.argv[1]), log_level="warning", access_log=False)
"""


RUN_IN_ACK = re.compile(r"(?:Queued|Recorded) as run (\d+)")


def fire(url: str, n: int, concurrency: int, text: str = "readyz prod", first: int = 0):
    """Send ``n`` signed commands; returns (latencies in ms, errors, run ids the acks named)."""
    bodies = [signed_command(text, trigger=unique_trigger(first + i)) for i in range(n)]
    with httpx.Client(timeout=10, limits=httpx.Limits(max_connections=concurrency)) as client:
        def one(b):
            body, headers = b
            t0 = time.perf_counter()
            run_id = None
            try:
                r = client.post(url + "/slack/events", content=body, headers=headers)
                ok = r.status_code == 200
                if ok and (m := RUN_IN_ACK.search(r.text)):
                    run_id = int(m.group(1))
            except httpx.HTTPError:
                ok = False
            return (time.perf_counter() - t0) * 1000, ok, run_id

        with ThreadPoolExecutor(concurrency) as pool:
            results = list(pool.map(one, bodies))
    errors = sum(1 for _, ok, _ in results if not ok)
    return [ms for ms, _, _ in results], errors, {r for _, _, r in results if r is not None}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=300)
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()

    from bot.devkit.services import free_port
    from bot.devkit.standin import SlackStandIn

    port = free_port()
    bare_slack = SlackStandIn().start()
    bare = subprocess.Popen([sys.executable, "-c", BARE_SERVER, str(port), SECRET, bare_slack.base_url,
                             str(Path(__file__).resolve().parent)],
                            env={**os.environ}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_http(f"http://127.0.0.1:{port}/healthz")
        fire(f"http://127.0.0.1:{port}", 20, 4)  # warm-up
        bare_ms, bare_err, _ = fire(f"http://127.0.0.1:{port}", args.n, args.concurrency, first=1000)
    finally:
        bare.terminate()
        bare.wait(timeout=10)
        bare_slack.stop()

    with stack(workers=args.workers) as s:
        fire(s["url"], 20, 4)  # warm-up (and 20 runs for the workers)
        ours_ms, ours_err, run_ids = fire(s["url"], args.n, args.concurrency, first=1000)
        t0 = time.monotonic()
        answered: set[int] = set()
        while time.monotonic() - t0 < 180:
            answered = {int(m.group(1)) for msg in s["standin"].messages()
                        if msg["thread_ts"] is None and not msg["ephemeral"]
                        and ("is ready" in msg["text"] or "not ready" in msg["text"])
                        and (m := re.search(r"\brun (\d+) ", msg["text"]))} & run_ids
            if len(answered) >= len(run_ids):
                break
            time.sleep(0.25)
        drain_s = time.monotonic() - t0

    print(summary("bare Bolt app (ack only)", bare_ms))
    print(summary("bb-ops serve (parse+record+enqueue+ack)", ours_ms))
    ratio = pct(ours_ms, 99) / pct(bare_ms, 99)
    print(f"p99 ratio bb-ops/bare = {ratio:.2f}  (target ≤ 1.5, and p99 < 1000 ms)")
    print(f"errors: bare={bare_err} bb-ops={ours_err}")
    print(f"answered in the channel: {len(answered)}/{args.n} (all answered {drain_s:.1f} s after the last ack, "
          f"{args.workers} workers)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
