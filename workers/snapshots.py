"""Verified snapshots of the target database, taken before every migration.

PostgreSQL: ``pg_dump -Fc`` into the environment's snapshot directory; verified by a *full read*
of the archive (``pg_restore --file=/dev/null`` reads every data block: a truncated dump fails,
where ``pg_restore --list`` alone would pass) and by its SHA-256. SQLite (the demo): a copy made
with SQLite's online backup API, verified by ``PRAGMA integrity_check``. Name, revision, size,
SHA-256, time and verified state are recorded in the bot database; retention keeps the newest
``snapshots.keep`` per environment.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import subprocess
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from sqlalchemy.engine import make_url

from bot.config import Environment
from bot.errors import ConfigError, SubprocessFailed
from workers.target_alembic import target_environ


@dataclass(frozen=True)
class TargetDB:
    kind: str                 # "postgresql" | "sqlite"
    url: str                  # as in the target's env file
    host: str | None = None
    port: int | None = None
    user: str | None = None
    password: str | None = None
    database: str | None = None

    def pg_args(self) -> list[str]:
        args = []
        if self.host:
            args += ["--host", self.host]
        if self.port:
            args += ["--port", str(self.port)]
        if self.user:
            args += ["--username", self.user]
        return args

    def pg_env(self, env: Environment) -> dict[str, str]:
        out = target_environ(env)
        if self.password:
            out["PGPASSWORD"] = self.password
        out.pop("DATABASE_URL", None)
        return out


def target_db(env: Environment) -> TargetDB:
    values = target_environ(env, base={})
    url = values.get("DATABASE_URL")
    if not url:
        raise ConfigError(f"{env.name}: DATABASE_URL is not in app_env.file; snapshots need it")
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "postgresql":
        return TargetDB("postgresql", url, parsed.host, parsed.port, parsed.username, parsed.password, parsed.database)
    if backend == "sqlite":
        path = Path(parsed.database or "")
        if not path.is_absolute() and env.backend is not None:
            path = env.backend.dir / path
        return TargetDB("sqlite", url, database=str(path))
    raise ConfigError(f"{env.name}: snapshots support PostgreSQL and SQLite, not {backend}")


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def snapshot_dir(env: Environment) -> Path:
    if env.snapshots is None:
        raise ConfigError(f"environments.{env.name}.snapshots is not configured; a migration needs a snapshot "
                          "directory (snapshots: {dir: ..., keep: 10})")
    path = env.snapshots.dir
    path.mkdir(parents=True, exist_ok=True)
    return path


def new_name(env: Environment, revision: str | None) -> str:
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
    return f"{env.name}-{stamp}-{revision or 'base'}"


def dump(env: Environment, db: TargetDB, path: Path) -> None:
    timeout = env.timeouts.snapshot_s
    if db.kind == "postgresql":
        run_pg(env, db, ["pg_dump", "--format=custom", "--no-owner", "--file", str(path), *db.pg_args(),
                         "--dbname", db.database or ""], timeout, "pg_dump")
        return
    src = sqlite3.connect(f"file:{db.database}?mode=ro", uri=True, timeout=timeout)
    try:
        dst = sqlite3.connect(path)
        try:
            src.backup(dst)
        finally:
            dst.close()
    finally:
        src.close()


def verify(env: Environment, db: TargetDB, path: Path, expected_sha256: str | None = None) -> tuple[bool, str]:
    """(verified, detail): a full read of the archive, and its checksum."""
    if not path.is_file() or path.stat().st_size == 0:
        return False, "snapshot file is missing or empty"
    if expected_sha256 and sha256_of(path) != expected_sha256:
        return False, "checksum mismatch: the file changed since it was taken"
    if db.kind == "postgresql":
        try:
            run_pg(env, db, ["pg_restore", "--file", os.devnull, str(path)], env.timeouts.snapshot_s, "pg_restore (verify)")
        except SubprocessFailed as exc:
            return False, f"full read of the archive failed: {str(exc).splitlines()[-1][:200]}"
        return True, "full read of the archive succeeded (pg_restore to /dev/null)"
    try:
        con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            result = con.execute("PRAGMA integrity_check").fetchone()[0]
        finally:
            con.close()
    except sqlite3.DatabaseError as exc:
        return False, f"not a readable SQLite database: {exc}"
    return (result == "ok"), f"integrity_check: {result}"


def run_pg(env: Environment, db: TargetDB, argv: list[str], timeout_s: float, what: str) -> str:
    try:
        proc = subprocess.run(argv, env=db.pg_env(env), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, timeout=timeout_s, text=True, errors="replace")
    except subprocess.TimeoutExpired:
        raise SubprocessFailed(f"{what} did not finish within {timeout_s:g} s") from None
    except FileNotFoundError:
        raise SubprocessFailed(f"{what}: {argv[0]} is not installed (PostgreSQL client tools)") from None
    if proc.returncode != 0:
        from bot.redaction import redact

        raise SubprocessFailed(f"{what} exited with status {proc.returncode}:\n{redact(proc.stdout.strip()[-800:])}",
                               returncode=proc.returncode, output=proc.stdout)
    return proc.stdout


def take(rt, env: Environment, run_id: int, revision: str | None):
    """Take and verify a snapshot; returns the stored Snapshot row (verified or not)."""
    db = target_db(env)
    directory = snapshot_dir(env)
    name = new_name(env, revision)
    path = directory / (name + (".dump" if db.kind == "postgresql" else ".sqlite3"))
    dump(env, db, path)
    digest = sha256_of(path)
    ok, detail = verify(env, db, path)
    snap = rt.store.add_snapshot(name=name, env=env.name, run_id=run_id, revision=revision, path=str(path),
                                 size_bytes=path.stat().st_size, sha256=digest, verified=ok, verify_detail=detail)
    prune(rt, env)
    return snap


def prune(rt, env: Environment) -> list[str]:
    """Keep the newest ``snapshots.keep`` verified snapshots; drop older files and rows."""
    keep = env.snapshots.keep if env.snapshots else 10
    removed = []
    for snap in rt.store.snapshots(env.name)[keep:]:
        try:
            Path(snap.path).unlink(missing_ok=True)
        except OSError:
            continue
        rt.store.delete_snapshot(snap.name)
        removed.append(snap.name)
    return removed

