"""What the job is doing: a Squonk2 task's events stored with the job's history exactly
once (also when two processes fetch at the same time), shown by the job page's status
poll, and the words scientists use for each status and for who did what.

The tasks are real: im-test ``sleep`` instances in the local Squonk2, over HTTP."""

from __future__ import annotations

import threading
import uuid

import pytest

from app.extensions import db
from app.jobs import events, states
from app.models import JobRequest
from app.models.base import utcnow
from app.models.jobs import JobEvent
from app.squonk.current import forget, squonk
from tests.factories import job as make_job
from tests.support import free_port, put_callback, reconcile, run_worker, wait_for

SLEEP = {"collection": "im-test", "job": "sleep", "version": "1.0.0"}
POLL = {"HX-Request": "true"}


def sleeping_job(app, seconds: int, status: str = "STARTED") -> tuple[int, str, str]:
    """A job (as a launch leaves it) whose Squonk2 task is a real im-test sleep that
    callbacks nowhere; returns ``(job id, callback secret, task id)``."""
    job_id, secret = make_job(app, status=status)
    with app.app_context():
        client = squonk()
        project = client.create_project(f"events-{uuid.uuid4().hex[:8]}")
        spec = {**SLEEP, "variables": {"seconds": seconds, "child": False}}
        started = client.start_job(project, f"sleeper {job_id}", spec, None)
        row = db.session.get(JobRequest, job_id)
        row.squonk_project = project
        row.squonk_instance_id = started["instance_id"]
        row.squonk_task_id = started["task_id"]
        db.session.commit()
    return job_id, secret, started["task_id"]


def squonk_messages(app, task_id: str) -> list[str]:
    """The task's events as Squonk2 lists them."""
    with app.app_context():
        return [e["message"] for e in squonk().get_task(task_id)["events"]]


def stored(app, job_id: int) -> list[tuple[int, str]]:
    """The job's stored Squonk2 events as ``(ordinal, message)``, in the order stored."""
    with app.app_context():
        rows = db.session.scalars(
            db.select(JobEvent)
            .where(JobEvent.job_request_id == job_id, JobEvent.source == "squonk2")
            .order_by(JobEvent.id)
        ).all()
        result = [(row.payload["ordinal"], row.message) for row in rows]
        db.session.remove()
        return result


def fetch(app, job_id: int) -> int:
    with app.app_context():
        count = events.fetch_events(db.session.get(JobRequest, job_id))
        db.session.remove()
        return count


def sleeping(app, task_id: str) -> list[str]:
    """Squonk2's events once the sleep has started (its ``pid=`` event is in)."""
    return wait_for(
        lambda: (m := squonk_messages(app, task_id)) and any(x.startswith("pid=") for x in m) and m,
        timeout=30,
        what="the sleep to start",
    )


def stop(app, job_id: int) -> None:
    with app.app_context():
        squonk().delete_instance(db.session.get(JobRequest, job_id).squonk_instance_id)


def test_events_are_stored_once_and_only_new_ones_are_asked_for(app, small_targets, squonk):
    job_id, _, task_id = sleeping_job(app, 600)
    first = sleeping(app, task_id)
    assert fetch(app, job_id) == len(first)
    assert fetch(app, job_id) == 0  # nothing new: nothing stored again
    stop(app, job_id)
    everything = wait_for(
        lambda: (m := squonk_messages(app, task_id)) and "Job revoked" in m[-1] and m,
        timeout=30,
        what="Squonk2 to record the revocation",
    )
    assert fetch(app, job_id) == len(everything) - len(first)
    rows = stored(app, job_id)
    assert [message for _, message in rows] == everything
    assert [ordinal for ordinal, _ in rows] == list(range(1, len(everything) + 1))
    with app.app_context():
        assert db.session.get(JobRequest, job_id).squonk_event_ordinal == len(everything)


def test_two_fetches_at_once_store_each_event_once(app, small_targets, squonk):
    """Both processes ask Squonk2 before either stores (a barrier between the two steps),
    then both store on their own database connections: one stores, the other finds the
    ordinal moved and stores nothing."""
    job_id, _, task_id = sleeping_job(app, 600)
    listed = sleeping(app, task_id)
    barrier = threading.Barrier(2, timeout=30)
    results: list[int] = []
    errors: list[BaseException] = []

    def one_process() -> None:
        try:
            with app.app_context():
                job = db.session.get(JobRequest, job_id)
                prior, answer = events.ask_squonk(job)
                barrier.wait()
                results.append(events.store_events(job, prior, answer))
                db.session.commit()
                db.session.remove()
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
            barrier.abort()

    threads = [threading.Thread(target=one_process) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors, errors
    assert sorted(results) == [0, len(listed)]
    assert [message for _, message in stored(app, job_id)] == listed
    stop(app, job_id)


def test_many_polls_at_once_store_each_event_once(app, small_targets, squonk):
    job_id, _, task_id = sleeping_job(app, 600)
    stop_after = sleeping(app, task_id)
    stop(app, job_id)
    everything = wait_for(
        lambda: (m := squonk_messages(app, task_id)) and "Job revoked" in m[-1] and m, timeout=30
    )
    assert len(everything) > len(stop_after)
    start = threading.Barrier(8, timeout=30)
    counts: list[int] = []

    def poller() -> None:
        start.wait()
        for _ in range(3):
            counts.append(fetch(app, job_id))

    threads = [threading.Thread(target=poller) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sum(counts) == len(everything)
    assert [message for _, message in stored(app, job_id)] == everything


def test_the_status_poll_shows_what_the_job_is_doing(app, small_targets, squonk, login):
    app.config["JOB_EVENTS_POLL_SECONDS"] = 3600  # one fetch, then none for an hour
    job_id, _, task_id = sleeping_job(app, 600)
    first = sleeping(app, task_id)
    member = login("member")
    page = member.get(f"/jobs/{job_id}/")
    assert "What the job is doing" in page.text
    poll = member.get(f"/jobs/{job_id}/status", headers=POLL)
    assert poll.status_code == 200 and poll.headers["Cache-Control"] == "no-store"
    assert "What the job is doing" in poll.text
    assert first[-1] in poll.text  # pid=...
    assert poll.text.count('class="squonk-event level-') == len(first)

    stop(app, job_id)
    wait_for(lambda: "Job revoked" in squonk_messages(app, task_id)[-1], timeout=30)
    throttled = member.get(f"/jobs/{job_id}/status", headers=POLL)
    assert "Job revoked" not in throttled.text  # asked less than an hour ago
    app.config["JOB_EVENTS_POLL_SECONDS"] = 0
    later = member.get(f"/jobs/{job_id}/status", headers=POLL)
    assert "Job revoked: the instance was deleted" in later.text
    assert len(stored(app, job_id)) == len(squonk_messages(app, task_id))


def test_the_poll_that_finds_the_job_final_fetches_its_last_events(
    app, small_targets, squonk, login
):
    app.config["JOB_EVENTS_POLL_SECONDS"] = 3600
    job_id, _, task_id = sleeping_job(app, 600)
    sleeping(app, task_id)
    member = login("member")
    member.get(f"/jobs/{job_id}/status", headers=POLL)  # the throttle is now set for an hour
    stop(app, job_id)
    wait_for(lambda: "Job revoked" in squonk_messages(app, task_id)[-1], timeout=30)
    with app.app_context():
        job = db.session.get(JobRequest, job_id)
        states.report(job, states.REVOKED, "user", message="cancelled by member")
        db.session.commit()
    final = member.get(f"/jobs/{job_id}/status", headers=POLL)
    assert final.status_code == 286
    assert "Job revoked: the instance was deleted" in final.text


def test_squonk_unreachable_means_no_events_and_no_error(app, small_targets, login):
    app.config.update(SQUONK2_DMAPI_URL=f"http://127.0.0.1:{free_port()}", SQUONK2_TOKEN="t")
    app.config["JOB_EVENTS_POLL_SECONDS"] = 0
    with app.app_context():
        forget()
    job_id, _ = make_job(app, status="STARTED")
    with app.app_context():
        db.session.get(JobRequest, job_id).squonk_task_id = "task-gone"
        db.session.commit()
    member = login("member")
    poll = member.get(f"/jobs/{job_id}/status", headers=POLL)
    assert poll.status_code == 200
    assert "Nothing reported by Squonk2 yet." in poll.text
    assert member.get(f"/jobs/{job_id}/").status_code == 200
    assert stored(app, job_id) == []


def test_the_reconciler_stores_the_events_of_running_jobs(app, small_targets, squonk):
    app.config["RECONCILE_QUIET_SECONDS"] = 3600
    job_id, _, task_id = sleeping_job(app, 600)
    with app.app_context():
        db.session.get(JobRequest, job_id).last_heard = utcnow()  # not quiet: callbacks flow
        db.session.commit()
    listed = sleeping(app, task_id)
    assert reconcile(app).get("events") == len(listed)
    assert [message for _, message in stored(app, job_id)] == listed
    assert "events" not in reconcile(app)  # nothing new
    stop(app, job_id)


def test_a_quiet_job_reconciled_to_its_end_has_all_its_events(app, small_targets, squonk):
    app.config["RECONCILE_QUIET_SECONDS"] = 0
    job_id, _, task_id = sleeping_job(app, 0)
    wait_for(lambda: "Job finished (exit code 0)" in squonk_messages(app, task_id), timeout=30)
    counts = reconcile(app)
    assert counts["applied"] == 1 and counts["events"] == len(squonk_messages(app, task_id))
    with app.app_context():
        job = db.session.get(JobRequest, job_id)
        assert job.job_status in ("SUCCESS", "UPLOADING")  # its results are imported next
        changes = [e for e in job.events if e.source == "poll"]
        # Squonk2's events came before the change they led to
        assert max(e.id for e in job.events if e.source == "squonk2") < changes[-1].id
    assert [message for _, message in stored(app, job_id)] == squonk_messages(app, task_id)


def test_a_finished_job_gets_its_last_events_once_more(app, small_targets, squonk, login):
    job_id, secret, task_id = sleeping_job(app, 0)
    wait_for(lambda: "Job finished (exit code 0)" in squonk_messages(app, task_id), timeout=30)
    assert put_callback(login(None), secret, "SUCCESS").status_code == 204
    run_worker(app)  # the fetch queued when the job reached SUCCESS
    assert [message for _, message in stored(app, job_id)] == squonk_messages(app, task_id)
    run_worker(app)
    assert len(stored(app, job_id)) == len(squonk_messages(app, task_id))


# --- the words ------------------------------------------------------------------------

WORDS = [
    ("OPEN", "Queued"),
    ("PENDING", "Queued"),
    ("STARTED", "Running"),
    ("RETRY", "Running"),
    ("SUCCESS", "Finished"),
    ("UPLOADING", "Importing results"),
    ("UPLOADED", "Results ready"),
    ("FAILURE", "Failed"),
    ("REVOKED", "Cancelled"),
]


@pytest.mark.parametrize(("status", "word"), WORDS)
def test_each_status_has_its_word_with_the_fragalysis_name_beside_it(
    app, small_targets, login, status, word
):
    job_id, _ = make_job(app, status=status)
    member = login("member")
    badge = f'data-status="{status}">{word} <span class="status-name">({status})</span>'
    assert badge in member.get(f"/jobs/{job_id}/").text
    assert badge in member.get(f"/jobs/{job_id}/status", headers=POLL).text
    assert badge in member.get("/jobs/").text
    assert badge in member.get("/targets/Mac1/jobs/").text
    assert f">{word} ({status})</option>" in member.get("/jobs/").text


def test_the_history_says_who_did_what_in_words(app, small_targets, login):
    job_id, secret = make_job(app, status="OPEN")
    with app.app_context():
        job = db.session.get(JobRequest, job_id)
        states.note(job, "user", "requested by member")
        states.report(job, states.PENDING, "system", message="started in Squonk2")
        db.session.commit()
    assert put_callback(login(None), secret, "STARTED").status_code == 204
    with app.app_context():
        job = db.session.get(JobRequest, job_id)
        states.note(job, "user", "cancel requested by admin")
        db.session.commit()

    def sources(username: str) -> list[str]:
        page = login(username).get(f"/jobs/{job_id}/").text
        return [
            line.split(">", 1)[1].split("<", 1)[0]
            for line in page.split('class="muted source"')[1:]
        ]

    assert sources("member") == ["you", "the launcher", "Squonk2", "by admin"]
    assert sources("colleague") == ["by member", "the launcher", "Squonk2", "by admin"]
    assert sources("admin") == ["by member", "the launcher", "Squonk2", "you"]
    page = login("member").get(f"/jobs/{job_id}/").text
    assert 'data-event="STARTED">Running <span class="status-name">(STARTED)</span>' in page
    # the message does not repeat who did it
    assert 'data-source="user">you</span> requested</li>' in page
    assert 'data-source="user">by admin</span> cancel requested</li>' in page
