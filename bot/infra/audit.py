"""The audit trail's hash chain (pure): canonical form, hashing and verification.

Each event stores the previous event's hash; its own hash is SHA-256 over the previous hash and
the canonical JSON of the event (id, ts, run_id, env, event, actor, detail). Editing, deleting or
reordering any row breaks the chain at that row.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Iterable, Mapping

GENESIS = "0" * 64
EVENT_FIELDS = ("id", "ts", "run_id", "env", "event", "actor", "detail")


def canonical(event: Mapping) -> str:
    body = {k: event.get(k) for k in EVENT_FIELDS}
    body["ts"] = _iso(body["ts"])
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True, default=str)


def chain_hash(prev_hash: str, event: Mapping) -> str:
    return hashlib.sha256((prev_hash + "\n" + canonical(event)).encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class ChainBreak:
    event_id: int | None
    reason: str


def verify_chain(events: Iterable[Mapping], head: tuple[int, str] | None = None) -> ChainBreak | None:
    """The first break in ``events`` (ordered by id), or None when the chain holds.

    ``head`` is the (last_id, last_hash) the database recorded, so deleting the newest rows is caught.
    """
    prev = GENESIS
    last_id = 0
    for ev in events:
        if ev["prev_hash"] != prev:
            reason = ("previous event was deleted or the rows were reordered"
                      if ev["id"] != last_id + 1 else "previous event was edited")
            return ChainBreak(ev["id"], reason)
        if chain_hash(prev, ev) != ev["hash"]:
            return ChainBreak(ev["id"], "this event was edited")
        if ev["id"] <= last_id:
            return ChainBreak(ev["id"], "events are out of order")
        prev, last_id = ev["hash"], ev["id"]
    if head is not None and (head[0], head[1]) != (last_id, prev):
        return ChainBreak(head[0], f"the newest event(s) after id {last_id} were deleted")
    return None


def to_export(ev: Mapping) -> dict:
    out = {k: ev.get(k) for k in (*EVENT_FIELDS, "prev_hash", "hash")}
    out["ts"] = _iso(out["ts"])
    return out


def _iso(ts) -> str | None:
    if isinstance(ts, datetime):
        return ts.astimezone(timezone.utc).isoformat()
    return ts
