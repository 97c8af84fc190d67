"""`bb-ops serve` (HTTP, uvicorn + Starlette) and `bb-ops socket` (Socket Mode).

POST /slack/events runs Bolt's dispatch in a thread pool (the sync App must not block the event
loop), GET /healthz and /readyz answer for the bot itself, GET /metrics is Prometheus text.

Before Bolt sees a request: a body over ``MAX_BODY_BYTES`` is refused with 413 (by its
Content-Length, or while it streams in, so a chunked body is never buffered past the limit); a
request without well-formed ``X-Slack-Request-Timestamp`` / ``X-Slack-Signature`` headers gets
401 (Bolt itself would answer a non-numeric timestamp with 500), except Slack's ``ssl_check``,
which Bolt answers 200 and acts on in no way. Bolt then verifies the
signature and the 5-minute window (401). Every refusal is counted in ``bbops_refused_total``.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from datetime import datetime, timezone

from bot.core.defaults import MAX_BODY_BYTES
from bot.core.errors import ConfigError
from bot.core.settings import Settings
from bot.infra.runtime import Runtime, build_runtime, set_current

log = logging.getLogger("bbops.server")

_TIMESTAMP_RE = re.compile(r"^[0-9]{1,12}$")
_SIGNATURE_RE = re.compile(r"^v0=[0-9a-f]{64}$")


class _Scrape:
    """The runtime /metrics reads shared figures from (one collector per process registry)."""

    collector = None


def _register_collector(rt: Runtime) -> None:
    from prometheus_client import REGISTRY

    from bot.infra.metrics import SharedCollector

    if _Scrape.collector is None:
        _Scrape.collector = SharedCollector(rt)
        REGISTRY.register(_Scrape.collector)
    else:
        _Scrape.collector.rt = rt


class GuardedStore:
    """A Store whose every call (and every ``session()`` block) holds ``guard`` while it runs.

    `serve` on SQLite: one in-process queue for the bot database instead of 32 threads racing for
    SQLite's write lock through its busy handler, which sleeps up to 100 ms between tries and lets
    a waiter lose for seconds (every transaction is ``BEGIN IMMEDIATE`` there). `bb-ops worker`:
    its janitor thread never holds a transaction while RQ forks a work horse (the horse would
    inherit SQLite's in-process lock state and find the database locked for good). Store calls
    are single short transactions, so the guard is held for milliseconds.
    """

    def __init__(self, store, guard) -> None:
        self._store, self._guard = store, guard

    def __getattr__(self, name):
        attr = getattr(self._store, name)
        if not callable(attr):
            return attr
        guard = self._guard

        def guarded(*args, **kwargs):
            if name == "session":
                return _GuardedSession(attr(*args, **kwargs), guard)
            with guard:
                return attr(*args, **kwargs)

        return guarded


class _GuardedSession:
    def __init__(self, session, guard) -> None:
        self._session, self._guard = session, guard

    def __enter__(self):
        self._guard.acquire()
        try:
            return self._session.__enter__()
        except BaseException:
            self._guard.release()
            raise

    def __exit__(self, *exc):
        try:
            return self._session.__exit__(*exc)
        finally:
            self._guard.release()


def guarded_runtime(rt: Runtime, guard) -> Runtime:
    """The same runtime, its store calls serialised by ``guard`` (a threading.RLock)."""
    from dataclasses import replace

    return replace(rt, store=GuardedStore(rt.store, guard))


def _sqlite(rt: Runtime) -> bool:
    return rt.store.engine.dialect.name == "sqlite"


def _fast_redis(rt: Runtime):
    return getattr(rt.enqueuer, "fast", None) or rt.redis


def build_asgi(rt: Runtime, app=None):
    from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
    from slack_bolt import BoltRequest
    from starlette.applications import Starlette
    from starlette.concurrency import run_in_threadpool
    from starlette.requests import ClientDisconnect, Request
    from starlette.responses import JSONResponse, PlainTextResponse, Response
    from starlette.routing import Route

    from bot.infra.metrics import REFUSED
    from bot.slack.app import create_app

    bolt = app or create_app(rt, process_before_response=True)
    _register_collector(rt)

    def refuse(status: int, reason: str, text: str) -> Response:
        REFUSED.labels(reason=reason).inc()
        log.warning("refused a Slack request: %s (HTTP %s)", reason, status)
        return PlainTextResponse(text, status_code=status)

    async def slack_events(request: Request) -> Response:
        length = request.headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > MAX_BODY_BYTES:
            return refuse(413, "body_too_large", "request body too large")
        timestamp = request.headers.get("x-slack-request-timestamp", "")
        signature = request.headers.get("x-slack-signature", "")
        well_formed = bool(_TIMESTAMP_RE.match(timestamp) and _SIGNATURE_RE.match(signature))
        chunks, size = [], 0
        try:
            async for chunk in request.stream():
                size += len(chunk)
                if size > MAX_BODY_BYTES:
                    return refuse(413, "body_too_large", "request body too large")
                chunks.append(chunk)
        except ClientDisconnect:
            return Response(status_code=400)
        try:
            text = b"".join(chunks).decode("utf-8")
        except UnicodeDecodeError:
            return refuse(400, "not_utf8", "request body is not UTF-8")
        if not well_formed and not _is_ssl_check(text):
            return refuse(401, "signature", "missing or malformed Slack signature")
        breq = BoltRequest(body=text, query=request.url.query, headers=dict(request.headers))
        bresp = await run_in_threadpool(bolt.dispatch, breq)
        if bresp.status == 401:
            REFUSED.labels(reason="signature").inc()
            log.warning("refused a Slack request: signature or timestamp did not verify (HTTP 401)")
        return Response(content=bresp.body, status_code=bresp.status,
                        headers=bresp.first_headers_without_set_cookie())

    async def healthz(_: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(_: Request) -> Response:
        problems = await run_in_threadpool(_readiness_problems, rt)
        if problems:
            return JSONResponse({"status": "not_ready", "reasons": problems}, status_code=503)
        return JSONResponse({"status": "ready"})

    async def metrics(_: Request) -> Response:
        await run_in_threadpool(_refresh_gauges, rt)
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return Starlette(routes=[
        Route("/slack/events", slack_events, methods=["POST"]),
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
    ])


def _is_ssl_check(body: str) -> bool:
    """Slack's certificate check of a slash command URL; Bolt answers it 200 and does nothing else."""
    from urllib.parse import parse_qs

    return parse_qs(body).get("ssl_check") == ["1"]


def _readiness_problems(rt: Runtime) -> list[str]:
    from sqlalchemy import text

    problems = []
    try:
        with rt.store.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:
        problems.append(f"bot database: {type(exc).__name__}")
    redis = _fast_redis(rt)
    if redis is not None:
        try:
            redis.ping()
        except Exception as exc:
            problems.append(f"redis: {type(exc).__name__} (commands are kept and enqueued when it is back)")
    return problems


def _refresh_gauges(rt: Runtime) -> None:
    """Queue depth and lock age, read from Redis with the fast-failing client (one round trip for
    every lock); left as they were when Redis does not answer."""
    from bot.infra import keys, locks
    from bot.infra.metrics import LOCK_AGE, QUEUE_DEPTH

    envs = list(rt.config.environments)
    try:
        if hasattr(rt.enqueuer, "depth"):
            for name, depth in rt.enqueuer.depth().items():
                QUEUE_DEPTH.labels(queue=name).set(depth)
        redis = _fast_redis(rt)
        if redis is None:
            for env in envs:
                holder = locks.holder(rt, env)
                LOCK_AGE.labels(env=env).set(holder.age_s if holder else 0)
            return
        now = datetime.now(timezone.utc)
        for env, raw in zip(envs, redis.mget([keys.lock(env) for env in envs]) if envs else []):
            LOCK_AGE.labels(env=env).set(_lock_age_s(raw, now))
    except Exception as exc:
        log.debug("metrics: redis unreadable: %s", type(exc).__name__)


def _lock_age_s(raw, now: datetime) -> float:
    if raw is None:
        return 0.0
    try:
        since = datetime.fromisoformat(json.loads(raw)["since"])
        return max(0.0, (now - since).total_seconds())
    except (ValueError, KeyError, TypeError):
        return 0.0


def start_background(rt: Runtime) -> threading.Event:
    """The janitor: requeues runs Redis lost, marks abandoned runs, expires stale approvals."""
    from bot.serve.janitor import run_forever

    stop = threading.Event()
    threading.Thread(target=run_forever, args=(rt, stop), name="bbops-janitor", daemon=True).start()
    return stop


def serve(settings: Settings, *, host: str, port: int) -> int:
    import uvicorn

    if not settings.slack_bot_token:
        raise ConfigError("SLACK_BOT_TOKEN is not set: the bot posts results with it")
    from bot.infra.db.engine import require_head

    rt = build_runtime(settings)
    require_head(rt.store.engine, settings.database_url)
    set_current(rt)
    if rt.redis is not None:
        from bot.infra.metrics import share_counters_via

        share_counters_via(_fast_redis(rt))
    if _sqlite(rt):
        rt = guarded_runtime(rt, threading.RLock())
    asgi = build_asgi(rt)
    stop = start_background(rt)
    log.info("serving on %s:%s (POST /slack/events)", host, port)
    try:
        uvicorn.run(asgi, host=host, port=port, log_level="warning", access_log=False)
    finally:
        stop.set()
    return 0


def socket_mode(settings: Settings, *, job=None) -> int:
    from slack_bolt.adapter.socket_mode import SocketModeHandler
    from slack_sdk.errors import SlackApiError

    from bot.infra.db.engine import require_head
    from bot.infra.queue import InProcessEnqueuer
    from bot.slack.app import create_app

    if not settings.slack_app_token:
        raise ConfigError("SLACK_APP_TOKEN is not set: Socket Mode needs an app-level token (xapp-...) "
                          "with connections:write")
    if not settings.slack_bot_token:
        raise ConfigError("SLACK_BOT_TOKEN is not set: the bot posts results with it")
    rt = build_runtime(settings, job=job)
    require_head(rt.store.engine, settings.database_url)
    set_current(rt)
    # Socket Mode requests are authenticated by the WebSocket connection, not signed;
    # Bolt still wants a signing secret for the HTTP path it does not use here.
    if not settings.slack_signing_secret:
        from dataclasses import replace

        rt.settings = replace(settings, slack_signing_secret="socket-mode-unused")
    app = create_app(rt, process_before_response=True)
    stop = start_background(rt)
    handler = SocketModeHandler(app, settings.slack_app_token)
    if isinstance(rt.enqueuer, InProcessEnqueuer):
        # No REDIS_URL, so no worker will take the jobs: this process runs them, one at a time, each
        # once the request that queued it has been acked (docs/DECISIONS.md, "Socket Mode").
        log.warning("REDIS_URL is not set: jobs run in this process, one at a time; a restart loses "
                    "queued jobs. Set REDIS_URL and run `bb-ops worker` for production.")
        acking = [0]
        acking_lock = threading.Lock()

        def handle_then_run_jobs(client, req, _handle=handler.handle) -> None:
            with acking_lock:
                acking[0] += 1
            try:
                _handle(client, req)  # Bolt's listener runs and the ack is sent
            finally:
                with acking_lock:
                    acking[0] -= 1
                rt.enqueuer.wake()

        def still_acking() -> bool:
            with acking_lock:
                return acking[0] > 0

        listeners = handler.client.socket_mode_request_listeners
        listeners[listeners.index(handler.handle)] = handle_then_run_jobs
        rt.enqueuer.drain_in_background(stop, hold=still_acking)
    try:
        handler.start()  # connects (apps.connections.open, then the WebSocket), then blocks
    except SlackApiError as exc:
        error = exc.response.get("error") if exc.response is not None else "unknown"
        raise ConfigError(f"Slack refused to open a Socket Mode connection ({error}): SLACK_APP_TOKEN must be "
                          "the app's app-level token (xapp-...) with connections:write, and Socket Mode must "
                          "be enabled for the app") from None
    finally:
        stop.set()
    return 0
