"""The deployment platform the reference target runs on, for tests of releases and restores.

An environment's hooks (``release {version}``, ``restrict_writes``, ``allow_writes``) are real
argument-list subprocesses that call this platform's small HTTP control API, as a real hook would
call a platform's deploy API. A release restarts the reference target with the release's
``BUDGETBUDDY_RELEASE_HEAD`` (the schema revision that release expects: strict readiness then
compares against it), so "app release first" is observable; writes are a recorded switch.
"""

from __future__ import annotations

import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

HOOK_SCRIPT = '''\
import sys, urllib.request, urllib.error
url = sys.argv[1] + "/" + "/".join(sys.argv[2:])
try:
    with urllib.request.urlopen(urllib.request.Request(url, method="POST"), timeout=60) as r:
        print(r.read().decode())
except urllib.error.HTTPError as exc:
    print(f"platform refused: {exc.code} {exc.read().decode()}")
    sys.exit(1)
'''


class Platform:
    """``releases``: version → the revision that release expects (None: the scripts' head)."""

    def __init__(self, target, releases: dict[str, str | None], workdir: Path) -> None:
        self.target, self.releases = target, releases
        self.calls: list[tuple[str, str]] = []
        self.writes = "allowed"
        self.script = Path(workdir) / "platform_hook.py"
        self.script.parent.mkdir(parents=True, exist_ok=True)
        self.script.write_text(HOOK_SCRIPT)
        platform = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's name
                parts = self.path.strip("/").split("/")
                code, body = platform.handle(parts)
                data = body.encode()
                self.send_response(code)
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def handle(self, parts: list[str]) -> tuple[int, str]:
        if len(parts) == 2 and parts[0] == "release":
            version = parts[1]
            if version not in self.releases:
                return 404, f"no release {version}"
            self.calls.append(("release", version))
            try:
                self.target.restart(BUDGETBUDDY_RELEASE_HEAD=self.releases[version])
            except Exception as exc:  # the hook reports it; the test sees it in the thread
                return 500, f"release {version} failed to start: {exc}"
            return 200, f"released {version}"
        if len(parts) == 2 and parts[0] == "writes" and parts[1] in ("restricted", "allowed"):
            self.calls.append(("writes", parts[1]))
            self.writes = parts[1]
            return 200, f"writes {parts[1]}"
        return 404, "unknown platform call"

    def hooks(self, *, release: bool = True, writes: bool = True) -> dict:
        base = [sys.executable, str(self.script), self.url]
        out = {}
        if release:
            out["release"] = [*base, "release", "{version}"]
        if writes:
            out["restrict_writes"] = [*base, "writes", "restricted"]
            out["allow_writes"] = [*base, "writes", "allowed"]
        return out

    def __enter__(self) -> "Platform":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


def ship(target, upto: str):
    """Keep only the migration scripts up to ``upto`` in the target's (isolated) backend; returns a
    function that ships the rest, as the next release brings its migrations."""
    versions = target.isolate_backend() / "migrations" / "versions"
    stash = versions.parent / "next_release"
    stash.mkdir(exist_ok=True)
    files = sorted(versions.glob("*.py"))
    names = [f.name for f in files]
    cut = next(i for i, n in enumerate(names) if n.startswith(upto)) + 1
    for f in files[cut:]:
        f.rename(stash / f.name)

    def ship_rest() -> None:
        for f in sorted(stash.glob("*.py")):
            f.rename(versions / f.name)

    return ship_rest
