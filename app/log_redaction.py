"""Keep callback secrets and bearer tokens out of every log line.

Squonk2 calls ``PUT /api/job_callback/<secret>/`` and scripts send
``Authorization: Bearer fjl_...``; web servers log request lines, Flask logs the path of a
request that failed, RQ logs its tasks. Rather than a filter per logger (which misses the
loggers nobody thought of, and records that propagate), :func:`install` wraps the log
record factory: every record any logger creates is redacted once, message and traceback,
before a handler sees it.
"""

from __future__ import annotations

import logging
import re

PATTERNS = (
    (re.compile(r"(/api/job_callback/)[^/\s\"'?<>]+"), r"\1<redacted>"),
    (re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]+"), r"\1<redacted>"),
    (re.compile(r"\bfjl_[A-Za-z0-9_-]{8,}"), "fjl_<redacted>"),
)

_formatter = logging.Formatter()


def redact(text: str) -> str:
    for pattern, replacement in PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def _redacted(record: logging.LogRecord) -> logging.LogRecord:
    try:
        message = record.getMessage()
    except Exception:  # noqa: BLE001 - a broken format string is the logger's problem
        return record
    clean = redact(message)
    if clean != message:
        record.msg, record.args = clean, ()
    if record.exc_info and record.exc_info[0] is not None:
        # the traceback's text (exception messages may quote the path); handlers reuse it
        record.exc_text = redact(_formatter.formatException(record.exc_info))
        record.exc_info = None
    return record


def install() -> None:
    """Idempotent: wrap the current record factory once."""
    current = logging.getLogRecordFactory()
    if getattr(current, "redacts", False):
        return

    def factory(*args, **kwargs) -> logging.LogRecord:
        return _redacted(current(*args, **kwargs))

    factory.redacts = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(factory)
