"""The janitor: keeps every run accounted for when Redis or a worker lets it down.

Runs in `bb-ops serve` and in every `bb-ops worker` (several janitors are safe: each change is a
compare-and-set on the run). Each sweep:

1. **Outbox.** A run recorded as queued (or approved) whose job Redis does not have — Redis was
   down at ack time, or restarted without persistence — is enqueued again. While Redis stays
   down, the requester is told once, in the channel, that the run is delayed.
2. **Dead workers.** A started run whose heartbeat stopped is its worker's death: a read-only
   run is retried (at most ``MAX_READ_ATTEMPTS`` starts); a mutating run is never retried
   blindly: it is marked abandoned, and its thread says what state the environment may be in.
   Its lock lease expires on its own.
3. **Expired approvals.** Cards past ``expires_after_minutes`` are closed as expired.
"""

from __future__ import annotations

import logging
import threading
from datetime import timedelta

from bot.db.models import RunStatus, utcnow
from bot.errors import QueueUnavailable
from bot.metrics import ABANDONED, REQUEUED, RETRIED
from bot.redaction import redact_exception

log = logging.getLogger("bbops.janitor")

SWEEP_S = 2.0
LOST_AFTER_S = 3.0          # a queued run's job should exist this long after the ack
DEAD_AFTER_S = 30.0         # no heartbeat for this long: the worker is gone (heartbeat every 10 s)
MAX_READ_ATTEMPTS = 3


def _phase(run) -> str:
    from bot.grammar import TARGET_MUTATING_VERBS

    if run.status is RunStatus.APPROVED:
        return "execute"
    return "plan" if run.verb in TARGET_MUTATING_VERBS else "run"


def requeue_lost(rt) -> int:
    from bot.commands import job_timeout_s
    from bot.queueing import RQEnqueuer

    if not isinstance(rt.enqueuer, RQEnqueuer):
        return 0
    cutoff = utcnow() - timedelta(seconds=LOST_AFTER_S)
    n = 0
    for run in rt.store.runs(statuses=[RunStatus.QUEUED, RunStatus.APPROVED], limit=500, newest_first=False):
        if run.updated_at > cutoff:
            continue
        phase = _phase(run)
        try:
            if rt.enqueuer.job_known(run.id, phase, run.attempts):
                continue
            env = rt.config.environments.get(run.env) if run.env else None
            rt.enqueuer.enqueue(run.id, mutating=phase != "run", timeout_s=job_timeout_s(env, run.verb, phase),
                                phase=phase, attempt=run.attempts)
        except (QueueUnavailable, Exception) as exc:  # Redis still down
            _tell_delayed(rt, run, exc)
            continue
        REQUEUED.inc()
        rt.store.audit("requeued", run_id=run.id, env=run.env, detail={"phase": phase, "why": "job missing from the queue"})
        n += 1
    return n


def _tell_delayed(rt, run, exc: Exception) -> None:
    if run.delay_notified:
        return
    log.warning("run %s delayed: %s", run.id, redact_exception(exc))
    text = (f":hourglass: run {run.id} `{run.text}` by <@{run.requester}> is delayed: the job queue is "
            "unavailable. It is recorded and starts as soon as the queue is back; nothing has run yet.")
    try:
        if run.parent_ts:
            rt.poster.post(run.channel, text, thread_ts=run.parent_ts)
            rt.store.update_run(run.id, delay_notified=True)
        else:
            ts = rt.poster.post(run.channel, text)
            rt.store.update_run(run.id, delay_notified=True, parent_ts=ts)
        rt.store.audit("delayed", run_id=run.id, env=run.env, detail={"why": "queue unavailable"})
    except Exception as post_exc:
        log.warning("could not tell run %s is delayed: %s", run.id, redact_exception(post_exc))


def reap_dead(rt) -> int:
    from bot.grammar import TARGET_MUTATING_VERBS

    n = 0
    stale = timedelta(seconds=DEAD_AFTER_S)
    for status in (RunStatus.RUNNING, RunStatus.PLANNING):
        for run in rt.store.runs(statuses=[status], limit=500, newest_first=False):
            beat = run.heartbeat_at or run.started_at
            if beat is None or utcnow() - beat < stale:
                continue
            mutating_started = run.verb in TARGET_MUTATING_VERBS and status is RunStatus.RUNNING
            if not mutating_started and run.attempts < MAX_READ_ATTEMPTS:
                # nothing was changed yet: a read-only run, or a mutating run still planning
                moved = rt.store.transition(run.id, [status], RunStatus.QUEUED, event="retried",
                                            detail={"why": "worker died", "attempts": run.attempts})
                if moved:
                    RETRIED.labels(verb=run.verb).inc()
                    _thread_note(rt, moved, f":recycle: the worker running this died; retrying "
                                            f"(attempt {run.attempts + 1} of {MAX_READ_ATTEMPTS}). Nothing was changed.")
                    n += 1
                continue
            moved = rt.store.transition(run.id, [status], RunStatus.ABANDONED, event="abandoned",
                                        finished_at=utcnow(), detail={"why": "worker died", "last_heartbeat": str(beat)})
            if moved is None:
                continue
            ABANDONED.labels(verb=run.verb).inc()
            if mutating_started:
                note = (f":rotating_light: run {run.id} was *abandoned*: its worker died mid-run (last heartbeat "
                        f"{beat:%H:%M:%S} UTC). `{run.env}` may be half-changed: a migration may have stopped "
                        f"part-way. Check with `/bb migrations {run.env}` and `/bb readyz {run.env}`; the lock "
                        f"is released; roll back with `/bb rollback {run.env}` if needed.")
            else:
                note = (f":warning: run {run.id} was abandoned after {run.attempts} attempts whose workers died. "
                        f"Nothing was changed on `{run.env}`. Try again: `{run.text}`")
            _thread_note(rt, moved, note)
            _release_lock(rt, moved)
            n += 1
    return n


def _release_lock(rt, run) -> None:
    from bot import locks

    holder = locks.holder(rt, run.env) if run.env else None
    if holder is not None and holder.run_id == run.id:
        locks.Lease(rt, run.env, holder).release()
        rt.store.audit("lock_released", run_id=run.id, env=run.env, detail={"why": "run abandoned"})


def _thread_note(rt, run, text: str) -> None:
    try:
        if run.parent_ts:
            rt.poster.post(run.channel, text, thread_ts=run.parent_ts)
            from bot.render import parent_message

            ptext, pblocks = parent_message(run.id, run.text, run.requester, run.status.value, ":warning:")
            rt.poster.update(run.channel, run.parent_ts, ptext, pblocks)
        else:
            rt.poster.post(run.channel, text)
    except Exception as exc:
        log.warning("could not post to run %s: %s", run.id, redact_exception(exc))


def expire_approvals(rt) -> int:
    from bot import approvals

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


def run_forever(rt, stop: threading.Event, interval_s: float = SWEEP_S) -> None:
    while not stop.wait(interval_s):
        sweep(rt)
