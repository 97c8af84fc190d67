"""Real `bb-ops serve` and `bb-ops worker` processes for the chaos and hostile-input tests.

One bot database (SQLite file), one config, one Redis and one Slack stand-in shared by every
process, as in a deployment. Each process logs (JSON) to its own file under ``tmp_path``; a test
that fails shows their tails. Helpers send signed Slack requests over real HTTP, find a worker's
work horse (RQ forks one per job, in its own process group) and kill it, and wait with deadlines.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

import httpx

from bot.core.runs import RunStatus
from bot.devkit.driver import action_body, command_body, sign
from bot.devkit.services import free_port
from bot.infra.db.engine import make_engine, upgrade
from bot.infra.store import Store

SECRET = "chaos-signing-secret-0123456789abcdef"
TOKEN = "xoxb-chaos-0000"
ROOT = Path(__file__).resolve().parents[2]

#: fault-handling timings shortened so a dead worker is noticed in seconds (bot/serve/janitor.py)
FAST_JANITOR = {
    "BBOPS_RUN_HEARTBEAT_S": "0.5",
    "BBOPS_DEAD_AFTER_S": "3",
    "BBOPS_JANITOR_SWEEP_S": "0.5",
    "BBOPS_LOST_AFTER_S": "1",
}


def hanging_python(path, pidfile, hang_on=("upgrade",)):
    """A target `backend.python` that runs the real one, except that `alembic <hang_on>` never exits."""
    path.write_text(f"""#!{sys.executable}
import os, sys, time
args = sys.argv[1:]
if args[:2] == ["-m", "alembic"] and len(args) > 2 and args[2] in {tuple(hang_on)!r}:
    with open({str(pidfile)!r}, "a") as f:
        f.write(f"{{os.getpid()}}\\n")
    time.sleep(3600)
    sys.exit(1)
os.execv({sys.executable!r}, [{sys.executable!r}, *args])
""")
    path.chmod(0o755)
    return path


def children(pid: int) -> list[int]:
    """Direct child processes of ``pid`` (from /proc)."""
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        if int(fields[1]) == pid:
            out.append(int(entry.name))
    return out


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2] != "Z"


def wait_until(predicate: Callable[[], object], timeout_s: float, what: str, interval_s: float = 0.05):
    deadline = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(interval_s)


class BotProcesses:
    def __init__(self, tmp_path: Path, *, config_path: Path, redis_url: str, standin, extra_env: dict | None = None,
                 secret: str = SECRET) -> None:
        self.tmp = tmp_path
        self.secret = secret
        self.standin = standin
        self.db_url = f"sqlite:///{tmp_path / 'bbops.sqlite3'}"
        upgrade(self.db_url)
        self.store = Store(make_engine(self.db_url))
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        base = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "BBOPS_", "REDIS_URL"))}
        self.env = {**base, "SLACK_SIGNING_SECRET": secret, "SLACK_BOT_TOKEN": TOKEN,
                    "SLACK_API_URL": standin.base_url, "REDIS_URL": redis_url, "BBOPS_DATABASE_URL": self.db_url,
                    "BBOPS_CONFIG": str(config_path), "PORT": str(self.port), "HOST": "127.0.0.1",
                    "BBOPS_LOG_LEVEL": "INFO", "PYTHONPATH": str(ROOT), **(extra_env or {})}
        self.procs: dict[str, subprocess.Popen] = {}
        self.http = httpx.Client(timeout=10, trust_env=False)

    # -- processes ---------------------------------------------------------------------------
    def _spawn(self, name: str, *args: str) -> subprocess.Popen:
        log = open(self.tmp / f"{name}.log", "ab")
        proc = subprocess.Popen([sys.executable, "-m", "bot.cli", *args], env=self.env, cwd=ROOT,
                                stdout=log, stderr=log, stdin=subprocess.DEVNULL)
        log.close()
        self.procs[name] = proc
        return proc

    def start_serve(self) -> "BotProcesses":
        proc = self._spawn("serve", "serve")

        def up():
            if proc.poll() is not None:
                raise AssertionError(f"bb-ops serve exited {proc.returncode}:\n{self.log_tail('serve')}")
            try:
                return self.http.get(self.url + "/healthz", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        wait_until(up, 30, "bb-ops serve to answer /healthz")
        return self

    def start_worker(self, name: str = "worker") -> subprocess.Popen:
        proc = self._spawn(name, "worker", "--name", f"chaos-{name}-{os.getpid()}")
        time.sleep(0.05)
        return proc

    def wait_worker_ready(self, name: str, redis, timeout_s: float = 30) -> None:
        """Until the worker has registered with RQ (it listens for jobs)."""
        from rq import Worker

        proc = self.procs[name]

        def ready():
            if proc.poll() is not None:
                raise AssertionError(f"{name} exited {proc.returncode}:\n{self.log_tail(name)}")
            return any(w.pid == proc.pid for w in Worker.all(connection=redis))

        wait_until(ready, timeout_s, f"{name} to register with RQ", 0.1)

    def horse_of(self, name: str, timeout_s: float = 20) -> int:
        """The pid of the work horse (RQ's forked child) of worker ``name``, once it has one."""
        parent = self.procs[name].pid
        return wait_until(lambda: next(iter(children(parent)), None), timeout_s, f"a work horse of {name}", 0.02)

    def kill9(self, name: str) -> tuple[int, int | None]:
        """SIGKILL a whole worker as the OOM killer or a node loss would: parent first (so it cannot
        report the horse's death), then the horse's process group (the horse and its subprocesses)."""
        proc = self.procs[name]
        horse = next(iter(children(proc.pid)), None)
        os.kill(proc.pid, signal.SIGKILL)
        if horse is not None:
            try:
                os.killpg(horse, signal.SIGKILL)
            except ProcessLookupError:
                pass
        proc.wait(timeout=10)
        if horse is not None:
            wait_until(lambda: not alive(horse), 10, f"horse {horse} to die")
        return proc.pid, horse

    def stop_all(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.terminate()
        for name, proc in self.procs.items():
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
            for pid in children(proc.pid):  # an orphaned horse
                try:
                    os.killpg(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        self.http.close()
        self.store.engine.dispose()

    def log_tail(self, name: str, lines: int = 60) -> str:
        path = self.tmp / f"{name}.log"
        if not path.exists():
            return "(no log)"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])

    def log_records(self, name: str) -> list[dict]:
        """The JSON log records of process ``name`` (every line must be one)."""
        out = []
        for line in (self.tmp / f"{name}.log").read_text(errors="replace").splitlines():
            if line.strip():
                out.append(json.loads(line))
        return out

    def all_logs(self) -> str:
        return "\n".join(f"--- {n} ---\n{self.log_tail(n)}" for n in self.procs)

    # -- Slack requests over HTTP ------------------------------------------------------------
    def signed(self, body: str, *, timestamp: int | None = None, secret: str | None = None) -> dict:
        return {"content-type": "application/x-www-form-urlencoded",
                **sign(secret or self.secret, body, timestamp)}

    def post(self, body: str | bytes, headers: dict, timeout: float = 10) -> httpx.Response:
        return self.http.post(self.url + "/slack/events", content=body, headers=headers, timeout=timeout)

    def command_body(self, user: str, channel: str, text: str, trigger: str | None = None) -> str:
        return command_body(user, channel, text, self.standin.response_url(channel, user), trigger)

    def command(self, user: str, channel: str, text: str, trigger: str | None = None) -> httpx.Response:
        body = self.command_body(user, channel, text, trigger)
        return self.post(body, self.signed(body))

    def click(self, user: str, run, action: str, **overrides) -> httpx.Response:
        """A signed block_actions request for ``run``'s card; ``overrides`` forge its parts:
        value, channel, message_ts."""
        import urllib.parse

        body = action_body(user, run, action, self.standin.response_url(run.channel, user, run.card_ts))
        if overrides:
            payload = json.loads(urllib.parse.unquote(body.removeprefix("payload=")))
            if "value" in overrides:
                payload["actions"][0]["value"] = overrides["value"]
            if "channel" in overrides:
                payload["channel"]["id"] = payload["container"]["channel_id"] = overrides["channel"]
            if "message_ts" in overrides:
                payload["container"]["message_ts"] = payload["message"]["ts"] = overrides["message_ts"]
            body = "payload=" + urllib.parse.quote(json.dumps(payload))
        return self.post(body, self.signed(body))

    def metrics(self) -> str:
        resp = self.http.get(self.url + "/metrics")
        assert resp.status_code == 200, resp.text
        return resp.text

    # -- the bot database --------------------------------------------------------------------
    def runs(self):
        return self.store.runs(limit=10_000, newest_first=False)

    def events(self, run_id: int | None = None) -> list[str]:
        return [e["event"] for e in self.store.audit_events(run_id)]

    def wait_status(self, run_id: int, statuses, timeout_s: float):
        statuses = {RunStatus(s) for s in statuses}

        def reached():
            run = self.store.get_run(run_id)
            return run if run is not None and run.status in statuses else None

        try:
            return wait_until(reached, timeout_s, f"run {run_id} to reach {sorted(s.value for s in statuses)}", 0.1)
        except AssertionError as exc:
            run = self.store.get_run(run_id)
            raise AssertionError(f"{exc}; it is {run.status.value if run else 'missing'}; events "
                                 f"{self.events(run_id)}\n{self.all_logs()}") from None

    def wait_card(self, run_id: int, timeout_s: float):
        """The run once its approval card is posted: the status moves to awaiting_approval just
        before the card exists, so waiting for the status alone races the card."""
        self.wait_status(run_id, ["awaiting_approval"], timeout_s)
        return wait_until(lambda: (run := self.store.get_run(run_id)).card_ts and run, timeout_s,
                          f"run {run_id}'s approval card", 0.05)

    def wait_event(self, run_id: int, event: str, timeout_s: float, **detail) -> dict:
        def seen():
            for e in self.store.audit_events(run_id):
                if e["event"] == event and all(e["detail"].get(k) == v for k, v in detail.items()):
                    return e
            return None

        return wait_until(seen, timeout_s, f"audit event {event} {detail or ''} of run {run_id}", 0.05)


def metric_value(text: str, name: str, **labels) -> float | None:
    """The value of one sample in Prometheus text, or None when it is absent."""
    want = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))  # the exposition sorts labels
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        key, _, value = line.rpartition(" ")
        if key == (f"{name}{{{want}}}" if want else name):
            return float(value)
    return None
