"""The ack path of `/bb`: parse, authorise, record, enqueue, answer — no I/O to the target.

Returns a ``Reply``: what the ack says (ephemeral unless stated) and, optionally, work that may
run after the ack (posting into an existing thread).
"""

from __future__ import annotations

import logging

from bot.core.errors import QueueUnavailable
from bot.core.grammar import GrammarError, Request, format_request, parse
from bot.core.verbs import job_timeout_s
from bot.infra.metrics import COMMANDS, DUPLICATES
from bot.infra.runtime import Runtime
from bot.slack import render
from bot.slack.reply import Reply, refuse

log = logging.getLogger("bbops.commands")


def request_args(req: Request) -> dict:
    return {k: v for k, v in {"version": req.version, "target": req.target, "snapshot": req.snapshot,
                              "accept_data_loss": req.accept_data_loss or None}.items() if v}


def handle_command(rt: Runtime, body: dict, command: dict) -> Reply:
    user = command.get("user_id", "")
    channel = command.get("channel_id", "")
    text = command.get("text", "") or ""
    config = rt.config
    req = parse(text, config.names())
    if isinstance(req, GrammarError):
        COMMANDS.labels(verb="invalid", answer="refused").inc()
        return refuse("grammar", req.message, req.valid)
    COMMANDS.labels(verb=req.verb, answer="accepted").inc()

    if req.verb == "help":
        text_, blocks = render.help_text([
            (name, env.aliases, env.approval.approvers, env.approval.required_for)
            for name, env in config.environments.items()])
        return Reply(text_, blocks)

    env = config.environments.get(req.env) if req.env else None
    if env is not None and channel not in env.channels:
        rt.store.audit("refused", env=env.name, actor=user,
                       detail={"command": text[:200], "channel": channel, "reason": "channel not allowed"})
        return refuse("channel", f"This channel may not act on `{env.name}`; use "
                      + ", ".join(f"<#{c}>" for c in env.channels) + ". Nothing was started.")
    if env is None and not any(channel in e.channels for e in config.environments.values()):
        return refuse("channel", "This channel is not a bb-ops channel; use "
                      + ", ".join(sorted({f"<#{c}>" for e in config.environments.values() for c in e.channels}))
                      + ". Nothing was started.")

    if req.verb in ("status", "cancel"):
        from bot.slack import approvals

        return approvals.status_or_cancel(rt, req, user=user, channel=channel)

    run, created = rt.store.create_run(verb=req.verb, env=req.env, args=request_args(req),
                                       text=format_request(req), requester=user, channel=channel,
                                       trigger_id=body.get("trigger_id") or None)
    if not created:
        DUPLICATES.inc()  # a redelivery (same trigger_id): acked, nothing new starts
        log.info("redelivery of run %s acked; nothing new started", run.id, extra={"run_id": run.id})
        return Reply(f"Already received as run {run.id} (`{run.text}`); nothing new was started. "
                     f"`/bb status {run.id}` shows where it is.")
    phase = "plan" if req.mutating else "run"
    try:
        rt.enqueuer.enqueue(run.id, mutating=req.mutating, timeout_s=job_timeout_s(env, req.verb, phase),
                            phase=phase)
    except QueueUnavailable:
        log.warning("run %s kept in the outbox: queue unavailable", run.id)
        return Reply(f":hourglass: Recorded as run {run.id} (`{format_request(req)}`), but the queue is "
                     "unavailable right now. It starts as soon as the queue is back; you will be told "
                     "in this channel. Nothing has run yet.")
    what = "plan and approval card" if req.mutating else "results"
    return Reply(f"Queued as run {run.id}: `{format_request(req)}`. The {what} will appear in this channel. "
                 f"`/bb status {run.id}` shows where it is.")
