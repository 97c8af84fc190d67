"""The `bb-ops` console script: --help everywhere, `say --json` in-process, exit codes."""

import json
import os
import subprocess
import sys

import pytest

from bot.devkit.world import ALICE, CHANNEL, env_block, write_config

COMMANDS = [[], ["serve"], ["socket"], ["worker"], ["shell"], ["say"], ["click"], ["redact"], ["migrations"],
            ["migrations", "analyze"], ["config"], ["config", "check"], ["db"], ["db", "upgrade"], ["audit"],
            ["audit", "export"], ["audit", "verify"], ["demo"]]


@pytest.mark.parametrize("argv", COMMANDS, ids=lambda a: " ".join(a) or "bb-ops")
def test_every_command_has_help(argv):
    res = subprocess.run([sys.executable, "-m", "bot.cli", *argv, "--help"], capture_output=True, text=True, timeout=30)
    assert res.returncode == 0 and "usage: bb-ops" in res.stdout


def test_top_level_help_lists_every_command():
    res = subprocess.run([sys.executable, "-m", "bot.cli", "--help"], capture_output=True, text=True, timeout=30)
    for verb in ("serve", "socket", "worker", "shell", "say", "click", "redact", "migrations", "config", "db", "audit"):
        assert verb in res.stdout


def _env(tmp_path, target):
    cfg = write_config(tmp_path / "env.yaml", {"production": env_block(target, snapshots_dir=tmp_path / "snaps",
                                                                       aliases=["prod"])})
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "BBOPS_", "REDIS_URL"))}
    env.update({"BBOPS_CONFIG": str(cfg), "BBOPS_DATABASE_URL": f"sqlite:///{tmp_path / 'bot.sqlite3'}"})
    return env


def test_say_json_in_process(tmp_path, session_target):
    res = subprocess.run([sys.executable, "-m", "bot.cli", "say", "--as", ALICE, "--channel", CHANNEL,
                          "/bb readyz prod", "--json"], cwd=tmp_path, env=_env(tmp_path, session_target),
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    msgs = json.loads(res.stdout)   # only the JSON list on stdout
    assert [set(m) for m in msgs] == [{"channel", "thread_ts", "ts", "text", "blocks", "ephemeral", "user"}] * len(msgs)
    ack, parent, reply = msgs
    assert ack["ephemeral"] and ack["user"] == ALICE and ack["channel"] == CHANNEL
    assert not parent["ephemeral"] and parent["user"] is None and parent["thread_ts"] is None
    assert "production is ready" in parent["text"]
    assert reply["thread_ts"] == parent["ts"] and "200 status=ready" in reply["text"]


def test_say_refusal_exits_zero_and_usage_error_exits_two(tmp_path, session_target):
    env = _env(tmp_path, session_target)
    res = subprocess.run([sys.executable, "-m", "bot.cli", "say", "--as", ALICE, "--channel", CHANNEL, "/bb frob"],
                         cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert res.returncode == 0 and "not a bb-ops verb" in res.stdout
    res = subprocess.run([sys.executable, "-m", "bot.cli", "say", "--channel", CHANNEL, "/bb readyz prod"],
                         cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert res.returncode == 2


def test_bb_ops_failure_exits_one(tmp_path):
    env = {**os.environ, "BBOPS_CONFIG": str(tmp_path / "missing.yaml"),
           "BBOPS_DATABASE_URL": f"sqlite:///{tmp_path / 'bot.sqlite3'}"}
    env.pop("REDIS_URL", None)
    res = subprocess.run([sys.executable, "-m", "bot.cli", "say", "--as", ALICE, "--channel", CHANNEL,
                          "/bb readyz prod"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert res.returncode == 1 and "no such config file" in res.stderr
