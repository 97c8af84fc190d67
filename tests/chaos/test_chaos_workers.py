"""Chaos: worker death. Real `bb-ops serve` and `bb-ops worker` processes on real Redis; a worker is
SIGKILLed mid-job (the parent and its work horse, as a node loss would; or only the horse, as the
OOM killer would).

Properties: the run is noticed (the janitor's stale-heartbeat check, `BBOPS_DEAD_AFTER_S=3` here;
or at once when RQ reports the horse's death); a read-only run is retried and completes on another
worker; a mutating run is never retried: it is marked abandoned, its thread says what state the
environment may be in, and its lock is freed within 60 s. RQ's own bookkeeping of the dead job
(StartedJobRegistry cleanup → FailedJobRegistry as abandoned, even a requeue of that job) never
changes the run afterwards.
"""

from __future__ import annotations

import time

import pytest

from bot.devkit.world import ALICE, BOB, CHANNEL, env_block, write_config
from tests.support.messages import thread_texts
from tests.support.processes import (
    FAST_JANITOR,
    BotProcesses,
    alive,
    hanging_python,
    metric_value,
    wait_until,
)

pytestmark = pytest.mark.chaos

HEAD = "0006_user_display_name"


def start(tmp_path, target, standin, redis_server, extra_env=None, **env_overrides):
    redis_server.flush()
    config = write_config(tmp_path / "environments.yaml", {"production": env_block(
        target, snapshots_dir=tmp_path / "snapshots", aliases=["prod"], **env_overrides)})
    return BotProcesses(tmp_path, config_path=config, redis_url=redis_server.url, standin=standin,
                        extra_env=extra_env if extra_env is not None else FAST_JANITOR)


def redis_of(procs):
    from bot.infra.runtime import connect_redis

    return connect_redis(procs.env["REDIS_URL"])


def top_level(standin):
    return [m for m in standin.messages() if not m["ephemeral"] and m["thread_ts"] is None]


def assert_rq_cannot_flip(procs, standin, run_id, job_id, queue_name, status):
    """RQ's cleanup of the dead job, and even a requeue of it, leave the run as it is."""
    from rq import Queue
    from rq.job import Job
    from rq.registry import FailedJobRegistry, StartedJobRegistry
    from rq.serializers import JSONSerializer

    redis = redis_of(procs)
    before_msgs, before_events = standin.snapshot(), procs.events(run_id)
    queue = Queue(queue_name, connection=redis, serializer=JSONSerializer)
    StartedJobRegistry(queue=queue).cleanup(timestamp=time.time() + 10_000)  # as RQ's maintenance will
    failed = FailedJobRegistry(queue=queue)
    assert job_id in failed.get_job_ids()
    job = Job.fetch(job_id, connection=redis, serializer=JSONSerializer)
    assert job.get_status().value == "failed"
    failed.requeue(job_id)  # an operator's `rq requeue --all`: the old job runs once more
    wait_until(lambda: Job.fetch(job_id, connection=redis, serializer=JSONSerializer).get_status().value
               == "finished", 20, f"the requeued {job_id} to be run by the surviving worker")
    assert Job.fetch(job_id, connection=redis, serializer=JSONSerializer).return_value() == "skipped"
    time.sleep(0.5)
    assert procs.store.get_run(run_id).status.value == status
    assert procs.events(run_id) == before_events
    assert standin.changed_since(before_msgs) == []


@pytest.mark.timeout(90)
def test_read_only_run_whose_worker_is_killed_is_retried_on_another_worker(tmp_path, make_target, standin,
                                                                           redis_server):
    # the probe must still be waiting when worker-a is killed: long enough for worker-b to start on a
    # busy machine (xdist workers, several suites at once)
    target = make_target(sqlite=True, BUDGETBUDDY_READYZ_DELAY_S="10")
    procs = start(tmp_path, target, standin, redis_server, timeouts={"http_s": 15})
    try:
        procs.start_serve()
        procs.start_worker("worker-a")
        redis = redis_of(procs)
        procs.wait_worker_ready("worker-a", redis)
        assert "Queued as run 1" in procs.command(ALICE, CHANNEL, "readyz prod").json()["text"]
        procs.wait_status(1, ["running"], 15)
        procs.wait_event(1, "step_started", 10)  # the probe is waiting on the slow target
        procs.start_worker("worker-b")
        procs.wait_worker_ready("worker-b", redis)
        assert procs.store.get_run(1).status.value == "running", "the probe ended before worker-a was killed"
        parent_a, horse_a = procs.kill9("worker-a")
        killed_at = time.monotonic()

        run = procs.wait_status(1, ["succeeded"], 40)
        assert time.monotonic() - killed_at < 30   # noticed within seconds, then one 10 s probe
        worker_b = procs.procs["worker-b"].pid
        assert run.attempts == 2 and run.worker.endswith(f":{worker_b}")  # finished on the other worker
        assert procs.events(1) == ["requested", "started", "step_started", "retried",
                                   "started", "step_started", "step_finished", "succeeded"]
        retried = next(e for e in procs.store.audit_events(1) if e["event"] == "retried")
        assert retried["detail"]["why"] == "worker died" and retried["actor"] == "system"

        standin.wait_for(lambda _: any("production is ready" in m["text"] for m in top_level(standin)), 10)
        (parent,) = top_level(standin)  # one parent, edited; no second "running…" message
        assert parent["text"].startswith(":white_check_mark: run 1 `/bb readyz production`")
        texts = thread_texts(standin, parent["ts"])
        assert len(texts) == 2, texts
        assert texts[0].startswith(":recycle: the worker running this died (no heartbeat since")
        assert "retrying (attempt 2 of 3). Nothing was changed." in texts[0]
        assert "production is ready" in texts[1] and "200 status=ready" in texts[1]

        assert_rq_cannot_flip(procs, standin, 1, "bbops-run-1-0", "bbops-read", "succeeded")
        metrics = procs.metrics()
        assert metric_value(metrics, "bbops_runs_retried_total", verb="readyz") == 1.0
        assert metric_value(metrics, "bbops_runs_abandoned_total", verb="readyz") is None
        # structured logs: the killed horse and the surviving worker both name run 1
        assert any(r.get("run_id") == 1 and r.get("job_id") == "bbops-run-1-0" and r["pid"] == horse_a
                   for r in procs.log_records("worker-a"))
        assert any(r.get("run_id") == 1 and r.get("job_id") == "bbops-run-1-1" for r in procs.log_records("worker-b"))
        assert any(r.get("run_id") == 1 and "retrying, attempt 2 of 3" in r["msg"]
                   for name in ("serve", "worker-b") for r in procs.log_records(name))
    finally:
        procs.stop_all()


@pytest.mark.timeout(90)
def test_read_only_run_whose_horse_is_oom_killed_is_retried_at_once(tmp_path, make_target, standin, redis_server):
    """Default timings (dead after 30 s): the retry comes from RQ reporting the horse's death."""
    import os
    import signal

    target = make_target(sqlite=True, BUDGETBUDDY_READYZ_DELAY_S="1.5")
    procs = start(tmp_path, target, standin, redis_server, extra_env={}, timeouts={"http_s": 10})
    try:
        procs.start_worker("worker")
        procs.wait_worker_ready("worker", redis_of(procs))
        procs.start_serve()
        procs.command(ALICE, CHANNEL, "healthz prod")
        procs.wait_status(1, ["succeeded"], 20)
        procs.command(ALICE, CHANNEL, "readyz prod")
        procs.wait_event(2, "step_started", 15)
        horse = procs.horse_of("worker")
        os.killpg(horse, signal.SIGKILL)
        killed_at = time.monotonic()
        procs.wait_event(2, "retried", 10)
        assert time.monotonic() - killed_at < 8  # not the 30 s heartbeat: RQ told the worker
        run = procs.wait_status(2, ["succeeded"], 20)
        assert run.attempts == 2
        assert procs.events(2) == ["requested", "started", "step_started", "retried",
                                   "started", "step_started", "step_finished", "succeeded"]
        retried = next(e for e in procs.store.audit_events(2) if e["event"] == "retried")
        assert retried["detail"]["detail"] == f"work horse {horse} killed by signal 9"
        assert procs.procs["worker"].poll() is None  # the worker itself lives on
    finally:
        procs.stop_all()


@pytest.mark.timeout(120)
def test_mutating_run_whose_worker_is_killed_mid_migration_is_abandoned_and_its_lock_freed(
        tmp_path, make_target, standin, redis_server):
    from bot.infra import keys

    target = make_target(sqlite=True, revision="0005_budgets")
    pidfile = tmp_path / "alembic-upgrade.pids"
    python = hanging_python(tmp_path / "backend-python", pidfile)
    procs = start(tmp_path, target, standin, redis_server, backend_python=str(python))
    try:
        procs.start_serve()
        procs.start_worker("worker-a")
        redis = redis_of(procs)
        procs.wait_worker_ready("worker-a", redis)

        assert "Queued as run 1" in procs.command(ALICE, CHANNEL, "migrate prod").json()["text"]
        run = procs.wait_card(1, 40)
        resp = procs.click(BOB, run, "approve")
        assert resp.status_code == 200
        procs.wait_event(1, "step_started", 40, step="alembic_upgrade")
        wait_until(lambda: pidfile.exists() and pidfile.read_text().strip(), 10, "alembic upgrade to start")
        holder = redis.get(keys.lock("production"))
        assert holder is not None and b'"run_id": 1' in holder
        procs.start_worker("worker-b")
        procs.wait_worker_ready("worker-b", redis)

        procs.kill9("worker-a")
        killed_at = time.monotonic()
        run = procs.wait_status(1, ["abandoned"], 40)
        wait_until(lambda: redis.get(keys.lock("production")) is None, 60, "the lock to be freed")
        freed_s = time.monotonic() - killed_at
        assert freed_s < 60, freed_s
        assert run.summary.startswith("abandoned: worker died")

        events = procs.store.audit_events(1)
        names = [e["event"] for e in events]
        tail = names[names.index("approved"):]
        assert tail == ["approved", "started", "lock_acquired", "step_started", "step_finished",
                        "step_started", "abandoned", "lock_released"], names
        steps = [e["detail"].get("step") for e in events if e["event"] == "step_started"]
        assert steps[-2:] == ["snapshot", "alembic_upgrade"]
        assert events[-1]["detail"] == {"why": "run abandoned"}

        note = wait_until(lambda: next((t for t in thread_texts(standin, run.parent_ts or run.card_ts)
                                        if "abandoned" in t), None), 10, "the abandon note in the thread")
        assert note.startswith(":rotating_light: run 1 was *abandoned*: worker died mid-run (no heartbeat since")
        assert "`production` may be half-changed: a migration or restore may have stopped part-way" in note
        assert "The lock on `production` is released" in note and "/bb rollback production" in note
        # the janitor posts the note, then edits the parent: wait for the edit, don't race it
        parent = wait_until(lambda: next((m for m in standin.messages() if m["ts"] == (run.parent_ts or run.card_ts)
                                          and "abandoned" in m["text"]), None), 10, "the parent marked abandoned")
        assert "abandoned" in parent["text"]
        # nothing retried the migration: one start, one job on the change queue
        assert names.count("started") == 1 and target.current_revision() == "0005_budgets"
        for pid in map(int, pidfile.read_text().split()):  # killed with its horse's process group
            wait_until(lambda: not alive(pid), 10, f"alembic {pid} to be gone")

        assert_rq_cannot_flip(procs, standin, 1, "bbops-execute-1-1", "bbops-change", "abandoned")
        metrics = procs.metrics()
        assert metric_value(metrics, "bbops_runs_abandoned_total", verb="migrate") == 1.0
        assert metric_value(metrics, "bbops_lock_age_seconds", env="production") == 0.0
        assert metric_value(metrics, "bbops_runs_by_status", status="abandoned") == 1.0
    finally:
        procs.stop_all()

