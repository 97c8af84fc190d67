"""The Slack side: a Bolt app built by a factory, everything injected.

The ack path (``on_command``) verifies (Bolt), parses, authorises, records the run, enqueues and
acks with an ephemeral "queued as run N". It never talks to the target environment.
"""

from __future__ import annotations

import logging
import re
import time

from slack_bolt import App

from bot.core.errors import ConfigError
from bot.infra.metrics import ACK_SECONDS
from bot.infra.runtime import Runtime
from bot.redaction import redact_exception, redact_obj
from bot.slack import ack as commands

log = logging.getLogger("bbops.app")

ACTION_RE = re.compile(r"^bb_(approve|reject|cancel)$")


class _DropClientTokenNotice(logging.Filter):
    """Bolt warns that SLACK_BOT_TOKEN is unused when a client is injected: that is the design."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "`token` will be unused" not in record.getMessage()


logging.getLogger("slack_bolt.App").addFilter(_DropClientTokenNotice())


def create_app(rt: Runtime, *, process_before_response: bool = True) -> App:
    secret = rt.settings.slack_signing_secret
    if not secret:
        raise ConfigError("SLACK_SIGNING_SECRET is empty: every Slack request is verified with it. "
                          "Set it to the app's signing secret (Slack app settings → Basic Information).")
    app = App(
        client=rt.client,
        signing_secret=secret,
        process_before_response=process_before_response,
        token_verification_enabled=False,   # auth.test at first request, not at import
        raise_error_for_unhandled_request=False,
    )

    @app.command("/bb")
    def on_command(ack, body, command):
        started = time.perf_counter()
        reply = commands.handle_command(rt, body, command)
        ack(**redact_obj(reply.ack_payload()))
        ACK_SECONDS.observe(time.perf_counter() - started)
        reply.after_ack()

    @app.action(ACTION_RE)
    def on_action(ack, body, action):
        ack()
        from bot.slack import approvals

        approvals.handle_click(rt, body, action)

    @app.error
    def on_error(error, body):
        log.error("listener failed: %s", redact_exception(error))
        return None

    return app

