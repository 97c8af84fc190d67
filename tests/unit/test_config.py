"""Config validation: typed, unknown keys refused with their path, unsafe settings refused."""

import subprocess
import sys

import pytest
import yaml

from bot.core.config import load_config, parse_config
from bot.core.errors import ConfigError

GOOD = {
    "environments": {
        "production": {
            "aliases": ["prod"],
            "base_url": "https://api.budgetbuddy.example",
            "channels": ["C0DEPLOYS"],
            "app_env": {"file": "/srv/budgetbuddy/.env"},
            "backend": {"dir": "/srv/budgetbuddy/backend", "python": "/srv/budgetbuddy/backend/.venv/bin/python"},
            "smoke": {"username_env": "BB_SMOKE_USER_PROD", "password_env": "BB_SMOKE_PASSWORD_PROD"},
            "approval": {"required_for": ["migrate", "deploy", "rollback", "restore"],
                         "approvers": ["U0ALICE", "U0BOB"], "allow_self_approval": False,
                         "expires_after_minutes": 30},
            "hooks": {"release": ["./deploy/release.sh", "{version}"],
                      "restrict_writes": ["./deploy/maintenance.sh", "on"],
                      "allow_writes": ["./deploy/maintenance.sh", "off"]},
            "timeouts": {"http_s": 5, "migrate_s": 900, "smoke_s": 300},
            "snapshots": {"dir": "var/snapshots/production", "keep": 10},
        },
        "staging": {"base_url": "http://127.0.0.1:8000", "channels": ["C0STAGING"],
                    "approval": {"approvers": ["U0ALICE"]}},
    }
}


def _with(path: str, value):
    import copy

    data = copy.deepcopy(GOOD)
    node = data
    keys = path.split(".")
    for k in keys[:-1]:
        node = node[k]
    node[keys[-1]] = value
    return data


def test_the_design_example_validates():
    cfg = parse_config(GOOD)
    assert cfg.names() == {"production": "production", "prod": "production", "staging": "staging"}
    prod = cfg.get("prod")
    assert prod.name == "production" and prod.timeouts.migrate_s == 900
    assert prod.needs_approval("migrate") and not prod.needs_approval("readyz")
    assert cfg.safety_problems() == []


@pytest.mark.parametrize("path, value, expected", [
    ("environments.production.approval.approvers", ["alice"], "environments.production.approval.approvers.0"),
    ("environments.production.approval.expires_after_minutes", 0, "expires_after_minutes"),
    ("environments.production.channels", ["#deploys"], "environments.production.channels.0"),
    ("environments.production.base_url", "ftp://x", "environments.production.base_url"),
    ("environments.production.base_url", "https://user:pw@api.example", "must not carry credentials"),
    ("environments.production.hooks.release", ["sh", "-c", "deploy {version}"], "without a shell"),
    ("environments.production.timeouts.http_s", -1, "timeouts.http_s"),
    ("environments.production.smoke.password_env", "not a var", "smoke.password_env"),
    ("environments.production.approval.required_for", ["readyz"], "required_for.0"),
    ("environments.production.aliases", ["staging"], "already used"),
])
def test_bad_values_are_refused_with_their_path(path, value, expected):
    with pytest.raises(ConfigError) as exc:
        parse_config(_with(path, value))
    assert expected in str(exc.value)


def test_unknown_key_names_its_path():
    data = _with("environments.production.approval.approver", ["U0ALICE"])
    with pytest.raises(ConfigError) as exc:
        parse_config(data)
    assert "environments.production.approval.approver: unknown key" in str(exc.value)


@pytest.mark.parametrize("path, value, expected", [
    ("environments.production.approval.allow_self_approval", True, "second person"),
    ("environments.production.approval.required_for", ["migrate"], "must require approval"),
    ("environments.production.approval.approvers", [], "nobody may approve"),
    ("environments.production.base_url", "http://api.budgetbuddy.example", "https"),
])
def test_unsafe_settings_are_reported(path, value, expected):
    problems = parse_config(_with(path, value)).safety_problems()
    assert any(expected in p for p in problems), problems


def _check(tmp_path, text: str, *extra):
    cfg = tmp_path / "environments.yaml"
    cfg.write_text(text)
    return subprocess.run([sys.executable, "-m", "bot.cli", "config", "check", "--config", str(cfg), *extra],
                          capture_output=True, text=True, timeout=60)


def test_config_check_on_a_broken_file(tmp_path):
    res = _check(tmp_path, "environments:\n  production:\n    base_url: [unclosed\n")
    assert res.returncode == 1
    assert "not valid YAML" in res.stderr and "line" in res.stderr


def test_config_check_names_the_bad_key(tmp_path):
    res = _check(tmp_path, yaml.safe_dump(_with("environments.production.timeouts.migrate", 5)))
    assert res.returncode == 1
    assert "environments.production.timeouts.migrate: unknown key" in res.stderr


def test_config_check_refuses_unsafe(tmp_path):
    res = _check(tmp_path, yaml.safe_dump(_with("environments.production.approval.allow_self_approval", True)))
    assert res.returncode == 1 and "unsafe:" in res.stderr


def test_config_check_ok_and_strict(tmp_path):
    res = _check(tmp_path, yaml.safe_dump(GOOD))
    assert res.returncode == 0, res.stderr
    assert "OK (2 environments" in res.stdout
    assert "app_env.file" in res.stderr  # /srv/... is missing on this machine: a warning
    strict = _check(tmp_path, yaml.safe_dump(GOOD), "--strict")
    assert strict.returncode == 1


def test_missing_config_file_says_what_to_do(tmp_path):
    with pytest.raises(ConfigError) as exc:
        load_config(tmp_path / "nope.yaml")
    assert "BBOPS_CONFIG" in str(exc.value)


def test_repository_example_config_is_valid():
    cfg = load_config("config/environments.yaml")
    assert "production" in cfg.environments and cfg.safety_problems() == []


# -- process settings ------------------------------------------------------------------------------
def test_settings_timings_default_from_the_defaults_module():
    from bot.core import defaults
    from bot.core.settings import Settings

    s = Settings.from_env({})
    assert (s.janitor_sweep_s, s.lost_after_s, s.run_heartbeat_s, s.dead_after_s) == (
        defaults.JANITOR_SWEEP_S, defaults.LOST_AFTER_S, defaults.RUN_HEARTBEAT_S, defaults.DEAD_AFTER_S)
    assert (s.slack_api_url, s.database_url, str(s.config_path), s.host, s.port) == (
        defaults.SLACK_API_URL, defaults.DATABASE_URL, defaults.CONFIG_PATH, defaults.HOST, defaults.PORT)


def test_settings_timings_come_from_the_environment_when_the_process_starts():
    from bot.core.settings import Settings

    s = Settings.from_env({"BBOPS_JANITOR_SWEEP_S": "0.5", "BBOPS_LOST_AFTER_S": "1",
                           "BBOPS_RUN_HEARTBEAT_S": "0.5", "BBOPS_DEAD_AFTER_S": "3"})
    assert (s.janitor_sweep_s, s.lost_after_s, s.run_heartbeat_s, s.dead_after_s) == (0.5, 1.0, 0.5, 3.0)
    # not a number, or not positive: the default; a worker is dead after at least two missed beats
    s = Settings.from_env({"BBOPS_JANITOR_SWEEP_S": "fast", "BBOPS_LOST_AFTER_S": "-1",
                           "BBOPS_RUN_HEARTBEAT_S": "20", "BBOPS_DEAD_AFTER_S": "3"})
    assert (s.janitor_sweep_s, s.lost_after_s, s.run_heartbeat_s, s.dead_after_s) == (2.0, 3.0, 20.0, 40.0)


@pytest.mark.parametrize("module", ["bot.core.defaults", "bot.serve.janitor", "bot.infra.locks"])
def test_defaults_and_timings_are_not_read_from_the_environment_at_import(module):
    import importlib
    import inspect

    source = inspect.getsource(importlib.import_module(module))
    assert "os.environ" not in source and "getenv" not in source
