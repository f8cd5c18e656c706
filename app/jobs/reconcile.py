"""The periodic reconciler: a lost callback never leaves a job stuck.

Every RECONCILE_INTERVAL seconds (RQ's cron scheduler, started by worker.py) it asks
Squonk2 about jobs that are not finished and have heard nothing for RECONCILE_QUIET_SECONDS,
applying what it learns as events with source ``poll``; a job Squonk2 no longer knows
becomes FAILURE ("lost"). Every running job's new Squonk2 task events are stored on the
way (``app.jobs.events``; a quiet job's from the same answer). Tasks of a worker that died
are released first (retried, or failed once out of retries); launches stuck in OPEN and
transfers without a live task are then queued again.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from flask import current_app
from sqlalchemy import or_, select

from app.extensions import db
from app.jobs import definitions, states
from app.jobs.events import fetch_events, store_events
from app.jobs.hooks import enqueue_launch
from app.jobs.service import import_failed
from app.models import JobFileTransfer, JobRequest
from app.models.base import utcnow
from app.queueing import release_abandoned
from app.squonk.client import SquonkPermanentError, SquonkTransientError, task_events
from app.squonk.current import squonk
from app.transfers.service import enqueue_transfer, orphaned_transfers

log = logging.getLogger(__name__)

# Instance phase (and last task state) -> our status
PHASES = {
    "PENDING": states.PENDING,
    "RUNNING": states.STARTED,
    "COMPLETED": states.SUCCESS,
    "FAILED": states.FAILURE,
}


def squonk_status(job: JobRequest) -> tuple[str, dict, int]:
    """What Squonk2 says of the job now: (status, what it answered, how many new task
    events were stored with the job's history on the way)."""
    client = squonk()
    instance = client.get_instance(job.squonk_instance_id)
    status = PHASES.get(instance.get("phase", ""), states.PENDING)
    answer = {"phase": instance.get("phase")}
    stored = 0
    if job.squonk_task_id:
        prior = job.squonk_event_ordinal or 0
        task = client.get_task(job.squonk_task_id, event_prior_ordinal=prior)
        stored = store_events(job, prior, task_events(task))
        last = (task.get("states") or [{}])[-1]
        answer["task_state"] = last.get("state")
        if task.get("done") and "exit_code" in task:
            answer["exit_code"] = task["exit_code"]
        if last.get("state") == states.FAILURE and task.get("done"):
            status = states.FAILURE
    return status, answer, stored


def reconcile_job(job: JobRequest) -> tuple[str, int]:
    """Apply Squonk2's view of one job; returns the outcome and the task events stored."""
    try:
        status, answer, stored = squonk_status(job)
    except SquonkPermanentError as exc:
        if exc.status != 404:
            raise
        lost = "lost: Squonk2 no longer knows this job"
        return states.report(job, states.FAILURE, "poll", message=lost), 0
    return states.report(job, status, "poll", payload=answer), stored


def running_jobs(exclude: set[int]) -> list[JobRequest]:
    """Jobs running in Squonk2 (not those in ``exclude``, asked about already)."""
    return [
        job
        for job in db.session.scalars(
            select(JobRequest).where(
                JobRequest.job_status.in_(states.RUNNING),
                JobRequest.squonk_task_id.is_not(None),
            )
        )
        if job.id not in exclude
    ]


def stuck_launches(now) -> list[JobRequest]:
    quiet = now - timedelta(seconds=current_app.config["RECONCILE_QUIET_SECONDS"])
    return list(
        db.session.scalars(
            select(JobRequest).where(
                JobRequest.job_status == states.OPEN,
                JobRequest.squonk_instance_id.is_(None),
                JobRequest.updated < quiet,
            )
        )
    )


def interrupted_imports(now) -> list[JobRequest]:
    """Imports whose worker died: UPLOADING for longer than any import takes. The set is
    stored in one transaction, so such a job has a complete set or none."""
    stale = now - timedelta(seconds=current_app.config["IMPORT_STALE_SECONDS"])
    return list(
        db.session.scalars(
            select(JobRequest).where(
                JobRequest.job_status == states.UPLOADING, JobRequest.updated < stale
            )
        )
    )


def reconcile() -> dict[str, int]:
    """One pass over quiet jobs; returns counts by outcome (for the log and tests)."""
    counts: dict[str, int] = {}
    if definitions.refresh_if_due() is not None:  # the scheduled refresh of job definitions
        counts["definitions_refreshed"] = 1
    events = 0
    released = release_abandoned()
    if released:
        counts["tasks_released"] = released
    now = utcnow()
    quiet = now - timedelta(seconds=current_app.config["RECONCILE_QUIET_SECONDS"])
    candidates = db.session.scalars(
        select(JobRequest.id).where(
            JobRequest.job_status.in_(states.RUNNING),
            JobRequest.squonk_instance_id.is_not(None),
            or_(JobRequest.last_heard.is_(None), JobRequest.last_heard < quiet),
        )
    ).all()
    for job_id in candidates:
        job = db.session.scalar(select(JobRequest).where(JobRequest.id == job_id).with_for_update())
        if job is None or job.job_status not in states.RUNNING:
            db.session.rollback()
            continue
        try:
            outcome, stored = reconcile_job(job)
        except SquonkTransientError:
            db.session.rollback()
            counts["unreachable"] = counts.get("unreachable", 0) + 1
            continue
        db.session.commit()
        counts[outcome] = counts.get(outcome, 0) + 1
        events += stored
    # the others' callbacks keep their status fresh: only their task events are asked for
    events += sum(fetch_events(job) for job in running_jobs(exclude=set(candidates)))
    if events:
        counts["events"] = events
    for job in interrupted_imports(now):
        import_failed(job, "the import was interrupted (its worker stopped); retry it")
        counts["import_interrupted"] = counts.get("import_interrupted", 0) + 1
    for transfer_id in orphaned_transfers():
        transfer = db.session.get(JobFileTransfer, transfer_id)
        transfer.heartbeat = now
        enqueue_transfer(transfer)  # the same row resumes; the ledger skips what arrived
        counts["transfer_resumed"] = counts.get("transfer_resumed", 0) + 1
    for job in stuck_launches(now):
        job.updated = now
        states.note(job, "system", "launch re-queued by the reconciler")
        db.session.commit()
        enqueue_launch(job.id)
        counts["relaunched"] = counts.get("relaunched", 0) + 1
    if counts:
        log.info("reconciled: %s", counts)
    return counts
