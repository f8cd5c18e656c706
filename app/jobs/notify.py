"""The e-mail a user asked for ("E-mail me when it ends") when their job reaches its end.

A job's end is FAILURE, REVOKED, UPLOADED, or SUCCESS that stays SUCCESS (nothing to
import, or the import failed); a SUCCESS the rules move on to UPLOADING is not an end yet.

- :func:`note_job_end` (a rule of ``app.jobs.states``) sees the job in the transaction of
  the change, so it can tell whether the change is an end and whether the user opted in;
- :func:`queue_notice` (an after-commit hook) then queues :func:`notify_job_ended`, once per
  job at a time (RQ job id ``<queue>-notify-<job id>``);
- the task claims the job with a conditional UPDATE (``notified`` from NULL to now): only
  one claim succeeds however many tasks run, so the user gets exactly one e-mail.

Without ``MAIL_SERVER`` (the embedded default) the e-mail is written to the worker's log
instead of sent: its subject, recipient and links (never the callback secret).
"""

from __future__ import annotations

import logging
from datetime import datetime
from urllib.parse import quote

from flask import current_app
from flask_mailman import EmailMessage
from rq.job import Job
from sqlalchemy import event, update
from sqlalchemy.orm import Session

from app.extensions import db, mail
from app.jobs import states
from app.jobs.states import Change
from app.models import JobRequest
from app.models.base import utcnow
from app.queueing import enqueue

log = logging.getLogger(__name__)

NOTIFY_TASK = "app.jobs.notify.notify_job_ended"
# The end states, in the words of the job page
ENDS = {
    states.SUCCESS: "Finished",
    states.FAILURE: "Failed",
    states.REVOKED: "Cancelled",
    states.UPLOADED: "Results ready",
}
_PENDING = "job_end_notices"  # session.info: changes whose commit queues an e-mail


def is_end(job: JobRequest, change: Change) -> bool:
    """Is ``change`` the job's end? Rules run in order, and the results-import rule (which
    runs before this one) has already moved a SUCCESS on to UPLOADING when it will."""
    return change.new in ENDS and job.job_status == change.new


def note_job_end(job: JobRequest, change: Change) -> None:
    """Rule: a job that ends and whose user asked for an e-mail gets one after the commit."""
    if not (job.notify_by_email and job.notified is None and is_end(job, change)):
        return
    session = db.session()
    if not session.info.get("job_end_notices_watched"):
        # a rolled-back (or retried) transaction queues nothing
        event.listen(session, "after_rollback", _forget)
        session.info["job_end_notices_watched"] = True
    session.info.setdefault(_PENDING, set()).add(change)


def _forget(session: Session) -> None:
    session.info.pop(_PENDING, None)


def queue_notice(change: Change) -> None:
    """After commit: queue the e-mail of a change :func:`note_job_end` picked."""
    pending = db.session().info.get(_PENDING)
    if pending and change in pending:
        pending.discard(change)
        enqueue_notice(change.job_id)


def enqueue_notice(job_id: int) -> Job:
    return enqueue(
        NOTIFY_TASK, "notify", job_id, on_failure="app.jobs.notify.notice_failed", timeout=120
    )


# --- the task ----------------------------------------------------------------------------


def job_links(job: JobRequest) -> dict[str, str]:
    """Absolute links (EXTERNAL_URL) to the job's page and to its computed set, if any."""
    base = current_app.config["EXTERNAL_URL"].rstrip("/")
    links = {"job": f"{base}/jobs/{job.id}/"}
    if job.computed_set is not None:
        links["computed_set"] = f"{base}/computed-sets/{quote(job.computed_set.name)}/"
    return links


def subject_of(job: JobRequest) -> str:
    return f"{ENDS[job.job_status]}: job {job.id} ({job.job_key}) on {job.target.title}"


def body_of(job: JobRequest, links: dict[str, str]) -> str:
    user = job.user.username if job.user else "there"
    lines = [
        f"Hello {user},",
        "",
        f"your job {job.id} ({job.job_key}) on target {job.target.title} has ended: "
        f"{ENDS[job.job_status]} ({job.job_status}).",
    ]
    if job.user_summary:
        lines.append(f"Summary: {job.user_summary}")
    if job.message:
        lines.append(job.message)
    lines += ["", f"The job: {links['job']}"]
    if "computed_set" in links:
        lines.append(f"Its results (computed set {job.computed_set.name}): {links['computed_set']}")
    lines += [
        "",
        "You asked for this e-mail when you launched the job; your settings page sets the "
        "default for new jobs.",
    ]
    return "\n".join(lines) + "\n"


def _claim(job_id: int) -> datetime | None:
    """Mark the job notified if nobody has: the stamp set, or None when another run (or an
    earlier one) already claimed it or the job no longer wants or warrants an e-mail."""
    stamp = utcnow()
    claimed = db.session.execute(
        update(JobRequest)
        .where(
            JobRequest.id == job_id,
            JobRequest.notified.is_(None),
            JobRequest.notify_by_email.is_(True),
            JobRequest.job_status.in_(tuple(ENDS)),
        )
        .values(notified=stamp)
        .execution_options(synchronize_session=False)
    ).rowcount
    db.session.commit()
    return stamp if claimed == 1 else None


def _release(job_id: int, stamp: datetime) -> None:
    """Give a claim back when the e-mail could not be sent, so the retry may send it."""
    db.session.rollback()
    db.session.execute(
        update(JobRequest)
        .where(JobRequest.id == job_id, JobRequest.notified == stamp)
        .values(notified=None)
        .execution_options(synchronize_session=False)
    )
    db.session.commit()


def send_email(subject: str, body: str, recipient: str) -> None:
    """Hand one e-mail to the SMTP server the MAIL_* settings name."""
    config = current_app.config
    connection = mail.get_connection(
        backend="smtp",
        host=config["MAIL_SERVER"],
        port=config["MAIL_PORT"],
        username=config["MAIL_USERNAME"] or "",
        password=config["MAIL_PASSWORD"] or "",
        use_tls=config["MAIL_USE_TLS"],
        use_ssl=config["MAIL_USE_SSL"],
        timeout=30,
    )
    EmailMessage(subject, body, config["MAIL_FROM"], [recipient], connection=connection).send()


def notify_job_ended(job_id: int) -> str:
    """Send the job's one e-mail (or log it, without MAIL_SERVER). Returns what happened."""
    job = db.session.get(JobRequest, job_id)
    if job is None or not job.notify_by_email:
        return "not asked"
    if job.job_status not in ENDS:  # moved on (an import retried): its end queues again
        return "not ended"
    recipient = job.user.email if job.user else None
    if not recipient:
        log.info(
            "job %s ended (%s): its user has no e-mail address, none sent", job.id, job.job_status
        )
        return "no address"
    stamp = _claim(job_id)
    if stamp is None:
        log.info("job %s: its e-mail was already sent", job_id)
        return "already sent"
    job = db.session.get(JobRequest, job_id)
    links = job_links(job)
    subject = subject_of(job)
    if not current_app.config.get("MAIL_SERVER"):
        log.info(
            "job %s: e-mail not sent (no MAIL_SERVER): to %s, subject %r, links %s",
            job.id,
            recipient,
            subject,
            " ".join(links.values()),
        )
        return "logged"
    try:
        send_email(subject, body_of(job, links), recipient)
    except Exception:
        _release(job_id, stamp)  # the retry (RQ) sends it
        raise
    log.info("job %s: e-mail %r sent to %s", job.id, subject, recipient)
    return "sent"


def notice_failed(rq_job, connection, exc_type, exc_value, traceback) -> None:
    """RQ failure callback: after the last attempt the e-mail is given up (the job's page
    still tells its end)."""
    if rq_job.retries_left:
        log.info(
            "job %s: e-mail attempt failed (%s), will retry", rq_job.args[0], exc_type.__name__
        )
        return
    log.warning("job %s: the e-mail could not be sent (%s)", rq_job.args[0], exc_type.__name__)
