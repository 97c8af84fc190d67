"""What the ack of a slash command says: ephemeral text (or blocks), and work to do after the ack."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Callable

from bot.infra.metrics import REFUSED
from bot.redaction import redact_exception
from bot.slack import render

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
                log.error("after-ack work failed: %s", redact_exception(exc))


def refuse(reason: str, message: str, valid=()) -> Reply:
    REFUSED.labels(reason=reason).inc()
    text, blocks = render.refusal(message, valid)
    return Reply(text, blocks)
