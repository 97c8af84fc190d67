"""Chaos: Slack faults, through the real slack-sdk client against the local Slack stand-in.

Properties: 429 waits the Retry-After Slack gave (measured) and the post lands; 5xx answers and
refused connections are retried with backoff; a run's thread keeps its order; no post is lost or
doubled; a post that cannot be made after every retry raises (it is never dropped silently). End to
end: a run through a real `bb-ops worker` under injected faults is answered exactly once.
"""

from __future__ import annotations

import threading
import time

import pytest

from bot.devkit.world import ALICE, CHANNEL
from bot.infra.poster import PostFailed, SlackPoster, make_client

pytestmark = pytest.mark.chaos


@pytest.fixture
def poster(standin):
    return SlackPoster(make_client("xoxb-chaos-0000", standin.base_url))


def statuses(standin, method=None):
    return [(c["method"], c["status"]) for c in standin.calls(method)]


@pytest.mark.timeout(30)
def test_429_waits_for_retry_after_then_the_post_lands(standin, poster):
    standin.inject("chat.postMessage", status=429, retry_after=2, times=1)
    t0 = time.monotonic()
    ts = poster.post(CHANNEL, "deploy finished")
    waited = time.monotonic() - t0
    assert 2.0 <= waited < 3.0, waited  # Retry-After: 2, plus at most 0.25 s of jitter
    assert statuses(standin) == [("chat.postMessage", 429), ("chat.postMessage", 200)]
    assert [(m["ts"], m["text"]) for m in standin.messages()] == [(ts, "deploy finished")]


@pytest.mark.timeout(30)
@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_server_errors_are_retried_with_backoff(standin, poster, status):
    standin.inject("chat.postMessage", status=status, times=3)
    t0 = time.monotonic()
    poster.post(CHANNEL, "readyz: ok")
    waited = time.monotonic() - t0
    # backoff 0.25, 0.5, 1 s (±20 %): growing, bounded
    assert 0.8 * 1.75 <= waited < 1.2 * 1.75 + 1.0, waited
    assert statuses(standin) == [("chat.postMessage", status)] * 3 + [("chat.postMessage", 200)]
    assert [m["text"] for m in standin.messages()] == ["readyz: ok"]


@pytest.mark.timeout(30)
def test_refused_connections_are_retried_until_slack_is_back(standin, poster):
    standin.stop()
    threading.Timer(1.5, standin.start).start()
    t0 = time.monotonic()
    ts = poster.post(CHANNEL, "still here")
    assert time.monotonic() - t0 >= 1.5
    assert [(m["ts"], m["text"]) for m in standin.messages()] == [(ts, "still here")]
    assert statuses(standin) == [("chat.postMessage", 200)]  # the refused tries never reached it


@pytest.mark.timeout(60)
def test_thread_order_is_kept_and_nothing_is_lost_or_doubled_under_faults(standin, poster):
    parent = poster.post(CHANNEL, "run 7: running…")
    for i in range(1, 13):
        if i == 3:
            standin.inject("chat.postMessage", status=429, retry_after=1, times=1)
        if i == 5:
            standin.inject("chat.update", status=503, times=2)
        if i == 6:
            standin.inject("chat.postMessage", status=500, times=2)
        if i == 9:
            standin.stop()
            threading.Timer(0.8, standin.start).start()
        poster.post(CHANNEL, f"step {i}", thread_ts=parent)
        poster.update(CHANNEL, parent, f"run 7: step {i}/12")
    thread = [m["text"] for m in standin.messages() if m["thread_ts"] == parent and m["ts"] != parent]
    assert thread == [f"step {i}" for i in range(1, 13)]
    (top,) = [m for m in standin.messages() if m["thread_ts"] is None]
    assert top["text"] == "run 7: step 12/12"
    ok_posts = [c for c in standin.calls("chat.postMessage") if c["status"] == 200]
    assert len(ok_posts) == 13  # each post landed exactly once
    assert ("chat.postMessage", 429) in statuses(standin) and ("chat.update", 503) in statuses(standin)


@pytest.mark.timeout(30)
def test_a_post_that_never_lands_raises_instead_of_vanishing(standin, caplog):
    poster = SlackPoster(make_client("xoxb-chaos-0000", standin.base_url, retries=2))
    standin.inject("chat.postMessage", status=500, times=10)
    with pytest.raises(PostFailed, match="chat_postMessage"):
        poster.post(CHANNEL, "lost?")
    assert statuses(standin) == [("chat.postMessage", 500)] * 3
    assert standin.messages() == []
    assert any("slack chat_postMessage failed" in r.getMessage() for r in caplog.records)


@pytest.mark.timeout(90)
def test_a_run_through_a_real_worker_is_answered_once_under_slack_faults(tmp_path, session_target, standin,
                                                                          redis_server):
    from bot.devkit.world import env_block, write_config
    from tests.support.processes import FAST_JANITOR, BotProcesses, metric_value

    redis_server.flush()
    config = write_config(tmp_path / "environments.yaml", {"production": env_block(
        session_target, snapshots_dir=tmp_path / "snapshots", aliases=["prod"])})
    procs = BotProcesses(tmp_path, config_path=config, redis_url=redis_server.url, standin=standin,
                         extra_env=FAST_JANITOR)
    try:
        procs.start_serve()
        procs.start_worker("worker")
        standin.inject("chat.postMessage", status=429, retry_after=1, times=1)   # the parent message
        standin.inject("chat.update", status=500, times=2)                        # its edit to the result
        assert "Queued as run 1" in procs.command(ALICE, CHANNEL, "readyz prod").json()["text"]
        procs.wait_status(1, ["succeeded"], 30)
        standin.wait_for(lambda ms: any("production is ready" in m["text"] for m in ms if m["thread_ts"] is None), 15)
        top = [m for m in standin.messages() if m["thread_ts"] is None]
        assert len(top) == 1 and top[0]["text"].startswith(":white_check_mark: run 1 `/bb readyz production`")
        thread = [m["text"] for m in standin.messages() if m["thread_ts"] == top[0]["ts"]]
        assert len(thread) == 1 and "200 status=ready" in thread[0]
        assert statuses(standin, "chat.postMessage") == [("chat.postMessage", 429)] + [("chat.postMessage", 200)] * 2
        assert statuses(standin, "chat.update") == [("chat.update", 500)] * 2 + [("chat.update", 200)]
        metrics = procs.metrics()  # counted in the worker, scraped from serve (through Redis)
        assert metric_value(metrics, "bbops_slack_retries_total", reason="rate_limited") == 1.0
        assert metric_value(metrics, "bbops_slack_retries_total", reason="server_error") == 2.0
        assert any("slack chat.postMessage: HTTP 429; retry 1 of 8" in r["msg"] and r.get("run_id") == 1
                   for r in procs.log_records("worker"))
    finally:
        procs.stop_all()
