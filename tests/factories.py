"""Rows the tests start from, built through the product's own services where one exists.

Each factory opens its own app context, commits, and returns plain ids (not ORM objects
bound to a closed session).
"""

from __future__ import annotations

import uuid

from sqlalchemy import select

from app.extensions import db
from app.models import JobRequest, Target, User


def target_of(title: str) -> Target:
    return db.session.scalar(select(Target).where(Target.title == title))


def user_of(username: str) -> User:
    return db.session.scalar(select(User).where(User.username == username))


def user(
    app,
    username: str,
    password: str,
    projects: tuple[str, ...] = (),
    admin: bool = False,
) -> int:
    """A user with a password (hashed as the app is configured to), a member of
    ``projects`` (created when new), as ``flask users create`` and ``add-to-project`` leave
    one."""
    from app.targets.loader import get_or_create_project

    with app.app_context():
        row = User(username=username, email=f"{username}@example.org", is_admin=admin)
        row.set_password(password)
        row.projects.extend(get_or_create_project(title) for title in projects)
        db.session.add(row)
        db.session.commit()
        return row.id


def snapshot(
    app,
    title: str,
    codes: list[str] | None = None,
    author: str = "member",
    name: str = "s",
) -> int:
    """A snapshot called ``name`` of ``codes`` (default: every protein) of target
    ``title``, by ``author``."""
    from app.targets.service import create_snapshot

    with app.app_context():
        target = target_of(title)
        wanted = [p.code for p in target.proteins if codes is None or p.code in codes]
        row = create_snapshot(target, wanted, user_of(author), title=name)
        db.session.commit()
        return row.id


def computed_set(app, title: str, sdf: bytes, owner: str | None = "member", **kwargs) -> str:
    """A computed set of target ``title`` stored from ``sdf`` through the real store, owned
    by ``owner`` (None: anonymous); ``kwargs`` go to ``create_computed_set``. Returns its
    name."""
    from app.csets.service import create_computed_set

    with app.app_context():
        user = user_of(owner) if owner else None
        cset, report = create_computed_set(target_of(title), sdf, user, **kwargs)
        assert cset is not None, report.messages()
        return cset.name


def job(
    app,
    status: str = "PENDING",
    owner: str = "member",
    title: str = "Mac1",
    job_key: str = "rdkit-conformers",
) -> tuple[int, str]:
    """A JobRequest row as a launch leaves it (on a snapshot of the target's first two
    proteins); returns ``(id, callback secret)``. Built by hand: a real launch needs a
    transfer and Squonk2 (tests that need those launch through the API instead)."""
    from app.jobs.service import callback_secret, secret_hash
    from app.targets.service import create_snapshot

    with app.app_context():
        target = target_of(title)
        user = user_of(owner)
        snap = create_snapshot(target, [p.code for p in target.proteins[:2]], user, title="s")
        nonce = uuid.uuid4().hex
        row = JobRequest(
            job_key=job_key,
            squonk_collection="rdkit",
            squonk_job=job_key,
            squonk_version="1.0.0",
            snapshot=snap,
            target=target,
            project=target.project,
            user=user,
            squonk_project="project-x",
            inputs={},
            options={},
            fingerprint=uuid.uuid4().hex,
            callback_nonce=nonce,
            callback_secret_hash=secret_hash(callback_secret(nonce)),
            callback_context=f"fjl-{nonce}",
            job_status=status,
            squonk_instance_id=None if status == "OPEN" else f"instance-{nonce}",
        )
        db.session.add(row)
        db.session.commit()
        return row.id, callback_secret(nonce)
