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


def snapshot(app, title: str, codes: list[str] | None = None, author: str = "member") -> int:
    """A snapshot of ``codes`` (default: every protein) of target ``title``, by ``author``."""
    from app.targets.service import create_snapshot

    with app.app_context():
        target = target_of(title)
        wanted = [p.code for p in target.proteins if codes is None or p.code in codes]
        row = create_snapshot(target, wanted, user_of(author), title="s")
        db.session.commit()
        return row.id


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
