"""What follows a job's status change: the product's own rules and after-commit hooks
(``app.jobs.states`` runs them). To do something when a job ends, add a hook here; the
e-mail a user may ask for is ``app.jobs.notify``'s."""

from __future__ import annotations

import logging

from flask import Flask

from app import metrics
from app.jobs import events, notify, states
from app.jobs.definitions import job_schemas
from app.jobs.states import Change
from app.models import JobRequest
from app.queueing import enqueue

log = logging.getLogger(__name__)

LAUNCH_TASK = "app.jobs.task.launch_job"
IMPORT_TASK = "app.csets.task.import_results"


def imports_results(job: JobRequest) -> bool:
    """Does the job's configuration import its output as a computed set?"""
    schema = job_schemas().get(job.job_key)
    return bool(schema and schema.imported_outputs)


def import_results_on_success(job: JobRequest, change: Change) -> None:
    """Rule: a job that succeeded and whose results are imported goes on to UPLOADING in
    the same transaction (not when an import failed, or its set was deleted, and handed
    the job back: the user retries then)."""
    handed_back = change.old in (states.UPLOADING, states.UPLOADED)
    if change.new == states.SUCCESS and not handed_back and imports_results(job):
        states.report(
            job, states.UPLOADING, "system", message="importing the results as a computed set"
        )


def queue_work(change: Change) -> None:
    """After commit: a new request is launched; a job going UPLOADING is imported."""
    if change.old is None:
        enqueue_launch(change.job_id)
    elif change.new == states.UPLOADING:
        enqueue_import(change.job_id)


def count(change: Change) -> None:
    """After commit: the metric counters."""
    if change.old is None:
        metrics.increment("launches")
    else:
        metrics.increment("job_transitions", change.new, change.source)


def enqueue_launch(job_id: int) -> None:
    enqueue(
        LAUNCH_TASK, "launch", job_id, on_failure="app.jobs.task.launch_attempt_failed", timeout=300
    )


def enqueue_import(job_id: int) -> None:
    enqueue(
        IMPORT_TASK,
        "import",
        job_id,
        on_failure="app.csets.task.import_attempt_failed",
        timeout=1800,
    )


def register_builtin_hooks(app: Flask) -> None:
    states.rule(import_results_on_success, app)
    # after the import rule: it must see whether a SUCCESS went on to UPLOADING
    states.rule(notify.note_job_end, app)
    states.after_commit(queue_work, app)
    states.after_commit(count, app)
    states.after_commit(notify.queue_notice, app)
    # a job that finishes gets its last Squonk2 task events fetched
    states.after_commit(events.queue_final_fetch, app)
