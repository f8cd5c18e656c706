"""The one place where a JobRequest's status changes.

    OPEN -> PENDING -> STARTED -> SUCCESS -> UPLOADING -> UPLOADED
    any running state -> RETRY -> STARTED ...; -> FAILURE; -> REVOKED

Whoever learns something about a job (a Squonk2 callback, the reconciler's poll, the user,
a task) calls :func:`report`. Squonk2's callbacks repeat, arrive late and out of order: a
repeat is harmless, a message that would move a job backwards (STARTED after SUCCESS) is
refused, skipping a step (SUCCESS with no STARTED) is fine. Every accepted change writes a
JobEvent and then:

- the *rules* run in the same transaction (e.g. SUCCESS -> UPLOADING when the job's results
  are imported), so what the user sees next is already decided when the change commits;
- the *after-commit hooks* run once per committed change, never for a change whose
  transaction rolled back or was retried (import the results, count a metric, notify).

Both are registered per app (``rule``, ``after_commit``); ``app.jobs.hooks`` registers the
product's own.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask import Flask, current_app
from sqlalchemy import event
from sqlalchemy.orm import Session

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
# Sources of a change: Squonk2 told us (callback, poll), a person, or the product itself
SOURCES = ("callback", "poll", "user", "system")

TRANSITIONS: dict[str, frozenset[str]] = {
    OPEN: frozenset({PENDING, STARTED, SUCCESS, FAILURE, REVOKED}),
    PENDING: frozenset({STARTED, RETRY, SUCCESS, FAILURE, REVOKED}),
    STARTED: frozenset({RETRY, SUCCESS, FAILURE, REVOKED}),
    RETRY: frozenset({PENDING, STARTED, SUCCESS, FAILURE, REVOKED}),
    SUCCESS: frozenset({UPLOADING}),
    UPLOADING: frozenset({UPLOADED, SUCCESS}),  # back to SUCCESS when the import fails
    FAILURE: frozenset(),
    REVOKED: frozenset(),
    # back to SUCCESS when its computed set is deleted (the results may be imported again)
    UPLOADED: frozenset({SUCCESS}),
}

# Who may make each transition. Squonk2 (callback, poll) speaks only about a job it is
# running: once the job is SUCCESS/FAILURE/REVOKED it has nothing more to say, so a late or
# repeated SUCCESS can never move a job out of UPLOADING or UPLOADED (or import it twice).
_SQUONK_MOVES = frozenset(
    (old, new) for old in (OPEN, *sorted(RUNNING)) for new in TRANSITIONS[old]
)
ALLOWED: dict[str, frozenset[tuple[str, str]]] = {
    "callback": _SQUONK_MOVES,
    "poll": _SQUONK_MOVES,
    # cancel; retry an import; a deleted computed set hands the job back
    "user": frozenset(
        {(old, REVOKED) for old in (OPEN, *sorted(RUNNING))}
        | {(SUCCESS, UPLOADING), (UPLOADED, SUCCESS)}
    ),
    # the launch task records the start or the failure; the results import runs and ends
    "system": frozenset(
        {(OPEN, PENDING)}
        | {(old, FAILURE) for old in (OPEN, *sorted(RUNNING))}
        | {(SUCCESS, UPLOADING), (UPLOADING, UPLOADED), (UPLOADING, SUCCESS)}
    ),
}


@dataclass(frozen=True)
class Change:
    """One accepted status change, as hooks see it. ``old`` is None for a new request."""

    job_id: int
    old: str | None
    new: str
    source: str
    message: str | None = None


Rule = Callable[[JobRequest, Change], None]
Hook = Callable[[Change], None]


def can_move(current: str, new: str, source: str | None = None) -> bool:
    """Does the state machine allow ``current -> new`` (for ``source``, when given)?"""
    if new not in TRANSITIONS.get(current, frozenset()):
        return False
    return source is None or (current, new) in ALLOWED.get(source, frozenset())


def _registry(name: str, app: Flask | None = None) -> list:
    return (app or current_app).extensions.setdefault(name, [])


def rule(function: Rule, app: Flask | None = None) -> Rule:
    """Register ``function(job, change)`` to run in the transaction of each change."""
    _registry("job_rules", app).append(function)
    return function


def after_commit(function: Hook, app: Flask | None = None) -> Hook:
    """Register ``function(change)`` to run once each change is committed. The session
    has no transaction then: a hook queues work or counts, it does not query."""
    _registry("job_after_commit", app).append(function)
    return function


def requested(job: JobRequest, source: str, message: str) -> None:
    """A new JobRequest (status OPEN): its first event, and hooks see ``old=None``."""
    job.job_status = OPEN
    db.session.add(job)
    db.session.flush()  # the change names the row
    note(job, source, message)
    _changed(job, Change(job.id, None, OPEN, source, message))


def note(job: JobRequest, source: str, message: str, payload: dict | None = None) -> JobEvent:
    """A line in the job's history that does not change its status."""
    entry = JobEvent(
        job=job,
        time=utcnow(),
        from_status=job.job_status,
        to_status=job.job_status,
        source=source,
        message=message,
        payload=payload,
    )
    db.session.add(entry)
    return entry


def report(
    job: JobRequest,
    new: str,
    source: str,
    *,
    time: datetime | None = None,
    payload: dict[str, Any] | None = None,
    message: str | None = None,
) -> str:
    """Apply ``new`` to ``job`` if the state machine allows it; the caller commits.

    :param source: who says so: ``callback``, ``poll``, ``user`` or ``system``
    :returns: ``"applied"``, ``"repeat"`` (already there: harmless) or ``"refused"``
    """
    if source in ("callback", "poll"):
        job.last_heard = utcnow()
    current = job.job_status
    if new == current:
        return "repeat"
    if current == OPEN and new != PENDING and source in ("callback", "poll"):
        # Squonk2 can report a job before the launch task has recorded its start: hearing
        # of it at all means Squonk2 accepted it, so the history shows PENDING first.
        report(job, PENDING, source, time=time, message="accepted by Squonk2")
        current = job.job_status
    if not can_move(current, new, source):
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
    if new in (FAILURE, REVOKED) and message:
        job.message = message
    log.info("job %s: %s -> %s (%s)", job.id, current, new, source)
    _changed(job, Change(job.id, current, new, source, message))
    return "applied"


def _changed(job: JobRequest, change: Change) -> None:
    session = db.session()
    _watch(session)
    session.info.setdefault("job_changes", []).append((change, list(_registry("job_after_commit"))))
    for function in list(_registry("job_rules")):
        function(job, change)


def _watch(session: Session) -> None:
    if session.info.get("job_changes_watched"):
        return
    event.listen(session, "after_commit", _run_after_commit)
    event.listen(session, "after_rollback", _forget)
    session.info["job_changes_watched"] = True


def _forget(session: Session) -> None:
    session.info.pop("job_changes", None)


def _run_after_commit(session: Session) -> None:
    for change, hooks in session.info.pop("job_changes", []):
        for hook in hooks:
            try:
                hook(change)
            except Exception:  # noqa: BLE001 - the change is committed; a hook cannot undo it
                log.exception(
                    "job %s: after-commit hook %s failed",
                    change.job_id,
                    getattr(hook, "__name__", hook),
                )
