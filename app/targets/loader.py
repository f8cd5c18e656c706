"""Target loader: a directory of ligand mol files and apo-desolv PDBs -> a Target.

Layout read: ``<code>.mol`` (the bound ligand) and ``<code>_apo-desolv.pdb`` (the protein
without ligand and solvent), or one shared template PDB for every protein. Files are copied
under ``DATA_DIR/targets/<title>/<code>/``; a reload replaces only files whose bytes changed
and moves ``Target.last_updated_datetime`` only when something changed.
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import select

from app.chem import MoleculeError, depiction_svg, mol_from_molblock, smiles_of
from app.extensions import db
from app.models import Project, Protein, Target
from app.models.base import utcnow
from app.storage import write_file

log = logging.getLogger(__name__)

SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,199}$")
APO_SUFFIX = "_apo-desolv.pdb"


class LoadError(ValueError):
    """The load cannot start (bad directory, title or project)."""


@dataclass
class LoadReport:
    target: str
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    rejected: dict[str, str] = field(default_factory=dict)  # file name -> reason

    @property
    def changed(self) -> bool:
        return bool(self.added or self.updated)

    def summary(self) -> str:
        text = (
            f"{self.target}: {len(self.added)} added, {len(self.updated)} updated, "
            f"{len(self.unchanged)} unchanged, {len(self.rejected)} rejected"
        )
        for name, reason in sorted(self.rejected.items()):
            text += f"\n  rejected {name}: {reason}"
        return text


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _named_molblock(molblock: str, code: str) -> str:
    """Put the protein code on the mol block's title line (Fragalysis ligand files carry it)."""
    lines = molblock.splitlines()
    if not lines:
        return molblock
    lines[0] = code
    return "\n".join(lines) + "\n"


def get_or_create_project(title: str, public: bool | None = None) -> Project:
    if not SAFE_NAME.match(title):
        raise LoadError(f"project name {title!r} may use letters, digits, '-', '_' and '.' only")
    project = db.session.scalar(select(Project).where(Project.title == title))
    if project is None:
        project = Project(title=title, open_to_public=bool(public))
        db.session.add(project)
    elif public is not None:
        project.open_to_public = public
    return project


def load_target(
    directory: Path | str,
    title: str,
    project: str,
    public: bool | None = None,
    template_pdb: Path | str | None = None,
) -> LoadReport:
    """Load (or reload) a target from a directory; commits once at the end.

    :param directory: folder of ``<code>.mol`` and ``<code>_apo-desolv.pdb`` files
    :param title: target title, also its folder name under DATA_DIR
    :param project: the proposal the target belongs to (created when new)
    :param public: make the project open to the public (None leaves an existing one alone)
    :param template_pdb: one PDB used as every protein's apo-desolv file
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise LoadError(f"{directory} is not a directory")
    if not SAFE_NAME.match(title):
        raise LoadError(f"target title {title!r} may use letters, digits, '-', '_' and '.' only")
    template_bytes = Path(template_pdb).read_bytes() if template_pdb else None

    project_row = get_or_create_project(project, public)
    target = db.session.scalar(select(Target).where(Target.title == title))
    if target is None:
        target = Target(title=title, project=project_row)
        db.session.add(target)
    elif target.project is not project_row:
        raise LoadError(f"target {title} belongs to project {target.project.title}, not {project}")
    existing = {p.code: p for p in target.proteins}
    report = LoadReport(target=title)

    for mol_path in sorted(directory.glob("*.mol")):
        code = mol_path.stem
        if not SAFE_NAME.match(code):
            report.rejected[mol_path.name] = "file name is not a valid protein code"
            continue
        try:
            raw = mol_path.read_text(encoding="utf-8", errors="strict")
            mol = mol_from_molblock(raw)
        except (UnicodeDecodeError, MoleculeError) as exc:
            reason = "not a text file" if isinstance(exc, UnicodeDecodeError) else str(exc)
            report.rejected[mol_path.name] = reason
            log.warning("rejected %s: %s", mol_path, reason)
            continue

        mol_bytes = _named_molblock(raw, code).encode()
        apo_path = directory / f"{code}{APO_SUFFIX}"
        apo_bytes = apo_path.read_bytes() if apo_path.is_file() else template_bytes

        protein = existing.get(code)
        is_new = protein is None
        if is_new:
            protein = Protein(code=code, target=target)
            db.session.add(protein)
        changed = False
        folder = f"targets/{title}/{code}"
        mol_sha = _sha256(mol_bytes)
        if protein.mol_sha256 != mol_sha:
            write_file(f"{folder}/{code}.mol", mol_bytes)
            protein.mol_file, protein.mol_sha256 = f"{folder}/{code}.mol", mol_sha
            protein.smiles = smiles_of(mol)
            protein.depiction_svg = depiction_svg(mol)
            changed = True
        if apo_bytes is not None:
            apo_sha = _sha256(apo_bytes)
            if protein.apo_desolv_sha256 != apo_sha:
                write_file(f"{folder}/{code}{APO_SUFFIX}", apo_bytes)
                protein.apo_desolv_file = f"{folder}/{code}{APO_SUFFIX}"
                protein.apo_desolv_sha256 = apo_sha
                changed = True
        if is_new:
            report.added.append(code)
        elif changed:
            report.updated.append(code)
        else:
            report.unchanged.append(code)
        if changed:
            protein.updated = utcnow()

    if report.changed:
        target.last_updated_datetime = utcnow()
    db.session.commit()
    log.info("%s", report.summary().splitlines()[0])
    return report
