"""Build a Driver (the real Bolt app + runtime) on a config pointing at reference targets."""

from __future__ import annotations

from pathlib import Path

from bot.devkit.driver import Driver
from bot.devkit.world import env_block, make_settings, write_config


def make_driver(tmp_path: Path, target, standin, *, database_url=None, redis_url=None, in_process=None,
                environments: dict | None = None, **overrides) -> Driver:
    envs = environments or {"production": env_block(target, snapshots_dir=tmp_path / "snapshots",
                                                    aliases=["prod"], **overrides)}
    config_path = write_config(tmp_path / "environments.yaml", envs)
    settings = make_settings(tmp_path, config_path, database_url=database_url, redis_url=redis_url,
                             slack_api_url=standin.base_url)
    return Driver(settings, standin=standin, in_process=in_process)
