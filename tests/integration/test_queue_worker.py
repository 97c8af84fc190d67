"""A job enqueued over real Redis and run by a real `bb-ops worker` (an RQ worker process)."""

import os
import subprocess
import sys
import time

from bot.devkit.world import ALICE, CHANNEL
from tests.support.fixtures_bot import make_driver


def worker_env(driver, redis_url, extra=None):
    s = driver.rt.settings
    env = {**os.environ, "REDIS_URL": redis_url, "BBOPS_DATABASE_URL": s.database_url,
           "BBOPS_CONFIG": str(s.config_path), "SLACK_API_URL": s.slack_api_url,
           "SLACK_BOT_TOKEN": s.slack_bot_token, "SLACK_SIGNING_SECRET": s.slack_signing_secret,
           "BBOPS_LOG_LEVEL": "WARNING"}
    env.update(extra or {})
    return env


def test_readyz_over_redis_with_a_real_worker(tmp_path, session_target, standin, redis_server):
    redis_server.flush()
    with make_driver(tmp_path, session_target, standin, redis_url=redis_server.url) as bot:
        from rq import Queue

        msgs = bot.command(ALICE, CHANNEL, "readyz prod", wait_s=0.1)
        run = bot.rt.store.runs(limit=1)[0]
        assert run.status.value == "queued"  # no worker yet: the job waits in Redis
        assert Queue("bbops-read", connection=bot.rt.redis).count == 1
        assert "Queued as run 1" in msgs[0]["text"]
        proc = subprocess.run([sys.executable, "-m", "bot.cli", "worker", "--burst"], env=worker_env(bot, redis_server.url),
                              capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr
        run = bot.rt.store.get_run(run.id)
        assert run.status.value == "succeeded"
        texts = [m["text"] for m in standin.messages()]
        assert any("production is ready" in t for t in texts)
        assert any("200 status=ready" in t for t in texts)


def test_say_waits_for_the_worker_and_prints_json(tmp_path, session_target, standin, redis_server):
    """`bb-ops say --json` with REDIS_URL: enqueues, a worker runs it, say prints every message."""
    import json

    redis_server.flush()
    with make_driver(tmp_path, session_target, standin, redis_url=redis_server.url) as bot:
        env = worker_env(bot, redis_server.url)
    worker = subprocess.Popen([sys.executable, "-m", "bot.cli", "worker"], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(0.5)
        res = subprocess.run([sys.executable, "-m", "bot.cli", "say", "--as", ALICE, "--channel", CHANNEL,
                              "/bb readyz prod", "--json", "--timeout", "60"], env=env,
                             capture_output=True, text=True, timeout=120)
        assert res.returncode == 0, res.stderr
        msgs = json.loads(res.stdout)
        for m in msgs:
            assert set(m) == {"channel", "thread_ts", "ts", "text", "blocks", "ephemeral", "user"}
        assert msgs[0]["ephemeral"] is True and msgs[0]["user"] == ALICE
        assert any("production is ready" in m["text"] and m["thread_ts"] is None for m in msgs)
        assert any(m["thread_ts"] is not None and "200 status=ready" in m["text"] for m in msgs)
    finally:
        worker.terminate()
        worker.wait(timeout=20)
