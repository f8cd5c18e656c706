"""Fixtures for computed sets: a second member, valid SDF files for Mac1 and Mpro, and sets
stored through the real store (owned by a user, or anonymous)."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest
from rdkit import Chem
from sqlalchemy import func, select

from app.csets.validator import build_header_block
from app.extensions import db
from app.models import AuditEvent, ComputedMolecule, ComputedSet
from tests import factories
from tests.conftest import MPRO_DIR

CORPUS = Path(__file__).resolve().parents[1] / "data" / "csets"
VALID_MAC1 = CORPUS / "valid_mac1.sdf"
DESCRIPTIONS = {
    "DDG": "Gibbs free energy of binding, kcal/mol",
    "RMSD": "RMSD of the placed atoms to the hits, Å",
    "outcome": "Fragmenstein outcome label",
}


def build_sdf(
    molecules: list[tuple[str, str, list[str]]],
    method: str = "test-method",
    ref_pdb: str | None = None,
) -> bytes:
    """A valid computed-set file: (name, mol block, ref_mols) per molecule, with scores."""
    text = build_header_block(
        "Ada Lovelace",
        "ada@example.org",
        "Diamond Light Source",
        "2024-03-15",
        method,
        "https://fragalysis.example.org/x/",
        DESCRIPTIONS,
    )
    for number, (name, block, ref_mols) in enumerate(molecules):
        lines = block.rstrip("\n").split("\n")
        smiles = Chem.MolToSmiles(Chem.MolFromMolBlock(block))
        text += "\n".join([name, *lines[1:]]) + "\n"
        for key, value in (
            ("ref_mols", ",".join(ref_mols)),
            ("ref_pdb", ref_pdb or ref_mols[0]),
            ("original SMILES", smiles),
            ("DDG", f"{-3.5 + number * 0.75:.2f}"),
            ("RMSD", f"{0.4 + (number % 3) * 0.3:.2f}"),
            ("outcome", "acceptable" if number % 2 else "too distant"),
        ):
            text += f"> <{key}>\n{value}\n\n"
        text += "$$$$\n"
    return text.encode()


def mol_block_of(folder: Path, code: str) -> str:
    return (folder / f"{code}.mol").read_text()


@pytest.fixture
def colleague(users):
    """A second member of the member's projects (tests/conftest.py ``users``)."""
    return "colleague"


@pytest.fixture
def mpro_sdf(small_targets) -> bytes:
    """A valid file for the private Mpro target (its three loaded ligands)."""
    codes = small_targets["Mpro"]
    return build_sdf(
        [(f"{code}-pose", mol_block_of(MPRO_DIR, code), [code]) for code in codes],
        method="mpro-docking",
    )


@pytest.fixture
def mac1_sdf(small_targets) -> bytes:
    """The corpus' valid Mac1 file (8 molecules, DDG/RMSD/outcome scores)."""
    return VALID_MAC1.read_bytes()


@pytest.fixture
def store_set(app):
    """``store_set("Mac1", sdf, owner="member" | None)`` -> the stored set's name."""

    def store(title: str, sdf: bytes, owner: str | None = "member", **kwargs) -> str:
        return factories.computed_set(app, title, sdf, owner, **kwargs)

    return store


def zip_of(names: list[str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name in names:
            archive.writestr(name, "HEADER    TEST\nEND\n")
    return buffer.getvalue()


def stored_state(app) -> dict:
    """Row counts and stored files: what 'nothing was stored' is checked against."""
    with app.app_context():
        folder = Path(app.config["DATA_DIR"]) / "csets"
        return {
            "sets": db.session.scalar(select(func.count(ComputedSet.id))),
            "molecules": db.session.scalar(select(func.count(ComputedMolecule.id))),
            "links": db.session.scalar(
                select(func.count()).select_from(
                    db.metadata.tables["computed_molecule_inspirations"]
                )
            ),
            "audit": db.session.scalar(select(func.count(AuditEvent.id))),
            "files": sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())
            if folder.exists()
            else [],
        }
