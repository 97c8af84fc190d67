"""Password hashing (stdlib scrypt, salted) and JWTs (HS256, signed with JWT_SECRET)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time

import jwt

_SCRYPT_N, _SCRYPT_R, _SCRYPT_P = 2**14, 8, 1
_ALGORITHM = "HS256"


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(
        password.encode("utf-8"), salt=salt, n=_SCRYPT_N, r=_SCRYPT_R, p=_SCRYPT_P, dklen=32
    )
    return f"scrypt${_SCRYPT_N}${_SCRYPT_R}${_SCRYPT_P}${_b64(salt)}${_b64(digest)}"


_DUMMY_HASH = hash_password(secrets.token_urlsafe(16))


def verify_password(password: str, stored: str | None) -> bool:
    """Constant-ish time: an unknown user costs the same scrypt as a known one."""
    candidate = stored or _DUMMY_HASH
    try:
        scheme, n, r, p, salt, digest = candidate.split("$")
        if scheme != "scrypt":
            return False
        expected = base64.b64decode(digest)
        actual = hashlib.scrypt(
            password.encode("utf-8"),
            salt=base64.b64decode(salt),
            n=int(n),
            r=int(r),
            p=int(p),
            dklen=len(expected),
        )
    except (ValueError, TypeError):
        return False
    return stored is not None and hmac.compare_digest(actual, expected)


def issue_token(secret: str, user_id: int, kind: str, ttl_s: int) -> str:
    now = int(time.time())
    claims = {
        "sub": str(user_id),
        "typ": kind,
        "iat": now,
        "exp": now + ttl_s,
        "jti": secrets.token_urlsafe(12),
    }
    return jwt.encode(claims, secret, algorithm=_ALGORITHM)


class TokenError(Exception):
    pass


def decode_token(secret: str, token: str, kind: str) -> int:
    """The user id of a valid token of the given kind, else TokenError."""
    try:
        claims = jwt.decode(
            token, secret, algorithms=[_ALGORITHM], options={"require": ["exp", "sub"]}
        )
    except jwt.ExpiredSignatureError as exc:
        raise TokenError("token expired") from exc
    except jwt.PyJWTError as exc:
        raise TokenError(f"invalid token ({type(exc).__name__})") from exc
    if claims.get("typ") != kind:
        raise TokenError(f"not an {kind} token" if kind == "access" else f"not a {kind} token")
    try:
        return int(claims["sub"])
    except (TypeError, ValueError) as exc:
        raise TokenError("invalid token subject") from exc
