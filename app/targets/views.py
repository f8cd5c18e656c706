"""Targets list, a target page with its proteins (search and paging as htmx partials),
creating a snapshot from the page's selection, and a snapshot's page."""

from __future__ import annotations

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    send_file,
    url_for,
)
from flask_login import current_user

from app.access import (
    can_view_target,
    is_project_member,
    not_a_member,
    protein_or_404,
    snapshot_or_404,
    target_or_404,
)
from app.extensions import db
from app.jobs.definitions import catalogue as job_catalogue
from app.models import Protein
from app.storage import data_path
from app.targets.service import (
    SnapshotError,
    create_snapshot,
    protein_page,
    recent_snapshots,
    visible_targets_with_counts,
)
from app.transfers.service import latest_transfer
from app.web import htmx_target, vary_on_htmx

bp = Blueprint("targets", __name__)
snapshots_bp = Blueprint("snapshots", __name__)


@bp.get("/")
def home():
    """The targets list is the home page."""
    return redirect(url_for("targets.index"))


@bp.get("/targets/")
def index():
    """Targets the user may see."""
    rows = visible_targets_with_counts()
    return render_template(
        "targets/index.html",
        targets=[t for t, _ in rows],
        counts={t.id: n for t, n in rows},
    )


def _protein_page(target):
    return protein_page(
        target,
        request.args.get("q", ""),
        request.args.get("page", 1, type=int),
        current_app.config["PROTEINS_PER_PAGE"],
    )


@bp.get("/targets/<title>/")
def detail(title: str):
    """A target and its proteins; htmx requests for search/paging get only the table."""
    target = target_or_404(title)
    context = _protein_page(target)
    if htmx_target("protein-table"):
        response = Response(render_template("targets/_proteins.html", target=target, **context))
    else:
        response = Response(
            render_template(
                "targets/detail.html",
                target=target,
                snapshots=recent_snapshots(target, 10),
                **context,
            )
        )
    return vary_on_htmx(response)


@bp.get("/proteins/<int:protein_id>/depiction.svg")
def depiction(protein_id: int):
    """The stored 2D depiction of a protein's ligand."""
    protein = db.session.get(Protein, protein_id)
    if protein is None or not can_view_target(protein.target) or not protein.depiction_svg:
        return Response("not found", status=404)
    response = Response(protein.depiction_svg, mimetype="image/svg+xml")
    response.headers["Cache-Control"] = "private, max-age=3600"
    return response


def protein_file(relative: str | None, mimetype: str, download_name: str):
    """A stored file of a protein (the 3D viewer reads them), or 404 when it has none."""
    if not relative or not data_path(relative).is_file():
        abort(404)
    response = send_file(
        data_path(relative), mimetype=mimetype, download_name=download_name, max_age=0
    )
    # A reload of the target may change the file under the same URL
    response.headers["Cache-Control"] = "private, no-cache"
    return response


@bp.get("/proteins/<int:protein_id>/apo-desolv.pdb")
def apo_desolv_pdb(protein_id: int):
    """A protein's apo-desolv PDB (the structure a job used)."""
    protein = protein_or_404(protein_id)
    return protein_file(protein.apo_desolv_file, "chemical/x-pdb", f"{protein.code}_apo-desolv.pdb")


@bp.get("/proteins/<int:protein_id>/ligand.mol")
def ligand_mol(protein_id: int):
    """A protein's ligand (the hit) as a mol file."""
    protein = protein_or_404(protein_id)
    return protein_file(protein.mol_file, "chemical/x-mdl-molfile", f"{protein.code}.mol")


@bp.get("/targets/<title>/snapshots/")
def snapshots(title: str):
    """All snapshots of a target."""
    target = target_or_404(title)
    return render_template(
        "targets/snapshots.html", target=target, snapshots=recent_snapshots(target)
    )


@snapshots_bp.post("/targets/<title>/snapshots/")
def create(title: str):
    """Create a snapshot of the checked proteins."""
    target = target_or_404(title)
    try:
        snapshot = create_snapshot(
            target,
            request.form.getlist("proteins"),
            current_user,
            title=request.form.get("title"),
            description=request.form.get("description"),
        )
    except SnapshotError as exc:
        flash(str(exc), "error")
        return redirect(url_for("targets.detail", title=target.title))
    flash(f"Snapshot “{snapshot.title}” created with {len(snapshot.proteins)} proteins.")
    return redirect(url_for("snapshots.detail", snapshot_id=snapshot.id))


@snapshots_bp.get("/snapshots/<int:snapshot_id>/", endpoint="detail")
def detail_of_snapshot(snapshot_id: int):
    """A snapshot and its selection."""
    snapshot = snapshot_or_404(snapshot_id)
    jobs = job_catalogue()
    return render_template(
        "snapshots/detail.html",
        snapshot=snapshot,
        target=snapshot.target,
        transfer=latest_transfer(snapshot.id),
        job_schemas=jobs.schemas,
        unavailable_jobs=jobs.unavailable,
        member=is_project_member(snapshot.target),
        not_a_member=not_a_member(snapshot.target),
    )
