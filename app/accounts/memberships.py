"""Which projects (proposals and visits) a user is a member of.

The membership source is a setting, ``MEMBERSHIP_SOURCE``:

- ``local``: the ``project_members`` table an admin fills (the embedded default);
- ``ispyb``: the proposals and visits ISPyB links to the user's login
  (:mod:`app.accounts.ispyb`).

:mod:`app.access` asks only through :func:`member_project_ids` and :func:`is_member`, so the
policy is the same whichever source answers. Admins are not special here: the access
policy decides what an admin may do.
"""

from __future__ import annotations

from flask import current_app
from sqlalchemy import Select, select

from app.accounts import ispyb
from app.accounts.ispyb import MembershipUnavailable
from app.models import Project, User, project_members

__all__ = ["MembershipUnavailable", "is_member", "member_project_ids", "source"]


def source() -> str:
    return current_app.config.get("MEMBERSHIP_SOURCE", "local")


def member_project_ids(user: User) -> Select:
    """A select of the ids of the projects ``user`` is a member of."""
    if source() == "ispyb":
        return select(Project.id).where(Project.id.in_(ispyb.member_project_ids(user)))
    return select(project_members.c.project_id).where(project_members.c.user_id == user.id)


def is_member(user: User, project: Project) -> bool:
    """Is ``user`` a member of ``project``?"""
    if not getattr(user, "is_authenticated", False):
        return False
    if source() == "ispyb":
        return project.id in ispyb.member_project_ids(user)
    return any(member.id == user.id for member in project.members)
