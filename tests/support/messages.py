"""Reading what the bot said about a run: its parent message and the replies in its thread.

``source`` is a Slack stand-in (anything with ``messages()``) or a list of messages as
``say --json`` prints them. Ephemeral messages are never part of a thread.
"""

from __future__ import annotations


def _messages(source) -> list[dict]:
    return source.messages() if hasattr(source, "messages") else list(source)


def thread(source, parent_ts: str | None) -> list[dict]:
    """The replies under ``parent_ts``, oldest first, the parent itself excluded."""
    return [m for m in _messages(source)
            if m["thread_ts"] == parent_ts and m["ts"] != parent_ts and not m["ephemeral"]]


def thread_texts(source, parent_ts: str | None) -> list[str]:
    return [m["text"] for m in thread(source, parent_ts)]


def parent_and_thread(source) -> tuple[dict, list[dict]]:
    """The first top-level channel message (a run's parent) and its thread."""
    messages = _messages(source)
    parent = next(m for m in messages if not m["ephemeral"] and m["thread_ts"] is None)
    return parent, thread(messages, parent["ts"])
