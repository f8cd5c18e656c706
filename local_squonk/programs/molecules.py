"""Reading the molfiles and SD-files that jobs take as inputs."""

from __future__ import annotations

from pathlib import Path

from rdkit import Chem


def read_molecules(paths: list[str], id_field: str = "_Name") -> list[tuple[str, Chem.Mol]]:
    """(id, molecule) for every molecule of every file, in order.

    The id is the ``id_field`` property when it is set, otherwise the file stem
    (Fragalysis .mol files carry their code on the first line, i.e. in ``_Name``;
    other molfiles often leave it blank).

    :param paths: molfiles (``.mol``) or SD-files (anything else)
    :param id_field: the property holding each molecule's id
    :raises ValueError: for a file without a readable molecule
    """
    found: list[tuple[str, Chem.Mol]] = []
    for path in paths:
        stem = Path(path).stem
        if path.lower().endswith(".mol"):
            mol = Chem.MolFromMolFile(path, removeHs=False)
            mols = [mol] if mol is not None else []
        else:
            mols = [m for m in Chem.SDMolSupplier(path, removeHs=False) if m is not None]
        if not mols:
            raise ValueError(f"No readable molecule in {path}")
        for index, mol in enumerate(mols, 1):
            value = mol.GetProp(id_field).strip() if mol.HasProp(id_field) else ""
            if not value:
                value = stem if len(mols) == 1 else f"{stem}-{index}"
            found.append((value, mol))
    return found
