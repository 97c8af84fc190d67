"""Process settings read from environment variables (DESIGN.md, "Environment variables").

Read once, when a process starts (``Settings.from_env``); the defaults are in bot/core/defaults.py.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

from bot.core import defaults

log = logging.getLogger("bbops.settings")


@dataclass(frozen=True)
class Settings:
    slack_signing_secret: str = ""
    slack_bot_token: str = ""
    slack_app_token: str = ""
    slack_api_url: str = defaults.SLACK_API_URL
    redis_url: str | None = None
    database_url: str = defaults.DATABASE_URL
    config_path: Path = Path(defaults.CONFIG_PATH)
    host: str = defaults.HOST
    port: int = defaults.PORT
    # fault-handling timings (bot/serve/janitor.py, the run heartbeat of workers); tests shorten them
    janitor_sweep_s: float = defaults.JANITOR_SWEEP_S      # BBOPS_JANITOR_SWEEP_S
    lost_after_s: float = defaults.LOST_AFTER_S            # BBOPS_LOST_AFTER_S
    run_heartbeat_s: float = defaults.RUN_HEARTBEAT_S      # BBOPS_RUN_HEARTBEAT_S
    dead_after_s: float = defaults.DEAD_AFTER_S            # BBOPS_DEAD_AFTER_S (at least 2 heartbeats)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> "Settings":
        env = os.environ if environ is None else environ
        api_url = env.get("SLACK_API_URL") or defaults.SLACK_API_URL
        if not api_url.endswith("/"):
            api_url += "/"
        port_text = env.get("PORT") or str(defaults.PORT)
        try:
            port = int(port_text)
        except ValueError:
            from bot.core.errors import ConfigError

            raise ConfigError(f"PORT must be a number, got {port_text!r}") from None
        run_heartbeat_s = _seconds(env, "BBOPS_RUN_HEARTBEAT_S", defaults.RUN_HEARTBEAT_S)
        return cls(
            slack_signing_secret=env.get("SLACK_SIGNING_SECRET", ""),
            slack_bot_token=env.get("SLACK_BOT_TOKEN", ""),
            slack_app_token=env.get("SLACK_APP_TOKEN", ""),
            slack_api_url=api_url,
            redis_url=env.get("REDIS_URL") or None,
            database_url=env.get("BBOPS_DATABASE_URL") or defaults.DATABASE_URL,
            config_path=Path(env.get("BBOPS_CONFIG") or defaults.CONFIG_PATH),
            host=env.get("HOST") or defaults.HOST,
            port=port,
            janitor_sweep_s=_seconds(env, "BBOPS_JANITOR_SWEEP_S", defaults.JANITOR_SWEEP_S),
            lost_after_s=_seconds(env, "BBOPS_LOST_AFTER_S", defaults.LOST_AFTER_S),
            run_heartbeat_s=run_heartbeat_s,
            dead_after_s=max(_seconds(env, "BBOPS_DEAD_AFTER_S", defaults.DEAD_AFTER_S), 2 * run_heartbeat_s),
        )

    def secrets(self) -> dict[str, str]:
        """The bot's own secrets, for the redactor."""
        found = {
            "SLACK_SIGNING_SECRET": self.slack_signing_secret,
            "SLACK_BOT_TOKEN": self.slack_bot_token,
            "SLACK_APP_TOKEN": self.slack_app_token,
        }
        return {k: v for k, v in found.items() if v}


def _seconds(env: Mapping[str, str], name: str, default: float) -> float:
    """A positive number of seconds from ``env[name]``; the default (with a warning) otherwise."""
    raw = env.get(name)
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        log.warning("%s=%r is not a number of seconds; using %s", name, raw, default)
        return default
    return value if value > 0 else default
