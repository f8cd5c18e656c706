"""Admin pages: targets' Squonk2 projects; people (accounts, memberships, sessions, API
tokens) and their audit trail; computed sets."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from app.access import admin_or_404
from app.accounts.memberships import source as membership_source
from app.accounts.service import (
    AccountError,
    TokenError,
    add_membership,
    describe_time,
    disable_user,
    enable_user,
    end_sessions,
    ispyb_project_names,
    people_events,
    project_titled,
    remove_membership,
    revoke_token,
    set_admin,
    tokens_of,
)
from app.extensions import db
from app.models import ApiToken, AuditEvent, ComputedSet, Project, Target, User
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
    """Every user: local or Keycloak, admin or not, disabled or not, their memberships and
    where they come from, live API tokens; end their sessions."""
    rows = db.session.scalars(
        select(User).options(selectinload(User.projects)).order_by(User.username)
    ).all()
    now = utcnow()
    live = (
        select(ApiToken.user_id, func.count())
        .where(ApiToken.revoked.is_(None))
        .where((ApiToken.expires.is_(None)) | (ApiToken.expires > now))
        .group_by(ApiToken.user_id)
    )
    tokens = dict(db.session.execute(live).tuples().all())
    return render_template(
        "admin/users.html",
        users=rows,
        tokens=tokens,
        ispyb_names=ispyb_project_names(rows),
        membership_source=membership_source(),
    )


def user_or_404(user_id: int) -> User:
    """The user with this id, their local memberships loaded, or 404."""
    user = db.session.scalar(
        select(User).options(selectinload(User.projects)).where(User.id == user_id)
    )
    if user is None:
        abort(404)
    return user


def back_to(user: User, default: str = "user"):
    """Back to the page the form was on: the user's page or (``back=users``) the list."""
    if request.form.get("back", default) == "users":
        return redirect(url_for("admin.users"))
    return redirect(url_for("admin.user", user_id=user.id))


def acting_admin() -> User:
    return current_user._get_current_object()


@bp.get("/users/<int:user_id>/")
def user(user_id: int):
    """One user: details, memberships, API tokens, what admins did to the account."""
    row = user_or_404(user_id)
    taken = {p.id for p in row.projects}
    projects = [
        p for p in db.session.scalars(select(Project).order_by(Project.title)) if p.id not in taken
    ]
    names = ispyb_project_names([row])
    return render_template(
        "admin/user.html",
        user=row,
        projects=projects,
        tokens=tokens_of(row),
        events=people_events(row, limit=50),
        ispyb_names=names[row.id] if names is not None else None,
        membership_source=membership_source(),
        now=utcnow(),
        describe_time=describe_time,
    )


@bp.post("/users/<int:user_id>/memberships")
def add_user_membership(user_id: int):
    """Make a user a member of an existing project (the local membership table)."""
    row = user_or_404(user_id)
    try:
        project = project_titled(request.form.get("project"))
    except AccountError as exc:
        flash(f"{row.username}: {exc}", "error")
        return back_to(row)
    if add_membership(row, project, by=acting_admin()):
        flash(f"{row.username} is now a member of {project.title} (local membership).")
    else:
        flash(f"{row.username} is already a member of {project.title}; nothing changed.", "error")
    return back_to(row)


@bp.post("/users/<int:user_id>/memberships/<int:project_id>/remove")
def remove_user_membership(user_id: int, project_id: int):
    """End a user's local membership of a project."""
    row = user_or_404(user_id)
    project = db.get_or_404(Project, project_id)
    if remove_membership(row, project, by=acting_admin()):
        flash(f"{row.username} is no longer a member of {project.title} (local membership).")
    else:
        flash(f"{row.username} is not a member of {project.title}; nothing changed.", "error")
    return back_to(row)


@bp.post("/users/<int:user_id>/disable")
def disable(user_id: int):
    """Refuse a user's log-ins, sessions and API tokens."""
    row = user_or_404(user_id)
    try:
        done = disable_user(row, by=acting_admin())
    except AccountError as exc:
        flash(str(exc), "error")
        return back_to(row)
    if done:
        flash(f"{row.username} is disabled: sessions ended, log-in and API tokens refused.")
    else:
        flash(f"{row.username} is already disabled; nothing changed.", "error")
    return back_to(row)


@bp.post("/users/<int:user_id>/enable")
def enable(user_id: int):
    """Let a disabled user log in again (their unrevoked, unexpired tokens work again)."""
    row = user_or_404(user_id)
    if enable_user(row, by=acting_admin()):
        flash(f"{row.username} is enabled: log-in and unrevoked API tokens accepted again.")
    else:
        flash(f"{row.username} is not disabled; nothing changed.", "error")
    return back_to(row)


@bp.post("/users/<int:user_id>/admin")
def set_admin_flag(user_id: int):
    """Make a user an admin (``admin=yes``) or not (``admin=no``)."""
    row = user_or_404(user_id)
    wanted = request.form.get("admin")
    if wanted not in ("yes", "no"):
        flash(f"{row.username}: say admin=yes or admin=no; nothing changed.", "error")
        return back_to(row)
    try:
        done = set_admin(row, wanted == "yes", by=acting_admin())
    except AccountError as exc:
        flash(str(exc), "error")
        return back_to(row)
    if not done:
        state = "an admin" if row.is_admin else "not an admin"
        flash(f"{row.username} is already {state}; nothing changed.", "error")
    elif row.is_admin:
        flash(f"{row.username} is now an admin.")
    else:
        flash(f"{row.username} is no longer an admin.")
    return back_to(row)


@bp.post("/users/<int:user_id>/end-sessions")
def end_user_sessions(user_id: int):
    """Log a user out of every browser (their API tokens keep working)."""
    row = user_or_404(user_id)
    end_sessions(row, by=acting_admin())
    flash(f"{row.username}: every session ended; they must log in again.")
    return back_to(row, default="users")


@bp.post("/users/<int:user_id>/tokens/<int:token_id>/revoke")
def revoke_user_token(user_id: int, token_id: int):
    """Revoke one of a user's API tokens (kept, listed, never accepted again)."""
    row = user_or_404(user_id)
    try:
        token = revoke_token(row, str(token_id), by=acting_admin())
    except TokenError as exc:
        flash(f"{exc}; nothing changed.", "error")
        return back_to(row)
    flash(f"{row.username}'s API token {token.name} is revoked: it is refused from now on.")
    return back_to(row)


@bp.get("/audit/")
def audit():
    """The people audit trail: what admins and the command line did to accounts."""
    return render_template("admin/audit.html", events=people_events(limit=200))


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
