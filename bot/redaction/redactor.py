"""The redactor (known values + patterns, failing closed) and the process-wide chokepoint.

**Fail closed.** After masking, every flagged line is scanned again with the same automaton for
every known value in every encoding and for leftover JWTs / Slack tokens / AWS key ids; a line
that still matches, or whose processing raised, is replaced by
``[1 line withheld: could not be verified]`` (consecutive ones are counted together). An
exception anywhere else in :meth:`Redactor.redact` withholds the whole text:
``[message withheld: redaction failed]``. :meth:`Redactor.redact` never raises.

The registry of secrets of the process lives here, once: :func:`default_redactor`.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Iterable, Iterator, Mapping
from urllib.parse import unquote

from bot.redaction.classify import (
    SCHEME_RE,
    clean_kind,
    is_secret_key,
    is_trivial_secret,
    tokenish,
    url_credentials,
)
from bot.redaction.encodings import Variant, encoded_variants
from bot.redaction.engine import Engine
from bot.redaction.masks import WITHHELD_MESSAGE, withheld
from bot.redaction.patterns import StreamState, mask_pem_blocks

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
        self._engine: Engine | None = None
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
        kind = clean_kind(name)
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
                elif user and (secret_key or tokenish(user)) and len(user) >= 16:
                    self.add_secret(f"{key} credentials", unquote(user))
            if secret_key and not (creds and SCHEME_RE.match(value.strip())):
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

    def _snapshot(self) -> Engine:
        eng = self._engine
        if eng is None or self._dirty:
            with self._lock:
                if self._engine is None or self._dirty:
                    self._engine = Engine(list(self._secrets.values()))
                    self._dirty = False
                eng = self._engine
        return eng

    # -- redacting -----------------------------------------------------------------------
    def redact(self, text: str) -> str:
        """``text`` with every secret masked. Never raises: a line that cannot be verified is
        withheld, and any other failure withholds the whole text."""
        try:
            return self._redact_chunk(_coerce_str(text), StreamState())
        except Exception:
            return WITHHELD_MESSAGE

    def _redact_chunk(self, text: str, state: StreamState) -> str:
        eng = self._snapshot()
        if state.pem_lines or "PRIVATE KEY" in text:
            text = mask_pem_blocks(text, state)
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
                parts.append(withheld(j - i + 1))
                prev, i = spans[j][1], j + 1
            else:
                parts.append(new[i])
                prev, i = b, i + 1
        parts.append(text[prev:])
        return "".join(parts)

    def redact_stream_chunk(self, text: str, state: StreamState) -> str:
        """Redact one chunk of whole lines of a stream (``state`` carries an open PEM block to the
        next chunk). Never raises: a chunk that fails is withheld line by line."""
        try:
            return self._redact_chunk(text, state)
        except Exception:
            n = text.count("\n") + (0 if text.endswith("\n") else 1)
            return withheld(n) + ("\n" if text.endswith("\n") else "")

    def redact_lines(self, lines: Iterable[str]) -> Iterator[str]:
        """Redact a stream of lines, one output per input (line endings kept). A PEM block is
        collapsed into one mask: its inner lines come out as empty strings."""
        state = StreamState()
        for line in lines:
            try:
                line = _coerce_str(line)
            except Exception:
                yield withheld(1) + "\n"
                continue
            yield self.redact_stream_chunk(line, state)

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

