"""The ack path of `/bb`: parse, authorise, record, enqueue, answer — no I/O to the target.

Returns a ``Reply``: what the ack says (ephemeral unless stated) and, optionally, work that may
run after the ack (posting into an existing thread).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Callable

from bot.slack import render
from bot.core.config import Environment
from bot.core.errors import QueueUnavailable
from bot.core.grammar import GrammarError, Request, format_request, parse
from bot.infra.metrics import COMMANDS, DUPLICATES, REFUSED
from bot.infra.runtime import Runtime

log = logging.getLogger("bbops.commands")


@dataclass
class Reply:
    text: str = ""
    blocks: list | None = None
    in_channel: bool = False
    after: list[Callable[[], None]] = field(default_factory=list)

    def ack_payload(self) -> dict:
        if not self.text:
            return {}
        payload = {"text": self.text, "response_type": "in_channel" if self.in_channel else "ephemeral"}
        if self.blocks:
            payload["blocks"] = self.blocks
        return payload

    def after_ack(self) -> None:
        for fn in self.after:
            try:
                fn()
            except Exception as exc:  # the ack is already sent; say so in the log
                from bot.redaction import redact_exception

                log.error("after-ack work failed: %s", redact_exception(exc))


def refuse(reason: str, message: str, valid=()) -> Reply:
    REFUSED.labels(reason=reason).inc()
    text, blocks = render.refusal(message, valid)
    return Reply(text, blocks)


def job_timeout_s(env: Environment | None, verb: str, phase: str) -> float:
    if env is None:
        return 120.0
    t = env.timeouts
    if phase == "execute":
        # the longest plan: a restore verifies and restores a snapshot (2 × snapshot_s), may
        # upgrade to the target, runs three hooks, polls readiness and smoke-tests
        return 2 * t.snapshot_s + t.migrate_s + 3 * t.hook_s + t.smoke_s + 120
    if verb == "smoke":
        return t.smoke_s + 30
    return max(120.0, 12 * t.http_s + 60)


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
