"""Every encoding of a known secret value that is masked.

* raw (and, for a multi-line value, each of its lines, registered by the redactor);
* URL-encoded: ``quote(safe='')``, ``quote()`` (``safe='/'``), ``quote_plus`` (``safe=''`` and
  ``'/'``), the RFC 3986 userinfo and path-segment safe sets, and double-encoded -- each with
  upper- and lower-case hex;
* base64, standard and URL-safe alphabets, with or without padding, **and embedded at any
  offset inside longer base64** (HTTP Basic ``base64("user:password")``): for each of the three
  byte alignments the characters fully determined by the secret are registered, and a match is
  widened by the one mixed character on each side (and any ``=`` padding);
* JSON-escaped (``ensure_ascii`` on and off, ``\\/``-escaped, ``\\u`` upper/lower hex,
  JSON-in-JSON double escaping), Python ``repr``-escaped, and HTML-escaped (Slack's
  ``&amp; &lt; &gt;`` and ``html.escape``);
* hex of the UTF-8 bytes, upper and lower case.
"""

from __future__ import annotations

import base64
import json
import re
from urllib.parse import quote, quote_plus

_B64_STD = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")
_B64_URL = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
_USERINFO_SAFE = "!$&'()*+,;="          # RFC 3986 sub-delims: what a userinfo component may keep
_PCHAR_SAFE = "!$&'()*+,;=:@"           # RFC 3986 pchar: what a path segment may keep
_HEX_ESC = re.compile(r"%[0-9A-F]{2}")
_JSON_U = re.compile(r"\\u([0-9a-f]{4})")

# A variant is (text, ext): ext is None, or (left, right, alphabet) for base64 cores whose edge
# characters mix secret bits with the bits of their neighbours.
Variant = tuple


def _lower_hex(s: str) -> str:
    return _HEX_ESC.sub(lambda m: m.group(0).lower(), s)


def _b64_cores(raw: bytes) -> list[Variant]:
    out: list[Variant] = []
    n = len(raw)
    for p in (0, 1, 2):
        enc = base64.b64encode(b"\0" * p + raw).decode("ascii")
        k0 = -(-8 * p // 6)                 # first char made of secret bits only
        k1 = (8 * (p + n)) // 6             # one past the last such char
        core = enc[k0:k1]
        left = p != 0
        right = (8 * (p + n)) % 6 != 0
        out.append((core, (left, right, _B64_STD)))
        url = core.translate(str.maketrans("+/", "-_"))
        if url != core:
            out.append((url, (left, right, _B64_URL)))
    return out


def encoded_variants(secret: str) -> list[Variant]:
    """Every encoding of ``secret`` that is masked (each without newlines; see module doc)."""
    out: list[Variant] = []
    seen: set[str] = set()

    def add(make, ext=None) -> None:
        try:
            text = make()
        except (UnicodeError, ValueError):      # e.g. lone surrogates from undecodable bytes
            return
        if len(text) >= 6 and "\n" not in text and text not in seen:
            seen.add(text)
            out.append((text, ext))

    add(lambda: secret)
    add(lambda: repr(secret)[1:-1])
    html_min = secret.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")   # Slack's escaping
    add(lambda: html_min)
    add(lambda: html_min.replace('"', "&quot;").replace("'", "&#x27;"))                  # html.escape
    for safe in ("", "/", _USERINFO_SAFE, _PCHAR_SAFE):
        add(lambda: quote(secret, safe=safe))
        add(lambda: _lower_hex(quote(secret, safe=safe)))
        add(lambda: quote(secret, safe=safe, errors="surrogateescape"))
    for safe in ("", "/"):
        add(lambda: quote_plus(secret, safe=safe))
        add(lambda: _lower_hex(quote_plus(secret, safe=safe)))
    add(lambda: quote(quote(secret, safe=""), safe=""))
    add(lambda: _lower_hex(quote(quote(secret, safe=""), safe="")))
    for ensure_ascii in (True, False):
        j = json.dumps(secret, ensure_ascii=ensure_ascii)[1:-1]
        add(lambda: j)
        add(lambda: j.replace("/", "\\/"))
        add(lambda: _JSON_U.sub(lambda m: "\\u" + m.group(1).upper(), j))
        add(lambda: json.dumps(j, ensure_ascii=ensure_ascii)[1:-1])
    raw = secret.encode("utf-8", "surrogateescape") if _has_surrogates(secret) else secret.encode()
    add(lambda: raw.hex())
    add(lambda: raw.hex().upper())
    for text, ext in _b64_cores(raw):
        add(lambda: text, ext)
    return out


def _has_surrogates(s: str) -> bool:
    return any("\ud800" <= c <= "\udfff" for c in s)

