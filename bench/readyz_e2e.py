"""`/bb readyz prod` end to end with a warm worker on Redis: signed command sent → result posted.

Measures, per command, the time from sending the HTTP request to `bb-ops serve` until the run's
parent message in the (stand-in) channel shows the result. Target (issue 4): p50 ≤ 150 ms.

    .venv/bin/python bench/readyz_e2e.py [--n 40]
"""

from __future__ import annotations

import argparse
import sys
import time

import httpx
from common import signed_command, stack, summary, unique_trigger


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=40)
    args = ap.parse_args()
    with stack(workers=1) as s, httpx.Client(timeout=10) as client:
        standin = s["standin"]
        samples = []
        for i in range(args.n + 3):
            before = len(standin.messages())
            body, headers = signed_command("readyz prod", trigger=unique_trigger(i))
            t0 = time.perf_counter()
            r = client.post(s["url"] + "/slack/events", content=body, headers=headers)
            assert r.status_code == 200, r.text
            run_id = r.json()["text"].split("run ", 1)[1].split(":", 1)[0]
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                done = [m for m in standin.messages()[before:] if m["thread_ts"] is None
                        and f"run {run_id} " in m["text"] and ("is ready" in m["text"] or "not ready" in m["text"])]
                if done:
                    break
                time.sleep(0.002)
            ms = (time.perf_counter() - t0) * 1000
            if i >= 3:   # the first few warm the worker
                samples.append(ms)
    print(summary("readyz end to end (send → result posted)", samples))
    print("target: p50 ≤ 150 ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
