"""Table tests for bot.redaction (issue 5): every encoding of a known value, every pattern,
no over-redaction, fail-closed behaviour, the logging filter and `bb-ops redact`."""

from __future__ import annotations

import base64
import io
import json
import logging
import re
import subprocess
import sys
import textwrap
import threading
from pathlib import Path
from urllib.parse import quote, quote_plus

import pytest

import bot.redaction as R
from bot.redaction import (
    MASK_FMT,
    WITHHELD_MESSAGE,
    RedactingFilter,
    Redactor,
    engine,
    install_logging_filter,
    is_secret_key,
    is_trivial_secret,
    redact_exception,
    run_cli,
)
from tests.support.leaks import assert_no_leak

REPO = Path(__file__).resolve().parents[2]

# Secrets full of the characters that break naive maskers.
SECRETS = [
    "Xq7#p@ss/w0rd!$%&+=",
    "<tag>&amp;\"it's\"",
    "p@ss:w/rd!$#%&+=",
    "a b+c=d&e%f#g!h$i@j:k/l",
    'q"uote\'s\\back/slash#1',
    "ünïcödé-pässwörd-€42",
    "9c4f1e2b7a3d8e6f0b5a1c9d2e7f4a8b",
]


def _lower_hex(s: str) -> str:
    return re.sub(r"%[0-9A-F]{2}", lambda m: m.group(0).lower(), s)


def _b64(raw: bytes, urlsafe=False, pad=True) -> str:
    s = (base64.urlsafe_b64encode if urlsafe else base64.b64encode)(raw).decode()
    return s if pad else s.rstrip("=")


ENCODINGS = {
    "raw": lambda s: s,
    "quote": lambda s: quote(s, safe=""),
    "quote-default": lambda s: quote(s),
    "quote-lower": lambda s: _lower_hex(quote(s, safe="")),
    "quote_plus": lambda s: quote_plus(s),
    "quote_plus-lower": lambda s: _lower_hex(quote_plus(s)),
    "b64": lambda s: _b64(s.encode()),
    "b64-nopad": lambda s: _b64(s.encode(), pad=False),
    "b64url": lambda s: _b64(s.encode(), urlsafe=True),
    "b64url-nopad": lambda s: _b64(s.encode(), urlsafe=True, pad=False),
    "basic-user": lambda s: "Basic " + _b64(b"deploy:" + s.encode()),
    "b64-offset1": lambda s: _b64(b"x" + s.encode() + b"tail"),
    "b64-offset2": lambda s: _b64(b"xy" + s.encode() + b"t"),
    "b64-offset3": lambda s: _b64(b"xyz" + s.encode()),
    "b64url-offset1": lambda s: _b64(b"\xfb" + s.encode() + b"\xff", urlsafe=True, pad=False),
    "json": lambda s: json.dumps(s)[1:-1],
    "json-raw-unicode": lambda s: json.dumps(s, ensure_ascii=False)[1:-1],
    "json-in-json": lambda s: json.dumps(json.dumps({"pw": s}))[1:-1],
    "html-slack": lambda s: s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;"),
    "html-escape": lambda s: __import__("html").escape(s),
    "hex": lambda s: s.encode().hex(),
    "HEX": lambda s: s.encode().hex().upper(),
}


@pytest.mark.parametrize("secret", SECRETS)
@pytest.mark.parametrize("encoding", list(ENCODINGS))
def test_known_value_masked_in_every_encoding(secret, encoding):
    r = Redactor({"JWT_SECRET": secret})
    enc = ENCODINGS[encoding](secret)
    line = f'2024-05-01 12:00:00 ERROR app: rejected credentials {enc} from 10.0.3.17 "done"'
    out = r.redact(line)
    assert "[REDACTED:JWT_SECRET]" in out
    assert_no_leak(out, secret)
    assert out.startswith("2024-05-01 12:00:00 ERROR app: rejected credentials ")
    assert out.endswith(' from 10.0.3.17 "done"')
    assert "withheld" not in out


@pytest.mark.parametrize("secret", SECRETS[:3])
def test_mask_replaces_whole_value_and_names_kind(secret):
    r = Redactor({"DATABASE_URL password": secret})
    assert r.redact(f"a {secret} b") == "a [REDACTED:DATABASE_URL password] b"
    assert r.redact(f"x={quote(secret, safe='')}&y=1") == "x=[REDACTED:DATABASE_URL password]&y=1"
    b64 = base64.b64encode(secret.encode()).decode()
    assert r.redact(f"[{b64}]") == "[[REDACTED:DATABASE_URL password]]"   # padding masked too
    assert MASK_FMT.format(kind="jwt") == "[REDACTED:jwt]"


def test_value_embedded_in_longer_tokens_and_repeated():
    s = "Zk8#vQ!m2$Lp"
    r = Redactor({"SMTP_PASSWORD": s})
    out = r.redact(f"{s}{s} and prefix{s}suffix and {quote(s, safe='')}{s}")
    assert s not in out and quote(s, safe="") not in out
    assert out.count("[REDACTED:SMTP_PASSWORD]") >= 4
    assert "prefix[REDACTED:SMTP_PASSWORD]suffix" in out


def test_overlapping_secrets_are_both_masked():
    a, b = "AbCd1234EfGh", "EfGh5678IjKl"
    r = Redactor({"A": a, "B": b})
    out = r.redact("xx AbCd1234EfGh5678IjKl yy")
    assert "1234" not in out and "5678" not in out and "IjKl" not in out
    assert out.startswith("xx [REDACTED:") and out.endswith("] yy")


def test_multiline_secret_masked_line_by_line():
    key = "line-one-of-secret\nline-two-of-secret\nshort"
    r = Redactor({"PRIVATE_BLOB": key})
    out = r.redact("begin\nline-one-of-secret\nline-two-of-secret\nend " + json.dumps(key))
    assert "line-one-of-secret" not in out and "line-two-of-secret" not in out
    assert out.startswith("begin\n")


# ---------------------------------------------------------------------------------------
# Patterns (no env file)
# ---------------------------------------------------------------------------------------

JWT = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJhbGljZSIsImV4cCI6MTcxNDU2Nzg5MH0.c2lnbmF0dXJlX3Rlc3QtMTIz"
JWT_NONE = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJzdWIiOiJhZG1pbiJ9."

PATTERN_CASES = [
    # (input, secrets that must vanish, text that must remain, kind)
    (f"token {JWT} rejected", [JWT, "c2lnbmF0dXJl"], ["token ", " rejected"], "jwt"),
    (f"GET /cb?id_token={JWT_NONE}&state=1", [JWT_NONE], ["&state=1"], None),
    (f"a={JWT_NONE},b", [JWT_NONE], ["a=", ",b"], None),
    (f"f({JWT_NONE})", [JWT_NONE], ["f(", ")"], "jwt"),
    (f'{{"t": "{JWT_NONE}"}}', [JWT_NONE], ['{"t": "', '"}'], None),
    (f"x='{JWT_NONE}'", [JWT_NONE], ["x='", "'"], None),
    (f"{JWT_NONE}&next=/home", [JWT_NONE], ["&next=/home"], "jwt"),
    ("Authorization: Bearer abc.DEF-123_xyz~+/==", ["abc.DEF-123_xyz~+/"], ["Authorization: Bearer "], "bearer token"),
    ("authorization: bearer s", [], ["authorization: bearer [REDACTED:bearer token]"], "bearer token"),
    ("headers={'Authorization': 'Bearer 9f8e7d6c5b4a'}", ["9f8e7d6c5b4a"], ["'Authorization': 'Bearer "], None),
    ("-H 'Authorization: Basic ZGVwbG95OnMzY3JldA=='", ["ZGVwbG95OnMzY3JldA"], ["Basic "], "basic credentials"),
    ("Authorization: Token 0123456789abcdef", ["0123456789abcdef"], ["Token "], None),
    ("sent with Bearer 7hG5kL9pQ2rT4vW8 ok", ["7hG5kL9pQ2rT4vW8"], [" ok"], "bearer token"),
    ("Set-Cookie: bb_refresh=r3fr3sh-T0k3n; HttpOnly; Path=/api/auth; SameSite=Lax; Secure",
     ["r3fr3sh-T0k3n"], ["Path=/api/auth", "SameSite=Lax", "HttpOnly"], "refresh token"),
    ("Cookie: theme=dark; sessionid=abc123def; csrftoken=zzz999; my_token=t0k",
     ["abc123def", "zzz999", "t0k"], ["theme=dark"], "session cookie"),
    ("cookies={'refresh_token': 'rt-123456'}", ["rt-123456"], ["cookies={'refresh_token': '"], None),
    ("xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx posted", ["xoxb-", "AbCdEfGh"], [" posted"], "slack token"),
    ("token=xoxp-1111-2222-3333-abcdef", ["xoxp-", "abcdef"], [], None),
    ("app xapp-1-A0123-456-abcdef0123 ok", ["xapp-", "abcdef0123"], [" ok"], "slack token"),
    ("legacy xoxa-2-abc123 and xoxs-99-zz", ["xoxa-", "xoxs-", "abc123"], [], "slack token"),
    ("q?t=xoxb%2D1234%2D5678%2DaBcD&x=1", ["xoxb%2D", "aBcD"], ["&x=1"], "slack token"),
    ("https://hooks.slack.com/services/T0001/B0002/XXXXyyyyZZZZ", ["XXXXyyyyZZZZ", "T0001"], ["hooks.slack.com"], None),
    ("DATABASE_URL=postgresql://budget:S3cr3t!pw@db.internal:5432/bb", ["S3cr3t!pw"],
     ["postgresql://budget:", "@db.internal:5432/bb"], "URL password"),
    ("postgresql+psycopg://app:p%40ss%2Fword@db:5432/x", ["p%40ss%2Fword"], ["postgresql+psycopg://app:", "@db:5432/x"], None),
    ("mysql://root:my$ql#pw@mysql.internal/x", ["my$ql#pw"], ["mysql://root:", "@mysql.internal/x"], None),
    ("redis://:r3d1s-pw@redis.internal:6379/0", ["r3d1s-pw"], ["redis://:", "@redis.internal:6379/0"], None),
    ("amqp://guest:gu3st-pw@rabbit:5672/vhost", ["gu3st-pw"], ["amqp://guest:", "@rabbit"], None),
    ("connecting to ftp://bob:b0b@s3cr3t@files.example", ["b0b@s3cr3t"], ["ftp://bob:", "@files.example"], None),
    ("next=https%3A%2F%2Fbob%3Ahunter22%40host.example%2F", ["hunter22"], ["bob%3A", "%40host.example"], None),
    ("https://ghp0123456789abcdefXYZ@github.com/org/repo.git", ["ghp0123456789abcdefXYZ"], ["@github.com/org"], None),
    ("password=hunter22&user=bob", ["hunter22"], ["password=", "&user=bob"], "password"),
    ('{"password": "p@ss w0rd!", "user": "bob"}', ["p@ss w0rd!"], ['"user": "bob"'], "password"),
    ("{'passwd': 'pw-123456'}", ["pw-123456"], ["{'passwd': '"], "passwd"),
    ("PGPASSWORD=pg-s3cret psql -h db", ["pg-s3cret"], ["PGPASSWORD=", " psql -h db"], "pgpassword"),
    ("pwd=abc123 secret: s3cr3t-v4l", ["abc123", "s3cr3t-v4l"], ["pwd=", "secret: "], None),
    ("token=tok_live_123 api_key=ak-999 apikey=zz9 x-api-key: k3y-v4l", ["tok_live_123", "ak-999", "zz9", "k3y-v4l"],
     ["api_key=", "x-api-key: "], None),
    ("client_secret=cs-0123456789&grant_type=client_credentials", ["cs-0123456789"], ["&grant_type=client_credentials"],
     "client_secret"),
    ('data={\\"password\\": \\"in-json-str\\"}', ["in-json-str"], ['data={\\"password\\": \\"'], None),
    ("pg_dump --password s3cr3t-flag --host db", ["s3cr3t-flag"], ["--host db"], "password"),
    ("ALTER ROLE app WITH LOGIN PASSWORD 'sq''l-pw'", ["sq''l-pw", "l-pw"], ["ALTER ROLE app WITH LOGIN PASSWORD '"], "password"),
    ("CREATE USER x IDENTIFIED BY 'ora-pw-1'", ["ora-pw-1"], ["CREATE USER x IDENTIFIED BY '"], "password"),
    ("aws: AKIAIOSFODNN7EXAMPLE / ASIAY34FZKBOKMUTVV7A", ["AKIAIOSFODNN7EXAMPLE", "ASIAY34FZKBOKMUTVV7A", "IOSFODNN"],
     ["aws: "], "aws access key id"),
    ("aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
     ["wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"], ["aws_secret_access_key = "], "aws_secret_access_key"),
]


@pytest.mark.parametrize("line,gone,kept,kind", PATTERN_CASES, ids=[c[0][:40] for c in PATTERN_CASES])
def test_patterns_without_env_file(line, gone, kept, kind):
    out = Redactor().redact(line)
    assert out != line
    for g in gone:
        assert g not in out, out
    for k in kept:
        assert k in out, out
    if kind:
        assert f"[REDACTED:{kind}]" in out, out
    assert "withheld" not in out


def test_pem_private_key_block():
    pem = textwrap.dedent("""\
        -----BEGIN RSA PRIVATE KEY-----
        MIIEpAIBAAKCAQEA1x2y3z4PEMBODYLINE0000000000000000000000000000000
        aGVsbG8gd29ybGQgdGhpcyBpcyBhIHByaXZhdGUga2V5IGJvZHkgbGluZSAy
        -----END RSA PRIVATE KEY-----
        """)
    text = "loaded key:\n" + pem + "next line stays\n"
    out = Redactor().redact(text)
    assert out == "loaded key:\n[REDACTED:private key]\nnext line stays\n"
    escaped = json.dumps({"key": "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkq\n-----END PRIVATE KEY-----\n"})
    out = Redactor().redact(escaped + " tail")
    assert "MIIEvQIBADANBgkq" not in out and out.endswith(' tail') and "[REDACTED:private key]" in out
    # an unterminated block is masked (bounded), what comes after PEM_MAX_LINES is text again
    out = Redactor().redact("-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n")
    assert "b3BlbnNzaC1rZXktdjEAAAAA" not in out
    long = "-----BEGIN EC PRIVATE KEY-----\n" + "K\n" * (R.PEM_MAX_LINES + 5) + "visible\n"
    assert Redactor().redact(long).endswith("visible\n")


def test_pem_streamed_line_by_line_matches_whole():
    lines = ["before\n", "-----BEGIN PRIVATE KEY-----\n", "MIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n",
             "AmVyeS1zZWNyZXQta2V5LWJvZHk=\n", "-----END PRIVATE KEY-----\n", "after\n"]
    r = Redactor()
    streamed = list(r.redact_lines(lines))
    assert len(streamed) == len(lines)
    assert "".join(streamed) == r.redact("".join(lines)) == "before\n[REDACTED:private key]\nafter\n"


# ---------------------------------------------------------------------------------------
# No over-redaction
# ---------------------------------------------------------------------------------------

ENV_FILE = """\
# production
export DATABASE_URL="postgresql+psycopg://budgetbuddy:Xq7%23p%40ss%2Fw0rd@db-primary.internal:5432/budgetbuddy"
REDIS_URL=redis://:r3d1s-Pa55w0rd@redis.internal:6379/0
JWT_SECRET='9c4f1e2b7a3d8e6f0b5a1c9d2e7f4a8b#not-a-comment'  # the comment is not the value
JWT_ALGORITHM=HS256
ACCESS_TOKEN_EXPIRE_MINUTES=15
MIGRATIONS_STRICT=true
DB_PORT=5432
DEBUG=false
ENV=production
SMTP_USER=mailer@budgetbuddy.example
SMTP_PASSWORD="mG#2024!smtp:Pw=ok&go"
REFRESH_COOKIE_NAME=bb_refresh
BB_SMOKE_USER=smoke@budgetbuddy.example
"""

DECOYS = [
    "deploying version 3f2a9c1b7d4e5f60718293a4b5c6d7e8f9012345 to production",
    "INFO  [alembic.runtime.migration] Running upgrade 0002_add_budgets -> 0003_add_note, add note",
    "INFO  [alembic.runtime.migration] Running upgrade 3f2a9c1b7d4e -> a7c1e9f03b2d",
    "request 123e4567-e89b-12d3-a456-426614174000 finished in 12 ms",
    "2024-05-01T12:00:01.234Z 2024-05-01 12:00:01,234 1714567890",
    "HTTP/1.1 401 Unauthorized",
    'INFO:     10.0.3.17:52344 - "POST /api/auth/login HTTP/1.1" 200 OK',
    "password reset email sent to alice@example.com",
    "MIGRATIONS_STRICT=true",
    "JWT_SECRET is required; JWT_SECRET=; missing JWT_SECRET",
    "connecting to db-primary.internal:5432 as budgetbuddy",
    "postgresql+psycopg://budgetbuddy@db-primary.internal:5432/budgetbuddy",
    "GET https://api.budgetbuddy.example:8443/users?email=bob@example.com HTTP/1.1",
    "user bob.smith@example.org logged in; refresh token rotated; bearer token missing",
    '{"token_type": "bearer", "expires_in": 900, "refresh_token_expire_days": 14}',
    "users.password_hash FROM users WHERE users.email = %(email_1)s",
    "password=%(password)s token: expired secret_name=prod-db password: ${DB_PASSWORD}",
    "    user = await authenticate(session, form.username, form.password)",
    "WWW-Authenticate: Bearer realm=\"api\", error=\"invalid_token\"",
    "Set-Cookie: theme=dark; Path=/; Max-Age=3600",
    "authorization failed for user alice: not an approver",
    "JWT_ALGORITHM=HS256 ACCESS_TOKEN_EXPIRE_MINUTES=15 DEBUG=false ENV=production DB_PORT=5432",
    "the tokenizer=bpe and secretary=alice are fine; passwordless=true",
    "smoke: healthz 200 in 3 ms; readyz 200; login 200; /me 200",
    "docker login --password-stdin registry.example.com",
]


@pytest.fixture
def env_redactor(tmp_path):
    p = tmp_path / "prod.env"
    p.write_text(ENV_FILE)
    r = Redactor()
    r.add_env_file(p)
    return r


@pytest.mark.parametrize("line", DECOYS)
def test_decoys_survive_unchanged(env_redactor, line):
    assert env_redactor.redact(line) == line
    assert Redactor().redact(line) == line


def test_triviality_rule():
    for v in ["true", "5432", "HS256", "short", "postgres", "localhost", "password", "production",
              "aaaaaaaa", "12341234", "20240501", "   x   "]:
        assert is_trivial_secret(v), v
    for v in ["hunter22", "S3cr3t!pw", "r3d1s-Pa55w0rd", "123456789012"]:
        assert not is_trivial_secret(v), v
    r = Redactor({"DB_PORT": "5432", "FLAG": "true", "DB_USER": "postgres", "JWT_ALGORITHM": "HS256"})
    line = "db on port 5432 strict=true user postgres alg HS256 via postgresql://x"
    assert r.redact(line) == line
    assert r.stats()["secrets"] == 0


def test_secret_key_names():
    for k in ["JWT_SECRET", "DB_PASSWORD", "SMTP_PASSWORD", "SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET",
              "STRIPE_SECRET_KEY", "API_KEY", "AWS_SECRET_ACCESS_KEY", "SENTRY_DSN", "BB_SMOKE_PASSWORD_PROD"]:
        assert is_secret_key(k), k
    for k in ["DATABASE_URL", "JWT_ALGORITHM", "ACCESS_TOKEN_EXPIRE_MINUTES", "MIGRATIONS_STRICT", "DEBUG",
              "REFRESH_COOKIE_NAME", "AWS_ACCESS_KEY_ID", "JWT_SECRET_FILE", "PASSWORD_MIN_LENGTH"]:
        assert not is_secret_key(k), k


def test_add_env_file_dotenv_syntax_and_url_credentials(env_redactor):
    r = env_redactor
    jwt_secret = "9c4f1e2b7a3d8e6f0b5a1c9d2e7f4a8b#not-a-comment"
    out = r.redact(f"secret is {jwt_secret}; smtp {quote('mG#2024!smtp:Pw=ok&go', safe='')}; "
                   f"db pw Xq7#p@ss/w0rd and raw url pw Xq7%23p%40ss%2Fw0rd; redis r3d1s-Pa55w0rd")
    assert "[REDACTED:JWT_SECRET]" in out and "not-a-comment" not in out
    assert "[REDACTED:SMTP_PASSWORD]" in out
    assert out.count("[REDACTED:DATABASE_URL password]") == 2
    assert "[REDACTED:REDIS_URL password]" in out
    for leak in ("Xq7", "r3d1s", "mG%23", "9c4f1e2b"):
        assert leak not in out
    # user names and hosts of the URLs are not secrets
    line = "budgetbuddy@db-primary.internal mailer@budgetbuddy.example redis.internal"
    assert r.redact(line) == line
    assert r.redact("the comment is not the value") == "the comment is not the value"


def test_add_env_picks_only_secret_looking_keys():
    r = Redactor()
    r.add_env({"JWT_SECRET": "jwt-s3cret-value", "APP_NAME": "budgetbuddy-api-service", "DB_PASSWORD": None,
               "EMPTY_TOKEN": "", "SENTRY_DSN": "https://4f2a9d1c7e3b4a8f@o1.ingest.sentry.io/42",
               "CACHE": "memcached://user:cache-pw-123@cache:11211"}, source="test")
    out = r.redact("jwt-s3cret-value budgetbuddy-api-service 4f2a9d1c7e3b4a8f cache-pw-123 o1.ingest.sentry.io")
    assert out == ("[REDACTED:JWT_SECRET] budgetbuddy-api-service [REDACTED:SENTRY_DSN credentials] "
                   "[REDACTED:CACHE password] o1.ingest.sentry.io")


def test_add_env_file_missing_raises(tmp_path):
    with pytest.raises(FileNotFoundError):
        Redactor().add_env_file(tmp_path / "nope.env")


def test_secrets_added_later_are_masked_lazily():
    r = Redactor()
    assert r.redact("value late-added-s3cret") == "value late-added-s3cret"
    r.add_secret("LATE", "late-added-s3cret")
    assert r.redact("value late-added-s3cret") == "value [REDACTED:LATE]"


def test_concurrent_add_and_redact():
    r = Redactor()
    secrets = [f"concurrent-s3cret-{i:03d}" for i in range(60)]
    errors: list[str] = []

    def adder():
        for i, s in enumerate(secrets):
            r.add_secret(f"S{i}", s)

    def reader():
        for _ in range(200):
            out = r.redact("nothing here but " + secrets[0])
            if "withheld" in out or "failed" in out:
                errors.append(out)

    threads = [threading.Thread(target=adder)] + [threading.Thread(target=reader) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert all(s not in r.redact(" ".join(secrets)) for s in secrets)


# ---------------------------------------------------------------------------------------
# redact_obj, redact_lines, exceptions
# ---------------------------------------------------------------------------------------

def test_redact_obj_deep_copies_block_kit():
    s = "bl0ck-kit-s3cret"
    r = Redactor({"JWT_SECRET": s})
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": f"*failed*: {s}"},
               "fields": [{"type": "plain_text", "text": f"pw={s}"}]},
              {"type": "context", "elements": ({"type": "mrkdwn", "text": "ok"}, 3, None, True)}]
    payload = {"channel": "C0DEPLOYS", "blocks": blocks, s: b"bytes " + s.encode(), "n": 1.5}
    out = r.redact_obj(payload)
    assert s not in json.dumps(out, default=str)
    assert out["blocks"][0]["text"]["text"] == "*failed*: [REDACTED:JWT_SECRET]"
    assert out["blocks"][1]["elements"][1:] == (3, None, True)
    assert out["[REDACTED:JWT_SECRET]"] == b"bytes [REDACTED:JWT_SECRET]"
    assert payload["blocks"][0]["text"]["text"] == f"*failed*: {s}"        # original untouched


def test_redact_lines_is_streaming_and_keeps_line_endings():
    r = Redactor({"K": "stream-s3cret-v"})
    seen = []

    def source():
        for line in ["a stream-s3cret-v\n", "b\r\n", "c"]:
            seen.append(line)
            yield line

    it = r.redact_lines(source())
    assert next(it) == "a [REDACTED:K]\n" and len(seen) == 1
    assert list(it) == ["b\r\n", "c"]


def test_redact_exception():
    s = "exc-s3cret-value"
    R.register_secrets({"EXC_SECRET": s})
    exc = ValueError(f"bad url postgresql://u:{s}@h/db and Bearer abcdef123456")
    msg = redact_exception(exc)
    assert msg.startswith("ValueError: bad url postgresql://u:") and s not in msg and "abcdef123456" not in msg

    class Unprintable(Exception):
        def __str__(self):
            raise RuntimeError("no")

    assert redact_exception(Unprintable()) == "Unprintable: <unprintable exception>"


def test_default_chokepoint_functions(tmp_path):
    p = tmp_path / "x.env"
    p.write_text("export CHOKE_TOKEN='ch0ke-t0ken-#1'\n")
    R.register_env_file(p)
    R.register_env({"OTHER_SECRET": "0ther-s3cret-v"})
    assert R.default_redactor() is R.default_redactor()
    assert R.redact("ch0ke-t0ken-#1 0ther-s3cret-v") == "[REDACTED:CHOKE_TOKEN] [REDACTED:OTHER_SECRET]"
    assert R.redact_obj({"a": ["ch0ke-t0ken-#1"]}) == {"a": ["[REDACTED:CHOKE_TOKEN]"]}


def test_non_str_input_never_raises():
    r = Redactor({"K": "n0n-str-s3cret"})
    assert r.redact(b"bytes n0n-str-s3cret") == "bytes [REDACTED:K]"
    assert r.redact(12345) == "12345"

    class Bad:
        def __str__(self):
            raise RuntimeError("boom")

    assert r.redact(Bad()) == WITHHELD_MESSAGE


# ---------------------------------------------------------------------------------------
# Fail closed
# ---------------------------------------------------------------------------------------

def test_line_that_still_matches_is_withheld(monkeypatch):
    s = "f41l-cl0sed-s3cret"
    r = Redactor({"K": s})
    monkeypatch.setattr(engine.Engine, "find", lambda self, text: [])  # masking "forgot" everything
    out = r.redact(f"first ok\nleak {s}\nleak {base64.b64encode(s.encode()).decode()}\nlast ok\n")
    assert out == "first ok\n[2 lines withheld: could not be verified]\nlast ok\n"


def test_line_that_errors_is_withheld_others_kept(monkeypatch):
    r = Redactor({"K": "err0r-line-s3cret"})
    real = engine.Engine.process

    def flaky(self, lines):
        if any("BOOM" in line for line in lines):
            raise RuntimeError("injected")
        return real(self, lines)

    monkeypatch.setattr(engine.Engine, "process", flaky)
    out = r.redact("token=abc123 BOOM\nclean line\ntoken=xyz789\n")
    assert out == "[1 line withheld: could not be verified]\nclean line\ntoken=[REDACTED:token]\n"


def test_exception_inside_redact_withholds_whole_message(monkeypatch):
    r = Redactor({"K": "wh0le-msg-s3cret"})

    def boom(self, text):
        raise RuntimeError("injected")

    monkeypatch.setattr(engine.Engine, "suspicious", boom)
    assert r.redact("anything wh0le-msg-s3cret") == WITHHELD_MESSAGE
    assert r.redact_obj({"a": ["x"]}) == {WITHHELD_MESSAGE: [WITHHELD_MESSAGE]}
    assert list(r.redact_lines(["a\n", "b"])) == ["[1 line withheld: could not be verified]\n",
                                                  "[1 line withheld: could not be verified]"]


def test_masking_bug_leaving_jwt_is_withheld(monkeypatch):
    monkeypatch.setattr(engine, "_apply", lambda s, spans: s)  # masks nothing
    out = Redactor().redact(f"ok\nt={JWT}\n")
    assert out == "ok\n[1 line withheld: could not be verified]\n"


# ---------------------------------------------------------------------------------------
# Logging
# ---------------------------------------------------------------------------------------

def test_logging_filter_redacts_message_args_exceptions_and_stack(monkeypatch):
    s = "l0gging-s3cret-v"
    r = Redactor({"LOG_SECRET": s})
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s %(extra_field)s"))
    handler.addFilter(RedactingFilter(r))
    log = logging.getLogger("test.redaction.filter")
    log.propagate = False
    log.addHandler(handler)
    try:
        try:
            raise RuntimeError(f"db said password={s} for postgresql://u:{s}@h/db")
        except RuntimeError:
            log.exception("failed with %s and %r", s, {"pw": s}, extra={"extra_field": f"x {s}"},
                          stack_info=True)
        log.warning("plain %s", "Authorization: Bearer abcdef123456")
    finally:
        log.removeHandler(handler)
    out = stream.getvalue()
    assert s not in out and "abcdef123456" not in out
    assert "failed with [REDACTED:LOG_SECRET] and {'pw': '[REDACTED:LOG_SECRET]'}" in out
    assert "RuntimeError: db said password=[REDACTED:" in out and "Traceback" in out and "Stack" in out
    assert "x [REDACTED:LOG_SECRET]" in out


def test_logging_filter_fails_closed(monkeypatch):
    f = RedactingFilter(Redactor())
    monkeypatch.setattr(Redactor, "redact", lambda self, text: 1 / 0)
    rec = logging.LogRecord("x", logging.INFO, __file__, 1, "secret %s", ("v",), None)
    assert f.filter(rec) is True
    assert rec.getMessage() == WITHHELD_MESSAGE


def test_install_logging_filter_is_idempotent():
    root = logging.getLogger()
    h = logging.StreamHandler(io.StringIO())
    root.addHandler(h)
    try:
        install_logging_filter()
        install_logging_filter()
        assert sum(isinstance(f, RedactingFilter) for f in root.filters) == 1
        assert sum(isinstance(f, RedactingFilter) for f in h.filters) == 1
    finally:
        root.removeHandler(h)
        for f in [f for f in root.filters if isinstance(f, RedactingFilter)]:
            root.removeFilter(f)


# ---------------------------------------------------------------------------------------
# bb-ops redact
# ---------------------------------------------------------------------------------------

CLI_ENV = """\
# comment line
export JWT_SECRET="cl1-jwt-s3cret#inside-quotes"   # trailing comment
DB_PASSWORD='single#quoted$pw'
DATABASE_URL=postgresql://app:url-pw-12345@db:5432/app
PLAIN=not-a-secret-value
"""


def test_run_cli_in_process(tmp_path):
    env = tmp_path / "app.env"
    env.write_text(CLI_ENV)
    stdin = io.StringIO("jwt cl1-jwt-s3cret#inside-quotes\nraw single#quoted$pw "
                        + quote("single#quoted$pw", safe="") + "\nurl postgresql://app:url-pw-12345@db/app\n"
                        "not-a-secret-value trailing comment\nno newline at end Bearer abcdef123456")
    stdout = io.StringIO()
    assert run_cli([str(env)], stdin, stdout) == 0
    assert stdout.getvalue() == (
        "jwt [REDACTED:JWT_SECRET]\nraw [REDACTED:DB_PASSWORD] [REDACTED:DB_PASSWORD]\n"
        "url postgresql://app:[REDACTED:DATABASE_URL password]@db/app\n"
        "not-a-secret-value trailing comment\nno newline at end Bearer [REDACTED:bearer token]")


def test_run_cli_missing_env_file_passes_nothing(tmp_path, capsys):
    stdout = io.StringIO()
    assert run_cli([str(tmp_path / "missing.env")], io.StringIO("secret stuff\n"), stdout) == 2
    assert stdout.getvalue() == ""
    assert "missing.env" in capsys.readouterr().err


def test_run_cli_subprocess_streams_line_by_line(tmp_path):
    env = tmp_path / "app.env"
    env.write_text(CLI_ENV)
    code = f"import sys; from bot.redaction import run_cli; sys.exit(run_cli([{str(env)!r}], sys.stdin, sys.stdout))"
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=REPO, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    try:
        # streaming: each line comes back before stdin is closed
        proc.stdin.write(b"first cl1-jwt-s3cret#inside-quotes\n")
        proc.stdin.flush()
        assert proc.stdout.readline() == b"first [REDACTED:JWT_SECRET]\n"
        proc.stdin.write(b"second " + base64.b64encode(b"u:single#quoted$pw") + b"\n")
        proc.stdin.flush()
        line = proc.stdout.readline()
        assert line.startswith(b"second ") and b"[REDACTED:DB_PASSWORD]" in line
        proc.stdin.write(b"latin1 \xe9t\xe9 bytes pass through\n")
        proc.stdin.close()
        rest = proc.stdout.read()
        assert rest == b"latin1 \xe9t\xe9 bytes pass through\n"
        assert proc.wait(timeout=20) == 0
    finally:
        proc.kill()
        proc.stdout.close()
        proc.stderr.close()


def test_import_is_stdlib_only():
    code = ("import sys; import bot.redaction; "
            "bad = [m for m in ('dotenv', 'yaml', 'slack_sdk', 'sqlalchemy', 'httpx') if m in sys.modules]; "
            "print(bad)")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=30)
    assert out.stdout.strip() == "[]", out.stderr


# ---------------------------------------------------------------------------------------
# Hostile input: matching stays linear (a target's error body must not stall the worker)
# ---------------------------------------------------------------------------------------

HOSTILE = {
    "jwt-run": "eyJ" * 70_000,
    "jwt-dots": "eyJaaaaa." * 25_000,
    "slack-run": "xoxb-" * 40_000,
    "kv-run": "password=" * 25_000,
    "kv-secret-run": "secret=" * 30_000,
    "kv-quote": 'password:"' * 20_000,
    "flags": "--password " * 20_000,
    "cookie-body": "Cookie: " + "a" * 200_000,
    "cookie-run": "cookie " * 30_000,
    "authz-run": "authorization:" * 15_000,
    "url-userinfo": "https://" + "u:" * 100_000 + "@",
    "url-encoded": "%3A%2F%2Fu%3A" * 15_000,
    "keyword-run": "password" * 25_000,
    "pem-run": "-----BEGIN PRIVATE KEY-----" * 8_000,
    "values": "Xq7#p@ss/w0rd!$%&+=" * 10_000,
}


@pytest.mark.parametrize("name", list(HOSTILE))
def test_hostile_input_is_linear(name):
    import time

    r = Redactor({"K": "Xq7#p@ss/w0rd!$%&+="})
    t = time.perf_counter()
    out = r.redact(HOSTILE[name])
    assert time.perf_counter() - t < 3.0, name
    assert "Xq7#p@ss" not in out
