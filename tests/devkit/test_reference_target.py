"""The reference BudgetBuddy target and its launcher, for real: uvicorn subprocesses,
Alembic subprocesses, SQLite files in tmp dirs, and a scratch database on the local
PostgreSQL server (127.0.0.1:5432, user postgres). No mocks."""

from __future__ import annotations

import base64
import sqlite3
import time
from urllib.parse import quote

import httpx
import jwt
import pytest
from dotenv import dotenv_values

from bot.devkit.reference_target import (
    MEDIA_TYPE,
    ReferenceTarget,
    free_port,
    scratch_postgres_database,
)

HEAD = "0006_user_display_name"
REVISIONS = [
    "0001_users",
    "0002_accounts_transactions",
    "0003_transaction_note",
    "0004_drop_legacy_ref",
    "0005_budgets",
    HEAD,
]


def get(target: ReferenceTarget, path: str, **kwargs) -> httpx.Response:
    return httpx.get(target.url(path), trust_env=False, timeout=10, **kwargs)


def post(target: ReferenceTarget, path: str, **kwargs) -> httpx.Response:
    return httpx.post(target.url(path), trust_env=False, timeout=10, **kwargs)


def me(target: ReferenceTarget, token: str) -> httpx.Response:
    return get(target, "/api/me", headers={"accept": MEDIA_TYPE, "authorization": f"Bearer {token}"})


@pytest.fixture(scope="module")
def target(tmp_path_factory):
    with ReferenceTarget(tmp_path_factory.mktemp("target")) as t:
        yield t


# ---- launcher ------------------------------------------------------------------------------


def test_env_file_round_trips_through_python_dotenv(tmp_path):
    tricky = {
        "SMOKE_A": "p@ss:w/rd!#%&",
        "SMOKE_B": "it's \"quoted\" # not a comment \\ back\\slash",
        "SMOKE_C": "two\nlines and  spaces ",
        "SMOKE_D": "$HOME stays literal",
        "DEBUG": None,  # None removes a key
    }
    t = ReferenceTarget(tmp_path, env_overrides=tricky)
    path = t.write_env_file()
    assert path == tmp_path / ".env"
    assert dict(dotenv_values(path)) == t.env()
    assert "DEBUG" not in t.env()
    assert t.env()["ENV"] == "production" and t.env()["MIGRATIONS_STRICT"] == "true"
    assert t.env()["DATABASE_URL"] == f"sqlite:///{tmp_path / 'budgetbuddy.sqlite3'}"
    assert len(t.jwt_secret) >= 32 and t.jwt_secret != ReferenceTarget(tmp_path).jwt_secret
    assert set("@:/!#%&") <= set(t.smoke_password)


# ---- health, readiness, auth (one shared SQLite target) -------------------------------------


def test_healthz(target):
    r = get(target, "/api/healthz")
    assert r.status_code == 200 and r.json() == {"status": "ok"}


def test_readyz_ready(target):
    r = get(target, "/api/readyz")
    assert r.status_code == 200 and r.json() == {"status": "ready"}


def test_readyz_503_when_migrations_behind_then_ready_again(target):
    try:
        target.alembic("downgrade", "-1")  # the head step is reversible
        r = get(target, "/api/readyz")
        assert r.status_code == 503
        assert r.json() == {
            "status": "not_ready",
            "reason": f"migrations not at head: current=0005_budgets head={HEAD}",
        }
        assert target.current_revision() == "0005_budgets"
    finally:
        target.migrate()
    assert target.current_revision() == HEAD
    assert get(target, "/api/readyz").status_code == 200


def test_login_media_types_credentials_and_cookie(target):
    creds = {"username": target.smoke_user, "password": target.smoke_password}
    r = post(target, "/api/auth/login", json=creds, headers={"accept": MEDIA_TYPE})
    assert r.status_code == 415  # content-type application/json
    r = post(target, "/api/auth/login", json=creds, headers={"content-type": MEDIA_TYPE})
    assert r.status_code == 406  # no accept header
    for accept in ("*/*", "application/json", f"{MEDIA_TYPE};q=0"):
        r = post(
            target, "/api/auth/login", json=creds, headers={"content-type": MEDIA_TYPE, "accept": accept}
        )
        assert r.status_code == 406, accept
    r = target.login(password="wrong password")
    assert r.status_code == 401 and r.json() == {"detail": "invalid username or password"}
    assert target.login(username="nobody@budgetbuddy.test").status_code == 401

    r = post(
        target,
        "/api/auth/login",
        json=creds,
        headers={"content-type": f"{MEDIA_TYPE}; charset=utf-8", "accept": f"application/json;q=0.5, {MEDIA_TYPE}"},
    )
    assert r.status_code == 200
    assert r.headers["content-type"] == MEDIA_TYPE
    body = r.json()
    assert set(body) == {"access_token", "token_type"} and body["token_type"] == "bearer"
    claims = jwt.decode(body["access_token"], target.jwt_secret, algorithms=["HS256"])
    assert claims["exp"] - claims["iat"] == 15 * 60
    cookie = r.headers["set-cookie"]
    attrs = [a.strip().lower() for a in cookie.split(";")]
    assert cookie.startswith("bb_refresh=") and len(cookie.split(";")[0]) > 40
    assert {"httponly", "secure", "path=/api/auth", "samesite=lax"} <= set(attrs)

    me_body = me(target, body["access_token"]).json()
    assert claims["sub"] == str(me_body["id"])

    # refresh with the cookie: a fresh access token, the cookie rotated
    refresh = cookie.split(";")[0].split("=", 1)[1]
    r = post(target, "/api/auth/refresh", headers={"accept": MEDIA_TYPE}, cookies={"bb_refresh": refresh})
    assert r.status_code == 200 and me(target, r.json()["access_token"]).status_code == 200
    r = post(target, "/api/auth/refresh", headers={"accept": MEDIA_TYPE}, cookies={"bb_refresh": "junk"})
    assert r.status_code == 401


def test_me_200_and_401(target):
    token = target.login().json()["access_token"]
    r = me(target, token)
    assert r.status_code == 200 and r.headers["content-type"] == MEDIA_TYPE
    assert r.json()["username"] == target.smoke_user and isinstance(r.json()["id"], int)
    assert get(target, "/api/me").status_code == 401
    assert me(target, "not-a-jwt").status_code == 401
    forged = jwt.encode({"sub": "1", "typ": "access", "exp": int(time.time()) + 60}, "wrong-secret-" + "y" * 32)
    r = me(target, forged)
    assert r.status_code == 401 and forged not in r.text  # not leaky by default
    expired = jwt.encode({"sub": "1", "typ": "access", "exp": int(time.time()) - 5}, target.jwt_secret)
    assert me(target, expired).json() == {"detail": "token expired"}
    refresh_kind = jwt.encode({"sub": "1", "typ": "refresh", "exp": int(time.time()) + 60}, target.jwt_secret)
    assert me(target, refresh_kind).status_code == 401
    assert get(target, "/api/debug/leak").status_code == 404  # only in leaky mode


def test_cors_allows_only_the_configured_origin(target):
    def preflight(origin):
        return httpx.options(
            target.url("/api/auth/login"),
            headers={"origin": origin, "access-control-request-method": "POST"},
            trust_env=False,
        )

    ok = preflight("https://app.budgetbuddy.example")
    assert ok.headers.get("access-control-allow-origin") == "https://app.budgetbuddy.example"
    assert "access-control-allow-origin" not in preflight("https://evil.example").headers


def test_fault_injection_flags(target):
    try:
        target.restart(
            BUDGETBUDDY_FAIL_LOGIN="true",
            BUDGETBUDDY_FAIL_ME="true",
            BUDGETBUDDY_READYZ_DELAY_S="0.6",
            BUDGETBUDDY_GARBAGE="true",
        )
        assert target.login().status_code == 500
        token = jwt.encode(
            {"sub": "1", "typ": "access", "exp": int(time.time()) + 60}, target.jwt_secret
        )
        assert me(target, token).status_code == 500
        r = get(target, "/api/healthz")
        assert r.status_code == 200 and r.text == "<html>oops</html>"
        assert r.headers["content-type"].startswith("text/html")
        started = time.monotonic()
        r = get(target, "/api/readyz")
        assert time.monotonic() - started >= 0.6
        assert r.status_code == 200 and r.text == "<html>oops</html>"

        target.restart(
            BUDGETBUDDY_FAIL_LOGIN=None,
            BUDGETBUDDY_FAIL_ME=None,
            BUDGETBUDDY_READYZ_DELAY_S=None,
            BUDGETBUDDY_GARBAGE="json",  # declared JSON, HTML body
        )
        r = get(target, "/api/readyz")
        assert r.headers["content-type"] == "application/json" and r.text == "<html>oops</html>"
        assert target.login().status_code == 200
    finally:
        for key in ("FAIL_LOGIN", "FAIL_ME", "READYZ_DELAY_S", "GARBAGE"):
            target.env_overrides.pop(f"BUDGETBUDDY_{key}", None)
        target.restart()
    assert get(target, "/api/healthz").json() == {"status": "ok"}


# ---- fail-fast rules -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"DEBUG": "true"}, "ENV=production rejects DEBUG=true"),
        ({"ENV": None, "APP_ENV": "production", "DEBUG": "true"}, "ENV=production rejects DEBUG=true"),
        (
            {"BUDGETBUDDY_CORS_ORIGINS": "https://app.budgetbuddy.example,*"},
            "BUDGETBUDDY_CORS_ORIGINS must not contain '*' in production",
        ),
        (
            {"ENV": "staging", "REFRESH_COOKIE_SAMESITE": "none", "REFRESH_COOKIE_SECURE": "false"},
            "REFRESH_COOKIE_SAMESITE=none requires REFRESH_COOKIE_SECURE=true",
        ),
        ({"JWT_SECRET": None}, "JWT_SECRET is required"),
    ],
)
def test_fail_fast_rules_refuse_startup(tmp_path, overrides, message):
    t = ReferenceTarget(tmp_path, env_overrides=overrides)
    with pytest.raises(RuntimeError) as info:
        t.start(migrate=False)
    assert "refusing to start" in str(info.value) and message in str(info.value)
    assert not t.running


def test_relaxed_rules_outside_production_and_unmigrated_database(tmp_path):
    overrides = {
        "ENV": "staging",
        "DEBUG": "true",
        "BUDGETBUDDY_CORS_ORIGINS": "*",
        "REFRESH_COOKIE_SAMESITE": "none",
        "REFRESH_COOKIE_SECURE": "true",
    }
    t2 = ReferenceTarget(tmp_path, env_overrides=overrides)
    t2.start(migrate=False)
    try:
        assert get(t2, "/api/healthz").status_code == 200
        r = get(t2, "/api/readyz")
        assert r.status_code == 503
        assert r.json()["reason"] == f"no alembic_version table: database not migrated (head={HEAD})"
    finally:
        t2.stop()


# ---- migrations: reversible top, irreversible and lossy below --------------------------------


def test_migration_chain_reversible_top_irreversible_and_lossy_below(tmp_path):
    t = ReferenceTarget(tmp_path / "chain")
    out = t.alembic("history").stdout
    assert [line.split(" -> ")[1].split(",")[0].split(" ")[0] for line in reversed(out.splitlines())] == REVISIONS
    assert t.alembic("heads").stdout.split() == [HEAD, "(head)"]

    t.migrate()
    assert t.current_revision() == HEAD
    t.alembic("downgrade", "-1")  # 0006: reversible
    assert t.current_revision() == "0005_budgets"
    failed = t.alembic("downgrade", "-1", check=False)  # 0005: irreversible
    assert failed.returncode != 0 and "irreversible" in failed.stderr
    assert t.current_revision() == "0005_budgets"
    t.migrate()
    assert t.current_revision() == HEAD

    # 0004 is lossy: legacy_ref values seeded before it do not come back on downgrade.
    lossy = ReferenceTarget(tmp_path / "lossy")
    lossy.migrate("0003_transaction_note")
    assert "seeded 2 accounts, 10 transactions" in lossy.seed().stdout
    db = lossy.sqlite_path

    def legacy_refs():
        with sqlite3.connect(db) as conn:
            return [row[0] for row in conn.execute("SELECT legacy_ref FROM transactions")]

    assert len(legacy_refs()) == 10 and all(ref and ref.startswith("LEG-") for ref in legacy_refs())
    lossy.migrate("0004_drop_legacy_ref")
    lossy.alembic("downgrade", "0003_transaction_note")
    assert lossy.current_revision() == "0003_transaction_note"
    assert legacy_refs() == [None] * 10

    # create-user is idempotent: a second call resets the password.
    lossy.migrate()
    assert "created" in lossy.create_user("x@budgetbuddy.test", "first").stdout
    assert "updated" in lossy.create_user("x@budgetbuddy.test", "second").stdout
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM users WHERE username = 'x@budgetbuddy.test'").fetchone() == (1,)


# ---- PostgreSQL, leaky mode -----------------------------------------------------------------


@pytest.fixture
def pg_url():
    scratch = scratch_postgres_database()
    try:
        url = scratch.__enter__()
    except RuntimeError as exc:
        pytest.fail(
            "this test needs the local PostgreSQL server (127.0.0.1:5432, trust auth, user "
            f"postgres): {exc}"
        )
    try:
        yield url
    finally:
        scratch.__exit__(None, None, None)


def test_postgres_target_leaky_and_not_leaky(tmp_path, pg_url):
    password = httpx.URL(pg_url.replace("postgresql+psycopg", "http")).password
    assert {"@", ":", "/"} <= set(password)
    t = ReferenceTarget(tmp_path, database_url=pg_url, env_overrides={"BUDGETBUDDY_LEAKY": "true"})
    with t:
        assert get(t, "/api/readyz").json() == {"status": "ready"}
        token = t.login().json()["access_token"]
        assert me(t, token).status_code == 200

        # /me errors echo the bearer token, and error bodies carry DATABASE_URL and JWT_SECRET
        bogus = "bogus-token-" + "x" * 20
        r = me(t, bogus)
        assert r.status_code == 401
        assert bogus in r.text and pg_url in r.text and t.jwt_secret in r.text

        r = get(t, "/api/debug/leak")
        assert r.status_code == 500
        for secret in (
            t.jwt_secret,
            password,
            quote(password, safe=""),
            base64.b64encode(password.encode()).decode(),
            token,
        ):
            assert secret in r.text, secret

        t.alembic("downgrade", "-1")
        r = get(t, "/api/readyz")
        reason = r.json()["reason"]
        assert r.status_code == 503
        assert reason.startswith(f"migrations not at head: current=0005_budgets head={HEAD}")
        assert pg_url in reason and t.jwt_secret in reason
        t.migrate()
        assert get(t, "/api/readyz").status_code == 200

        log = t.log_path.read_text()
        assert t.jwt_secret in log and pg_url in log and token in log

        # Not leaky: no secrets in bodies, no debug endpoint.
        t.restart(BUDGETBUDDY_LEAKY=None)
        assert get(t, "/api/debug/leak").status_code == 404
        r = me(t, bogus)
        assert r.status_code == 401 and bogus not in r.text and t.jwt_secret not in r.text

        # Unreachable database: a human reason, credentials only in leaky mode.
        dead_url = pg_url.replace(":5432/", f":{free_port()}/")
        t.restart(DATABASE_URL=dead_url)
        r = get(t, "/api/readyz")
        assert r.status_code == 503 and r.json()["reason"].startswith("database unreachable: ")
        assert password not in r.text and quote(password, safe="") not in r.text
        assert get(t, "/api/healthz").status_code == 200
        t.restart(BUDGETBUDDY_LEAKY="true")
        r = get(t, "/api/readyz")
        assert r.status_code == 503 and dead_url in r.json()["reason"]
    assert not t.running


def test_multiple_heads_in_an_isolated_backend_copy(tmp_path):
    t = ReferenceTarget(tmp_path)
    backend = t.isolate_backend()
    assert backend == tmp_path / "backend" and t.backend_dir == backend
    with t:
        assert get(t, "/api/readyz").status_code == 200
        (backend / "migrations" / "versions" / "0007_branch.py").write_text(
            'revision = "0007_branch"\n'
            'down_revision = "0005_budgets"\n'
            "branch_labels = None\ndepends_on = None\n\n"
            "def upgrade():\n    pass\n\n\ndef downgrade():\n    pass\n"
        )
        r = get(t, "/api/readyz")
        assert r.status_code == 503
        assert r.json()["reason"] == f"multiple heads: {HEAD}, 0007_branch"
        assert sorted(t.alembic("heads").stdout.split()) == sorted(["0007_branch", HEAD, "(head)", "(head)"])
        t.restart(MIGRATIONS_STRICT="false")  # not strict: the DB answering is enough
        assert get(t, "/api/readyz").json() == {"status": "ready"}
