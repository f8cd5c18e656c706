"""Sending a snapshot's files to Squonk2, and the live transfer panel."""

from __future__ import annotations

from flask import Blueprint, Response, flash, redirect, render_template, url_for
from flask_login import current_user

from app import htmx
from app.access import snapshot_or_404, transfer_or_404, visible_transfers
from app.extensions import db
from app.models import JobFileTransfer
from app.transfers import TransferError, request_transfer

bp = Blueprint("transfers", __name__)


def latest_transfer(snapshot_id: int) -> JobFileTransfer | None:
    """The newest transfer of a snapshot the current user may see."""
    return db.session.scalars(
        visible_transfers()
        .where(JobFileTransfer.snapshot_id == snapshot_id)
        .order_by(JobFileTransfer.id.desc())
        .limit(1)
    ).first()


def panel(transfer: JobFileTransfer | None, snapshot, error: str | None = None) -> Response:
    """The panel fragment; 286 once final so htmx stops polling."""
    response = Response(
        render_template("transfers/_panel.html", transfer=transfer, snapshot=snapshot, error=error)
    )
    if transfer is not None and transfer.is_final:
        response.status_code = htmx.STOP_POLLING if htmx.is_htmx_request() else 200
    response.headers["Cache-Control"] = "no-store"
    return htmx.vary_on_htmx(response)


@bp.post("/snapshots/<int:snapshot_id>/transfer")
def start(snapshot_id: int):
    """Send the snapshot's files to the target's Squonk2 project."""
    snapshot = snapshot_or_404(snapshot_id)
    try:
        transfer, _ = request_transfer(snapshot, current_user)
    except TransferError as exc:
        if htmx.is_htmx_request():
            response = panel(latest_transfer(snapshot.id), snapshot, error=str(exc))
            response.status_code = 200  # htmx 2 swaps only 2xx
            return response
        flash(str(exc), "error")
        return redirect(url_for("snapshots.detail", snapshot_id=snapshot.id))
    if htmx.is_htmx_request():
        response = panel(transfer, snapshot)
        response.status_code = 200  # the first answer must swap in the polling panel
        return response
    return redirect(url_for("snapshots.detail", snapshot_id=snapshot.id))


@bp.get("/transfers/<int:transfer_id>/panel")
def show_panel(transfer_id: int):
    """The transfer's status panel (what the HTMX poll fetches)."""
    transfer = transfer_or_404(transfer_id)
    return panel(transfer, transfer.snapshot)


@bp.get("/snapshots/<int:snapshot_id>/transfers/")
def history(snapshot_id: int):
    """Every transfer of a snapshot the user may see."""
    snapshot = snapshot_or_404(snapshot_id)
    rows = db.session.scalars(
        visible_transfers()
        .where(JobFileTransfer.snapshot_id == snapshot.id)
        .order_by(JobFileTransfer.id.desc())
    ).all()
    return render_template("transfers/history.html", snapshot=snapshot, transfers=rows)
