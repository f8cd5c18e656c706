"""JSON API: computed sets (Fragalysis-compatible ``compound-sets`` paths)."""

from __future__ import annotations

from flask import Blueprint, abort, jsonify, request, url_for
from flask_login import current_user
from sqlalchemy import select

from app.access import computed_set_or_404, require_member, target_or_404
from app.api import error, iso
from app.csets.service import (
    DuplicateUpload,
    create_computed_set,
    cset_list,
    delete_computed_set,
    duplicate_of,
    goes_to_background,
    queue_upload,
    send_sdf,
    upload_or_404,
    validate_upload,
)
from app.extensions import db
from app.models import ComputedMolecule

bp = Blueprint("csets_api", __name__, url_prefix="/api")


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
        "download_url": url_for("csets_api.download_compound_set", name=cset.name),
    }
    if molecules:
        rows = db.session.execute(
            select(
                ComputedMolecule.name,
                ComputedMolecule.smiles,
                ComputedMolecule.ref_mols,
                ComputedMolecule.ref_pdb,
                ComputedMolecule.scores,
                ComputedMolecule.flags,
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
                "flags": flags or [],
            }
            for name, smiles, ref_mols, ref_pdb, scores, flags in rows
        ]
    return body


def problems_json(report) -> list[dict]:
    return [
        {"record": p.record, "name": p.name, "field": p.field, "message": p.message}
        for p in report.problems
    ]


def form_flag(name: str) -> bool:
    return request.form.get(name, "").lower() in {"1", "true", "yes", "on"}


def compound_set_upload() -> tuple[bytes, bytes | None, bool]:
    """The multipart upload: ``sdf`` (required), ``pdb_zip``, ``validate_only``."""
    sdf = request.files.get("sdf")
    if sdf is None:
        abort(400, description="sdf (a multipart file) is required")
    pdb_zip = request.files.get("pdb_zip")
    return sdf.read(), pdb_zip.read() if pdb_zip else None, form_flag("validate_only")


def duplicate_answer(exc: DuplicateUpload):
    """409: the same file is already a set of this target; ``upload_anyway`` stores it."""
    existing = exc.existing
    return jsonify(
        {
            "error": f"This file is identical to computed set {existing.name} of this target; "
            "send upload_anyway=true to store it again",
            "fields": {"upload_anyway": "the same file is already a computed set of this target"},
            "computed_set": {
                "name": existing.name,
                "url": url_for("computed_sets.detail", name=existing.name),
            },
        }
    ), 409


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
    rows = cset_list(target=request.args.get("target"))
    return jsonify([compound_set_json(cset) for cset in rows])


@bp.post("/compound-sets/")
def create_compound_set():
    """Upload a computed set: multipart ``sdf``, ``target``, ``pdb_zip``?, ``validate_only``?,
    ``upload_anyway``? (store a file identical to an existing set of the target)."""
    title = request.form.get("target", "").strip()
    if not title:
        return error("target is required", target="required")
    target = target_or_404(title)
    require_member(target)
    sdf, pdb_zip, validate_only = compound_set_upload()
    anyway = form_flag("upload_anyway")
    if goes_to_background(sdf) and (validate_only or anyway or duplicate_of(target, sdf) is None):
        upload = queue_upload(
            target,
            sdf,
            current_user._get_current_object(),
            pdb_zip,
            file_name=request.files["sdf"].filename or "",
            validate_only=validate_only,
        )
        return jsonify(upload_json(upload)), 202
    if validate_only:
        return upload_answer(None, validate_upload(target, sdf, pdb_zip), True, 200)
    try:
        cset, report = create_computed_set(
            target,
            sdf,
            current_user._get_current_object(),
            pdb_zip,
            refuse_duplicate=not form_flag("upload_anyway"),
        )
    except DuplicateUpload as exc:
        return duplicate_answer(exc)
    return upload_answer(cset, report, False, 201)


def upload_json(upload) -> dict:
    """A background upload: its status, progress, problems and (once stored) its set."""
    cset = upload.computed_set
    return {
        "upload": upload.id,
        "status": upload.status,
        "progress": upload.progress,
        "molecule_count": upload.records,
        "validate_only": upload.validate_only,
        "message": upload.message,
        "problems": upload.problems or [],
        "computed_set": compound_set_json(cset) if cset is not None else None,
        "url": url_for("computed_sets.upload_progress", upload_id=upload.id),
        "status_url": url_for("csets_api.background_upload", upload_id=upload.id),
    }


@bp.get("/compound-sets/uploads/<int:upload_id>/")
def background_upload(upload_id: int):
    """A large upload handed to the background task (its uploader's, or any for an admin)."""
    return jsonify(upload_json(upload_or_404(upload_id)))


@bp.get("/compound-sets/<name>/")
def compound_set(name: str):
    """One set with a summary of its molecules."""
    return jsonify(compound_set_json(computed_set_or_404(name), molecules=True))


@bp.put("/compound-sets/<name>/")
def replace_compound_set(name: str):
    """Replace a set's file (owner or admin): multipart ``sdf``, ``pdb_zip``?, ``validate_only``?"""
    from app.access import computed_set_or_404

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
    delete_computed_set(computed_set_or_404(name, delete=True), current_user._get_current_object())
    return "", 204


@bp.get("/compound-sets/<name>/download")
def download_compound_set(name: str):
    """The stored SDF of a set."""
    return send_sdf(computed_set_or_404(name))
