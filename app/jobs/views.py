"""The job launcher dialog, the job page and its actions, and the job tables."""

from __future__ import annotations

import re

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
from htmx_flask import make_response

from app.access import (
    can_act_on_job,
    is_project_member,
    job_or_404,
    snapshot_or_404,
    target_or_404,
    visible_jobs,
)
from app.api import query_id
from app.jobs import events
from app.jobs.service import (
    TABLE_DEFERRED,
    CancelRefused,
    DescribeRefused,
    JobFilterError,
    LaunchRefused,
    LaunchRequest,
    can_retry_import,
    cancel,
    duplicate_standing,
    job_page,
    job_query,
    job_schemas,
    launch,
    squonk_task_url,
)
from app.jobs.service import (
    describe as describe_job,
)
from app.jobs.service import (
    retry_import as retry,
)
from app.jobs.states import ALL, FINAL
from app.launcher import attach_errors, build_launch_form, form_submission
from app.launcher.forms import drop_repeated_help, fields_with_errors
from app.models import JobRequest
from app.models.base import as_utc, utcnow
from app.transfers.service import LABELS, missing_files, proteins_of
from app.web import STOP_POLLING, htmx_target, safe_next, vary_on_htmx

bp = Blueprint("jobs", __name__)

# The words scientists use for each status; the Fragalysis name is shown beside them
STATUS_WORDS = {
    "OPEN": "Queued",
    "PENDING": "Queued",
    "STARTED": "Running",
    "RETRY": "Running",
    "SUCCESS": "Finished",
    "UPLOADING": "Importing results",
    "UPLOADED": "Results ready",
    "FAILURE": "Failed",
    "REVOKED": "Cancelled",
}


@bp.app_context_processor
def job_states():
    # panels stop polling at the state machine's final states, named in one place
    return {"final_job_states": FINAL}


@bp.app_template_filter("status_word")
def status_word(status: str | None) -> str:
    """The word for a job status ("Running" for STARTED); an unknown status as it is."""
    return STATUS_WORDS.get(status or "", status or "")


_BY = re.compile(r"\s+by (an administrator|\S+)$")


@bp.app_template_filter("event_source")
def event_source(event, job) -> str:
    """Who a history line comes from, in words: Squonk2, you, by <username>, the launcher.

    A person's action names them in its message ("cancelled by alice"); one that does not
    was the job owner's (only the owner and admins may act on a job)."""
    if event.source in ("callback", "poll", events.SOURCE):
        return "Squonk2"
    if event.source != "user":
        return "the launcher"
    named = _BY.search(event.message or "")
    username = named.group(1) if named else (job.user.username if job.user else None)
    if username is None:
        return "a user"
    if current_user.is_authenticated and username == current_user.username:
        return "you"
    return f"by {username}"


@bp.app_template_filter("event_message")
def event_message(event) -> str:
    """A history line's message without the "by <username>" its source already says."""
    message = event.message or ""
    return _BY.sub("", message) if event.source == "user" else message


@bp.app_template_filter("elapsed")
def elapsed(job) -> str:
    """How long a job has run (or ran): from its start, or its request, to now or its end."""
    start = as_utc(job.started or job.launched or job.created)
    end = as_utc(job.finished) if job.finished else utcnow()
    seconds = max(0, int((end - start).total_seconds()))
    hours, rest = divmod(seconds, 3600)
    return (f"{hours}h " if hours else "") + f"{rest // 60}m {rest % 60:02d}s"


def dialog(
    snapshot,
    schema,
    form,
    refused: LaunchRefused | None = None,
    *,
    notify: bool,
    preset=None,
    notice: str | None = None,
):
    """The dialog as an HTMX fragment, or inside a full page without JavaScript.

    :param notify: the "E-mail me when it ends" box is ticked
    :param preset: the ``Preset`` the options started from, if any
    :param notice: a short note above the form (an unknown preset)
    """
    drop_repeated_help(form)
    template = "jobs/_dialog.html" if request.htmx else "jobs/launch.html"
    response = Response(
        render_template(
            template,
            snapshot=snapshot,
            target=snapshot.target,
            schema=schema,
            form=form,
            schemas=job_schemas(),
            refused=refused,
            standing=duplicate_standing(refused.existing)
            if refused is not None and refused.existing is not None
            else None,
            marked=len(fields_with_errors(form)),
            notify=notify,
            preset=preset,
            notice=notice,
        )
    )
    return vary_on_htmx(response)


def chosen_schema():
    schemas = job_schemas()
    key = request.args.get("job") or next(iter(schemas))
    schema = schemas.get(key)
    if schema is None:
        abort(404)
    return schema


def missing_files_of(snapshot) -> dict[tuple[str, str], str]:
    """The label of each file the snapshot's proteins lack, by ``(code, file kind)``."""
    return {
        (entry["protein"], entry["kind"]): LABELS[entry["kind"]]
        for entry in missing_files(proteins_of(snapshot.target, snapshot.protein_codes))
    }


@bp.get("/snapshots/<int:snapshot_id>/launch")
def new(snapshot_id: int):
    """The launch dialog for one job, its inputs chosen from the snapshot: from a
    previous launch (``?rerun=<job id>``), with the options of a preset (``?preset=``)."""
    snapshot = snapshot_or_404(snapshot_id, work=True)
    schema = chosen_schema()
    codes = snapshot.protein_codes
    rerun = query_id("rerun")
    data: dict = {}
    preset, notice = None, None
    name = request.args.get("preset", "").strip()
    if name:
        preset = schema.preset(name)
        if preset is None:
            notice = (
                f"{schema.title} has no preset called {name[:80]!r}: starting from its defaults."
            )
        else:
            data.update(preset.options)
    if rerun:
        previous = job_or_404(rerun)
        if previous.snapshot_id == snapshot.id and previous.job_key == schema.key:
            data.update({**previous.inputs, **previous.options})
    form = build_launch_form(
        schema, codes, codes, data=data, missing=missing_files_of(snapshot), prefill=True
    )
    return dialog(
        snapshot,
        schema,
        form,
        notify=bool(current_user.notify_by_email),
        preset=preset,
        notice=notice,
    )


@bp.post("/snapshots/<int:snapshot_id>/launch")
def create(snapshot_id: int):
    """Run the launch checks; on success, go to the new job's page."""
    snapshot = snapshot_or_404(snapshot_id, work=True)
    schema = chosen_schema()
    codes = snapshot.protein_codes
    form = build_launch_form(schema, codes, codes, missing=missing_files_of(snapshot))
    # The dialog always has the box; a post without it (no dialog) takes the user's default
    notify = (
        request.form.get("notify_by_email") == "1"
        if request.form.get("email_choice") == "1"
        else None
    )
    shown = bool(current_user.notify_by_email) if notify is None else notify
    if not form.validate():
        return dialog(snapshot, schema, form, notify=shown)
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
                notify_by_email=notify,
            )
        )
    except LaunchRefused as refused:
        attach_errors(form, refused.fields)
        return dialog(snapshot, schema, form, refused, notify=shown)
    target = url_for("jobs.detail", job_id=job.id)
    if request.htmx:
        return make_response("", 204, redirect=target)
    return redirect(target)


@bp.get("/jobs/<int:job_id>/")
def detail(job_id: int):
    """A job: inputs, options, status and history."""
    job = job_or_404(job_id)
    return render_template(
        "jobs/detail.html",
        job=job,
        schema=job_schemas().get(job.job_key),
        member=is_project_member(job.target),
        **status_context(job),
    )


def status_context(job) -> dict:
    """What the status panel shows besides the job: links and the actions allowed."""
    can_act = can_act_on_job(job)
    return {
        "squonk_url": squonk_task_url(job),
        "computed_set": job.computed_set,
        "can_act": can_act,
        "retry_import": can_act and can_retry_import(job),
    }


@bp.get("/jobs/<int:job_id>/status")
def status(job_id: int):
    """The job's status panel (what the HTMX poll fetches); 286 once final."""
    job = job_or_404(job_id)
    last_poll = job.job_status in FINAL and bool(request.htmx)
    events.fetch_on_poll(job, last_poll=last_poll)
    response = Response(render_template("jobs/_status.html", job=job, **status_context(job)))
    if job.job_status in FINAL and request.htmx:
        response.status_code = STOP_POLLING
    response.headers["Cache-Control"] = "no-store"
    return vary_on_htmx(response)


# --- lists with one poll for the whole table ----------------------------------------------


def job_list(stmt, base_url: str, title: str, target=None):
    """A filtered, paged job table; htmx polls of its body get just the rows.

    :param base_url: the list's path, without a query (not even the embed flag: the filter
        form and the pager add theirs)
    """
    status = request.args.get("status", "").upper()
    try:
        query = job_query(
            stmt,
            status=status,
            snapshot=query_id("snapshot"),
            job=request.args.get("job"),
        )
    except JobFilterError:
        abort(400, description=f"Unknown status {status!r}")
    jobs, page = job_page(
        query.options(*TABLE_DEFERRED),
        request.args.get("page", 1, type=int),
        current_app.config["JOBS_PER_PAGE"],
    )
    live = any(job.job_status not in FINAL for job in jobs)
    context = dict(
        jobs=jobs,
        live=live,
        page=page.number,
        pages=page.pages,
        total=page.total,
        status=status,
        title=title,
        target=target,
        base_url=base_url,
        statuses=ALL,
        schemas=job_schemas(),
        args=request.args,
    )
    if htmx_target("job-rows"):
        response = Response(render_template("jobs/_rows.html", **context))
        if not live:
            response.status_code = STOP_POLLING
        response.headers["Cache-Control"] = "no-store"
    else:
        response = Response(render_template("jobs/list.html", **context))
    return vary_on_htmx(response)


@bp.get("/jobs/")
def mine():
    """My jobs."""
    stmt = visible_jobs().where(JobRequest.user_id == current_user.id)
    return job_list(stmt, url_for("jobs.mine", embed=None), "My jobs")


@bp.get("/targets/<title>/jobs/")
def of_target(title: str):
    """Every job of a target the user may see."""
    target = target_or_404(title)
    stmt = visible_jobs().where(JobRequest.target_id == target.id)
    return job_list(
        stmt, url_for("jobs.of_target", title=title, embed=None), f"Jobs of {title}", target
    )


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
    back = request.referrer
    if back and back.startswith(request.host_url):
        back = "/" + back[len(request.host_url) :]
    return redirect(safe_next(back, url_for("jobs.detail", job_id=job.id)))


@bp.post("/jobs/<int:job_id>/describe")
def describe(job_id: int):
    """Set the job's summary and description."""
    job = job_or_404(job_id, act=True)
    try:
        describe_job(job, request.form.get("summary"), request.form.get("description"))
        flash("Saved.")
    except DescribeRefused as exc:
        flash(str(exc), "error")
    return redirect(url_for("jobs.detail", job_id=job.id))


@bp.post("/jobs/<int:job_id>/retry-import")
def retry_import(job_id: int):
    """Import a successful job's results again after a failed import."""
    job = job_or_404(job_id, act=True)
    if retry(job, current_user):
        flash("Importing the results again.")
    else:
        flash("There is nothing to import for this job.", "error")
    return redirect(url_for("jobs.detail", job_id=job.id))
