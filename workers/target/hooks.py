"""The environment's hooks (release, restrict_writes, allow_writes): argument lists, no shell.

``{version}`` is substituted inside an argument and stays one argument, whatever it contains.
Hooks run in the target's repository root (the parent of ``backend.dir``).
"""

from __future__ import annotations

import re
from pathlib import Path

from bot.core.config import Environment
from bot.core.errors import ConfigError
from workers.target.processes import run_target

PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")


def hook_argv(template: list[str], **values: str) -> list[str]:
    """The hook's argument list with ``{name}`` placeholders filled in, in one pass: a value is
    never re-read for placeholders, never split, never quoted for a shell (there is none), and
    stays inside the one argument its placeholder was in. Unknown placeholders stay as written."""
    def fill(match: re.Match) -> str:
        value = values.get(match.group(1))
        return match.group(0) if value is None else str(value)

    return [PLACEHOLDER.sub(fill, arg) for arg in template]


def run_hook(env: Environment, name: str, **values: str) -> str | None:
    """Run hook ``name``; None when it is not configured."""
    template = getattr(env.hooks, name)
    if template is None:
        return None
    cwd = env.backend.root if env.backend is not None else Path.cwd()
    if not cwd.is_dir():
        raise ConfigError(f"{env.name}: hook directory {cwd} does not exist")
    return run_target(env, hook_argv(template, **values), cwd=cwd, timeout_s=env.timeouts.hook_s, what=f"{name} hook")
