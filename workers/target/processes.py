"""Target subprocesses (Alembic, hooks): argument lists only, never a shell, with only the
environment's own variables (the bot's Slack tokens, database URL and Redis URL are left out).
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from bot.core.config import Environment
from bot.core.envfile import read_env_file
from bot.core.errors import SubprocessFailed
from bot.redaction import redact

#: variables of the bot itself that a target subprocess must not inherit
_BOT_ONLY = ("SLACK_", "BBOPS_", "REDIS_URL")


def target_environ(env: Environment, base: dict | None = None) -> dict[str, str]:
    base = dict(os.environ if base is None else base)
    out = {k: v for k, v in base.items() if not k.startswith(_BOT_ONLY)}
    if env.app_env.file:
        out.update({k: v for k, v in read_env_file(env.app_env.file).items() if v is not None})
    return out


def run_target(env: Environment, argv: list[str], *, cwd: Path, timeout_s: float, what: str) -> str:
    """Run ``argv`` (a list, never a shell); return its combined output (unredacted: callers redact
    before showing). Raises SubprocessFailed with a redacted message on failure or timeout."""
    try:
        proc = subprocess.run(argv, cwd=cwd, env=target_environ(env), stdin=subprocess.DEVNULL,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=timeout_s,
                              text=True, errors="replace")
    except subprocess.TimeoutExpired as exc:
        out = exc.stdout if isinstance(exc.stdout, str) else (exc.stdout or b"").decode("utf-8", "replace")
        raise SubprocessFailed(f"{what} did not finish within {timeout_s:g} s and was stopped", output=out) from None
    except FileNotFoundError:
        raise SubprocessFailed(f"{what}: program not found: {argv[0]} (check backend.python / hooks)") from None
    except OSError as exc:
        raise SubprocessFailed(f"{what}: could not start {argv[0]}: {exc.strerror}") from None
    if proc.returncode != 0:
        raise exit_error(what, proc.returncode, proc.stdout)
    return proc.stdout


def exit_error(what: str, returncode: int, output: str) -> SubprocessFailed:
    tail = "\n".join(output.strip().splitlines()[-8:])
    return SubprocessFailed(f"{what} exited with status {returncode}:\n{redact(tail)}", returncode=returncode,
                            output=output)
