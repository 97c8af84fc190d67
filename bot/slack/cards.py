"""The approval card: the plan as people read it, and posting, closing and requesting it.

Rendering and posting only (core, infra, render): the rules of a click live in
``bot.slack.approvals``. Workers post the card (``request_approval``) and close it when a run ends
(``close_card``); approvals closes it when someone decides.
"""

from __future__ import annotations

from datetime import timedelta

from bot.core.plan import Plan
from bot.core.runs import RunStatus
from bot.infra.db.models import utcnow
from bot.slack import render

#: audit events that record a decision on a run, and how to say them
DECISIONS = {"approved": "approved", "rejected": "rejected", "cancelled": "cancelled", "expired": "expired",
             "plan_changed": "superseded (plan changed)"}


def decisions(rt, run_id: int) -> list[dict]:
    """The run's decision events (approved, rejected, cancelled, expired, plan changed), oldest first."""
    return [e for e in rt.store.audit_events(run_id) if e["event"] in DECISIONS]


def plan_lines(plan: Plan) -> list[str]:
    lines = [f"environment: {plan.env}"]
    if plan.version:
        lines.append(f"release: {plan.version} (release hook first)")
    lines.append(f"revision: {plan.current or 'none'} → {plan.target or 'none'}")
    for step in plan.revisions or ():
        why = f" — {'; '.join(step.reasons)}" if step.reasons else ""
        lines.append(f"{step.direction} {step.revision}: {step.verdict}{why}")
    if plan.method:
        lines.append(f"method: {plan.method}")
    if plan.snapshot:
        lines.append(f"snapshot: {plan.snapshot}")
    for note in plan.notes:
        lines.append(f"note: {note}")
    return lines


def card(run, plan: Plan, expires_at, *, decided: str | None = None) -> tuple[str, list]:
    head = f"*run {run.id}* `{render.mrkdwn_escape(run.text)}` requested by <@{run.requester}>"
    body = "\n".join(plan_lines(plan))
    if decided:
        text = f"run {run.id} `{run.text}` by <@{run.requester}>: {decided}"
        return text, [render.section(f":lock: {head}"), render.section("```" + body + "```"), render.context(decided)]
    until = f"{expires_at:%Y-%m-%d %H:%M:%S} UTC" if expires_at else "no expiry"
    text = (f":lock: run {run.id} `{run.text}` by <@{run.requester}> needs approval by another approver "
            f"before {until}\n{body}")
    blocks = [render.section(f":lock: {head}"), render.section("```" + body + "```"),
              render.context(f"needs approval by another approver before {until} · "
                             f"plan {run.plan_hash[:12] if run.plan_hash else ''}")]
    value = str(run.id)
    blocks.append({"type": "actions", "block_id": "bb_approval", "elements": [
        {"type": "button", "action_id": "bb_approve", "style": "primary", "value": value,
         "text": {"type": "plain_text", "text": "Approve"}},
        {"type": "button", "action_id": "bb_reject", "style": "danger", "value": value,
         "text": {"type": "plain_text", "text": "Reject"}},
        {"type": "button", "action_id": "bb_cancel", "value": value,
         "text": {"type": "plain_text", "text": "Cancel"}},
    ]})
    return text, blocks


def post_card(rt, run, plan: Plan, *, fresh: bool = False) -> str:
    """Post the approval card. The first card is the run's parent message (edited in place); a
    ``fresh`` card (the plan changed since approval) is a new message, so a click on the old
    card can never approve the new plan."""
    text, blocks = card(run, plan, run.expires_at)
    if run.parent_ts and not run.card_ts and not fresh:
        rt.poster.update(run.channel, run.parent_ts, text, blocks)
        ts = run.parent_ts
    else:
        ts = rt.poster.post(run.channel, text, blocks)
    rt.store.update_run(run.id, card_ts=ts)
    return ts


def close_card(rt, run, decided: str) -> None:
    """Edit the card: the buttons go, the decision stays visible."""
    if run.card_ts and run.plan is not None:
        text, blocks = card(run, Plan.from_dict(run.plan), run.expires_at, decided=decided)
        rt.poster.update(run.channel, run.card_ts, text, blocks)


def request_approval(rt, run, plan: Plan, *, fresh: bool = False) -> None:
    env = rt.config.environments[run.env]
    expires = utcnow() + timedelta(minutes=env.approval.expires_after_minutes)
    digest = plan.digest()
    moved = rt.store.transition(run.id, [RunStatus.PLANNING, RunStatus.RUNNING], RunStatus.AWAITING_APPROVAL,
                                event="approval_requested", plan=plan.to_dict(), plan_hash=digest,
                                expires_at=expires, approved_by=None, decided_at=None,
                                detail={"plan_hash": digest, "approvers": env.approval.approvers,
                                        "expires_at": expires.isoformat()})
    if moved is not None:
        post_card(rt, moved, plan, fresh=fresh)
