"""The state machine says who may make each transition (app.jobs.states.ALLOWED)."""

from __future__ import annotations

import pytest

from app.extensions import db
from app.jobs import states
from app.models import JobRequest
from tests.factories import job as make_job


def test_every_transition_has_someone_allowed_to_make_it_and_nothing_else_is_allowed():
    edges = {(old, new) for old, targets in states.TRANSITIONS.items() for new in targets}
    allowed = set().union(*states.ALLOWED.values())
    assert allowed == edges
    assert set(states.ALLOWED) == set(states.SOURCES)


@pytest.mark.parametrize("source", ["callback", "poll"])
@pytest.mark.parametrize("current", ["SUCCESS", "UPLOADING", "UPLOADED", "FAILURE", "REVOKED"])
def test_squonk2_cannot_move_a_job_it_has_finished_with(app, small_targets, source, current):
    job_id, _ = make_job(app, status=current)
    with app.app_context():
        job = db.session.get(JobRequest, job_id)
        for new in states.ALL:
            if new != current:
                assert states.report(job, new, source) == "refused", (current, new)
        assert states.report(job, current, source) == "repeat"
        db.session.commit()
        assert db.session.get(JobRequest, job_id).job_status == current
        assert [e for e in db.session.get(JobRequest, job_id).events] == []


@pytest.mark.parametrize(
    ("current", "new", "source", "outcome"),
    [
        ("STARTED", "REVOKED", "user", "applied"),  # cancel
        ("STARTED", "SUCCESS", "user", "refused"),  # a person cannot say a job succeeded
        ("SUCCESS", "UPLOADING", "user", "applied"),  # retry an import
        ("UPLOADED", "SUCCESS", "user", "applied"),  # its set was deleted
        ("UPLOADING", "UPLOADED", "user", "refused"),
        ("UPLOADING", "UPLOADED", "system", "applied"),
        ("UPLOADING", "SUCCESS", "system", "applied"),  # the import failed
        ("OPEN", "PENDING", "system", "applied"),
        ("OPEN", "STARTED", "system", "refused"),  # only Squonk2 knows a job started
        ("UPLOADED", "SUCCESS", "system", "refused"),
        ("PENDING", "STARTED", "callback", "applied"),
    ],
)
def test_who_may_do_what(app, small_targets, current, new, source, outcome):
    job_id, _ = make_job(app, status=current)
    with app.app_context():
        job = db.session.get(JobRequest, job_id)
        assert states.report(job, new, source) == outcome
        db.session.commit()
        job = db.session.get(JobRequest, job_id)
        assert job.job_status == (new if outcome == "applied" else current)
