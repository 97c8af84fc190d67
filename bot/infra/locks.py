"""Per-environment locks: one mutating run per environment at a time.

A lease in Redis (``SET key value NX PX ttl``) whose value names the holder run and a random
token; it is renewed by the worker's heartbeat and released only by its owner (compare-and-
delete in Lua). A dead worker's lease simply expires (``LEASE_TTL_S``). Without Redis (in-process
mode: one process runs everything) an in-memory table stands in.
"""

from __future__ import annotations

import json
import secrets
import threading
from dataclasses import dataclass
from datetime import datetime, timezone

from bot.core.defaults import LEASE_HEARTBEAT_S, LEASE_TTL_S
from bot.infra import keys

_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end
"""
_RENEW = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end
"""


@dataclass(frozen=True)
class Holder:
    run_id: int
    since: datetime
    value: str

    @property
    def age_s(self) -> float:
        return (datetime.now(timezone.utc) - self.since).total_seconds()


def _ttl_ms() -> int:
    return max(1, int(LEASE_TTL_S * 1000))


_local: dict[str, Holder] = {}
_local_guard = threading.Lock()


def _value(run_id: int) -> tuple[str, Holder]:
    now = datetime.now(timezone.utc)
    value = json.dumps({"run_id": run_id, "since": now.isoformat(), "token": secrets.token_hex(8)})
    return value, Holder(run_id, now, value)


def _parse(raw) -> Holder | None:
    if raw is None:
        return None
    text = raw.decode() if isinstance(raw, bytes) else raw
    try:
        data = json.loads(text)
        return Holder(int(data["run_id"]), datetime.fromisoformat(data["since"]), text)
    except (ValueError, KeyError, TypeError):
        return Holder(0, datetime.now(timezone.utc), text)


class Lease:
    """A held lock; renew it while working, release it when done."""

    def __init__(self, rt, env: str, holder: Holder) -> None:
        self.rt, self.env, self.holder = rt, env, holder
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.lost = False

    def renew(self) -> bool:
        if self.rt.redis is None:
            return True
        ok = bool(self.rt.redis.eval(_RENEW, 1, keys.lock(self.env), self.holder.value, _ttl_ms()))
        self.lost = self.lost or not ok
        return ok

    def release(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)
        if self.rt.redis is None:
            with _local_guard:
                if _local.get(self.env) == self.holder:
                    del _local[self.env]
            return
        try:
            self.rt.redis.eval(_RELEASE, 1, keys.lock(self.env), self.holder.value)
        except Exception:  # Redis gone: the lease expires by itself
            pass

    def start_heartbeat(self, on_beat=None) -> None:
        def beat():
            while not self._stop.wait(LEASE_HEARTBEAT_S):
                try:
                    self.renew()
                    if on_beat:
                        on_beat()
                except Exception:
                    pass  # next beat tries again; the TTL bounds the damage

        self._thread = threading.Thread(target=beat, name=f"lock-heartbeat-{self.env}", daemon=True)
        self._thread.start()

    def __enter__(self) -> "Lease":
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def acquire(rt, env: str, run_id: int) -> Lease | Holder:
    """A Lease, or the Holder of the lock when another run has it."""
    value, me = _value(run_id)
    if rt.redis is None:
        with _local_guard:
            current = _local.get(env)
            if current is not None and current.run_id != run_id:
                return current
            _local[env] = me
        return Lease(rt, env, me)
    from redis.exceptions import RedisError

    from bot.core.errors import LockUnavailable

    try:
        if rt.redis.set(keys.lock(env), value, nx=True, px=_ttl_ms()):
            return Lease(rt, env, me)
        current = _parse(rt.redis.get(keys.lock(env)))
        if current is None:  # freed between SET and GET: try once more
            if rt.redis.set(keys.lock(env), value, nx=True, px=_ttl_ms()):
                return Lease(rt, env, me)
            current = _parse(rt.redis.get(keys.lock(env))) or me
    except RedisError as exc:
        raise LockUnavailable(f"the lock on {env} could not be taken: Redis is unavailable "
                              f"({type(exc).__name__})") from exc
    return current


def holder(rt, env: str) -> Holder | None:
    if rt.redis is None:
        with _local_guard:
            return _local.get(env)
    try:
        return _parse(rt.redis.get(keys.lock(env)))
    except Exception:
        return None


def describe_holder(rt, env: str) -> str | None:
    """"locked by run 7 (`/bb migrate production` by <@U0ALICE>) since 12:00:01 UTC", or None."""
    try:
        held_by = holder(rt, env)
    except Exception:
        return "lock state unknown (Redis unavailable)"
    if held_by is None:
        return None
    held = rt.store.get_run(held_by.run_id) if held_by.run_id else None
    who = f" (`{held.text}` by <@{held.requester}>)" if held else ""
    return f"locked by run {held_by.run_id}{who} since {held_by.since:%H:%M:%S} UTC"
