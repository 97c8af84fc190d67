"""The logging side: a filter that redacts every record before any handler formats it."""

from __future__ import annotations

import logging

from bot.redaction.masks import WITHHELD_MESSAGE
from bot.redaction.redactor import Redactor, default_redactor

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
        return self._redactor or default_redactor()

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

