"""Targets and snapshots: the one place that turns a list of protein codes into a Snapshot,
and the queries the target pages and the API share."""

from __future__ import annotations

import re

from sqlalchemy import func, or_, select
from sqlalchemy.orm import defer

from app.access import visible_snapshots, visible_targets
from app.api import Page
from app.extensions import db
from app.models import Protein, Snapshot, Target, User

MAX_TITLE = 200
MAX_DESCRIPTION = 10_000


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
    title, description = (title or "").strip(), (description or "").strip()
    if len(title) > MAX_TITLE:
        raise SnapshotError(f"The title may have at most {MAX_TITLE} characters")
    if len(description) > MAX_DESCRIPTION:
        raise SnapshotError(f"The description may have at most {MAX_DESCRIPTION:,} characters")
    if not title:
        count = db.session.scalar(
            select(db.func.count(Snapshot.id)).where(Snapshot.target_id == target.id)
        )
        title = f"{target.title} selection {count + 1}"
    snapshot = Snapshot(
        target=target,
        author=author,
        title=title,
        description=description or None,
        proteins=list(proteins),
    )
    db.session.add(snapshot)
    db.session.commit()
    return snapshot


def protein_counts(target_ids: list[int]) -> dict[int, int]:
    """Number of proteins of each target, in one query."""
    rows = db.session.execute(
        select(Protein.target_id, func.count(Protein.id))
        .where(Protein.target_id.in_(target_ids))
        .group_by(Protein.target_id)
    )
    return dict(rows.all())


def visible_targets_with_counts() -> list[tuple[Target, int]]:
    """The targets the caller may see, by title, with their protein counts."""
    targets = db.session.scalars(visible_targets().order_by(Target.title)).all()
    counts = protein_counts([t.id for t in targets])
    return [(t, counts.get(t.id, 0)) for t in targets]


def protein_page(target: Target, query: str, number: int | None, size: int) -> dict:
    """One page of a target's proteins whose code or SMILES contains ``query``."""
    query = query.strip()[:200]
    stmt = select(Protein).where(Protein.target_id == target.id)
    if query:
        like = "%" + query.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        stmt = stmt.where(
            or_(Protein.code.ilike(like, escape="\\"), Protein.smiles.like(like, escape="\\"))
        )
    total = db.session.scalar(select(func.count()).select_from(stmt.subquery()))
    page = Page.of(total, number, size)
    proteins = db.session.scalars(
        stmt.order_by(Protein.code)
        .offset(page.offset)
        .limit(page.size)
        .options(defer(Protein.depiction_svg))
    ).all()
    return {
        "proteins": proteins,
        "q": query,
        "page": page.number,
        "pages": page.pages,
        "total": total,
        "per_page": size,
    }


def recent_snapshots(target: Target, limit: int | None = None) -> list[Snapshot]:
    """The target's snapshots the current user may see, newest first."""
    stmt = visible_snapshots(target).order_by(Snapshot.created.desc())
    return list(db.session.scalars(stmt.limit(limit) if limit else stmt))


SQUONK_PROJECT_ID = re.compile(
    r"^project-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
)


def set_squonk_project(target: Target, project_id: str) -> str | None:
    """Set (or clear, with '') a target's Squonk2 project; returns an error message."""
    project_id = project_id.strip()
    if project_id and not SQUONK_PROJECT_ID.match(project_id):
        return "A Squonk2 project id looks like project-<uuid>"
    target.default_squonk_project = project_id or None
    db.session.commit()
    return None
