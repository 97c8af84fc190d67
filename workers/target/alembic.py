"""The target's Alembic, run in the target's own Python as a subprocess (argument lists only).

The bot never imports the target's migration scripts (Alembic's ScriptDirectory would execute
them); `current`/`heads`/`upgrade`/`downgrade` run in ``backend.python`` in ``backend.dir``, with
the environment's ``app_env`` variables added, as the target's own deployment would have them.
"""

from __future__ import annotations

import configparser
import re
import subprocess
from pathlib import Path

from bot.core.config import Environment
from bot.core.errors import ConfigError, SubprocessFailed
from workers.target.processes import exit_error, run_target, target_environ

REV_LINE = re.compile(r"^([0-9A-Za-z_]+)(?:\s+\((?:[^)]*)\))*\s*$")
#: Run by the target's Python for :class:`CurrentOnCue`: import Alembic (with SQLAlchemy: most of the
#: cost of a start) at once, then wait; run `alembic current` only when the bot writes "current" on
#: stdin. Anything else (end of input: the upgrade failed, the bot went away) ends it without touching
#: the database. A fixed text; nothing in it or in the argument list comes from chat.
_CURRENT_ON_CUE = (
    "import sys\n"
    "import alembic.config\n"
    "if sys.stdin.readline().strip() != 'current':\n"
    "    sys.exit(0)\n"
    "alembic.config.main(argv=['current'], prog='alembic')\n"
)


class CurrentOnCue:
    """`alembic current`, its Python started ahead (while the upgrade runs) and asked afterwards.

    The upgrade itself stays `python -m alembic upgrade head`, one process as a person would run it;
    the check after it used to pay a whole second start, most of it importing Alembic and
    SQLAlchemy. Here that start overlaps the upgrade, and :meth:`current` only sends the
    cue: the revision is read from the database after the upgrade has exited. Same output, exit
    status, timeout and errors as :meth:`TargetAlembic.current`; if the Python cannot be started
    ahead, :meth:`current` falls back to it. Always :meth:`close` (a context manager)."""

    def __init__(self, alembic: "TargetAlembic") -> None:
        self._alembic = alembic
        try:
            self._proc: subprocess.Popen | None = subprocess.Popen(
                [alembic.backend.python, "-c", _CURRENT_ON_CUE], cwd=alembic.backend.dir,
                env=target_environ(alembic.env), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT, text=True, errors="replace")
        except OSError:
            self._proc = None       # asked later, the plain `alembic current` says what is wrong

    def current(self) -> list[str]:
        proc, self._proc = self._proc, None
        if proc is None:
            return self._alembic.current()
        timeout = self._alembic.default_timeout()
        try:
            out, _ = proc.communicate("current\n", timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, _ = proc.communicate()
            raise SubprocessFailed(f"alembic current did not finish within {timeout:g} s and was stopped",
                                   output=out or "") from None
        if proc.returncode != 0:
            raise exit_error("alembic current", proc.returncode, out)
        return parse_revisions(out)

    def close(self) -> None:
        """Not asked (the upgrade failed): stop it. Before the cue it has not touched the database."""
        proc, self._proc = self._proc, None
        if proc is not None:
            proc.kill()
            proc.communicate()

    def __enter__(self) -> "CurrentOnCue":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class TargetAlembic:
    def __init__(self, env: Environment) -> None:
        if env.backend is None:
            raise ConfigError(f"environments.{env.name}.backend is not configured; migrations need "
                              "backend.dir and backend.python")
        self.env = env
        self.backend = env.backend

    def default_timeout(self) -> float:
        return max(60.0, self.env.timeouts.http_s * 12)

    def run(self, *args: str, timeout_s: float | None = None) -> str:
        timeout = timeout_s if timeout_s is not None else self.default_timeout()
        return run_target(self.env, [self.backend.python, "-m", "alembic", *args], cwd=self.backend.dir,
                          timeout_s=timeout, what=f"alembic {' '.join(args)}")

    def current(self) -> list[str]:
        return parse_revisions(self.run("current"))

    def heads(self) -> list[str]:
        return parse_revisions(self.run("heads"))

    def current_on_cue(self) -> CurrentOnCue:
        """`alembic current` started now and asked later (see :class:`CurrentOnCue`)."""
        return CurrentOnCue(self)

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
