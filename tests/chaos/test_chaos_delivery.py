"""Chaos: delivery. Real `bb-ops serve` and `bb-ops worker` processes, a real redis-server that is
killed, frozen and restarted (no persistence), signed Slack requests over HTTP.

Properties: a Slack redelivery never starts a second run; a command that reached the bot is never
lost (Redis down or hung at ack time → kept in the bot database, acked as delayed, enqueued when
Redis is back, requester told once); Redis restarted while commands arrive → every command
answered once, none lost, none doubled.
"""

from __future__ import annotations

import os
import re
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from bot.devkit.world import ALICE, BOB, CAROL, CHANNEL, env_block, write_config
from tests.support.messages import thread
from tests.support.processes import FAST_JANITOR, BotProcesses, metric_value, wait_until

pytestmark = pytest.mark.chaos

READYZ_EVENTS = ["started", "step_started", "step_finished", "succeeded"]


@pytest.fixture
def stack(tmp_path, session_target, standin, redis_server):
    """serve/worker processes on the shared reference target; Redis is always running again after."""
    redis_server.flush()
    config = write_config(tmp_path / "environments.yaml", {"production": env_block(
        session_target, snapshots_dir=tmp_path / "snapshots", aliases=["prod"])})
    procs = BotProcesses(tmp_path, config_path=config, redis_url=redis_server.url, standin=standin,
                         extra_env=FAST_JANITOR)
    yield procs
    procs.stop_all()
    if redis_server.proc is not None:
        os.kill(redis_server.proc.pid, signal.SIGCONT)
    else:
        redis_server.start()


def top_level(standin, run_id=None):
    msgs = [m for m in standin.messages() if not m["ephemeral"] and m["thread_ts"] is None]
    if run_id is None:
        return msgs
    return [m for m in msgs if re.search(rf"\brun {run_id}\b", m["text"])]


def answered(standin, run_id, needle, timeout_s=10):
    """The run's one parent message once it shows the result (the worker posts after its last DB write)."""
    standin.wait_for(lambda _: any(needle in m["text"] for m in top_level(standin, run_id)), timeout_s)
    (parent,) = top_level(standin, run_id)
    return parent


def posted_texts(standin, needle):
    return [c["params"].get("text", "") for c in standin.calls("chat.postMessage")
            if c["status"] == 200 and needle in c["params"].get("text", "")]


@pytest.mark.timeout(60)
def test_redelivery_over_http_never_starts_a_second_run(stack, standin):
    stack.start_serve()
    body = stack.command_body(ALICE, CHANNEL, "readyz prod", trigger="1700000000.redeliver")
    first = stack.post(body, stack.signed(body))
    assert first.status_code == 200 and "Queued as run 1" in first.json()["text"]
    # Slack redelivers: same body (same trigger_id), re-signed, X-Slack-Retry-Num 1..3
    for n in (1, 2, 3):
        again = stack.post(body, {**stack.signed(body), "x-slack-retry-num": str(n),
                                  "x-slack-retry-reason": "http_timeout"})
        assert again.status_code == 200
        assert "Already received as run 1" in again.json()["text"] and "nothing new was started" in again.json()["text"]
    # and the same delivery arriving eight times at once
    body2 = stack.command_body(BOB, CHANNEL, "healthz prod", trigger="1700000000.concurrent")
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda _: stack.post(body2, stack.signed(body2)), range(8)))
    assert [a.status_code for a in answers] == [200] * 8
    texts = [a.json()["text"] for a in answers]
    assert sum("Queued as run 2" in t for t in texts) == 1
    assert sum("Already received as run 2" in t for t in texts) == 7

    runs = stack.runs()
    assert [(r.id, r.verb, r.requester, r.status.value) for r in runs] == [
        (1, "readyz", ALICE, "queued"), (2, "healthz", BOB, "queued")]
    assert stack.events() == ["requested", "requested"]
    from rq import Queue

    from bot.infra.runtime import connect_redis
    assert Queue("bbops-read", connection=connect_redis(stack.env["REDIS_URL"])).job_ids == [
        "bbops-run-1-0", "bbops-run-2-0"]
    assert standin.messages() == []  # no worker yet: nothing posted, twice or otherwise
    assert metric_value(stack.metrics(), "bbops_duplicate_deliveries_total") == 10.0


@pytest.mark.timeout(90)
def test_redis_down_at_ack_time_keeps_the_run_and_tells_the_requester_once(stack, standin, redis_server):
    stack.start_serve()
    stack.start_worker("worker")
    redis_server.stop(kill=True)

    t0 = time.monotonic()
    resp = stack.command(ALICE, CHANNEL, "readyz prod")
    ack_s = time.monotonic() - t0
    assert resp.status_code == 200 and ack_s < 2.5, (resp.status_code, ack_s)
    ack = resp.json()
    assert ack["response_type"] == "ephemeral"
    assert "Recorded as run 1" in ack["text"] and "queue is unavailable" in ack["text"]
    assert "Nothing has run yet" in ack["text"] and "you will be told in this channel" in ack["text"]
    (run,) = stack.runs()
    assert run.status.value == "queued" and stack.events(1) == ["requested"]

    # the janitors (serve + worker) notice the run cannot be enqueued and tell the requester, once
    stack.wait_event(1, "delayed", 10)
    time.sleep(2.0)  # four more sweeps of each janitor
    notes = posted_texts(standin, "is delayed")
    assert len(notes) == 1, notes
    assert "run 1 `/bb readyz production` by <@U0ALICE> is delayed: the job queue is unavailable" in notes[0]
    assert stack.events(1) == ["requested", "delayed"]
    assert stack.store.get_run(1).status.value == "queued"
    metrics = stack.metrics()
    assert "redis: ConnectionError" in stack.http.get(stack.url + "/readyz").text

    redis_server.start()  # empty: the outbox (the bot database) is all that remembers run 1
    stack.wait_status(1, ["succeeded"], 45)
    assert stack.events(1) == ["requested", "delayed", "requeued", *READYZ_EVENTS]
    parent = answered(standin, 1, "production is ready")  # the delay note became the run's parent
    (result,) = thread(standin, parent["ts"])
    assert "200 status=ready" in result["text"]
    assert len(posted_texts(standin, "is delayed")) == 1
    metrics = stack.metrics()
    assert metric_value(metrics, "bbops_jobs_lost_total", verb="readyz") == 1.0
    assert metric_value(metrics, "bbops_runs_delayed_total", verb="readyz") == 1.0
    assert metric_value(metrics, "bbops_runs_by_status", status="succeeded") == 1.0


@pytest.mark.timeout(60)
def test_hung_redis_at_ack_time_still_acks_within_slacks_window(stack, standin, redis_server):
    """A frozen Redis (SIGSTOP: connections open, nothing answers) must not hold the ack past 3 s."""
    stack.start_serve()
    os.kill(redis_server.proc.pid, signal.SIGSTOP)
    try:
        t0 = time.monotonic()
        resp = stack.command(ALICE, CHANNEL, "readyz prod")
        ack_s = time.monotonic() - t0
        assert resp.status_code == 200 and ack_s < 2.5, (resp.status_code, ack_s)
        assert "Recorded as run 1" in resp.json()["text"]
        t0 = time.monotonic()
        metrics = stack.metrics()  # a scrape does not hang on Redis either
        assert time.monotonic() - t0 < 3.0
        assert metric_value(metrics, "bbops_runs_by_status", status="queued") == 1.0
        stack.wait_event(1, "delayed", 10)
    finally:
        os.kill(redis_server.proc.pid, signal.SIGCONT)
    stack.wait_event(1, "requeued", 15)
    from rq import Queue

    from bot.infra.runtime import connect_redis
    assert Queue("bbops-read", connection=connect_redis(stack.env["REDIS_URL"])).job_ids == ["bbops-run-1-0"]
    assert stack.events(1) == ["requested", "delayed", "requeued"]
    assert len(posted_texts(standin, "is delayed")) == 1


@pytest.mark.timeout(120)
def test_redis_restart_while_commands_arrive_loses_and_doubles_nothing(stack, standin, redis_server):
    stack.start_serve()
    workers = [stack.start_worker("worker-a"), stack.start_worker("worker-b")]
    from bot.infra.runtime import connect_redis

    redis = connect_redis(stack.env["REDIS_URL"])
    stack.wait_worker_ready("worker-a", redis)
    stack.wait_worker_ready("worker-b", redis)

    n = 36
    users = [ALICE, BOB, CAROL]
    verbs = ["readyz prod", "healthz prod", "readyz prod"]
    answers: dict[int, object] = {}
    restarted = threading.Event()

    def send(i: int) -> None:
        answers[i] = stack.command(users[i % 3], CHANNEL, verbs[i % 3], trigger=f"1700000000.burst{i}")

    def restart_midway() -> None:
        time.sleep(1.2)
        redis_server.restart(down_s=1.0)
        restarted.set()

    restarter = threading.Thread(target=restart_midway)
    restarter.start()
    with ThreadPoolExecutor(4) as pool:
        for i in range(n):
            pool.submit(send, i)
            time.sleep(0.1)
    restarter.join()
    assert restarted.is_set()

    assert sorted(answers) == list(range(n))
    run_ids = []
    for i, resp in sorted(answers.items()):
        assert resp.status_code == 200, (i, resp.status_code, resp.text)
        m = re.search(r"(?:Queued|Recorded) as run (\d+)", resp.json()["text"])
        assert m, resp.json()["text"]
        run_ids.append(int(m.group(1)))
    assert sorted(run_ids) == list(range(1, n + 1))  # every command recorded once

    wait_until(lambda: all(r.status.value in ("succeeded", "failed") for r in stack.runs()) and len(stack.runs()) == n,
               75, "every run to finish")
    runs = stack.runs()
    assert [r.status.value for r in runs] == ["succeeded"] * n, stack.all_logs()
    for run in runs:
        events = stack.events(run.id)
        assert events.count("started") == 1 and events.count("succeeded") == 1, (run.id, events)
        assert events[0] == "requested" and events[-4:] == READYZ_EVENTS, (run.id, events)
        assert set(events[1:-4]) <= {"delayed", "requeued"}, (run.id, events)
        assert events.count("delayed") <= 1 and events.count("requeued") <= 1, (run.id, events)
        # answered exactly once in the channel
        parent = answered(standin, run.id, "production is ready" if run.verb == "readyz" else "production is healthy")
        (result,) = thread(standin, parent["ts"])
        assert ("200 status=ready" if run.verb == "readyz" else "200 OK") in result["text"]
    assert len(top_level(standin)) == n
    lost = sum(stack.events(r.id).count("requeued") for r in runs)
    assert lost >= 1  # the restart did lose queued jobs; the outbox put them back
    assert metric_value(stack.metrics(), "bbops_runs_by_status", status="succeeded") == float(n)
    assert all(w.poll() is None for w in workers), "a worker exited on the Redis restart"


def _fail_job(redis, job_id: str) -> None:
    """As if a worker took the job and it raised before it could start the run (the bot database
    was locked, the process was broken): RQ has it as failed, the run is still queued."""
    from rq import Queue
    from rq.job import Job, JobStatus
    from rq.serializers import JSONSerializer

    Queue("bbops-read", connection=redis, serializer=JSONSerializer).remove(job_id)
    Job.fetch(job_id, connection=redis, serializer=JSONSerializer).set_status(JobStatus.FAILED)


@pytest.mark.timeout(60)
def test_a_job_that_ends_without_starting_its_run_is_requeued_then_given_up(stack, standin):
    from bot.infra.runtime import connect_redis

    stack.start_serve()
    redis = connect_redis(stack.env["REDIS_URL"])
    stack.command(ALICE, CHANNEL, "readyz prod")
    for n in range(1, 4):  # requeued from the bot database, up to three times
        _fail_job(redis, "bbops-run-1-0")
        wait_until(lambda: stack.events(1).count("requeued") == n, 10, f"requeue number {n}")
        assert stack.store.get_run(1).status.value == "queued"
    requeued = [e for e in stack.store.audit_events(1) if e["event"] == "requeued"]
    assert {e["detail"]["why"] for e in requeued} == {"job failed without starting the run"}
    _fail_job(redis, "bbops-run-1-0")
    run = stack.wait_status(1, ["failed"], 10)
    assert run.summary == "bb-ops could not start this run: job failed without starting the run"
    assert stack.events(1) == ["requested", "requeued", "requeued", "requeued", "failed"]
    note = standin.wait_for(lambda ms: any("could not be started" in m["text"] for m in ms), 5)
    (msg,) = [m for m in note if "could not be started" in m["text"]]
    assert msg["text"].startswith(":warning: run 1 `/bb readyz production` could not be started: its job ended 4 times")
    assert "Nothing was changed on `production`. Try again: `/bb readyz production`" in msg["text"]
