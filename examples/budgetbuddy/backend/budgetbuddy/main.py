"""The BudgetBuddy reference API: ``uvicorn budgetbuddy.main:app`` from ``backend/``.

Endpoints (the runbook's contract):

- ``GET  /api/healthz``       200 {"status": "ok"}; never touches the database.
- ``GET  /api/readyz``        200 {"status": "ready"} or 503 {"status": "not_ready", "reason"}.
- ``POST /api/auth/login``    vendor media type in and out; access token + refresh cookie.
- ``POST /api/auth/refresh``  new access token from the refresh cookie (cookie rotated).
- ``POST /api/auth/logout``   clears the refresh cookie.
- ``GET  /api/me``            the authenticated user.
- ``GET  /api/debug/leak``    only with BUDGETBUDDY_LEAKY=true: a 500 full of secrets.

Configuration errors are logged as one line ("refusing to start: ...") and the process
exits with status 1 before uvicorn binds its port (imported outside uvicorn, the import
raises ``ConfigError`` instead).
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import sys
from contextlib import asynccontextmanager
from datetime import datetime
from urllib.parse import quote

import sqlalchemy as sa
from fastapi import FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from . import MEDIA_TYPE
from .db import (
    current_revisions,
    describe_db_error,
    make_engine,
    mask_url,
    script_heads,
    url_password,
    users,
)
from .security import TokenError, decode_token, issue_token, verify_password
from .settings import ConfigError, Settings

log = logging.getLogger("budgetbuddy")
GARBAGE_BODY = "<html>oops</html>"


def _configure_logging() -> None:
    if not log.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s budgetbuddy: %(message)s"))
        log.addHandler(handler)
        log.setLevel(logging.INFO)
        log.propagate = False


def _media_type(header: str | None) -> str:
    return (header or "").split(";", 1)[0].strip().lower()


def _accepts_vendor(accept: str | None, strict: bool) -> bool:
    """Does the Accept header allow the vendor media type?

    strict (login, refresh): the vendor type must be named explicitly (q > 0); a missing
    header, ``*/*`` and ``application/*`` are refused with 406.
    lenient (/me): a missing header, ``*/*`` and ``application/*`` are fine too.
    """
    if accept is None or not accept.strip():
        return not strict
    for item in accept.split(","):
        parts = [p.strip() for p in item.split(";")]
        media = parts[0].lower()
        q = 1.0
        for param in parts[1:]:
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    q = float(value.strip())
                except ValueError:
                    q = 0.0
        if q <= 0:
            continue
        if media == MEDIA_TYPE:
            return True
        if not strict and media in ("*/*", "application/*"):
            return True
    return False


def _iso(value) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def create_app(settings: Settings | None = None) -> FastAPI:
    _configure_logging()
    if settings is None:
        try:
            settings = Settings.from_env()
        except ConfigError as exc:
            log.error("%s", exc)
            raise
    engine = make_engine(settings.database_url, connect_timeout_s=2, pool_pre_ping=True)
    state = {"last_bearer": None, "last_refresh": None}

    def leak_suffix() -> str:
        return f" [DATABASE_URL={settings.database_url} JWT_SECRET={settings.jwt_secret}]"

    def error(status: int, detail: str, headers: dict | None = None) -> JSONResponse:
        body: dict = {"detail": detail + (leak_suffix() if settings.leaky else "")}
        if settings.leaky:
            body["debug"] = {
                "database_url": settings.database_url,
                "jwt_secret": settings.jwt_secret,
            }
            log.warning("error %s: %s", status, body["detail"])
        return JSONResponse(body, status_code=status, headers=headers)

    def garbage() -> Response:
        media = "application/json" if settings.garbage == "json" else "text/html"
        return Response(GARBAGE_BODY, status_code=200, media_type=media)

    @asynccontextmanager
    async def lifespan(_app: FastAPI):
        if settings.leaky:
            log.warning(
                "LEAKY MODE: DATABASE_URL=%s JWT_SECRET=%s",
                settings.database_url,
                settings.jwt_secret,
            )
        log.info(
            "starting: env=%s debug=%s migrations_strict=%s db=%s",
            settings.env,
            settings.debug,
            settings.migrations_strict,
            settings.database_url if settings.leaky else mask_url(settings.database_url),
        )
        yield
        engine.dispose()

    app = FastAPI(
        title="BudgetBuddy (reference)",
        debug=settings.debug,
        lifespan=lifespan,
        docs_url=None if settings.is_production else "/docs",
        redoc_url=None,
        openapi_url=None if settings.is_production else "/openapi.json",
    )
    app.state.settings = settings
    app.state.engine = engine

    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(settings.cors_origins),
            allow_credentials=True,
            allow_methods=["GET", "POST"],
            allow_headers=["authorization", "content-type", "accept"],
        )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_request: Request, exc: StarletteHTTPException):
        return error(exc.status_code, str(exc.detail), headers=getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def unhandled(_request: Request, exc: Exception):
        log.exception("unhandled error")
        return error(500, "internal server error")

    # ---- health -------------------------------------------------------------------

    @app.get("/api/healthz")
    async def healthz():
        if settings.garbage:
            return garbage()
        return {"status": "ok"}

    def readiness_problem() -> str | None:
        try:
            with engine.connect() as conn:
                conn.execute(sa.text("SELECT 1"))
                if not settings.migrations_strict:
                    return None
                try:
                    current = current_revisions(conn)
                except Exception as exc:
                    return "cannot read alembic_version: " + describe_db_error(
                        exc, settings.database_url, settings.leaky
                    )
        except Exception as exc:
            return "database unreachable: " + describe_db_error(
                exc, settings.database_url, settings.leaky
            )
        try:
            heads, known = script_heads()
        except Exception as exc:
            return f"cannot read the migrations folder: {exc}"
        if settings.release_head:
            expected = settings.release_head
            if expected not in known:
                return f"BUDGETBUDDY_RELEASE_HEAD={expected} is not a revision of this release"
        elif not heads:
            return "no migrations found in the migrations folder"
        elif len(heads) > 1:
            return f"multiple heads: {', '.join(sorted(heads))}"
        else:
            expected = heads[0]
        if current is None:
            return f"no alembic_version table: database not migrated (head={expected})"
        if not current:
            return f"no alembic_version row: database not migrated (head={expected})"
        if len(current) > 1:
            return f"multiple heads in database: current={','.join(current)} head={expected}"
        if current[0] != expected:
            unknown = "" if current[0] in known else f" ({current[0]} is unknown to this release)"
            return f"migrations not at head: current={current[0]} head={expected}{unknown}"
        return None

    @app.get("/api/readyz")
    async def readyz():
        if settings.readyz_delay_s:
            await asyncio.sleep(settings.readyz_delay_s)
        if settings.garbage:
            return garbage()
        problem = await run_in_threadpool(readiness_problem)
        if problem is None:
            return {"status": "ready"}
        if settings.leaky:
            problem += leak_suffix()
        log.warning("not ready: %s", problem)
        return JSONResponse({"status": "not_ready", "reason": problem}, status_code=503)

    # ---- auth ---------------------------------------------------------------------

    def find_user(*, username: str | None = None, user_id: int | None = None):
        query = sa.select(users.c.id, users.c.username, users.c.password_hash, users.c.created_at)
        if username is not None:
            query = query.where(users.c.username == username)
        else:
            query = query.where(users.c.id == user_id)
        with engine.connect() as conn:
            return conn.execute(query).first()

    def token_response(user_id: int) -> JSONResponse:
        access = issue_token(settings.jwt_secret, user_id, "access", settings.access_token_ttl_s)
        refresh = issue_token(settings.jwt_secret, user_id, "refresh", settings.refresh_token_ttl_s)
        state["last_bearer"], state["last_refresh"] = access, refresh
        if settings.leaky:
            log.warning("issued bearer token for user %s: %s (refresh %s)", user_id, access, refresh)
        response = JSONResponse(
            {"access_token": access, "token_type": "bearer"}, media_type=MEDIA_TYPE
        )
        response.headers["cache-control"] = "no-store"
        response.set_cookie(
            settings.refresh_cookie_name,
            refresh,
            max_age=settings.refresh_token_ttl_s,
            path=settings.refresh_cookie_path,
            secure=settings.refresh_cookie_secure,
            httponly=True,
            samesite=settings.refresh_cookie_samesite,
        )
        return response

    @app.post("/api/auth/login")
    async def login(request: Request):
        if _media_type(request.headers.get("content-type")) != MEDIA_TYPE:
            return error(415, f"content-type must be {MEDIA_TYPE}")
        if not _accepts_vendor(request.headers.get("accept"), strict=True):
            return error(406, f"accept must include {MEDIA_TYPE}")
        if settings.fail_login:
            return error(500, "internal error: login is broken (BUDGETBUDDY_FAIL_LOGIN)")
        try:
            data = json.loads(await request.body())
        except (ValueError, UnicodeDecodeError):
            return error(400, "body must be a JSON object with username and password")
        if not isinstance(data, dict):
            return error(400, "body must be a JSON object with username and password")
        username, password = data.get("username"), data.get("password")
        if not isinstance(username, str) or not isinstance(password, str) or not username:
            return error(400, "username and password must be non-empty strings")
        try:
            row = await run_in_threadpool(find_user, username=username)
        except Exception as exc:
            return error(503, "database unavailable: " + describe_db_error(
                exc, settings.database_url, settings.leaky))
        ok = await run_in_threadpool(verify_password, password, row.password_hash if row else None)
        if not ok:
            return error(401, "invalid username or password", headers={"www-authenticate": "Bearer"})
        log.info("login: user id=%s", row.id)
        return token_response(row.id)

    @app.post("/api/auth/refresh")
    async def refresh(request: Request):
        if not _accepts_vendor(request.headers.get("accept"), strict=True):
            return error(406, f"accept must include {MEDIA_TYPE}")
        token = request.cookies.get(settings.refresh_cookie_name)
        if not token:
            return error(401, "missing refresh cookie")
        try:
            user_id = decode_token(settings.jwt_secret, token, "refresh")
            row = await run_in_threadpool(find_user, user_id=user_id)
        except TokenError as exc:
            detail = str(exc) + (f" (refresh token: {token})" if settings.leaky else "")
            return error(401, detail)
        except Exception as exc:
            return error(503, "database unavailable: " + describe_db_error(
                exc, settings.database_url, settings.leaky))
        if row is None:
            return error(401, "unknown user")
        return token_response(row.id)

    @app.post("/api/auth/logout")
    async def logout():
        response = Response(status_code=204)
        response.delete_cookie(
            settings.refresh_cookie_name,
            path=settings.refresh_cookie_path,
            secure=settings.refresh_cookie_secure,
            httponly=True,
            samesite=settings.refresh_cookie_samesite,
        )
        return response

    @app.get("/api/me")
    async def me(request: Request):
        if not _accepts_vendor(request.headers.get("accept"), strict=False):
            return error(406, f"accept must allow {MEDIA_TYPE}")
        auth = request.headers.get("authorization") or ""
        scheme, _, token = auth.partition(" ")
        token = token.strip()
        challenge = {"www-authenticate": "Bearer"}
        if scheme.lower() != "bearer" or not token:
            return error(401, "missing bearer token", headers=challenge)
        echo = f" (bearer token: {token})" if settings.leaky else ""
        try:
            user_id = decode_token(settings.jwt_secret, token, "access")
        except TokenError as exc:
            return error(401, f"{exc}{echo}", headers=challenge)
        try:
            row = await run_in_threadpool(find_user, user_id=user_id)
        except Exception as exc:
            return error(503, "database unavailable: " + describe_db_error(
                exc, settings.database_url, settings.leaky) + echo)
        if row is None:
            return error(401, f"unknown user{echo}", headers=challenge)
        if settings.fail_me:
            return error(500, f"internal error: /me is broken (BUDGETBUDDY_FAIL_ME){echo}")
        return JSONResponse(
            {"id": row.id, "username": row.username, "created_at": _iso(row.created_at)},
            media_type=MEDIA_TYPE,
        )

    # ---- leaky mode only --------------------------------------------------------------

    if settings.leaky:

        @app.get("/api/debug/leak")
        async def debug_leak():
            password = url_password(settings.database_url) or ""
            bearer = state["last_bearer"] or "(none issued yet)"
            lines = [
                "Traceback (most recent call last):",
                '  File "budgetbuddy/main.py", in debug_leak',
                "RuntimeError: deliberate leak (BUDGETBUDDY_LEAKY=true)",
                f"JWT_SECRET={settings.jwt_secret}",
                f"DATABASE_URL={settings.database_url}",
                f"db_password={password}",
                f"db_password_urlencoded={quote(password, safe='')}",
                f"db_password_base64={base64.b64encode(password.encode()).decode()}",
                f"Authorization: Bearer {bearer}",
                f"last_bearer_token={bearer}",
                f"last_refresh_token={state['last_refresh'] or '(none issued yet)'}",
            ]
            body = "\n".join(lines) + "\n"
            log.error("debug leak:\n%s", body)
            return PlainTextResponse(body, status_code=500)

    return app


def _load_app() -> FastAPI:
    try:
        return create_app()
    except ConfigError:
        # Already logged as one clear line by create_app(); no traceback for operators.
        if "uvicorn" in sys.modules:  # served: exit cleanly, status 1
            raise SystemExit(1) from None
        raise


app = _load_app()
