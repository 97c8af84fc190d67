"""Chaos: timeouts everywhere. A target that accepts connections and never answers, an Alembic
that never exits, a lock that is never free: each is bounded, and the channel says what happened
and what to do next. (The Slack Web API's own faults: test_chaos_slack.py.)

These run jobs in-process (the bound is in the step, not in the process model); the lock is a
real Redis lease held by another run.
"""

from __future__ import annotations

import json
import socket
import time
from datetime import datetime, timezone

import pytest

from bot.devkit.world import ALICE, BOB, CHANNEL
from tests.support.fixtures_bot import make_driver
from tests.support.messages import parent_and_thread
from tests.support.processes import alive, hanging_python, wait_until

pytestmark = pytest.mark.chaos


@pytest.fixture
def hung_target():
    """A TCP port that accepts connections (the kernel's backlog) and never says a word."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(64)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"


@pytest.mark.timeout(60)
def test_a_hung_target_is_bounded_by_http_s(tmp_path, session_target, standin, hung_target):
    with make_driver(tmp_path, session_target, standin, in_process=True, base_url=hung_target,
                     timeouts={"http_s": 1}) as bot:
        t0 = time.monotonic()
        parent, thread = parent_and_thread(bot.command(ALICE, CHANNEL, "readyz prod"))
        assert time.monotonic() - t0 < 4
        assert parent["text"].startswith(":x: run 1 `/bb readyz production`") and "not ready" in parent["text"]
        assert "production did not answer GET /api/readyz within 1 s (timeouts.http_s)" in thread[0]["text"]
        assert "Try `/bb healthz production`" in thread[0]["text"]

        t0 = time.monotonic()
        parent, thread = parent_and_thread(bot.command(ALICE, CHANNEL, "smoke prod"))
        assert time.monotonic() - t0 < 6
        assert "smoke test of production failed at healthz" in parent["text"]
        assert "did not answer GET /api/healthz within 1 s" in thread[0]["text"]
        assert [r.status.value for r in bot.rt.store.runs(limit=5, newest_first=False)] == ["failed", "failed"]


@pytest.mark.timeout(90)
def test_an_alembic_that_never_exits_is_stopped_after_migrate_s(tmp_path, make_target, standin):
    from bot.infra import locks

    target = make_target(sqlite=True, revision="0005_budgets")
    pidfile = tmp_path / "upgrade.pids"
    python = hanging_python(tmp_path / "backend-python", pidfile)
    with make_driver(tmp_path, target, standin, in_process=True, backend_python=str(python),
                     timeouts={"migrate_s": 2}) as bot:
        bot.command(ALICE, CHANNEL, "migrate prod")
        run = bot.rt.store.runs(limit=1)[0]
        assert run.status.value == "awaiting_approval"
        t0 = time.monotonic()
        msgs = bot.click(BOB, run.id, "approve")
        assert time.monotonic() - t0 < 20
        run = bot.rt.store.get_run(run.id)
        assert run.status.value == "failed"
        assert run.summary.startswith("migration of production failed; snapshot ")
        text = "\n".join(m["text"] for m in msgs)
        assert "alembic upgrade head did not finish within 2 s and was stopped" in text
        assert "/bb migrations production" in text
        (pid,) = map(int, pidfile.read_text().split())
        wait_until(lambda: not alive(pid), 5, "the hung alembic to be gone")
        assert locks.holder(bot.rt, "production") is None
        events = bot.rt.store.audit_events(run.id)
        upgrade = [e for e in events if e["event"] == "step_finished" and e["detail"]["step"] == "alembic_upgrade"]
        assert len(upgrade) == 1 and upgrade[0]["detail"]["ok"] is False
        assert sorted(e["event"] for e in events[-2:]) == ["failed", "lock_released"]
    assert target.current_revision() == "0005_budgets"


@pytest.mark.timeout(60)
def test_a_lock_that_is_never_free_refuses_at_once_naming_its_holder(tmp_path, make_target, standin, redis_server):
    from bot.infra import keys
    from bot.infra.runtime import connect_redis

    redis_server.flush()
    target = make_target(sqlite=True, revision="0005_budgets")
    redis = connect_redis(redis_server.url)
    since = datetime.now(timezone.utc)
    held = json.dumps({"run_id": 999, "since": since.isoformat(), "token": "f00dfeedf00dfeed"})
    redis.set(keys.lock("production"), held, px=600_000)  # another run's lease, renewed elsewhere
    with make_driver(tmp_path, target, standin, in_process=True) as bot:
        bot.rt.redis = redis  # jobs in-process, the lock in Redis
        bot.command(ALICE, CHANNEL, "migrate prod")
        run = bot.rt.store.runs(limit=1)[0]
        t0 = time.monotonic()
        msgs = bot.click(BOB, run.id, "approve")
        assert time.monotonic() - t0 < 5  # refused at once, not queued behind the holder
        run = bot.rt.store.get_run(run.id)
        assert run.status.value == "failed"
        text = "\n".join(m["text"] for m in msgs)
        assert f"production is locked by run 999 since {since:%H:%M:%S} UTC; nothing was changed" in text
        assert "/bb status 999" in text
        events = [e["event"] for e in bot.rt.store.audit_events(run.id)]
        assert events[events.index("approved"):] == ["approved", "started", "lock_refused", "failed"]
    assert redis.get(keys.lock("production")).decode() == held  # the holder's lease is untouched
    assert target.current_revision() == "0005_budgets"
