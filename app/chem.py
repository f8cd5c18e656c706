"""RDKit helpers: reading ligand files, SMILES, 2D depictions."""

from __future__ import annotations

from rdkit import Chem, RDLogger
from rdkit.Chem import AllChem
from rdkit.Chem.Draw import rdMolDraw2D

# RDKit writes parse problems to stderr; we report them ourselves, by file name
RDLogger.DisableLog("rdApp.*")


class MoleculeError(ValueError):
    """A molecule that RDKit cannot read."""


def mol_from_molblock(molblock: str) -> Chem.Mol:
    """Parse a mol block with sanitisation, raising MoleculeError when RDKit cannot."""
    mol = Chem.MolFromMolBlock(molblock, sanitize=True, removeHs=True)
    if mol is None or mol.GetNumAtoms() == 0:
        raise MoleculeError("RDKit could not read the molecule")
    return mol


def smiles_of(mol: Chem.Mol) -> str:
    """Canonical isomeric SMILES."""
    return Chem.MolToSmiles(mol)


def depiction_svg(mol: Chem.Mol, width: int = 160, height: int = 120) -> str:
    """A 2D depiction as a standalone SVG document (computed once, stored)."""
    flat = Chem.Mol(mol)
    AllChem.Compute2DCoords(flat)
    drawer = rdMolDraw2D.MolDraw2DSVG(width, height)
    options = drawer.drawOptions()
    options.clearBackground = False
    options.addStereoAnnotation = False
    drawer.DrawMolecule(flat)
    drawer.FinishDrawing()
    return drawer.GetDrawingText()
