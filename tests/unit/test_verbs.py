"""The verb table is the one place verbs are described: grammar, help and config all read it."""

from __future__ import annotations

import pytest

from bot.core import verbs
from bot.core.config import parse_config
from bot.core.errors import ConfigError
from bot.core.grammar import GrammarError, Request, parse
from bot.core.verbs import MUTATING, RELEASE_VERBS, VERBS, Verb, verb
from bot.slack.render import help_text

ENVS = {"production": "production", "prod": "production", "staging": "staging"}
HELP_ORDER = ("help", "envs", "healthz", "readyz", "precheck", "smoke", "migrations", "migrate", "deploy",
              "rollback", "restore", "snapshots", "history", "status", "cancel")
ACK_PATH = ("help", "status", "cancel")          # answered without a worker


def test_the_table_lists_every_verb_in_help_order():
    assert tuple(VERBS) == HELP_ORDER
    assert all(isinstance(v, Verb) and v.name == name for name, v in VERBS.items())


@pytest.mark.parametrize("name", HELP_ORDER)
def test_every_verb_has_usage_description_and_a_runner(name):
    v = VERBS[name]
    assert v.usage == f"/bb {name}" or v.usage.startswith(f"/bb {name} ")
    assert v.description and "\n" not in v.description
    assert ("<env>" in v.usage) is v.needs_env
    if name in ACK_PATH:
        assert v.step is None
    else:
        assert v.step == name and v.step.isidentifier()


def test_mutating_verbs_plan_approve_and_lock():
    assert MUTATING == ("migrate", "deploy", "rollback", "restore")
    assert MUTATING == tuple(v.name for v in VERBS.values() if v.mutates)
    for name in MUTATING:
        assert VERBS[name].needs_env and VERBS[name].step is not None and VERBS[name].default_approval
    assert {v.name for v in VERBS.values() if v.default_approval} <= set(MUTATING)
    assert RELEASE_VERBS == ("deploy", "rollback", "restore") and set(RELEASE_VERBS) <= set(MUTATING)


def test_lookup_of_an_unknown_verb_is_a_lookup_error():
    assert verb("deploy") is VERBS["deploy"]
    with pytest.raises(LookupError, match="frobnicate"):
        verb("frobnicate")
    with pytest.raises(LookupError):
        verb("DEPLOY")


def _example(v: Verb) -> str:
    """A valid command for ``v``."""
    extra = {"deploy": " 1.4.2", "restore": " snap-1"}.get(v.name, "")
    if v.takes_run_id:
        return f"{v.name} 7"
    return v.name + (" prod" if v.needs_env else "") + extra


@pytest.mark.parametrize("name", HELP_ORDER)
def test_grammar_accepts_every_verb_of_the_table(name):
    req = parse(_example(VERBS[name]), ENVS)
    assert isinstance(req, Request) and req.verb == name
    assert req.mutating is VERBS[name].mutates
    assert (req.env == "production") is VERBS[name].needs_env


@pytest.mark.parametrize("word", ["frobnicate", "lock", "unlock", "approve", "run", "freeze"])
def test_grammar_refuses_what_is_not_in_the_table_and_lists_the_table(word):
    err = parse(f"{word} prod", ENVS)
    assert isinstance(err, GrammarError) and "not a bb-ops verb" in err.message
    assert err.valid == HELP_ORDER


def test_help_lists_every_verb_with_its_usage_in_table_order():
    text, blocks = help_text([("production", ["prod"], ["U0ALICE"], list(MUTATING))])
    positions = [text.index(f"`{v.usage}` — {v.description}") for v in VERBS.values()]
    assert positions == sorted(positions)
    assert all(v.usage in blocks[0]["text"]["text"] for v in VERBS.values())


def _config(approval: dict) -> dict:
    return {"environments": {"staging": {"base_url": "https://staging.example", "channels": ["C0STAGING"],
                                         "approval": approval}}}


def test_config_defaults_to_approval_for_the_table_s_default_verbs():
    cfg = parse_config(_config({"approvers": ["U0ALICE"]}))
    assert cfg.environments["staging"].approval.required_for == [
        v.name for v in VERBS.values() if v.default_approval]


@pytest.mark.parametrize("name", MUTATING)
def test_config_accepts_each_mutating_verb_in_required_for(name):
    cfg = parse_config(_config({"required_for": [name], "approvers": ["U0ALICE"]}))
    assert cfg.environments["staging"].needs_approval(name)


@pytest.mark.parametrize("name", [n for n in HELP_ORDER if n not in MUTATING] + ["frobnicate", 3])
def test_config_refuses_other_verbs_in_required_for_with_their_path(name):
    with pytest.raises(ConfigError) as exc:
        parse_config(_config({"required_for": ["migrate", name]}))
    assert ("environments.staging.approval.required_for.1: Input should be "
            "'migrate', 'deploy', 'rollback' or 'restore'") in str(exc.value)


def test_job_timeouts_without_an_environment():
    assert verbs.job_timeout_s(None, "readyz", "run") == 120.0


def test_a_verb_without_a_step_module_fails_at_import(monkeypatch):
    """Like Atlantis' command runner on a missing runner: the worker does not start."""
    import dataclasses
    import importlib
    import sys

    import bot.core.verbs as verbs_module

    import workers

    ghost = dataclasses.replace(verbs_module.VERBS["readyz"], name="ghost", step="ghost")
    monkeypatch.setattr(workers, "steps", importlib.import_module("workers.steps"))   # restored afterwards
    monkeypatch.setitem(verbs_module.VERBS, "ghost", ghost)
    monkeypatch.delitem(sys.modules, "workers.steps", raising=False)
    with pytest.raises(ImportError, match=r"verbs without a step module: ghost \(workers/steps/ghost.py\)"):
        importlib.import_module("workers.steps")
    monkeypatch.delitem(sys.modules, "workers.steps", raising=False)
    monkeypatch.delitem(verbs_module.VERBS, "ghost")
    assert importlib.import_module("workers.steps").load("readyz").__name__ == "workers.steps.readyz"
