"""The typed plan: its dict form is what the runs table has always stored, its digest the plan hash."""

from __future__ import annotations

import dataclasses
import hashlib
import json

import pytest

from bot.core.plan import Plan, PlannedRevision, RestoreSource

#: plans as the worker stored them before they were typed (one of each shape)
MIGRATE = {"verb": "migrate", "env": "production", "current": "0005_budgets", "target": "0006_user_display_name",
           "revisions": [{"revision": "0006_user_display_name", "verdict": "reversible",
                          "reasons": ["adds a nullable column"], "direction": "upgrade"}],
           "code": "0123456789abcdef", "snapshot": "verified snapshot before the upgrade"}
DEPLOY_NOTHING_PENDING = {"verb": "deploy", "env": "staging", "current": None, "target": None, "revisions": [],
                          "code": "fedcba9876543210", "snapshot": None,
                          "notes": ["no pending migrations: release hook, then smoke"], "version": "1.4.2"}
ROLLBACK_BY_RESTORE = {"verb": "rollback", "env": "production", "current": "0007_budget_note",
                       "target": "0005_budgets", "code": "0123456789abcdef", "version": "1.5.0",
                       "accept_data_loss": True,
                       "revisions": [{"revision": "0007_budget_note", "verdict": "irreversible",
                                      "reasons": ["downgrade is pass"], "direction": "downgrade"},
                                     {"revision": "0006_user_display_name", "verdict": "lossy", "reasons": [],
                                      "direction": "downgrade"}],
                       "method": "restore", "snapshot": "production-0005 (revision 0005_budgets, verified)",
                       "restore": {"name": "production-0005", "revision": "0005_budgets", "sha256": "ab" * 32},
                       "notes": ["restore, because 0007_budget_note (irreversible) cannot be downgraded"]}
RESTORE = {"verb": "restore", "env": "production", "current": "unknown", "target": "base", "method": "restore",
           "snapshot": "production-base (revision base, verified)",
           "restore": {"name": "production-base", "revision": None, "sha256": "cd" * 32}, "redeploy": "1.4.0",
           "notes": ["redeploy 1.4.0, the release that was running when the snapshot was taken"]}
SAMPLES = [MIGRATE, DEPLOY_NOTHING_PENDING, ROLLBACK_BY_RESTORE, RESTORE]


def old_plan_hash(plan: dict) -> str:
    """``approvals.plan_hash`` as it was, over the untyped dict."""
    return hashlib.sha256(json.dumps(plan, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


@pytest.mark.parametrize("stored", SAMPLES, ids=lambda d: f"{d['verb']}-{d.get('method', '')}")
def test_round_trip_keeps_every_key_and_value(stored):
    plan = Plan.from_dict(stored)
    assert plan.to_dict() == stored
    assert Plan.from_dict(plan.to_dict()) == plan


@pytest.mark.parametrize("stored", SAMPLES, ids=lambda d: f"{d['verb']}-{d.get('method', '')}")
def test_digest_is_the_hash_the_runs_table_already_holds(stored):
    assert Plan.from_dict(stored).digest() == old_plan_hash(stored)


def test_digest_is_stable():
    """A change to the canonical form would make every stored plan hash stale: this catches it."""
    assert Plan.from_dict(MIGRATE).digest() == "51e1a330d7d71fa26b27fc0522c1d2464e8a989476fc615f2a7f9ea03321922e"


def test_typed_fields():
    plan = Plan.from_dict(ROLLBACK_BY_RESTORE)
    assert plan.revisions[0] == PlannedRevision("0007_budget_note", "irreversible", ("downgrade is pass",),
                                                "downgrade")
    assert plan.restore == RestoreSource("production-0005", "0005_budgets", "ab" * 32)
    assert plan.accept_data_loss is True and plan.notes[0].startswith("restore, because")
    assert Plan.from_dict(RESTORE).revisions is None and "revisions" not in Plan.from_dict(RESTORE).to_dict()


def test_every_change_changes_the_digest():
    plan = Plan.from_dict(MIGRATE)
    for change in ({"target": "0007_budget_note"}, {"current": None}, {"code": "0" * 16}, {"snapshot": None},
                   {"revisions": ()}, {"notes": ("one more",)}, {"version": "1.0.0"}):
        assert dataclasses.replace(plan, **change).digest() != plan.digest(), change


def test_unknown_key_is_refused():
    with pytest.raises(ValueError, match="unknown key.*tagret"):
        Plan.from_dict({**MIGRATE, "tagret": "0006_user_display_name"})
    with pytest.raises(ValueError, match="unknown key.*why"):
        Plan.from_dict({**MIGRATE, "revisions": [{**MIGRATE["revisions"][0], "why": "x"}]})
    with pytest.raises(ValueError, match="unknown key.*size"):
        Plan.from_dict({**RESTORE, "restore": {**RESTORE["restore"], "size": 1}})


def test_missing_key_is_refused():
    without_target = {k: v for k, v in MIGRATE.items() if k != "target"}
    with pytest.raises(ValueError, match="missing key.*target"):
        Plan.from_dict(without_target)
    with pytest.raises(ValueError, match="missing key.*verdict"):
        Plan.from_dict({**MIGRATE, "revisions": [{"revision": "0006", "reasons": [], "direction": "upgrade"}]})
    with pytest.raises(ValueError, match="mapping"):
        Plan.from_dict(["not", "a", "plan"])


def test_frozen_and_a_misspelt_field_is_an_error():
    plan = Plan.from_dict(MIGRATE)
    with pytest.raises(dataclasses.FrozenInstanceError):
        plan.target = "0007_budget_note"
    with pytest.raises(dataclasses.FrozenInstanceError):
        plan.revisions[0].verdict = "lossy"
    with pytest.raises(AttributeError):
        plan.tagret
    with pytest.raises(TypeError):
        Plan(verb="migrate", env="production", current=None, target=None, snapshot=None, tagret="x")
