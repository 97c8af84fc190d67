"""No secret reaches Slack, the audit trail, files or logs, even when the target leaks its own.

The reference target runs in leaky mode: its readyz reasons and error bodies carry its
DATABASE_URL (with the password), its JWT_SECRET and the bearer token it issued.
"""

import base64
import json
import logging
import urllib.parse

from bot.infra.audit import to_export
from tests.support.fixtures_bot import make_driver
from bot.devkit.world import ALICE, CHANNEL


def _forms(secret: str) -> list[str]:
    raw = secret.encode()
    return [secret, urllib.parse.quote(secret, safe=""), urllib.parse.quote_plus(secret),
            base64.b64encode(raw).decode().rstrip("="), base64.urlsafe_b64encode(raw).decode().rstrip("="),
            json.dumps(secret)[1:-1], raw.hex()]


def _everything_said(driver) -> str:
    standin = driver.standin
    parts = [json.dumps(standin.messages()), json.dumps(standin.files()), json.dumps(standin.calls())]
    parts += [json.dumps(to_export(e), default=str) for e in driver.rt.store.audit_events()]
    return "\n".join(parts)


def test_leaky_target_leaks_nothing_through_the_bot(tmp_path, make_target, standin, caplog):
    target = make_target(revision="0005_budgets", BUDGETBUDDY_LEAKY="true", BUDGETBUDDY_FAIL_ME="true")
    from sqlalchemy.engine import make_url

    db_password = make_url(target.effective_database_url).password
    assert db_password and len(db_password) > 8
    caplog.set_level(logging.INFO)
    with make_driver(tmp_path, target, standin, in_process=True) as bot:
        for cmd in ("readyz prod", "precheck prod", "migrations prod"):
            bot.command(ALICE, CHANNEL, cmd)
        # the target really leaked: its readyz reason carries the secrets
        import httpx

        leaked = httpx.get(target.url("/api/readyz")).text
        assert target.jwt_secret in leaked and urllib.parse.quote(db_password, safe="") in leaked
        target.migrate()   # now ready: smoke logs in, and the leaky /me echoes the bearer token in its 500
        bot.command(ALICE, CHANNEL, "smoke prod")
        said = _everything_said(bot)
    # and what bb-ops said names what it hid, never any part of it
    assert "[REDACTED:" in said
    assert "not ready" in said and "migrations not at head" in said
    secrets = [target.jwt_secret, db_password, target.smoke_password]
    for secret in secrets:
        for form in _forms(secret):
            assert form not in said, f"a secret leaked in the form {form[:6]}…"
            assert form not in caplog.text
    # a bearer token was issued during the smoke test and echoed by the leaky /me: masked too
    assert "smoke test of production failed at /me" in said
    assert "[REDACTED:bearer token]" in said or "[REDACTED:jwt]" in said


def test_target_leak_endpoint_output_is_masked_line_by_line(make_target):
    """The redaction engine against the target's own deliberate leak dump (all encodings)."""
    import httpx

    from bot.redaction import Redactor

    target = make_target(BUDGETBUDDY_LEAKY="true")
    token = target.login().json()["access_token"]
    body = httpx.get(target.url("/api/debug/leak")).text
    redactor = Redactor()
    redactor.add_env_file(target.env_file)
    out = redactor.redact(body)
    from sqlalchemy.engine import make_url

    db_password = make_url(target.effective_database_url).password
    for secret in (target.jwt_secret, db_password, token):
        for form in _forms(secret):
            assert form not in out
    assert "RuntimeError: deliberate leak" in out


def test_long_output_goes_to_a_thread_file(bot):
    """Slack's limits: a long text is never silently cut; the full (redacted) text is a file."""
    from bot.redaction import register_secrets

    register_secrets({"TEST_SECRET": "s3cr3t-value-for-files-1234"})
    long_text = "\n".join(f"INFO  [alembic.runtime.migration] step {i} s3cr3t-value-for-files-1234" for i in range(400))
    ts = bot.rt.poster.post(CHANNEL, long_text)
    (msg,) = [m for m in bot.standin.messages() if m["ts"] == ts]
    assert len(msg["text"]) < 4000 and "full text in the attached file" in msg["text"]
    (f,) = bot.standin.files()
    assert f["thread_ts"] == ts and f["content"].count("\n") == 399
    assert "s3cr3t-value-for-files-1234" not in f["content"] and "[REDACTED:TEST_SECRET]" in f["content"]


def test_structured_log_lines_carry_the_redacted_traceback():
    """A JSON log line keeps the traceback (redacted), never the secret in it."""
    import subprocess
    import sys

    script = (
        "import logging\n"
        "from bot.infra.logs import setup_logging\n"
        "from bot.redaction import register_secrets\n"
        "setup_logging()\n"
        "register_secrets({'JWT_SECRET': 'supersecretvalue-123456789'})\n"
        "try:\n"
        "    raise RuntimeError('boom supersecretvalue-123456789')\n"
        "except RuntimeError:\n"
        "    logging.getLogger('x').exception('failed with supersecretvalue-123456789')\n"
    )
    res = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    (line,) = [json.loads(x) for x in res.stderr.splitlines() if x.startswith("{")]
    assert line["msg"] == "failed with [REDACTED:JWT_SECRET]"
    assert "RuntimeError: boom [REDACTED:JWT_SECRET]" in line["exc"]
    assert "supersecretvalue" not in res.stderr
