"""The e-mail a user asked for when their job ends (app.jobs.notify), received by a real
SMTP server (aiosmtpd) on loopback: exactly one per finished job, whichever way it ends
(callbacks, 32 at once, the reconciler after lost callbacks), none unless asked for; the
worker's log instead when no MAIL_SERVER is configured."""

from __future__ import annotations

import threading
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default as default_policy

import pytest
from aiosmtpd.controller import Controller
from rq.registry import FailedJobRegistry
from sqlalchemy import update

from app.extensions import db, queue
from app.models import JobRequest
from tests.factories import job as make_job
from tests.factories import user_of
from tests.support import (
    callbacks_at_once,
    finished_in_squonk,
    free_port,
    put_callback,
    reconcile,
    run_worker,
    wait_for,
)

ADDRESS = "member@example.org"
JOB_PAGE = "http://127.0.0.1:5000/jobs/{}/"


class Mailbox:
    """What the SMTP server received, as parsed messages."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.lock = threading.Lock()
        self.port = 0
        self.refuse = 0  # how many messages to answer "try again later" first
        self.refused = 0

    async def handle_DATA(self, server, session, envelope) -> str:  # aiosmtpd's handler hook
        with self.lock:
            if self.refused < self.refuse:
                self.refused += 1
                return "451 Requested action aborted: try again later"
            self.messages.append(message_from_bytes(envelope.content, policy=default_policy))
        return "250 Message accepted for delivery"

    def about(self, job_id: int) -> list[EmailMessage]:
        """The messages whose body links to job ``job_id``'s page."""
        with self.lock:
            return [m for m in self.messages if JOB_PAGE.format(job_id) in text_of(m)]

    def wait_about(self, job_id: int, count: int = 1) -> list[EmailMessage]:
        return wait_for(
            lambda: len(self.about(job_id)) >= count and self.about(job_id),
            timeout=30,
            what=f"{count} e-mail(s) about job {job_id}",
        )


def text_of(message: EmailMessage) -> str:
    return message.get_body(preferencelist=("plain",)).get_content()


@pytest.fixture
def mailbox():
    """A real SMTP server on a free loopback port, collecting what it receives."""
    box = Mailbox()
    box.port = free_port()
    controller = Controller(box, hostname="127.0.0.1", port=box.port, server_hostname="localhost")
    controller.start()
    yield box
    controller.stop()


@pytest.fixture
def app_config(mailbox) -> dict:
    return {"MAIL_SERVER": "127.0.0.1", "MAIL_PORT": mailbox.port, "MAIL_FROM": "fjl@example.org"}


@pytest.fixture
def client(app, small_targets):
    return app.test_client()


def opted_in(app, job_id: int, wanted: bool = True) -> int:
    with app.app_context():
        db.session.execute(
            update(JobRequest).where(JobRequest.id == job_id).values(notify_by_email=wanted)
        )
        db.session.commit()
    return job_id


def notified(app, job_id: int):
    with app.app_context():
        return db.session.get(JobRequest, job_id).notified


def queued_notices(app) -> list[str]:
    with app.app_context():
        return [
            j.id for j in queue().get_jobs() if j.func_name == "app.jobs.notify.notify_job_ended"
        ]


@pytest.mark.parametrize(
    "statuses,words",
    [
        (("STARTED", "SUCCESS"), "Finished"),
        (("STARTED", "FAILURE"), "Failed"),
        (("PENDING", "REVOKED"), "Cancelled"),
    ],
    ids=["success", "failure", "revoked"],
)
def test_an_opted_in_job_that_ends_sends_one_email(app, client, mailbox, statuses, words):
    job_id, secret = make_job(app)  # rdkit-conformers: nothing is imported, SUCCESS is its end
    opted_in(app, job_id)
    for status in statuses:
        assert put_callback(client, secret, status).status_code == 204
    run_worker(app)
    [message] = mailbox.wait_about(job_id)
    assert message["Subject"] == f"{words}: job {job_id} (rdkit-conformers) on Mac1"
    assert message["To"] == ADDRESS and message["From"] == "fjl@example.org"
    body = text_of(message)
    assert JOB_PAGE.format(job_id) in body and "computed-sets" not in body
    assert notified(app, job_id) is not None
    # Squonk2 repeats itself: no second e-mail
    put_callback(client, secret, statuses[-1])
    run_worker(app)
    assert len(mailbox.about(job_id)) == 1 and len(mailbox.messages) == 1


def test_a_job_not_opted_into_sends_nothing(app, client, mailbox):
    quiet, quiet_secret = make_job(app)
    asked, asked_secret = make_job(app)
    opted_in(app, asked)
    put_callback(client, quiet_secret, "FAILURE")
    assert queued_notices(app) == []  # nothing was even queued for it
    put_callback(client, asked_secret, "FAILURE")
    run_worker(app)
    mailbox.wait_about(asked)
    assert mailbox.about(quiet) == [] and len(mailbox.messages) == 1
    assert notified(app, quiet) is None


def test_a_failed_import_ends_success_with_one_email(app, client, mailbox, squonk):
    """SUCCESS of a job whose results are imported is not its end (UPLOADING follows in the
    same transaction); the import failing is, and is told once."""
    job_id, secret = make_job(app, job_key="fragmenstein-combine")  # project-x: no output
    opted_in(app, job_id)
    put_callback(client, secret, "SUCCESS")
    with app.app_context():
        assert db.session.get(JobRequest, job_id).job_status == "UPLOADING"
    assert queued_notices(app) == []  # UPLOADING is not an end
    run_worker(app)
    [message] = mailbox.wait_about(job_id)
    assert message["Subject"] == f"Finished: job {job_id} (fragmenstein-combine) on Mac1"
    assert "could not be imported" in text_of(message)
    assert len(mailbox.messages) == 1


@pytest.mark.parametrize("job_key", ["rdkit-conformers", "fragmenstein-combine"])
def test_32_concurrent_callbacks_send_one_email(
    app, small_targets, squonk, live_server, mailbox, job_key
):
    """rdkit-conformers ends at SUCCESS; fragmenstein-combine goes on to UPLOADING (late
    SUCCESS callbacks are refused there) and ends SUCCESS when its import fails (project-x
    holds no output)."""
    job_id, secret = make_job(app, job_key=job_key)
    opted_in(app, job_id)
    sequence = ["PENDING", "STARTED", "RETRY", "STARTED", "SUCCESS", "STARTED", "PENDING"]
    sequence = (sequence + ["SUCCESS"]) * 4
    codes = callbacks_at_once(live_server, secret, sequence)
    assert codes == [204] * 32
    assert len(queued_notices(app)) == (1 if job_key == "rdkit-conformers" else 0)
    run_worker(app)
    [message] = mailbox.wait_about(job_id)
    assert message["Subject"] == f"Finished: job {job_id} ({job_key}) on Mac1"
    run_worker(app)  # whatever else was queued has run: still one
    assert len(mailbox.messages) == 1


def test_concurrent_tasks_claim_the_job_once(app, small_targets, mailbox):
    """However many notify tasks run at once (a second worker, a re-queue), the conditional
    claim lets one of them send."""
    from app.jobs.notify import notify_job_ended

    job_id, secret = make_job(app, status="FAILURE")
    opted_in(app, job_id)
    barrier = threading.Barrier(16)
    outcomes: list[str] = []

    def run() -> None:
        with app.app_context():
            barrier.wait()
            outcomes.append(notify_job_ended(job_id))
            db.session.remove()

    threads = [threading.Thread(target=run) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["already sent"] * 15 + ["sent"]
    mailbox.wait_about(job_id)
    assert len(mailbox.messages) == 1


def test_a_job_finished_by_the_reconciler_after_lost_callbacks_sends_one_email(
    app, small_targets, squonk, login, mailbox
):
    """The member's settings say "e-mail me"; the launch takes that default; Squonk2's
    callbacks are lost; the reconciler finds the job finished, its results are imported
    (UPLOADED), and one e-mail links to the job and to its computed set."""
    member = login("member")
    page = member.post("/settings", data={"notify_by_email": "y", "csrf_token": member.csrf})
    assert page.status_code == 302
    job_id, member = finished_in_squonk(app, squonk, login)
    with app.app_context():
        assert db.session.get(JobRequest, job_id).notify_by_email is True
    assert mailbox.messages == []
    reconcile(app)
    run_worker(app)
    job = member.get(f"/api/job_request/{job_id}/").json
    assert job["job_status"] == "UPLOADED", job["message"]
    [message] = mailbox.wait_about(job_id)
    assert message["Subject"] == f"Results ready: job {job_id} (fragmenstein-combine) on Mac1"
    assert f"http://127.0.0.1:5000/computed-sets/{job['computed_set']}/" in text_of(message)
    reconcile(app)  # another pass has nothing more to say
    run_worker(app)
    assert len(mailbox.messages) == 1


def test_without_mail_server_the_email_is_logged_not_sent(app, client, mailbox, caplog):
    app.config["MAIL_SERVER"] = None  # the embedded default
    job_id, secret = make_job(app)
    opted_in(app, job_id)
    put_callback(client, secret, "FAILURE")
    run_worker(app)
    line = wait_for(
        lambda: next(
            (r.getMessage() for r in caplog.records if "no MAIL_SERVER" in r.getMessage()), None
        ),
        timeout=10,
        what="the logged e-mail",
    )
    assert ADDRESS in line and f"Failed: job {job_id} (rdkit-conformers) on Mac1" in line
    assert JOB_PAGE.format(job_id) in line
    assert secret not in caplog.text
    assert mailbox.messages == [] and notified(app, job_id) is not None


def test_a_user_without_an_address_is_logged_not_emailed(app, client, mailbox, caplog):
    with app.app_context():
        user_of("member").email = None
        db.session.commit()
    job_id, secret = make_job(app)
    opted_in(app, job_id)
    put_callback(client, secret, "FAILURE")
    run_worker(app)
    assert "no e-mail address" in caplog.text
    assert mailbox.messages == [] and notified(app, job_id) is None
    with app.app_context():  # and nothing failed
        assert FailedJobRegistry(queue=queue()).count == 0


def test_a_refused_email_is_retried_and_sent_once(app, client, mailbox):
    """The mail server says "try again later": the claim is given back, the task fails and
    its retry sends the one e-mail."""
    app.config["SQUONK2_RETRY_INTERVALS"] = [0]
    mailbox.refuse = 1
    job_id, secret = make_job(app)
    opted_in(app, job_id)
    put_callback(client, secret, "FAILURE")
    run_worker(app)
    mailbox.wait_about(job_id)
    assert mailbox.refused == 1 and len(mailbox.messages) == 1
    assert notified(app, job_id) is not None


def test_the_embedded_default_writes_the_email_to_the_worker_log(
    app, client, mailbox, worker_process, tmp_path, monkeypatch
):
    """``python worker.py`` with no MAIL_SERVER (nothing configured): the e-mail's subject,
    recipient and link are in its log, the callback secret is not."""
    monkeypatch.delenv("MAIL_SERVER", raising=False)
    job_id, secret = make_job(app)
    opted_in(app, job_id)
    put_callback(client, secret, "REVOKED")
    worker_process()
    log_file = tmp_path / "worker-0.log"

    def logged_email() -> str | None:
        text = log_file.read_text() if log_file.exists() else ""
        return next((line for line in text.splitlines() if "no MAIL_SERVER" in line), None)

    line = wait_for(logged_email, timeout=60, what="the worker to log the e-mail")
    assert f"Cancelled: job {job_id} (rdkit-conformers) on Mac1" in line
    assert ADDRESS in line and JOB_PAGE.format(job_id) in line
    assert secret not in log_file.read_text()
    assert mailbox.messages == []
