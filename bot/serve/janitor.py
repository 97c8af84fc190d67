"""The janitor: keeps every run accounted for when Redis or a worker lets it down.

Runs in `bb-ops serve` and in every `bb-ops worker` (several janitors are safe: each change is a
compare-and-set on the run). Each sweep:

1. **Outbox.** A run recorded as queued (or approved) whose job Redis does not have — Redis was
   down at ack time, or restarted without persistence — is enqueued again. While Redis stays
   down, the requester is told once, in the channel, that the run is delayed.
2. **Dead workers.** A started run whose heartbeat stopped is its worker's death: a read-only
   run (or a mutating run still planning: nothing was changed yet) is retried, at most
   ``MAX_READ_ATTEMPTS`` starts; a mutating run that had started executing is never retried
   blindly: it is marked abandoned, its lock freed, and its thread says what state the
   environment may be in.
3. **Expired approvals.** Cards past ``expires_after_minutes`` are closed as expired.

`bb-ops worker` also calls :func:`reap_run` at once when RQ reports that a work horse died (the
OOM killer's SIGKILL) or a job raised past the step runner, so those runs do not wait for the
heartbeat to go stale.

Timings come from ``rt.settings`` (``janitor_sweep_s``, ``lost_after_s``, ``run_heartbeat_s``,
``dead_after_s``: defaults in bot/core/defaults.py, ``BBOPS_*`` variables for tests and unusual
deployments, read by ``Settings.from_env``).
"""

from __future__ import annotations

import logging
import threading
from datetime import timedelta

from bot.core.defaults import MAX_READ_ATTEMPTS, MAX_REQUEUES
from bot.core.errors import QueueUnavailable
from bot.core.runs import RunStatus
from bot.core.verbs import MUTATING, job_timeout_s
from bot.infra.db.models import Run, utcnow
from bot.redaction import redact_exception

log = logging.getLogger("bbops.janitor")


def _phase(run) -> str:
    if run.status is RunStatus.APPROVED:
        return "execute"
    return "plan" if run.verb in MUTATING else "run"


def _enqueue(rt, run, phase: str) -> None:
    env = rt.config.environments.get(run.env) if run.env else None
    rt.enqueuer.enqueue(run.id, mutating=phase != "run", timeout_s=job_timeout_s(env, run.verb, phase),
                        phase=phase, attempt=run.attempts)


# -- 1. outbox -------------------------------------------------------------------------------
def requeue_lost(rt) -> int:
    from bot.infra.queue import RQEnqueuer

    if not isinstance(rt.enqueuer, RQEnqueuer):
        return 0
    cutoff = utcnow() - timedelta(seconds=rt.settings.lost_after_s)
    n = 0
    down: Exception | None = None
    for run in rt.store.runs(statuses=[RunStatus.QUEUED, RunStatus.APPROVED], limit=500, newest_first=False):
        if run.updated_at > cutoff:
            continue
        if down is None:
            phase = _phase(run)
            try:
                if rt.enqueuer.job_state(run.id, phase, run.attempts) in _JOB_PENDING:
                    continue  # the usual case, checked without a claim
                if not rt.enqueuer.claim_requeue(run.id, phase, run.attempts):
                    continue  # another janitor is looking at this job right now
                try:
                    state = rt.enqueuer.job_state(run.id, phase, run.attempts)  # again, under the claim
                    if state in _JOB_PENDING:
                        continue
                    if rt.store.get_run(run.id).status is not run.status:
                        continue  # it moved meanwhile (a worker started it, someone cancelled it)
                    why = "job missing from the queue" if state is None else f"job {state} without starting the run"
                    if state is not None:
                        if _requeues(rt, run.id) >= MAX_REQUEUES:
                            _give_up(rt, run, why)
                            continue
                        rt.enqueuer.forget_job(run.id, phase, run.attempts)
                    _enqueue(rt, run, phase)
                finally:
                    rt.enqueuer.release_requeue(run.id, phase, run.attempts)
            except QueueUnavailable as exc:  # Redis down or hung: every older run is delayed too
                down = exc
            except Exception as exc:  # the bot database hiccupped: the next sweep tries again
                log.warning("janitor: could not check run %s: %s", run.id, redact_exception(exc),
                            extra={"run_id": run.id})
                continue
            else:
                rt.store.audit("requeued", run_id=run.id, env=run.env,
                               detail={"phase": phase, "attempt": run.attempts, "why": why})
                log.warning("run %s: %s; enqueued again", run.id, why,
                            extra={"run_id": run.id, "env": run.env, "verb": run.verb})
                n += 1
                continue
        _tell_delayed(rt, run, down)
    return n


#: RQ statuses of a job that will still start its run
_JOB_PENDING = frozenset({"queued", "started", "deferred", "scheduled"})


def _requeues(rt, run_id: int) -> int:
    return sum(1 for e in rt.store.audit_events(run_id) if e["event"] == "requeued")


def _give_up(rt, run, why: str) -> None:
    """A run whose job keeps ending without starting it: fail it, saying so, rather than loop."""
    moved = rt.store.transition(run.id, [run.status], RunStatus.FAILED, event="failed", finished_at=utcnow(),
                                summary=f"bb-ops could not start this run: {why}"[:1000],
                                detail={"why": why, "requeues": MAX_REQUEUES})
    if moved is None:
        return
    log.error("run %s failed: its job ended %d times without starting it", run.id, MAX_REQUEUES + 1,
              extra={"run_id": run.id, "env": run.env, "verb": run.verb})
    _thread_note(rt, moved, f":warning: run {run.id} `{run.text}` could not be started: its job ended "
                            f"{MAX_REQUEUES + 1} times without starting it ({why}; the worker log has the "
                            f"details). Nothing was changed on `{run.env}`. Try again: `{run.text}`")


def _tell_delayed(rt, run, exc: Exception) -> None:
    """Tell the requester, once per run, in the channel. The note becomes the run's parent message
    (edited into the result later) unless the run already has one."""
    if run.delay_notified or not rt.store.claim(run.id, Run.delay_notified.is_(False), delay_notified=True):
        return
    log.warning("run %s delayed: %s", run.id, redact_exception(exc), extra={"run_id": run.id, "env": run.env})
    text = (f":hourglass: run {run.id} `{run.text}` by <@{run.requester}> is delayed: the job queue is "
            "unavailable. It is recorded and starts as soon as the queue is back; nothing has run yet.")
    try:
        if run.parent_ts:
            rt.poster.post(run.channel, text, thread_ts=run.parent_ts)
        else:
            ts = rt.poster.post(run.channel, text)
            rt.store.claim(run.id, Run.parent_ts.is_(None), parent_ts=ts)
    except Exception as post_exc:
        rt.store.claim(run.id, delay_notified=False)  # the next sweep tries again
        log.warning("could not tell run %s is delayed: %s", run.id, redact_exception(post_exc),
                    extra={"run_id": run.id})
        return
    rt.store.audit("delayed", run_id=run.id, env=run.env, detail={"why": "queue unavailable"})


# -- 2. dead workers -------------------------------------------------------------------------
def reap_dead(rt) -> int:
    n = 0
    stale = timedelta(seconds=rt.settings.dead_after_s)
    for status in (RunStatus.RUNNING, RunStatus.PLANNING):
        for run in rt.store.runs(statuses=[status], limit=500, newest_first=False):
            beat = run.heartbeat_at or run.started_at
            if beat is None or utcnow() - beat < stale:
                continue
            n += reap_run(rt, run, why="worker died",
                          detail=f"no heartbeat since {beat:%H:%M:%S} UTC")
    return n


def reap_run(rt, run, *, why: str, detail: str = "", retry: bool = True) -> int:
    """A started run whose job will never finish: retry it (read-only, or a plan: nothing was
    changed yet) or mark it abandoned (a mutating run that was executing), saying so in its thread.

    ``retry=False`` (the job itself failed, rather than its worker dying) fails a read-only run
    instead of retrying it. Returns 1 when this call moved the run, else 0 (someone else did,
    or it had already finished).
    """
    if isinstance(run, int):
        run = rt.store.get_run(run)
    if run is None or run.status not in (RunStatus.RUNNING, RunStatus.PLANNING):
        return 0
    status = run.status
    mutating_started = run.verb in MUTATING and status is RunStatus.RUNNING
    extra = {"run_id": run.id, "env": run.env, "verb": run.verb}
    if not mutating_started and retry and run.attempts < MAX_READ_ATTEMPTS:
        moved = rt.store.transition(run.id, [status], RunStatus.QUEUED, event="retried",
                                    detail={"why": why, "detail": detail, "attempts": run.attempts})
        if moved is None:
            return 0
        log.warning("run %s: %s (%s); retrying, attempt %d of %d", run.id, why, detail, run.attempts + 1,
                    MAX_READ_ATTEMPTS, extra=extra)
        _thread_note(rt, moved, f":recycle: the worker running this {'plan ' if status is RunStatus.PLANNING else ''}"
                                f"died ({detail or why}); retrying (attempt {run.attempts + 1} of "
                                f"{MAX_READ_ATTEMPTS}). Nothing was changed.", update_parent=False)
        try:
            _enqueue(rt, moved, _phase(moved))
        except QueueUnavailable:
            pass  # the outbox sweep enqueues it when Redis is back
        return 1
    if not mutating_started and not retry:
        moved = rt.store.transition(run.id, [status], RunStatus.FAILED, event="failed", finished_at=utcnow(),
                                    summary=f"bb-ops failed: {why}"[:1000], detail={"why": why, "detail": detail})
        if moved is None:
            return 0
        log.error("run %s failed: %s (%s)", run.id, why, detail, extra=extra)
        _thread_note(rt, moved, f":warning: run {run.id} failed inside bb-ops: {why}. Nothing was changed on "
                                f"`{run.env}`. Try again: `{run.text}`", icon=":warning:")
        return 1
    moved = rt.store.transition(run.id, [status], RunStatus.ABANDONED, event="abandoned", finished_at=utcnow(),
                                summary=f"abandoned: {why}"[:1000],
                                detail={"why": why, "detail": detail, "attempts": run.attempts})
    if moved is None:
        return 0
    log.error("run %s abandoned: %s (%s)", run.id, why, detail, extra=extra)
    if mutating_started:
        note = (f":rotating_light: run {run.id} was *abandoned*: {why} mid-run ({detail or 'no detail'}). "
                f"`{run.env}` may be half-changed: a migration or restore may have stopped part-way. "
                f"The lock on `{run.env}` is released. Check with `/bb migrations {run.env}` and "
                f"`/bb readyz {run.env}`; if needed, roll back with `/bb rollback {run.env}`.")
    else:
        note = (f":warning: run {run.id} was abandoned after {run.attempts} attempts ({why}). "
                f"Nothing was changed on `{run.env}`. Try again: `{run.text}`")
    _release_lock(rt, moved)
    _thread_note(rt, moved, note, icon=":rotating_light:" if mutating_started else ":warning:")
    return 1


def _release_lock(rt, run) -> None:
    from bot.infra import locks

    if not run.env:
        return
    try:
        holder = locks.holder(rt, run.env)
        if holder is not None and holder.run_id == run.id:
            locks.Lease(rt, run.env, holder).release()
            rt.store.audit("lock_released", run_id=run.id, env=run.env, detail={"why": "run abandoned"})
            log.warning("lock on %s released (run %s abandoned)", run.env, run.id,
                        extra={"run_id": run.id, "env": run.env})
    except Exception as exc:  # Redis down: the lease expires by itself (defaults.LEASE_TTL_S)
        log.warning("could not release the lock of run %s: %s", run.id, redact_exception(exc),
                    extra={"run_id": run.id})


def _thread_note(rt, run, text: str, *, icon: str = ":warning:", update_parent: bool = True) -> None:
    try:
        if run.parent_ts:
            rt.poster.post(run.channel, text, thread_ts=run.parent_ts)
            if update_parent:
                from bot.slack.render import parent_message

                ptext, pblocks = parent_message(run.id, run.text, run.requester, run.status.value, icon)
                rt.poster.update(run.channel, run.parent_ts, ptext, pblocks)
        else:
            ts = rt.poster.post(run.channel, text)
            rt.store.claim(run.id, Run.parent_ts.is_(None), parent_ts=ts)
    except Exception as exc:
        log.warning("could not post to run %s: %s", run.id, redact_exception(exc), extra={"run_id": run.id})


# -- 3. approvals ----------------------------------------------------------------------------
def expire_approvals(rt) -> int:
    from bot.slack import approvals

    n = 0
    for run in rt.store.runs(statuses=[RunStatus.AWAITING_APPROVAL], limit=500, newest_first=False):
        if run.expires_at is not None and run.expires_at <= utcnow():
            n += approvals.expire(rt, run)
    return n


def sweep(rt) -> dict[str, int]:
    out = {}
    for name, fn in (("requeued", requeue_lost), ("dead", reap_dead), ("expired", expire_approvals)):
        try:
            out[name] = fn(rt)
        except Exception as exc:
            log.warning("janitor %s failed: %s", name, redact_exception(exc))
            out[name] = 0
    return out


def run_forever(rt, stop: threading.Event, interval_s: float | None = None) -> None:
    while not stop.wait(interval_s if interval_s is not None else rt.settings.janitor_sweep_s):
        sweep(rt)
