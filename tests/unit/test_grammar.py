"""The command grammar is a pure function: table tests."""

import pytest

from bot.core.grammar import GrammarError, Request, format_request, parse

ENVS = {"production": "production", "prod": "production", "staging": "staging"}


@pytest.mark.parametrize("text, expected", [
    ("", Request("help")),
    ("help", Request("help")),
    ("envs", Request("envs")),
    ("readyz prod", Request("readyz", "production")),
    ("READYZ Production", Request("readyz", "production")),
    ("  smoke   staging ", Request("smoke", "staging")),
    ("migrations prod", Request("migrations", "production")),
    ("migrate prod", Request("migrate", "production")),
    ("deploy prod 1.4.2", Request("deploy", "production", version="1.4.2")),
    ("deploy prod v1.4.2-rc.1", Request("deploy", "production", version="v1.4.2-rc.1")),
    ("deploy prod 3f2a9c1", Request("deploy", "production", version="3f2a9c1")),
    ("rollback prod", Request("rollback", "production", target="-1")),
    ("rollback prod -2", Request("rollback", "production", target="-2")),
    ("rollback prod 0003_transaction_note", Request("rollback", "production", target="0003_transaction_note")),
    ("rollback prod 0003_x --accept-data-loss", Request("rollback", "production", target="0003_x", accept_data_loss=True)),
    ("restore prod production-20261125T101010Z-0004", Request("restore", "production", snapshot="production-20261125T101010Z-0004")),
    ("status 42", Request("status", run_id=42)),
    ("status #42", Request("status", run_id=42)),
    ("cancel 7", Request("cancel", run_id=7)),
    ("snapshots prod", Request("snapshots", "production")),
    ("history staging", Request("history", "staging")),
])
def test_valid_commands(text, expected):
    assert parse(text, ENVS) == expected


@pytest.mark.parametrize("text, words", [
    ("frobnicate prod", ["not a bb-ops verb", "readyz", "migrate"]),
    ("readyz moon", ["not a configured environment", "production (prod)", "staging"]),
    ("readyz", ["needs an environment", "/bb readyz production", "/bb readyz staging"]),
    ("readyz prod extra", ["takes only an environment"]),
    ("readyz prod --force", ["not an option"]),
    ("migrate prod --accept-data-loss", ["not an option"]),
    ("deploy prod", ["exactly one version"]),
    ("deploy prod ../../etc/passwd", ["A version is"]),
    ("deploy prod 1.2.3;rm", ["A version is"]),
    ("deploy prod $(id)", ["A version is"]),
    ("deploy prod --version=1", ["not an option"]),
    ("rollback prod -0", ["rollback target"]),
    ("rollback prod ../x", ["rollback target"]),
    ("restore prod", ["needs a snapshot"]),
    ("restore prod ../../x.dump", ["snapshot name"]),
    ("restore prod a..b", ["snapshot name"]),
    ("status abc", ["run id is a number"]),
    ("status", ["takes one run id"]),
    ("help me", ["takes no arguments"]),
    ("readyz prod\u202e", ["bidirectional"]),
    ("readyz\x00 prod", ["control characters"]),
    ("readyz prod " + "x" * 600, ["at most 500"]),
    ("smoke prod; rm -rf /", ["not a configured environment"]),
])
def test_invalid_commands_say_what_is_valid(text, words):
    result = parse(text, ENVS)
    assert isinstance(result, GrammarError)
    for w in words:
        assert w in result.text()


def test_errors_never_echo_hostile_tokens():
    result = parse("$(curl evil) prod", ENVS)
    assert isinstance(result, GrammarError)
    assert "curl" not in result.text()


@pytest.mark.parametrize("text", ["readyz prod", "deploy prod 1.2.3", "rollback prod 0003_x --accept-data-loss",
                                  "rollback prod -2", "restore staging snap-1", "status 5", "envs", "help"])
def test_format_is_the_inverse_of_parse(text):
    req = parse(text, ENVS)
    assert parse(format_request(req).removeprefix("/bb").strip(), ENVS) == req
