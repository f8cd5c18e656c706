"""Sending a snapshot's files to Squonk2, and the live transfer panel."""

from __future__ import annotations

from flask import Blueprint, Response, flash, redirect, render_template, request, url_for
from flask_login import current_user

from app.access import snapshot_or_404, transfer_or_404
from app.models import JobFileTransfer
from app.transfers.service import (
    TransferError,
    check_summary,
    latest_transfer,
    not_sent_text,
    request_transfer,
    transfer_list,
)
from app.web import STOP_POLLING, vary_on_htmx

bp = Blueprint("transfers", __name__)

# "Not sent: the proteins lack these files: ..." and "checked at 12:03 UTC: ..." for a row
bp.add_app_template_filter(not_sent_text, "not_sent")
bp.add_app_template_filter(check_summary, "check_summary")


def panel(transfer: JobFileTransfer | None, snapshot, error: str | None = None) -> Response:
    """The panel fragment; 286 once final so htmx stops polling."""
    response = Response(
        render_template("transfers/_panel.html", transfer=transfer, snapshot=snapshot, error=error)
    )
    if transfer is not None and transfer.is_final:
        response.status_code = STOP_POLLING if request.htmx else 200
    response.headers["Cache-Control"] = "no-store"
    return vary_on_htmx(response)


@bp.post("/snapshots/<int:snapshot_id>/transfer")
def start(snapshot_id: int):
    """Send the snapshot's files to the target's Squonk2 project."""
    snapshot = snapshot_or_404(snapshot_id, work=True)
    recheck = request.form.get("recheck") == "1"  # "Check files in Squonk2 again"
    try:
        transfer, _ = request_transfer(snapshot, current_user, recheck=recheck)
    except TransferError as exc:
        if request.htmx:
            response = panel(latest_transfer(snapshot.id), snapshot, error=str(exc))
            response.status_code = 200  # htmx 2 swaps only 2xx
            return response
        flash(str(exc), "error")
        return redirect(url_for("snapshots.detail", snapshot_id=snapshot.id))
    if request.htmx:
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
    rows = transfer_list(snapshot=snapshot.id)
    return render_template("transfers/history.html", snapshot=snapshot, transfers=rows)
