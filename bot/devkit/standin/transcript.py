"""The channel as a person would read it (:meth:`SlackStandIn.transcript`)."""

from __future__ import annotations

from typing import Any


def render_transcript(records: list[dict[str, Any]], channel: str | None) -> str:
    """Render messages the way the channel reads.

    ::

        #C0DEPLOYS
        • migrate production requested by <@U0ALICE>
          [Approve] [Reject]
            ↳ step 1/3: snapshot taken
            ↳ 📎 migrate.log (12 lines)
        • (only visible to U0BOB) you cannot approve your own run

    Top-level messages in order, each with its thread replies indented beneath; edited
    messages in their final state; a reply whose parent this stand-in never saw is shown
    in place as ``↳ (in thread <ts>)``.
    """
    channels = [channel] if channel is not None else list(dict.fromkeys(m["channel"] for m in records))
    out: list[str] = []
    for ch in channels:
        msgs = [m for m in records if m["channel"] == ch]
        if out:
            out.append("")
        out.append(f"#{ch}")
        if not msgs:
            out.append("(no messages)")
            continue
        tops = {m["ts"] for m in msgs if m["thread_ts"] is None}
        replies: dict[str, list[dict]] = {}
        for m in msgs:
            if m["thread_ts"] is not None:
                replies.setdefault(m["thread_ts"], []).append(m)
        shown_orphans: set[str] = set()
        for m in msgs:
            if m["thread_ts"] is None:
                out.extend(_render_message(m, "• ", "  "))
                for r in replies.get(m["ts"], []):
                    out.extend(_render_message(r, "    ↳ ", "      "))
            elif m["thread_ts"] not in tops and m["thread_ts"] not in shown_orphans:
                shown_orphans.add(m["thread_ts"])
                out.append(f"• (in thread {m['thread_ts']})")
                for r in replies[m["thread_ts"]]:
                    out.extend(_render_message(r, "    ↳ ", "      "))
    return "\n".join(out) + "\n"


def _render_message(m: dict[str, Any], first: str, rest: str) -> list[str]:
    lines: list[str] = []
    if m.get("_files"):
        lines.extend((m.get("_comment") or "").splitlines())
        for f in m["_files"]:
            n = len(f["content"].splitlines())
            line = f"📎 {f['filename']} ({n} line{'' if n == 1 else 's'})"
            if f["title"] != f["filename"]:
                line += f" — {f['title']}"
            lines.append(line)
    else:
        block_lines = _render_blocks(m["blocks"] or [])
        text = (m["text"] or "").strip()
        if text and text not in "\n".join(block_lines):
            lines.extend(text.splitlines())
        lines.extend(block_lines)
    if not lines:
        lines = ["(empty message)"]
    if m["ephemeral"]:
        lines[0] = f"(only visible to {m['user']}) {lines[0]}"
    return [first + lines[0], *(rest + line for line in lines[1:])]


def _text_of(obj: Any) -> str:
    if isinstance(obj, dict):
        return str(obj.get("text") or "")
    return "" if obj is None else str(obj)


def _element_label(el: dict[str, Any]) -> str:
    kind = el.get("type")
    if kind == "button":
        return f"[{_text_of(el.get('text'))}]"
    if kind == "overflow":
        return "[⋯]"
    if kind in ("image",):
        return f"[image: {el.get('alt_text', '')}]"
    placeholder = _text_of(el.get("placeholder"))
    return f"[{placeholder or kind} ▾]" if "select" in str(kind) else f"[{placeholder or kind}]"


def _rich_text(el: Any) -> str:
    if isinstance(el, list):
        return "".join(_rich_text(e) for e in el)
    if not isinstance(el, dict):
        return ""
    kind = el.get("type")
    if kind == "user":
        return f"<@{el.get('user_id', '')}>"
    if kind == "channel":
        return f"<#{el.get('channel_id', '')}>"
    if kind == "link":
        return el.get("text") or el.get("url", "")
    if kind == "emoji":
        return f":{el.get('name', '')}:"
    if kind == "rich_text_list":
        return "\n".join("• " + _rich_text(item) for item in el.get("elements", []))
    if kind in ("rich_text_preformatted", "rich_text_quote"):
        return "\n" + _rich_text(el.get("elements", [])) + "\n"
    if "text" in el and isinstance(el["text"], str):
        return el["text"]
    return _rich_text(el.get("elements", []))


def _render_blocks(blocks: list[Any]) -> list[str]:
    lines: list[str] = []
    for b in blocks:
        if not isinstance(b, dict):
            continue
        kind = b.get("type")
        if kind in ("section", "header"):
            row = _text_of(b.get("text"))
            acc = b.get("accessory")
            if isinstance(acc, dict) and acc.get("type") != "image":
                row = f"{row} {_element_label(acc)}".strip()
            lines.extend(row.splitlines())
            for field in b.get("fields") or []:
                lines.extend(_text_of(field).splitlines())
        elif kind == "context":
            parts = [_text_of(e) if e.get("type") != "image" else "" for e in b.get("elements", [])
                     if isinstance(e, dict)]
            row = " · ".join(p for p in parts if p)
            if row:
                lines.extend(row.splitlines())
        elif kind == "actions":
            lines.append(" ".join(_element_label(e) for e in b.get("elements", []) if isinstance(e, dict)))
        elif kind == "divider":
            lines.append("────────")
        elif kind == "rich_text":
            lines.extend(line for line in _rich_text(b.get("elements", [])).splitlines() if line.strip())
        elif kind == "image":
            lines.append(f"[image: {b.get('alt_text', '')}]")
        else:
            lines.append(f"[{kind} block]")
    return lines

