"""Admin pages: targets' Squonk2 projects, users and their sessions, computed sets."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from sqlalchemy import func, select

from app.access import admin_or_404
from app.accounts.service import end_sessions
from app.extensions import db
from app.models import ApiToken, AuditEvent, ComputedSet, Target, User
from app.models.base import utcnow
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


@bp.get("/users/")
def users():
    """Every user: admin or not, disabled or not, live API tokens; end their sessions."""
    rows = db.session.scalars(select(User).order_by(User.username)).all()
    now = utcnow()
    live = (
        select(ApiToken.user_id, func.count())
        .where(ApiToken.revoked.is_(None))
        .where((ApiToken.expires.is_(None)) | (ApiToken.expires > now))
        .group_by(ApiToken.user_id)
    )
    tokens = dict(db.session.execute(live).tuples().all())
    return render_template("admin/users.html", users=rows, tokens=tokens)


@bp.post("/users/<int:user_id>/end-sessions")
def end_user_sessions(user_id: int):
    """Log a user out of every browser (their API tokens keep working)."""
    user = db.get_or_404(User, user_id)
    end_sessions(user)
    flash(f"{user.username}: every session ended; they must log in again.")
    return redirect(url_for("admin.users"))


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
