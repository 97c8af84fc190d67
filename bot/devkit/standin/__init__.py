"""A local stand-in for the Slack Web API, for tests, the local shell, `say` and `click`.

The *real* ``slack_sdk.WebClient`` talks to it over HTTP on 127.0.0.1::

    with SlackStandIn() as slack:
        client = WebClient(token="xoxb-test", base_url=slack.base_url)
        client.chat_postMessage(channel="C0DEPLOYS", text="hello")
        assert slack.messages("C0DEPLOYS")[0]["text"] == "hello"

It answers the handful of methods bb-ops uses the way Slack does (HTTP 200 with
``{"ok": ...}``, form-encoded or JSON bodies, ``blocks`` as a JSON string inside form
data), keeps whole messages (channel, thread, text, blocks, ephemeral recipient), and can
be told to fail: :meth:`SlackStandIn.inject` makes the next calls answer 429 with a
``Retry-After`` header, a plain 5xx, or HTTP 200 ``{"ok": false, "error": ...}``.

Semantics worth knowing, all as Slack behaves:

- ``chat.update`` replaces the fields it is given; ``blocks`` left out are *kept* (to drop
  them, send ``blocks=[]``). Ephemeral messages cannot be updated (``message_not_found``).
- ``thread_ts`` naming a reply is normalised to that reply's parent.
- ``files.completeUploadExternal`` with a channel posts one message in the channel or
  thread, ``"📎 <title>"`` per file (after ``initial_comment`` if given).
- A response_url accepts any number of posts (Slack allows 5 in 30 minutes);
  ``replace_original`` / ``delete_original`` act on the message given as ``message_ts``
  to :meth:`SlackStandIn.response_url` or, failing that, on the last message posted
  through the same URL.
- ``chat.getPermalink`` answers for any well-formed ts, in Slack's own shape
  ``https://budgetbuddy.slack.com/archives/C…/p1700000000000100``.

Persistence (``state_file=``): successive processes (``bb-ops say``, then ``bb-ops click``)
can share one continuous channel. :meth:`SlackStandIn.start` loads messages and files from
the JSON file if it exists (a corrupt or unreadable file is logged and ignored), and every
change (post, update, delete, ephemeral, file, reset) rewrites it atomically. New ts stay
strictly greater than any loaded one and file ids never repeat. Calls, injections, pending
uploads and response URLs are per process. The file is meant for one process at a time;
two stand-ins writing it at once would each overwrite the other.

:meth:`SlackStandIn.snapshot` / :meth:`SlackStandIn.changed_since` tell what one step
posted or edited: the messages created, or whose text/blocks changed, since the snapshot.

Not part of Slack: ``GET /_standin/{messages,files,calls,transcript}`` and
``POST /_standin/{reset,inject,slash_command,block_action}`` let another process (an RQ worker's poster, ``say``)
read and steer a stand-in started with ``python -m bot.devkit.standin --port N``;
:class:`RemoteSlackStandIn` wraps them. These are never recorded in :meth:`calls`.

Socket Mode (``bb-ops socket``, Bolt's ``SocketModeHandler`` on slack-sdk's builtin client):
``apps.connections.open`` with an app-level token (``xapp-…``; any other token answers
``not_allowed_token_type``) answers ``{"ok": true, "url": "ws://127.0.0.1:PORT/socket-mode/<id>"}``
(each URL is good for one connection), and the same HTTP server speaks RFC 6455 there: the
Upgrade handshake, masked client frames, text/close/ping/pong, ``{"type": "hello"}`` on
connect. :meth:`SlackStandIn.send_slash_command` delivers a ``slash_commands`` envelope to the
newest connection and waits for its ack; the ack's payload is shown to the user the way Slack
shows a command's response (ephemeral unless ``response_type`` is ``in_channel``, exactly like
a post to the command's response_url) and returned. :meth:`SlackStandIn.send_block_action`
delivers an ``interactive`` envelope; Slack shows nothing of a block_actions ack, so its payload
is only returned. Every ack is recorded in :meth:`calls` as ``SOCKET_MODE_METHOD``.
:meth:`SlackStandIn.wait_for_socket` waits for a client to connect.

Stdlib only, so anything may import it.
"""

from bot.devkit.standin.protocol import (
    RESPONSE_URL_METHOD,
    SOCKET_MODE_METHOD,
    UPLOAD_METHOD,
)
from bot.devkit.standin.remote import RemoteSlackStandIn
from bot.devkit.standin.server import SlackStandIn

__all__ = ["SlackStandIn", "RemoteSlackStandIn", "UPLOAD_METHOD", "RESPONSE_URL_METHOD", "SOCKET_MODE_METHOD"]
