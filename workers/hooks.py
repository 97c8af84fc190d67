"""The environment's hooks (release, restrict_writes, allow_writes): argument lists, no shell.

``{version}`` is substituted inside an argument and stays one argument, whatever it contains.
Hooks run in the target's repository root (the parent of ``backend.dir``).
"""

from __future__ import annotations

from pathlib import Path

from bot.config import Environment
from bot.errors import ConfigError
from workers.target_alembic import run_target


def hook_argv(template: list[str], **values: str) -> list[str]:
    out = []
    for arg in template:
        for key, value in values.items():
            arg = arg.replace("{" + key + "}", value)
        out.append(arg)
    return out


def run_hook(env: Environment, name: str, **values: str) -> str | None:
    """Run hook ``name``; None when it is not configured."""
    template = getattr(env.hooks, name)
    if template is None:
        return None
    cwd = env.backend.root if env.backend is not None else Path.cwd()
    if not cwd.is_dir():
        raise ConfigError(f"{env.name}: hook directory {cwd} does not exist")
    return run_target(env, hook_argv(template, **values), cwd=cwd, timeout_s=env.timeouts.hook_s, what=f"{name} hook")
