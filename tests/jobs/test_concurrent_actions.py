"""Cancels and describes that meet concurrent changes are retried on fresh state: no 500,
and the history names the user as the cause of a cancel even when Squonk2's REVOKED
callback commits first."""

from __future__ import annotations

import re
import threading

import requests
from sqlalchemy import select

from app.extensions import db
from app.models import JobEvent, JobRequest
from tests.conftest import PASSWORDS
from tests.factories import job as make_job
from tests.support import wait_for


def browser_session(base: str, username: str) -> tuple[requests.Session, str]:
    """A logged-in requests session (cookie + CSRF token), as a browser tab has."""
    session = requests.Session()
    page = session.get(f"{base}/login").text
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)
    answer = session.post(
        f"{base}/login",
        data={"csrf_token": token, "username": username, "password": PASSWORDS[username]},
    )
    assert answer.status_code == 200 and "/login" not in answer.url
    home = session.get(f"{base}/targets/").text
    token = re.search(r'"X-CSRFToken": "([^"]+)"', home).group(1)
    return session, token


def test_50_concurrent_cancels_describes_and_a_revoked_callback(
    app, small_targets, squonk, live_server
):
    job_id, secret = make_job(app, status="STARTED")
    tabs = [browser_session(live_server, "member") for _ in range(4)]
    barrier = threading.Barrier(51)
    codes: list[tuple[str, int]] = []

    def act(number: int) -> None:
        session, token = tabs[number % len(tabs)]
        barrier.wait()
        if number % 2:
            answer = session.delete(
                f"{live_server}/api/job_request/{job_id}/", headers={"X-CSRFToken": token}
            )
            codes.append(("cancel", answer.status_code))
        else:
            answer = session.post(
                f"{live_server}/jobs/{job_id}/describe",
                data={"csrf_token": token, "summary": f"try {number}", "description": ""},
                allow_redirects=False,
            )
            codes.append(("describe", answer.status_code))

    def cancel_requested() -> bool:
        with app.app_context():
            found = db.session.scalar(
                select(JobEvent.id).where(
                    JobEvent.job_request_id == job_id,
                    JobEvent.message == "cancel requested by member",
                )
            )
            db.session.remove()
            return found is not None

    def callback() -> None:
        # Squonk2 calls back REVOKED once it was asked to delete the instance, racing the
        # cancels that are still on their way to recording REVOKED themselves
        barrier.wait()
        wait_for(cancel_requested, timeout=30, what="a cancel to be requested")
        answer = requests.put(
            f"{live_server}/api/job_callback/{secret}/", json={"job_status": "REVOKED"}
        )
        codes.append(("callback", answer.status_code))

    threads = [threading.Thread(target=act, args=(n,)) for n in range(50)]
    threads.append(threading.Thread(target=callback))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert not [c for c in codes if c[1] >= 500], codes
    assert {code for kind, code in codes if kind == "describe"} == {302}
    # each cancel either did it or found it already finished (after another one did)
    assert {code for kind, code in codes if kind == "cancel"} <= {200, 409}
    assert ("callback", 204) in codes
    with app.app_context():
        job = db.session.get(JobRequest, job_id)
        assert job.job_status == "REVOKED" and job.message == "cancelled by member"
        assert job.user_summary.startswith("try ")
        events = db.session.scalars(
            select(JobEvent).where(JobEvent.job_request_id == job_id).order_by(JobEvent.id)
        ).all()
        requested = [e for e in events if e.message == "cancel requested by member"]
        assert len(requested) == 1 and requested[0].source == "user"
        revoked = [e for e in events if e.to_status == "REVOKED" and e.from_status != "REVOKED"]
        assert len(revoked) == 1  # one transition, whoever committed it
        assert requested[0].id < revoked[0].id or revoked[0].source == "user"


def test_cancelling_a_finished_job_says_so_with_its_status(app, small_targets, squonk, login):
    job_id, _ = make_job(app, status="SUCCESS")
    answer = login("member").delete(f"/api/job_request/{job_id}/")
    assert answer.status_code == 409
    assert answer.json == {
        "error": "The job has already finished (SUCCESS).",
        "job_status": "SUCCESS",
    }
