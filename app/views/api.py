"""JSON API (CONTRACTS.md section 4): targets, proteins, snapshots."""

from __future__ import annotations

from flask import Blueprint, abort, jsonify, request
from flask_login import current_user
from sqlalchemy import select

from app.access import snapshot_or_404, target_or_404, visible_targets
from app.extensions import db
from app.models import Protein, Snapshot, Target
from app.models.base import as_utc
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

TRANSFER_STATES = {"PENDING", "STARTED", "SUCCESS", "FAILURE"}


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
