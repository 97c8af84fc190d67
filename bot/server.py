"""`bb-ops serve` (HTTP, uvicorn + Starlette) and `bb-ops socket` (Socket Mode).

POST /slack/events runs Bolt's dispatch in a thread pool (the sync App must not block the event
loop), GET /healthz and /readyz answer for the bot itself, GET /metrics is Prometheus text.
Bodies over ``MAX_BODY_BYTES`` are refused before Bolt sees them.
"""

from __future__ import annotations

import logging
import threading

from bot.errors import ConfigError
from bot.runtime import Runtime, build_runtime, set_current
from bot.settings import Settings

log = logging.getLogger("bbops.server")

MAX_BODY_BYTES = 64 * 1024


def build_asgi(rt: Runtime, app=None):
    from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
    from slack_bolt import BoltRequest
    from starlette.applications import Starlette
    from starlette.concurrency import run_in_threadpool
    from starlette.requests import Request
    from starlette.responses import JSONResponse, PlainTextResponse, Response
    from starlette.routing import Route

    from bot.app import create_app

    bolt = app or create_app(rt, process_before_response=True)

    async def slack_events(request: Request) -> Response:
        length = request.headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > MAX_BODY_BYTES:
            return PlainTextResponse("request body too large", status_code=413)
        body = await request.body()
        if len(body) > MAX_BODY_BYTES:
            return PlainTextResponse("request body too large", status_code=413)
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            return PlainTextResponse("request body is not UTF-8", status_code=400)
        breq = BoltRequest(body=text, query=request.url.query, headers=dict(request.headers))
        bresp = await run_in_threadpool(bolt.dispatch, breq)
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


def _readiness_problems(rt: Runtime) -> list[str]:
    from sqlalchemy import text

    problems = []
    try:
        with rt.store.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:
        problems.append(f"bot database: {type(exc).__name__}")
    if rt.redis is not None:
        try:
            rt.redis.ping()
        except Exception as exc:
            problems.append(f"redis: {type(exc).__name__} (commands are kept and enqueued when it is back)")
    return problems


def _refresh_gauges(rt: Runtime) -> None:
    from bot import locks
    from bot.metrics import LOCK_AGE, QUEUE_DEPTH

    try:
        if hasattr(rt.enqueuer, "depth"):
            for name, depth in rt.enqueuer.depth().items():
                QUEUE_DEPTH.labels(queue=name).set(depth)
        for env in rt.config.environments:
            holder = locks.holder(rt, env)
            LOCK_AGE.labels(env=env).set(holder.age_s if holder else 0)
    except Exception:
        pass  # metrics never fail the scrape over Redis being down


def start_background(rt: Runtime) -> threading.Event:
    """The janitor: requeues runs Redis lost, marks abandoned runs, expires stale approvals."""
    from bot.janitor import run_forever

    stop = threading.Event()
    threading.Thread(target=run_forever, args=(rt, stop), name="bbops-janitor", daemon=True).start()
    return stop


def serve(settings: Settings, *, host: str, port: int) -> int:
    import uvicorn

    if not settings.slack_bot_token:
        raise ConfigError("SLACK_BOT_TOKEN is not set: the bot posts results with it")
    from bot.db.engine import require_head

    rt = build_runtime(settings)
    require_head(rt.store.engine, settings.database_url)
    set_current(rt)
    asgi = build_asgi(rt)
    stop = start_background(rt)
    log.info("serving on %s:%s (POST /slack/events)", host, port)
    try:
        uvicorn.run(asgi, host=host, port=port, log_level="warning", access_log=False)
    finally:
        stop.set()
    return 0


def socket_mode(settings: Settings) -> int:
    from slack_bolt.adapter.socket_mode import SocketModeHandler

    from bot.app import create_app

    if not settings.slack_app_token:
        raise ConfigError("SLACK_APP_TOKEN is not set: Socket Mode needs an app-level token (xapp-...) "
                          "with connections:write")
    if not settings.slack_bot_token:
        raise ConfigError("SLACK_BOT_TOKEN is not set: the bot posts results with it")
    rt = build_runtime(settings)
    set_current(rt)
    # Socket Mode requests are authenticated by the WebSocket connection, not signed;
    # Bolt still wants a signing secret for the HTTP path it does not use here.
    if not settings.slack_signing_secret:
        from dataclasses import replace

        rt.settings = replace(settings, slack_signing_secret="socket-mode-unused")
    app = create_app(rt, process_before_response=True)
    stop = start_background(rt)
    try:
        SocketModeHandler(app, settings.slack_app_token).start()
    finally:
        stop.set()
    return 0
