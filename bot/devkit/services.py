"""Real services for the tests and the benches: a throw-away redis-server and a PostgreSQL server.

Never skip: when a service cannot be had, fail with what to install or start.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import psycopg


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_port(port: int, timeout_s: float = 15) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {timeout_s} s")


class RedisServer:
    """Our own redis-server on a free port, no persistence: a restart loses every key (as in prod)."""

    def __init__(self) -> None:
        exe = shutil.which("redis-server")
        if exe is None:
            raise RuntimeError("redis-server is not installed: `apt-get install redis-server` (make system-deps)")
        self.exe = exe
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="bbops-redis-")
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> "RedisServer":
        self.proc = subprocess.Popen(
            [self.exe, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", self.dir, "--daemonize", "no", "--loglevel", "warning"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _wait_port(self.port)
        return self

    def stop(self, kill: bool = False) -> None:
        if self.proc is not None:
            (self.proc.kill if kill else self.proc.terminate)()
            self.proc.wait(timeout=10)
            self.proc = None

    def restart(self, down_s: float = 0.0) -> None:
        self.stop(kill=True)
        time.sleep(down_s)
        self.start()

    def flush(self) -> None:
        import redis

        redis.Redis.from_url(self.url).flushall()


class PostgresServer:
    """A reachable PostgreSQL (127.0.0.1:5432, user postgres, or $BBOPS_TEST_PG_DSN), else a temporary
    cluster made with initdb/pg_ctl (as user postgres when we are root)."""

    def __init__(self) -> None:
        self.tmp: Path | None = None
        self.host, self.port = "127.0.0.1", 5432
        dsn = os.environ.get("BBOPS_TEST_PG_DSN", "host=127.0.0.1 port=5432 user=postgres dbname=postgres")
        try:
            psycopg.connect(dsn, connect_timeout=3).close()
            self.admin_dsn = dsn
            info = psycopg.conninfo.conninfo_to_dict(dsn)
            self.host, self.port = info.get("host", "127.0.0.1"), int(info.get("port", 5432))
        except psycopg.OperationalError as first:
            try:
                self._start_cluster()
            except Exception as exc:
                raise RuntimeError(f"no PostgreSQL for the tests: {dsn!r} is unreachable ({first}) and a "
                                   f"temporary cluster could not start: {exc}. Install PostgreSQL "
                                   "(make system-deps) or set BBOPS_TEST_PG_DSN.") from exc

    def _bin(self, name: str) -> str:
        found = shutil.which(name)
        if found:
            return found
        for base in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
            if (base / name).exists():
                return str(base / name)
        raise RuntimeError(f"{name} not found")

    def _as_postgres(self, argv: list[str]) -> list[str]:
        return ["runuser", "-u", "postgres", "--", *argv] if os.geteuid() == 0 else argv

    def _start_cluster(self) -> None:
        self.tmp = Path(tempfile.mkdtemp(prefix="bbops-pg-"))
        if os.geteuid() == 0:
            shutil.chown(self.tmp, "postgres")
        data = self.tmp / "data"
        self.port = free_port()
        subprocess.run(self._as_postgres([self._bin("initdb"), "-D", str(data), "-U", "postgres", "--auth=trust"]),
                       check=True, stdout=subprocess.DEVNULL)
        subprocess.run(self._as_postgres([self._bin("pg_ctl"), "-D", str(data), "-l", str(self.tmp / "log"), "-w",
                                          "-o", f"-p {self.port} -k {self.tmp} -h 127.0.0.1", "start"]),
                       check=True, stdout=subprocess.DEVNULL)
        self.admin_dsn = f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres"

    def stop(self) -> None:
        if self.tmp is not None:
            subprocess.run(self._as_postgres([self._bin("pg_ctl"), "-D", str(self.tmp / "data"), "-m", "fast",
                                              "stop"]), stdout=subprocess.DEVNULL)

    def scratch(self, prefix: str = "bbops"):
        from bot.devkit.reference_target import scratch_postgres_database

        return scratch_postgres_database(self.admin_dsn, prefix=prefix, host=self.host, port=self.port)
