"""Computed sets: list, upload (or validate only), set page, download, replace, delete."""

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
    url_for,
)
from flask_login import current_user
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from htmx_flask import make_response
from sqlalchemy import select, update
from sqlalchemy.orm import defer
from wtforms import BooleanField, SelectField
from wtforms.validators import DataRequired

from app.access import (
    can_delete_computed_set,
    computed_set_or_404,
    is_project_member,
    require_member,
    target_or_404,
    visible_targets,
)
from app.api import Page
from app.chem import MoleculeError, depiction_svg, mol_from_molblock
from app.csets.service import (
    create_computed_set,
    cset_list,
    delete_computed_set,
    send_sdf,
    validate_upload,
)
from app.extensions import db
from app.models import ComputedMolecule, ComputedSet, Target
from app.web import safe_next

bp = Blueprint("computed_sets", __name__, url_prefix="/computed-sets")


class ReplaceForm(FlaskForm):
    # No extension filters: the validator says what a wrong file actually is
    sdf = FileField(
        "Computed-set SDF (ver_1.2)", validators=[FileRequired("Choose the SDF file to upload")]
    )
    pdb_zip = FileField("Zip of PDB files named by ref_pdb (optional)")
    validate_only = BooleanField("Validate only (store nothing)")


class UploadForm(ReplaceForm):
    target = SelectField("Target", validators=[DataRequired("Choose a target")])


def acting_user():
    """The logged-in User itself (not the proxy), as the store records it."""
    return current_user._get_current_object()


def upload_form() -> UploadForm:
    """The upload form with the targets this user may upload to (their projects') as
    choices; another visible target posted anyway is a 403 that says why."""
    form = UploadForm()
    if request.method == "POST" and request.form.get("target"):
        require_member(target_or_404(request.form["target"]))
    targets = db.session.scalars(visible_targets().order_by(Target.title)).all()
    titles = [t.title for t in targets if is_project_member(t)]
    form.target.choices = [(t, t) for t in titles]
    if request.method == "GET" and request.args.get("target") in titles:
        form.target.data = request.args["target"]
    return form


def uploaded_files(form: ReplaceForm) -> tuple[bytes, bytes | None]:
    sdf = form.sdf.data.read()
    pdb_zip = form.pdb_zip.data.read() if form.pdb_zip.data else None
    return sdf, pdb_zip


@bp.get("/")
def index():
    """Computed sets the user may see, filterable by target."""
    title = request.args.get("target", "").strip()
    sets = cset_list(target=title)
    targets = db.session.scalars(
        visible_targets().with_only_columns(Target.title).order_by(Target.title)
    ).all()
    deletable = {cset.id for cset in sets if can_delete_computed_set(cset)}
    return render_template(
        "computed_sets/index.html", sets=sets, targets=targets, target=title, deletable=deletable
    )


@bp.route("/upload", methods=["GET", "POST"])
def upload():
    """Upload a computed-set SDF (or only validate it) and show the validation report."""
    form = upload_form()
    report = None
    if form.validate_on_submit():
        target = target_or_404(form.target.data)
        sdf, pdb_zip = uploaded_files(form)
        if form.validate_only.data:
            report = validate_upload(target, sdf, pdb_zip)
        else:
            cset, report = create_computed_set(target, sdf, acting_user(), pdb_zip)
            if cset is not None:
                flash(f"Computed set {cset.name} stored with {cset.molecule_count} molecules.")
                return redirect(url_for(".detail", name=cset.name))
    # Errors answer 200 with the form: htmx 2 does not swap 4xx, and the report is the answer
    return render_template("computed_sets/upload.html", form=form, report=report, cset=None)


@bp.route("/<name>/replace", methods=["GET", "POST"])
def replace(name: str):
    """Upload a new file for an existing set (its owner or an admin)."""
    cset = computed_set_or_404(name, delete=True)
    form = ReplaceForm()
    report = None
    if form.validate_on_submit():
        sdf, pdb_zip = uploaded_files(form)
        if form.validate_only.data:
            report = validate_upload(cset.target, sdf, pdb_zip)
        else:
            stored, report = create_computed_set(
                cset.target, sdf, acting_user(), pdb_zip, replace=cset
            )
            if stored is not None:
                flash(f"Computed set {name} replaced: {stored.molecule_count} molecules.")
                return redirect(url_for(".detail", name=name))
    return render_template("computed_sets/upload.html", form=form, report=report, cset=cset)


def score_order(rows: list[tuple[int, dict]], score: str, descending: bool) -> list[int]:
    """Molecule ids ordered by one score: numbers, then text, then molecules without it."""
    numbers = [(s[score], i) for i, s in rows if isinstance(s.get(score), int | float)]
    texts = [
        (str(s[score]), i) for i, s in rows if score in s and not isinstance(s[score], int | float)
    ]
    missing = [i for i, s in rows if score not in s]
    ordered = sorted(numbers, key=lambda pair: pair[0], reverse=descending)
    ordered += sorted(texts, key=lambda pair: pair[0], reverse=descending)
    return [i for _, i in ordered] + missing


def molecule_page(cset: ComputedSet) -> dict:
    """One page of a set's molecules, sorted by ``sort`` (a score name) and ``dir``."""
    sort = request.args.get("sort", "")
    sort = sort if sort in cset.score_names else ""
    descending = request.args.get("dir") == "desc"
    per_page = current_app.config["MOLECULES_PER_PAGE"]
    paging = Page.of(cset.molecule_count, request.args.get("page", 1, type=int), per_page)
    page = paging.number
    light = (
        select(ComputedMolecule)
        .where(ComputedMolecule.computed_set_id == cset.id)
        .options(defer(ComputedMolecule.mol_block), defer(ComputedMolecule.depiction_svg))
    )
    if sort:
        # Scores are JSON of mixed types: ordering them in Python is the same on every database
        rows = db.session.execute(
            select(ComputedMolecule.id, ComputedMolecule.scores)
            .where(ComputedMolecule.computed_set_id == cset.id)
            .order_by(ComputedMolecule.id)
        ).all()
        ids = score_order(rows, sort, descending)[paging.offset : paging.offset + per_page]
        found = {m.id: m for m in db.session.scalars(light.where(ComputedMolecule.id.in_(ids)))}
        molecules = [found[i] for i in ids if i in found]
    else:
        molecules = db.session.scalars(
            light.order_by(ComputedMolecule.id).offset(paging.offset).limit(per_page)
        ).all()
    return {
        "molecules": molecules,
        "sort": sort,
        "dir": "desc" if descending else "asc",
        "page": page,
        "pages": paging.pages,
    }


@bp.get("/<name>/")
def detail(name: str):
    """A set: its header, descriptions and a sortable, paged table of its molecules."""
    cset = computed_set_or_404(name)
    return render_template(
        "computed_sets/detail.html",
        cset=cset,
        can_delete=can_delete_computed_set(cset),
        **molecule_page(cset),
    )


@bp.get("/<name>/molecules/<int:molecule_id>/depiction.svg")
def depiction(name: str, molecule_id: int):
    """A molecule's 2D depiction, drawn on first request and kept."""
    cset = computed_set_or_404(name)
    molecule = db.session.get(ComputedMolecule, molecule_id)
    if molecule is None or molecule.computed_set_id != cset.id:
        abort(404)
    svg = molecule.depiction_svg
    if svg is None:
        try:
            svg = depiction_svg(mol_from_molblock(molecule.mol_block))
        except MoleculeError:
            abort(404)
        # A core UPDATE: harmless if a replace removed the molecule meanwhile
        db.session.execute(
            update(ComputedMolecule)
            .where(ComputedMolecule.id == molecule.id)
            .values(depiction_svg=svg)
        )
        db.session.commit()
    response = Response(svg, mimetype="image/svg+xml")
    # Molecule ids are never reused for other content (a replace makes new rows)
    response.headers["Cache-Control"] = "private, max-age=86400"
    return response


@bp.get("/<name>/download")
def download(name: str):
    """Download the stored SDF of a set."""
    return send_sdf(computed_set_or_404(name))


@bp.get("/<name>/delete")
def confirm_delete(name: str):
    """Ask before deleting a set (the page the Delete button opens without JavaScript)."""
    cset = computed_set_or_404(name, delete=True)
    return render_template(
        "computed_sets/delete.html", cset=cset, next=request.args.get("next", "")
    )


@bp.post("/<name>/delete")
def delete(name: str):
    """Delete a set, its molecules and files once confirmed."""
    cset = computed_set_or_404(name, delete=True)
    if request.form.get("confirm") != "yes":
        return render_template(
            "computed_sets/delete.html", cset=cset, next=request.form.get("next", "")
        )
    count = cset.molecule_count
    delete_computed_set(cset, acting_user())
    flash(f"Computed set {name} and its {count} molecules were deleted.")
    destination = safe_next(request.values.get("next"), url_for(".index"))
    if request.htmx:
        return make_response("", 200, redirect=destination)
    return redirect(destination)
