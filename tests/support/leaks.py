"""One check shared by the redaction tests: a secret appears in none of its encodings."""

from __future__ import annotations

import base64
import json
import re
from urllib.parse import unquote, unquote_plus


def assert_no_leak(output: str, secret: str) -> None:
    """The secret appears in none of its encodings in ``output`` (decoding the output)."""
    raw = secret.encode()
    assert secret not in output
    for decoded in (unquote(output), unquote_plus(output), unquote(unquote(output))):
        assert secret not in decoded
    assert raw.hex() not in output.lower()
    assert json.dumps(secret)[1:-1] not in output
    assert repr(secret)[1:-1] not in output
    for run in re.findall(r"[A-Za-z0-9+/_\-]{4,}", output):
        run = run.replace("-", "+").replace("_", "/")
        for off in range(4):
            chunk = run[off:]
            chunk = chunk[: len(chunk) - len(chunk) % 4]
            try:
                decoded = base64.b64decode(chunk)
            except Exception:
                continue
            assert raw not in decoded, f"base64 in output decodes to the secret: {output!r}"
