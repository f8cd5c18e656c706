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

import io
import logging
import re
import secrets
import zipfile
from collections.abc import Iterator
from datetime import date
from itertools import product
from string import ascii_uppercase

from flask import Response, abort, current_app, send_file
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import contains_eager, joinedload

from app.access import visible_computed_sets
from app.csets.validator import (
    ParsedSet,
    Problem,
    ValidationReport,
    validate_computed_set,
)
from app.extensions import db
from app.jobs import states
from app.models import (
    AuditEvent,
    ComputedMolecule,
    ComputedSet,
    JobRequest,
    Protein,
    Target,
    User,
    computed_molecule_inspirations,
)
from app.models.base import utcnow
from app.storage import data_path, write_file

log = logging.getLogger(__name__)

CSETS_DIR = "csets"
MAX_SLUG = 80
# Two uploads of the same method on the same day may race for the same letter
NAME_ATTEMPTS = 5


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


# --- validation -----------------------------------------------------------------------


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
    target: Target, sdf_bytes: bytes, pdb_zip: bytes | None = None
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
    :returns: ``(set, report)``; the set is None and nothing is stored unless ``report.ok``.
    :raises ValueError: ``replace`` belongs to another target.
    """
    if replace is not None and replace.target_id != target.id:
        raise ValueError(f"{replace.name} is a set of another target than {target.title}")
    report = validate_upload(target, sdf_bytes, pdb_zip)
    if not report.ok:
        return None, report
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
    name = replace.name if replace is not None else next_set_name(parsed.method, utcnow().date())
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
    cset.descriptions = dict(parsed.descriptions)
    cset.score_names = parsed.score_names
    cset.sdf_file = files[0]
    cset.zip_file = files[1] if len(files) > 1 else None
    cset.molecule_count = len(parsed.molecules)


def add_molecules(cset: ComputedSet, target: Target, parsed: ParsedSet) -> None:
    """Add the molecules, linked to the proteins their ref_mols name (validated already)."""
    proteins = {
        p.code: p for p in db.session.scalars(select(Protein).where(Protein.target_id == target.id))
    }
    db.session.add_all(
        ComputedMolecule(
            computed_set_id=cset.id,
            name=m.name,
            smiles=m.smiles,
            original_smiles=m.original_smiles,
            mol_block=m.mol_block,
            ref_mols=m.ref_mols,
            ref_pdb=m.ref_pdb,
            scores=m.scores,
            inspirations=[proteins[code] for code in m.ref_mols],
        )
        for m in parsed.molecules
    )


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
