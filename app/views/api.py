"""JSON API (CONTRACTS.md section 4): targets, proteins, snapshots."""

from __future__ import annotations

from flask import Blueprint, abort, jsonify, request, url_for
from flask_login import current_user
from sqlalchemy import select

from app.access import snapshot_or_404, target_or_404, visible_targets
from app.extensions import db
from app.models import Protein, Snapshot, Target
from app.models.base import as_utc
from app.models.transfers import FAILURE, PENDING, STARTED, SUCCESS
from app.snapshots import SnapshotError, create_snapshot
from app.views.targets import protein_counts

bp = Blueprint("api", __name__, url_prefix="/api")


def iso(value) -> str | None:
    """ISO 8601 with the UTC offset, whatever the database handed back."""
    return as_utc(value).isoformat() if value is not None else None


def json_body() -> dict:
    """The request's JSON object, or a 400 saying what is wrong."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        abort(400, description="The body must be a JSON object")
    return body


def target_json(target: Target, protein_count: int) -> dict:
    return {
        "title": target.title,
        "project": target.project.title,
        "open_to_public": target.project.open_to_public,
        "default_squonk_project": target.default_squonk_project,
        "last_updated_datetime": iso(target.last_updated_datetime),
        "protein_count": protein_count,
    }


def snapshot_json(snapshot: Snapshot) -> dict:
    return {
        "id": snapshot.id,
        "title": snapshot.title,
        "description": snapshot.description,
        "target": snapshot.target.title,
        "author": snapshot.author.username if snapshot.author else None,
        "created": iso(snapshot.created),
        "proteins": snapshot.protein_codes,
    }


@bp.get("/targets/")
def targets():
    """Targets the caller may see."""
    rows = db.session.scalars(visible_targets().order_by(Target.title)).all()
    counts = protein_counts([t.id for t in rows])
    return jsonify([target_json(t, counts.get(t.id, 0)) for t in rows])


@bp.get("/targets/<title>/proteins/")
def proteins(title: str):
    """Every protein of a visible target with its SMILES and which files exist."""
    target = target_or_404(title)
    rows = db.session.execute(
        select(Protein.code, Protein.smiles, Protein.mol_file, Protein.apo_desolv_file)
        .where(Protein.target_id == target.id)
        .order_by(Protein.code)
    ).all()
    return jsonify(
        [
            {
                "code": code,
                "smiles": smiles,
                "files": {"mol": mol is not None, "apo_desolv": apo is not None},
            }
            for code, smiles, mol, apo in rows
        ]
    )


@bp.post("/snapshots/")
def create_snapshot_api():
    """Create a snapshot: ``{"target": title, "proteins": [codes], "title"?}``."""
    body = json_body()
    title, codes = body.get("target"), body.get("proteins")
    if not isinstance(title, str) or not title:
        return jsonify({"error": "target is required", "fields": {"target": "required"}}), 400
    if not isinstance(codes, list) or not all(isinstance(c, str) for c in codes):
        return jsonify(
            {
                "error": "proteins must be a list of protein codes",
                "fields": {"proteins": "a list of strings"},
            }
        ), 400
    target = target_or_404(title)
    try:
        snapshot = create_snapshot(
            target,
            codes,
            current_user,
            title=body.get("title"),
            description=body.get("description"),
        )
    except SnapshotError as exc:
        return jsonify({"error": str(exc), "fields": {"proteins": str(exc)}}), 400
    return jsonify(snapshot_json(snapshot)), 201


@bp.get("/snapshots/<int:snapshot_id>/")
def snapshot(snapshot_id: int):
    """One snapshot."""
    return jsonify(snapshot_json(snapshot_or_404(snapshot_id)))


# --- file transfers -------------------------------------------------------------------

TRANSFER_STATES = {PENDING, STARTED, SUCCESS, FAILURE}


def transfer_json(transfer) -> dict:
    return {
        "id": transfer.id,
        "snapshot": transfer.snapshot_id,
        "target": transfer.target.title,
        "user": transfer.user.username if transfer.user else None,
        "squonk_project": transfer.squonk_project,
        "proteins": transfer.proteins,
        "compounds": transfer.compounds,
        "transfer_status": transfer.transfer_status,
        "transfer_progress": transfer.transfer_progress,
        "transfer_datetime": iso(transfer.transfer_datetime),
        "files_total": transfer.files_total,
        "files_uploaded": transfer.files_uploaded,
        "files_skipped": transfer.files_skipped,
        "message": transfer.message,
        "created": iso(transfer.created),
    }


@bp.get("/job_file_transfer/")
def transfers():
    """Transfers the caller may see, filterable by snapshot, target and status."""
    from app.access import visible_transfers
    from app.models import JobFileTransfer

    stmt = visible_transfers()
    if request.args.get("snapshot"):
        stmt = stmt.where(JobFileTransfer.snapshot_id == request.args.get("snapshot", type=int))
    if request.args.get("target"):
        stmt = stmt.where(Target.title == request.args["target"])
    if request.args.get("status"):
        status = request.args["status"].upper()
        if status not in TRANSFER_STATES:
            return jsonify(
                {
                    "error": f"status must be one of {', '.join(sorted(TRANSFER_STATES))}",
                    "fields": {"status": "unknown status"},
                }
            ), 400
        stmt = stmt.where(JobFileTransfer.transfer_status == status)
    rows = db.session.scalars(stmt.order_by(JobFileTransfer.id.desc()).limit(500)).all()
    return jsonify([transfer_json(t) for t in rows])


@bp.post("/job_file_transfer/")
def create_transfer():
    """``{"snapshot": id, "proteins"?: [codes]}`` -> 201 (new) or 200 (fresh or in flight)."""
    from app.transfers import TransferError, request_transfer

    body = json_body()
    snapshot_id = body.get("snapshot")
    if not isinstance(snapshot_id, int) or isinstance(snapshot_id, bool):
        return jsonify(
            {"error": "snapshot must be a snapshot id", "fields": {"snapshot": "an integer id"}}
        ), 400
    snapshot = snapshot_or_404(snapshot_id)
    try:
        transfer, created = request_transfer(snapshot, current_user, body.get("proteins"))
    except TransferError as exc:
        return jsonify({"error": str(exc), "fields": {"proteins": str(exc)}}), 400
    return jsonify(transfer_json(transfer)), 201 if created else 200


@bp.get("/job_file_transfer/<int:transfer_id>/")
def transfer(transfer_id: int):
    """One transfer."""
    from app.access import transfer_or_404

    return jsonify(transfer_json(transfer_or_404(transfer_id)))


# --- jobs ----------------------------------------------------------------------------------


def computed_set_name(set_id: int | None) -> str | None:
    from app.models import ComputedSet

    return (
        db.session.scalar(select(ComputedSet.name).where(ComputedSet.id == set_id))
        if set_id
        else None
    )


def job_json(job, events: bool = False) -> dict:
    """A job as the API shows it; never the callback secret (nor its hash or nonce)."""
    from app.views.jobs import squonk_task_url

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
        "computed_set": computed_set_name(job.computed_set_id),
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
    from app.launcher import job_config_json
    from app.launches import job_schemas

    return jsonify([job_config_json(schema) for schema in job_schemas().values()])


@bp.post("/job_request/")
def create_job_request():
    """Launch: ``{"snapshot", "job", "inputs", "options", "summary"?, "run_again"?}``."""
    from app.launches import LaunchRefused, LaunchRequest, launch

    body = json_body()
    snapshot_id = body.get("snapshot")
    if not isinstance(snapshot_id, int) or isinstance(snapshot_id, bool):
        return jsonify(
            {"error": "snapshot must be a snapshot id", "fields": {"snapshot": "an integer id"}}
        ), 400
    if not isinstance(body.get("job"), str):
        return jsonify(
            {"error": "job must name a job (see /api/job_config/)", "fields": {"job": "required"}}
        ), 400
    snapshot = snapshot_or_404(snapshot_id)
    try:
        job = launch(
            LaunchRequest(
                snapshot=snapshot,
                user=current_user,
                job=body["job"],
                inputs=body.get("inputs") or {},
                options=body.get("options") or {},
                summary=body.get("summary") if isinstance(body.get("summary"), str) else None,
                run_again=body.get("run_again") is True,
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
    """Jobs the caller may see, filterable by snapshot, target, status and job."""
    from app.access import visible_jobs
    from app.job_status import ALL
    from app.models import JobRequest

    stmt = visible_jobs()
    if request.args.get("snapshot"):
        stmt = stmt.where(JobRequest.snapshot_id == request.args.get("snapshot", type=int))
    if request.args.get("target"):
        stmt = stmt.where(JobRequest.target.has(Target.title == request.args["target"]))
    if request.args.get("job"):
        stmt = stmt.where(JobRequest.job_key == request.args["job"])
    if request.args.get("status"):
        status = request.args["status"].upper()
        if status not in ALL:
            return jsonify(
                {
                    "error": f"status must be one of {', '.join(ALL)}",
                    "fields": {"status": "unknown status"},
                }
            ), 400
        stmt = stmt.where(JobRequest.job_status == status)
    rows = db.session.scalars(stmt.order_by(JobRequest.id.desc()).limit(500)).all()
    return jsonify([job_json(j) for j in rows])


@bp.get("/job_request/<int:job_id>/")
def job_request(job_id: int):
    """One job with its events."""
    from app.access import job_or_404

    return jsonify(job_json(job_or_404(job_id), events=True))


# --- computed sets ---------------------------------------------------------------------------


def compound_set_json(cset, molecules: bool = False) -> dict:
    """A computed set as the API shows it; ``molecules`` adds a summary of each molecule."""
    body = {
        "name": cset.name,
        "target": cset.target.title,
        "owner": cset.owner.username if cset.owner else None,
        "submitter_name": cset.submitter_name,
        "submitter_email": cset.submitter_email,
        "submitter_institution": cset.submitter_institution,
        "method": cset.method,
        "ref_url": cset.ref_url,
        "generation_date": cset.generation_date.isoformat(),
        "descriptions": cset.descriptions,
        "score_names": cset.score_names,
        "molecule_count": cset.molecule_count,
        "job_request": cset.job_request_id,
        "created": iso(cset.created),
        "updated": iso(cset.updated),
        "url": url_for("computed_sets.detail", name=cset.name),
        "download_url": url_for("api.download_compound_set", name=cset.name),
    }
    if molecules:
        from app.models import ComputedMolecule

        rows = db.session.execute(
            select(
                ComputedMolecule.name,
                ComputedMolecule.smiles,
                ComputedMolecule.ref_mols,
                ComputedMolecule.ref_pdb,
                ComputedMolecule.scores,
            )
            .where(ComputedMolecule.computed_set_id == cset.id)
            .order_by(ComputedMolecule.id)
        ).all()
        body["molecules"] = [
            {
                "name": name,
                "smiles": smiles,
                "ref_mols": ref_mols,
                "ref_pdb": ref_pdb,
                "scores": scores,
            }
            for name, smiles, ref_mols, ref_pdb, scores in rows
        ]
    return body


def problems_json(report) -> list[dict]:
    return [
        {"record": p.record, "name": p.name, "field": p.field, "message": p.message}
        for p in report.problems
    ]


def compound_set_upload() -> tuple[bytes, bytes | None, bool]:
    """The multipart upload: ``sdf`` (required), ``pdb_zip``, ``validate_only``."""
    sdf = request.files.get("sdf")
    if sdf is None:
        abort(400, description="sdf (a multipart file) is required")
    pdb_zip = request.files.get("pdb_zip")
    validate_only = request.form.get("validate_only", "").lower() in {"1", "true", "yes", "on"}
    return sdf.read(), pdb_zip.read() if pdb_zip else None, validate_only


def upload_answer(cset, report, validate_only: bool, created_status: int):
    """201/200 with the set, 200 for a valid validate-only, 400 with every problem."""
    if not report.ok:
        return jsonify(
            {"error": "The file is not a valid computed set", "problems": problems_json(report)}
        ), 400
    if validate_only:
        parsed = report.parsed
        return jsonify(
            {
                "valid": True,
                "molecule_count": len(parsed.molecules),
                "score_names": parsed.score_names,
                "method": parsed.method,
            }
        ), 200
    return jsonify(compound_set_json(cset)), created_status


@bp.get("/compound-sets/")
def compound_sets():
    """Computed sets the caller may see, filterable by ``?target=``."""
    from app.access import visible_computed_sets
    from app.models import ComputedSet

    stmt = visible_computed_sets()
    if request.args.get("target"):
        stmt = stmt.where(Target.title == request.args["target"])
    rows = db.session.scalars(stmt.order_by(ComputedSet.created.desc(), ComputedSet.id.desc()))
    return jsonify([compound_set_json(cset) for cset in rows])


@bp.post("/compound-sets/")
def create_compound_set():
    """Upload a computed set: multipart ``sdf``, ``target``, ``pdb_zip``?, ``validate_only``?"""
    from app.csets.store import create_computed_set, validate_upload

    title = request.form.get("target", "").strip()
    if not title:
        return jsonify({"error": "target is required", "fields": {"target": "required"}}), 400
    target = target_or_404(title)
    sdf, pdb_zip, validate_only = compound_set_upload()
    if validate_only:
        return upload_answer(None, validate_upload(target, sdf, pdb_zip), True, 200)
    cset, report = create_computed_set(target, sdf, current_user._get_current_object(), pdb_zip)
    return upload_answer(cset, report, False, 201)


@bp.get("/compound-sets/<name>/")
def compound_set(name: str):
    """One set with a summary of its molecules."""
    from app.access import computed_set_or_404

    return jsonify(compound_set_json(computed_set_or_404(name), molecules=True))


@bp.put("/compound-sets/<name>/")
def replace_compound_set(name: str):
    """Replace a set's file (owner or admin): multipart ``sdf``, ``pdb_zip``?, ``validate_only``?"""
    from app.access import computed_set_or_404
    from app.csets.store import create_computed_set, validate_upload

    cset = computed_set_or_404(name, delete=True)
    sdf, pdb_zip, validate_only = compound_set_upload()
    if validate_only:
        return upload_answer(None, validate_upload(cset.target, sdf, pdb_zip), True, 200)
    stored, report = create_computed_set(
        cset.target, sdf, current_user._get_current_object(), pdb_zip, replace=cset
    )
    return upload_answer(stored, report, False, 200)


@bp.delete("/compound-sets/<name>/")
def delete_compound_set(name: str):
    """Delete a set (owner or admin; anonymous sets: admin only)."""
    from app.access import computed_set_or_404
    from app.csets.store import delete_computed_set

    delete_computed_set(computed_set_or_404(name, delete=True), current_user._get_current_object())
    return "", 204


@bp.get("/compound-sets/<name>/download")
def download_compound_set(name: str):
    """The stored SDF of a set."""
    from app.access import computed_set_or_404
    from app.views.computed_sets import send_sdf

    return send_sdf(computed_set_or_404(name))


@bp.delete("/job_request/<int:job_id>/")
def cancel_job_request(job_id: int):
    """Cancel a queued or running job (owner or admin: 403 for others who may see it)."""
    from app.access import job_or_404
    from app.launches import CancelRefused, cancel

    job = job_or_404(job_id, act=True)
    try:
        cancel(job, current_user)
    except CancelRefused as exc:
        return jsonify({"error": str(exc)}), 409
    return jsonify(job_json(job, events=True))


@bp.post("/job_status/")
def job_status_bulk():
    """``{"ids": [..]}`` -> ``{"<id>": "<status>"}`` for the jobs the caller may see."""
    from app.access import visible_jobs
    from app.models import JobRequest

    ids = json_body().get("ids")
    if (
        not isinstance(ids, list)
        or not all(isinstance(i, int) and not isinstance(i, bool) for i in ids)
        or len(ids) > 1000
    ):
        return jsonify(
            {
                "error": "ids must be a list of at most 1000 job ids",
                "fields": {"ids": "a list of integers"},
            }
        ), 400
    rows = db.session.execute(
        visible_jobs()
        .with_only_columns(JobRequest.id, JobRequest.job_status)
        .where(JobRequest.id.in_(ids))
    ).all()
    return jsonify({str(job_id): status for job_id, status in rows})
