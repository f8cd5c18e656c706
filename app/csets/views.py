"""Computed sets: list, upload (or validate only), set page, download, replace, delete."""

from __future__ import annotations

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    stream_with_context,
    url_for,
)
from flask_login import current_user
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from htmx_flask import make_response
from sqlalchemy import select, update
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
from app.chem import MoleculeError, depiction_svg, mol_from_molblock
from app.csets.service import (
    FIXED_COLUMNS,
    FLAGS,
    SDF_MIMETYPE,
    UPLOAD_LIVE,
    DuplicateUpload,
    MoleculeFilter,
    create_computed_set,
    cset_list,
    delete_computed_set,
    duplicate_of,
    flag_counts,
    goes_to_background,
    molecule_rows,
    queue_upload,
    selected_molecules,
    selection_sdf,
    send_sdf,
    upload_or_404,
    validate_upload,
)
from app.extensions import db
from app.models import (
    ComputedMolecule,
    ComputedSet,
    ComputedSetUpload,
    JobRequest,
    Protein,
    Target,
)
from app.web import STOP_POLLING, safe_next, vary_on_htmx

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
    upload_anyway = BooleanField("Upload anyway, even if the same file is already a set")


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
    report = duplicate = None
    if form.validate_on_submit():
        target = target_or_404(form.target.data)
        sdf, pdb_zip = uploaded_files(form)
        existing = None if form.upload_anyway.data else duplicate_of(target, sdf)
        if goes_to_background(sdf) and (form.validate_only.data or existing is None):
            # Thousands of molecules take a while: the task validates and stores them
            queued = queue_upload(
                target,
                sdf,
                acting_user(),
                pdb_zip,
                file_name=form.sdf.data.filename or "",
                validate_only=form.validate_only.data,
            )
            return redirect(url_for(".upload_progress", upload_id=queued.id))
        if form.validate_only.data:
            report = validate_upload(target, sdf, pdb_zip)
        else:
            try:
                cset, report = create_computed_set(
                    target,
                    sdf,
                    acting_user(),
                    pdb_zip,
                    refuse_duplicate=not form.upload_anyway.data,
                )
            except DuplicateUpload as exc:
                cset, duplicate = None, exc.existing
            if cset is not None:
                stored = count_of(cset.molecule_count, "molecule")
                flash(f"Computed set {cset.name} stored with {stored}.")
                return redirect(url_for(".detail", name=cset.name))
    # Errors answer 200 with the form: htmx 2 does not swap 4xx, and the report is the answer
    return render_template(
        "computed_sets/upload.html", form=form, report=report, cset=None, duplicate=duplicate
    )


def upload_context(upload: ComputedSetUpload) -> dict:
    report = None
    if upload.problems:
        report = {"ok": False, "problems": upload.problems}
    return {"upload": upload, "report": report, "live": upload.status in UPLOAD_LIVE}


@bp.get("/uploads/<int:upload_id>/")
def upload_progress(upload_id: int):
    """A large upload's progress while the background task validates and stores it."""
    upload = upload_or_404(upload_id)
    return render_template("computed_sets/upload_progress.html", **upload_context(upload))


@bp.get("/uploads/<int:upload_id>/status")
def upload_progress_status(upload_id: int):
    """The progress panel (what the htmx poll fetches); 286 once the upload is finished."""
    upload = upload_or_404(upload_id)
    context = upload_context(upload)
    response = Response(render_template("computed_sets/_upload_progress.html", **context))
    if not context["live"] and request.htmx:
        response.status_code = STOP_POLLING
    response.headers["Cache-Control"] = "no-store"
    return vary_on_htmx(response)


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
                flash(
                    f"Computed set {name} replaced: {count_of(stored.molecule_count, 'molecule')}."
                )
                return redirect(url_for(".detail", name=name))
    return render_template("computed_sets/upload.html", form=form, report=report, cset=cset)


@bp.app_template_filter("score")
def score_text(value) -> str:
    """A score as the set page shows it: numbers to 4 significant figures, booleans (and
    the words True/False a file wrote) as yes/no, other text as it is (escaped by Jinja)."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int | float):
        return f"{value:.4g}"
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return "yes" if value.strip().lower() == "true" else "no"
    return "—" if value is None else str(value)


@bp.app_template_filter("count_of")
def count_of(number: int, noun: str) -> str:
    """``1 molecule``, ``2 molecules``."""
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"


def molecule_page(cset: ComputedSet) -> dict:
    """One page of a set's molecules as the query string sorts and filters them
    (:class:`MoleculeFilter`), cut by the database."""
    wanted = MoleculeFilter.from_args(cset, request.args)
    molecules, paging = molecule_rows(
        cset,
        wanted,
        request.args.get("page", 1, type=int),
        current_app.config["MOLECULES_PER_PAGE"],
    )
    return {
        "molecules": molecules,
        "wanted": wanted,
        "sort": wanted.sort,
        "flag": wanted.flag,
        "dir": "desc" if wanted.descending else "asc",
        "page": paging.number,
        "pages": paging.pages,
        "shown": paging.total,
    }


@bp.get("/<name>/")
def detail(name: str):
    """A set: its header, descriptions and a sortable, paged table of its molecules."""
    cset = computed_set_or_404(name)
    job = db.session.get(JobRequest, cset.job_request_id) if cset.job_request_id else None
    return render_template(
        "computed_sets/detail.html",
        cset=cset,
        job=job,
        can_delete=can_delete_computed_set(cset),
        flag_labels=FLAGS,
        flag_counts=flag_counts(cset),
        fixed_columns=FIXED_COLUMNS,
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


def molecule_or_404(cset: ComputedSet, molecule_id: int) -> ComputedMolecule:
    molecule = db.session.get(ComputedMolecule, molecule_id)
    if molecule is None or molecule.computed_set_id != cset.id:
        abort(404)
    return molecule


@bp.get("/<name>/molecules/<int:molecule_id>.mol")
def molecule_mol(name: str, molecule_id: int):
    """A molecule's pose as a mol block (the 3D viewer reads it)."""
    molecule = molecule_or_404(computed_set_or_404(name), molecule_id)
    response = Response(molecule.mol_block, mimetype="chemical/x-mdl-molfile")
    response.headers["Cache-Control"] = "private, max-age=86400"  # ids are never reused
    return response


# The molecules the viewer offers to pick from where no molecule table is on the page
VIEWER_PICK_LIMIT = 200


def viewer_protein(cset: ComputedSet, molecule: ComputedMolecule) -> Protein | None:
    """The protein a molecule was placed in: its ref_pdb when that is a protein of the
    target with an apo-desolv PDB, else the first inspiration that has one."""
    protein = db.session.scalar(
        select(Protein).where(Protein.target_id == cset.target_id, Protein.code == molecule.ref_pdb)
    )
    if protein is not None and protein.apo_desolv_file:
        return protein
    return next((p for p in inspirations_of(molecule) if p.apo_desolv_file), None)


def inspirations_of(molecule: ComputedMolecule) -> list[Protein]:
    """The molecule's inspirations in the order of its ref_mols."""
    by_code = {p.code: p for p in molecule.inspirations}
    return [by_code[code] for code in dict.fromkeys(molecule.ref_mols) if code in by_code]


@bp.get("/<name>/viewer.json")
def viewer(name: str):
    """What the 3D viewer shows for one molecule (``molecule``: its name; the set's first
    when absent): the URLs of its pose, its protein and its inspirations' ligands."""
    cset = computed_set_or_404(name)
    chosen = select(ComputedMolecule).where(ComputedMolecule.computed_set_id == cset.id)
    if request.args.get("molecule"):
        chosen = chosen.where(ComputedMolecule.name == request.args["molecule"])
    molecule = db.session.scalar(chosen.order_by(ComputedMolecule.id).limit(1))
    if molecule is None:
        abort(404)
    protein = viewer_protein(cset, molecule)
    names = db.session.scalars(
        select(ComputedMolecule.name)
        .where(ComputedMolecule.computed_set_id == cset.id)
        .order_by(ComputedMolecule.id)
        .limit(VIEWER_PICK_LIMIT)
    ).all()
    return jsonify(
        {
            "set": cset.name,
            "molecule": {
                "name": molecule.name,
                "url": url_for(".molecule_mol", name=name, molecule_id=molecule.id, embed=None),
            },
            "ref_pdb": molecule.ref_pdb,
            "protein": protein
            and {
                "code": protein.code,
                "url": url_for("targets.apo_desolv_pdb", protein_id=protein.id, embed=None),
            },
            "hits": [
                {
                    "code": p.code,
                    "url": url_for("targets.ligand_mol", protein_id=p.id, embed=None),
                }
                for p in inspirations_of(molecule)
                if p.mol_file
            ],
            "molecules": names,
        }
    )


@bp.get("/<name>/download")
def download(name: str):
    """Download the stored SDF of a set; ``?molecule=<id>`` (repeated) only those molecules,
    ``?selection=filter`` (with the page's filter) the molecules the filter shows."""
    cset = computed_set_or_404(name)
    ids = request.args.getlist("molecule", type=int)
    if not ids and request.args.get("selection") != "filter":
        return send_sdf(cset)
    stmt = selected_molecules(cset, MoleculeFilter.from_args(cset, request.args))
    if ids:
        stmt = stmt.where(ComputedMolecule.id.in_(ids[:10_000]))
    molecules = db.session.scalars(stmt.execution_options(yield_per=500))
    response = Response(stream_with_context(selection_sdf(cset, molecules)), mimetype=SDF_MIMETYPE)
    response.headers["Content-Disposition"] = f'attachment; filename="{cset.name}-selection.sdf"'
    return response


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
    flash(f"Computed set {name} and its {count_of(count, 'molecule')} were deleted.")
    destination = safe_next(request.values.get("next"), url_for(".index"))
    if request.htmx:
        return make_response("", 200, redirect=destination)
    return redirect(destination)
