"""Who may see and do what: the single access policy every view, API and task calls.

Rules:
- anonymous callers see nothing but the login page (and the health probes, and the
  Squonk2 callback, which carries its own secret);
- a logged-in user sees the targets of public projects and of the projects they belong to;
- an admin sees everything;
- anything a caller may not see is answered 404, exactly as if it did not exist.
"""

from __future__ import annotations

from flask import abort, request
from flask_login import current_user
from sqlalchemy import Select, or_, select

from app.accounts.memberships import is_member, member_project_ids
from app.extensions import db
from app.models import Project, Snapshot, Target, User

# Endpoints reachable without logging in; everything else is default-deny.
PUBLIC_ENDPOINTS = frozenset(
    {"auth.login", "static", "vendor_static", "health.healthz", "health.readyz", "health.metrics"}
)


def is_public_endpoint(endpoint: str | None) -> bool:
    return endpoint in PUBLIC_ENDPOINTS or (endpoint or "").startswith("callbacks.")


def visible_project_ids(user: User) -> Select:
    """Ids of projects whose targets the user may see (not used for admins)."""
    member_of = member_project_ids(user)
    return select(Project.id).where(
        or_(Project.open_to_public.is_(True), Project.id.in_(member_of))
    )


def visible_targets(user: User | None = None) -> Select:
    """A select of the targets the user may see."""
    user = user if user is not None else current_user
    stmt = select(Target)
    if not getattr(user, "is_authenticated", False):
        return stmt.where(False)
    if user.is_admin:
        return stmt
    return stmt.where(Target.project_id.in_(visible_project_ids(user)))


def can_view_target(target: Target, user: User | None = None) -> bool:
    user = user if user is not None else current_user
    if not getattr(user, "is_authenticated", False):
        return False
    if user.is_admin or target.project.open_to_public:
        return True
    return is_member(user, target.project)


def target_or_404(title: str) -> Target:
    """Load a target by title, or 404 if it does not exist or is not visible."""
    target = db.session.scalar(select(Target).where(Target.title == title))
    if target is None or not can_view_target(target):
        abort(404)
    return target


def snapshot_or_404(snapshot_id: int) -> Snapshot:
    """Load a snapshot, or 404 unless its target is visible to the caller."""
    snapshot = db.session.get(Snapshot, snapshot_id)
    if snapshot is None or not can_view_target(snapshot.target):
        abort(404)
    return snapshot


def require_login_for_request() -> None:
    """before_request hook: default-deny for anonymous callers."""
    if current_user.is_authenticated or is_public_endpoint(request.endpoint):
        return None
    from app.extensions import login_manager

    return login_manager.unauthorized()


# --- file transfers -------------------------------------------------------------------


def can_view_transfer(transfer, user: User | None = None) -> bool:
    """Own transfers, all transfers for admins, and others' only on public targets."""
    user = user if user is not None else current_user
    if not can_view_target(transfer.target, user):
        return False
    return user.is_admin or transfer.user_id == user.id or transfer.target.project.open_to_public


def visible_transfers(user: User | None = None) -> Select:
    from app.models import JobFileTransfer

    user = user if user is not None else current_user
    stmt = select(JobFileTransfer).join(Target, JobFileTransfer.target_id == Target.id)
    if user.is_admin:
        return stmt
    public = select(Project.id).where(Project.open_to_public.is_(True))
    return stmt.where(Target.project_id.in_(visible_project_ids(user))).where(
        or_(JobFileTransfer.user_id == user.id, Target.project_id.in_(public))
    )


def transfer_or_404(transfer_id: int):
    from app.models import JobFileTransfer

    transfer = db.session.get(JobFileTransfer, transfer_id)
    if transfer is None or not can_view_transfer(transfer):
        abort(404)
    return transfer


def admin_or_404() -> None:
    """Admin pages do not exist for anyone else."""
    if not (current_user.is_authenticated and current_user.is_admin):
        abort(404)


# --- jobs --------------------------------------------------------------------------------


def can_view_job(job, user: User | None = None) -> bool:
    """Whoever may see the target may follow its jobs."""
    return can_view_target(job.target, user)


def can_act_on_job(job, user: User | None = None) -> bool:
    """Cancel, re-run as the same row, describe: the job's owner or an admin."""
    user = user if user is not None else current_user
    return bool(getattr(user, "is_authenticated", False)) and (
        user.is_admin or job.user_id == user.id
    )


def visible_jobs(user: User | None = None) -> Select:
    from app.models import JobRequest

    user = user if user is not None else current_user
    stmt = select(JobRequest)
    if user.is_admin:
        return stmt
    return stmt.join(Target, JobRequest.target_id == Target.id).where(
        Target.project_id.in_(visible_project_ids(user))
    )


def job_or_404(job_id: int, act: bool = False):
    """Load a job the caller may see (404 otherwise); ``act``: and may act on (403)."""
    from app.models import JobRequest

    job = db.session.get(JobRequest, job_id)
    if job is None or not can_view_job(job):
        abort(404)
    if act and not can_act_on_job(job):
        abort(403)
    return job


# --- computed sets ---------------------------------------------------------------------


def can_view_computed_set(cset, user: User | None = None) -> bool:
    """A set is visible to whoever can see its target (own, others' and anonymous sets)."""
    return can_view_target(cset.target, user)


def can_delete_computed_set(cset, user: User | None = None) -> bool:
    """Owner or admin; an anonymous set (no owner) only an admin. Replace follows the same."""
    user = user if user is not None else current_user
    if not can_view_computed_set(cset, user):
        return False
    return user.is_admin or (cset.owner_id is not None and cset.owner_id == user.id)


def visible_computed_sets(user: User | None = None) -> Select:
    """A select of the computed sets whose targets the user may see."""
    from app.models import ComputedSet

    user = user if user is not None else current_user
    stmt = select(ComputedSet).join(Target, ComputedSet.target_id == Target.id)
    if not getattr(user, "is_authenticated", False):
        return stmt.where(False)
    if user.is_admin:
        return stmt
    return stmt.where(Target.project_id.in_(visible_project_ids(user)))


def computed_set_or_404(name: str, delete: bool = False):
    """Load a set the caller may see (404 otherwise); ``delete``: and may delete (403)."""
    from app.models import ComputedSet

    cset = db.session.scalar(select(ComputedSet).where(ComputedSet.name == name))
    if cset is None or not can_view_computed_set(cset):
        abort(404)
    if delete and not can_delete_computed_set(cset):
        abort(403)
    return cset
