"""Process settings read from environment variables (DESIGN.md, "Environment variables")."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

DEFAULT_DATABASE_URL = "sqlite:///var/bbops.sqlite3"
DEFAULT_CONFIG_PATH = "config/environments.yaml"
SLACK_DEFAULT_API_URL = "https://slack.com/api/"


@dataclass(frozen=True)
class Settings:
    slack_signing_secret: str = ""
    slack_bot_token: str = ""
    slack_app_token: str = ""
    slack_api_url: str = SLACK_DEFAULT_API_URL
    redis_url: str | None = None
    database_url: str = DEFAULT_DATABASE_URL
    config_path: Path = Path(DEFAULT_CONFIG_PATH)
    host: str = "0.0.0.0"
    port: int = 3000

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> "Settings":
        env = os.environ if environ is None else environ
        api_url = env.get("SLACK_API_URL") or SLACK_DEFAULT_API_URL
        if not api_url.endswith("/"):
            api_url += "/"
        port_text = env.get("PORT") or "3000"
        try:
            port = int(port_text)
        except ValueError:
            from bot.core.errors import ConfigError

            raise ConfigError(f"PORT must be a number, got {port_text!r}") from None
        return cls(
            slack_signing_secret=env.get("SLACK_SIGNING_SECRET", ""),
            slack_bot_token=env.get("SLACK_BOT_TOKEN", ""),
            slack_app_token=env.get("SLACK_APP_TOKEN", ""),
            slack_api_url=api_url,
            redis_url=env.get("REDIS_URL") or None,
            database_url=env.get("BBOPS_DATABASE_URL") or DEFAULT_DATABASE_URL,
            config_path=Path(env.get("BBOPS_CONFIG") or DEFAULT_CONFIG_PATH),
            host=env.get("HOST") or "0.0.0.0",
            port=port,
        )

    def secrets(self) -> dict[str, str]:
        """The bot's own secrets, for the redactor."""
        found = {
            "SLACK_SIGNING_SECRET": self.slack_signing_secret,
            "SLACK_BOT_TOKEN": self.slack_bot_token,
            "SLACK_APP_TOKEN": self.slack_app_token,
        }
        return {k: v for k, v in found.items() if v}
