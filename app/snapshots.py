"""Creating snapshots: the one place that turns a list of protein codes into a Snapshot."""

from __future__ import annotations

from sqlalchemy import select

from app.extensions import db
from app.models import Protein, Snapshot, Target, User

MAX_TITLE = 200


class SnapshotError(ValueError):
    """Bad input for a snapshot; the message says what is wrong."""


def create_snapshot(
    target: Target,
    codes: list[str],
    author: User,
    title: str | None = None,
    description: str | None = None,
) -> Snapshot:
    """Create a snapshot of ``codes`` (proteins of ``target``); nothing is stored on error."""
    wanted = list(dict.fromkeys(code.strip() for code in codes if code and code.strip()))
    if not wanted:
        raise SnapshotError("Select at least one protein")
    proteins = db.session.scalars(
        select(Protein).where(Protein.target_id == target.id, Protein.code.in_(wanted))
    ).all()
    found = {p.code for p in proteins}
    unknown = [code for code in wanted if code not in found]
    if unknown:
        raise SnapshotError(f"Not proteins of {target.title}: {', '.join(unknown)}")
    title = (title or "").strip()
    if len(title) > MAX_TITLE:
        raise SnapshotError(f"The title may have at most {MAX_TITLE} characters")
    if not title:
        count = db.session.scalar(
            select(db.func.count(Snapshot.id)).where(Snapshot.target_id == target.id)
        )
        title = f"{target.title} selection {count + 1}"
    snapshot = Snapshot(
        target=target,
        author=author,
        title=title,
        description=(description or "").strip() or None,
        proteins=list(proteins),
    )
    db.session.add(snapshot)
    db.session.commit()
    return snapshot
