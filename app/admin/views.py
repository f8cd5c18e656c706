"""Admin pages: targets' Squonk2 projects."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from sqlalchemy import select

from app.access import admin_or_404
from app.extensions import db
from app.models import AuditEvent, ComputedSet, Target
from app.targets.service import set_squonk_project

bp = Blueprint("admin", __name__, url_prefix="/admin")


@bp.before_request
def only_admins():
    admin_or_404()


@bp.get("/targets/")
def targets():
    """Every target with its Squonk2 project."""
    rows = db.session.scalars(select(Target).order_by(Target.title)).all()
    return render_template("admin/targets.html", targets=rows)


@bp.post("/targets/<int:target_id>/squonk-project")
def update_squonk_project(target_id: int):
    """Set a target's Squonk2 project."""
    target = db.get_or_404(Target, target_id)
    error = set_squonk_project(target, request.form.get("squonk_project", ""))
    if error:
        flash(f"{target.title}: {error}", "error")
    else:
        flash(f"{target.title}: Squonk2 project set to {target.default_squonk_project or 'none'}.")
    return redirect(url_for("admin.targets"))


@bp.get("/computed-sets/")
def computed_sets():
    """Every computed set with its owner, to delete any; and who deleted what, when."""
    rows = db.session.scalars(select(ComputedSet).order_by(ComputedSet.created.desc())).all()
    events = db.session.scalars(
        select(AuditEvent)
        .where(AuditEvent.object_type == "computed_set")
        .order_by(AuditEvent.time.desc(), AuditEvent.id.desc())
        .limit(50)
    ).all()
    return render_template("computed_sets/admin.html", sets=rows, events=events)
