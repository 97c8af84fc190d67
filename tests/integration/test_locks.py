"""Per-environment locks on a real Redis: one mutating run per environment, different
environments in parallel, the holder visible, a dead worker's lock freed and its run marked.

The runs here go through real `bb-ops worker` processes (RQ, forking work horses)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest
import redis

from bot.core.runs import RunStatus
from bot.devkit.world import ALICE, BOB, CAROL, CHANNEL, env_block
from bot.infra import keys, locks
from bot.infra.db.models import utcnow
from tests.support.fixtures_bot import make_driver
from tests.support.messages import thread_texts

HEAD = "0006_user_display_name"

# A release hook that says it started, then holds (and so keeps its run's lock) until told to go.
GATE = """import os, pathlib, sys, time
d = pathlib.Path(sys.argv[1])
(d / ("started-" + sys.argv[2])).write_text(str(os.getpid()))
deadline = time.time() + 90
while not (d / "go").exists() and time.time() < deadline:
    time.sleep(0.05)
"""


def worker_env(bot, redis_url):
    s = bot.rt.settings
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "BBOPS_", "REDIS_URL"))}
    env.update({"REDIS_URL": redis_url, "BBOPS_DATABASE_URL": s.database_url, "BBOPS_CONFIG": str(s.config_path),
                "SLACK_API_URL": s.slack_api_url, "SLACK_BOT_TOKEN": s.slack_bot_token,
                "SLACK_SIGNING_SECRET": s.slack_signing_secret, "BBOPS_LOG_LEVEL": "WARNING"})
    return env


class Workers:
    """Real `bb-ops worker` processes, each in its own process group (so a kill takes its horse too)."""

    def __init__(self, bot, redis_url, n, log_dir: Path):
        self.procs = []
        for i in range(n):
            log = open(log_dir / f"worker-{i}.log", "w")
            self.procs.append(subprocess.Popen([sys.executable, "-m", "bot.cli", "worker", "--name", f"test-{i}"],
                                               env=worker_env(bot, redis_url), stdout=log, stderr=log,
                                               start_new_session=True))
        r = redis.Redis.from_url(redis_url)
        deadline = time.monotonic() + 60
        while len(r.smembers("rq:workers")) < n and time.monotonic() < deadline:
            time.sleep(0.1)
        assert len(r.smembers("rq:workers")) >= n, "the workers did not register with Redis"

    def kill(self, i):
        os.killpg(self.procs[i].pid, signal.SIGKILL)
        self.procs[i].wait(10)

    def stop(self):
        for p in self.procs:
            if p.poll() is None:
                p.terminate()
        for p in self.procs:
            try:
                p.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait(10)


@pytest.fixture
def workers(redis_server, tmp_path):
    started = []

    def start(bot, n=1):
        w = Workers(bot, redis_server.url, n, tmp_path)
        started.append(w)
        return w

    yield start
    for w in started:
        w.stop()


def wait_for(predicate, timeout_s=60, what="condition"):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")


def approve_without_waiting(bot, user, run_id):
    bot.click(user, run_id, "approve", wait_s=0)


# -- the lease itself -----------------------------------------------------------------------------
def test_lease_set_nx_with_ttl_owner_only_release_and_renewal(redis_server, monkeypatch):
    redis_server.flush()
    rt = SimpleNamespace(redis=redis.Redis.from_url(redis_server.url))
    lease = locks.acquire(rt, "production", 7)
    assert isinstance(lease, locks.Lease)
    ttl_ms = rt.redis.pttl(keys.lock("production"))
    assert 0 < ttl_ms <= locks.LEASE_TTL_S * 1000 <= 60_000       # a dead holder's lock is gone within 60 s
    other = locks.acquire(rt, "production", 8)
    assert isinstance(other, locks.Holder) and other.run_id == 7 and other.age_s < 5
    assert isinstance(locks.acquire(rt, "staging", 8), locks.Lease)       # environments are independent
    # only the owner's token releases it
    locks.Lease(rt, "production", locks.Holder(8, other.since, '{"run_id": 8}')).release()
    assert locks.holder(rt, "production").run_id == 7
    rt.redis.pexpire(keys.lock("production"), 1000)
    assert lease.renew() and rt.redis.pttl(keys.lock("production")) > 1000
    lease.release()
    assert locks.holder(rt, "production") is None
    assert not lease.renew() and lease.lost                    # a released lease cannot be renewed

    # the heartbeat keeps a short lease alive; when it stops, the lease expires on its own
    monkeypatch.setattr(locks, "LEASE_TTL_S", 0.6)
    monkeypatch.setattr(locks, "LEASE_HEARTBEAT_S", 0.15)
    lease = locks.acquire(rt, "production", 9)
    lease.start_heartbeat()
    time.sleep(1.5)
    assert locks.holder(rt, "production").run_id == 9
    lease._stop.set()                                          # the worker "dies": no more beats
    time.sleep(1.0)
    assert locks.holder(rt, "production") is None
    assert isinstance(locks.acquire(rt, "production", 10), locks.Lease)


# -- two changes on one environment: one runs, the other is refused naming the holder ------------
def test_two_migrates_on_one_environment_one_runs_the_other_is_refused(tmp_path, make_target, standin,
                                                                      redis_server, pg_url, workers):
    redis_server.flush()
    target = make_target(revision="0003_transaction_note")
    target.seed()
    with make_driver(tmp_path, target, standin, redis_url=redis_server.url, database_url=pg_url) as bot:
        workers(bot, 2)
        bot.command(ALICE, CHANNEL, "migrate prod", wait_s=90)
        bot.command(CAROL, CHANNEL, "migrate prod", wait_s=90)
        assert [r.status for r in bot.rt.store.runs()] == [RunStatus.AWAITING_APPROVAL] * 2
        approve_without_waiting(bot, BOB, 1)        # two approvals a moment apart: two workers at once
        approve_without_waiting(bot, BOB, 2)
        bot.settle([1, 2], 120)
        runs = {r.id: r for r in bot.rt.store.runs()}
        assert sorted(r.status.value for r in runs.values()) == ["failed", "succeeded"], [r.summary for r in runs.values()]
        winner = next(r for r in runs.values() if r.status is RunStatus.SUCCEEDED)
        loser = next(r for r in runs.values() if r.status is RunStatus.FAILED)
        assert (f"production is locked by run {winner.id} (`/bb migrate production` by <@{winner.requester}>) since "
                in loser.summary) and loser.summary.endswith("nothing was changed")
        refused = [e for e in bot.rt.store.audit_events(loser.id) if e["event"] == "lock_refused"]
        assert len(refused) == 1 and refused[0]["detail"]["holder_run"] == winner.id
        loser_events = [e["event"] for e in bot.rt.store.audit_events(loser.id)]
        assert "lock_acquired" not in loser_events and "step_started" not in loser_events
        # the loser's thread says who holds it and what to type next
        thread = thread_texts(standin, loser.parent_ts)
        assert any(f"locked by run {winner.id}" in t and f"/bb status {winner.id}" in t for t in thread)
        assert target.current_revision() == HEAD
        assert len(bot.rt.store.snapshots("production")) == 1        # one change, one snapshot
        assert locks.holder(bot.rt, "production") is None
        assert bot.rt.store.verify_audit() is None


def test_two_environments_run_at_the_same_time(tmp_path, make_target, standin, redis_server, workers):
    redis_server.flush()
    prod, staging = make_target("prod", revision="0005_budgets"), make_target("staging", revision="0005_budgets")
    gate = tmp_path / "gate"
    gate.mkdir()
    (tmp_path / "gate.py").write_text(GATE)
    hooks = {"release": [sys.executable, str(tmp_path / "gate.py"), str(gate), "{version}"]}
    timeouts = {"http_s": 2, "migrate_s": 120, "smoke_s": 30, "hook_s": 120, "snapshot_s": 120}
    envs = {"production": env_block(prod, snapshots_dir=tmp_path / "snap-prod", aliases=["prod"], hooks=hooks,
                                     timeouts=timeouts),
            "staging": env_block(staging, snapshots_dir=tmp_path / "snap-staging", hooks=hooks, timeouts=timeouts)}
    with make_driver(tmp_path, prod, standin, redis_url=redis_server.url, environments=envs) as bot:
        workers(bot, 2)
        bot.command(ALICE, CHANNEL, "deploy prod 1.0.0", wait_s=90)
        bot.command(ALICE, CHANNEL, "deploy staging 2.0.0", wait_s=90)
        approve_without_waiting(bot, BOB, 1)
        approve_without_waiting(bot, BOB, 2)
        # both release hooks are running at once: each holds its own environment's lock
        wait_for(lambda: (gate / "started-1.0.0").exists() and (gate / "started-2.0.0").exists(), 90,
                 "both release hooks")
        assert locks.holder(bot.rt, "production").run_id == 1
        assert locks.holder(bot.rt, "staging").run_id == 2
        (gate / "go").write_text("")
        bot.settle([1, 2], 120)
        runs = {r.env: r for r in bot.rt.store.runs()}
        assert runs["production"].status is RunStatus.SUCCEEDED, runs["production"].summary
        assert runs["staging"].status is RunStatus.SUCCEEDED, runs["staging"].summary
    assert prod.current_revision() == staging.current_revision() == HEAD


# -- a worker killed while it holds the lock ------------------------------------------------------
def test_worker_killed_holding_the_lock(tmp_path, session_target, standin, redis_server, workers):
    from bot.serve import janitor
    from workers.jobs import execute_run

    redis_server.flush()
    gate = tmp_path / "gate"
    gate.mkdir()
    (tmp_path / "gate.py").write_text(GATE)
    with make_driver(tmp_path, session_target, standin, redis_url=redis_server.url,
                     hooks={"release": [sys.executable, str(tmp_path / "gate.py"), str(gate), "{version}"]},
                     timeouts={"hook_s": 120}) as bot:
        pool = workers(bot, 1)
        bot.command(ALICE, CHANNEL, "deploy prod 1.2.3", wait_s=90)
        approve_without_waiting(bot, BOB, 1)
        wait_for(lambda: (gate / "started-1.2.3").exists(), 90, "the release hook")
        run = bot.rt.store.get_run(1)
        assert run.status is RunStatus.RUNNING

        # while it holds the lock, `/bb envs` and `/bb status` name the holder
        bot.command(CAROL, CHANNEL, "envs", wait_s=0)
        envs_run = bot.rt.store.runs(limit=1)[0]
        assert execute_run(envs_run.id, "run") == "succeeded"       # the job a read worker would run
        envs_text = "\n".join(thread_texts(standin, bot.rt.store.get_run(envs_run.id).parent_ts))
        assert "production (prod): revision " in envs_text
        assert "locked by run 1 (`/bb deploy production 1.2.3` by <@U0ALICE>) since " in envs_text
        status = bot.command(CAROL, CHANNEL, "status 1", wait_s=0)[0]["text"]
        assert "*running*" in status and "approved by <@U0BOB>" in status
        assert "`production` is locked by run 1 (`/bb deploy production 1.2.3` by <@U0ALICE>)" in status

        # kill the worker, its work horse and the hook, as an OOM killer would
        pool.kill(0)
        assert locks.holder(bot.rt, "production").run_id == 1
        ttl_ms = bot.rt.redis.pttl(keys.lock("production"))
        assert 0 < ttl_ms <= 45_000                                  # nobody renews it: gone within 60 s

        # the janitor (in every worker and in serve) notices the silent heartbeat
        bot.rt.store.update_run(1, heartbeat_at=utcnow() - timedelta(seconds=bot.rt.settings.dead_after_s + 1))
        swept = janitor.sweep(bot.rt)
        assert swept["dead"] == 1
        run = bot.rt.store.get_run(1)
        assert run.status is RunStatus.ABANDONED
        assert locks.holder(bot.rt, "production") is None
        note = [t for t in thread_texts(standin, run.parent_ts) if "abandoned" in t]
        assert note and "may be half-changed" in note[0] and "lock" in note[0] and "released" in note[0]
        trail = [e["event"] for e in bot.rt.store.audit_events(1)]
        assert trail[-2:] == ["abandoned", "lock_released"] and "succeeded" not in trail
        (gate / "go").write_text("")


# -- Redis down when the lock is taken: a refusal, nothing changed, never "abandoned" -------------
def test_redis_down_at_lock_time_is_a_refusal(tmp_path, make_target, standin):
    from bot.core.errors import LockUnavailable
    from bot.devkit.services import free_port
    from tests.support.clicks import press, request

    dead = redis.Redis(host="127.0.0.1", port=free_port(), socket_connect_timeout=0.5, socket_timeout=0.5)
    with pytest.raises(LockUnavailable, match="Redis is unavailable"):
        locks.acquire(SimpleNamespace(redis=dead), "production", 1)

    target = make_target(revision="0005_budgets")
    with make_driver(tmp_path, target, standin, in_process=True) as bot:
        run = request(bot, "migrate prod")
        bot.rt.redis = dead                      # the lock lives in Redis, which is now gone
        msgs = press(bot, BOB, run)
        done = bot.rt.store.get_run(run.id)
        events = [e["event"] for e in bot.rt.store.audit_events(run.id)]
    assert done.status is RunStatus.FAILED and "could not be taken" in done.summary
    assert "nothing was changed" in done.summary
    assert "lock_unavailable" in events and "lock_acquired" not in events and "abandoned" not in events
    assert any("could not be taken" in m["text"] for m in msgs)
    assert target.current_revision() == "0005_budgets"
