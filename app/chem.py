"""RDKit helpers: reading ligand files, SMILES, 2D depictions, figures of molecules."""

from __future__ import annotations

import math

from rdkit import Chem, RDLogger
from rdkit.Chem import QED, AllChem, rdMolDescriptors
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


# --- figures chemists sort by, computed on import ----------------------------------------

# score name -> description (with units) as the set page shows it; "rdkit_" keeps them apart
# from the scores a submitter sends
FIGURES: dict[str, str] = {
    "rdkit_heavy_atoms": "Heavy (non-hydrogen) atoms; computed by RDKit on import",
    "rdkit_MW": "Molecular weight, g/mol (average masses); computed by RDKit on import",
    "rdkit_cLogP": "Calculated octanol/water logP (Wildman-Crippen); computed by RDKit on import",
    "rdkit_HBD": "Hydrogen-bond donors (RDKit's Lipinski-style count); computed on import",
    "rdkit_HBA": "Hydrogen-bond acceptors (RDKit's Lipinski-style count); computed on import",
    "rdkit_rotatable_bonds": "Rotatable bonds (RDKit, strict definition); computed on import",
    "rdkit_QED": "Quantitative estimate of drug-likeness, 0 to 1 (Bickerton et al. 2012); "
    "computed by RDKit on import",
}


def figures_of(mol: Chem.Mol) -> dict[str, float]:
    """The :data:`FIGURES` of a molecule (hydrogens removed), as floats."""
    # QED's own inputs are RDKit's MolWt, MolLogP (Crippen), CalcNumHBD and the strict
    # rotatable bond count: computed once for both (QED's acceptor count is its own)
    qed_inputs = QED.properties(mol)
    return {
        "rdkit_heavy_atoms": float(mol.GetNumHeavyAtoms()),
        "rdkit_MW": round(qed_inputs.MW, 3),
        "rdkit_cLogP": round(qed_inputs.ALOGP, 3),
        "rdkit_HBD": float(qed_inputs.HBD),
        "rdkit_HBA": float(rdMolDescriptors.CalcNumHBA(mol)),
        "rdkit_rotatable_bonds": float(qed_inputs.ROTB),
        "rdkit_QED": round(QED.qed(mol, qedProperties=qed_inputs), 3),
    }


def aromatic_rings(mol: Chem.Mol) -> int:
    return rdMolDescriptors.CalcNumAromaticRings(mol)


def fragment_count(mol: Chem.Mol) -> int:
    """Disconnected pieces (a salt, a lost linker, two poses in one record)."""
    return len(Chem.GetMolFrags(mol))


def has_finite_coordinates(mol: Chem.Mol) -> bool:
    return all(
        math.isfinite(value)
        for conformer in mol.GetConformers()
        for value in conformer.GetPositions().flat
    )
