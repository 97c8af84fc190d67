"""The `/bb` command grammar: a pure function from text to a typed request or a typed error.

No I/O, no clock. ``parse`` never raises on user input; ``format_request`` is its inverse and
feeds the "next command" lines the renderer prints.

    /bb <verb> [env] [args]
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from typing import Mapping

from bot.core import verbs
from bot.core.defaults import MAX_COMMAND_CHARS

VERSION_RE = re.compile(r"^(?:v?\d{1,6}\.\d{1,6}\.\d{1,6}(?:-[0-9A-Za-z.]{1,40})?|[0-9a-f]{7,40})$")
REVISION_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_]{0,63}$")
STEPS_BACK_RE = re.compile(r"^-([1-9])$")
SNAPSHOT_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,95}$")
RUN_ID_RE = re.compile(r"^#?([1-9][0-9]{0,11})$")
TOKEN_RE = re.compile(r"^[A-Za-z0-9_.#+-]{1,100}$")

_BIDI = {"\u202a", "\u202b", "\u202c", "\u202d", "\u202e", "\u2066", "\u2067", "\u2068", "\u2069",
         "\u200e", "\u200f", "\u061c"}


@dataclass(frozen=True)
class Request:
    verb: str
    env: str | None = None            # canonical environment name
    version: str | None = None        # deploy
    target: str | None = None         # rollback: "-1".."-9" or a revision id
    snapshot: str | None = None       # restore
    run_id: int | None = None         # status / cancel
    accept_data_loss: bool = False    # rollback

    @property
    def mutating(self) -> bool:
        return verbs.verb(self.verb).mutates


@dataclass(frozen=True)
class GrammarError:
    message: str
    valid: tuple[str, ...] = field(default_factory=tuple)

    def text(self) -> str:
        if not self.valid:
            return self.message
        return self.message + "\nValid: " + ", ".join(f"`{v}`" for v in self.valid)


def _bad_characters(text: str) -> str | None:
    for ch in text:
        if ch in _BIDI:
            return "bidirectional control characters"
        cat = unicodedata.category(ch)
        if cat in ("Cc", "Cf") and ch not in ("\t",):
            return "control characters"
    return None


def parse(text: str, environments: Mapping[str, str]) -> Request | GrammarError:
    """Parse the text after ``/bb``.

    ``environments`` maps every accepted name and alias to the canonical environment name.
    """
    if len(text) > MAX_COMMAND_CHARS:
        return GrammarError(f"That command is {len(text)} characters long; commands are at most "
                            f"{MAX_COMMAND_CHARS}. Nothing was started.", ("/bb help",))
    bad = _bad_characters(text)
    if bad:
        return GrammarError(f"That command contains {bad}; type it again with plain text. "
                            "Nothing was started.", ("/bb help",))
    words = text.split()
    if not words:
        return Request("help")
    verb, rest = words[0].lower(), words[1:]
    spec = verbs.VERBS.get(verb)
    if spec is None:
        shown = verb if TOKEN_RE.match(verb) else "that"
        return GrammarError(f"`{shown}` is not a bb-ops verb.", tuple(verbs.VERBS))
    usage = spec.usage
    flags = [w for w in rest if w.startswith("--")]
    rest = [w for w in rest if not w.startswith("--")]
    accept_data_loss = False
    for flag in flags:
        if verb == "rollback" and flag == "--accept-data-loss":
            accept_data_loss = True
        else:
            shown = flag if TOKEN_RE.match(flag) else "that option"
            return GrammarError(f"`{shown}` is not an option of `{verb}`.", (usage,))

    if spec.takes_run_id:
        if len(rest) != 1:
            return GrammarError(f"`{verb}` takes one run id.", (usage,))
        m = RUN_ID_RE.match(rest[0])
        if not m:
            return GrammarError("A run id is a number, like `42`.", (usage,))
        return Request(verb, run_id=int(m.group(1)))

    if not spec.needs_env:
        if rest:
            return GrammarError(f"`{verb}` takes no arguments.", (usage,))
        return Request(verb)

    if not rest:
        return GrammarError(f"`{verb}` needs an environment.",
                            tuple(f"/bb {verb} {name}" for name in _canonical(environments)))
    env_word = rest[0].lower()
    env = environments.get(env_word)
    if env is None:
        shown = rest[0] if TOKEN_RE.match(rest[0]) else "that"
        return GrammarError(f"`{shown}` is not a configured environment.", _env_names(environments))
    args = rest[1:]

    if verb == "deploy":
        if len(args) != 1:
            return GrammarError("`deploy` needs exactly one version.", (usage,))
        if not VERSION_RE.match(args[0]):
            return GrammarError("A version is a release like `1.4.2` / `v1.4.2-rc.1` or a git "
                                "commit id (7-40 hex digits).", (usage,))
        return Request(verb, env, version=args[0])
    if verb == "rollback":
        if len(args) > 1:
            return GrammarError("`rollback` takes at most one target.", (usage,))
        target = args[0] if args else "-1"
        if not (STEPS_BACK_RE.match(target) or REVISION_RE.match(target)):
            return GrammarError("A rollback target is `-1` (up to `-9`) or an Alembic revision id.",
                                (usage,))
        return Request(verb, env, target=target, accept_data_loss=accept_data_loss)
    if verb == "restore":
        if len(args) != 1:
            return GrammarError("`restore` needs a snapshot name (see `/bb snapshots <env>`).",
                                (usage, f"/bb snapshots {env}"))
        if not SNAPSHOT_RE.match(args[0]) or ".." in args[0]:
            return GrammarError("A snapshot name has letters, digits, `_`, `.` and `-` only.",
                                (f"/bb snapshots {env}",))
        return Request(verb, env, snapshot=args[0])
    if args:
        return GrammarError(f"`{verb}` takes only an environment.", (usage,))
    return Request(verb, env)


def _canonical(environments: Mapping[str, str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(environments.values()))


def _env_names(environments: Mapping[str, str]) -> tuple[str, ...]:
    names = []
    for canonical in _canonical(environments):
        aliases = sorted(k for k, v in environments.items() if v == canonical and k != canonical)
        names.append(canonical + (f" ({', '.join(aliases)})" if aliases else ""))
    return tuple(names)


def format_request(request: Request) -> str:
    """The inverse of ``parse``: the command that would produce ``request``."""
    parts = ["/bb", request.verb]
    if request.env:
        parts.append(request.env)
    if request.run_id is not None:
        parts.append(str(request.run_id))
    for extra in (request.version, request.snapshot):
        if extra:
            parts.append(extra)
    if request.verb == "rollback" and request.target and request.target != "-1":
        parts.append(request.target)
    if request.accept_data_loss:
        parts.append("--accept-data-loss")
    return " ".join(parts)
