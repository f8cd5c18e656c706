"""What the job is doing: a Squonk2 task's events, stored with the job's history.

Squonk2 numbers a task's events 1, 2, 3, ... (``ordinal``); ``get_task`` with
``event_prior_ordinal`` lists only those after it. A job remembers the last ordinal it
stored (``JobRequest.squonk_event_ordinal``), and each event becomes one JobEvent with
source ``squonk2`` exactly once, however many processes ask at the same time: the store
first moves the ordinal with a conditional UPDATE (``WHERE ordinal = what I read``), so of
two processes that fetched the same events only the first stores them.

Events are fetched by the job page's status poll (at most once per
JOB_EVENTS_POLL_SECONDS per job), by the reconciler for every running job, and once more
by a task queued when the job reaches a final state. Squonk2 unreachable means no new
events, never an error page.
"""

from __future__ import annotations

import logging

from flask import current_app
from redis.exceptions import RedisError
from sqlalchemy import func, update
from sqlalchemy.orm.attributes import set_committed_value

from app.extensions import db, redis_connection
from app.jobs import states
from app.jobs.states import Change
from app.models import JobRequest
from app.models.base import utcnow
from app.models.jobs import JobEvent
from app.queueing import enqueue, task_id
from app.squonk.client import SquonkError, SquonkTransientError, TaskEvent, task_events
from app.squonk.current import squonk

log = logging.getLogger(__name__)

SOURCE = "squonk2"
FETCH_TASK = "app.jobs.events.fetch_final_events"
# Squonk2 is done with a job that moves from one of these to SUCCESS, FAILURE or REVOKED
_SQUONK_DONE = frozenset({states.SUCCESS, states.FAILURE, states.REVOKED})
_BEFORE_DONE = frozenset({states.OPEN}) | states.RUNNING


def store_events(job: JobRequest, prior: int, events: list[TaskEvent]) -> int:
    """Add the events after ordinal ``prior`` to the job's history, unless another process
    already stored them; the caller commits.

    :param prior: the ordinal the events were asked after (what the job said when read)
    :returns: how many events were stored (0 when another process got there first)
    """
    fresh = [event for event in events if event.ordinal > prior]
    if not fresh:
        return 0
    last = fresh[-1].ordinal
    # Claim the ordinals: in PostgreSQL a concurrent UPDATE of the row waits for this
    # transaction and then finds the ordinal moved, so it matches no row.
    claimed = db.session.execute(
        update(JobRequest)
        .where(
            JobRequest.id == job.id,
            func.coalesce(JobRequest.squonk_event_ordinal, 0) == prior,
        )
        .values(squonk_event_ordinal=last)
        .execution_options(synchronize_session=False)
    ).rowcount
    if claimed != 1:
        db.session.expire(job, ["squonk_event_ordinal"])  # read what the other one stored
        return 0
    set_committed_value(job, "squonk_event_ordinal", last)
    recorded = utcnow()
    for event in fresh:
        db.session.add(
            JobEvent(
                job_request_id=job.id,
                time=event.time or recorded,
                from_status=job.job_status,
                to_status=job.job_status,
                source=SOURCE,
                message=event.message,
                payload={"ordinal": event.ordinal, "level": event.level},
                recorded=recorded,
            )
        )
    db.session.expire(job, ["events"])
    return len(fresh)


def ask_squonk(job: JobRequest) -> tuple[int, list[TaskEvent]]:
    """The job's task events after the last one stored: ``(prior ordinal, events)``.

    :raises SquonkError: Squonk2 could not be reached or does not know the task
    """
    prior = job.squonk_event_ordinal or 0
    answer = squonk().get_task(job.squonk_task_id, event_prior_ordinal=prior)
    return prior, task_events(answer)


def fetch_events(job: JobRequest) -> int:
    """Ask Squonk2 for the job's new task events and store them (commits when some are
    stored). Squonk2 unreachable, unconfigured or not knowing the task: nothing stored.

    :returns: how many events were stored
    """
    if not job.squonk_task_id:
        return 0
    try:
        prior, events = ask_squonk(job)
    except SquonkError as exc:
        log.info("job %s: no Squonk2 task events (%s)", job.id, exc)
        return 0
    stored = store_events(job, prior, events)
    if stored:
        db.session.commit()
    return stored


def poll_due(job_id: int) -> bool:
    """May the status poll ask Squonk2 about this job now? At most once per
    JOB_EVENTS_POLL_SECONDS per job, across every web process (a Redis key that expires);
    with Redis unreachable the poll does not ask."""
    seconds = float(current_app.config["JOB_EVENTS_POLL_SECONDS"])
    if seconds <= 0:
        return True
    try:
        return bool(
            redis_connection().set(
                task_id("events-poll", job_id), "1", nx=True, px=max(1, int(seconds * 1000))
            )
        )
    except RedisError as exc:
        log.warning("job %s: events poll not throttled, so skipped: %s", job_id, exc)
        return False


def fetch_on_poll(job: JobRequest, last_poll: bool = False) -> int:
    """The status poll's fetch, at most once per JOB_EVENTS_POLL_SECONDS per job while the
    job runs. The poll that finds the job final (the page stops polling after it) always
    asks, so the page ends with the job's last words.

    :param last_poll: this poll answers that the job is final
    """
    if not job.squonk_task_id or job.job_status == states.OPEN:
        return 0
    if job.job_status in states.FINAL and not last_poll:
        return 0
    if not last_poll and not poll_due(job.id):
        return 0
    return fetch_events(job)


def fetch_final_events(job_id: int) -> int:
    """Task: once a job has finished in Squonk2, store the events it has not stored yet.
    Retried while Squonk2 is unreachable; a task Squonk2 no longer knows has nothing more."""
    job = db.session.get(JobRequest, job_id)
    if job is None or not job.squonk_task_id:
        return 0
    try:
        prior, events = ask_squonk(job)
    except SquonkTransientError:
        raise
    except SquonkError as exc:
        log.info("job %s: final task events not available (%s)", job_id, exc)
        return 0
    stored = store_events(job, prior, events)
    db.session.commit()
    return stored


def final_fetch_failed(rq_job, connection, exc_type, exc_value, traceback) -> None:
    """RQ failure callback: the events stay as they were (the job's status is not at stake)."""
    if not rq_job.retries_left:
        log.warning("job %s: final task events not fetched (%s)", rq_job.args[0], exc_type.__name__)


def queue_final_fetch(change: Change) -> None:
    """After commit: a job Squonk2 has finished with gets its last events fetched."""
    if change.new in _SQUONK_DONE and change.old in _BEFORE_DONE:
        enqueue(
            FETCH_TASK,
            "events",
            change.job_id,
            on_failure=__name__ + ".final_fetch_failed",
            timeout=60,
        )
