"""Everything bb-ops says, as Slack text + Block Kit blocks (pure; no I/O).

A run has one parent message (short, edited as steps complete) and its detail in the thread.
Every result ends with the next `/bb` command to type. Redaction happens in the poster, the one
place that talks to Slack; this module only shapes words.
"""

from __future__ import annotations

from typing import Iterable, Sequence

from bot.core.defaults import (
    MESSAGE_MAX_CHARS,
    SECTION_MAX_CHARS,
    THREAD_INLINE_MAX_LINES,
)
from bot.core.results import Outcome, StepResult
from bot.core.verbs import VERBS

ICONS = {Outcome.OK: ":white_check_mark:", Outcome.FAILED: ":x:", Outcome.REFUSED: ":no_entry:",
         Outcome.ERROR: ":warning:"}


def mrkdwn_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def section(text: str) -> dict:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text[:SECTION_MAX_CHARS]}}


def context(text: str) -> dict:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": text[:SECTION_MAX_CHARS]}]}


def parent_message(run_id: int, command: str, requester: str, state: str, icon: str = ":hourglass_flowing_sand:") -> tuple[str, list]:
    text = f"{icon} run {run_id} `{command}` by <@{requester}>: {state}"
    return text, [section(f"{icon} *run {run_id}* `{mrkdwn_escape(command)}`\n{mrkdwn_escape(state)}"),
                  context(f"requested by <@{requester}> · details in the thread")]


def result_parent(run_id: int, command: str, requester: str, result: StepResult) -> tuple[str, list]:
    return parent_message(run_id, command, requester, result.headline, ICONS[result.outcome])


def result_detail(result: StepResult) -> tuple[str, list, tuple[str, str] | None]:
    """The thread reply for a result; long detail becomes a file (never silently truncated)."""
    lines = list(result.lines)
    attachment = result.attachment
    if len(lines) > THREAD_INLINE_MAX_LINES or len("\n".join(lines)) > SECTION_MAX_CHARS - 200:
        full = "\n".join(lines)
        attachment = attachment or ("output.txt", full)
        lines = lines[:10] + [f"… {len(lines) - 10} more lines in the attached file"]
    body = "\n".join(lines)
    nxt = "  ".join(f"`{c}`" for c in result.next_commands)
    text = f"{ICONS[result.outcome]} {result.headline}"
    blocks = [section(f"{ICONS[result.outcome]} *{mrkdwn_escape(result.headline)}*")]
    if body:
        blocks.append(section("```" + body.replace("```", "'''") + "```"))
        text += "\n" + body
    if nxt:
        blocks.append(context(f"next: {nxt}"))
        text += f"\nnext: {nxt}"
    return text[:MESSAGE_MAX_CHARS], blocks, attachment


def step_line(ok: bool | None, name: str, detail: str, elapsed_ms: float | None = None) -> str:
    mark = {True: "✔", False: "✘", None: "•"}[ok]
    timing = f" ({elapsed_ms:.0f} ms)" if elapsed_ms is not None else ""
    return f"{mark} {name}{timing}: {detail}"


def help_text(environments: Sequence[tuple[str, Sequence[str], Sequence[str], Sequence[str]]]) -> tuple[str, list]:
    """``environments``: (name, aliases, approvers, verbs needing approval) per environment."""
    verb_lines = [f"`{v.usage}` — {v.description}" for v in VERBS.values()]
    env_lines = []
    for name, aliases, approvers, required in environments:
        alias = f" (alias {', '.join(aliases)})" if aliases else ""
        who = ", ".join(f"<@{a}>" for a in approvers) or "nobody"
        need = ", ".join(required) or "nothing"
        env_lines.append(f"*{name}*{alias}: approval for {need}; approvers {who}")
    text = "bb-ops verbs:\n" + "\n".join(verb_lines) + "\n\nEnvironments:\n" + "\n".join(env_lines)
    return text, [section("*bb-ops verbs*\n" + "\n".join(verb_lines)),
                  section("*Environments*\n" + "\n".join(env_lines))]


def refusal(message: str, valid: Iterable[str] = ()) -> tuple[str, list]:
    valid = list(valid)
    text = f":no_entry: {message}"
    if valid:
        text += "\nValid: " + ", ".join(f"`{v}`" for v in valid)
    return text, [section(text)]
