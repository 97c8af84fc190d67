"""`bb-ops redact`: stdin to stdout with every secret masked, streaming."""

from __future__ import annotations

import codecs
import io
import os
import sys

from bot.redaction.patterns import StreamState
from bot.redaction.redactor import Redactor, default_redactor, redact_exception

# The bot's own secrets, masked by `bb-ops redact` too when they are in its environment.
BOT_SECRET_ENV = ("SLACK_BOT_TOKEN", "SLACK_APP_TOKEN", "SLACK_SIGNING_SECRET", "REDIS_URL", "BBOPS_DATABASE_URL")


def run_cli(env_files: list[str], stdin, stdout, *, redactor: Redactor | None = None) -> int:
    """``bb-ops redact [--env-file FILE]...``: stdin -> stdout with every secret masked,
    streaming (each read is redacted and flushed as soon as its lines are complete).
    Exit 0; 2 when an env file cannot be read (nothing is passed through then)."""
    try:
        if redactor is None:
            r = default_redactor().copy()
            r.add_env({k: os.environ.get(k) for k in BOT_SECRET_ENV}, source="environment")
        else:
            r = redactor
        for f in env_files or ():
            r.add_env_file(f)
    except Exception as exc:
        sys.stderr.write(f"bb-ops redact: cannot read env file: {redact_exception(exc)}\n")
        return 2
    state = StreamState()
    out_bin = getattr(stdout, "buffer", None)

    def write(text: str) -> None:
        if not text:
            return
        if out_bin is not None:
            out_bin.write(text.encode("utf-8", "surrogateescape"))
            out_bin.flush()
        else:
            stdout.write(text)
            stdout.flush()

    try:
        if out_bin is not None:
            stdout.flush()
        in_bin = getattr(stdin, "buffer", None)
        if in_bin is not None and hasattr(in_bin, "read1"):
            decoder = codecs.getincrementaldecoder("utf-8")("surrogateescape")
            chunks = (decoder.decode(b) for b in iter(lambda: in_bin.read1(1 << 16), b""))
        elif isinstance(stdin, io.StringIO):
            chunks = iter(lambda: stdin.read(1 << 16), "")
        else:
            chunks = iter(stdin)                     # any other text stream: line by line
        pending = ""
        for chunk in chunks:
            text = pending + chunk
            cut = text.rfind("\n") + 1
            if cut == 0:
                pending = text
                continue
            pending = text[cut:]
            write(r.redact_stream_chunk(text[:cut], state))
        if in_bin is not None and hasattr(in_bin, "read1"):
            pending += decoder.decode(b"", final=True)
        if pending:
            write(r.redact_stream_chunk(pending, state))
    except BrokenPipeError:
        return 0
    return 0
