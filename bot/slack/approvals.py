"""Four-eyes approvals: the rules of a click, status and cancel (the card: ``bot.slack.cards``).

A button's value is the run id only; everything else is checked against the stored run: the
click must come from the run's channel and its current card, the clicker must be an approver
(a Slack user id), not the requester unless ``allow_self_approval``, before expiry, and only one
decision is ever taken (compare-and-set on the run's status). Every click, allowed or refused,
is audited; every refused click gets an ephemeral answer naming why and who decided what.
"""

from __future__ import annotations

import logging
import re

from bot.core.runs import RunStatus
from bot.infra import locks
from bot.infra.db.models import utcnow
from bot.infra.metrics import REFUSED
from bot.slack.cards import DECISIONS, close_card, decisions

log = logging.getLogger("bbops.approvals")

CANCELLABLE = (RunStatus.QUEUED, RunStatus.PLANNING, RunStatus.AWAITING_APPROVAL, RunStatus.APPROVED)
#: a button's value: exactly a run id as `/bb status` shows it (ASCII digits, no sign, no leading zero)
RUN_ID_VALUE = re.compile(r"[1-9][0-9]{0,11}")


# -- clicks ---------------------------------------------------------------------------------
def _who_decided(rt, run) -> str:
    """Who decided what on ``run``, from its audit trail (the truth), e.g.
    "run 4 was already approved by <@U0BOB> at 12:00:01 UTC; it is succeeded"."""
    said = []
    for ev in decisions(rt, run.id):
        who = "" if ev["actor"] in ("system", "", None) else f" by <@{ev['actor']}>"
        said.append(f"{DECISIONS[ev['event']]}{who} at {ev['ts']:%H:%M:%S} UTC")
    if run.status is RunStatus.EXPIRED and not any(e.startswith("expired") for e in said):
        said.append("expired")
    if not said:
        return f"run {run.id} is {run.status.value}; there is nothing to decide"
    text = f"run {run.id} was already " + ", then ".join(said)
    if run.status is RunStatus.EXPIRED:
        return text + f"; ask again with `{run.text}`"
    return text + f"; it is {run.status.value}"


def _refuse_click(rt, run, clicker: str, channel: str, reason: str, message: str, **detail) -> None:
    REFUSED.labels(reason=f"click_{reason}").inc()
    rt.store.audit("approval_refused", run_id=run.id if run else None, env=run.env if run else None,
                   actor=clicker, detail={"reason": reason, **detail})
    if channel and clicker:
        rt.poster.ephemeral(channel, clicker, f":no_entry: {message}")


def handle_click(rt, body: dict, action: dict) -> None:
    """One button press on an approval card (a signed ``block_actions`` request)."""
    clicker = (body.get("user") or {}).get("id", "") or ""
    container = body.get("container") or {}
    channel = (body.get("channel") or {}).get("id") or container.get("channel_id", "") or ""
    message_ts = container.get("message_ts") or (body.get("message") or {}).get("ts")
    kind = str(action.get("action_id", "")).removeprefix("bb_")
    value = action.get("value")
    value = value if isinstance(value, str) else ""
    what = {"action": kind, "value": value[:40], "in_channel": channel[:40], "message_ts": str(message_ts)[:40]}
    run = rt.store.get_run(int(value)) if RUN_ID_VALUE.fullmatch(value) else None
    if run is None:
        return _refuse_click(rt, None, clicker, channel, "unknown_run",
                             "That button does not belong to a known run; nothing changed.", **what)
    if (channel != run.channel or container.get("channel_id", channel) != run.channel
            or not run.card_ts or message_ts != run.card_ts):
        return _refuse_click(rt, run, clicker, channel, "forged",
                             f"That button is not on run {run.id}'s current approval card; nothing changed.", **what)
    env = rt.config.environments.get(run.env)
    if env is None:
        return _refuse_click(rt, run, clicker, channel, "unknown_env", f"`{run.env}` is no longer configured.",
                             action=kind)
    if kind == "cancel":
        return _cancel(rt, run, clicker, channel, via="button")
    if kind not in ("approve", "reject"):
        return _refuse_click(rt, run, clicker, channel, "unknown_action", "Unknown button; nothing changed.",
                             action=kind)
    if run.status is not RunStatus.AWAITING_APPROVAL:
        return _refuse_click(rt, run, clicker, channel, "decided", _who_decided(rt, run) + ". Nothing changed.",
                             action=kind)
    if run.expires_at is not None and run.expires_at <= utcnow():
        expire(rt, run)
        return _refuse_click(rt, run, clicker, channel, "expired",
                             f"run {run.id}'s approval expired at {run.expires_at:%H:%M:%S} UTC; nothing changed. "
                             f"Ask again with `{run.text}`.", action=kind)
    if clicker not in env.approval.approvers:
        allowed = ", ".join(f"<@{a}>" for a in env.approval.approvers) or "nobody"
        return _refuse_click(rt, run, clicker, channel, "not_approver",
                             f"you are not an approver for `{env.name}`; approvers: {allowed}. Nothing changed.",
                             action=kind)
    if kind == "approve" and clicker == run.requester and not env.approval.allow_self_approval:
        return _refuse_click(rt, run, clicker, channel, "self_approval",
                             f"you requested run {run.id}; another approver must approve it (four eyes). "
                             "Nothing changed.", action=kind)
    if kind == "approve":
        moved = rt.store.transition(run.id, [RunStatus.AWAITING_APPROVAL], RunStatus.APPROVED, event="approved",
                                    actor=clicker, approved_by=clicker, decided_at=utcnow(),
                                    detail={"plan_hash": run.plan_hash})
        if moved is None:   # someone else decided between our read and our write
            now = rt.store.get_run(run.id)
            return _refuse_click(rt, now, clicker, channel, "decided", _who_decided(rt, now) + ". Nothing changed.",
                                 action=kind)
        close_card(rt, moved, f":white_check_mark: approved by <@{clicker}> — running")
        from bot.core.errors import QueueUnavailable
        from bot.core.verbs import job_timeout_s

        try:
            rt.enqueuer.enqueue(run.id, mutating=True, timeout_s=job_timeout_s(env, run.verb, "execute"),
                                phase="execute", attempt=moved.attempts)
        except QueueUnavailable:
            log.warning("run %s approved but the queue is unavailable; the janitor enqueues it", run.id)
            _thread(rt, moved, f":hourglass: run {run.id} is approved, but the job queue is unavailable right now. "
                               "It starts as soon as the queue is back; nothing has changed yet.")
        return None
    moved = rt.store.transition(run.id, [RunStatus.AWAITING_APPROVAL], RunStatus.REJECTED, event="rejected",
                                actor=clicker, approved_by=clicker, decided_at=utcnow(), finished_at=utcnow(),
                                detail={"plan_hash": run.plan_hash})
    if moved is None:
        now = rt.store.get_run(run.id)
        return _refuse_click(rt, now, clicker, channel, "decided", _who_decided(rt, now) + ". Nothing changed.",
                             action=kind)
    close_card(rt, moved, f":x: rejected by <@{clicker}> — nothing was changed")
    _thread(rt, moved, f"run {run.id} rejected by <@{clicker}>. Nothing was changed on `{run.env}`.")
    return None


def _thread(rt, run, text: str) -> None:
    ts = run.parent_ts or run.card_ts
    rt.poster.post(run.channel, text, thread_ts=ts) if ts else rt.poster.post(run.channel, text)


def expire(rt, run) -> int:
    moved = rt.store.transition(run.id, [RunStatus.AWAITING_APPROVAL], RunStatus.EXPIRED, event="expired",
                                decided_at=utcnow(), finished_at=utcnow(),
                                detail={"expires_at": run.expires_at.isoformat() if run.expires_at else None})
    if moved is None:
        return 0
    close_card(rt, moved, f":alarm_clock: approval expired at {run.expires_at:%H:%M:%S} UTC — nothing was changed")
    _thread(rt, moved, f"run {run.id}'s approval expired; nothing was changed. Ask again with `{run.text}`.")
    return 1


def _cancel(rt, run, user: str, channel: str, *, via: str):
    from bot.slack.reply import Reply

    env = rt.config.environments.get(run.env) if run.env else None
    approvers = env.approval.approvers if env else []
    if user != run.requester and user not in approvers:
        msg = f"only the requester (<@{run.requester}>) or an approver may cancel run {run.id}; nothing changed."
        if via == "button":
            return _refuse_click(rt, run, user, channel, "cancel_not_allowed", msg, action="cancel")
        rt.store.audit("cancel_refused", run_id=run.id, env=run.env, actor=user, detail={"reason": "not allowed"})
        return Reply(f":no_entry: {msg}")
    moved = rt.store.transition(run.id, CANCELLABLE, RunStatus.CANCELLED, event="cancelled", actor=user,
                                finished_at=utcnow(), detail={"via": via, "from": run.status.value})
    if moved is None:
        current = rt.store.get_run(run.id)
        msg = (f"run {run.id} is {current.status.value} and can no longer be cancelled"
               + (" (it is changing the environment now; wait for it to finish)"
                  if current.status is RunStatus.RUNNING else "") + "; nothing changed.")
        if via == "button":
            return _refuse_click(rt, current, user, channel, "not_cancellable", msg, action="cancel")
        rt.store.audit("cancel_refused", run_id=run.id, env=run.env, actor=user,
                       detail={"reason": f"run is {current.status.value}"})
        return Reply(f":no_entry: {msg}")

    def announce():
        close_card(rt, moved, f":heavy_multiplication_x: cancelled by <@{user}> — nothing was changed")
        _thread(rt, moved, f"run {run.id} cancelled by <@{user}>. Nothing was changed.")
        if moved.parent_ts and moved.parent_ts != moved.card_ts:
            from bot.slack.render import parent_message

            text, blocks = parent_message(run.id, run.text, run.requester, f"cancelled by <@{user}>; nothing was changed",
                                          ":heavy_multiplication_x:")
            rt.poster.update(run.channel, moved.parent_ts, text, blocks)

    if via == "button":
        announce()
        return None
    return Reply(f"Run {run.id} cancelled.", after=[announce])


def status_or_cancel(rt, req, *, user: str, channel: str):
    """`/bb status N` and `/bb cancel N`, answered on the ack path from the bot database."""
    from bot.slack.reply import Reply, refuse

    run = rt.store.get_run(req.run_id)
    env = rt.config.environments.get(run.env) if run and run.env else None
    if run is None or (env is not None and channel not in env.channels) or (env is None and channel != run.channel):
        return refuse("unknown_run", f"There is no run {req.run_id} visible from this channel.")
    if req.verb == "cancel":
        return _cancel(rt, run, user, channel, via="command")
    lines = [f"run {run.id} `{run.text}` by <@{run.requester}>: *{run.status.value}*",
             f"requested {run.created_at:%Y-%m-%d %H:%M:%S} UTC"]
    for ev in decisions(rt, run.id):
        who = "" if ev["actor"] in ("system", "", None) else f" by <@{ev['actor']}>"
        lines.append(f"{DECISIONS[ev['event']]}{who} at {ev['ts']:%H:%M:%S} UTC")
    if run.status is RunStatus.AWAITING_APPROVAL and run.expires_at:
        lines.append(f"approval expires {run.expires_at:%H:%M:%S} UTC")
    if run.summary:
        lines.append(run.summary)
    if run.env:
        text = locks.describe_holder(rt, run.env)
        if text:
            lines.append(f"`{run.env}` is {text}")
    return Reply("\n".join(lines))
