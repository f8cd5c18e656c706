"""The job launcher dialog and the job page."""

from __future__ import annotations

from flask import (
    Blueprint,
    Response,
    current_app,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import current_user

from app import htmx
from app.access import job_or_404, snapshot_or_404
from app.launcher import attach_errors, build_launch_form, form_submission
from app.launches import LaunchRefused, LaunchRequest, job_schemas, launch

bp = Blueprint("jobs", __name__)


def dialog(snapshot, schema, form, refused: LaunchRefused | None = None, status: int = 200):
    """The dialog as an HTMX fragment, or inside a full page without JavaScript."""
    template = "jobs/_dialog.html" if htmx.is_htmx_request() else "jobs/launch.html"
    response = Response(render_template(
        template, snapshot=snapshot, target=snapshot.target, schema=schema, form=form,
        schemas=job_schemas(), refused=refused), status=status)
    return htmx.vary_on_htmx(response)


def chosen_schema():
    schemas = job_schemas()
    key = request.args.get("job") or next(iter(schemas))
    schema = schemas.get(key)
    if schema is None:
        from flask import abort

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
        job = launch(LaunchRequest(snapshot=snapshot, user=current_user, job=schema.key,
                                   inputs=inputs, options=options,
                                   summary=request.form.get("summary"),
                                   run_again=request.form.get("run_again") == "1"))
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
    return render_template("jobs/detail.html", job=job,
                           squonk_url=squonk_task_url(job),
                           schema=job_schemas().get(job.job_key))


def squonk_task_url(job) -> str | None:
    ui = current_app.config.get("SQUONK2_UI_URL")
    if not ui or not job.squonk_task_id:
        return None
    return f"{ui.rstrip('/')}/results/task/{job.squonk_task_id}"


@bp.get("/jobs/<int:job_id>/status")
def status(job_id: int):
    """The job's status panel (what the HTMX poll fetches); 286 once final."""
    from app.job_status import FINAL

    job = job_or_404(job_id)
    response = Response(render_template("jobs/_status.html", job=job,
                                        squonk_url=squonk_task_url(job)))
    if job.job_status in FINAL and htmx.is_htmx_request():
        response.status_code = htmx.STOP_POLLING
    response.headers["Cache-Control"] = "no-store"
    return htmx.vary_on_htmx(response)
