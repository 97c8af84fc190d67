"""Redaction: the one chokepoint every outgoing string passes through (issue 5, RUNBOOK §7).

Nothing secret may reach Slack, a log, an exception, the audit trail or a file, even when the
target leaks it. Two complementary mechanisms, then a final check:

1. **Known values.** Every value registered with :meth:`Redactor.add_secret` (directly, or via
   :meth:`Redactor.add_env` / :meth:`Redactor.add_env_file` for secret-looking keys and for the
   credentials inside any URL) is masked wherever it appears, in every encoding listed in
   :mod:`bot.redaction.encodings`, unless it is trivial (:mod:`bot.redaction.classify`).
   All of them feed one combined automaton (:mod:`bot.redaction.engine`).
2. **Patterns**, needing no env file (:mod:`bot.redaction.patterns`): JWTs, authorization
   headers, cookies, Slack tokens and webhooks, URL passwords, ``key=value`` secrets, SQL
   passwords, AWS key ids, PEM private keys.
3. **Fail closed** (:mod:`bot.redaction.redactor`): a line that still holds a secret after
   masking, or whose processing raised, is withheld; :meth:`Redactor.redact` never raises.

Masks say what was hidden, never any part of it: ``[REDACTED:JWT_SECRET]``,
``[REDACTED:DATABASE_URL password]``, ``[REDACTED:bearer token]``, ``[REDACTED:jwt]``.

Not masked (no over-redaction): host names, user names (the user part of a URL stays), e-mail
addresses, git SHAs, Alembic revision ids, UUIDs, timestamps, HTTP status lines, words such as
"password reset email sent", ``MIGRATIONS_STRICT=true``, a key name without its value.

Known limits: URL-encodings that encode an arbitrary *subset* of characters other than the
standard safe sets, or mix upper and lower hex inside one value, are only caught by pattern;
values shorter than 8 characters are only caught by pattern; a ``key=value`` value ends at
whitespace, ``&``, ``,``, ``;`` or a quote (a known value is masked whole regardless); JWTs glued
to a preceding letter or digit are only caught as known values; ``passphrase``/``session`` keys
are not patterns; custom objects inside :meth:`Redactor.redact_obj` payloads are passed through
unchanged (only str/bytes are rewritten).

Only the standard library is imported at module level (``bb-ops redact`` must start fast);
python-dotenv is imported inside :meth:`Redactor.add_env_file`, and the logging side
(:mod:`bot.redaction.logfilter`, which needs :mod:`logging`) when one of its names is first used.
"""

from bot.redaction.classify import is_secret_key, is_trivial_secret
from bot.redaction.cli import run_cli
from bot.redaction.masks import MASK_FMT, WITHHELD_LINE_FMT, WITHHELD_MESSAGE
from bot.redaction.patterns import PEM_MAX_LINES
from bot.redaction.redactor import (
    Redactor,
    default_redactor,
    redact,
    redact_exception,
    redact_obj,
    register_env,
    register_env_file,
    register_secrets,
)

__all__ = [
    "MASK_FMT",
    "PEM_MAX_LINES",
    "WITHHELD_LINE_FMT",
    "WITHHELD_MESSAGE",
    "RedactingFilter",
    "Redactor",
    "default_redactor",
    "install_logging_filter",
    "is_secret_key",
    "is_trivial_secret",
    "redact",
    "redact_exception",
    "redact_obj",
    "register_env",
    "register_env_file",
    "register_secrets",
    "run_cli",
]

# The logging side needs `logging` (about 10 ms to import): it is loaded when first asked for, so
# `bb-ops redact`, which never logs, starts without it.
_LOGGING_SIDE = ("RedactingFilter", "install_logging_filter")


def __getattr__(name: str):
    if name in _LOGGING_SIDE:
        from bot.redaction import logfilter

        return getattr(logfilter, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
