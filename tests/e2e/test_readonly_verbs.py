"""Every read-only verb end to end: signed command → Bolt → job → httpx/Alembic against the real
reference target → redacted result in the channel (parent message + thread)."""

import pytest

from bot.devkit.world import ALICE, CHANNEL
from tests.support.fixtures_bot import make_driver
from tests.support.messages import parent_and_thread


def run_of(driver):
    return driver.rt.store.runs(limit=1)[0]


def test_readyz_ready(bot):
    msgs = bot.command(ALICE, CHANNEL, "readyz prod")
    ack = msgs[0]
    assert ack["ephemeral"] and ack["user"] == ALICE and "Queued as run 1" in ack["text"]
    parent, thread = parent_and_thread(msgs)
    assert "run 1" in parent["text"] and "/bb readyz production" in parent["text"] and "<@U0ALICE>" in parent["text"]
    assert "production is ready" in parent["text"]
    assert len(thread) == 1 and "200 status=ready" in thread[0]["text"] and "next: `/bb smoke production`" in thread[0]["text"]
    run = run_of(bot)
    assert run.status.value == "succeeded"
    events = [e["event"] for e in bot.rt.store.audit_events(run.id)]
    assert events == ["requested", "started", "step_started", "step_finished", "succeeded"]


def test_healthz(bot):
    parent, thread = parent_and_thread(bot.command(ALICE, CHANNEL, "healthz prod"))
    assert "production is healthy" in parent["text"] and "200 OK" in thread[0]["text"]


def test_smoke_passes_all_four_steps(bot):
    parent, thread = parent_and_thread(bot.command(ALICE, CHANNEL, "smoke prod"))
    assert "smoke test of production passed (4/4 steps" in parent["text"]
    for step in ("healthz", "readyz", "login", "/me"):
        assert f"✔ {step}" in thread[0]["text"]
    assert "authenticated as smoke@budgetbuddy.test" in thread[0]["text"]


def test_migrations_aligned(bot, session_target):
    parent, thread = parent_and_thread(bot.command(ALICE, CHANNEL, "migrations prod"))
    head = session_target.current_revision()
    assert f"aligned: current {head} is the head" in parent["text"]


def test_precheck_passes(bot):
    parent, thread = parent_and_thread(bot.command(ALICE, CHANNEL, "precheck prod"))
    assert "precheck of production passed" in parent["text"], thread[0]["text"]
    assert "required settings present" in thread[0]["text"] and "MIGRATIONS_STRICT=true" in thread[0]["text"]


def test_envs_lists_revision_and_last_run(bot, session_target):
    bot.command(ALICE, CHANNEL, "readyz prod")
    parent, thread = parent_and_thread(bot.command(ALICE, CHANNEL, "envs"))
    text = thread[0]["text"]
    assert f"production (prod): revision {session_target.current_revision()}" in text
    assert "unlocked" in text and "last run 1 `/bb readyz production` succeeded" in text


# -- not ready, down, slow, garbage -----------------------------------------------------------
def test_readyz_not_ready_shows_the_targets_reason(tmp_path, make_target, standin):
    target = make_target()
    target.alembic("downgrade", "-1")   # one behind head: strict readiness says 503
    with make_driver(tmp_path, target, standin, in_process=True) as bot:
        parent, thread = parent_and_thread(bot.command(ALICE, CHANNEL, "readyz prod"))
    assert "production is not ready" in parent["text"] and "migrations not at head" in parent["text"]
    assert "503" in thread[0]["text"] and "next: `/bb migrations production`" in thread[0]["text"]
    assert run_of(bot).status.value == "failed"


def test_target_down_is_a_clear_message(tmp_path, make_target, standin):
    target = make_target()
    target.stop()
    with make_driver(tmp_path, target, standin, in_process=True) as bot:
        parent, thread = parent_and_thread(bot.command(ALICE, CHANNEL, "readyz prod"))
    assert "production is not ready" in parent["text"]
    assert "refused or could not be reached" in thread[0]["text"] and "Traceback" not in thread[0]["text"]


def test_target_slow_times_out(tmp_path, make_target, standin):
    target = make_target(BUDGETBUDDY_READYZ_DELAY_S="5")
    with make_driver(tmp_path, target, standin, in_process=True, timeouts={"http_s": 0.5}) as bot:
        parent, thread = parent_and_thread(bot.command(ALICE, CHANNEL, "readyz prod"))
    assert "did not answer GET /api/readyz within 0.5 s" in thread[0]["text"]


def test_target_answers_garbage(tmp_path, make_target, standin):
    target = make_target(BUDGETBUDDY_GARBAGE="true")
    with make_driver(tmp_path, target, standin, in_process=True) as bot:
        parent, thread = parent_and_thread(bot.command(ALICE, CHANNEL, "readyz prod"))
        assert "not JSON" in thread[0]["text"] and "<html>oops" in thread[0]["text"]
        parent, thread = parent_and_thread(bot.command(ALICE, CHANNEL, "healthz prod"))
        assert "not healthy" in parent["text"] and "not JSON" in thread[0]["text"]


# -- smoke failing at each of its four steps ----------------------------------------------------
@pytest.mark.parametrize("flags, step, detail", [
    ({"BUDGETBUDDY_GARBAGE": "true"}, "healthz", "not JSON"),
    ({"BUDGETBUDDY_READYZ_DELAY_S": "5"}, "readyz", "did not answer"),
    ({"BUDGETBUDDY_FAIL_LOGIN": "true"}, "login", "answered 500"),
    ({"BUDGETBUDDY_FAIL_ME": "true"}, "/me", "answered 500"),
])
def test_smoke_failure_names_its_step(tmp_path, make_target, standin, flags, step, detail):
    target = make_target(**flags)
    with make_driver(tmp_path, target, standin, in_process=True, timeouts={"http_s": 1}) as bot:
        parent, thread = parent_and_thread(bot.command(ALICE, CHANNEL, "smoke prod"))
    assert f"smoke test of production failed at {step}" in parent["text"]
    assert f"✘ {step}" in thread[0]["text"] and detail in thread[0]["text"]


def test_smoke_with_wrong_password_says_check_credentials(tmp_path, session_target, standin, monkeypatch):
    monkeypatch.setenv("BB_SMOKE_PASSWORD_PROD", "wrong-password-123")
    with make_driver(tmp_path, session_target, standin, in_process=True) as bot:
        parent, thread = parent_and_thread(bot.command(ALICE, CHANNEL, "smoke prod"))
    assert "failed at login" in parent["text"] and "401" in thread[0]["text"] and "credentials" in thread[0]["text"]
    assert "wrong-password-123" not in str(bot.standin.messages())


# -- precheck failing each fail-fast rule ---------------------------------------------------------
@pytest.mark.parametrize("change, expected", [
    ({"DEBUG": "true"}, "DEBUG=true"),
    ({"BUDGETBUDDY_CORS_ORIGINS": "*"}, "contains * in production"),
    ({"REFRESH_COOKIE_SAMESITE": "none", "REFRESH_COOKIE_SECURE": "false"}, "requires REFRESH_COOKIE_SECURE=true"),
    ({"JWT_SECRET": ""}, "missing: JWT_SECRET"),
])
def test_precheck_fails_each_rule(tmp_path, session_target, standin, change, expected):
    from bot.devkit.reference_target import dotenv_quote

    values = {**session_target.env(), **change}
    env_file = tmp_path / "app.env"
    env_file.write_text("".join(f"{k}={dotenv_quote(v)}\n" for k, v in values.items()))
    with make_driver(tmp_path, session_target, standin, in_process=True, app_env_file=env_file) as bot:
        parent, thread = parent_and_thread(bot.command(ALICE, CHANNEL, "precheck prod"))
    assert "precheck of production failed: config" in parent["text"]
    assert expected in thread[0]["text"]


def test_precheck_warns_when_migrations_strict_is_off(tmp_path, session_target, standin):
    from bot.devkit.reference_target import dotenv_quote

    values = {**session_target.env(), "MIGRATIONS_STRICT": "false"}
    env_file = tmp_path / "app.env"
    env_file.write_text("".join(f"{k}={dotenv_quote(v)}\n" for k, v in values.items()))
    with make_driver(tmp_path, session_target, standin, in_process=True, app_env_file=env_file) as bot:
        parent, thread = parent_and_thread(bot.command(ALICE, CHANNEL, "precheck prod"))
    assert "• config: MIGRATIONS_STRICT is not true (recommended true in production)" in thread[0]["text"]


# -- migration diagnostics states ----------------------------------------------------------------
def test_migrations_behind_lists_pending_with_verdicts(tmp_path, make_target, standin):
    target = make_target(revision="0003_transaction_note")
    with make_driver(tmp_path, target, standin, in_process=True) as bot:
        parent, thread = parent_and_thread(bot.command(ALICE, CHANNEL, "migrations prod"))
    assert "behind: current 0003_transaction_note, head 0006_user_display_name, 3 pending" in parent["text"]
    text = thread[0]["text"]
    assert "pending 0004_drop_legacy_ref: lossy" in text
    assert "pending 0005_budgets: irreversible" in text
    assert "pending 0006_user_display_name: reversible" in text
    assert "next: `/bb migrate production`" in text


def test_migrations_unknown_revision(tmp_path, make_target, standin):
    target = make_target()
    import psycopg

    url = target.effective_database_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("UPDATE alembic_version SET version_num = 'ffffdeadbeef'")
    with make_driver(tmp_path, target, standin, in_process=True) as bot:
        parent, thread = parent_and_thread(bot.command(ALICE, CHANNEL, "migrations prod"))
    assert "ahead or unknown" in parent["text"] and "treat as not ready" in parent["text"]


def test_migrations_multiple_heads(tmp_path, make_target, standin):
    target = make_target()
    backend = target.isolate_backend()
    (backend / "migrations" / "versions" / "0007_branch.py").write_text(
        '"""a second head"""\nrevision = "0007_branch"\ndown_revision = "0005_budgets"\n'
        'branch_labels = None\ndepends_on = None\n\n\ndef upgrade():\n    pass\n\n\ndef downgrade():\n    pass\n')
    with make_driver(tmp_path, target, standin, in_process=True) as bot:
        parent, thread = parent_and_thread(bot.command(ALICE, CHANNEL, "migrations prod"))
    assert "multiple heads" in parent["text"]


def test_migrations_error_when_database_unreachable(tmp_path, session_target, standin):
    from bot.devkit.reference_target import dotenv_quote

    values = {**session_target.env(), "DATABASE_URL": "postgresql+psycopg://bb:s3cretPassw0rd@127.0.0.1:1/none"}
    env_file = tmp_path / "app.env"
    env_file.write_text("".join(f"{k}={dotenv_quote(v)}\n" for k, v in values.items()))
    with make_driver(tmp_path, session_target, standin, in_process=True, app_env_file=env_file) as bot:
        parent, thread = parent_and_thread(bot.command(ALICE, CHANNEL, "migrations prod"))
        assert "error:" in parent["text"] and "alembic current exited with status" in parent["text"] + thread[0]["text"]
        assert "s3cretPassw0rd" not in str(bot.standin.messages())
