"""JSON API: launchable jobs, job requests (launch, list, one, cancel), bulk status."""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify, request, url_for
from flask_login import current_user

from app.access import job_or_404, snapshot_or_404, visible_jobs
from app.api import ID, body_schema, error, iso, query_id, text, valid_body
from app.extensions import db
from app.jobs.service import (
    MAX_SUMMARY,
    CancelRefused,
    JobFilterError,
    LaunchRefused,
    LaunchRequest,
    cancel,
    job_page,
    job_query,
    job_schemas,
    launch,
    squonk_task_url,
)
from app.launcher import job_config_json
from app.models import JobRequest

bp = Blueprint("jobs_api", __name__, url_prefix="/api")


def job_json(job: JobRequest, events: bool = False) -> dict:
    """A job as the API shows it; never the callback secret (nor its hash or nonce)."""
    body = {
        "id": job.id,
        "job": job.job_key,
        "job_status": job.job_status,
        "snapshot": job.snapshot_id,
        "target": job.target.title,
        "user": job.user.username if job.user else None,
        "inputs": job.inputs,
        "options": job.options,
        "squonk_project": job.squonk_project,
        "squonk_instance_id": job.squonk_instance_id,
        "squonk_task_id": job.squonk_task_id,
        "squonk_url": squonk_task_url(job),
        "computed_set": job.computed_set.name if job.computed_set else None,
        "message": job.message,
        "summary": job.user_summary,
        "created": iso(job.created),
        "updated": iso(job.updated),
    }
    if events:
        body["events"] = [
            {
                "time": iso(e.time),
                "from": e.from_status,
                "to": e.to_status,
                "source": e.source,
                "message": e.message,
            }
            for e in job.events
        ]
    return body


@bp.get("/job_config/")
def job_config():
    """The launchable jobs with their inputs and options."""
    return jsonify([job_config_json(schema) for schema in job_schemas().values()])


# The shape of a launch; what the job itself accepts is checked against its JSON Schema
LAUNCH_BODY = body_schema(
    {
        "snapshot": ID,
        "job": text(100, required=True),
        "inputs": {
            "type": "object",
            "maxProperties": 50,
            "additionalProperties": {
                "type": ["string", "array"],
                "maxLength": 100,
                "maxItems": 5000,
                "items": {"type": "string"},
            },
        },
        "options": {"type": "object", "maxProperties": 200},
        "summary": text(MAX_SUMMARY),
        "run_again": {"type": "boolean"},
        # "E-mail me when it ends"; absent: the user's default (their settings page)
        "notify_by_email": {"type": "boolean"},
    },
    required=("snapshot", "job"),
)
IDS_BODY = body_schema({"ids": {"type": "array", "maxItems": 1000, "items": ID}}, required=("ids",))


@bp.post("/job_request/")
def create_job_request():
    """Launch: ``{"snapshot", "job", "inputs", "options", "summary"?, "run_again"?,
    "notify_by_email"?}``."""
    body = valid_body(LAUNCH_BODY)
    snapshot = snapshot_or_404(body["snapshot"], work=True)
    try:
        job = launch(
            LaunchRequest(
                snapshot=snapshot,
                user=current_user,
                job=body["job"],
                inputs=body.get("inputs", {}),
                options=body.get("options", {}),
                summary=body.get("summary"),
                run_again=body.get("run_again", False),
                notify_by_email=body.get("notify_by_email"),
            )
        )
    except LaunchRefused as refused:
        if refused.kind == "duplicate":
            existing = refused.existing
            return jsonify(
                {
                    "error": refused.message,
                    "existing": {
                        "id": existing.id,
                        "job_status": existing.job_status,
                        "url": url_for("jobs.detail", job_id=existing.id),
                    },
                }
            ), 409
        return jsonify({"error": refused.message, "fields": refused.fields}), 400
    return jsonify(job_json(job)), 201


@bp.get("/job_request/")
def job_requests():
    """Jobs the caller may see, newest first, filterable by snapshot, target, status and job;
    ``page`` (1, 2, ...) pages them, JOBS_PER_PAGE at a time; ``X-Total-Count`` says how
    many there are in all."""
    try:
        query = job_query(
            visible_jobs(),
            status=request.args.get("status"),
            snapshot=query_id("snapshot"),
            job=request.args.get("job"),
            target=request.args.get("target"),
        )
    except JobFilterError as exc:
        return error(str(exc), status="unknown status")
    rows, page = job_page(
        query, request.args.get("page", 1, type=int), current_app.config["JOBS_PER_PAGE"]
    )
    response = jsonify([job_json(j) for j in rows])
    response.headers["X-Total-Count"] = str(page.total)
    return response


@bp.get("/job_request/<int:job_id>/")
def job_request(job_id: int):
    """One job with its events."""
    return jsonify(job_json(job_or_404(job_id), events=True))


@bp.delete("/job_request/<int:job_id>/")
def cancel_job_request(job_id: int):
    """Cancel a queued or running job (owner or admin: 403 for others who may see it)."""
    job = job_or_404(job_id, act=True)
    try:
        cancel(job, current_user)
    except CancelRefused as exc:
        if exc.status is not None:  # already finished: say so, with the status it ended in
            return jsonify({"error": str(exc), "job_status": exc.status}), 409
        return error(str(exc), 409)
    return jsonify(job_json(job, events=True))


@bp.post("/job_status/")
def job_status_bulk():
    """``{"ids": [..]}`` -> ``{"<id>": "<status>"}`` for the jobs the caller may see."""
    ids = valid_body(IDS_BODY)["ids"]
    rows = db.session.execute(
        visible_jobs()
        .with_only_columns(JobRequest.id, JobRequest.job_status)
        .where(JobRequest.id.in_(ids))
    ).all()
    return jsonify({str(job_id): status for job_id, status in rows})
