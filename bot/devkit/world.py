"""A bot wired to real parts for a test, a bench or a demo: config pointing at a reference target,
the bot database, a Slack stand-in, and a Driver sending signed requests to the real Bolt app."""

from __future__ import annotations

import sys
from pathlib import Path

import yaml

from bot.core.settings import Settings

CHANNEL = "C0DEPLOYS"
OTHER_CHANNEL = "C0RANDOM"
ALICE, BOB, CAROL, MALLORY = "U0ALICE", "U0BOB", "U0CAROL", "U0MALLORY"
SMOKE_USER_ENV, SMOKE_PASSWORD_ENV = "BB_SMOKE_USER_PROD", "BB_SMOKE_PASSWORD_PROD"


def env_block(target, *, snapshots_dir: Path, channels=(CHANNEL,), aliases=(), app_env_file=None,
              backend_python=None, **overrides) -> dict:
    block = {
        "aliases": list(aliases),
        "base_url": target.base_url,
        "channels": list(channels),
        "app_env": {"file": str(app_env_file or target.env_file)},
        "backend": {"dir": str(target.backend_dir), "python": backend_python or sys.executable},
        "smoke": {"username_env": SMOKE_USER_ENV, "password_env": SMOKE_PASSWORD_ENV},
        "approval": {"required_for": ["migrate", "deploy", "rollback", "restore"],
                     "approvers": [ALICE, BOB, CAROL], "allow_self_approval": False,
                     "expires_after_minutes": 30},
        "timeouts": {"http_s": 2, "migrate_s": 120, "smoke_s": 30, "hook_s": 30, "snapshot_s": 120},
        "snapshots": {"dir": str(snapshots_dir), "keep": 5},
    }
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(block.get(key), dict):
            block[key] = {**block[key], **value}
        else:
            block[key] = value
    return block


def write_config(path: Path, environments: dict) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump({"environments": environments}, sort_keys=False))
    return path


def make_settings(tmp_path: Path, config_path: Path, *, database_url: str | None = None,
                  redis_url: str | None = None, slack_api_url: str | None = None,
                  signing_secret: str = "test-signing-secret-0123456789abcdef") -> Settings:
    return Settings(
        slack_signing_secret=signing_secret,
        slack_bot_token="xoxb-test-0000-bbops",
        slack_api_url=slack_api_url or "https://slack.com/api/",
        redis_url=redis_url,
        database_url=database_url or f"sqlite:///{tmp_path / 'bbops.sqlite3'}",
        config_path=config_path,
    )
