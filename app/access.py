"""Who may see and do what: the single access policy every view, API and task calls.

Rules:
- anonymous callers see nothing but the login page (and the health probes, and the
  Squonk2 callback, which carries its own secret);
- a logged-in user sees the targets of public projects and of the projects they belong to;
- *working* on a target (sending its files to Squonk2, launching, cancelling or re-running
  a job, uploading a computed set) needs membership of the target's project, public targets
  included (Fragalysis' rule); admins count as members of every project;
- another user's snapshots, transfers and job requests are visible to members of the
  target's project only; one's own stay visible; computed sets are published results,
  visible to everyone who may see the target;
- deleting or replacing a computed set: its owner or an admin;
- anything a caller may not see is answered 404, exactly as if it did not exist; a refusal
  on something they may see is 403 and says why ("You are not a member of project P").

Memberships come from the source ``MEMBERSHIP_SOURCE`` names (app.accounts.memberships).
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
    {
        "auth.login",
        "auth.login_check",
        "auth.oidc_login",
        "auth.oidc_callback",
        "static",
        "vendor_static",
        "health.healthz",
        "health.readyz",
        "health.metrics",
    }
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


def is_project_member(target: Target, user: User | None = None) -> bool:
    """May the user work on the target: an admin, or a member of its project?"""
    user = user if user is not None else current_user
    if not getattr(user, "is_authenticated", False):
        return False
    return bool(user.is_admin) or is_member(user, target.project)


def not_a_member(target: Target) -> str:
    return f"You are not a member of project {target.project.title}"


def require_member(target: Target) -> None:
    """403 with the reason unless the caller may work on the target."""
    if not is_project_member(target):
        abort(403, description=not_a_member(target))


def sees_others_work(user: User, target: Target) -> bool:
    """Others' snapshots, transfers and job requests: for members (and admins) only."""
    return is_project_member(target, user)


def visible_work(user: User, owner_column, target_project_column):
    """The SQL condition for rows of others' work (snapshots, transfers, jobs): the caller's
    own, or on a project the caller is a member of. Not used for admins."""
    return or_(owner_column == user.id, target_project_column.in_(member_project_ids(user)))


def target_or_404(title: str) -> Target:
    """Load a target by title, or 404 if it does not exist or is not visible."""
    target = db.session.scalar(select(Target).where(Target.title == title))
    if target is None or not can_view_target(target):
        abort(404)
    return target


def protein_or_404(protein_id: int):
    """Load a protein of a target the caller may see, or 404."""
    from app.models import Protein

    protein = db.session.get(Protein, protein_id)
    if protein is None or not can_view_target(protein.target):
        abort(404)
    return protein


def can_view_snapshot(snapshot: Snapshot, user: User | None = None) -> bool:
    """One's own snapshots of a visible target, and others' for project members."""
    user = user if user is not None else current_user
    if not can_view_target(snapshot.target, user):
        return False
    return snapshot.author_id == user.id or sees_others_work(user, snapshot.target)


def visible_snapshots(target: Target, user: User | None = None) -> Select:
    """A select of the snapshots of a (visible) target the user may see."""
    user = user if user is not None else current_user
    stmt = select(Snapshot).where(Snapshot.target_id == target.id)
    if sees_others_work(user, target):
        return stmt
    return stmt.where(Snapshot.author_id == user.id)


def snapshot_or_404(snapshot_id: int, work: bool = False) -> Snapshot:
    """Load a snapshot the caller may see (404 otherwise); ``work``: to send its files or
    launch a job on it, which needs membership of the target's project (403 otherwise)."""
    snapshot = db.session.get(Snapshot, snapshot_id)
    if snapshot is None or not can_view_snapshot(snapshot):
        abort(404)
    if work:
        require_member(snapshot.target)
    return snapshot


def require_login_for_request() -> None:
    """before_request hook: default-deny for anonymous callers."""
    if current_user.is_authenticated or is_public_endpoint(request.endpoint):
        return None
    from app.extensions import login_manager

    return login_manager.unauthorized()


# --- file transfers -------------------------------------------------------------------


def can_view_transfer(transfer, user: User | None = None) -> bool:
    """Own transfers of a visible target, and others' for project members."""
    user = user if user is not None else current_user
    if not can_view_target(transfer.target, user):
        return False
    return transfer.user_id == user.id or sees_others_work(user, transfer.target)


def visible_transfers(user: User | None = None) -> Select:
    from app.models import JobFileTransfer

    user = user if user is not None else current_user
    stmt = select(JobFileTransfer).join(Target, JobFileTransfer.target_id == Target.id)
    if user.is_admin:
        return stmt
    return stmt.where(Target.project_id.in_(visible_project_ids(user))).where(
        visible_work(user, JobFileTransfer.user_id, Target.project_id)
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
    """One's own jobs of a visible target, and others' for project members."""
    user = user if user is not None else current_user
    if not can_view_target(job.target, user):
        return False
    return job.user_id == user.id or sees_others_work(user, job.target)


def is_job_owner(job, user: User | None = None) -> bool:
    user = user if user is not None else current_user
    return bool(getattr(user, "is_authenticated", False)) and (
        user.is_admin or job.user_id == user.id
    )


def can_act_on_job(job, user: User | None = None) -> bool:
    """Cancel, re-run, retry the import, describe: the job's owner or an admin, being a
    member of the target's project."""
    user = user if user is not None else current_user
    return is_job_owner(job, user) and is_project_member(job.target, user)


def visible_jobs(user: User | None = None) -> Select:
    from app.models import JobRequest

    user = user if user is not None else current_user
    stmt = select(JobRequest)
    if user.is_admin:
        return stmt
    return (
        stmt.join(Target, JobRequest.target_id == Target.id)
        .where(Target.project_id.in_(visible_project_ids(user)))
        .where(visible_work(user, JobRequest.user_id, Target.project_id))
    )


def job_or_404(job_id: int, act: bool = False):
    """Load a job the caller may see (404 otherwise); ``act``: and may act on (403)."""
    from app.models import JobRequest

    job = db.session.get(JobRequest, job_id)
    if job is None or not can_view_job(job):
        abort(404)
    if act:
        if not is_job_owner(job):
            abort(403, description="Only the job's owner or an admin may do that")
        require_member(job.target)
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
