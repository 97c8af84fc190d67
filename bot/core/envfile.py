"""Env files read exactly as python-dotenv reads them (comments, `export`, quotes, `#` in quotes)."""

from __future__ import annotations

from pathlib import Path

from bot.core.errors import ConfigError


def read_env_file(path: Path | str) -> dict[str, str | None]:
    from dotenv import dotenv_values

    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: env file not found (app_env.file)")
    return dict(dotenv_values(path))
