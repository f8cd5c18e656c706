"""Launching a job: the checks, in order, then a JobRequest row and the launch task.

Checks (each with its own message; nothing is created when one fails):
1. the caller may see the target (the views load the snapshot through app.access);
2. the job exists in job_schemas/;
3. a fresh successful transfer of this snapshot's files exists;
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
from sqlalchemy import select

from app import job_status as states
from app.extensions import db, enqueue_squonk_task
from app.launcher import (
    JobSchema,
    LaunchContext,
    fingerprint,
    resolve_options,
    squonk_variables,
    validate_inputs,
    validate_options,
)
from app.launcher.format import SOURCE_FRAGMENTS
from app.metrics import count_launch
from app.models import JobRequest, Snapshot, User
from app.models.base import utcnow
from app.transfers import fresh_transfer, project_file

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
    """The launchable jobs, loaded (and validated) when the app was created."""
    return current_app.extensions["job_schemas"]


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
    """``(source, code) -> project path`` of the transferred files, for squonk_variables."""

    def path(source: str, code: str) -> str:
        return project_file(
            target_title, code, "mol" if source == SOURCE_FRAGMENTS else "apo_desolv"
        )

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


def _protein_of(schema: JobSchema, inputs: dict[str, Any]) -> str | None:
    for item in schema.inputs:
        if item.source != SOURCE_FRAGMENTS and isinstance(inputs.get(item.name), str):
            return inputs[item.name]
    return None


def find_duplicate(target_id: int, digest: str) -> JobRequest | None:
    return db.session.scalars(
        select(JobRequest)
        .where(JobRequest.target_id == target_id, JobRequest.fingerprint == digest)
        .order_by(JobRequest.id.desc())
        .limit(1)
    ).first()


def check_launch(request: LaunchRequest) -> tuple[JobSchema, dict[str, Any], str]:
    """Run checks 2-6; returns (schema, resolved options, fingerprint) or raises."""
    schema = job_schemas().get(request.job)
    if schema is None:
        raise LaunchRefused(
            "job", f"There is no job called {request.job!r}", {"job": "unknown job"}
        )
    snapshot, target = request.snapshot, request.snapshot.target
    if fresh_transfer(snapshot, snapshot.protein_codes, request.user) is None:
        raise LaunchRefused(
            "transfer",
            "The files of this snapshot are not in Squonk2 (or "
            "the target changed since they were sent): send them first.",
        )
    if not isinstance(request.inputs, dict):
        raise LaunchRefused("inputs", "inputs must be an object", {"inputs": "an object"})
    errors = validate_inputs(schema, request.inputs, snapshot.protein_codes)
    if errors:
        raise LaunchRefused("inputs", "Check the inputs: " + "; ".join(errors.values()), errors)
    if not isinstance(request.options, dict):
        raise LaunchRefused("options", "options must be an object", {"options": "an object"})
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
        status = duplicate.job_status
        if status == states.OPEN:
            raise LaunchRefused(
                "duplicate",
                "The same job was just submitted and has not started yet.",
                existing=duplicate,
            )
        if status in states.RUNNING or status == states.UPLOADING:
            raise LaunchRefused(
                "duplicate", f"The same job is already running ({status}).", existing=duplicate
            )
        if not request.run_again:
            raise LaunchRefused(
                "duplicate",
                f"The same job already ran ({status}): see its results, or choose to run it again.",
                existing=duplicate,
            )
    return schema, options, digest


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
        job_status=states.OPEN,
        user_summary=(request.summary or "").strip()[:200] or None,
    )
    db.session.add(job)
    db.session.flush()  # the id names the job directory
    job.job_dir = job_directory(request.user, job.id)
    context = LaunchContext(
        request.user.username, job.job_dir, target.title, _protein_of(schema, request.inputs)
    )
    job.options = resolve_options(schema, request.options, context)
    job.specification = squonk_variables(
        schema, request.inputs, job.options, transfer_file_path(target.title)
    )
    states.record_event(job, "user", f"requested by {request.user.username}")
    db.session.commit()
    enqueue_launch(job)
    count_launch()
    log.info("job %s (%s) requested by %s", job.id, schema.key, request.user.username)
    return job


def enqueue_launch(job: JobRequest) -> None:
    rq_job = enqueue_squonk_task(
        "app.jobs.launch.launch_job", job.id, "app.jobs.launch.launch_attempt_failed", timeout=300
    )
    job.rq_job_id = rq_job.id
    db.session.commit()


# --- acting on a job ---------------------------------------------------------------------


class CancelRefused(Exception):
    """The job cannot be cancelled (already finished, or Squonk2 refused)."""


def cancel(job: JobRequest, user: User) -> None:
    """Stop a queued or running job: Squonk2 deletes the instance, the job is REVOKED."""
    from app.jobs import squonk
    from app.squonk import SquonkError

    if job.job_status not in states.RUNNING and job.job_status != states.OPEN:
        raise CancelRefused(f"The job has already finished ({job.job_status}).")
    if job.squonk_instance_id:
        try:
            squonk().delete_instance(job.squonk_instance_id)
        except SquonkError as exc:
            if exc.status != 404:  # already gone in Squonk2 is as good as stopped
                raise CancelRefused(f"Squonk2 could not stop the job: {exc}") from exc
    states.apply_transition(job, states.REVOKED, "user", message=f"cancelled by {user.username}")
    db.session.commit()
    log.info("job %s cancelled by %s", job.id, user.username)
