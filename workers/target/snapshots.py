"""Verified snapshots of the target database, and restoring one into a fresh database.

Taking (before every migration):

* PostgreSQL: ``pg_dump -Fc`` writes to a pipe; the bot passes each chunk on to the file in the
  environment's snapshot directory, into a SHA-256 and into ``pg_restore --file=/dev/null`` reading
  the archive from its stdin: a *full read* while the dump is written (it decompresses every data
  block: a truncated dump fails, where ``pg_restore --list`` alone reads only the table of contents
  and passes). Both must exit 0, pg_restore must have taken the whole stream, and the file, read
  back, must have the size and SHA-256 of what was streamed. (An archive written to a pipe carries
  no data offsets in its table of contents; pg_restore reads it all the same, scanning for blocks.)
  :func:`verify` (a full read of an existing file, and its checksum) is what a restore runs again.
* SQLite (the demo): a copy made with SQLite's online backup API, verified by
  ``PRAGMA integrity_check``.

Name, revision (the revision the database was at when the snapshot was taken), size, SHA-256,
time and verified state are recorded in the bot database. Retention keeps the newest
``snapshots.keep`` *verified* snapshots per environment, plus the newest one when it failed
verification (the evidence of the last failed attempt, until a good snapshot follows).

Restoring (``/bb restore``, ``/bb rollback`` by restore) never writes into the live database:

1. :func:`restore_fresh` restores the archive into a *new* database
   (``pg_restore --single-transaction --exit-on-error --no-owner``) and checks its
   ``alembic_version``; on failure the new database is dropped and the live one was never touched;
2. :func:`swap_in` puts it in place: the live database stops taking connections, its sessions are
   terminated, it is renamed ``<db>_pre_restore_<stamp>`` (kept for the operator), and the new one
   is renamed to ``<db>``, retrying while the app reconnects. When a rename fails the original is
   put back under its own name.

On PostgreSQL the target's role must own its database and have ``CREATEDB`` (to create the fresh
database and rename both); :func:`restore_problems` says so before anything starts
(docs/OPERATIONS.md). SQLite targets swap files the same way.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sqlite3
import subprocess
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from sqlalchemy.engine import make_url

from bot.core.config import Environment
from bot.core.errors import ConfigError, RestoreFailed, SubprocessFailed
from bot.redaction import redact
from workers.target.processes import target_environ

PG_NAME_MAX = 63              # PostgreSQL identifiers: at most 63 bytes
SWAP_ATTEMPTS = 20            # terminate + rename, while the app keeps reconnecting
MAINTENANCE_DBS = ("postgres", "template1")


@dataclass(frozen=True)
class TargetDB:
    kind: str                 # "postgresql" | "sqlite"
    url: str                  # as in the target's env file
    host: str | None = None
    port: int | None = None
    user: str | None = None
    password: str | None = None
    database: str | None = None
    query: tuple = ()         # libpq options from the URL (sslmode, ...)

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
        for key, value in self.query:
            if key == "sslmode":
                out["PGSSLMODE"] = value
        out.pop("DATABASE_URL", None)
        return out

    def connect(self, dbname: str | None = None, timeout_s: float = 10):
        """A psycopg connection (autocommit) as the target's own role."""
        import psycopg

        kwargs = {k: v for k, v in self.query if k in ("sslmode", "sslrootcert", "sslcert", "sslkey")}
        return psycopg.connect(host=self.host, port=self.port, user=self.user, password=self.password,
                               dbname=dbname or self.database, autocommit=True,
                               connect_timeout=max(2, int(timeout_s)), **kwargs)


def target_db(env: Environment) -> TargetDB:
    values = target_environ(env, base={})
    url = values.get("DATABASE_URL")
    if not url:
        raise ConfigError(f"{env.name}: DATABASE_URL is not in app_env.file; snapshots need it")
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "postgresql":
        query = tuple(sorted((k, v if isinstance(v, str) else v[-1]) for k, v in parsed.query.items()))
        return TargetDB("postgresql", url, parsed.host, parsed.port, parsed.username, parsed.password,
                        parsed.database, query)
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


def _stamp(fmt: str = "%Y%m%dT%H%M%S%fZ") -> str:
    return datetime.now(timezone.utc).strftime(fmt)


def new_name(env: Environment, revision: str | None) -> str:
    return f"{env.name}-{_stamp()}-{revision or 'base'}"


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


def _full_read(env: Environment, db: TargetDB, path: Path) -> tuple[bool, str]:
    if db.kind == "postgresql":
        try:
            run_pg(env, db, ["pg_restore", "--file", os.devnull, str(path)], env.timeouts.snapshot_s,
                   "pg_restore (verify)")
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


def verify_with_digest(env: Environment, db: TargetDB, path: Path,
                       expected_sha256: str | None = None) -> tuple[bool, str, str]:
    """(verified, detail, sha256): the checksum and a full read of the archive, side by side."""
    if not path.is_file() or path.stat().st_size == 0:
        return False, "snapshot file is missing or empty", ""
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="sha256") as pool:
        digest_future = pool.submit(sha256_of, path)
        ok, detail = _full_read(env, db, path)
        digest = digest_future.result()
    if expected_sha256 and digest != expected_sha256:
        return False, "checksum mismatch: the file changed since it was taken", digest
    return ok, detail, digest


def verify(env: Environment, db: TargetDB, path: Path, expected_sha256: str | None = None) -> tuple[bool, str]:
    """(verified, detail): a full read of the archive, and its checksum when one is expected."""
    ok, detail, _ = verify_with_digest(env, db, path, expected_sha256)
    return ok, detail


def run_pg(env: Environment, db: TargetDB, argv: list[str], timeout_s: float, what: str) -> str:
    try:
        proc = subprocess.run(argv, env=db.pg_env(env), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, timeout=timeout_s, text=True, errors="replace")
    except subprocess.TimeoutExpired:
        raise SubprocessFailed(f"{what} did not finish within {timeout_s:g} s") from None
    except FileNotFoundError:
        raise SubprocessFailed(f"{what}: {argv[0]} is not installed (PostgreSQL client tools)") from None
    if proc.returncode != 0:
        raise SubprocessFailed(f"{what} exited with status {proc.returncode}:\n{redact(proc.stdout.strip()[-800:])}",
                               returncode=proc.returncode, output=proc.stdout)
    return proc.stdout


STREAM_CHUNK = 1 << 20


def _last_line(raw: bytes) -> str:
    lines = [line for line in redact(raw.decode("utf-8", "replace")).splitlines() if line.strip()]
    return lines[-1][:200] if lines else ""


def dump_and_read(env: Environment, db: TargetDB, path: Path) -> tuple[bool, str, str]:
    """PostgreSQL: ``pg_dump -Fc`` to a pipe, each chunk written to ``path``, into a SHA-256 and into
    the stdin of ``pg_restore --file /dev/null`` (a full read of the archive while it is written).
    Returns (verified, detail, sha256) like :func:`verify_with_digest`. Raises SubprocessFailed when
    pg_dump fails or ``timeouts.snapshot_s`` passes (both processes are then stopped); the caller
    removes the file."""
    timeout = env.timeouts.snapshot_s
    environ = db.pg_env(env)
    dump_argv = ["pg_dump", "--format=custom", "--no-owner", *db.pg_args(), "--dbname", db.database or ""]
    read_argv = ["pg_restore", "--format=custom", "--file", os.devnull]     # no file: the archive from stdin
    digest, streamed = hashlib.sha256(), 0
    expired = threading.Event()
    with tempfile.TemporaryFile() as dump_err, tempfile.TemporaryFile() as read_err:
        reader = dumper = None
        unreadable = ""           # why there is no full read at all
        try:
            try:
                reader = subprocess.Popen(read_argv, env=environ, stdin=subprocess.PIPE,
                                          stdout=subprocess.DEVNULL, stderr=read_err)
            except OSError as exc:
                unreadable = ("pg_restore (verify): pg_restore is not installed (PostgreSQL client tools)"
                              if isinstance(exc, FileNotFoundError) else f"pg_restore (verify): {exc.strerror}")
            try:
                dumper = subprocess.Popen(dump_argv, env=environ, stdin=subprocess.DEVNULL,
                                          stdout=subprocess.PIPE, stderr=dump_err, bufsize=0)
            except FileNotFoundError:
                raise SubprocessFailed("pg_dump: pg_dump is not installed (PostgreSQL client tools)") from None

            def running() -> list[subprocess.Popen]:
                return [proc for proc in (dumper, reader) if proc is not None and proc.poll() is None]

            def stop_both() -> None:
                for proc in running():
                    proc.kill()

            def expire() -> None:
                if running():          # flagged before the kill, so the wait below sees why they ended
                    expired.set()
                    stop_both()

            watchdog = threading.Timer(timeout, expire)
            watchdog.daemon = True
            watchdog.start()
            try:
                feeding, cut_short = reader is not None, False
                try:
                    with open(path, "wb") as out:
                        while chunk := dumper.stdout.read(STREAM_CHUNK):
                            out.write(chunk)
                            digest.update(chunk)
                            streamed += len(chunk)
                            if feeding:
                                try:
                                    reader.stdin.write(chunk)
                                except BrokenPipeError:
                                    feeding, cut_short = False, True     # pg_restore stopped reading
                        out.flush()
                        os.fsync(out.fileno())      # as pg_dump --file does: on disk before we rely on it
                except OSError as exc:
                    stop_both()
                    raise SubprocessFailed(f"writing the snapshot file failed: {exc.strerror}") from None
                if reader is not None:
                    try:
                        reader.stdin.close()
                    except BrokenPipeError:
                        cut_short = True
                dump_rc = dumper.wait()
                read_rc = reader.wait() if reader is not None else None
            finally:
                watchdog.cancel()
        finally:
            for proc in (dumper, reader):
                if proc is not None and proc.poll() is None:
                    proc.kill()
                    proc.wait()
        if expired.is_set():
            raise SubprocessFailed(f"pg_dump did not finish within {timeout:g} s")
        if dump_rc != 0:
            dump_err.seek(0)
            said = dump_err.read().decode("utf-8", "replace")
            raise SubprocessFailed(f"pg_dump exited with status {dump_rc}:\n{redact(said.strip()[-800:])}",
                                   returncode=dump_rc, output=said)
        read_err.seek(0)
        read_said = _last_line(read_err.read())
    sha = digest.hexdigest()
    if reader is None:
        return False, f"full read of the archive failed: {unreadable}", sha
    if read_rc != 0:
        return False, f"full read of the archive failed: {read_said or f'pg_restore exited with status {read_rc}'}", sha
    if cut_short:
        return False, "full read of the archive failed: pg_restore stopped reading before the end of the archive", sha
    # what is on disk is exactly what pg_restore read: same size, same SHA-256 (read back)
    if not path.is_file() or path.stat().st_size != streamed or streamed == 0:
        return False, "snapshot file does not have the size of the archive that was read", sha
    if sha256_of(path) != sha:
        return False, "checksum mismatch: the file differs from the archive that was read", sha
    return True, "full read of the archive succeeded (pg_restore to /dev/null while pg_dump wrote it); " \
                 "file size and sha256 match", sha


def take(rt, env: Environment, run_id: int, revision: str | None):
    """Take and verify a snapshot; returns the stored Snapshot row (verified or not)."""
    db = target_db(env)
    directory = snapshot_dir(env)
    name = new_name(env, revision)
    path = directory / (name + (".dump" if db.kind == "postgresql" else ".sqlite3"))
    try:
        if db.kind == "postgresql":
            ok, detail, digest = dump_and_read(env, db, path)
        else:
            dump(env, db, path)
    except BaseException:
        path.unlink(missing_ok=True)   # a half-written archive is no snapshot
        raise
    if db.kind != "postgresql":
        ok, detail, digest = verify_with_digest(env, db, path)
    snap = rt.store.add_snapshot(name=name, env=env.name, run_id=run_id, revision=revision, path=str(path),
                                 size_bytes=path.stat().st_size if path.exists() else 0, sha256=digest,
                                 verified=ok, verify_detail=detail)
    prune(rt, env)
    return snap


def prune(rt, env: Environment) -> list[str]:
    """Keep the newest ``snapshots.keep`` verified snapshots, and the newest snapshot even when it
    failed verification (the evidence of the last attempt); drop the files and rows of the rest.
    Returns the names removed."""
    keep = env.snapshots.keep if env.snapshots else 10
    snaps = rt.store.snapshots(env.name)          # newest first
    kept = {s.id for s in [s for s in snaps if s.verified][:keep]}
    newest_kept = max(kept, default=0)
    if snaps and not snaps[0].verified and snaps[0].id > newest_kept:
        kept.add(snaps[0].id)   # the latest attempt failed verification: keep it visible until a good one follows
    removed = []
    for snap in snaps:
        if snap.id in kept:
            continue
        try:
            Path(snap.path).unlink(missing_ok=True)
        except OSError:
            continue
        rt.store.delete_snapshot(snap.name)
        removed.append(snap.name)
    return removed


# -- restoring ------------------------------------------------------------------------------------
def _pg_name(base: str, suffix: str) -> str:
    room = PG_NAME_MAX - len(suffix.encode())
    head = base.encode()[:room].decode("utf-8", "ignore")
    return head + suffix


def _pg_error(exc: Exception) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return redact(text[:300])


def _maintenance(db: TargetDB, timeout_s: float = 10):
    """A connection to a database other than the target's own (to create, rename, drop)."""
    import psycopg

    last: Exception | None = None
    for name in MAINTENANCE_DBS:
        try:
            return db.connect(name, timeout_s)
        except psycopg.Error as exc:
            last = exc
    raise RestoreFailed(f"cannot connect to the PostgreSQL server as {db.user} (tried databases "
                        f"{', '.join(MAINTENANCE_DBS)}): {_pg_error(last)}", original_intact=True)


def restore_problems(env: Environment, db: TargetDB) -> list[str]:
    """What stands in the way of a restore into a fresh database and a swap (empty: nothing)."""
    if db.kind == "sqlite":
        path = Path(db.database or "")
        return [] if path.parent.is_dir() else [f"the SQLite database's folder {path.parent} does not exist"]
    import psycopg

    try:
        with _maintenance(db) as conn:
            row = conn.execute(
                "SELECT r.rolcreatedb, r.rolsuper, d.datname IS NOT NULL, "
                "coalesce(pg_get_userbyid(d.datdba) = current_user, false) "
                "FROM pg_roles r LEFT JOIN pg_database d ON d.datname = %s WHERE r.rolname = current_user",
                (db.database,)).fetchone()
    except RestoreFailed as exc:
        return [str(exc)]
    except psycopg.Error as exc:
        return [f"cannot check the role's privileges: {_pg_error(exc)}"]
    createdb, superuser, exists, owner = row
    problems = []
    if not (createdb or superuser):
        problems.append(f"the target's database role {db.user} lacks CREATEDB: a restore creates a fresh database "
                        f"and renames both (ALTER ROLE {db.user} CREATEDB; see docs/OPERATIONS.md)")
    if exists and not (owner or superuser):
        problems.append(f"the role {db.user} does not own database {db.database}: renaming it needs the owner "
                        "(see docs/OPERATIONS.md)")
    return problems


def restore_fresh(env: Environment, db: TargetDB, path: Path, revision: str | None) -> str:
    """Restore the archive into a new database (PostgreSQL) or file (SQLite) beside the live one and
    check it is at ``revision``; returns its name. On failure nothing of it is left behind."""
    if db.kind == "sqlite":
        return _sqlite_restore_fresh(db, path, revision)
    import psycopg
    from psycopg import sql

    fresh = _pg_name(db.database or "db", f"_restore_{_stamp('%Y%m%d%H%M%S')}")
    try:
        with _maintenance(db) as conn:
            enc, collate, ctype = conn.execute(
                "SELECT pg_encoding_to_char(encoding), datcollate, datctype FROM pg_database WHERE datname = %s",
                (db.database,)).fetchone() or ("UTF8", None, None)
            stmt = sql.SQL("CREATE DATABASE {} TEMPLATE template0 ENCODING {}").format(
                sql.Identifier(fresh), sql.Literal(enc))
            if collate and ctype:
                stmt = stmt + sql.SQL(" LC_COLLATE {} LC_CTYPE {}").format(sql.Literal(collate), sql.Literal(ctype))
            conn.execute(stmt)
    except psycopg.Error as exc:
        raise RestoreFailed(f"could not create the fresh database {fresh}: {_pg_error(exc)}",
                            original_intact=True) from None
    try:
        run_pg(env, db, ["pg_restore", "--single-transaction", "--exit-on-error", "--no-owner", *db.pg_args(),
                         "--dbname", fresh, str(path)], env.timeouts.snapshot_s, "pg_restore")
        with db.connect(fresh) as conn:
            found = _pg_revisions(conn)
        if found != ([revision] if revision else []):
            raise RestoreFailed(f"the restored database is at revision {', '.join(found) or 'none'}, not "
                                f"{revision or 'base'} as recorded for the snapshot", original_intact=True)
    except (SubprocessFailed, RestoreFailed, psycopg.Error) as exc:
        dropped = drop_fresh(db, fresh)
        message = str(exc) if not isinstance(exc, psycopg.Error) else _pg_error(exc)
        lines = message.splitlines() or [type(exc).__name__]
        errors = [line.strip() for line in lines if "error:" in line.lower()]
        raise RestoreFailed(f"restoring into the fresh database {fresh} failed: {(errors or lines)[0]}"
                            + ("" if dropped else f" (and dropping {fresh} failed: drop it by hand)"),
                            original_intact=True, detail="\n".join(lines[1:])) from None
    return fresh


def _pg_revisions(conn) -> list[str]:
    exists = conn.execute("SELECT to_regclass('alembic_version') IS NOT NULL").fetchone()[0]
    if not exists:
        return []
    return sorted(r[0] for r in conn.execute("SELECT version_num FROM alembic_version"))


def drop_fresh(db: TargetDB, fresh: str) -> bool:
    """Drop a half-restored fresh database (or file); True when it is gone."""
    if db.kind == "sqlite":
        try:
            Path(fresh).unlink(missing_ok=True)
            return True
        except OSError:
            return False
    import psycopg
    from psycopg import sql

    try:
        with _maintenance(db) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(fresh)))
        return True
    except (psycopg.Error, RestoreFailed):
        return False


def swap_in(env: Environment, db: TargetDB, fresh: str) -> str:
    """Put the fresh database in place of the live one; returns the name the old one is kept
    under. Raises RestoreFailed (``original_intact`` tells whether the original is back in place;
    the fresh database is dropped when it is)."""
    if db.kind == "sqlite":
        return _sqlite_swap(db, fresh)
    import psycopg
    from psycopg import sql

    live = db.database or ""
    kept = _pg_name(live, f"_pre_restore_{_stamp('%Y%m%d%H%M%S')}")
    ident = sql.Identifier
    try:
        conn = _maintenance(db)
    except RestoreFailed:
        drop_fresh(db, fresh)
        raise
    with conn:
        try:
            conn.execute(sql.SQL("ALTER DATABASE {} WITH ALLOW_CONNECTIONS false").format(ident(live)))
        except psycopg.Error as exc:
            drop_fresh(db, fresh)
            raise RestoreFailed(f"could not stop new connections to {live}: {_pg_error(exc)}",
                                original_intact=True) from None
        renamed, last = False, None
        for attempt in range(SWAP_ATTEMPTS):
            conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s "
                         "AND pid <> pg_backend_pid() AND usename = current_user", (live,))
            try:
                conn.execute(sql.SQL("ALTER DATABASE {} RENAME TO {}").format(ident(live), ident(kept)))
                renamed = True
                break
            except psycopg.errors.ObjectInUse as exc:   # a session came back, or one we may not end
                last = exc
                time.sleep(min(0.05 * (attempt + 1), 0.5))
            except psycopg.Error as exc:
                last = exc
                break
        if not renamed:
            others = conn.execute("SELECT usename, coalesce(application_name, ''), count(*) FROM pg_stat_activity "
                                  "WHERE datname = %s AND pid <> pg_backend_pid() GROUP BY 1, 2", (live,)).fetchall()
            _quiet(conn, sql.SQL("ALTER DATABASE {} WITH ALLOW_CONNECTIONS true").format(ident(live)))
            drop_fresh(db, fresh)
            who = "; ".join(f"{n} session(s) of {u} {a}".strip() for u, a, n in others)
            raise RestoreFailed(f"could not take {live} out of service: {_pg_error(last)}"
                                + (f" (still connected: {who})" if who else ""), original_intact=True) from None
        try:
            conn.execute(sql.SQL("ALTER DATABASE {} RENAME TO {}").format(ident(fresh), ident(live)))
        except psycopg.Error as exc:
            back = _quiet(conn, sql.SQL("ALTER DATABASE {} RENAME TO {}").format(ident(kept), ident(live)))
            _quiet(conn, sql.SQL("ALTER DATABASE {} WITH ALLOW_CONNECTIONS true").format(ident(live if back else kept)))
            if back:
                drop_fresh(db, fresh)
            raise RestoreFailed(f"could not rename {fresh} to {live}: {_pg_error(exc)}"
                                + ("; the original database is back in place" if back else
                                   f"; the original database is now named {kept} and {live} does not exist: "
                                   f"rename {kept} back to {live} by hand (docs/OPERATIONS.md)"),
                                original_intact=back) from None
        # the kept database stays for the operator to inspect or to swap back
        _quiet(conn, sql.SQL("ALTER DATABASE {} WITH ALLOW_CONNECTIONS true").format(ident(kept)))
    return kept


def _quiet(conn, stmt) -> bool:
    import psycopg

    try:
        conn.execute(stmt)
        return True
    except psycopg.Error:
        return False


def _sqlite_restore_fresh(db: TargetDB, path: Path, revision: str | None) -> str:
    live = Path(db.database or "")
    fresh = live.with_name(f"{live.name}.restore-{_stamp('%Y%m%d%H%M%S')}")
    try:
        shutil.copyfile(path, fresh)
        con = sqlite3.connect(fresh)
        try:
            ok = con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
            has = con.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name='alembic_version'").fetchone()
            found = sorted(r[0] for r in con.execute("SELECT version_num FROM alembic_version")) if has else []
        finally:
            con.close()
        if not ok:
            raise RestoreFailed("the restored copy fails PRAGMA integrity_check", original_intact=True)
        if found != ([revision] if revision else []):
            raise RestoreFailed(f"the restored copy is at revision {', '.join(found) or 'none'}, not "
                                f"{revision or 'base'}", original_intact=True)
    except (OSError, sqlite3.Error, RestoreFailed) as exc:
        fresh.unlink(missing_ok=True)
        raise RestoreFailed(f"restoring into a fresh file failed: {exc}", original_intact=True) from None
    return str(fresh)


def _sqlite_swap(db: TargetDB, fresh: str) -> str:
    live = Path(db.database or "")
    kept = live.with_name(f"{live.name}_pre_restore_{_stamp('%Y%m%d%H%M%S')}")
    try:
        if live.exists():
            os.rename(live, kept)
            for suffix in ("-wal", "-shm", "-journal"):   # never pair them with the restored file
                side = live.with_name(live.name + suffix)
                if side.exists():
                    os.rename(side, kept.with_name(kept.name + suffix))
    except OSError as exc:
        Path(fresh).unlink(missing_ok=True)
        raise RestoreFailed(f"could not move {live.name} aside: {exc.strerror}", original_intact=True) from None
    try:
        os.rename(fresh, live)
    except OSError as exc:
        back = True
        try:
            os.rename(kept, live)
        except OSError:
            back = False
        raise RestoreFailed(f"could not move the restored copy into place: {exc.strerror}", original_intact=back) from None
    return kept.name
