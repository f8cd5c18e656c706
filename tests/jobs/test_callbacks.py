"""Squonk2 callbacks: the expected sequence, repeats, late messages, bad bodies, unknown
secrets, rate limits, and 32 at once ending in one consistent state."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from app.extensions import db
from app.jobs import states
from app.models import JobEvent
from tests.factories import job as make_job
from tests.support import callbacks_at_once
from tests.support import job_history as history
from tests.support import put_callback as put


@pytest.fixture
def client(app, small_targets):
    return app.test_client()


def test_the_expected_sequence_is_recorded_with_its_times(app, client):
    job_id, secret = make_job(app)
    assert (
        put(client, secret, "STARTED", state_transition_time="2026-11-21T10:00:00Z").status_code
        == 204
    )
    assert (
        put(client, secret, "SUCCESS", state_transition_time="2026-11-21T10:05:00Z").status_code
        == 204
    )
    status, steps = history(app, job_id)
    assert status == "SUCCESS"
    assert steps == [("PENDING", "STARTED", "callback"), ("STARTED", "SUCCESS", "callback")]
    with app.app_context():
        times = [
            e.time.strftime("%H:%M")
            for e in db.session.scalars(
                select(JobEvent).where(JobEvent.job_request_id == job_id).order_by(JobEvent.id)
            )
        ]
        assert times == ["10:00", "10:05"]


def test_a_repeat_is_harmless(app, client):
    job_id, secret = make_job(app)
    for _ in range(3):
        assert put(client, secret, "STARTED").status_code == 204
    assert history(app, job_id) == ("STARTED", [("PENDING", "STARTED", "callback")])


def test_a_late_message_never_moves_a_job_backwards(app, client):
    job_id, secret = make_job(app)
    put(client, secret, "SUCCESS")
    assert put(client, secret, "STARTED").status_code == 204
    assert put(client, secret, "PENDING").status_code == 204
    assert history(app, job_id) == ("SUCCESS", [("PENDING", "SUCCESS", "callback")])


def test_success_without_started_and_failure_paths(app, client):
    job_id, secret = make_job(app)
    put(client, secret, "SUCCESS")
    assert history(app, job_id)[0] == "SUCCESS"
    failed, secret = make_job(app)
    put(client, secret, "STARTED")
    put(client, secret, "RETRY")
    put(client, secret, "STARTED")
    put(client, secret, "FAILURE")
    assert history(app, failed) == (
        "FAILURE",
        [
            ("PENDING", "STARTED", "callback"),
            ("STARTED", "RETRY", "callback"),
            ("RETRY", "STARTED", "callback"),
            ("STARTED", "FAILURE", "callback"),
        ],
    )


@pytest.mark.parametrize(
    "body,content_type",
    [
        (b"not json", "application/json"),
        (b"[1, 2]", "application/json"),
        (json.dumps({"job_status": "FINISHED"}).encode(), "application/json"),
        (json.dumps({"job_status": 7}).encode(), "application/json"),
        (json.dumps({"state": "SUCCESS"}).encode(), "application/json"),
        (json.dumps({"job_status": "SUCCESS", "instance_id": 12}).encode(), "application/json"),
        (json.dumps({"job_status": "SUCCESS", "pad": "x" * 5000}).encode(), "application/json"),
        (b"", "application/json"),
    ],
    ids=[
        "not-json",
        "array",
        "unknown-status",
        "status-type",
        "missing-status",
        "instance-type",
        "oversized",
        "empty",
    ],
)
def test_bad_bodies_change_nothing(app, client, body, content_type):
    job_id, secret = make_job(app)
    response = client.put(f"/api/job_callback/{secret}/", data=body, content_type=content_type)
    assert response.status_code == 400 and response.json["error"]
    assert history(app, job_id) == ("PENDING", [])


def test_unknown_secrets_get_the_same_404_and_change_nothing(app, client):
    job_id, secret = make_job(app)
    answers = {
        (r.status_code, r.get_data())
        for r in (
            put(client, candidate, "SUCCESS")
            for candidate in (
                "x",
                secret[:-1] + ("0" if secret[-1] != "0" else "1"),
                "A" * 64,
                "é%20",
                secret * 2,
            )
        )
    }
    assert answers == {(404, b'{"error":"Not found"}\n')}
    assert history(app, job_id) == ("PENDING", [])


def test_callback_for_another_instance_is_refused(app, client):
    job_id, secret = make_job(app)
    response = put(client, secret, "SUCCESS", instance_id="instance-someone-else")
    assert response.status_code == 400
    assert history(app, job_id) == ("PENDING", [])


def test_32_concurrent_callbacks_end_in_one_consistent_state(app, small_targets, live_server):
    job_id, secret = make_job(app)
    sequence = [
        "PENDING",
        "STARTED",
        "RETRY",
        "STARTED",
        "SUCCESS",
        "STARTED",
        "PENDING",
        "SUCCESS",
    ] * 4
    codes = callbacks_at_once(live_server, secret, sequence, timeout=30)
    assert codes == [204] * 32
    status, steps = history(app, job_id)
    assert status == "SUCCESS"
    # every recorded step is allowed, and they chain: nothing lost, nothing doubled
    current = "PENDING"
    for before, after, source in steps:
        assert before == current and states.can_move(before, after) and source == "callback"
        current = after
    assert current == "SUCCESS"


def test_a_callback_that_beats_the_launch_record_keeps_the_history_in_order(app, client):
    job_id, secret = make_job(app, status="OPEN")
    put(client, secret, "STARTED")
    assert history(app, job_id) == (
        "STARTED",
        [("OPEN", "PENDING", "callback"), ("PENDING", "STARTED", "callback")],
    )
