"""Storing, replacing and deleting computed sets: the one place that writes them.

The upload page, the JSON API and (later) the automatic import of job results all call
:func:`create_computed_set`; the management pages and the API call
:func:`delete_computed_set`. Access checks are the caller's job (``app.access``).

Files live under ``DATA_DIR/csets/<name>/``. Every upload gets file names of its own
(``<name>-<token>.sdf``), written to a temporary name, fsynced and renamed into place
*before* the database commit: a committed row therefore always has its file, and a crash
or a failed commit leaves at worst a file no row names (which we remove when we can), never
a row without its file nor a set with only some of its molecules.
"""

from __future__ import annotations

import hashlib
import io
import logging
import math
import re
import secrets
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date
from itertools import product
from string import ascii_uppercase

from flask import Response, abort, current_app, send_file
from flask_login import current_user
from rdkit import Chem
from sqlalchemy import Select, String, case, cast, delete, func, literal, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import contains_eager, defer, joinedload

from app import chem
from app.access import visible_computed_sets
from app.api import Page
from app.csets.validator import (
    ParsedMolecule,
    ParsedSet,
    Problem,
    ValidationReport,
    build_header_block,
    validate_computed_set,
)
from app.extensions import db
from app.jobs import states
from app.models import (
    AuditEvent,
    ComputedMolecule,
    ComputedSet,
    ComputedSetUpload,
    JobRequest,
    Protein,
    Target,
    User,
    computed_molecule_inspirations,
)
from app.models.base import as_utc, utcnow
from app.storage import data_path, write_file

log = logging.getLogger(__name__)

CSETS_DIR = "csets"
MAX_SLUG = 80
# Two uploads of the same method on the same day may race for the same letter
NAME_ATTEMPTS = 5

# Problems found on import: flag name (the ?flag= value) -> what the set page says
FLAGS: dict[str, str] = {
    "disconnected": "disconnected: more than one fragment",
    "lost_aromaticity": "fewer aromatic rings than any of its inspirations",
    "positive_ddg": "DDG > 0: binding predicted unfavourable",
    "non_finite": "non-finite number (NaN or infinity) in its coordinates or figures",
}
# Score names read as a binding free energy for the positive_ddg flag (case-insensitive)
DDG_NAMES = frozenset({"ddg", "∆∆g", "δδg", "delta_delta_g"})


# --- names ----------------------------------------------------------------------------


def method_slug(method: str) -> str:
    """The method reduced to characters safe in a URL and a file name."""
    slug = re.sub(r"[^A-Za-z0-9_.]+", "-", method).strip("-.")[:MAX_SLUG].strip("-.")
    return slug or "set"


def name_suffixes() -> Iterator[str]:
    """A, B, ... Z, AA, AB, ... ZZ, then 703, 704, ... (never runs out)."""
    yield from ascii_uppercase
    for first, second in product(ascii_uppercase, repeat=2):
        yield first + second
    number = 26 + 26 * 26
    while True:
        number += 1
        yield str(number)


def next_set_name(method: str, day: date) -> str:
    """``<method>-<YYYY-MM-DD>-<letter>`` with the first letter not taken yet."""
    prefix = f"{method_slug(method)}-{day.isoformat()}-"
    taken = set(
        db.session.scalars(
            select(ComputedSet.name).where(ComputedSet.name.startswith(prefix, autoescape=True))
        )
    )
    return next(prefix + suffix for suffix in name_suffixes() if prefix + suffix not in taken)


# A job's set is named for people: its summary, or what ran where and when (the Squonk2
# instance id, 80 characters of uuid, stays in the set's method)
JOB_NAME_LENGTH = 60


def readable_slug(text: str, length: int = JOB_NAME_LENGTH) -> str:
    """``text`` as lower-case words joined by ``-`` (letters, digits, ``_`` and ``.`` kept),
    cut at a word boundary within ``length`` characters; "" when nothing is left."""
    words = re.sub(r"[^a-z0-9_.]+", " ", text.lower()).split()
    slug = ""
    for word in words:
        candidate = f"{slug}-{word}" if slug else word
        if len(candidate) > length:
            break
        slug = candidate
    return (slug or "-".join(words)[:length]).strip("-.")


def next_numbered_name(stem: str, bare_first: bool) -> str:
    """``stem`` (when ``bare_first`` and free), else the first free ``stem-2``, ``stem-3``...
    (``stem-1`` first when not ``bare_first``). Names are unique across all targets."""
    taken = set(
        db.session.scalars(
            select(ComputedSet.name).where(
                (ComputedSet.name == stem)
                | ComputedSet.name.startswith(f"{stem}-", autoescape=True)
            )
        )
    )
    if bare_first and stem not in taken:
        return stem
    number = 2 if bare_first else 1
    while f"{stem}-{number}" in taken:
        number += 1
    return f"{stem}-{number}"


def job_set_name(job: JobRequest, day: date) -> str:
    """The name of the set a job's results become: its summary slugified (``-2``, ``-3``...
    when taken), else ``<job key>-<target>-<date>-<n>``."""
    summary = readable_slug(job.user_summary or "")
    if summary:
        return next_numbered_name(summary, bare_first=True)
    stem = "-".join(
        part
        for part in (readable_slug(job.job_key, 30), readable_slug(job.target.title, 30))
        if part
    )
    return next_numbered_name(f"{stem or 'job'}-{day.isoformat()}", bare_first=False)


# --- validation -----------------------------------------------------------------------


class DuplicateUpload(Exception):
    """The file is byte for byte the SDF of an existing set of the same target."""

    def __init__(self, existing: ComputedSet) -> None:
        super().__init__(f"the same file is already computed set {existing.name}")
        self.existing = existing


def sdf_digest(sdf_bytes: bytes) -> str:
    return hashlib.sha256(sdf_bytes).hexdigest()


def duplicate_of(target: Target, sdf_bytes: bytes) -> ComputedSet | None:
    """The oldest set of ``target`` stored from exactly these bytes, if any."""
    return db.session.scalar(
        select(ComputedSet)
        .where(ComputedSet.target_id == target.id, ComputedSet.sdf_sha256 == sdf_digest(sdf_bytes))
        .order_by(ComputedSet.id)
        .limit(1)
    )


def pdb_names_in_zip(pdb_zip: bytes) -> tuple[list[str], Problem | None]:
    """Names of the ``.pdb`` members of a zip (nothing is extracted), or the problem."""
    try:
        with zipfile.ZipFile(io.BytesIO(pdb_zip)) as archive:
            names = [n for n in archive.namelist() if n.lower().endswith(".pdb")]
    except (zipfile.BadZipFile, ValueError):
        return [], Problem(None, None, "pdb_zip", "the PDB archive is not a readable zip file")
    if not names:
        return [], Problem(None, None, "pdb_zip", "the zip holds no .pdb file")
    return names, None


def validate_upload(
    target: Target,
    sdf_bytes: bytes,
    pdb_zip: bytes | None = None,
    require_descriptions: bool = True,
) -> ValidationReport:
    """Run the one validator with the target's protein codes and the zip's PDB names."""
    codes = db.session.scalars(select(Protein.code).where(Protein.target_id == target.id)).all()
    pdb_names: list[str] = []
    if pdb_zip is not None:
        pdb_names, problem = pdb_names_in_zip(pdb_zip)
        if problem is not None:
            return ValidationReport([problem])
    config = current_app.config
    return validate_computed_set(
        sdf_bytes,
        codes,
        pdb_names,
        max_bytes=config["CSET_MAX_BYTES"],
        max_records=config["CSET_MAX_RECORDS"],
        require_descriptions=require_descriptions,
    )


# --- files ----------------------------------------------------------------------------


def remove_files(relatives: list[str | None]) -> None:
    """Remove stored files and their folder once empty; a failure is logged, not raised."""
    for relative in filter(None, relatives):
        path = data_path(relative)
        try:
            path.unlink(missing_ok=True)
            if path.parent.is_dir() and not any(path.parent.iterdir()):
                path.parent.rmdir()
        except OSError as exc:
            # The rows are already gone; an orphan file is harmless, so say so and go on
            log.warning("could not remove %s: %s", path, exc)


# --- create / replace -----------------------------------------------------------------


def create_computed_set(
    target: Target,
    sdf_bytes: bytes,
    owner: User | None,
    pdb_zip: bytes | None = None,
    job_request_id: int | None = None,
    replace: ComputedSet | None = None,
    refuse_duplicate: bool = False,
    on_valid: Callable[[], None] | None = None,
) -> tuple[ComputedSet | None, ValidationReport]:
    """Validate a computed-set SDF and store it as a new set (or as ``replace``'s new file).

    :param target: the target whose proteins ``ref_mols``/``ref_pdb`` must name.
    :param sdf_bytes: the file as uploaded or fetched.
    :param owner: the uploader (None: an anonymous set). With ``replace`` this is who
        replaces it; the set keeps its owner.
    :param pdb_zip: an optional zip of PDB files that ``ref_pdb`` values may name.
    :param job_request_id: the JobRequest the set comes from; a second call for the same job
        (a retried import) returns the set the first one stored.
    :param replace: an existing set of ``target`` whose molecules and file are replaced.
    :param refuse_duplicate: raise :class:`DuplicateUpload` when the same bytes are already
        a set of ``target`` (uploads do, unless "upload anyway" is ticked).
    :param on_valid: called once the file is found valid, before it is stored (the
        background task records its progress).
    :returns: ``(set, report)``; the set is None and nothing is stored unless ``report.ok``.
    :raises ValueError: ``replace`` belongs to another target.
    :raises DuplicateUpload: see ``refuse_duplicate``; nothing is stored.
    """
    if replace is not None and replace.target_id != target.id:
        raise ValueError(f"{replace.name} is a set of another target than {target.title}")
    if refuse_duplicate:
        existing = duplicate_of(target, sdf_bytes)
        if existing is not None:
            raise DuplicateUpload(existing)
    # Job results get their header from the importer, which describes only what the job's
    # metadata describes: their undescribed scores are accepted.
    report = validate_upload(
        target, sdf_bytes, pdb_zip, require_descriptions=job_request_id is None
    )
    if not report.ok:
        return None, report
    if on_valid is not None:
        on_valid()
    for attempt in range(NAME_ATTEMPTS):
        existing = imported_set(job_request_id)
        if existing is not None:
            return existing, report
        try:
            return store_set(
                target, report.parsed, sdf_bytes, owner, pdb_zip, job_request_id, replace
            ), report
        except IntegrityError:
            # Another upload took the name (or imported the job) between our read and commit
            if replace is not None or attempt == NAME_ATTEMPTS - 1:
                raise
            log.info("computed set name taken concurrently; trying the next letter")
    raise AssertionError("unreachable")


def imported_set(job_request_id: int | None) -> ComputedSet | None:
    if job_request_id is None:
        return None
    return db.session.scalar(
        select(ComputedSet).where(ComputedSet.job_request_id == job_request_id)
    )


def store_set(
    target: Target,
    parsed: ParsedSet,
    sdf_bytes: bytes,
    owner: User | None,
    pdb_zip: bytes | None,
    job_request_id: int | None,
    replace: ComputedSet | None,
) -> ComputedSet:
    """Write the files and the rows in one transaction; undo both on any failure."""
    if replace is not None:
        name = replace.name
    elif job_request_id is not None and (job := db.session.get(JobRequest, job_request_id)):
        name = job_set_name(job, utcnow().date())
    else:
        name = next_set_name(parsed.method, utcnow().date())
    stem = f"{CSETS_DIR}/{name}/{name}-{secrets.token_hex(4)}"
    new_files = [f"{stem}.sdf"] + ([f"{stem}-pdbs.zip"] if pdb_zip is not None else [])
    old_files = [replace.sdf_file, replace.zip_file] if replace is not None else []
    try:
        write_file(new_files[0], sdf_bytes)
        if pdb_zip is not None:
            write_file(new_files[1], pdb_zip)
        cset = replace
        if cset is None:
            now = utcnow()  # one instant, so "replaced" is only shown after a replace
            cset = ComputedSet(
                name=name,
                target=target,
                owner=owner,
                job_request_id=job_request_id,
                created=now,
                updated=now,
            )
            db.session.add(cset)
        else:
            delete_molecules(cset.id)
            cset.updated = utcnow()
        fill_set(cset, parsed, new_files)
        cset.sdf_sha256 = sdf_digest(sdf_bytes)
        db.session.flush()
        add_molecules(cset, target, parsed)
        AuditEvent.record(
            owner,
            "replace" if replace is not None else "create",
            "computed_set",
            cset.id,
            cset.name,
            target=target.title,
            molecules=cset.molecule_count,
            job_request=job_request_id,
        )
        db.session.commit()
    except BaseException:
        db.session.rollback()
        remove_files(new_files)
        raise
    remove_files(old_files)
    log.info(
        "computed set %s %s by %s: %d molecules",
        cset.name,
        "replaced" if replace is not None else "stored",
        owner.username if owner else "anonymous",
        cset.molecule_count,
    )
    return cset


def fill_set(cset: ComputedSet, parsed: ParsedSet, files: list[str]) -> None:
    cset.submitter_name = parsed.submitter_name
    cset.submitter_email = parsed.submitter_email
    cset.submitter_institution = parsed.submitter_institution
    cset.method = parsed.method
    cset.ref_url = parsed.ref_url
    cset.generation_date = parsed.generation_date
    # The submitter's own descriptions win over ours for a name both use
    cset.descriptions = {**chem.FIGURES, **parsed.descriptions}
    cset.score_names = parsed.score_names + [n for n in chem.FIGURES if n not in parsed.score_names]
    cset.sdf_file = files[0]
    cset.zip_file = files[1] if len(files) > 1 else None
    cset.molecule_count = len(parsed.molecules)


def add_molecules(cset: ComputedSet, target: Target, parsed: ParsedSet) -> None:
    """Add the molecules, linked to the proteins their ref_mols name (validated already)."""
    proteins = {
        p.code: p for p in db.session.scalars(select(Protein).where(Protein.target_id == target.id))
    }
    rings = InspirationRings(proteins)
    known: dict[str, StructureFigures] = {}
    rows = []
    for m in parsed.molecules:
        scores, flags = chemistry_of(m, rings, known)
        rows.append(
            ComputedMolecule(
                computed_set_id=cset.id,
                name=m.name,
                smiles=m.smiles,
                original_smiles=m.original_smiles,
                mol_block=m.mol_block,
                ref_mols=m.ref_mols,
                ref_pdb=m.ref_pdb,
                scores=scores,
                flags=flags,
                inspirations=[proteins[code] for code in m.ref_mols],
            )
        )
    db.session.add_all(rows)


class InspirationRings:
    """Aromatic ring counts of a target's proteins' ligands, each read once per upload."""

    def __init__(self, proteins: dict[str, Protein]) -> None:
        self.proteins = proteins
        self.counts: dict[str, int | None] = {}

    def __getitem__(self, code: str) -> int | None:
        """The ligand's aromatic rings; None when it has no readable ligand."""
        if code not in self.counts:
            self.counts[code] = self.read(self.proteins[code])
        return self.counts[code]

    @staticmethod
    def read(protein: Protein) -> int | None:
        mol = None
        if protein.smiles:
            mol = Chem.MolFromSmiles(protein.smiles)
        if mol is None and protein.mol_file:
            try:
                mol = chem.mol_from_molblock(data_path(protein.mol_file).read_text())
            except (OSError, UnicodeDecodeError, chem.MoleculeError):
                mol = None
        return chem.aromatic_rings(mol) if mol is not None else None


@dataclass(frozen=True)
class StructureFigures:
    """What depends only on the 2D structure: the same for every pose of one molecule."""

    figures: dict[str, float]
    aromatic_rings: int
    fragments: int


def chemistry_of(
    molecule: ParsedMolecule, rings: InspirationRings, known: dict[str, StructureFigures]
) -> tuple[dict, list[str]]:
    """The molecule's scores with the RDKit figures added, and its flags (names of FLAGS).

    ``known`` caches the figures by SMILES within one upload: docking and merging tools
    write several poses of a molecule, and QED alone costs ~0.5 ms a molecule.

    lost_aromaticity: fewer aromatic rings than the inspiration with the fewest, so a merge
    of a benzene hit and an aliphatic hit is not flagged for having one ring, but a merge
    whose every inspiration has two and which kept one is.
    """
    scores = dict(molecule.scores)
    flags: list[str] = []
    mol = molecule.mol if molecule.mol is not None else chem.mol_from_molblock(molecule.mol_block)
    structure = known.get(molecule.smiles)
    if structure is None:
        structure = StructureFigures(
            chem.figures_of(mol), chem.aromatic_rings(mol), chem.fragment_count(mol)
        )
        known[molecule.smiles] = structure
    finite = chem.has_finite_coordinates(mol)
    for key, value in structure.figures.items():
        if not math.isfinite(value):
            finite = False  # JSON cannot hold it: left out, and said so by the flag
        elif key not in scores:  # a submitted score of the same name is kept
            scores[key] = value
    if structure.fragments > 1:
        flags.append("disconnected")
    counts = [n for n in (rings[code] for code in molecule.ref_mols) if n is not None]
    if counts and structure.aromatic_rings < min(counts):
        flags.append("lost_aromaticity")
    if any(
        key.lower() in DDG_NAMES and isinstance(value, float) and value > 0
        for key, value in molecule.scores.items()
    ):
        flags.append("positive_ddg")
    if not finite:
        flags.append("non_finite")
    return scores, flags


def delete_molecules(cset_id: int) -> None:
    """Bulk-delete a set's molecules and their links (no reliance on SQLite's FK pragma)."""
    ids = select(ComputedMolecule.id).where(ComputedMolecule.computed_set_id == cset_id)
    db.session.execute(
        delete(computed_molecule_inspirations).where(
            computed_molecule_inspirations.c.molecule_id.in_(ids)
        )
    )
    db.session.execute(
        delete(ComputedMolecule).where(ComputedMolecule.computed_set_id == cset_id),
        execution_options={"synchronize_session": False},
    )


# --- delete ---------------------------------------------------------------------------


def delete_computed_set(cset: ComputedSet, by: User) -> None:
    """Delete a set, its molecules and files in one transaction, audited as who/when."""
    files = [cset.sdf_file, cset.zip_file]
    name, count = cset.name, cset.molecule_count
    try:
        delete_molecules(cset.id)
        AuditEvent.record(
            by,
            "delete",
            "computed_set",
            cset.id,
            name,
            target=cset.target.title,
            owner=cset.owner.username if cset.owner else None,
            molecules=count,
        )
        job = db.session.get(JobRequest, cset.job_request_id) if cset.job_request_id else None
        if job is not None and job.computed_set_id == cset.id:
            job.computed_set_id = None
            who = by.username if by is not None else "an administrator"
            if (
                states.report(
                    job, states.SUCCESS, "user", message=f"computed set {name} deleted by {who}"
                )
                == "applied"
            ):
                job.message = (
                    f"Its computed set {name} was deleted; import the results again to restore it."
                )
        db.session.delete(cset)
        db.session.commit()
    except BaseException:
        db.session.rollback()
        raise
    # Files go only once the rows are gone: a failed commit keeps the set whole
    remove_files(files)
    log.info("computed set %s (%d molecules) deleted by %s", name, count, by.username)


# --- reading --------------------------------------------------------------------------

SDF_MIMETYPE = "chemical/x-mdl-sdfile"


def send_sdf(cset: ComputedSet) -> Response:
    """The stored SDF, byte for byte, as ``<name>.sdf``."""
    path = data_path(cset.sdf_file)
    if not path.is_file():
        log.error("computed set %s: stored file %s is missing", cset.name, path)
        abort(404)
    return send_file(
        path, mimetype=SDF_MIMETYPE, as_attachment=True, download_name=f"{cset.name}.sdf", max_age=0
    )


def cset_list(target: str | None = None) -> list[ComputedSet]:
    """The sets the caller may see, newest first, with target, owner and job loaded in the
    same query: the one list the page and the API share."""
    stmt = visible_computed_sets().options(
        contains_eager(ComputedSet.target), joinedload(ComputedSet.owner)
    )
    if target:
        stmt = stmt.where(Target.title == target)
    return list(
        db.session.scalars(
            stmt.order_by(ComputedSet.created.desc(), ComputedSet.id.desc())
        ).unique()
    )


# --- the set page's table: sorted, filtered and paged in the database -----------------

# Columns every set has besides its scores: the ?sort= value -> the molecule's attribute
FIXED_COLUMNS = {"name": "name", "smiles": "smiles", "ref_pdb": "ref_pdb"}
NUMBER, TEXT, MISSING = 0, 1, 2


def score_expressions(score: str):
    """(kind, number, text) SQL of one score in ``ComputedMolecule.scores``: ``kind`` is
    NUMBER, TEXT or MISSING, so a sort puts numbers first, then text, then molecules
    without the score, in either direction, on SQLite and PostgreSQL alike."""
    scores = ComputedMolecule.scores
    if db.session.get_bind().dialect.name == "sqlite":
        path = '$."' + score.replace('"', '""') + '"'
        kind_of = func.json_type(scores, path)
        kind = case(
            (kind_of.in_(("real", "integer")), NUMBER),
            (kind_of.in_(("text", "true", "false")), TEXT),
            else_=MISSING,
        )
        value = func.json_extract(scores, path)
        return kind, value, value
    kind_of = func.json_typeof(scores[score])
    kind = case(
        (kind_of == "number", NUMBER), (kind_of.in_(("string", "boolean")), TEXT), else_=MISSING
    )
    return kind, case((kind_of == "number", scores[score].as_float())), scores[score].as_string()


@dataclass
class MoleculeFilter:
    """What the set page's query string asks for: sort, order, flag, text, score ranges."""

    sort: str = ""
    descending: bool = False
    flag: str = ""
    text: str = ""
    ranges: dict[str, tuple[float | None, float | None]] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    @classmethod
    def from_args(cls, cset: ComputedSet, args) -> MoleculeFilter:
        """Read ``sort``, ``order`` (or ``dir``), ``flag``, ``q``, ``min_<score>`` and
        ``max_<score>``; unknown names are ignored, a bound that is not a number is a
        problem the page shows (and ignores)."""
        wanted = cls()
        sort = args.get("sort", "")
        wanted.sort = sort if sort in FIXED_COLUMNS or sort in cset.score_names else ""
        wanted.descending = (args.get("order") or args.get("dir")) == "desc"
        flag = args.get("flag", "")
        wanted.flag = flag if flag in FLAGS else ""
        wanted.text = args.get("q", "").strip()[:200]
        for score in cset.score_names:
            bounds = []
            for side in ("min", "max"):
                raw = args.get(f"{side}_{score}", "").strip()
                number = None
                if raw:
                    try:
                        number = float(raw)
                    except ValueError:
                        number = None
                    if number is None or not math.isfinite(number):
                        wanted.problems.append(f"{side}_{score}: {raw!r} is not a number")
                        number = None
                bounds.append(number)
            if bounds != [None, None]:
                wanted.ranges[score] = (bounds[0], bounds[1])
        return wanted

    @property
    def narrows(self) -> bool:
        return bool(self.flag or self.text or self.ranges)

    def args(self) -> dict[str, str]:
        """The query string that asks for this filter (and sort) again."""
        out = {}
        if self.sort:
            out["sort"] = self.sort
            out["order"] = "desc" if self.descending else "asc"
        if self.flag:
            out["flag"] = self.flag
        if self.text:
            out["q"] = self.text
        for score, (low, high) in self.ranges.items():
            if low is not None:
                out[f"min_{score}"] = f"{low:g}"
            if high is not None:
                out[f"max_{score}"] = f"{high:g}"
        return out

    def where(self, stmt: Select) -> Select:
        if self.flag:
            stmt = stmt.where(
                cast(ComputedMolecule.flags, String).contains(f'"{self.flag}"', autoescape=True)
            )
        if self.text:
            stmt = stmt.where(
                func.lower(ComputedMolecule.name).contains(self.text.lower(), autoescape=True)
                | ComputedMolecule.smiles.contains(self.text, autoescape=True)
            )
        for score, (low, high) in self.ranges.items():
            kind, number, _ = score_expressions(score)
            stmt = stmt.where(kind == NUMBER)
            if low is not None:
                stmt = stmt.where(number >= low)
            if high is not None:
                stmt = stmt.where(number <= high)
        return stmt

    def order(self, stmt: Select) -> Select:
        if self.sort in FIXED_COLUMNS:
            column = getattr(ComputedMolecule, FIXED_COLUMNS[self.sort])
            stmt = stmt.order_by(column.desc() if self.descending else column.asc())
        elif self.sort:
            kind, number, text = score_expressions(self.sort)
            # SQLite's one value orders numbers and text alike: one sort key, not two
            keys = [number] if number is text else [number, text]
            stmt = stmt.order_by(kind, *(k.desc() if self.descending else k for k in keys))
        return stmt.order_by(ComputedMolecule.id)


def selected_molecules(cset: ComputedSet, wanted: MoleculeFilter) -> Select:
    """The set's molecules ``wanted`` chooses, in its order (the whole rows)."""
    stmt = select(ComputedMolecule).where(ComputedMolecule.computed_set_id == cset.id)
    return wanted.order(wanted.where(stmt))


def molecule_rows(cset: ComputedSet, wanted: MoleculeFilter, number: int | None, size: int):
    """One page of the set's molecules as ``wanted`` sorts and filters them, and the Page:
    the database sorts, filters and cuts the page (a 40,000-molecule set is never loaded).

    Only ids go through the sort (with the filter's count in the same pass); the page's
    rows are read by id after: sorting whole rows made a 40,000-molecule page 3x slower."""
    # the filter's count comes with the ids (one pass); without a filter it is the set's
    total_column = func.count().over() if wanted.narrows else literal(cset.molecule_count)
    ids_stmt = wanted.order(
        wanted.where(
            select(ComputedMolecule.id, total_column.label("total")).where(
                ComputedMolecule.computed_set_id == cset.id
            )
        )
    )
    number = max(1, number or 1)
    rows = db.session.execute(ids_stmt.offset((number - 1) * size).limit(size)).all()
    if rows:
        total = rows[0].total
    elif wanted.narrows:
        counted = wanted.where(
            select(func.count(ComputedMolecule.id)).where(
                ComputedMolecule.computed_set_id == cset.id
            )
        )
        total = db.session.scalar(counted) or 0
    else:
        total = cset.molecule_count
    page = Page.of(total, number, size)
    if page.number != number:  # asked past the last page: show the last one
        rows = db.session.execute(ids_stmt.offset(page.offset).limit(size)).all()
    ids = [row.id for row in rows]
    found = {
        m.id: m
        for m in db.session.scalars(
            select(ComputedMolecule)
            .where(ComputedMolecule.id.in_(ids))
            .options(defer(ComputedMolecule.mol_block), defer(ComputedMolecule.depiction_svg))
        )
    }
    return [found[i] for i in ids if i in found], page


def flag_counts(cset: ComputedSet) -> dict[str, int]:
    """How many of the set's molecules carry each flag (only flags that occur), in one
    pass over the set in the database."""
    text = cast(ComputedMolecule.flags, String)
    counts = db.session.execute(
        select(
            *(
                func.coalesce(
                    func.sum(case((text.contains(f'"{name}"', autoescape=True), 1), else_=0)), 0
                )
                for name in FLAGS
            )
        ).where(ComputedMolecule.computed_set_id == cset.id)
    ).one()
    return {name: int(n) for name, n in zip(FLAGS, counts, strict=True) if n}


def selection_sdf(cset: ComputedSet, molecules) -> Iterator[str]:
    """A valid ver_1.2 file of some of the set's molecules: the set's header, then each
    molecule's pose with its ref_mols, ref_pdb, original SMILES and scores."""
    described = {k: v for k, v in cset.descriptions.items() if k in cset.score_names}
    yield build_header_block(
        cset.submitter_name,
        cset.submitter_email,
        cset.submitter_institution,
        cset.generation_date,
        cset.method,
        cset.ref_url,
        described,
    )
    for molecule in molecules:
        lines = molecule.mol_block.rstrip("\n").split("\n")
        record = [molecule.name, *lines[1:]]
        fields = {
            "ref_mols": ",".join(molecule.ref_mols),
            "ref_pdb": molecule.ref_pdb,
            "original SMILES": molecule.original_smiles,
            **{k: v for k, v in molecule.scores.items()},
        }
        for key, value in fields.items():
            text = repr(value) if isinstance(value, float) else str(value)
            record += [f"> <{key}>", " ".join(text.splitlines()), ""]
        yield "\n".join(record) + "\n$$$$\n"


# --- large uploads: validated and stored by a background task --------------------------

UPLOADS_DIR = "cset-uploads"
UPLOAD_TASK = "app.csets.task.store_upload"
UPLOAD_LIVE = ("QUEUED", "VALIDATING", "STORING")
RECORD_END = re.compile(rb"^\$\$\$\$\r?$", re.MULTILINE)


def molecules_in(sdf_bytes: bytes) -> int:
    """How many molecule records a file holds (its ``$$$$`` lines less the header's)."""
    return max(0, len(RECORD_END.findall(sdf_bytes)) - 1)


def goes_to_background(sdf_bytes: bytes) -> bool:
    """Is the file large enough (CSET_BACKGROUND_MOLECULES) for the background task?"""
    return molecules_in(sdf_bytes) > current_app.config["CSET_BACKGROUND_MOLECULES"]


def queue_upload(
    target: Target,
    sdf_bytes: bytes,
    owner: User,
    pdb_zip: bytes | None = None,
    file_name: str = "",
    validate_only: bool = False,
) -> ComputedSetUpload:
    """Stage the files, commit the upload's row, then queue the task that validates and
    stores it (duplicates are the caller's to refuse first: :func:`duplicate_of`)."""
    from app.queueing import enqueue

    upload = ComputedSetUpload(
        target=target,
        user=owner,
        status="QUEUED",
        progress=0,
        records=molecules_in(sdf_bytes),
        file_name=file_name[:255],
        validate_only=validate_only,
        upload_anyway=True,
    )
    db.session.add(upload)
    db.session.flush()
    stem = f"{UPLOADS_DIR}/{upload.id}-{secrets.token_hex(4)}"
    files = [f"{stem}.sdf"] + ([f"{stem}-pdbs.zip"] if pdb_zip is not None else [])
    try:
        write_file(files[0], sdf_bytes)
        if pdb_zip is not None:
            write_file(files[1], pdb_zip)
        upload.sdf_file = files[0]
        upload.zip_file = files[1] if pdb_zip is not None else None
        db.session.commit()
    except BaseException:
        db.session.rollback()
        remove_files(files)
        raise
    enqueue(
        UPLOAD_TASK,
        "cset-upload",
        upload.id,
        on_failure="app.csets.task.upload_attempt_failed",
        timeout=3600,
    )
    log.info("computed set upload %s (%d molecules) queued", upload.id, upload.records)
    return upload


def upload_or_404(upload_id: int) -> ComputedSetUpload:
    """A background upload of the caller's own (admins: anyone's); 404 otherwise."""
    upload = db.session.get(ComputedSetUpload, upload_id)
    if upload is None or not current_user.is_authenticated:
        abort(404)
    if upload.user_id != current_user.id and not current_user.is_admin:
        abort(404)
    return upload


def upload_status(upload: ComputedSetUpload, status: str, progress: int, **values) -> None:
    """Record how far the task is and commit (what the progress page reads)."""
    upload.status, upload.progress, upload.updated = status, progress, utcnow()
    for key, value in values.items():
        setattr(upload, key, value)
    db.session.commit()


def upload_failed(upload: ComputedSetUpload, message: str) -> None:
    """The upload stops: the page says why; the staged files go."""
    files = [upload.sdf_file, upload.zip_file]
    upload_status(upload, "FAILED", 100, message=message, sdf_file=None, zip_file=None)
    remove_files(files)


def run_upload(upload_id: int) -> str:
    """Validate and store a staged upload (the background task's work); idempotent: a
    finished upload is left alone, a retried one adopts the set an earlier attempt stored."""
    upload = db.session.get(ComputedSetUpload, upload_id)
    if upload is None or upload.status not in UPLOAD_LIVE:
        return upload.status if upload else "missing"
    sdf_bytes = data_path(upload.sdf_file).read_bytes()
    pdb_zip = data_path(upload.zip_file).read_bytes() if upload.zip_file else None
    files = [upload.sdf_file, upload.zip_file]
    earlier = duplicate_of(upload.target, sdf_bytes) if upload.status == "STORING" else None
    if earlier is not None and as_utc(earlier.created) >= as_utc(upload.created):
        cset = earlier
    else:
        upload_status(upload, "VALIDATING", 10)
        if upload.validate_only:
            report = validate_upload(upload.target, sdf_bytes, pdb_zip)
            cset = None
        else:
            cset, report = create_computed_set(
                upload.target,
                sdf_bytes,
                upload.user,
                pdb_zip,
                on_valid=lambda: upload_status(upload, "STORING", 50),
            )
        if not report.ok:
            upload_status(
                upload,
                "FAILED",
                100,
                problems=[
                    {"record": p.record, "name": p.name, "field": p.field, "message": p.message}
                    for p in report.problems
                ],
                message=f"The file was rejected: {len(report.problems)} problem"
                + ("" if len(report.problems) == 1 else "s"),
                sdf_file=None,
                zip_file=None,
            )
            remove_files(files)
            return upload.status
    upload_status(
        upload,
        "DONE",
        100,
        computed_set_id=cset.id if cset is not None else None,
        sdf_file=None,
        zip_file=None,
    )
    remove_files(files)
    return upload.status
