"""Burst: 500 signed slash commands at concurrency 32 across three environments against `bb-ops serve`
with two `bb-ops worker`s on a real redis-server; figures only.

Prints ack latency (p50/p99), the time until every command is answered in the (stand-in) channel,
and the lost and duplicated counts, found by comparing the trigger ids sent, the run ids the acks
named, the runs in the bot database, and the parent messages in the channel:

* lost: a command whose ack was not 2xx or named no run, or whose run has no answered parent
  message by the deadline;
* duplicated: a trigger id with more than one run, a run with more than one parent message, or a
  run started more than once.

Target (issue 8): p99 ack < 1 s, 0 lost, 0 duplicated.

    .venv/bin/python bench/burst.py [--n 500] [--concurrency 32] [--workers 2]
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import httpx
from common import pct, signed_command, stack, summary, unique_trigger

ENVS = ("production", "staging", "qa")
VERBS = ("readyz", "healthz")
ANSWERED = re.compile(r"^:(white_check_mark|x|warning|no_entry): run (\d+) ")
RUN_IN_ACK = re.compile(r"(?:Queued|Recorded) as run (\d+)")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=500)
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--deadline", type=float, default=300, help="seconds to wait for every answer")
    args = ap.parse_args()

    commands = [(f"{VERBS[i % 2]} {ENVS[i % 3]}", unique_trigger(i)) for i in range(args.n)]
    with stack(workers=args.workers, envs=ENVS) as s:
        standin = s["standin"]
        with httpx.Client(timeout=10, limits=httpx.Limits(max_connections=args.concurrency)) as client:
            for i in range(5):  # warm-up: the app's first request calls auth.test
                body, headers = signed_command("help", trigger=unique_trigger(10_000 + i))
                client.post(s["url"] + "/slack/events", content=body, headers=headers)
            standin.reset()

            def one(cmd):
                text, trigger = cmd
                body, headers = signed_command(text, trigger=trigger)
                t0 = time.perf_counter()
                try:
                    r = client.post(s["url"] + "/slack/events", content=body, headers=headers)
                    m = RUN_IN_ACK.search(r.json().get("text", "")) if r.status_code == 200 else None
                    run_id = int(m.group(1)) if m else None
                except (httpx.HTTPError, ValueError):
                    run_id = None
                return trigger, (time.perf_counter() - t0) * 1000, run_id

            started = time.monotonic()
            with ThreadPoolExecutor(args.concurrency) as pool:
                results = list(pool.map(one, commands))
            sent_s = time.monotonic() - started

        acked = {trigger: run_id for trigger, _, run_id in results if run_id is not None}
        wanted = set(acked.values())
        answered: Counter = Counter()
        while time.monotonic() - started < args.deadline:
            answered = Counter(int(m.group(2)) for msg in standin.messages()
                               if msg["thread_ts"] is None and not msg["ephemeral"]
                               and (m := ANSWERED.match(msg["text"])))
            if wanted <= set(answered):
                break
            time.sleep(0.25)
        all_answered_s = time.monotonic() - started
        time.sleep(1.0)  # anything doubled would show up now
        parents: Counter = Counter(int(m.group(1)) for msg in standin.messages()
                                   if msg["thread_ts"] is None and not msg["ephemeral"]
                                   and (m := re.search(r"\brun (\d+) ", msg["text"])))

        from sqlalchemy import create_engine, text

        db = create_engine(s["env"]["BBOPS_DATABASE_URL"])
        with db.connect() as conn:
            runs_per_trigger = Counter(row[0] for row in conn.execute(text("SELECT trigger_id FROM runs")))
            starts = Counter(row[0] for row in conn.execute(
                text("SELECT run_id FROM audit_events WHERE event = 'started'")))
            statuses = Counter(row[0] for row in conn.execute(text("SELECT status FROM runs")))

    ack_ms = [ms for _, ms, _ in results]
    lost_at_ack = [t for t, _, run_id in results if run_id is None]
    unanswered = sorted(wanted - set(answered))
    dup_triggers = [t for t, n in runs_per_trigger.items() if n > 1]
    dup_parents = [r for r, n in parents.items() if n > 1]
    dup_starts = [r for r, n in starts.items() if n > 1]
    mismatched = [t for t, run_id in acked.items() if runs_per_trigger.get(t, 0) != 1]

    print(f"{args.n} commands ({', '.join(VERBS)} × {', '.join(ENVS)}) at concurrency {args.concurrency}, "
          f"{args.workers} workers, real Redis; all sent in {sent_s:.1f} s")
    print(summary("ack latency", ack_ms))
    print(f"ack p50={pct(ack_ms, 50):.1f} ms p99={pct(ack_ms, 99):.1f} ms  (target p99 < 1000 ms)")
    print(f"every command answered in the channel {all_answered_s:.1f} s after the first was sent "
          f"({len(set(answered) & wanted)}/{len(wanted)} answered)")
    print(f"runs by status: {dict(statuses)}")
    print(f"lost: {len(lost_at_ack) + len(unanswered) + len(mismatched)} "
          f"(ack failed {len(lost_at_ack)}, never answered {len(unanswered)}, ack/run mismatch {len(mismatched)})")
    print(f"duplicated: {len(dup_triggers) + len(dup_parents) + len(dup_starts)} "
          f"(runs per trigger > 1: {len(dup_triggers)}, parent messages per run > 1: {len(dup_parents)}, "
          f"starts per run > 1: {len(dup_starts)})")
    if unanswered[:10]:
        print(f"first unanswered runs: {unanswered[:10]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
