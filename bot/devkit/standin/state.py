"""The recorded channel on disk (``state_file=``) and in snapshots: what a message and a file
record hold, writing the state file atomically and validating it when it is loaded.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from bot.devkit.standin.ids import looks_like_ts, parse_ts

MESSAGE_KEYS = ("channel", "thread_ts", "ts", "text", "blocks", "ephemeral", "user")
FILE_KEYS = ("channel", "thread_ts", "filename", "title", "content", "initial_comment", "file_id")

#: Format version of a ``state_file``.
STATE_VERSION = 1


def snapshot_key(m: dict[str, Any]) -> str:
    return f"{m['channel']}:{m['ts']}"


def snapshot_value(m: dict[str, Any]) -> tuple:
    return (m["text"], json.dumps(m["blocks"], sort_keys=True, ensure_ascii=False))


def write_atomically(path: Path, text: str) -> None:
    """Write ``text`` to a temporary file beside ``path``, then os.replace it over ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def _check(ok: bool, what: str) -> None:
    if not ok:
        raise ValueError(what)


def _optional_str(value: Any) -> bool:
    return value is None or isinstance(value, str)


def parse_state(data: Any) -> tuple[list[dict[str, Any]], list[dict[str, Any]], int]:
    """Validate a loaded state file: (message records, file records, last ts in µs); ValueError if bad."""
    _check(isinstance(data, dict), "not a JSON object")
    _check(data.get("version") == STATE_VERSION, f"unknown version {data.get('version')!r}")
    raw_messages, raw_files, last_ts = data.get("messages"), data.get("files"), data.get("last_ts")
    _check(isinstance(raw_messages, list) and isinstance(raw_files, list), "messages/files are not lists")
    _check(isinstance(last_ts, str) and looks_like_ts(last_ts), f"bad last_ts {last_ts!r}")
    messages, seen = [], set()
    for i, m in enumerate(raw_messages):
        _check(isinstance(m, dict), f"message {i} is not an object")
        _check(isinstance(m.get("channel"), str) and bool(m["channel"]), f"message {i}: bad channel")
        _check(isinstance(m.get("ts"), str) and looks_like_ts(m["ts"]), f"message {i}: bad ts")
        _check(m.get("thread_ts") is None or (isinstance(m["thread_ts"], str) and looks_like_ts(m["thread_ts"])),
               f"message {i}: bad thread_ts")
        _check(isinstance(m.get("text"), str), f"message {i}: bad text")
        _check(m.get("blocks") is None or isinstance(m["blocks"], list), f"message {i}: bad blocks")
        _check(isinstance(m.get("ephemeral"), bool), f"message {i}: bad ephemeral")
        _check(_optional_str(m.get("user")) and _optional_str(m.get("_comment")), f"message {i}: bad user/comment")
        attached = m.get("_files")
        _check(attached is None or (isinstance(attached, list) and all(
            isinstance(a, dict) and all(isinstance(a.get(k), str) for k in ("file_id", "filename", "title", "content"))
            for a in attached)), f"message {i}: bad _files")
        key = (m["channel"], m["ts"])
        _check(key not in seen, f"message {i}: duplicate ts {m['ts']}")
        seen.add(key)
        messages.append({**{k: m.get(k) for k in MESSAGE_KEYS}, "_files": attached, "_comment": m.get("_comment")})
    files = []
    for i, f in enumerate(raw_files):
        _check(isinstance(f, dict), f"file {i} is not an object")
        _check(all(isinstance(f.get(k), str) for k in ("filename", "title", "content", "file_id"))
               and all(_optional_str(f.get(k)) for k in ("channel", "thread_ts", "initial_comment")),
               f"file {i}: bad fields")
        files.append({k: f.get(k) for k in FILE_KEYS})
    return messages, files, parse_ts(last_ts)
