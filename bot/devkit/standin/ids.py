"""Message ts and object ids, unique across every stand-in in the process."""

from __future__ import annotations

import re
import threading
import time

# ts and ids are unique across every stand-in in the process, and ts follows the wall clock,
# so messages from two stand-ins (or two runs) never share a ts. A loaded state file pushes
# both counters past everything it holds (advance_counters).
_counter_lock = threading.Lock()
_last_ts_us = 0
_last_id = 0
_ID_RE = re.compile(r"[A-Z]0([0-9A-F]{8})")


def next_ts() -> str:
    global _last_ts_us
    with _counter_lock:
        _last_ts_us = max(int(time.time() * 1_000_000), _last_ts_us + 1)
        return format_ts(_last_ts_us)


def next_id(prefix: str) -> str:
    global _last_id
    with _counter_lock:
        _last_id += 1
        return f"{prefix}0{_last_id:08X}"


def advance_counters(ts_us: int, id_number: int) -> None:
    global _last_ts_us, _last_id
    with _counter_lock:
        _last_ts_us = max(_last_ts_us, ts_us)
        _last_id = max(_last_id, id_number)


def format_ts(ts_us: int) -> str:
    return f"{ts_us // 1_000_000}.{ts_us % 1_000_000:06d}"


def parse_ts(ts: str) -> int:
    """``"1700000000.000100"`` → microseconds (a ts must pass :func:`looks_like_ts`)."""
    head, _, tail = ts.partition(".")
    return int(head) * 1_000_000 + int(tail[:6].ljust(6, "0"))


def id_serial(file_id: str) -> int:
    match = _ID_RE.fullmatch(file_id)
    return int(match.group(1), 16) if match else 0


def looks_like_ts(ts: str) -> bool:
    head, dot, tail = ts.partition(".")
    return bool(dot) and head.isdigit() and tail.isdigit()
