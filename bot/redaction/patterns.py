"""Secret shapes caught without knowing the value (no env file needed).

JWTs (also ``alg=none`` with an empty signature), ``Authorization:`` credentials (Bearer, Basic,
Token, Digest ...), bare ``Bearer <token>``, ``Cookie``/``Set-Cookie`` values of cookies named
like refresh/session/token/sid/auth/jwt/csrf, Slack tokens (``xoxb-``, ``xoxp-``, ``xapp-``,
``xoxa-``, ``xoxs-``, ``xoxe.``, also URL-encoded ``xoxb%2D``) and Slack webhook paths, the
password in any ``scheme://user:pw@`` URL (``redis://:pw@host`` included) and in its URL-encoded
form, token-like userinfo (``https://<token>@host``), ``key=value`` / ``key: value`` /
``"key": "value"`` / ``'key': 'value'`` / ``--key value`` pairs whose key contains password,
passwd, pwd, secret, token, api_key/apikey or refresh (``client_secret``,
``aws_secret_access_key``, ``refresh_token`` ...), SQL ``PASSWORD '...'`` / ``IDENTIFIED BY
'...'``, AWS access key ids (``AKIA``/``ASIA``...), and PEM private key blocks (``-----BEGIN ...
PRIVATE KEY-----`` up to the matching END line, at most ``PEM_MAX_LINES`` lines when the END is
missing).

Hostile input stays linear: quantifiers are bounded or possessive, whole-token patterns resume
after their match, and a JWT must start a base64url run or follow an escape (``%22``,
``\\u0022``, ``\\n``) -- so a target echoing ``eyJeyJeyJ...`` or ``password=password=...``
cannot stall a worker.
"""

from __future__ import annotations

import re

from bot.redaction.classify import clean_kind, tokenish
from bot.redaction.masks import mask

PEM_MAX_LINES = 200


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


PATTERN_ANCHORS = _pattern_anchors()


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


def _placeholder(val: str) -> bool:
    v = val.strip()
    return not v or v.lower() in _STOP_VALUES or bool(_PLACEHOLDER_RE.fullmatch(v))


def line_end(s: str, pos: int) -> int:
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
                ce = line_end(s, cs)
            kind = {"bearer": "bearer token", "basic": "basic credentials"}.get(scheme, "authorization")
            return [(cs, ce, kind)]
        out = []
        if tokenish(s[ss:se]):
            out.append((ss, se, "authorization"))
        if tokenish(cred):
            out.append((cs, ce, "authorization"))
        return out
    return [(cs, ce, "authorization")] if tokenish(cred) else []


def _h_bearer(m, s):
    a, b = m.span("tok")
    tok = s[a:b]
    if tokenish(tok) and not tok.lower().startswith("[redacted"):
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
    return [(vs, ve, clean_kind(full.lower() if full else keyword))]


def _h_flag(m, s):
    ks, ke = m.span("fkey")
    full = s[ks:ke]
    if not _key_is_secret(full, "", ""):
        return []
    vs, ve = m.span("fval")
    if _placeholder(s[vs:ve]):
        return []
    return [(vs, ve, clean_kind(full.lower()))]


def _h_sql(m, s):
    a, b = m.span("sq")
    a, b = a + 1, b - 1
    return [(a, b, "password")] if b > a else []


# Each pattern: (gates, regex, handler, overlap). A pattern runs only when one of its gate
# substrings is present; ``overlap`` restarts the search one character after each match (so
# matches inside a match are found), else after it (whole-token masks, linear on long runs).
CS_PATTERNS = [  # case-sensitive, run on the original text
    (("eyJ",), re.compile(_JWT_RE), _h_whole("jwt"), False),
    (("xox", "xapp"), re.compile(_SLACK_RE), _h_whole("slack token"), False),
    (("AKIA", "ASIA", "AGPA", "AIDA", "AROA", "AIPA", "ANPA", "ANVA", "APKA", "ABIA", "ACCA"),
     re.compile(_AWS_RE), _h_whole("aws access key id"), False),
    (("hooks.slack.com",), re.compile(r"hooks\.slack\.com/(?:services|workflows|triggers)/(?P<hook>[A-Za-z0-9/_-]++)"),
     _h_group("hook", "slack webhook"), False),
    (("://",), re.compile(r"://(?P<user>[^\s:/?#@\"'<>\[\]]*+):(?P<pw>[^\s/\"<>]*)@"), _h_group("pw", "URL password"),
     False),
    (("://",), re.compile(r"://(?P<tok>[A-Za-z0-9._~-]{16,}+)@"), _h_group("tok", "URL credentials", tokenish), False),
]

N_STRONG = 3  # the first patterns above are also re-checked on the output (leftover = withhold)

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
CI_PATTERNS = [(g, re.compile(src), src, h, ov) for g, src, h, ov in _CI_PATTERNS_SRC]

_PEM_BEGIN = re.compile(r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----")
_PEM_END = re.compile(r"-----END [A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----")


class StreamState:
    """Streaming state carried from one chunk of lines to the next."""

    __slots__ = ("pem_lines",)

    def __init__(self) -> None:
        self.pem_lines = 0          # > 0: inside a PEM private key block, this many lines left


def mask_pem_blocks(text: str, state: StreamState) -> str:
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
        eol = line_end(text, begin.end())
        end = _PEM_END.search(text, begin.end(), eol)
        if end:                                 # one-line block (escaped newlines)
            pos = end.end()
        elif text[begin.end():eol].strip(" \t\r\"',\\") == "":
            state.pem_lines = PEM_MAX_LINES     # body on the following lines
            pos = eol
        else:                                   # one line, no END: mask to end of line
            pos = eol
    return "".join(out)

