"""The RQ task that starts a JobRequest on Squonk2 (dry run, then start)."""

from __future__ import annotations

import logging

from sqlalchemy.orm.exc import StaleDataError

from app.extensions import db
from app.jobs import states
from app.jobs.service import callback_url
from app.models import JobRequest
from app.models.base import utcnow
from app.queueing import in_states, on_final_failure
from app.squonk.client import SquonkPermanentError, SquonkTransientError
from app.squonk.current import squonk

log = logging.getLogger(__name__)

UNREACHABLE = (
    "Squonk2 could not be reached, so the job was not started. "
    "Try again in a few minutes; if it keeps failing, tell your administrator."
)


def _instance_name(job: JobRequest) -> str:
    # Squonk2: 2-80 characters of letters, digits, '-_. ', not starting or ending with ' '
    return f"fragalysis {job.job_key} {job.id}"[:80]


def specification(job: JobRequest) -> dict:
    return {
        "collection": job.squonk_collection,
        "job": job.squonk_job,
        "version": job.squonk_version,
        "variables": job.specification,
    }


def launch_job(job_id: int) -> str:
    """Start the job unless it already was: never a second instance for one row."""
    job = db.session.get(JobRequest, job_id)
    if job is None:
        return "missing"
    if job.squonk_instance_id or job.job_status in (states.REVOKED, states.FAILURE):
        return job.job_status
    client = squonk()
    try:
        # A worker that died after Squonk2 started the instance left no id on the row: the
        # callback context (unique per row) finds that instance instead of starting another.
        found = client.find_instance(job.callback_context)
        if found:
            instance_id, task_id = found
            info = {"adopted": True}
        else:
            spec = specification(job)
            url = callback_url(job)
            started = client.start_job(
                job.squonk_project, _instance_name(job), spec, url, job.callback_context
            )
            instance_id, task_id = started["instance_id"], started["task_id"]
            info = {"command": started["command"]}
    except SquonkPermanentError as exc:
        db.session.rollback()
        fail(job, f"Squonk2 refused to start the job: {exc}")
        return states.FAILURE
    except SquonkTransientError:
        db.session.rollback()
        raise  # RQ retries with backoff; the failure callback speaks after the last try

    return record_launch(job_id, instance_id, task_id, info)


def record_launch(job_id: int, instance_id: str, task_id: str, info: dict) -> str:
    """Store what Squonk2 answered. A callback may have moved the row meanwhile (the
    instance can report STARTED before we get here): then read it again and re-apply."""
    for _ in range(5):
        job = db.session.get(JobRequest, job_id)
        job.squonk_instance_id, job.squonk_task_id = instance_id, task_id
        job.squonk_job_info = {
            **info,
            "instance_id": instance_id,
            "task_id": task_id,
            "project_id": job.squonk_project,
            "job_dir": job.job_dir,
        }
        job.launched = job.last_heard = utcnow()
        if job.job_status == states.OPEN:  # else a callback already told us more
            states.report(
                job, states.PENDING, "system", message=f"started on Squonk2 as {instance_id}"
            )
        try:
            db.session.commit()
            return job.job_status
        except StaleDataError:
            db.session.rollback()
    raise RuntimeError(f"job {job_id}: could not record its launch")


def fail(job: JobRequest, message: str) -> None:
    states.report(job, states.FAILURE, "system", message=message)
    db.session.commit()


# RQ failure callback (after every failed attempt): on the last one, the job says why
launch_attempt_failed = on_final_failure(
    JobRequest,
    expected=in_states("job_status", {states.OPEN}),
    give_up=fail,
    unreachable=UNREACHABLE,
    what="launch",
)
