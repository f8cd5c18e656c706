"""Create a snapshot from the target page's selection; show a snapshot."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user

from app.access import snapshot_or_404, target_or_404
from app.snapshots import SnapshotError, create_snapshot

bp = Blueprint("snapshots", __name__)


@bp.post("/targets/<title>/snapshots/")
def create(title: str):
    """Create a snapshot of the checked proteins."""
    target = target_or_404(title)
    try:
        snapshot = create_snapshot(
            target,
            request.form.getlist("proteins"),
            current_user,
            title=request.form.get("title"),
            description=request.form.get("description"),
        )
    except SnapshotError as exc:
        flash(str(exc), "error")
        return redirect(url_for("targets.detail", title=target.title))
    flash(f"Snapshot “{snapshot.title}” created with {len(snapshot.proteins)} proteins.")
    return redirect(url_for("snapshots.detail", snapshot_id=snapshot.id))


@bp.get("/snapshots/<int:snapshot_id>/")
def detail(snapshot_id: int):
    """A snapshot and its selection."""
    from app.launches import job_schemas
    from app.views.transfers import latest_transfer

    snapshot = snapshot_or_404(snapshot_id)
    return render_template(
        "snapshots/detail.html",
        snapshot=snapshot,
        target=snapshot.target,
        transfer=latest_transfer(snapshot.id),
        job_schemas=job_schemas(),
    )
