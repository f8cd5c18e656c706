"""Launching a job: the checks, in order, then a JobRequest row and the launch task.

Checks (each with its own message; nothing is created when one fails):
1. the caller may see the target (the views load the snapshot through app.access);
2. the job exists in job_schemas/;
3. the files of the chosen inputs are in Squonk2: the target has them, and a fresh
   successful transfer of this snapshot sent them;
4. inputs come from this snapshot, within bounds;
5. options are valid against the job's JSON Schema (whatever the browser sent);
6. no duplicate: the same launch queued, running or finished (unless "run again").
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets
import uuid
from dataclasses import dataclass, field
from typing import Any

from flask import current_app
from sqlalchemy import Select, func, select
from sqlalchemy.orm import defer, joinedload
from sqlalchemy.orm.exc import StaleDataError

from app.api import Page
from app.extensions import db
from app.jobs import definitions, states
from app.jobs.hooks import imports_results
from app.launcher import (
    JobSchema,
    LaunchContext,
    fingerprint,
    input_kind,
    resolve_options,
    squonk_variables,
    validate_inputs,
    validate_options,
)
from app.models import JobRequest, Snapshot, Target, User
from app.models.base import utcnow
from app.squonk.client import SquonkError
from app.squonk.current import squonk
from app.transfers.service import (
    LABELS,
    lacking_files,
    needed_files_check,
    project_file,
    proteins_of,
    words_list,
)

log = logging.getLogger(__name__)


class LaunchRefused(Exception):
    """A launch check failed; ``kind`` says which, ``fields`` which inputs/options."""

    def __init__(
        self,
        kind: str,
        message: str,
        fields: dict[str, str] | None = None,
        existing: JobRequest | None = None,
    ) -> None:
        super().__init__(message)
        self.kind, self.message = kind, message
        self.fields = fields or {}
        self.existing = existing


def job_schemas() -> dict[str, JobSchema]:
    """The launchable jobs: each job_schemas/ override on its Squonk2 definition
    (app.jobs.definitions)."""
    return definitions.job_schemas()


# --- the callback secret ----------------------------------------------------------------


def callback_secret(nonce: str) -> str:
    """The secret in a job's callback URL: HMAC(SECRET_KEY, nonce), 256 bits, URL-safe."""
    key = current_app.config["SECRET_KEY"].encode()
    digest = hmac.new(key, f"job-callback:{nonce}".encode(), hashlib.sha256).digest()
    return digest.hex()


def secret_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def callback_url(job: JobRequest) -> str:
    """Where Squonk2 PUTs this job's status changes. Never log or show it."""
    base = current_app.config["EXTERNAL_URL"].rstrip("/")
    return f"{base}/api/job_callback/{callback_secret(job.callback_nonce)}/"


# --- launching ------------------------------------------------------------------------------

SAFE_USER = re.compile(r"[^A-Za-z0-9_.-]+")


def job_directory(user: User, job_id: int) -> str:
    """The job's own folder in the project: unique per user and time (and row)."""
    name = SAFE_USER.sub("_", user.username).strip("._") or f"user{user.id}"
    return f"fragalysis-jobs/{name}/{utcnow():%Y%m%d-%H%M%S}-{job_id}"


def transfer_file_path(target_title: str):
    """``(source, code) -> project path`` of the transferred files, for squonk_variables:
    the file of the kind the input's kind needs (its ``file_kind``)."""

    def path(source: str, code: str) -> str:
        return project_file(target_title, code, input_kind(source).file_kind)

    return path


@dataclass
class LaunchRequest:
    snapshot: Snapshot
    user: User
    job: str
    inputs: dict[str, Any]
    options: dict[str, Any] = field(default_factory=dict)
    summary: str | None = None
    run_again: bool = False
    # "E-mail me when it ends"; None: the user's default (their settings page)
    notify_by_email: bool | None = None


def _protein_of(schema: JobSchema, inputs: dict[str, Any]) -> str | None:
    """The ``{protein}`` placeholder's value: the code of the first input providing one."""
    for item in schema.inputs:
        protein = item.kind.protein(inputs.get(item.name))
        if protein is not None:
            return protein
    return None


def find_duplicate(target_id: int, digest: str) -> JobRequest | None:
    return db.session.scalars(
        select(JobRequest)
        .where(JobRequest.target_id == target_id, JobRequest.fingerprint == digest)
        .order_by(JobRequest.id.desc())
        .limit(1)
    ).first()


# No option of any job needs more text than this (a list of SMILES is one string each);
# a megabyte in an option only makes Squonk2's dry run time out
MAX_OPTION_TEXT = 10_000


def _longest_text(value) -> int:
    if isinstance(value, str):
        return len(value)
    if isinstance(value, list):
        return max((_longest_text(item) for item in value), default=0)
    if isinstance(value, dict):
        return max((_longest_text(item) for item in value.values()), default=0)
    return 0


def _chosen_codes(value: Any) -> list[str]:
    """The codes an input's submitted value names (a list, or one code)."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [code for code in value if isinstance(code, str)]
    return []


def _named(files: list[dict]) -> str:
    """``x0072_A (x0072_A_apo-desolv.pdb), ...``: each file by protein."""
    return words_list([f"{entry['protein']} ({entry['file']})" for entry in files], most=50)


def check_files(request: LaunchRequest, schema: JobSchema) -> None:
    """Check 3: the files of the chosen inputs (only those: RDKit conformers needs the
    fragments' mol files, not an apo-desolv PDB) are in Squonk2, sent by a fresh transfer.

    Refused as ``files`` when the target lacks one (sending again cannot help), as
    ``transfer`` when one exists but no fresh transfer sent it (send the files first).
    Codes not of the snapshot are left to the inputs check to name.
    """
    snapshot, target = request.snapshot, request.snapshot.target
    inputs = request.inputs if isinstance(request.inputs, dict) else {}
    known = set(snapshot.protein_codes)
    chosen = [
        (item, code)
        for item in schema.inputs
        for code in dict.fromkeys(_chosen_codes(inputs.get(item.name)))
        if code in known
    ]
    lacking, unsent = needed_files_check(
        snapshot, [(code, item.kind.file_kind) for item, code in chosen], request.user
    )
    if lacking:
        picked = {(item.name, code) for item, code in chosen}
        parts = []
        for item in schema.inputs:
            kind = item.kind
            files = [
                entry
                for entry in lacking
                if entry["kind"] == kind.file_kind and (item.name, entry["protein"]) in picked
            ]
            if not files:
                continue
            label = LABELS[kind.file_kind]
            which = f"each chosen {kind.noun}" if kind.multiple else f"the chosen {kind.noun}"
            parts.append(
                f"{schema.title} needs the {label} of {which}; "
                f"{target.title} has none for: {_named(files)}."
            )
            if not kind.multiple:  # say which of the snapshot's proteins could be chosen
                others = lacking_files(
                    {p.code: p for p in proteins_of(target, snapshot.protein_codes)},
                    [(code, kind.file_kind) for code in snapshot.protein_codes],
                )
                absent = {entry["protein"] for entry in others}
                usable = [code for code in snapshot.protein_codes if code not in absent]
                if usable:
                    parts.append(f"These have one: {words_list(usable)}.")
                else:
                    parts.append(f"None of this snapshot's proteins has one: {_named(others)}.")
        also = f" Not sent yet either: {_named(unsent)}." if unsent else ""
        raise LaunchRefused(
            "files",
            " ".join(parts)
            + " Sending the files again will not help: choose others, or reload the target"
            + f" with these files.{also}",
        )
    if unsent:
        raise LaunchRefused(
            "transfer",
            f"{schema.title} needs files that are not in Squonk2 (or the target changed "
            f"since they were sent): send them first. Not sent: {_named(unsent)}.",
        )


def check_launch(request: LaunchRequest) -> tuple[JobSchema, dict[str, Any], str]:
    """Run checks 2-6; returns (schema, resolved options, fingerprint) or raises."""
    schema = job_schemas().get(request.job)
    if schema is None:
        raise LaunchRefused(
            "job", f"There is no job called {request.job!r}", {"job": "unknown job"}
        )
    snapshot, target = request.snapshot, request.snapshot.target
    check_files(request, schema)
    if not isinstance(request.inputs, dict):
        raise LaunchRefused("inputs", "inputs must be an object", {"inputs": "an object"})
    errors = validate_inputs(schema, request.inputs, snapshot.protein_codes)
    if errors:
        raise LaunchRefused("inputs", "Check the inputs: " + "; ".join(errors.values()), errors)
    if not isinstance(request.options, dict):
        raise LaunchRefused("options", "options must be an object", {"options": "an object"})
    too_long = {
        name: f"may have at most {MAX_OPTION_TEXT:,} characters"
        for name, value in request.options.items()
        if _longest_text(value) > MAX_OPTION_TEXT
    }
    if too_long:
        raise LaunchRefused(
            "options",
            "Check the options: "
            + "; ".join(f"{name} {problem}" for name, problem in too_long.items()),
            too_long,
        )
    if request.summary is not None and len(request.summary.strip()) > MAX_SUMMARY:
        raise LaunchRefused(
            "summary",
            f"The summary may have at most {MAX_SUMMARY} characters",
            {"summary": f"may have at most {MAX_SUMMARY} characters"},
        )
    # A placeholder directory to validate with; the real one needs the row's id
    context = LaunchContext(
        request.user.username,
        "fragalysis-jobs/check/now",
        target.title,
        _protein_of(schema, request.inputs),
    )
    options = resolve_options(schema, request.options, context)
    errors = validate_options(schema, options)
    if errors:
        raise LaunchRefused(
            "options",
            "Check the options: "
            + "; ".join(f"{name}: {message}" for name, message in errors.items()),
            errors,
        )
    digest = fingerprint(target.title, schema, request.inputs, options)
    duplicate = find_duplicate(target.id, digest)
    if duplicate is not None:
        standing = duplicate_standing(duplicate)
        # A second copy of a job still running is never started, "run again" or not
        if standing == "running" or not request.run_again:
            raise LaunchRefused("duplicate", duplicate_message(duplicate), existing=duplicate)
    return schema, options, digest


# Check 6: what a duplicate refusal says, by the old job's state
_STILL_GOING = {
    states.OPEN: " (queued, not started yet)",
    states.PENDING: " (queued)",
    states.RETRY: " (queued)",
    states.UPLOADING: " (importing its results)",
}
_ENDED_WITHOUT_RESULTS = {
    states.FAILURE: "already ran and failed",
    states.REVOKED: "was cancelled",
    states.SUCCESS: "already ran but has no results",
}


def duplicate_standing(job: JobRequest) -> str:
    """What a duplicate refusal offers for the old ``job``: ``"running"`` (queued or
    running: follow it), ``"results"`` (finished with results: see them) or ``"rerun"``
    (failed, cancelled, or finished with nothing: run it again)."""
    if job.job_status not in states.FINAL:
        return "running"
    if job.job_status == states.UPLOADED or (
        job.job_status == states.SUCCESS and job.computed_set_id is not None
    ):
        return "results"
    return "rerun"


def duplicate_message(job: JobRequest) -> str:
    """The refusal of a launch identical to ``job`` (same inputs and options)."""
    standing = duplicate_standing(job)
    if standing == "running":
        return f"The same job is already running{_STILL_GOING.get(job.job_status, '')}: follow it."
    if standing == "results":
        return "The same job already ran and has results: see its results, or run it again."
    return f"The same job {_ENDED_WITHOUT_RESULTS[job.job_status]}: run it again."


def launch(request: LaunchRequest) -> JobRequest:
    """Check, create the JobRequest (OPEN), commit, enqueue the launch task."""
    schema, _, digest = check_launch(request)
    snapshot, target = request.snapshot, request.snapshot.target
    nonce = secrets.token_hex(16)  # 128 random bits; the secret is HMAC'd from it
    job = JobRequest(
        job_key=schema.key,
        squonk_collection=schema.collection,
        squonk_job=schema.job,
        squonk_version=schema.version,
        snapshot=snapshot,
        target=target,
        project=target.project,
        user=request.user,
        squonk_project=target.default_squonk_project,
        inputs=request.inputs,
        options={},
        fingerprint=digest,
        callback_nonce=nonce,
        callback_secret_hash=secret_hash(callback_secret(nonce)),
        callback_context=f"fjl-{uuid.uuid4().hex}",
        user_summary=(request.summary or "").strip()[:200] or None,
        notify_by_email=(
            request.user.notify_by_email
            if request.notify_by_email is None
            else bool(request.notify_by_email)
        ),
    )
    states.requested(job, "user", f"requested by {request.user.username}")
    job.job_dir = job_directory(request.user, job.id)
    context = LaunchContext(
        request.user.username, job.job_dir, target.title, _protein_of(schema, request.inputs)
    )
    job.options = resolve_options(schema, request.options, context)
    job.specification = squonk_variables(
        schema, request.inputs, job.options, transfer_file_path(target.title)
    )
    db.session.commit()  # the after-commit hook queues the launch task
    log.info("job %s (%s) requested by %s", job.id, schema.key, request.user.username)
    return job


# --- acting on a job ---------------------------------------------------------------------


class CancelRefused(Exception):
    """The job cannot be cancelled (already finished, or Squonk2 refused)."""

    def __init__(self, message: str, status: str | None = None) -> None:
        super().__init__(message)
        self.status = status


ATTEMPTS = 25  # a change that meets a concurrent one is retried on fresh state


def _on_fresh_row(job: JobRequest, change):
    """Apply ``change(job)`` to the job as the database has it now, and commit; retried when
    a concurrent writer (a callback, another click) committed first. Returns its result."""
    for _ in range(ATTEMPTS):
        fresh = db.session.execute(
            select(JobRequest)
            .where(JobRequest.id == job.id)
            .with_for_update()
            .execution_options(populate_existing=True)
        ).scalar_one()
        result = change(fresh)
        try:
            db.session.commit()
            return result
        except StaleDataError:
            db.session.rollback()
    raise RuntimeError(f"job {job.id}: too many concurrent changes")


CANCELLABLE = frozenset({states.OPEN}) | states.RUNNING


def cancel(job: JobRequest, user: User) -> None:
    """Stop a queued or running job: Squonk2 deletes the instance, the job is REVOKED.

    The request is written down first, so the history names the user as the cause even
    when Squonk2's REVOKED callback commits before this does; repeated clicks are one cancel.
    """
    cause = f"cancelled by {user.username}"

    def request_cancel(row: JobRequest) -> None:
        if row.job_status not in CANCELLABLE:
            raise CancelRefused(f"The job has already finished ({row.job_status}).", row.job_status)
        if row.message != cause:  # not already asked (another click, another tab)
            row.message = cause
            states.note(row, "user", f"cancel requested by {user.username}")

    _on_fresh_row(job, request_cancel)
    if job.squonk_instance_id:  # every time: deleting what is gone is a harmless 404
        try:
            squonk().delete_instance(job.squonk_instance_id)
        except SquonkError as exc:
            if exc.status != 404:  # already gone in Squonk2 is as good as stopped

                def undo(row: JobRequest) -> None:
                    if row.message == cause:
                        row.message = None

                _on_fresh_row(job, undo)
                raise CancelRefused(f"Squonk2 could not stop the job: {exc}") from exc

    def revoke(row: JobRequest) -> None:
        if row.job_status in CANCELLABLE:
            states.report(row, states.REVOKED, "user", message=cause)
        # else Squonk2's REVOKED callback came first: the note above names the cause

    _on_fresh_row(job, revoke)
    log.info("job %s cancelled by %s", job.id, user.username)


class DescribeRefused(ValueError):
    """The summary or description is too long."""


MAX_SUMMARY, MAX_DESCRIPTION = 200, 10_000


def describe(job: JobRequest, summary: str | None, description: str | None) -> None:
    """Set the job's summary and description (blank clears them)."""
    summary, description = (summary or "").strip(), (description or "").strip()
    if len(summary) > MAX_SUMMARY or len(description) > MAX_DESCRIPTION:
        raise DescribeRefused(
            f"The summary may have {MAX_SUMMARY} characters and the description "
            f"{MAX_DESCRIPTION:,}."
        )

    def write(row: JobRequest) -> None:
        row.user_summary, row.user_description = summary or None, description or None

    _on_fresh_row(job, write)


def import_failed(job: JobRequest, message: str) -> None:
    """The job stays a successful job; the reason is on its page and in its history."""
    states.report(job, states.SUCCESS, "system", message=f"import failed: {message}")
    job.message = f"The results could not be imported: {message}"
    db.session.commit()


NOTHING_TO_IMPORT = "The job finished without writing any molecule: there is nothing to import."


def nothing_to_import(job: JobRequest) -> None:
    """The job ran and wrote an empty output (every merge failed, say): it simply ends
    SUCCESS, which is not an import failure and offers no retry."""
    states.report(job, states.SUCCESS, "system", message="nothing to import: no molecules")
    job.message = NOTHING_TO_IMPORT
    db.session.commit()


def can_retry_import(job: JobRequest) -> bool:
    """A successful job whose results were meant to be imported, and are not (any more)."""
    return (
        job.job_status == states.SUCCESS
        and job.computed_set_id is None
        and job.message != NOTHING_TO_IMPORT
        and imports_results(job)
    )


def retry_import(job: JobRequest, user: User) -> bool:
    """The "retry import" button: back to UPLOADING (its hook queues the import task)."""
    if not can_retry_import(job):
        return False
    states.report(job, states.UPLOADING, "user", message=f"import retried by {user.username}")
    job.message = None
    db.session.commit()
    return True


def squonk_task_url(job: JobRequest) -> str | None:
    """The job's task in the Squonk2 UI, when the UI's address is configured."""
    ui = current_app.config.get("SQUONK2_UI_URL")
    if not ui or not job.squonk_task_id:
        return None
    return f"{ui.rstrip('/')}/results/task/{job.squonk_task_id}"


# --- lists ---------------------------------------------------------------------------------


class JobFilterError(ValueError):
    """A list filter names an unknown status."""


def job_query(
    base: Select,
    *,
    status: str | None = None,
    snapshot: int | None = None,
    job: str | None = None,
    target: str | None = None,
) -> Select:
    """``base`` (jobs the caller may see) filtered as the pages and the API filter it, with
    what a row shows loaded in the same query: target, snapshot, user and computed set."""
    if status:
        if status.upper() not in states.ALL:
            raise JobFilterError(f"status must be one of {', '.join(states.ALL)}")
        base = base.where(JobRequest.job_status == status.upper())
    if snapshot:
        base = base.where(JobRequest.snapshot_id == snapshot)
    if job:
        base = base.where(JobRequest.job_key == job)
    if target:
        base = base.where(JobRequest.target.has(Target.title == target))
    return base.options(
        joinedload(JobRequest.target, innerjoin=True),
        joinedload(JobRequest.snapshot, innerjoin=True),
        joinedload(JobRequest.user),
        joinedload(JobRequest.computed_set),
    ).order_by(JobRequest.id.desc())


def job_page(stmt: Select, number: int | None, size: int) -> tuple[list[JobRequest], Page]:
    """One page of a :func:`job_query`, and where it is among the others."""
    total = db.session.scalar(
        select(func.count()).select_from(stmt.order_by(None).options().subquery())
    )
    page = Page.of(total, number, size)
    rows = db.session.scalars(stmt.offset(page.offset).limit(page.size)).unique().all()
    return list(rows), page


# The columns a job table never shows (bench/poll.py)
TABLE_DEFERRED = (
    defer(JobRequest.inputs),
    defer(JobRequest.options),
    defer(JobRequest.specification),
    defer(JobRequest.squonk_job_info),
    defer(JobRequest.user_description),
)
