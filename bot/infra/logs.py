"""Structured logs: one JSON object per line on stderr, redacted by the root logger's filter.

Each line has ``ts``, ``level``, ``logger``, ``msg`` and, when known, ``run_id``, ``env``,
``verb``, ``job_id``, ``phase``: given per record (``log.info(..., extra={"run_id": 7})``) or
bound for the whole process with :func:`bind` — an RQ work horse runs exactly one job, so
`bb-ops worker` binds the job's run id there and every record of that job carries it, the
records of its heartbeat and lock threads included.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time

from bot.core.defaults import LOG_LEVEL
from bot.redaction import install_logging_filter, redact

FIELDS = ("run_id", "env", "verb", "job_id", "phase", "worker")

_bound: dict[str, object] = {}


def bind(**fields) -> None:
    """Add fields to every later record of this process (None removes a field)."""
    for key, value in fields.items():
        if value is None:
            _bound.pop(key, None)
        else:
            _bound[key] = value


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
            "pid": record.process,
        }
        for key in FIELDS:
            value = getattr(record, key, None)
            if value is None:
                value = _bound.get(key)
            if value is not None:
                out[key] = value
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        elif record.exc_text:  # the redacting filter replaced exc_info with a redacted traceback
            out["exc"] = record.exc_text
        return redact(json.dumps(out, ensure_ascii=False, default=str))


def setup_logging(level: str | None = None) -> None:
    level = (level or os.environ.get("BBOPS_LOG_LEVEL") or LOG_LEVEL).upper()
    root = logging.getLogger()
    if not any(getattr(h, "_bbops", False) for h in root.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(JsonFormatter())
        handler._bbops = True  # type: ignore[attr-defined]
        root.addHandler(handler)
    root.setLevel(level)
    for noisy in ("slack_bolt", "slack_sdk", "httpx", "httpcore", "urllib3", "alembic"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
    install_logging_filter()
