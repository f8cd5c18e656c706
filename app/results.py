"""What happens when a job succeeds: importing its results as a computed set.

A job whose job_schemas output is marked ``import: computed-set`` goes SUCCESS ->
UPLOADING in the same transaction that records SUCCESS, and the import task is queued
right after the commit (the row is the truth; Redis only carries work).
"""

from __future__ import annotations

import logging

from flask import current_app
from sqlalchemy import event

from app import job_status as states
from app.extensions import db, enqueue_squonk_task
from app.models import JobRequest

log = logging.getLogger(__name__)


def imports_results(job: JobRequest) -> bool:
    schema = current_app.extensions["job_schemas"].get(job.job_key)
    return bool(schema and schema.imported_outputs)


def after_success(job: JobRequest) -> None:
    """Called in the transaction that recorded SUCCESS; the caller commits."""
    if not imports_results(job):
        return
    states.apply_transition(
        job, states.UPLOADING, "system", message="importing the results as a computed set"
    )
    _enqueue_after_commit(job.id)


def _enqueue_after_commit(job_id: int) -> None:
    """Queue the import once the transaction commits; forget it if it rolls back."""
    session = db.session()
    session.info.setdefault("imports_to_enqueue", set()).add(job_id)
    if not session.info.get("imports_hooked"):
        event.listen(session, "after_commit", _enqueue_pending)
        event.listen(session, "after_rollback", _forget_pending)
        session.info["imports_hooked"] = True


def _enqueue_pending(session) -> None:
    pending = session.info.pop("imports_to_enqueue", set())
    for job_id in sorted(pending):
        enqueue_import(job_id)


def _forget_pending(session) -> None:
    session.info.pop("imports_to_enqueue", None)


def enqueue_import(job_id: int) -> None:
    enqueue_squonk_task(
        "app.jobs.results.import_results",
        job_id,
        "app.jobs.results.import_attempt_failed",
        timeout=1800,
    )
