"""Events as a Squonk2 job writes them: ``<time> # <LEVEL> -EVENT- <message>`` on stdout."""

from __future__ import annotations

import sys
from datetime import UTC, datetime


def emit_event(message: str, level: str = "INFO") -> None:
    """Write one event line (the Data Manager turns it into a task event).

    :param message: the event text (one line)
    :param level: INFO, WARNING or ERROR
    """
    now = datetime.now(UTC).isoformat(timespec="seconds")
    text = " ".join(str(message).split())
    print(f"{now} # {level} -EVENT- {text}", file=sys.stdout, flush=True)
