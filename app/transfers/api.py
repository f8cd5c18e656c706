"""JSON API: snapshot file transfers to Squonk2."""

from __future__ import annotations

from flask import Blueprint, jsonify, request
from flask_login import current_user

from app.access import snapshot_or_404, transfer_or_404
from app.api import ID, body_schema, codes, error, iso, query_id, valid_body
from app.transfers.service import (
    TRANSFER_STATES,
    TransferError,
    TransferFilterError,
    not_sent_text,
    request_transfer,
    transfer_list,
)

bp = Blueprint("transfers_api", __name__, url_prefix="/api")


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
        # the files the proteins lack, not sent: [{"protein", "kind", "file"}]
        "files_missing": transfer.files_missing or [],
        "not_sent": not_sent_text(transfer.files_missing),
        "message": transfer.message,
        "created": iso(transfer.created),
    }


@bp.get("/job_file_transfer/")
def transfers():
    """Transfers the caller may see, filterable by snapshot, target and status."""
    try:
        rows = transfer_list(
            snapshot=query_id("snapshot"),
            target=request.args.get("target"),
            status=request.args.get("status"),
            limit=500,
        )
    except TransferFilterError:
        return error(
            f"status must be one of {', '.join(sorted(TRANSFER_STATES))}", status="unknown status"
        )
    return jsonify([transfer_json(t) for t in rows])


TRANSFER_BODY = body_schema({"snapshot": ID, "proteins": codes()}, required=("snapshot",))


@bp.post("/job_file_transfer/")
def create_transfer():
    """``{"snapshot": id, "proteins"?: [codes]}`` -> 201 (new) or 200 (fresh or in flight)."""
    body = valid_body(TRANSFER_BODY)
    snapshot = snapshot_or_404(body["snapshot"], work=True)
    try:
        transfer, created = request_transfer(snapshot, current_user, body.get("proteins"))
    except TransferError as exc:
        return error(str(exc), proteins=str(exc))
    return jsonify(transfer_json(transfer)), 201 if created else 200


@bp.get("/job_file_transfer/<int:transfer_id>/")
def transfer(transfer_id: int):
    """One transfer."""
    return jsonify(transfer_json(transfer_or_404(transfer_id)))
