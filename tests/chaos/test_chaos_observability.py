"""Observability of `bb-ops serve`: /metrics (scraped as Prometheus text) and JSON logs on stderr.

Lost / retried / abandoned runs are asserted where they happen (test_chaos_delivery.py,
test_chaos_workers.py); here: every family is exposed, queue depth and lock age follow Redis,
refusals are counted by reason, and every stderr line is a JSON record, naming the run it is about.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from bot.devkit.world import ALICE, CHANNEL, env_block, write_config
from tests.support.processes import BotProcesses, metric_value

pytestmark = pytest.mark.chaos


@pytest.mark.timeout(60)
def test_metrics_and_structured_logs_of_serve(tmp_path, session_target, standin, redis_server):
    from bot.infra import keys
    from bot.infra.runtime import connect_redis

    redis_server.flush()
    config = write_config(tmp_path / "environments.yaml", {
        "production": env_block(session_target, snapshots_dir=tmp_path / "s1", aliases=["prod"]),
        "staging": env_block(session_target, snapshots_dir=tmp_path / "s2"),
    })
    procs = BotProcesses(tmp_path, config_path=config, redis_url=redis_server.url, standin=standin)
    try:
        procs.start_serve()
        metrics = procs.metrics()
        for family in ("bbops_jobs_lost_total", "bbops_runs_retried_total", "bbops_runs_abandoned_total",
                       "bbops_runs_delayed_total", "bbops_refused_total", "bbops_queue_depth",
                       "bbops_lock_age_seconds", "bbops_runs_by_status", "bbops_slack_retries_total",
                       "bbops_duplicate_deliveries_total", "bbops_ack_seconds"):
            assert f"# HELP {family} " in metrics, family
        assert metric_value(metrics, "bbops_lock_age_seconds", env="production") == 0.0

        for text in ("readyz prod", "healthz staging", "readyz staging"):
            assert procs.command(ALICE, CHANNEL, text).status_code == 200
        procs.command(ALICE, CHANNEL, "migrate prod")
        procs.command(ALICE, CHANNEL, "frobnicate prod")
        body = procs.command_body(ALICE, CHANNEL, "readyz prod", trigger="1700000000.again")
        procs.post(body, procs.signed(body))
        procs.post(body, {**procs.signed(body), "x-slack-retry-num": "1"})
        procs.post(body, procs.signed(body, secret="forged"))

        redis = connect_redis(redis_server.url)
        since = datetime.now(timezone.utc) - timedelta(seconds=42)
        redis.set(keys.lock("staging"), json.dumps({"run_id": 3, "since": since.isoformat(), "token": "ab"}), px=60_000)

        metrics = procs.metrics()
        assert metric_value(metrics, "bbops_queue_depth", queue="bbops-read") == 4.0
        assert metric_value(metrics, "bbops_queue_depth", queue="bbops-change") == 1.0
        assert 42.0 <= metric_value(metrics, "bbops_lock_age_seconds", env="staging") < 60.0
        assert metric_value(metrics, "bbops_lock_age_seconds", env="production") == 0.0
        assert metric_value(metrics, "bbops_runs_by_status", status="queued") == 5.0
        assert metric_value(metrics, "bbops_refused_total", reason="grammar") == 1.0
        assert metric_value(metrics, "bbops_refused_total", reason="signature") == 1.0
        assert metric_value(metrics, "bbops_duplicate_deliveries_total") == 1.0
        assert metric_value(metrics, "bbops_commands_total", verb="readyz", answer="accepted") == 4.0  # the redelivery too
        assert metric_value(metrics, "bbops_ack_seconds_count") == 7.0

        records = procs.log_records("serve")  # json.loads of every line: nothing unstructured on stderr
        assert all({"ts", "level", "logger", "msg", "pid"} <= set(r) for r in records)
        assert any(r.get("run_id") == 5 and "redelivery of run 5" in r["msg"] for r in records)
        assert any(r["level"] == "warning" and "signature or timestamp did not verify" in r["msg"] for r in records)
        assert procs.env["SLACK_SIGNING_SECRET"] not in procs.log_tail("serve", 10_000)
    finally:
        procs.stop_all()
