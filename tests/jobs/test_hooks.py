"""After-commit hooks: run once per committed status change, never for a rolled-back or
retried attempt (app.jobs.states)."""

from __future__ import annotations

import threading
from collections import Counter

import pytest
from sqlalchemy import select

from app.extensions import db, queue
from app.jobs import states
from app.models import JobEvent, JobRequest
from tests.factories import job as make_job
from tests.support import callbacks_at_once


@pytest.fixture
def recorded(app):
    """A test hook registered like the product's own: it records every change it sees."""
    calls: list[states.Change] = []
    lock = threading.Lock()

    def record(change: states.Change) -> None:
        with lock:
            calls.append(change)

    states.after_commit(record, app)
    return calls


def committed_transitions(app, job_id: int) -> list[tuple[str, str, str]]:
    with app.app_context():
        events = db.session.scalars(
            select(JobEvent).where(JobEvent.job_request_id == job_id).order_by(JobEvent.id)
        ).all()
        return [
            (e.from_status, e.to_status, e.source) for e in events if e.from_status != e.to_status
        ]


SEQUENCE = ["PENDING", "STARTED", "RETRY", "STARTED", "SUCCESS", "STARTED", "PENDING", "SUCCESS"]


@pytest.mark.parametrize("job_key", ["rdkit-conformers", "fragmenstein-combine"])
def test_32_concurrent_callbacks_fire_each_hook_once_per_committed_transition(
    app, small_targets, live_server, recorded, job_key
):
    job_id, secret = make_job(app, job_key=job_key)
    codes = callbacks_at_once(live_server, secret, SEQUENCE * 4)
    assert codes == [204] * 32

    committed = committed_transitions(app, job_id)
    seen = [(c.old, c.new, c.source) for c in recorded if c.job_id == job_id]
    assert committed, "no transition was committed"
    # exactly once per committed transition: none lost, none doubled, none from a retry
    assert Counter(seen) == Counter(committed) and len(seen) == len(committed)
    with app.app_context():
        status = db.session.get(JobRequest, job_id).job_status
        imports = [j for j in queue().get_jobs() if j.func_name == "app.csets.task.import_results"]
    if job_key == "fragmenstein-combine":  # its results are imported: SUCCESS -> UPLOADING
        assert status == "UPLOADING" and committed[-1] == ("SUCCESS", "UPLOADING", "system")
        assert len(imports) == 1  # repeated SUCCESS callbacks queue the import once
    else:
        assert status == "SUCCESS" and imports == []


def test_a_rolled_back_change_fires_no_hook(app, small_targets, recorded):
    job_id, _ = make_job(app)
    with app.app_context():
        job = db.session.get(JobRequest, job_id)
        assert states.report(job, "STARTED", "callback") == "applied"
        db.session.rollback()
        assert recorded == []
        job = db.session.get(JobRequest, job_id)
        assert job.job_status == "PENDING"
        assert states.report(job, "STARTED", "callback") == "applied"
        db.session.commit()
    assert [(c.old, c.new) for c in recorded] == [("PENDING", "STARTED")]


def test_a_failing_hook_does_not_undo_the_change_or_stop_the_others(app, small_targets, recorded):
    def broken(change: states.Change) -> None:
        raise RuntimeError("hook failed")

    app.extensions["job_after_commit"].insert(0, broken)
    job_id, _ = make_job(app)
    with app.app_context():
        job = db.session.get(JobRequest, job_id)
        states.report(job, "STARTED", "callback")
        db.session.commit()
        assert db.session.get(JobRequest, job_id).job_status == "STARTED"
    assert [(c.old, c.new) for c in recorded] == [("PENDING", "STARTED")]
