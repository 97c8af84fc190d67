"""Which values and keys count as secret: the triviality rule for values masked *by value*,
secret-looking environment variable names, token-like strings, and the credentials inside URLs.

**Triviality rule** (:func:`is_trivial_secret`): a value is never masked *by value* when, after
stripping whitespace, it is shorter than ``MIN_SECRET_LENGTH`` (8) characters, has fewer than 4
distinct characters, is all digits and shorter than 12, or is a common word or default
(``true``, ``postgres``, ``localhost``, ``password``, ``production`` ...). So ``5432``, ``true`` or
``HS256`` never mask every occurrence of themselves; such values are still masked *by pattern*
where the context shows they are secret (``password=true``).
"""

from __future__ import annotations

import re

MIN_SECRET_LENGTH = 8

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


def clean_kind(kind: object) -> str:
    k = re.sub(r"[^A-Za-z0-9 _.:/+@-]", "_", str(kind or "secret")).strip()
    return (k or "secret")[:64]


def tokenish(s: str) -> bool:
    """Looks like a credential rather than a word."""
    if len(s) < 8:
        return False
    if any(c.isdigit() for c in s) or any(c in "-._~+/=%" for c in s):
        return True
    return len(s) >= 20 and not s.islower() and not s.isupper()


# --------------------------------------------------------------------------------------------
# URL credentials inside env values
# --------------------------------------------------------------------------------------------

SCHEME_RE = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*://")


def url_credentials(value: str) -> list[tuple[str, str | None]]:
    """(user, password) pairs of every ``scheme://user[:password]@`` in ``value``, read both
    the way urllib does (userinfo ends at the last '@' before '/', '?', '#') and the way
    SQLAlchemy does (password up to the first '@'). Passwords are as written (not decoded)."""
    out = []
    for m in SCHEME_RE.finditer(value):
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
