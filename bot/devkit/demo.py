"""`make demo` / `bb-ops demo`: the bot's main job on an embedded default.

Starts the reference BudgetBuddy target (examples/budgetbuddy, SQLite, under uvicorn on a free
port) and a local Slack stand-in, then sends `/bb readyz prod`, `/bb smoke prod` and
`/bb migrations prod` through the real Bolt app with signed requests and prints the channel as a
person would read it. Jobs run in-process (no Redis needed), by the very function a worker runs.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

import yaml

from bot.core.settings import Settings

DEMO_DIR = Path("var/demo")
CHANNEL = "C0DEPLOYS"
REQUESTER, APPROVER = "U0ALICE", "U0BOB"
SMOKE_USER_ENV, SMOKE_PASSWORD_ENV = "BB_SMOKE_USER_PROD", "BB_SMOKE_PASSWORD_PROD"
COMMANDS = ("readyz prod", "smoke prod", "migrations prod")


@dataclass
class DemoWorld:
    target: object
    settings: Settings
    config_path: Path


def write_demo_config(path: Path, target, snapshots_dir: Path) -> Path:
    config = {"environments": {"production": {
        "aliases": ["prod"],
        "base_url": target.base_url,
        "channels": [CHANNEL],
        "app_env": {"file": str(target.env_file)},
        "backend": {"dir": str(target.backend_dir), "python": target.python},
        "smoke": {"username_env": SMOKE_USER_ENV, "password_env": SMOKE_PASSWORD_ENV},
        "approval": {"required_for": ["migrate", "deploy", "rollback", "restore"],
                     "approvers": [REQUESTER, APPROVER], "allow_self_approval": False,
                     "expires_after_minutes": 30},
        "timeouts": {"http_s": 5, "migrate_s": 300, "smoke_s": 60},
        "snapshots": {"dir": str(snapshots_dir), "keep": 5},
    }}}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


@contextlib.contextmanager
def demo_world(workdir: Path = DEMO_DIR):
    """The reference target running, a config pointing at it, settings for an in-process bot."""
    from bot.devkit.reference_target import ReferenceTarget

    if workdir.exists():
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True)
    target = ReferenceTarget(workdir=workdir / "target")
    print("starting the reference BudgetBuddy target (examples/budgetbuddy) …", file=sys.stderr)
    target.start()
    try:
        config_path = write_demo_config(workdir / "environments.yaml", target, workdir / "snapshots")
        os.environ[SMOKE_USER_ENV] = target.smoke_user
        os.environ[SMOKE_PASSWORD_ENV] = target.smoke_password
        settings = Settings(database_url=f"sqlite:///{workdir / 'bbops.sqlite3'}", config_path=config_path)
        yield DemoWorld(target, settings, config_path)
    finally:
        target.stop()


def run_demo() -> int:
    from bot.devkit.driver import Driver, render_messages

    with demo_world() as world:
        print(f"target: {world.target.base_url}   config: {world.config_path}   Slack: local stand-in\n")
        with Driver(world.settings, state_file=DEMO_DIR / "slack-standin.json", in_process=True) as driver:
            for text in COMMANDS:
                print(f"── {REQUESTER} in #{CHANNEL}: /bb {text}")
                print(render_messages(driver.command(REQUESTER, CHANNEL, text)))
                print()
    print("Continue in the interactive shell (target, Slack stand-in and bot, all local):\n"
          "    .venv/bin/bb-ops shell --demo\n"
          "then try `/bb precheck prod`, `/bb migrate prod`, `as U0BOB`, `click <run> approve`.")
    return 0
