"""The job launcher dialog and the job page."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import current_user
from sqlalchemy import func, select
from sqlalchemy.orm import defer, joinedload

from app import htmx
from app.access import can_act_on_job, job_or_404, snapshot_or_404, target_or_404
from app.extensions import db
from app.job_status import ALL, FINAL, SUCCESS
from app.jobs.results import retry_import as retry
from app.launcher import attach_errors, build_launch_form, form_submission
from app.launches import CancelRefused, LaunchRefused, LaunchRequest, cancel, job_schemas, launch
from app.models import ComputedSet, JobRequest
from app.results import imports_results

bp = Blueprint("jobs", __name__)


def dialog(snapshot, schema, form, refused: LaunchRefused | None = None, status: int = 200):
    """The dialog as an HTMX fragment, or inside a full page without JavaScript."""
    template = "jobs/_dialog.html" if htmx.is_htmx_request() else "jobs/launch.html"
    response = Response(
        render_template(
            template,
            snapshot=snapshot,
            target=snapshot.target,
            schema=schema,
            form=form,
            schemas=job_schemas(),
            refused=refused,
        ),
        status=status,
    )
    return htmx.vary_on_htmx(response)


def chosen_schema():
    schemas = job_schemas()
    key = request.args.get("job") or next(iter(schemas))
    schema = schemas.get(key)
    if schema is None:
        abort(404)
    return schema


@bp.get("/snapshots/<int:snapshot_id>/launch")
def new(snapshot_id: int):
    """The launch dialog for one job, with its defaults."""
    snapshot = snapshot_or_404(snapshot_id)
    schema = chosen_schema()
    codes = snapshot.protein_codes
    rerun = request.args.get("rerun", type=int)
    data = None
    if rerun:
        previous = job_or_404(rerun)
        if previous.snapshot_id == snapshot.id and previous.job_key == schema.key:
            data = {**previous.inputs, **previous.options}
    form = build_launch_form(schema, codes, codes, data=data)
    return dialog(snapshot, schema, form)


@bp.post("/snapshots/<int:snapshot_id>/launch")
def create(snapshot_id: int):
    """Run the launch checks; on success, go to the new job's page."""
    snapshot = snapshot_or_404(snapshot_id)
    schema = chosen_schema()
    codes = snapshot.protein_codes
    form = build_launch_form(schema, codes, codes)
    if not form.validate():
        return dialog(snapshot, schema, form)
    inputs, options = form_submission(form)
    try:
        job = launch(
            LaunchRequest(
                snapshot=snapshot,
                user=current_user,
                job=schema.key,
                inputs=inputs,
                options=options,
                summary=request.form.get("summary"),
                run_again=request.form.get("run_again") == "1",
            )
        )
    except LaunchRefused as refused:
        attach_errors(form, refused.fields)
        return dialog(snapshot, schema, form, refused)
    target = url_for("jobs.detail", job_id=job.id)
    if htmx.is_htmx_request():
        response = Response(status=204)
        response.headers["HX-Redirect"] = target
        return response
    return redirect(target)


@bp.get("/jobs/<int:job_id>/")
def detail(job_id: int):
    """A job: inputs, options, status and history."""
    job = job_or_404(job_id)
    return render_template(
        "jobs/detail.html", job=job, schema=job_schemas().get(job.job_key), **status_context(job)
    )


def status_context(job) -> dict:
    """What the status panel shows besides the job: links and the actions allowed."""
    computed_set = None
    if job.computed_set_id:
        computed_set = db.session.get(ComputedSet, job.computed_set_id)
    can_act = can_act_on_job(job)
    return {
        "squonk_url": squonk_task_url(job),
        "computed_set": computed_set,
        "can_act": can_act,
        "retry_import": can_act
        and job.job_status == SUCCESS
        and job.computed_set_id is None
        and imports_results(job)
        and bool(job.message),
    }


def squonk_task_url(job) -> str | None:
    ui = current_app.config.get("SQUONK2_UI_URL")
    if not ui or not job.squonk_task_id:
        return None
    return f"{ui.rstrip('/')}/results/task/{job.squonk_task_id}"


@bp.get("/jobs/<int:job_id>/status")
def status(job_id: int):
    """The job's status panel (what the HTMX poll fetches); 286 once final."""
    job = job_or_404(job_id)
    response = Response(render_template("jobs/_status.html", job=job, **status_context(job)))
    if job.job_status in FINAL and htmx.is_htmx_request():
        response.status_code = htmx.STOP_POLLING
    response.headers["Cache-Control"] = "no-store"
    return htmx.vary_on_htmx(response)


# --- lists with one poll for the whole table ----------------------------------------------

JOBS_PER_PAGE = 50


def job_list(stmt, base_url: str, title: str, target=None):
    """A filtered, paged job table; HTMX polls of its body get just the rows."""
    status = request.args.get("status", "").upper()
    if status:
        if status not in ALL:
            abort(400, description=f"Unknown status {status!r}")
        stmt = stmt.where(JobRequest.job_status == status)
    if request.args.get("snapshot", type=int):
        stmt = stmt.where(JobRequest.snapshot_id == request.args.get("snapshot", type=int))
    if request.args.get("job"):
        stmt = stmt.where(JobRequest.job_key == request.args["job"])
    total = db.session.scalar(select(func.count()).select_from(stmt.subquery()))
    pages = max(1, -(-total // JOBS_PER_PAGE))
    page = min(max(1, request.args.get("page", 1, type=int) or 1), pages)
    # One query for the page: the rows' target, snapshot and user joined in (not a lazy load
    # per row), and none of the JSON columns the table never shows (bench/poll.py)
    jobs = db.session.scalars(
        stmt.options(
            joinedload(JobRequest.target, innerjoin=True),
            joinedload(JobRequest.snapshot, innerjoin=True),
            joinedload(JobRequest.user),
            defer(JobRequest.inputs),
            defer(JobRequest.options),
            defer(JobRequest.specification),
            defer(JobRequest.squonk_job_info),
            defer(JobRequest.user_description),
        )
        .order_by(JobRequest.id.desc())
        .offset((page - 1) * JOBS_PER_PAGE)
        .limit(JOBS_PER_PAGE)
    ).all()
    live = any(job.job_status not in FINAL for job in jobs)
    context = dict(
        jobs=jobs,
        live=live,
        page=page,
        pages=pages,
        total=total,
        status=status,
        title=title,
        target=target,
        base_url=base_url,
        statuses=ALL,
        schemas=job_schemas(),
        args=request.args,
    )
    if htmx.is_htmx_request() and request.headers.get("HX-Target") == "job-rows":
        response = Response(render_template("jobs/_rows.html", **context))
        if not live:
            response.status_code = htmx.STOP_POLLING
        response.headers["Cache-Control"] = "no-store"
    else:
        response = Response(render_template("jobs/list.html", **context))
    return htmx.vary_on_htmx(response)


@bp.get("/jobs/")
def mine():
    """My jobs."""
    stmt = select(JobRequest).where(JobRequest.user_id == current_user.id)
    return job_list(stmt, url_for("jobs.mine"), "My jobs")


@bp.get("/targets/<title>/jobs/")
def of_target(title: str):
    """Every job of a target the user may see."""
    target = target_or_404(title)
    stmt = select(JobRequest).where(JobRequest.target_id == target.id)
    return job_list(stmt, url_for("jobs.of_target", title=title), f"Jobs of {title}", target)


# --- actions: owner or admin only ----------------------------------------------------------


@bp.post("/jobs/<int:job_id>/cancel")
def cancel_job(job_id: int):
    """Cancel a queued or running job."""
    job = job_or_404(job_id, act=True)
    try:
        cancel(job, current_user)
        flash("The job was cancelled.")
    except CancelRefused as exc:
        flash(str(exc), "error")
    return redirect(
        request.referrer if _same_site(request.referrer) else url_for("jobs.detail", job_id=job.id)
    )


@bp.post("/jobs/<int:job_id>/describe")
def describe(job_id: int):
    """Set the job's summary and description."""
    job = job_or_404(job_id, act=True)
    summary = (request.form.get("summary") or "").strip()
    description = (request.form.get("description") or "").strip()
    if len(summary) > 200 or len(description) > 10000:
        flash("The summary may have 200 characters and the description 10,000.", "error")
    else:
        job.user_summary, job.user_description = summary or None, description or None
        db.session.commit()
        flash("Saved.")
    return redirect(url_for("jobs.detail", job_id=job.id))


@bp.post("/jobs/<int:job_id>/retry-import")
def retry_import(job_id: int):
    """Import a successful job's results again after a failed import."""
    job = job_or_404(job_id, act=True)
    if job.job_status == SUCCESS and imports_results(job) and job.computed_set_id is None:
        retry(job)
        flash("Importing the results again.")
    else:
        flash("There is nothing to import for this job.", "error")
    return redirect(url_for("jobs.detail", job_id=job.id))


def _same_site(url: str | None) -> bool:
    return bool(url) and urlsplit(url).netloc in ("", request.host)
