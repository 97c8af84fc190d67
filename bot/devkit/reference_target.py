"""Launch the reference BudgetBuddy backend (examples/budgetbuddy/backend) for the demo
and the end-to-end tests.

    with ReferenceTarget(tmp_path) as target:          # SQLite file in tmp_path
        httpx.get(target.base_url + "/api/readyz")

The target runs as it would in a deployment: its own env vars (also written to
``workdir/.env`` in python-dotenv syntax, for the bot's ``app_env.file``), Alembic and
the admin commands run as subprocesses of the target's Python with argument lists (never
a shell), uvicorn as a subprocess logging to ``workdir/target.log``.

Only the standard library and httpx are imported at module level; psycopg is imported
inside ``scratch_postgres_database`` only.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator
from urllib.parse import quote

import httpx

REPO_ROOT = Path(__file__).resolve().parents[2]
BACKEND_DIR = REPO_ROOT / "examples" / "budgetbuddy" / "backend"

MEDIA_TYPE = "application/vnd.budgetbuddy.v1+json"
DEMO_SMOKE_PASSWORD = "Sm0ke@bb:/demo!#%&pw"

# Production-safe defaults, as the runbook wants them.
PRODUCTION_ENV: dict[str, str] = {
    "ENV": "production",
    "DEBUG": "false",
    "BUDGETBUDDY_CORS_ORIGINS": "https://app.budgetbuddy.example",
    "REFRESH_COOKIE_NAME": "bb_refresh",
    "REFRESH_COOKIE_PATH": "/api/auth",
    "REFRESH_COOKIE_SAMESITE": "lax",
    "REFRESH_COOKIE_SECURE": "true",
    "MIGRATIONS_STRICT": "true",
}

# Variables the target reads: stripped from the inherited environment so a target's
# behaviour depends on its own env only, never on the caller's shell.
TARGET_KEYS = frozenset(
    {
        "DATABASE_URL",
        "JWT_SECRET",
        "ENV",
        "APP_ENV",
        "DEBUG",
        "BUDGETBUDDY_CORS_ORIGINS",
        "REFRESH_COOKIE_NAME",
        "REFRESH_COOKIE_PATH",
        "REFRESH_COOKIE_SAMESITE",
        "REFRESH_COOKIE_SECURE",
        "MIGRATIONS_STRICT",
    }
)


class TargetCommandError(RuntimeError):
    """A target subprocess (alembic, manage) failed; ``result`` has its output."""

    def __init__(self, message: str, result: subprocess.CompletedProcess):
        super().__init__(message)
        self.result = result


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def dotenv_quote(value: str) -> str:
    """Quote a value so python-dotenv reads it back exactly (single quotes: only ``\\``
    and ``'`` are escapes there). python-dotenv expands ``${NAME}`` in every kind of
    value, so such values cannot be written faithfully and are refused."""
    if "${" in value:
        raise ValueError("python-dotenv would expand '${' in this value; refusing to write it")
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _tail(path: Path, lines: int = 40) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:])


@dataclass
class ReferenceTarget:
    workdir: Path
    database_url: str | None = None  # default: sqlite file in workdir
    python: str = sys.executable  # the target's own interpreter
    smoke_user: str = "smoke@budgetbuddy.test"
    smoke_password: str = DEMO_SMOKE_PASSWORD
    # Added to (and overriding) the production defaults; a value of None removes the key.
    env_overrides: dict[str, str | None] = field(default_factory=dict)
    jwt_secret: str = field(default_factory=lambda: secrets.token_urlsafe(48))
    port: int | None = None  # free port chosen at start when None (kept across restarts)
    backend_root: Path | None = None  # default BACKEND_DIR; see isolate_backend()
    command_timeout_s: float = 120.0

    _proc: subprocess.Popen | None = field(default=None, init=False, repr=False)
    _log_handle: object = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        self.workdir = Path(self.workdir).resolve()
        self.workdir.mkdir(parents=True, exist_ok=True)

    # ---- paths and env ------------------------------------------------------------------

    @property
    def backend_dir(self) -> Path:
        return Path(self.backend_root) if self.backend_root else BACKEND_DIR

    @property
    def env_file(self) -> Path:
        return self.workdir / ".env"

    @property
    def log_path(self) -> Path:
        return self.workdir / "target.log"

    @property
    def sqlite_path(self) -> Path:
        return self.workdir / "budgetbuddy.sqlite3"

    @property
    def base_url(self) -> str:
        if self.port is None:
            raise RuntimeError("no port yet: start() the target first (or pass port=...)")
        return f"http://127.0.0.1:{self.port}"

    def url(self, path: str) -> str:
        return self.base_url + path

    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.sqlite_path}"

    def env(self) -> dict[str, str]:
        """The target's own environment variables (what goes into .env)."""
        values: dict[str, str | None] = {
            "DATABASE_URL": self.effective_database_url,
            "JWT_SECRET": self.jwt_secret,
            **PRODUCTION_ENV,
        }
        values.update(self.env_overrides)
        return {k: v for k, v in values.items() if v is not None}

    def process_env(self) -> dict[str, str]:
        """os.environ without the target's own keys (and BUDGETBUDDY_*), plus env()."""
        base = {
            k: v
            for k, v in os.environ.items()
            if k not in TARGET_KEYS and not k.startswith("BUDGETBUDDY_")
        }
        base.update(self.env())
        return base

    def write_env_file(self) -> Path:
        lines = ["# BudgetBuddy reference target: written by bot/reference_target.py"]
        lines += [f"{key}={dotenv_quote(value)}" for key, value in sorted(self.env().items())]
        self.env_file.write_text("\n".join(lines) + "\n")
        os.chmod(self.env_file, 0o600)
        return self.env_file

    def isolate_backend(self) -> Path:
        """Copy the backend into workdir/backend and use the copy from now on, so a test
        can add or edit migration files without touching the repository."""
        dest = self.workdir / "backend"
        if not dest.exists():
            shutil.copytree(
                BACKEND_DIR, dest, ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
            )
        self.backend_root = dest
        return dest

    # ---- subprocesses -------------------------------------------------------------------

    def run(
        self, args: list[str], *, check: bool = True, extra_env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess:
        """Run the target's Python with an argument list in backend_dir (never a shell)."""
        env = self.process_env()
        env.update(extra_env or {})
        result = subprocess.run(
            [self.python, *args],
            cwd=self.backend_dir,
            env=env,
            capture_output=True,
            text=True,
            timeout=self.command_timeout_s,
        )
        if check and result.returncode != 0:
            output = (result.stdout + result.stderr).strip().splitlines()[-30:]
            raise TargetCommandError(
                f"{' '.join(args[:4])} failed with exit status {result.returncode}:\n"
                + "\n".join(output),
                result,
            )
        return result

    def alembic(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return self.run(["-m", "alembic", *args], check=check)

    def migrate(self, revision: str = "head") -> subprocess.CompletedProcess:
        return self.alembic("upgrade", revision)

    def current_revision(self) -> str | None:
        out = self.alembic("current").stdout.split()
        return out[0] if out else None

    def create_user(
        self, username: str | None = None, password: str | None = None
    ) -> subprocess.CompletedProcess:
        """Create (or reset the password of) the smoke user; the password travels in the
        environment, not on the command line."""
        return self.run(
            ["-m", "budgetbuddy.manage", "create-user", username or self.smoke_user],
            extra_env={"BUDGETBUDDY_USER_PASSWORD": password or self.smoke_password},
        )

    def seed(self) -> subprocess.CompletedProcess:
        return self.run(["-m", "budgetbuddy.manage", "seed"])

    # ---- server -------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def log_tail(self, lines: int = 40) -> str:
        return _tail(self.log_path, lines)

    def start(self, migrate: bool = True, timeout_s: float = 20) -> "ReferenceTarget":
        if self.running:
            raise RuntimeError(f"target already running (pid {self.pid})")
        self.write_env_file()
        if migrate:
            self.migrate()
            self.create_user()
        if self.port is None:
            self.port = free_port()
        log = open(self.log_path, "ab")
        log.write(f"--- starting target on port {self.port} ---\n".encode())
        log.flush()
        self._log_handle = log
        self._proc = subprocess.Popen(
            [
                self.python, "-m", "uvicorn", "budgetbuddy.main:app",
                "--host", "127.0.0.1", "--port", str(self.port),
            ],
            cwd=self.backend_dir,
            env=self.process_env(),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout_s
        with httpx.Client(trust_env=False, timeout=1.0) as client:
            while True:
                if self._proc.poll() is not None:
                    code = self._proc.returncode
                    self._cleanup()
                    raise RuntimeError(
                        f"BudgetBuddy target exited with status {code} during startup; "
                        f"tail of {self.log_path}:\n{self.log_tail()}"
                    )
                try:
                    client.get(self.url("/api/healthz"))
                    time.sleep(0.05)
                    if self._proc.poll() is None:  # the answer was ours, not a squatter's
                        return self
                    continue
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(
                        f"BudgetBuddy target did not answer /api/healthz within {timeout_s}s; "
                        f"tail of {self.log_path}:\n{self.log_tail()}"
                    )
                time.sleep(0.1)

    def stop(self, timeout_s: float = 10) -> None:
        proc = self._proc
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=timeout_s)
        self._cleanup()

    def _cleanup(self) -> None:
        self._proc = None
        if self._log_handle is not None:
            self._log_handle.close()
            self._log_handle = None

    def restart(self, **env_overrides: str | None) -> "ReferenceTarget":
        """Stop, apply env overrides (None removes a key), start again without migrating."""
        self.stop()
        self.env_overrides.update(env_overrides)
        return self.start(migrate=False)

    def __enter__(self) -> "ReferenceTarget":
        if not self.running:
            self.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()

    # ---- convenience for probes in tests and the demo -----------------------------------

    def login(
        self, username: str | None = None, password: str | None = None, **kwargs
    ) -> httpx.Response:
        return httpx.post(
            self.url("/api/auth/login"),
            json={
                "username": username or self.smoke_user,
                "password": password if password is not None else self.smoke_password,
            },
            headers={"content-type": MEDIA_TYPE, "accept": MEDIA_TYPE},
            trust_env=False,
            timeout=kwargs.pop("timeout", 10),
            **kwargs,
        )


@contextmanager
def scratch_postgres_database(
    admin_dsn: str = "host=127.0.0.1 port=5432 user=postgres dbname=postgres",
    prefix: str = "bbtest",
    host: str = "127.0.0.1",
    port: int = 5432,
) -> Iterator[str]:
    """Create a uniquely named role (with a password full of URL-special characters) and a
    database it owns; yield its ``postgresql+psycopg://`` URL; drop both afterwards.

    Raises RuntimeError with a clear message when the server is unreachable."""
    import psycopg  # only here: the launcher module itself needs stdlib + httpx only
    from psycopg import sql

    suffix = secrets.token_hex(4)
    role, dbname = f"{prefix}_u_{suffix}", f"{prefix}_db_{suffix}"
    password = f"p@ss:w/rd!#%&?={secrets.token_hex(6)}"
    try:
        admin = psycopg.connect(admin_dsn, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        raise RuntimeError(
            f"PostgreSQL is not reachable at {admin_dsn!r}: {exc}".strip()
        ) from exc
    try:
        admin.execute(
            sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
                sql.Identifier(role), sql.Literal(password)
            )
        )
        admin.execute(
            sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(dbname), sql.Identifier(role))
        )
        url = f"postgresql+psycopg://{role}:{quote(password, safe='')}@{host}:{port}/{dbname}"
        yield url
    finally:
        try:
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(dbname))
            )
            admin.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))
        finally:
            admin.close()
