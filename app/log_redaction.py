"""Keep callback secrets out of access logs.

Squonk2 calls ``PUT /api/job_callback/<secret>/``; web servers log request lines, so the
loggers that write them get a filter replacing the secret before anything is written.
"""

from __future__ import annotations

import logging
import re

CALLBACK_PATH = re.compile(r"(/api/job_callback/)[^/\s\"?]+")
ACCESS_LOGGERS = ("werkzeug", "gunicorn.access", "gunicorn.error")


def redact(text: str) -> str:
    return CALLBACK_PATH.sub(r"\1<redacted>", text)


class RedactCallbackSecrets(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = redact(message)
        if redacted != message:
            record.msg, record.args = redacted, ()
        return True


def install() -> None:
    """Idempotent: each access logger gets the filter once."""
    for name in ACCESS_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactCallbackSecrets) for f in logger.filters):
            logger.addFilter(RedactCallbackSecrets())
