"""The target's Alembic, run in the target's own Python as a subprocess (argument lists only).

The bot never imports the target's migration scripts (Alembic's ScriptDirectory would execute
them); `current`/`heads`/`upgrade`/`downgrade` run in ``backend.python`` in ``backend.dir``, with
the environment's ``app_env`` variables added, as the target's own deployment would have them.
"""

from __future__ import annotations

import configparser
import os
import re
import subprocess
from pathlib import Path

from bot.config import Environment
from bot.envfile import read_env_file
from bot.errors import ConfigError, SubprocessFailed
from bot.redaction import redact

REV_LINE = re.compile(r"^([0-9A-Za-z_]+)(?:\s+\((?:[^)]*)\))*\s*$")
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
        tail = "\n".join(proc.stdout.strip().splitlines()[-8:])
        raise SubprocessFailed(f"{what} exited with status {proc.returncode}:\n{redact(tail)}",
                               returncode=proc.returncode, output=proc.stdout)
    return proc.stdout


class TargetAlembic:
    def __init__(self, env: Environment) -> None:
        if env.backend is None:
            raise ConfigError(f"environments.{env.name}.backend is not configured; migrations need "
                              "backend.dir and backend.python")
        self.env = env
        self.backend = env.backend

    def run(self, *args: str, timeout_s: float | None = None) -> str:
        timeout = timeout_s if timeout_s is not None else max(60.0, self.env.timeouts.http_s * 12)
        return run_target(self.env, [self.backend.python, "-m", "alembic", *args], cwd=self.backend.dir,
                          timeout_s=timeout, what=f"alembic {' '.join(args)}")

    def current(self) -> list[str]:
        return parse_revisions(self.run("current"))

    def heads(self) -> list[str]:
        return parse_revisions(self.run("heads"))

    def versions_dir(self) -> Path:
        """The versions folder, read from alembic.ini's script_location (no target code runs)."""
        ini = self.backend.dir / "alembic.ini"
        parser = configparser.ConfigParser(defaults={"here": str(self.backend.dir)})
        try:
            parser.read(ini, encoding="utf-8")
            location = parser.get("alembic", "script_location")
        except (configparser.Error, OSError) as exc:
            raise ConfigError(f"{ini}: cannot read script_location ({exc})") from None
        if ":" in location and not Path(location).is_absolute() and not location.startswith("%"):
            raise ConfigError(f"{ini}: package-style script_location {location!r} is not supported")
        path = Path(location)
        if not path.is_absolute():
            path = self.backend.dir / path
        versions = path / "versions"
        if not versions.is_dir():
            raise ConfigError(f"{ini}: no versions folder at {versions}")
        return versions


def parse_revisions(output: str) -> list[str]:
    revs = []
    for line in output.splitlines():
        line = line.strip()
        if not line or line.startswith(("INFO", "WARNING", "WARN", "DEBUG")):
            continue
        m = REV_LINE.match(line)
        if m:
            revs.append(m.group(1))
    return revs
