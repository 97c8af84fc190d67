"""Mutating runs: plan → (approval) → lock → re-check the plan → act → verify.

``plan_phase`` computes the plan (the verb's ``plan(ctx)``) and either posts the approval card or,
for a verb the environment does not guard, goes straight on. ``execute_phase`` runs an approved
plan: it takes the environment's lock (refusing, naming the holder, when another run has it: a
locked environment does not queue changes, see docs/DECISIONS.md), makes the plan again and stops
with a fresh card when its hash differs from the approved one, then runs the verb's
``run(ctx, plan)``, which edits the parent message as each step completes. A migration's snapshot
is taken while the plan is re-checked (both only read; it is discarded if the plan changed). The
lock is released before the run's final state is written, so a run reported settled never still
holds its environment.
"""

from __future__ import annotations

import time
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

from bot.core.errors import LockUnavailable
from bot.core.plan import Plan
from bot.core.results import Outcome, StepResult
from bot.core.runs import RunStatus
from bot.infra import locks
from bot.infra.runtime import Runtime
from bot.infra.store import RunView
from bot.slack.cards import close_card, request_approval
from workers import steps
from workers.context import StepContext
from workers.lifecycle import (
    WORKER_NAME,
    RunHeartbeat,
    claim,
    finish,
    guarded,
    start_parent,
    update_parent,
)


# -- planning ----------------------------------------------------------------------------------
def plan_phase(rt: Runtime, run_id: int) -> str:
    run = claim(rt, run_id, expected=RunStatus.QUEUED, to=RunStatus.PLANNING, event="planning")
    if run is None:
        return "skipped"
    env = rt.config.environments[run.env]
    thread_ts = start_parent(rt, run, "planning…")
    run = rt.store.get_run(run.id)
    ctx = StepContext(rt, run, env, thread_ts)
    try:
        with RunHeartbeat(rt, run.id):       # planning runs target subprocesses: show we are alive
            plan = guarded(lambda: steps.load(run.verb).plan(ctx), run, doing="planning", prefix="cannot plan: ",
                           nothing_changed=True)
    finally:
        ctx.close()
    if isinstance(plan, StepResult):
        return finish(rt, run, thread_ts, plan, from_status=RunStatus.PLANNING)
    rt.store.audit("planned", run_id=run.id, env=run.env, detail={"plan": plan.to_dict(), "plan_hash": plan.digest()})
    if env.needs_approval(run.verb):
        request_approval(rt, run, plan)
        return "awaiting_approval"
    moved = rt.store.transition(run.id, [RunStatus.PLANNING], RunStatus.APPROVED, event="approval_not_required",
                                plan=plan.to_dict(), plan_hash=plan.digest(), approved_by=None)
    if moved is not None:
        return execute_phase(rt, run.id)
    return "superseded"


def recheck(ctx: StepContext) -> Plan | StepResult:
    """The plan made again, right before acting; a result when it cannot be made."""
    return guarded(lambda: steps.load(ctx.run.verb).plan(ctx), ctx.run, doing="re-checking the plan",
                   prefix="cannot re-check the plan: ", nothing_changed=True)


# -- execution ---------------------------------------------------------------------------------
def execute_phase(rt: Runtime, run_id: int) -> str:
    run = claim(rt, run_id, expected=RunStatus.APPROVED, to=RunStatus.RUNNING, event="started")
    if run is None:
        return "skipped"
    env = rt.config.environments[run.env]
    thread_ts = run.parent_ts or run.card_ts
    started = time.monotonic()
    try:
        lease = locks.acquire(rt, env.name, run.id)
    except LockUnavailable as exc:
        rt.store.audit("lock_unavailable", run_id=run.id, env=env.name, detail={"error": str(exc)})
        result = StepResult(Outcome.REFUSED, f"{exc}; nothing was changed",
                            ["the change needs the environment's lock, which lives in Redis",
                             f"when Redis is back, ask again: `{run.text}`"], [run.text])
        return finish(rt, run, thread_ts, result, from_status=RunStatus.RUNNING, started=started)
    if isinstance(lease, locks.Holder):
        return finish(rt, run, thread_ts, lock_refusal(rt, run, lease), from_status=RunStatus.RUNNING,
                      started=started)
    rt.store.audit("lock_acquired", run_id=run.id, env=env.name,
                   detail={"ttl_s": locks.LEASE_TTL_S, "worker": WORKER_NAME})
    lease.start_heartbeat()
    ctx = StepContext(rt, run, env, thread_ts)
    approved: Plan | None = None
    fresh: Plan | StepResult | None = None
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"snapshot-{run.id}")
    try:
        with RunHeartbeat(rt, run.id):
            module = steps.load(run.verb)
            approved = Plan.from_dict(run.plan)
            by = f" by <@{run.approved_by}>" if run.approved_by else ""
            update_parent(rt, run, f"approved{by}; re-checking the plan…")
            # a migration's first step is the snapshot: take it while the plan is re-checked (both
            # only read, and the lock is held); it is kept only if the re-checked plan is the same
            take_early = getattr(module, "take_snapshot_early", None)
            early = pool.submit(take_early, ctx, approved) if take_early and approved.target else None
            fresh = recheck(ctx)
            same = isinstance(fresh, Plan) and fresh.digest() == run.plan_hash
            if early is not None and not (same and fresh.current == approved.current):
                _discard(ctx, early)
                early = None
            if isinstance(fresh, StepResult):
                result = fresh
            elif not same and env.needs_approval(run.verb):
                result = None   # the plan changed: ask again, after the lock is released
            elif take_early:
                result = guarded(lambda: module.run(ctx, fresh, early_snapshot=early), run, doing="running this step")
            else:
                result = guarded(lambda: module.run(ctx, fresh), run, doing="running this step")
    finally:
        ctx.close()
        pool.shutdown(wait=True)
        # free the environment before the run is reported settled: whoever reads "succeeded"
        # may start the next change at once
        lease.release()
        rt.store.audit("lock_released", run_id=run.id, env=env.name,
                       detail={"lease_lost": lease.lost} if lease.lost else None)
    if result is None:
        return replan(rt, run, thread_ts, approved, fresh)
    return finish(rt, run, thread_ts, result, from_status=RunStatus.RUNNING, started=started)


def _discard(ctx: StepContext, early: Future) -> None:
    """A snapshot taken for a plan that will not run as approved: labelled with a revision that may
    no longer be current, so it goes (file and row)."""
    try:
        snap = early.result()
    except Exception:
        return      # it failed; nothing was kept
    Path(snap.path).unlink(missing_ok=True)
    ctx.rt.store.delete_snapshot(snap.name)
    ctx.audit("snapshot_discarded", name=snap.name, why="the re-checked plan differs from the approved one")


def lock_refusal(rt: Runtime, run: RunView, holder: locks.Holder) -> StepResult:
    """The documented choice: a locked environment refuses (naming the holder), it does not queue."""
    held = rt.store.get_run(holder.run_id) if holder.run_id else None
    who = f" (`{held.text}` by <@{held.requester}>)" if held else ""
    rt.store.audit("lock_refused", run_id=run.id, env=run.env,
                   detail={"holder_run": holder.run_id, "since": holder.since.isoformat()})
    return StepResult(Outcome.REFUSED,
                      f"{run.env} is locked by run {holder.run_id}{who} since {holder.since:%H:%M:%S} UTC; "
                      "nothing was changed",
                      [f"one change per environment at a time; when run {holder.run_id} has finished, ask again: "
                       f"`{run.text}`"],
                      [f"/bb status {holder.run_id}", run.text])


# -- the plan changed --------------------------------------------------------------------------
def describe_change(old: Plan, new: Plan) -> str:
    changes = []
    for field, label in (("target", "head"), ("current", "current revision"), ("code", "migration scripts"),
                         ("version", "version"), ("method", "method"), ("snapshot", "snapshot")):
        before, after = getattr(old, field), getattr(new, field)
        if before != after:
            changes.append(f"{label} moved from {before or 'none'} to {after or 'none'}")
    if not changes and old.revisions != new.revisions:
        changes.append("the pending revisions changed")
    return "; ".join(changes) or "the plan changed"


def replan(rt: Runtime, run: RunView, thread_ts: str | None, approved: Plan, fresh: Plan) -> str:
    """The plan changed between approval and execution: change nothing, say what moved, and ask
    for approval of the new plan on a fresh card (a new message: the old card cannot approve it)."""
    what = describe_change(approved, fresh)
    rt.store.audit("plan_changed", run_id=run.id, env=run.env,
                   detail={"change": what, "approved_hash": run.plan_hash, "new_hash": fresh.digest()})
    if thread_ts:
        rt.poster.post(run.channel, f":warning: plan changed since approval: {what}. Nothing was changed; "
                       "a fresh card asks for approval of the new plan.", thread_ts=thread_ts)
    if run.card_ts and run.card_ts != run.parent_ts:
        close_card(rt, run, f":warning: plan changed since approval ({what}) — superseded by a new card")
    update_parent(rt, run, f"plan changed since approval: {what}; waiting for approval of the new plan", ":warning:")
    request_approval(rt, rt.store.get_run(run.id), fresh, fresh=True)
    return "replanned"

