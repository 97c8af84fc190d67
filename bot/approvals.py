"""Four-eyes approvals: the card, the rules of a click, status and cancel.

A button's value is the run id only; everything else is checked against the stored run: the
click must come from the run's channel and its current card, the clicker must be an approver
(a Slack user id), not the requester unless ``allow_self_approval``, before expiry, and only one
decision is ever taken (compare-and-set on the run's status). Every click, allowed or refused,
is audited; every refused click gets an ephemeral answer naming why and who decided what.
"""

from __future__ import annotations

import hashlib
import json
import logging
from datetime import timedelta

from bot import render
from bot.db.models import RunStatus, utcnow
from bot.metrics import REFUSED

log = logging.getLogger("bbops.approvals")

CANCELLABLE = (RunStatus.QUEUED, RunStatus.PLANNING, RunStatus.AWAITING_APPROVAL, RunStatus.APPROVED,
               RunStatus.WAITING_LOCK)


def plan_hash(plan: dict) -> str:
    """SHA-256 over the plan's canonical JSON (environment, current, target, revisions, code, snapshot)."""
    return hashlib.sha256(json.dumps(plan, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


# -- rendering -------------------------------------------------------------------------------
def plan_lines(plan: dict) -> list[str]:
    lines = [f"environment: {plan.get('env')}"]
    if plan.get("version"):
        lines.append(f"release: {plan['version']} (release hook first)")
    if "current" in plan:
        lines.append(f"revision: {plan.get('current') or 'none'} → {plan.get('target') or 'none'}")
    for step in plan.get("revisions", []):
        why = f" — {'; '.join(step.get('reasons', []))}" if step.get("reasons") else ""
        lines.append(f"{step.get('direction', 'upgrade')} {step['revision']}: {step['verdict']}{why}")
    if plan.get("method"):
        lines.append(f"method: {plan['method']}")
    if plan.get("snapshot"):
        lines.append(f"snapshot: {plan['snapshot']}")
    for note in plan.get("notes", []):
        lines.append(f"note: {note}")
    return lines


def card(run, plan: dict, expires_at, *, decided: str | None = None) -> tuple[str, list]:
    head = f"*run {run.id}* `{render.mrkdwn_escape(run.text)}` requested by <@{run.requester}>"
    body = "\n".join(plan_lines(plan))
    text = f":lock: run {run.id} `{run.text}` by <@{run.requester}> needs approval\n{body}"
    blocks = [render.section(f":lock: {head}"), render.section("```" + body + "```")]
    if decided:
        blocks.append(render.context(decided))
        text = f"run {run.id} `{run.text}`: {decided}"
        return text, blocks
    blocks.append(render.context(f"needs approval by another approver before {expires_at:%Y-%m-%d %H:%M} UTC · "
                                 f"plan {run.plan_hash[:12] if run.plan_hash else ''}"))
    value = str(run.id)
    blocks.append({"type": "actions", "block_id": "bb_approval", "elements": [
        {"type": "button", "action_id": "bb_approve", "style": "primary", "value": value,
         "text": {"type": "plain_text", "text": "Approve"}},
        {"type": "button", "action_id": "bb_reject", "style": "danger", "value": value,
         "text": {"type": "plain_text", "text": "Reject"}},
        {"type": "button", "action_id": "bb_cancel", "value": value,
         "text": {"type": "plain_text", "text": "Cancel (requester)"}},
    ]})
    return text, blocks


def post_card(rt, run, plan: dict) -> str:
    """Post the approval card; the card is the run's parent message when it has none yet."""
    text, blocks = card(run, plan, run.expires_at)
    if run.parent_ts and not run.card_ts:
        rt.poster.update(run.channel, run.parent_ts, text, blocks)
        ts = run.parent_ts
    else:
        ts = rt.poster.post(run.channel, text, blocks)
    rt.store.update_run(run.id, card_ts=ts)
    return ts


def close_card(rt, run, decided: str) -> None:
    if run.card_ts and run.plan is not None:
        text, blocks = card(run, run.plan, run.expires_at, decided=decided)
        rt.poster.update(run.channel, run.card_ts, text, blocks)


def request_approval(rt, run, plan: dict) -> None:
    env = rt.config.environments[run.env]
    expires = utcnow() + timedelta(minutes=env.approval.expires_after_minutes)
    moved = rt.store.transition(run.id, [RunStatus.PLANNING, RunStatus.RUNNING], RunStatus.AWAITING_APPROVAL,
                                event="approval_requested", plan=plan, plan_hash=plan_hash(plan),
                                expires_at=expires, approved_by=None, decided_at=None,
                                detail={"plan_hash": plan_hash(plan), "approvers": env.approval.approvers,
                                        "expires_at": expires.isoformat()})
    if moved is not None:
        post_card(rt, moved, plan)


# -- clicks ---------------------------------------------------------------------------------
def _who_decided(run) -> str:
    when = f" at {run.decided_at:%H:%M:%S} UTC" if run.decided_at else ""
    if run.status is RunStatus.REJECTED:
        return f"run {run.id} was already rejected by <@{run.approved_by}>{when}"
    if run.status is RunStatus.CANCELLED:
        return f"run {run.id} was already cancelled by <@{run.approved_by}>{when}"
    if run.status is RunStatus.EXPIRED:
        return f"run {run.id}'s approval expired{when}; ask again with `{run.text}`"
    if run.approved_by:
        return f"run {run.id} was already approved by <@{run.approved_by}>{when}; it is {run.status.value}"
    return f"run {run.id} is {run.status.value}; there is nothing to decide"


def _refuse_click(rt, run, clicker: str, channel: str, reason: str, message: str) -> None:
    REFUSED.labels(reason=f"click_{reason}").inc()
    rt.store.audit("approval_refused", run_id=run.id if run else None, env=run.env if run else None,
                   actor=clicker, detail={"reason": reason})
    if channel and clicker:
        rt.poster.ephemeral(channel, clicker, f":no_entry: {message}")


def handle_click(rt, body: dict, action: dict) -> None:
    clicker = (body.get("user") or {}).get("id", "")
    channel = (body.get("channel") or {}).get("id") or (body.get("container") or {}).get("channel_id", "")
    message_ts = (body.get("container") or {}).get("message_ts") or (body.get("message") or {}).get("ts")
    kind = action.get("action_id", "").removeprefix("bb_")
    value = action.get("value", "")
    run = rt.store.get_run(int(value)) if value.isdigit() and len(value) <= 12 else None
    if run is None:
        return _refuse_click(rt, None, clicker, channel, "unknown_run", "That button does not belong to a known run.")
    if channel != run.channel or (run.card_ts and message_ts != run.card_ts):
        return _refuse_click(rt, run, clicker, channel, "forged",
                             f"That button is not on run {run.id}'s current approval card; nothing changed.")
    env = rt.config.environments.get(run.env)
    if env is None:
        return _refuse_click(rt, run, clicker, channel, "unknown_env", f"`{run.env}` is no longer configured.")
    if kind == "cancel":
        return _cancel(rt, run, clicker, channel, via="button")
    if run.status is not RunStatus.AWAITING_APPROVAL:
        return _refuse_click(rt, run, clicker, channel, "decided", _who_decided(run) + ". Nothing changed.")
    if run.expires_at is not None and run.expires_at <= utcnow():
        expire(rt, run)
        return _refuse_click(rt, run, clicker, channel, "expired",
                             f"run {run.id}'s approval expired at {run.expires_at:%H:%M:%S} UTC. "
                             f"Ask again with `{run.text}`.")
    if clicker not in env.approval.approvers:
        allowed = ", ".join(f"<@{a}>" for a in env.approval.approvers)
        return _refuse_click(rt, run, clicker, channel, "not_approver",
                             f"you are not an approver for `{env.name}`; approvers: {allowed}.")
    if kind == "approve" and clicker == run.requester and not env.approval.allow_self_approval:
        return _refuse_click(rt, run, clicker, channel, "self_approval",
                             f"you requested run {run.id}; another approver must approve it (four eyes).")
    if kind == "approve":
        moved = rt.store.transition(run.id, [RunStatus.AWAITING_APPROVAL], RunStatus.APPROVED, event="approved",
                                    actor=clicker, approved_by=clicker, decided_at=utcnow(),
                                    detail={"plan_hash": run.plan_hash})
        if moved is None:
            return _refuse_click(rt, rt.store.get_run(run.id), clicker, channel, "decided",
                                 _who_decided(rt.store.get_run(run.id)) + ". Nothing changed.")
        close_card(rt, moved, f":white_check_mark: approved by <@{clicker}> — running")
        from bot.commands import job_timeout_s

        rt.enqueuer.enqueue(run.id, mutating=True, timeout_s=job_timeout_s(env, run.verb, "execute"),
                            phase="execute", attempt=moved.attempts)
        return None
    if kind == "reject":
        moved = rt.store.transition(run.id, [RunStatus.AWAITING_APPROVAL], RunStatus.REJECTED, event="rejected",
                                    actor=clicker, approved_by=clicker, decided_at=utcnow(), finished_at=utcnow())
        if moved is None:
            return _refuse_click(rt, rt.store.get_run(run.id), clicker, channel, "decided",
                                 _who_decided(rt.store.get_run(run.id)) + ". Nothing changed.")
        close_card(rt, moved, f":x: rejected by <@{clicker}> — nothing was changed")
        _thread(rt, moved, f"run {run.id} rejected by <@{clicker}>. Nothing was changed on `{run.env}`.")
        return None
    return _refuse_click(rt, run, clicker, channel, "unknown_action", "Unknown button.")


def _thread(rt, run, text: str) -> None:
    ts = run.parent_ts or run.card_ts
    rt.poster.post(run.channel, text, thread_ts=ts) if ts else rt.poster.post(run.channel, text)


def expire(rt, run) -> int:
    moved = rt.store.transition(run.id, [RunStatus.AWAITING_APPROVAL], RunStatus.EXPIRED, event="expired",
                                decided_at=utcnow(), finished_at=utcnow())
    if moved is None:
        return 0
    close_card(rt, moved, f":alarm_clock: approval expired at {run.expires_at:%H:%M} UTC — nothing was changed")
    _thread(rt, moved, f"run {run.id}'s approval expired; nothing was changed. Ask again with `{run.text}`.")
    return 1


def _cancel(rt, run, user: str, channel: str, *, via: str):
    from bot.commands import Reply

    env = rt.config.environments.get(run.env) if run.env else None
    approvers = env.approval.approvers if env else []
    if user != run.requester and user not in approvers:
        msg = f"only the requester (<@{run.requester}>) or an approver may cancel run {run.id}."
        if via == "button":
            return _refuse_click(rt, run, user, channel, "cancel_not_allowed", msg)
        return Reply(f":no_entry: {msg}")
    moved = rt.store.transition(run.id, CANCELLABLE, RunStatus.CANCELLED, event="cancelled", actor=user,
                                approved_by=user, decided_at=utcnow(), finished_at=utcnow())
    if moved is None:
        current = rt.store.get_run(run.id)
        msg = (f"run {run.id} is {current.status.value} and can no longer be cancelled"
               + (" (it is changing the environment now; wait for it to finish)" if current.status is RunStatus.RUNNING else "")
               + ".")
        if via == "button":
            return _refuse_click(rt, current, user, channel, "not_cancellable", msg)
        return Reply(f":no_entry: {msg}")

    def announce():
        close_card(rt, moved, f":heavy_multiplication_x: cancelled by <@{user}> — nothing was changed")
        _thread(rt, moved, f"run {run.id} cancelled by <@{user}>. Nothing was changed.")

    if via == "button":
        announce()
        return None
    return Reply(f"Run {run.id} cancelled.", after=[announce])


def status_or_cancel(rt, req, *, user: str, channel: str):
    """`/bb status N` and `/bb cancel N`, answered on the ack path from the bot database."""
    from bot import locks
    from bot.commands import Reply, refuse

    run = rt.store.get_run(req.run_id)
    env = rt.config.environments.get(run.env) if run and run.env else None
    if run is None or (env is not None and channel not in env.channels) or (env is None and channel != run.channel):
        return refuse("unknown_run", f"There is no run {req.run_id} visible from this channel.")
    if req.verb == "cancel":
        return _cancel(rt, run, user, channel, via="command")
    lines = [f"run {run.id} `{run.text}` by <@{run.requester}>: *{run.status.value}*",
             f"requested {run.created_at:%Y-%m-%d %H:%M:%S} UTC"]
    if run.approved_by:
        lines.append(f"decided by <@{run.approved_by}>" + (f" at {run.decided_at:%H:%M:%S} UTC" if run.decided_at else ""))
    if run.status is RunStatus.AWAITING_APPROVAL and run.expires_at:
        lines.append(f"approval expires {run.expires_at:%H:%M} UTC")
    if run.summary:
        lines.append(run.summary)
    if run.env:
        try:
            holder = locks.holder(rt, run.env)
        except Exception:
            holder = None
        if holder is not None:
            lines.append(f"`{run.env}` is locked by run {holder.run_id} since {holder.since:%H:%M:%S} UTC")
    return Reply("\n".join(lines))
