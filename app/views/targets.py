"""Targets list, a target page with its proteins (search and paging as HTMX partials)."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, redirect, render_template, request, url_for
from sqlalchemy import func, or_, select

from app import htmx
from app.access import can_view_target, target_or_404, visible_targets
from app.extensions import db
from app.models import Protein, Snapshot, Target

bp = Blueprint("targets", __name__)


@bp.get("/")
def home():
    """The targets list is the home page."""
    return redirect(url_for("targets.index"))


def protein_counts(target_ids: list[int]) -> dict[int, int]:
    rows = db.session.execute(
        select(Protein.target_id, func.count(Protein.id))
        .where(Protein.target_id.in_(target_ids))
        .group_by(Protein.target_id)
    )
    return dict(rows.all())


@bp.get("/targets/")
def index():
    """Targets the user may see."""
    targets = db.session.scalars(visible_targets().order_by(Target.title)).all()
    counts = protein_counts([t.id for t in targets])
    return render_template("targets/index.html", targets=targets, counts=counts)


def protein_page(target: Target) -> dict:
    """One page of a target's proteins, filtered by ``q`` (code or SMILES fragment)."""
    query = request.args.get("q", "").strip()[:200]
    per_page = current_app.config["PROTEINS_PER_PAGE"]
    page = request.args.get("page", 1, type=int) or 1
    stmt = select(Protein).where(Protein.target_id == target.id)
    if query:
        like = "%" + query.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        stmt = stmt.where(
            or_(Protein.code.ilike(like, escape="\\"), Protein.smiles.like(like, escape="\\"))
        )
    total = db.session.scalar(select(func.count()).select_from(stmt.subquery()))
    pages = max(1, -(-total // per_page))
    page = min(max(1, page), pages)
    proteins = db.session.scalars(
        stmt.order_by(Protein.code)
        .offset((page - 1) * per_page)
        .limit(per_page)
        .options(db.defer(Protein.depiction_svg))
    ).all()
    return {
        "proteins": proteins,
        "q": query,
        "page": page,
        "pages": pages,
        "total": total,
        "per_page": per_page,
    }


@bp.get("/targets/<title>/")
def detail(title: str):
    """A target and its proteins; HTMX requests for search/paging get only the table."""
    target = target_or_404(title)
    context = protein_page(target)
    if htmx.is_htmx_request() and request.headers.get("HX-Target") == "protein-table":
        response = Response(render_template("targets/_proteins.html", target=target, **context))
    else:
        snapshots = db.session.scalars(
            select(Snapshot)
            .where(Snapshot.target_id == target.id)
            .order_by(Snapshot.created.desc())
            .limit(10)
        ).all()
        response = Response(
            render_template("targets/detail.html", target=target, snapshots=snapshots, **context)
        )
    return htmx.vary_on_htmx(response)


@bp.get("/proteins/<int:protein_id>/depiction.svg")
def depiction(protein_id: int):
    """The stored 2D depiction of a protein's ligand."""
    protein = db.session.get(Protein, protein_id)
    if protein is None or not can_view_target(protein.target) or not protein.depiction_svg:
        return Response("not found", status=404)
    response = Response(protein.depiction_svg, mimetype="image/svg+xml")
    response.headers["Cache-Control"] = "private, max-age=3600"
    return response


@bp.get("/targets/<title>/snapshots/")
def snapshots(title: str):
    """All snapshots of a target."""
    target = target_or_404(title)
    rows = db.session.scalars(
        select(Snapshot).where(Snapshot.target_id == target.id).order_by(Snapshot.created.desc())
    ).all()
    return render_template("targets/snapshots.html", target=target, snapshots=rows)
