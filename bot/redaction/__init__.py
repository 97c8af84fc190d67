"""Redaction: the one chokepoint every outgoing string passes through (issue 5, RUNBOOK §7).

Nothing secret may reach Slack, a log, an exception, the audit trail or a file, even when the
target leaks it. Two complementary mechanisms, then a final check:

1. **Known values.** Every value registered with :meth:`Redactor.add_secret` (directly, or via
   :meth:`Redactor.add_env` / :meth:`Redactor.add_env_file` for secret-looking keys and for the
   credentials inside any URL) is masked wherever it appears, in each of these encodings:

   * raw (and, for a multi-line value, each of its lines);
   * URL-encoded: ``quote(safe='')``, ``quote()`` (``safe='/'``), ``quote_plus`` (``safe=''`` and
     ``'/'``), the RFC 3986 userinfo and path-segment safe sets, and double-encoded -- each with
     upper- and lower-case hex;
   * base64, standard and URL-safe alphabets, with or without padding, **and embedded at any
     offset inside longer base64** (HTTP Basic ``base64("user:password")``): for each of the
     three byte alignments the characters fully determined by the secret are registered, and a
     match is widened by the one mixed character on each side (and any ``=`` padding);
   * JSON-escaped (``ensure_ascii`` on and off, ``\\/``-escaped, ``\\u`` upper/lower hex,
     JSON-in-JSON double escaping), Python ``repr``-escaped, and HTML-escaped (Slack's
     ``&amp; &lt; &gt;`` and ``html.escape``);
   * hex of the UTF-8 bytes, upper and lower case.

   All variants of all secrets feed **one combined regular expression**, rebuilt lazily after
   secrets are added: each variant is anchored at a rare character (8 characters of it go into
   a trie), together with a rare-character anchor for every pattern below. One scan of the
   text with it finds the only lines that can hold a secret (in typical logs a few percent);
   every other line is thereby verified and passes untouched. Flagged lines are masked
   together (a hit is confirmed exactly with ``str.startswith``; patterns run only when their
   literal gate occurs) and scanned again for verification.

   **Triviality rule** (:func:`is_trivial_secret`): a value is never masked *by value* when,
   after stripping whitespace, it is shorter than ``MIN_SECRET_LENGTH`` (8) characters, has
   fewer than 4 distinct characters, is all digits and shorter than 12, or is a common word or
   default (``true``, ``postgres``, ``localhost``, ``password``, ``production`` ...). So
   ``5432``, ``true`` or ``HS256`` never mask every occurrence of themselves; such values are
   still masked *by pattern* where the context shows they are secret (``password=true``).

2. **Patterns**, needing no env file: JWTs (also ``alg=none`` with an empty signature),
   ``Authorization:`` credentials (Bearer, Basic, Token, Digest ...), bare ``Bearer <token>``,
   ``Cookie``/``Set-Cookie`` values of cookies named like refresh/session/token/sid/auth/jwt/csrf,
   Slack tokens (``xoxb-``, ``xoxp-``, ``xapp-``, ``xoxa-``, ``xoxs-``, ``xoxe.``, also
   URL-encoded ``xoxb%2D``) and Slack webhook paths, the password in any ``scheme://user:pw@``
   URL (``redis://:pw@host`` included) and in its URL-encoded form, token-like userinfo
   (``https://<token>@host``), ``key=value`` / ``key: value`` / ``"key": "value"`` /
   ``'key': 'value'`` / ``--key value`` pairs whose key contains password, passwd, pwd,
   secret, token, api_key/apikey or refresh (``client_secret``, ``aws_secret_access_key``,
   ``refresh_token`` ...), SQL ``PASSWORD '...'`` / ``IDENTIFIED BY '...'``, AWS access key ids
   (``AKIA``/``ASIA``...), and PEM private key blocks (``-----BEGIN ... PRIVATE KEY-----`` up to
   the matching END line, at most ``PEM_MAX_LINES`` lines when the END is missing).

3. **Fail closed.** After masking, every flagged line is scanned again with the same automaton
   for every known value in every encoding and for leftover JWTs / Slack tokens / AWS key ids;
   a line that still matches, or whose processing raised, is replaced by
   ``[1 line withheld: could not be verified]`` (consecutive ones are counted together). An
   exception anywhere else in :meth:`Redactor.redact` withholds the whole text:
   ``[message withheld: redaction failed]``. :meth:`Redactor.redact` never raises.

Masks say what was hidden, never any part of it: ``[REDACTED:JWT_SECRET]``,
``[REDACTED:DATABASE_URL password]``, ``[REDACTED:bearer token]``, ``[REDACTED:jwt]``.

Not masked (no over-redaction): host names, user names (the user part of a URL stays), e-mail
addresses, git SHAs, Alembic revision ids, UUIDs, timestamps, HTTP status lines, words such as
"password reset email sent", ``MIGRATIONS_STRICT=true``, a key name without its value.

Hostile input stays linear: quantifiers are bounded or possessive, whole-token patterns resume
after their match, and a JWT must start a base64url run or follow an escape (``%22``,
``\u0022``, ``\n``) -- so a target echoing ``eyJeyJeyJ...`` or ``password=password=...``
cannot stall a worker.

Known limits: URL-encodings that encode an arbitrary *subset* of characters other than the
standard safe sets, or mix upper and lower hex inside one value, are only caught by pattern;
values shorter than 8 characters are only caught by pattern; a ``key=value`` value ends at
whitespace, ``&``, ``,``, ``;`` or a quote (a known value is masked whole regardless); JWTs glued
to a preceding letter or digit are only caught as known values; ``passphrase``/``session`` keys
are not patterns; custom objects inside :meth:`Redactor.redact_obj` payloads are passed through
unchanged (only str/bytes are rewritten).

Only the standard library is imported at module level (``bb-ops redact`` must start fast);
python-dotenv is imported inside :meth:`Redactor.add_env_file`.
"""

from __future__ import annotations

import base64
import bisect
import codecs
import io
import json
import logging
import os
import re
import sys
import threading
from collections.abc import Iterable, Iterator, Mapping
from urllib.parse import quote, quote_plus, unquote

__all__ = [
    "MASK_FMT",
    "MIN_SECRET_LENGTH",
    "PEM_MAX_LINES",
    "WITHHELD_MESSAGE",
    "Redactor",
    "RedactingFilter",
    "default_redactor",
    "install_logging_filter",
    "is_trivial_secret",
    "is_secret_key",
    "redact",
    "redact_exception",
    "redact_obj",
    "register_env",
    "register_env_file",
    "register_secrets",
    "run_cli",
]

MASK_FMT = "[REDACTED:{kind}]"
WITHHELD_LINE_FMT = "[{n} line{s} withheld: could not be verified]"
WITHHELD_MESSAGE = "[message withheld: redaction failed]"
MIN_SECRET_LENGTH = 8
PEM_MAX_LINES = 200

# The bot's own secrets, masked by `bb-ops redact` too when they are in its environment.
BOT_SECRET_ENV = ("SLACK_BOT_TOKEN", "SLACK_APP_TOKEN", "SLACK_SIGNING_SECRET", "REDIS_URL", "BBOPS_DATABASE_URL")


def mask(kind: str) -> str:
    return MASK_FMT.format(kind=kind)


def _withheld(n: int) -> str:
    return WITHHELD_LINE_FMT.format(n=n, s="" if n == 1 else "s")


# --------------------------------------------------------------------------------------------
# Triviality and key classification
# --------------------------------------------------------------------------------------------

_COMMON_VALUES = frozenset(
    """
    true false none null nil undefined yes no on off enabled disabled enable disable required
    optional default unset changeit password passwd secret secrets token tokens redacted hidden
    masked example username postgres postgresql localhost 127.0.0.1 0.0.0.0 production staging
    development develop testing sqlite budgetbuddy database admin administrator root guest
    public private http https info debug warning error critical utf-8 utf8 application/json
    """.split()
)


def is_trivial_secret(value: str) -> bool:
    """True when ``value`` is too weak to be masked everywhere *by value* (see module doc)."""
    v = value.strip()
    if len(v) < MIN_SECRET_LENGTH:
        return True
    if len(set(v)) < 4:
        return True
    if v.isdigit() and len(v) < 12:
        return True
    return v.lower() in _COMMON_VALUES


_SECRET_KEY_RE = re.compile(
    r"PASSWORD|PASSWD|PASSPHRASE|PWD|SECRET|TOKEN|CREDENTIAL|PRIVATE_?KEY|API_?KEY|ACCESS_?KEY"
    r"|_KEY$|^KEY$|_DSN$|^DSN$|SIGNING|_SALT$|COOKIE_KEY"
)
_NOT_SECRET_KEY_RE = re.compile(
    r"_(?:NAME|NAMES|TTL|EXPIRES?|EXPIRE_\w+|EXPIRY|EXPIRATION|LIFETIME|MINUTES|SECONDS|HOURS|DAYS|"
    r"LENGTH|LEN|MIN_LENGTH|ALGORITHM|ALGORITHMS|ALG|FILE|PATH|DIR|HEADER|TYPE|ISSUER|AUDIENCE|"
    r"ENABLED|DISABLED|REQUIRED|POLICY|ID|USER|USERNAME|HOST|PORT|ROTATION|SCHEME|FORMAT|VERSION)$"
)


def is_secret_key(key: str) -> bool:
    """Whether an environment variable name looks like it holds a secret."""
    k = key.strip().upper().replace("-", "_")
    return bool(_SECRET_KEY_RE.search(k)) and not _NOT_SECRET_KEY_RE.search(k)


def _clean_kind(kind: object) -> str:
    k = re.sub(r"[^A-Za-z0-9 _.:/+@-]", "_", str(kind or "secret")).strip()
    return (k or "secret")[:64]


# --------------------------------------------------------------------------------------------
# Encodings of a known value
# --------------------------------------------------------------------------------------------

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


# --------------------------------------------------------------------------------------------
# Patterns (no env file needed)
# --------------------------------------------------------------------------------------------

# Approximate character frequencies (per mille) in application logs: a variant is anchored on
# its rarest character so the combined regex is tried at few positions.
_FREQ = {
    " ": 120, "e": 60, "t": 45, "a": 45, "o": 40, "i": 40, "n": 40, "s": 40, "r": 38, "l": 25,
    "d": 25, "c": 22, "u": 20, "h": 20, "m": 18, "p": 18, "g": 12, "f": 12, "b": 10, "y": 9,
    "w": 9, "v": 6, "k": 6, "x": 3, "q": 2, "j": 1.5, "z": 1.5,
    "0": 30, "1": 28, "2": 25, "3": 15, "4": 14, "5": 14, "6": 11, "7": 10, "8": 10, "9": 10,
    '"': 25, ":": 25, ".": 25, "/": 18, "-": 18, ",": 15, "_": 10, "=": 8, "(": 4, ")": 4,
    "'": 5, "[": 3, "]": 3, "{": 2, "}": 2, "@": 2, "%": 2, "&": 1.5, "?": 1.5, ";": 1.5,
    "+": 1, ">": 1, "<": 0.8, "*": 0.8, "#": 0.5, "!": 0.5, "$": 0.3, "\\": 0.5, "|": 0.3,
    "~": 0.1, "^": 0.1, "`": 0.2, "\t": 1, "\r": 1,
    "E": 8, "T": 8, "I": 7, "N": 6, "O": 6, "S": 6, "R": 5, "A": 6, "P": 5, "L": 4, "C": 4,
    "D": 4, "F": 4, "M": 3, "G": 3, "H": 3, "U": 3, "B": 2, "W": 1.5, "K": 1.2, "V": 1,
    "Y": 1, "X": 0.8, "Q": 0.4, "J": 0.5, "Z": 0.5,
}
_KEY_LEN = 4          # characters after the anchor position used to look up candidate variants
_ANCHOR_LEN = 8       # characters of each variant matched by the combined regex


def _anchor_index(v: str, charset: set[str]) -> int:
    """Where to anchor variant ``v``: at a character the combined regex already starts with if
    possible (no extra positions to try), else at its rarest character."""
    best, best_score = 0, None
    for i in range(len(v) - _KEY_LEN + 1):
        f = _FREQ.get(v[i], 0.2)
        score = (0 if v[i] in charset else f, f, _FREQ.get(v[i + 1], 0.2))
        if best_score is None or score < best_score:
            best, best_score = i, score
    return best


def _ci(word: str) -> str:
    """Case-insensitive character classes for ``word`` (used where the flag would be slow)."""
    return "".join(f"[{c.upper()}{c.lower()}]" if c.isalpha() else re.escape(c) for c in word)


# Pattern anchors for the combined pre-filter: (first literal character, rest as a regex).
# Every pattern below can only match on a line where one of these matches (each is a
# superset of its pattern's prefix); they start at a rare character and look behind for the
# rest of the keyword, so the engine is tried at few positions. A named group ``flagN`` marks
# an anchor that only counts when ``--`` occurs earlier on the line (command-line flags).
_KV_TAIL = r"[A-Za-z0-9_.\-]{0,64}"
# A JWT starts a base64url run, or follows an escape (%22, \u0022, \n ...). Requiring this
# keeps matching linear on hostile input such as "eyJeyJeyJ...".
_JWT_START = (r"(?:(?<![A-Za-z0-9_-]eyJ)|(?<=%[0-9A-Fa-f]{2}eyJ)|(?<=\\[nrtbf]eyJ)"
              r"|(?<=\\u[0-9A-Fa-f]{4}eyJ)|(?<=\\x[0-9A-Fa-f]{2}eyJ))")
_KV_SEP = r"\\?[\"']?[^\S\n]*[=:]"


def _kw(word: str, at: int, tail: str = "") -> list[tuple[str, str]]:
    """Anchors for ``word`` (case-insensitive) at its character ``at``: consume the rest of the
    word first (the cheapest way to fail), then look behind for the whole word."""
    c = word[at]
    body = _ci(word[at + 1:]) + "(?<=" + _ci(word) + ")" + tail
    return [(cc, body) for cc in dict.fromkeys((c.upper(), c.lower()))]


def _pattern_anchors() -> list[tuple[str, str]]:
    a: list[tuple[str, str]] = [
        ("J", r"(?<=eyJ)" + _JWT_START + r"[A-Za-z0-9_-]{5,}+={0,2}\.[A-Za-z0-9_-]{2}"),  # JWT
        ("x", r"(?:ox(?:[a-z]|e\.xox[a-z])|app)(?:-|%2[dD])"),            # Slack tokens
        ("A", r"(?:KIA|SIA|GPA|IDA|ROA|IPA|NPA|NVA|PKA|BIA|CCA)[A-Z0-9]{16}"),  # AWS key ids
        ("k", r"s\.slack\.com/(?<=hooks\.slack\.com/)"),                  # Slack webhooks
        (":", r"//(?:[^\s:/?#@\"'<>\[\]]*:[^\s/\"<>]*@|[A-Za-z0-9._~-]{16,}@)"),  # URL userinfo
        ("%", r"3[Aa]%2[Ff]%2[Ff]"),                                       # URL-encoded scheme://
    ]
    a += _kw("authorization", 7, r"[\"']?[^\S\n]*[:=]")
    a += _kw("bearer", 0, r"[^\S\n]+[A-Za-z0-9\-._~+/=]{8}")
    a += _kw("cookie", 3)
    a += _kw("password", 4, r"[^\S\n]+'")                                # SQL PASSWORD '...'
    a += _kw("identified", 6, r"[^\S\n]+" + _ci("by") + r"[^\S\n]+'")   # SQL IDENTIFIED BY '...'
    n = 0
    for word, at in (("password", 4), ("passwd", 4), ("pwd", 1), ("secret", 2), ("token", 2),
                     ("apikey", 3), ("api_key", 4), ("api-key", 4), ("refresh", 2)):
        # key=value; or --flag value (counts only with "--" earlier on the line, and the
        # keyword must continue a flag name: [A-Za-z0-9-] right before it)
        a += _kw(word, at, _KV_TAIL + _KV_SEP)
        for c, rest in _kw(word, at, "") if word != "refresh" else ():
            look = rest.replace("(?<=", "(?<=[A-Za-z0-9-]")
            a.append((c, f"{look}[A-Za-z0-9-]{{0,64}}[^\\S\\n]+(?P<flag{n}>)"))
            n += 1
    return a


_PATTERN_ANCHORS = _pattern_anchors()


def _trie_alternatives(words: Iterable[str]) -> list[str]:
    """Regex alternatives, each starting with a literal, that together match any of ``words``
    (existence only: a word that is a prefix of another makes the longer one unnecessary).
    Returned unjoined so the caller can merge them into one flat alternation."""
    root: dict = {}
    for w in words:
        node = root
        for ch in w:
            if "" in node:
                break
            node = node.setdefault(ch, {})
        else:
            node.clear()
            node[""] = None

    def emit(node: dict) -> list[str]:
        if "" in node:
            return [""]
        out = []
        for ch, sub in sorted(node.items()):
            alts = emit(sub)
            out.append(re.escape(ch) + (alts[0] if len(alts) == 1 else "(?:" + "|".join(alts) + ")"))
        return out

    return emit(root)


# Case-sensitive patterns, run on the original text. Each: (gate substrings, regex, handler).
_JWT_RE = (r"eyJ" + _JWT_START + r"[A-Za-z0-9_-]{5,}+={0,2}\.[A-Za-z0-9_-]{2,}+={0,2}\."
           r"(?:[A-Za-z0-9_-]++={0,2})?")
_SLACK_RE = r"(?:xox(?:[a-z]|e\.xox[a-z])|xapp)(?:-|%2[dD])(?:[A-Za-z0-9]|-|%2[dD])++"
_AWS_RE = r"(?:AKIA|ASIA|AGPA|AIDA|AROA|AIPA|ANPA|ANVA|APKA|ABIA|ACCA)(?<![A-Z0-9].{4})[A-Z0-9]{16}(?![A-Z0-9])"

_AUTH_SCHEMES = frozenset(
    "bearer basic token digest negotiate ntlm apikey api-key jwt key hmac oauth dpop mac sso-key "
    "splunk aws4-hmac-sha256 ssws".split()
)
_COOKIE_NAME_RE = re.compile(r"refresh|sess|token|sid|auth|jwt|secret|csrf|xsrf|remember", re.I)
_COOKIE_ATTRS = frozenset("path domain expires max-age samesite secure httponly priority partitioned".split())
_KEY_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-")
_NONSECRET_SUFFIXES = frozenset(
    """
    type types expires expire expiry expiration exp ttl url uri endpoint endpoints name names
    length len size count limit hint format file path dir header scope scopes lifetime age
    minutes seconds days hours min max id ids version prefix policy strategy backend store
    location rotation enabled disabled required field param kind mode algorithm alg at
    interval rate timeout issuer audience stdin method provider source status
    """.split()
)
_PASSWORD_WORDS = ("passw", "pwd", "passphrase")
_KEYWORDS = ("passw", "pwd", "secret", "token", "key", "refresh")
_STOP_VALUES = frozenset(
    """
    none null nil true false set unset missing invalid expired required empty redacted hidden
    masked undefined n/a yes no ok present absent provided revoked
    """.split()
)
_PLACEHOLDER_RE = re.compile(
    r"\*+|x{3,}|X{3,}|%\(\w+\)s|%s|\?|:\w+|\$\d+|\$\{[^}]*\}|\{\{.*\}\}|<[^>]*>|\[(?:redacted|hidden|masked)[^\]]*\]?",
    re.I,
)
# name=value pairs; a run without "=" is consumed whole (no re-scan from inside it)
_COOKIE_PAIR = re.compile(
    r"""(?P<n>[^\s=;,"'{}:]++)(?:=(?P<v>[^;,\s"']*+))?"""
    r"""|['"](?P<n2>[^'"\n]{1,256}+)['"][^\S\n]*:[^\S\n]*['"](?P<v2>[^'"\n]*+)['"]"""
)
_CAMEL = re.compile(r"[a-z0-9](?=[A-Z])")


def _tokenish(s: str) -> bool:
    """Looks like a credential rather than a word."""
    if len(s) < 8:
        return False
    if any(c.isdigit() for c in s) or any(c in "-._~+/=%" for c in s):
        return True
    return len(s) >= 20 and not s.islower() and not s.isupper()


def _placeholder(val: str) -> bool:
    v = val.strip()
    return not v or v.lower() in _STOP_VALUES or bool(_PLACEHOLDER_RE.fullmatch(v))


def _line_end(s: str, pos: int) -> int:
    e = s.find("\n", pos)
    return len(s) if e < 0 else e


def _h_whole(kind: str):
    def h(m, s):
        return [(m.start(), m.end(), kind)]
    return h


def _h_group(group: str, kind: str, check=None):
    def h(m, s):
        a, b = m.span(group)
        if b > a and (check is None or check(s[a:b])):
            return [(a, b, kind)]
        return []
    return h


def _h_authz(m, s):
    cs, ce = m.span("cred")
    cred = s[cs:ce]
    if cred.lower().startswith("[redacted"):
        return []
    if m.group("scheme") is not None:
        ss, se = m.span("scheme")
        scheme = s[ss:se].lower()
        if scheme in _AUTH_SCHEMES:
            if scheme == "digest":
                ce = _line_end(s, cs)
            kind = {"bearer": "bearer token", "basic": "basic credentials"}.get(scheme, "authorization")
            return [(cs, ce, kind)]
        out = []
        if _tokenish(s[ss:se]):
            out.append((ss, se, "authorization"))
        if _tokenish(cred):
            out.append((cs, ce, "authorization"))
        return out
    return [(cs, ce, "authorization")] if _tokenish(cred) else []


def _h_bearer(m, s):
    a, b = m.span("tok")
    tok = s[a:b]
    if _tokenish(tok) and not tok.lower().startswith("[redacted"):
        return [(a, b, "bearer token")]
    return []


def _h_cookie(m, s):
    out = []
    a, b = m.span("body")
    for p in _COOKIE_PAIR.finditer(s, a, b):
        if p.group("n2") is not None:
            name, (vs, ve) = p.group("n2"), p.span("v2")
        elif p.group("v") is not None:
            name, (vs, ve) = p.group("n"), p.span("v")
        else:
            continue
        if ve <= vs or name.lower() in _COOKIE_ATTRS or not _COOKIE_NAME_RE.search(name):
            continue
        if _placeholder(s[vs:ve]):
            continue
        out.append((vs, ve, "refresh token" if "refresh" in name.lower() else "session cookie"))
    return out


def _key_is_secret(full: str, keyword: str, tail: str) -> bool:
    if tail:
        c = tail[0]
        if not (c in "_.-0123456789" or c.isupper() or (c in "sS" and (len(tail) == 1 or tail[1] in "_.-"))):
            return False                       # tokenizer, secretary, passwordless ...
    parts = [p for p in re.split(r"[_.\-]+", _CAMEL.sub(lambda x: x.group(0) + "_", full)) if p]
    last = parts[-1].lower() if parts else ""
    return not (last in _NONSECRET_SUFFIXES and not any(k in last for k in _KEYWORDS))


def _kv_value_span(m, s, group: str = "val") -> tuple[int, int]:
    a, b = m.span(group)
    v = s[a:b]
    if v.startswith('\\"') and v.endswith('\\"') and len(v) >= 4:
        return a + 2, b - 2
    if len(v) >= 2 and v[0] in "\"'" and v[-1] == v[0]:
        return a + 1, b - 1
    return a, b


def _h_kv(m, s):
    ks, ke = m.span("key")
    ts, te = m.span("tail")
    ls = ks
    while ls > 0 and ks - ls < 64 and s[ls - 1] in _KEY_CHARS:
        ls -= 1
    full = s[ls:te].strip("_.-")
    keyword = s[ks:ke].lower()
    if not _key_is_secret(full, keyword, s[ts:te]):
        return []
    vs, ve = _kv_value_span(m, s)
    val = s[vs:ve]
    if ve <= vs or _placeholder(val):
        return []
    if not keyword.startswith(_PASSWORD_WORDS) and val.isdigit() and len(val) < 12:
        return []                              # token_count=42, refresh_days=14
    return [(vs, ve, _clean_kind(full.lower() if full else keyword))]


def _h_flag(m, s):
    ks, ke = m.span("fkey")
    full = s[ks:ke]
    if not _key_is_secret(full, "", ""):
        return []
    vs, ve = m.span("fval")
    if _placeholder(s[vs:ve]):
        return []
    return [(vs, ve, _clean_kind(full.lower()))]


def _h_sql(m, s):
    a, b = m.span("sq")
    a, b = a + 1, b - 1
    return [(a, b, "password")] if b > a else []


# Each pattern: (gates, regex, handler, overlap). A pattern runs only when one of its gate
# substrings is present; ``overlap`` restarts the search one character after each match (so
# matches inside a match are found), else after it (whole-token masks, linear on long runs).
_CS_PATTERNS = [  # case-sensitive, run on the original text
    (("eyJ",), re.compile(_JWT_RE), _h_whole("jwt"), False),
    (("xox", "xapp"), re.compile(_SLACK_RE), _h_whole("slack token"), False),
    (("AKIA", "ASIA", "AGPA", "AIDA", "AROA", "AIPA", "ANPA", "ANVA", "APKA", "ABIA", "ACCA"),
     re.compile(_AWS_RE), _h_whole("aws access key id"), False),
    (("hooks.slack.com",), re.compile(r"hooks\.slack\.com/(?:services|workflows|triggers)/(?P<hook>[A-Za-z0-9/_-]++)"),
     _h_group("hook", "slack webhook"), False),
    (("://",), re.compile(r"://(?P<user>[^\s:/?#@\"'<>\[\]]*+):(?P<pw>[^\s/\"<>]*)@"), _h_group("pw", "URL password"),
     False),
    (("://",), re.compile(r"://(?P<tok>[A-Za-z0-9._~-]{16,}+)@"), _h_group("tok", "URL credentials", _tokenish), False),
]

_N_STRONG = 3  # the first patterns above are also re-checked on the output (leftover = withhold)

# Case-insensitive patterns, run on the lower-cased text (same offsets) with lower-case
# literals first, so the regex engine skips ahead on them.
_CI_PATTERNS_SRC = [
    (("%3a%2f%2f",), r"%3a%2f%2f[^\s%&/?#@]*+%3a(?P<pw>[^\s&/?#@]{0,256}?)%40", _h_group("pw", "URL password"), False),
    (("authorization",),
     r"authorization[\"']?[^\S\n]*[:=][^\S\n]*[\"']?[^\S\n]*"
     r"(?:(?P<scheme>[a-z][a-z0-9_.-]{0,32})[^\S\n]+)?(?P<cred>[^\s\"',;]++)", _h_authz, False),
    (("bearer",), r"bearer(?<![a-z0-9_-]bearer)[^\S\n]+(?P<tok>[a-z0-9\-._~+/]++=*+)(?![a-z0-9\-._~+/=])",
     _h_bearer, False),
    (("cookie",), r"cookies?[\"']?[^\S\n]*[:=]?[^\S\n]*(?P<body>[^\n]*+)", _h_cookie, False),
    ((), r"(?P<key>passw(?:or)?d|pwd|secret|token|api[_-]?key|apikey|refresh)"
         r"(?P<tail>[a-z0-9_.\-]{0,64})(?P<q>\\?[\"']?)[^\S\n]*(?:=>|:=|=|:)[^\S\n]*"
         r"(?P<val>\"(?:[^\"\\\n]|\\.){0,4096}\"|'(?:[^'\\\n]|\\.){0,4096}'|\\\"[^\n]{0,4096}?\\\""
         r"|[^\s&,;\"'<>]++)", _h_kv, False),
    (("--",), r"--(?P<fkey>[a-z0-9-]{0,64}?(?:passw(?:or)?d|pwd|token|secret|api-?key)[a-z0-9-]{0,64})"
              r"[^\S\n]+(?P<fval>[^\s<>|\-][^\s]*+)", _h_flag, False),
    (("password", "identified"), r"(?:password|identified[^\S\n]+by)[^\S\n]+(?P<sq>'(?:[^'\n]|''){0,4096}')",
     _h_sql, False),
]
_CI_PATTERNS = [(g, re.compile(src), src, h, ov) for g, src, h, ov in _CI_PATTERNS_SRC]

_PEM_BEGIN = re.compile(r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----")
_PEM_END = re.compile(r"-----END [A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----")


class _State:
    """Streaming state carried from one chunk of lines to the next."""

    __slots__ = ("pem_lines",)

    def __init__(self) -> None:
        self.pem_lines = 0          # > 0: inside a PEM private key block, this many lines left


def _pem_pass(text: str, state: _State) -> str:
    """Replace PEM private key blocks by one mask (BEGIN marker .. END marker inclusive)."""
    out: list[str] = []
    pos, n = 0, len(text)
    while pos < n:
        if state.pem_lines > 0:
            # inside a block: drop everything up to the END marker or the line budget
            limit, left = pos, state.pem_lines
            while left > 0 and limit < n:
                nl = text.find("\n", limit)
                limit = n if nl < 0 else nl + 1
                left -= 1
            end = _PEM_END.search(text, pos, limit)
            if end:
                pos = end.end()
                state.pem_lines = 0
                continue
            state.pem_lines = left              # 0: budget spent, the rest is ordinary text
            pos = limit
            continue
        begin = _PEM_BEGIN.search(text, pos)
        if begin is None:
            out.append(text[pos:])
            break
        out.append(text[pos:begin.start()])
        out.append(mask("private key"))
        eol = _line_end(text, begin.end())
        end = _PEM_END.search(text, begin.end(), eol)
        if end:                                 # one-line block (escaped newlines)
            pos = end.end()
        elif text[begin.end():eol].strip(" \t\r\"',\\") == "":
            state.pem_lines = PEM_MAX_LINES     # body on the following lines
            pos = eol
        else:                                   # one line, no END: mask to end of line
            pos = eol
    return "".join(out)


# --------------------------------------------------------------------------------------------
# The compiled engine: an immutable snapshot of the known values
# --------------------------------------------------------------------------------------------


class _Engine:
    def __init__(self, entries: list[tuple[str, list[Variant]]]):
        cands: dict[str, list] = {}
        firsts: dict[str, set[str]] = {}
        seen: set[str] = set()
        charset = {c for c, _ in _PATTERN_ANCHORS}
        for kind, variants in entries:
            for text, ext in variants:
                if text in seen or len(text) < _KEY_LEN:
                    continue
                seen.add(text)
                i = _anchor_index(text, charset)
                charset.add(text[i])
                cands.setdefault(text[i:i + _KEY_LEN], []).append((i, text, kind, ext))
                lit = text[i:i + _ANCHOR_LEN]
                firsts.setdefault(lit[0], set()).add(lit[1:])
        self.cands = cands
        self.variants = seen
        pats: dict[str, list[str]] = {}
        for c, rest in _PATTERN_ANCHORS:
            pats.setdefault(c, []).append(rest)
        alts = []
        for c in sorted(set(firsts) | set(pats)):
            rests = _trie_alternatives(firsts[c]) if c in firsts else []
            if "" in rests:
                alts.append(re.escape(c))
                continue
            rests.extend(r for r in pats.get(c, ()) if "(?P<" not in r)
            rests.extend(r for r in pats.get(c, ()) if "(?P<" in r)       # checked anchors last
            alts.append(re.escape(c) + (rests[0] if len(rests) == 1 else "(?:" + "|".join(rests) + ")"))
        self.scan = re.compile("|".join(alts))

    # -- stage A: which lines need a closer look ------------------------------------------
    def suspicious(self, text: str) -> list[tuple[int, int]]:
        """(start, end) of every line that holds an anchor: the only lines that can hold a
        known value or a pattern. Every other line is verified clean by this one scan."""
        search = self.scan.search
        spans: list[tuple[int, int]] = []
        pos, n = 0, len(text)
        ls = le = dd = -1                      # current line [ls, le) and its first "--"
        while pos <= n:
            m = search(text, pos)
            if m is None:
                break
            p = m.start()
            if p >= le:
                ls = text.rfind("\n", 0, p) + 1
                le = _line_end(text, p)
                dd = -2
            if m.lastgroup is not None:        # a --flag anchor: only after "--" on the line
                if dd == -2:
                    dd = text.find("--", ls, le)
                if dd < 0 or dd > p:
                    pos = p + 1
                    continue
            spans.append((ls, le))
            pos = le + 1
        return spans

    # -- stage B ------------------------------------------------------------------------
    def value_hits(self, s: str) -> list[tuple[int, int, str]]:
        hits = []
        search, cands, pos = self.scan.search, self.cands, 0
        while True:
            m = search(s, pos)
            if m is None:
                return hits
            p = m.start()
            for off, text, kind, ext in cands.get(s[p:p + _KEY_LEN], ()):
                a = p - off
                if a >= 0 and s.startswith(text, a):
                    b = a + len(text)
                    if ext is not None:
                        a, b = _widen_b64(s, a, b, ext)
                    hits.append((a, b, kind))
            pos = p + 1

    def find(self, s: str) -> list[tuple[int, int, str, int]]:
        """Every span to mask in ``s`` (lines joined by newlines): (start, end, kind, priority)."""
        found = [(a, b, k, 2) for a, b, k in self.value_hits(s)]
        for gates, rx, handler, overlap in _CS_PATTERNS:
            if gates and not any(g in s for g in gates):
                continue
            found.extend((a, b, k, 1) for a, b, k in _matches(rx, s, s, handler, overlap))
        low = s.lower()
        same = len(low) == len(s)
        for gates, rx_low, src, handler, overlap in _CI_PATTERNS:
            if gates and not any(g in low for g in gates):
                continue
            if same:
                hits = _matches(rx_low, low, s, handler, overlap)
            else:   # lower() changed some offsets (rare non-ASCII): match case-insensitively
                hits = _matches(re.compile(src, re.I), s, s, handler, overlap)
            found.extend((a, b, k, 1) for a, b, k in hits)
        return found

    def verify(self, out: str) -> set[int]:
        """Offsets of spans in ``out`` that still hold a known value or a strong token shape."""
        bad = [a for a, _, _ in self.value_hits(out)]
        for gates, rx, _, _ in _CS_PATTERNS[:_N_STRONG]:
            if any(g in out for g in gates):
                bad.extend(m.start() for m in rx.finditer(out))
        return set(bad)

    def process(self, lines: list[str]) -> tuple[list[str], set[int]]:
        """Mask ``lines``; return the new lines and the indices of lines that must be withheld."""
        s = "\n".join(lines)
        spans = self.find(s)
        out = _apply(s, spans)
        new = out.split("\n")
        if len(new) != len(lines):
            raise RuntimeError("masking changed the line structure")
        bad_offsets = self.verify(out)
        bad: set[int] = set()
        if bad_offsets:
            starts, acc = [], 0
            for line in new:
                starts.append(acc)
                acc += len(line) + 1
            bad = {bisect.bisect_right(starts, off) - 1 for off in bad_offsets}
        return new, bad


def _matches(rx, hay: str, s: str, handler, overlap: bool) -> list:
    out = []
    pos = 0
    search = rx.search
    while True:
        m = search(hay, pos)
        if m is None:
            return out
        out.extend(handler(m, s))
        pos = m.start() + 1 if overlap or m.end() == m.start() else m.end()


def _widen_b64(s: str, a: int, b: int, ext) -> tuple[int, int]:
    left, right, alphabet = ext
    if left and a > 0 and s[a - 1] in alphabet:
        a -= 1
    if right and b < len(s) and s[b] in alphabet:
        b += 1
    k = 0
    while k < 2 and b < len(s) and s[b] == "=":
        b += 1
        k += 1
    return a, b


def _apply(s: str, spans: list[tuple[int, int, str, int]]) -> str:
    if not spans:
        return s
    spans = sorted(spans, key=lambda x: (x[0], -x[1]))
    merged: list[list] = []
    for a, b, kind, prio in spans:
        if b <= a:
            continue
        if merged and a < merged[-1][1]:
            cur = merged[-1]
            if (prio, b - a) > (cur[3], cur[4]):
                cur[2], cur[3], cur[4] = kind, prio, b - a
            cur[1] = max(cur[1], b)
        else:
            merged.append([a, b, kind, prio, b - a])
    parts, prev = [], 0
    for a, b, kind, _, _ in merged:
        if "\n" in s[a:b]:
            raise RuntimeError("a masked span crosses a line")
        parts.append(s[prev:a])
        parts.append(mask(kind))
        prev = b
    parts.append(s[prev:])
    return "".join(parts)


# --------------------------------------------------------------------------------------------
# URL credentials inside env values
# --------------------------------------------------------------------------------------------

_SCHEME_RE = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*://")


def url_credentials(value: str) -> list[tuple[str, str | None]]:
    """(user, password) pairs of every ``scheme://user[:password]@`` in ``value``, read both
    the way urllib does (userinfo ends at the last '@' before '/', '?', '#') and the way
    SQLAlchemy does (password up to the first '@'). Passwords are as written (not decoded)."""
    out = []
    for m in _SCHEME_RE.finditer(value):
        rest = value[m.end():]
        ws = re.search(r"\s", rest)
        rest = rest[: ws.start()] if ws else rest
        cands = []
        netloc = re.split(r"[/?#]", rest, maxsplit=1)[0]
        if "@" in netloc:
            cands.append(netloc.rpartition("@")[0])
        if "@" in rest:
            cands.append(rest.split("@", 1)[0])
        for userinfo in cands:
            user, sep, pw = userinfo.partition(":")
            out.append((user, pw if sep else None))
    return out


# --------------------------------------------------------------------------------------------
# The redactor
# --------------------------------------------------------------------------------------------


def _coerce_str(obj: object) -> str:
    if isinstance(obj, str):
        return obj
    if isinstance(obj, (bytes, bytearray)):
        return bytes(obj).decode("utf-8", "replace")
    return str(obj)


class Redactor:
    """Masks known secret values (every encoding) and secret-shaped patterns; fails closed.

    Thread-safe: secrets may be added while other threads redact; the combined automaton is
    rebuilt lazily on the next redaction after an addition.
    """

    def __init__(self, secrets: Mapping[str, str] | None = None):
        self._lock = threading.RLock()
        self._secrets: dict[str, tuple[str, list[Variant]]] = {}   # value -> (kind, variants)
        self._engine: _Engine | None = None
        self._dirty = True
        if secrets:
            for name, value in secrets.items():
                self.add_secret(name, value)

    # -- registering ---------------------------------------------------------------------
    def add_secret(self, name: str, value: str) -> None:
        """Mask ``value`` everywhere, in every encoding, as ``[REDACTED:name]``. Ignored when
        :func:`is_trivial_secret` (shorter than 8, under 4 distinct characters, short number,
        common word). A multi-line value is also registered line by line."""
        if isinstance(value, (bytes, bytearray)):
            value = bytes(value).decode("utf-8", "surrogateescape")
        if not isinstance(value, str) or not value:
            return
        kind = _clean_kind(name)
        todo = [value, value.strip()]
        if "\n" in value or "\r" in value:
            todo.extend(line.strip() for line in re.split(r"\r\n|\r|\n", value))
        with self._lock:
            for v in todo:
                if v in self._secrets or is_trivial_secret(v):
                    continue
                self._secrets[v] = (kind, encoded_variants(v))
                self._dirty = True

    def forget_secret(self, value: str) -> None:
        """Stop masking ``value`` by value (short-lived secrets such as issued bearer tokens, so
        they do not pile up; patterns still catch their shape)."""
        with self._lock:
            if self._secrets.pop(value, None) is not None:
                self._dirty = True

    def add_env(self, values: Mapping[str, str | None], source: str = "") -> None:
        """Register the values of secret-looking keys (:func:`is_secret_key`: JWT_SECRET,
        *PASSWORD*, *TOKEN*, *SECRET*, *_KEY, *_DSN ...) and the credentials inside any URL in
        any value (DATABASE_URL, REDIS_URL ...: ``[REDACTED:DATABASE_URL password]``).
        ``source`` (e.g. the env file) is informational."""
        for key, value in (values or {}).items():
            if not value or not isinstance(value, str) or not isinstance(key, str):
                continue
            creds = url_credentials(value)
            secret_key = is_secret_key(key)
            for user, pw in creds:
                if pw:
                    self.add_secret(f"{key} password", pw)
                    decoded = unquote(pw)
                    if decoded != pw:
                        self.add_secret(f"{key} password", decoded)
                elif user and (secret_key or _tokenish(user)) and len(user) >= 16:
                    self.add_secret(f"{key} credentials", unquote(user))
            if secret_key and not (creds and _SCHEME_RE.match(value.strip())):
                self.add_secret(key, value)

    def add_env_file(self, path) -> None:
        """Read a dotenv file exactly as python-dotenv does and :meth:`add_env` its values."""
        from dotenv import dotenv_values

        p = os.fspath(path)
        if not os.path.isfile(p):
            raise FileNotFoundError(f"env file not found: {p}")
        self.add_env(dotenv_values(p), source=p)

    def copy(self) -> "Redactor":
        """A new redactor with the same secrets."""
        other = Redactor()
        with self._lock:
            other._secrets = dict(self._secrets)
        return other

    def stats(self) -> dict:
        eng = self._snapshot()
        return {"secrets": len(self._secrets), "variants": len(eng.variants)}

    def variants(self) -> set[str]:
        """Every encoded variant currently masked (for tests and benchmarks)."""
        return set(self._snapshot().variants)

    def _snapshot(self) -> _Engine:
        eng = self._engine
        if eng is None or self._dirty:
            with self._lock:
                if self._engine is None or self._dirty:
                    self._engine = _Engine(list(self._secrets.values()))
                    self._dirty = False
                eng = self._engine
        return eng

    # -- redacting -----------------------------------------------------------------------
    def redact(self, text: str) -> str:
        """``text`` with every secret masked. Never raises: a line that cannot be verified is
        withheld, and any other failure withholds the whole text."""
        try:
            return self._redact_chunk(_coerce_str(text), _State())
        except Exception:
            return WITHHELD_MESSAGE

    def _redact_chunk(self, text: str, state: _State) -> str:
        eng = self._snapshot()
        if state.pem_lines or "PRIVATE KEY" in text:
            text = _pem_pass(text, state)
        spans = eng.suspicious(text)
        if not spans:
            return text
        lines = [text[a:b] for a, b in spans]
        try:
            new, bad = eng.process(lines)
        except Exception:
            new, bad = [], set()
            for i, line in enumerate(lines):        # isolate the line(s) that fail
                try:
                    one, one_bad = eng.process([line])
                    new.append(one[0])
                    if one_bad:
                        bad.add(i)
                except Exception:
                    new.append("")
                    bad.add(i)
        parts: list[str] = []
        prev, i, k = 0, 0, len(spans)
        while i < k:
            a, b = spans[i]
            parts.append(text[prev:a])
            if i in bad:
                j = i
                while j + 1 < k and (j + 1) in bad and spans[j + 1][0] == spans[j][1] + 1:
                    j += 1
                parts.append(_withheld(j - i + 1))
                prev, i = spans[j][1], j + 1
            else:
                parts.append(new[i])
                prev, i = b, i + 1
        parts.append(text[prev:])
        return "".join(parts)

    def _redact_stream_chunk(self, text: str, state: _State) -> str:
        try:
            return self._redact_chunk(text, state)
        except Exception:
            n = text.count("\n") + (0 if text.endswith("\n") else 1)
            return _withheld(n) + ("\n" if text.endswith("\n") else "")

    def redact_lines(self, lines: Iterable[str]) -> Iterator[str]:
        """Redact a stream of lines, one output per input (line endings kept). A PEM block is
        collapsed into one mask: its inner lines come out as empty strings."""
        state = _State()
        for line in lines:
            try:
                line = _coerce_str(line)
            except Exception:
                yield _withheld(1) + "\n"
                continue
            yield self._redact_stream_chunk(line, state)

    def redact_obj(self, obj):
        """A deep copy of ``obj`` (dicts, lists, tuples, sets; str keys too) with every str and
        bytes value redacted. Other objects are returned unchanged."""
        return self._redact_obj(obj, {})

    def _redact_obj(self, obj, memo: dict):
        if isinstance(obj, str):
            return self.redact(obj)
        if obj is None or isinstance(obj, (bool, int, float, complex)):
            return obj
        if isinstance(obj, (bytes, bytearray)):
            out = self.redact(bytes(obj).decode("utf-8", "surrogateescape")).encode("utf-8", "surrogateescape")
            return bytearray(out) if isinstance(obj, bytearray) else out
        oid = id(obj)
        if oid in memo:
            return memo[oid]
        if isinstance(obj, Mapping):
            result: dict = {}
            memo[oid] = result
            for k, v in obj.items():
                result[self._redact_obj(k, memo)] = self._redact_obj(v, memo)
            if type(obj) is not dict:
                try:
                    return type(obj)(result)
                except Exception:
                    return result
            return result
        if isinstance(obj, list):
            lst: list = []
            memo[oid] = lst
            lst.extend(self._redact_obj(v, memo) for v in obj)
            return lst
        if isinstance(obj, tuple):
            items = [self._redact_obj(v, memo) for v in obj]
            if hasattr(obj, "_fields"):
                try:
                    return type(obj)(*items)
                except Exception:
                    return tuple(items)
            return tuple(items)
        if isinstance(obj, (set, frozenset)):
            items = {self._redact_obj(v, memo) for v in obj}
            return frozenset(items) if isinstance(obj, frozenset) else items
        return obj

    def redact_exception(self, exc: BaseException) -> str:
        """``"ExcType: message"``, redacted, safe to show."""
        try:
            name = type(exc).__name__
            try:
                msg = str(exc)
            except Exception:
                msg = "<unprintable exception>"
            return self.redact(f"{name}: {msg}" if msg else name)
        except Exception:
            return WITHHELD_MESSAGE


# --------------------------------------------------------------------------------------------
# The process-wide chokepoint
# --------------------------------------------------------------------------------------------

_DEFAULT = Redactor()


def default_redactor() -> Redactor:
    return _DEFAULT


def redact(text: str) -> str:
    return _DEFAULT.redact(text)


def redact_obj(obj):
    return _DEFAULT.redact_obj(obj)


def register_secrets(mapping: Mapping[str, str]) -> None:
    for name, value in (mapping or {}).items():
        _DEFAULT.add_secret(name, value)


def register_env(values: Mapping[str, str | None], source: str = "") -> None:
    _DEFAULT.add_env(values, source)


def register_env_file(path) -> None:
    _DEFAULT.add_env_file(path)


def redact_exception(exc: BaseException) -> str:
    return _DEFAULT.redact_exception(exc)


# --------------------------------------------------------------------------------------------
# Logging
# --------------------------------------------------------------------------------------------

_STD_RECORD_ATTRS = frozenset(
    vars(logging.LogRecord("n", logging.INFO, "p", 1, "m", None, None))) | {"message", "asctime", "_bb_redacted"}


class RedactingFilter(logging.Filter):
    """Redacts a record in place: the message with its args (formatted first, then ``args`` is
    cleared), the traceback (formatted into ``exc_text``; ``exc_info`` is cleared so no handler
    formats the raw exception again), ``stack_info`` and string/container ``extra`` attributes.
    Never drops a record; on failure the message is withheld."""

    def __init__(self, redactor: Redactor | None = None, name: str = ""):
        super().__init__(name)
        self._redactor = redactor

    @property
    def redactor(self) -> Redactor:
        return self._redactor or _DEFAULT

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "_bb_redacted", False):
            return True
        r = self.redactor
        try:
            try:
                msg = record.getMessage()
            except Exception:
                msg = f"{record.msg!r} {record.args!r}"
            record.msg = r.redact(msg)
            record.args = None
            if record.exc_info:
                if record.exc_info[0] is not None:
                    text = logging.Formatter().formatException(record.exc_info)
                    record.exc_text = r.redact(text)
                record.exc_info = None
            elif record.exc_text:
                record.exc_text = r.redact(record.exc_text)
            if record.stack_info:
                record.stack_info = r.redact(record.stack_info)
            for key, value in list(vars(record).items()):
                if key not in _STD_RECORD_ATTRS and isinstance(value, (str, bytes, dict, list, tuple, set)):
                    setattr(record, key, r.redact_obj(value))
        except Exception:
            record.msg, record.args = WITHHELD_MESSAGE, None
            record.exc_info = record.exc_text = record.stack_info = None
        record._bb_redacted = True
        return True


def install_logging_filter(logger: logging.Logger | str | None = None) -> None:
    """Add a :class:`RedactingFilter` to ``logger`` (default: the root logger), to each of its
    handlers and, for the root logger, to ``logging.lastResort``. Idempotent. Handlers added
    later need another call (records from child loggers are filtered by handlers only)."""
    if logger is None or isinstance(logger, str):
        logger = logging.getLogger(logger)
    targets: list = [logger, *logger.handlers]
    if logger is logging.getLogger() and logging.lastResort is not None:
        targets.append(logging.lastResort)
    for t in targets:
        if not any(isinstance(f, RedactingFilter) for f in t.filters):
            t.addFilter(RedactingFilter())


# --------------------------------------------------------------------------------------------
# `bb-ops redact`
# --------------------------------------------------------------------------------------------


def run_cli(env_files: list[str], stdin, stdout, *, redactor: Redactor | None = None) -> int:
    """``bb-ops redact [--env-file FILE]...``: stdin -> stdout with every secret masked,
    streaming (each read is redacted and flushed as soon as its lines are complete).
    Exit 0; 2 when an env file cannot be read (nothing is passed through then)."""
    try:
        if redactor is None:
            r = _DEFAULT.copy()
            r.add_env({k: os.environ.get(k) for k in BOT_SECRET_ENV}, source="environment")
        else:
            r = redactor
        for f in env_files or ():
            r.add_env_file(f)
    except Exception as exc:
        sys.stderr.write(f"bb-ops redact: cannot read env file: {redact_exception(exc)}\n")
        return 2
    state = _State()
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
            write(r._redact_stream_chunk(text[:cut], state))
        if in_bin is not None and hasattr(in_bin, "read1"):
            pending += decoder.decode(b"", final=True)
        if pending:
            write(r._redact_stream_chunk(pending, state))
    except BrokenPipeError:
        return 0
    return 0
