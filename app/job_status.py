"""The one state machine of ``JobRequest.job_status``.

    OPEN -> PENDING -> STARTED -> SUCCESS -> UPLOADING -> UPLOADED
    any running state -> RETRY -> STARTED ...; -> FAILURE; -> REVOKED

Squonk2's callbacks repeat, arrive late and out of order. The rules: a repeat is harmless;
a message that would move a job backwards (STARTED after SUCCESS) is refused; skipping a
step (SUCCESS with no STARTED) is fine. Every accepted change writes a JobEvent.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from app.extensions import db
from app.models.base import utcnow
from app.models.jobs import JobEvent, JobRequest

log = logging.getLogger(__name__)

OPEN, PENDING, STARTED, RETRY = "OPEN", "PENDING", "STARTED", "RETRY"
SUCCESS, FAILURE, REVOKED = "SUCCESS", "FAILURE", "REVOKED"
UPLOADING, UPLOADED = "UPLOADING", "UPLOADED"
ALL = (OPEN, PENDING, STARTED, RETRY, SUCCESS, FAILURE, REVOKED, UPLOADING, UPLOADED)
# What Squonk2 may report (CONTRACTS.md section 2)
SQUONK_STATES = (PENDING, STARTED, SUCCESS, FAILURE, RETRY, REVOKED)

RUNNING = frozenset({PENDING, STARTED, RETRY})  # queued or running in Squonk2
FINISHED = frozenset({SUCCESS, FAILURE, REVOKED, UPLOADED})  # Squonk2 is done with it
# Nothing more will happen by itself: panels stop polling (SUCCESS may still go UPLOADING,
# but that change is made in the same transaction that records SUCCESS)
FINAL = frozenset({SUCCESS, FAILURE, REVOKED, UPLOADED})

TRANSITIONS: dict[str, frozenset[str]] = {
    OPEN: frozenset({PENDING, STARTED, SUCCESS, FAILURE, REVOKED}),
    PENDING: frozenset({STARTED, RETRY, SUCCESS, FAILURE, REVOKED}),
    STARTED: frozenset({RETRY, SUCCESS, FAILURE, REVOKED}),
    RETRY: frozenset({PENDING, STARTED, SUCCESS, FAILURE, REVOKED}),
    SUCCESS: frozenset({UPLOADING}),
    UPLOADING: frozenset({UPLOADED, SUCCESS}),  # back to SUCCESS when the import fails
    FAILURE: frozenset(),
    REVOKED: frozenset(),
    UPLOADED: frozenset(),
}


def can_move(current: str, new: str) -> bool:
    return new in TRANSITIONS.get(current, frozenset())


def record_event(
    job: JobRequest,
    source: str,
    message: str,
    payload: dict | None = None,
    time: datetime | None = None,
) -> JobEvent:
    """A note in the job's history that does not change its status."""
    event = JobEvent(
        job=job,
        time=time or utcnow(),
        from_status=job.job_status,
        to_status=job.job_status,
        source=source,
        message=message,
        payload=payload,
    )
    db.session.add(event)
    return event


def apply_transition(
    job: JobRequest,
    new: str,
    source: str,
    *,
    time: datetime | None = None,
    payload: dict[str, Any] | None = None,
    message: str | None = None,
) -> str:
    """Move ``job`` to ``new`` if the state machine allows it; the caller commits.

    :returns: ``"applied"``, ``"repeat"`` (already there: harmless) or ``"refused"``
    """
    current = job.job_status
    if new == current:
        return "repeat"
    if current == OPEN and new != PENDING and source in ("callback", "poll"):
        # Squonk2 can report a job before the launch task has recorded its start: hearing
        # of it at all means Squonk2 accepted it, so the history shows PENDING first.
        apply_transition(job, PENDING, source, time=time, message="accepted by Squonk2")
        current = job.job_status
    if not can_move(current, new):
        log.info("job %s: refused %s -> %s from %s", job.id, current, new, source)
        return "refused"
    when = time or utcnow()
    db.session.add(
        JobEvent(
            job=job,
            time=when,
            from_status=current,
            to_status=new,
            source=source,
            payload=payload,
            message=message,
        )
    )
    job.job_status = new
    job.updated = utcnow()
    if new == STARTED and job.started is None:
        job.started = when
    if new in FINISHED and job.finished is None:
        job.finished = when
    if message and new in (FAILURE, REVOKED):
        job.message = message
    log.info("job %s: %s -> %s (%s)", job.id, current, new, source)
    return "applied"
