"""Configuration, from environment variables only, validated at startup.

The runbook's fail-fast rules are enforced here (``Settings.from_env`` raises
``ConfigError`` and the app refuses to start):

- ``ENV=production`` rejects ``DEBUG=true``;
- ``BUDGETBUDDY_CORS_ORIGINS`` must not contain ``*`` in production;
- ``REFRESH_COOKIE_SAMESITE=none`` requires ``REFRESH_COOKIE_SECURE=true``.

``DATABASE_URL`` and ``JWT_SECRET`` are required. Every problem found is reported at
once, so a broken deployment is fixed in one go.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Mapping

PRODUCTION_NAMES = frozenset({"production", "prod"})
SAMESITE_VALUES = ("lax", "strict", "none")
_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off", ""})
_COOKIE_NAME = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")


class ConfigError(RuntimeError):
    """The configuration is unsafe or incomplete: the app refuses to start."""

    def __init__(self, problems: list[str]):
        self.problems = list(problems)
        if len(problems) == 1:
            text = problems[0]
        else:
            text = f"{len(problems)} configuration errors: " + "; ".join(problems)
        super().__init__(f"refusing to start: {text}")


@dataclass(frozen=True)
class Settings:
    database_url: str
    jwt_secret: str
    env: str = "development"
    debug: bool = False
    cors_origins: tuple[str, ...] = ()
    refresh_cookie_name: str = "bb_refresh"
    refresh_cookie_path: str = "/api/auth"
    refresh_cookie_samesite: str = "lax"
    refresh_cookie_secure: bool = True
    migrations_strict: bool = False
    leaky: bool = False
    # Fault injection for tests and demos.
    readyz_delay_s: float = 0.0
    garbage: str = ""  # "", "html" (text/html) or "json" (declared JSON, HTML body)
    fail_me: bool = False
    fail_login: bool = False
    # The revision this app release expects; None: the single head of migrations/.
    release_head: str | None = None
    access_token_ttl_s: int = 15 * 60
    refresh_token_ttl_s: int = 7 * 24 * 3600

    @property
    def is_production(self) -> bool:
        return self.env in PRODUCTION_NAMES

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> "Settings":
        env = os.environ if environ is None else environ
        problems: list[str] = []

        def text(name: str, default: str | None = None) -> str | None:
            value = env.get(name)
            if value is None:
                return default
            value = value.strip()
            return value if value else default

        def flag(name: str, default: bool) -> bool:
            raw = env.get(name)
            if raw is None:
                return default
            value = raw.strip().lower()
            if value in _TRUE:
                return True
            if value in _FALSE:
                return False if value else default
            problems.append(f"{name} must be true or false, got {raw!r}")
            return default

        database_url = text("DATABASE_URL")
        if not database_url:
            problems.append("DATABASE_URL is required")
        jwt_secret = env.get("JWT_SECRET") or ""
        if not jwt_secret.strip():
            problems.append("JWT_SECRET is required")

        app_env = (text("ENV") or text("APP_ENV") or "development").lower()
        debug = flag("DEBUG", False)
        production = app_env in PRODUCTION_NAMES

        cors_raw = text("BUDGETBUDDY_CORS_ORIGINS", "") or ""
        cors = tuple(o.strip() for o in cors_raw.split(",") if o.strip())

        cookie_name = text("REFRESH_COOKIE_NAME", "bb_refresh") or "bb_refresh"
        if not _COOKIE_NAME.match(cookie_name):
            problems.append(f"REFRESH_COOKIE_NAME is not a valid cookie name: {cookie_name!r}")
        cookie_path = text("REFRESH_COOKIE_PATH", "/api/auth") or "/api/auth"
        if not cookie_path.startswith("/"):
            problems.append(f"REFRESH_COOKIE_PATH must start with '/', got {cookie_path!r}")
        samesite = (text("REFRESH_COOKIE_SAMESITE", "lax") or "lax").lower()
        if samesite not in SAMESITE_VALUES:
            problems.append(
                f"REFRESH_COOKIE_SAMESITE must be one of lax, strict, none; got {samesite!r}"
            )
        secure = flag("REFRESH_COOKIE_SECURE", True)

        # The runbook's three fail-fast rules.
        if production and debug:
            problems.append("ENV=production rejects DEBUG=true")
        if production and any("*" in origin for origin in cors):
            problems.append("BUDGETBUDDY_CORS_ORIGINS must not contain '*' in production")
        if samesite == "none" and not secure:
            problems.append("REFRESH_COOKIE_SAMESITE=none requires REFRESH_COOKIE_SECURE=true")

        delay_raw = text("BUDGETBUDDY_READYZ_DELAY_S", "0") or "0"
        try:
            delay = float(delay_raw)
            if delay < 0:
                raise ValueError
        except ValueError:
            problems.append(f"BUDGETBUDDY_READYZ_DELAY_S must be a non-negative number, got {delay_raw!r}")
            delay = 0.0

        garbage_raw = (text("BUDGETBUDDY_GARBAGE", "") or "").lower()
        if garbage_raw in _TRUE or garbage_raw == "html":
            garbage = "html"
        elif garbage_raw == "json":
            garbage = "json"
        elif garbage_raw in _FALSE:
            garbage = ""
        else:
            problems.append(f"BUDGETBUDDY_GARBAGE must be true, false, html or json; got {garbage_raw!r}")
            garbage = ""

        settings = cls(
            database_url=database_url or "",
            jwt_secret=jwt_secret,
            env=app_env,
            debug=debug,
            cors_origins=cors,
            refresh_cookie_name=cookie_name,
            refresh_cookie_path=cookie_path,
            refresh_cookie_samesite=samesite,
            refresh_cookie_secure=secure,
            migrations_strict=flag("MIGRATIONS_STRICT", False),
            leaky=flag("BUDGETBUDDY_LEAKY", False),
            readyz_delay_s=delay,
            garbage=garbage,
            fail_me=flag("BUDGETBUDDY_FAIL_ME", False),
            fail_login=flag("BUDGETBUDDY_FAIL_LOGIN", False),
            release_head=text("BUDGETBUDDY_RELEASE_HEAD"),
        )
        if problems:
            raise ConfigError(problems)
        return settings
