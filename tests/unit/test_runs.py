"""Run states and the moves between them: one table, and a Store that refuses anything else."""

from __future__ import annotations

import pytest

from bot.core.errors import BBOpsError, InvalidTransition
from bot.core.runs import ACTIVE, FINAL, SETTLED, TRANSITIONS, RunStatus, check_moves

S = RunStatus


def test_every_state_has_a_row():
    assert set(TRANSITIONS) == set(RunStatus)
    assert all(to in RunStatus for moves in TRANSITIONS.values() for to in moves)
    assert all(st not in TRANSITIONS[st] for st in RunStatus)          # no move to itself


def test_final_states_have_no_way_out():
    assert FINAL == {S.SUCCEEDED, S.FAILED, S.REJECTED, S.CANCELLED, S.EXPIRED, S.ABANDONED}
    for st in FINAL:
        assert TRANSITIONS[st] == frozenset() and st.final
    assert ACTIVE == set(RunStatus) - FINAL and all(TRANSITIONS[st] for st in ACTIVE)
    assert SETTLED == FINAL | {S.AWAITING_APPROVAL}


def test_the_lock_wait_state_is_gone():
    assert "waiting_lock" not in {st.value for st in RunStatus}


def _reachable(start):
    seen, todo = {start}, [start]
    while todo:
        for nxt in TRANSITIONS[todo.pop()]:
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


def test_every_state_is_reachable_from_queued_and_every_run_can_end():
    assert _reachable(S.QUEUED) == set(RunStatus)
    for st in ACTIVE:
        assert _reachable(st) & FINAL, st


@pytest.mark.parametrize("frm, to", [
    # the worker
    (S.QUEUED, S.RUNNING), (S.QUEUED, S.PLANNING), (S.PLANNING, S.APPROVED), (S.PLANNING, S.SUCCEEDED),
    (S.PLANNING, S.FAILED), (S.APPROVED, S.RUNNING), (S.RUNNING, S.SUCCEEDED), (S.RUNNING, S.FAILED),
    # approvals: asked, asked again when the plan changed, decided, expired, cancelled
    (S.PLANNING, S.AWAITING_APPROVAL), (S.RUNNING, S.AWAITING_APPROVAL), (S.AWAITING_APPROVAL, S.APPROVED),
    (S.AWAITING_APPROVAL, S.REJECTED), (S.AWAITING_APPROVAL, S.EXPIRED),
    (S.QUEUED, S.CANCELLED), (S.PLANNING, S.CANCELLED), (S.AWAITING_APPROVAL, S.CANCELLED),
    (S.APPROVED, S.CANCELLED),
    # the janitor: retry, give up, abandon
    (S.PLANNING, S.QUEUED), (S.RUNNING, S.QUEUED), (S.QUEUED, S.FAILED), (S.APPROVED, S.FAILED),
    (S.PLANNING, S.ABANDONED), (S.RUNNING, S.ABANDONED),
])
def test_the_moves_bb_ops_makes_are_allowed(frm, to):
    assert to in TRANSITIONS[frm]
    check_moves([frm], to)


@pytest.mark.parametrize("frm, to", [
    (S.QUEUED, S.SUCCEEDED), (S.QUEUED, S.AWAITING_APPROVAL), (S.QUEUED, S.APPROVED),
    (S.RUNNING, S.CANCELLED), (S.RUNNING, S.APPROVED), (S.AWAITING_APPROVAL, S.RUNNING),
    (S.APPROVED, S.ABANDONED), (S.SUCCEEDED, S.QUEUED), (S.ABANDONED, S.QUEUED), (S.EXPIRED, S.APPROVED),
])
def test_moves_nobody_makes_are_refused(frm, to):
    assert to not in TRANSITIONS[frm]
    with pytest.raises(InvalidTransition, match=f"from {frm.value} to {to.value}"):
        check_moves([frm], to)


def test_cancel_reaches_exactly_the_cancellable_states():
    from bot.slack.approvals import CANCELLABLE

    assert set(CANCELLABLE) == {st for st in RunStatus if S.CANCELLED in TRANSITIONS[st]}


# -- the Store holds to the table ------------------------------------------------------------------
@pytest.fixture
def store(tmp_path):
    from bot.infra.db.engine import make_engine, upgrade
    from bot.infra.store import Store

    url = f"sqlite:///{tmp_path / 'bot.sqlite3'}"
    upgrade(url)
    return Store(make_engine(url))


def _run(store):
    run, _ = store.create_run(verb="migrate", env="production", args={}, text="/bb migrate production",
                              requester="U0ALICE", channel="C0DEPLOYS", trigger_id=None)
    return run


def test_store_refuses_a_move_the_table_does_not_allow(store):
    run = _run(store)
    with pytest.raises(InvalidTransition) as exc:
        store.transition(run.id, [S.QUEUED], S.SUCCEEDED, event="succeeded")
    assert isinstance(exc.value, BBOpsError) and "from queued to succeeded" in str(exc.value)
    assert store.get_run(run.id).status is S.QUEUED
    assert [e["event"] for e in store.audit_events(run.id)] == ["requested"]      # nothing recorded


def test_store_refuses_a_call_naming_any_illegal_source_state(store):
    run = _run(store)
    with pytest.raises(InvalidTransition, match="from running to cancelled"):
        store.transition(run.id, [S.QUEUED, S.RUNNING], S.CANCELLED)
    assert store.get_run(run.id).status is S.QUEUED


def test_store_moves_along_the_table_and_stops_at_a_final_state(store):
    run = _run(store)
    for frm, to in [(S.QUEUED, S.PLANNING), (S.PLANNING, S.AWAITING_APPROVAL),
                    (S.AWAITING_APPROVAL, S.APPROVED), (S.APPROVED, S.RUNNING), (S.RUNNING, S.SUCCEEDED)]:
        assert store.transition(run.id, [frm], to).status is to
    for to in RunStatus:
        if to is not S.SUCCEEDED:
            with pytest.raises(InvalidTransition):
                store.transition(run.id, [S.SUCCEEDED], to)
    assert store.get_run(run.id).status is S.SUCCEEDED


def test_status_never_changes_outside_transition(store):
    run = _run(store)
    with pytest.raises(InvalidTransition):
        store.update_run(run.id, status=S.SUCCEEDED.value)
    with pytest.raises(InvalidTransition):
        store.claim(run.id, status=S.SUCCEEDED.value)
    with pytest.raises(InvalidTransition):
        store.transition(run.id, [S.QUEUED], S.RUNNING, status=S.SUCCEEDED.value)
    assert store.get_run(run.id).status is S.QUEUED
    assert store.claim(run.id, parent_ts="1.2") and store.get_run(run.id).parent_ts == "1.2"
