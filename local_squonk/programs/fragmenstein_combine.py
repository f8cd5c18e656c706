"""Stand-in for ``/code/merger.py`` of the Squonk2 Fragmenstein image (combine only).

Merges the given fragment hits with Fragmenstein's RDKit-only Victor (Wictor) in the
context of the protein and writes the merges to an SD-file with ``IDX``, ``DDG``,
``RMSD`` and ``ref_mols`` (plus SMILES and protein fields when asked), and a
``<stem>.meta.json`` describing those fields. A merge that fails is a WARNING event,
not a crash: Fragalysis shows the events and the job still succeeds.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import time
import warnings
from pathlib import Path

from rdkit import Chem, RDLogger

from .events import emit_event
from .molecules import read_molecules


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Fragmenstein combine (RDKit-only Wictor)")
    parser.add_argument("-f", "--fragments", nargs="+", required=True)
    parser.add_argument("-p", "--protein", required=True)
    parser.add_argument("-o", "--outfile", required=True)
    parser.add_argument("-c", "--count", type=int, default=1)
    parser.add_argument("-k", "--keep-hydrogens", action="store_true")
    parser.add_argument("--ref-mols-prop-name", default="ref_mols")
    parser.add_argument("--frag-id-field", default="_Name")
    parser.add_argument("--smiles-prop-name")
    parser.add_argument("--protein-prop-name")
    parser.add_argument("--protein-prop-value")
    parser.add_argument("-w", "--work-dir", default="output")
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args(argv)


def _field_descriptions(args: argparse.Namespace) -> dict[str, dict[str, str]]:
    fields = {
        "IDX": {"type": "string", "description": "Molecule index"},
        "DDG": {"type": "number", "description": "Delta delta G of the minimised merge"},
        "RMSD": {"type": "number", "description": "Combined RMSD to the input fragments"},
        args.ref_mols_prop_name: {
            "type": "string",
            "description": "Comma-separated ids of the input fragments",
        },
    }
    if args.smiles_prop_name:
        fields[args.smiles_prop_name] = {"type": "string", "description": "Molecule SMILES"}
    if args.protein_prop_name:
        fields[args.protein_prop_name] = {"type": "string", "description": "Protein used"}
    return fields


def _readable(mol: Chem.Mol) -> Chem.Mol | None:
    """The merge as a molecule that reads back sanitised (the computed-set validator and
    every consumer will parse it), repaired with the rectifier Fragmenstein uses when
    its aromaticity does not kekulise; None when it cannot be."""
    for candidate in (mol, _rectified(mol)):
        if candidate is None:
            continue
        block = Chem.MolToMolBlock(candidate)
        again = Chem.MolFromMolBlock(block, removeHs=False)
        if again is not None and Chem.MolFromSmiles(Chem.MolToSmiles(Chem.RemoveHs(again))):
            for name in candidate.GetPropNames():
                again.SetProp(name, candidate.GetProp(name))
            return again
    return None


def _rectified(mol: Chem.Mol) -> Chem.Mol | None:
    try:
        from molecular_rectifier import Rectifier

        return Rectifier(Chem.Mol(mol)).fix().mol
    except Exception:  # noqa: BLE001 - a molecule it cannot repair is simply skipped
        return None


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    # Fragmenstein and RDKit are chatty; only events matter to the Data Manager.
    RDLogger.DisableLog("rdApp.*")
    warnings.simplefilter("ignore")
    logging.basicConfig(level=logging.ERROR)
    os.environ.setdefault("DISABLE_PANDERA_IMPORT_WARNING", "True")
    from fragmenstein import Wictor  # slow import, after argument checks

    started = time.monotonic()
    if not Path(args.protein).is_file():
        raise FileNotFoundError(f"Protein file not found: {args.protein}")
    hits = read_molecules(args.fragments, args.frag_id_field)
    ids = [hit_id for hit_id, _ in hits]
    mols = []
    for hit_id, mol in hits:
        mol.SetProp("_Name", hit_id)  # Wictor names the hits it used after _Name
        mols.append(mol)
    emit_event(f"Read {len(hits)} fragments: {', '.join(ids)}")

    outfile = Path(args.outfile)
    outfile.parent.mkdir(parents=True, exist_ok=True)
    Path(args.work_dir).mkdir(parents=True, exist_ok=True)
    protein_value = args.protein_prop_value or Path(args.protein).name

    merged = 0
    with Chem.SDWriter(str(outfile)) as writer:
        if len(mols) < 2:
            emit_event("Fragmenstein combine needs at least two fragments", "WARNING")
        for run in range(1, args.count + 1 if len(mols) >= 2 else 1):
            label = " + ".join(ids)
            try:
                victor = Wictor(
                    hits=mols, pdb_filename=args.protein, monster_random_seed=args.seed + run
                )
                victor.work_path = args.work_dir
                victor.combine(long_name=f"combine-{run}")
                mol = victor.minimized_mol
            except Exception as error:  # Fragmenstein raises many kinds on unmergeable hits
                emit_event(f"Could not merge {label} (run {run}): {error}", "WARNING")
                continue
            if mol is None:
                reason = getattr(victor, "error_msg", "") or "no minimised molecule"
                emit_event(f"Could not merge {label} (run {run}): {reason}", "WARNING")
                continue
            mol = _readable(mol)
            if mol is None:
                emit_event(
                    f"Could not merge {label} (run {run}): the merge is not a molecule "
                    "RDKit can sanitise",
                    "WARNING",
                )
                continue
            merged += 1
            without_h = Chem.RemoveHs(mol)
            if not args.keep_hydrogens:
                mol = without_h
            # Only the fields meta.json describes (Wictor adds its own, e.g. Energy).
            for name in list(mol.GetPropNames()):
                mol.ClearProp(name)
            mol.SetProp("_Name", f"{outfile.stem}-{merged}")
            mol.SetProp("IDX", str(merged))
            mol.SetDoubleProp("DDG", float(victor.ddG))
            mol.SetDoubleProp("RMSD", float(victor.mrmsd.mrmsd))
            mol.SetProp(args.ref_mols_prop_name, ",".join(ids))
            if args.smiles_prop_name:
                mol.SetProp(args.smiles_prop_name, Chem.MolToSmiles(without_h))
            if args.protein_prop_name:
                mol.SetProp(args.protein_prop_name, protein_value)
            writer.write(mol)
            emit_event(f"Merged {label} (run {run}): {Chem.MolToSmiles(without_h)}")

    meta = outfile.with_name(f"{outfile.stem}.meta.json")
    meta.write_text(json.dumps(_field_descriptions(args), indent=2) + "\n", encoding="utf-8")
    emit_event(
        f"Combining {len(hits)} fragments gave {merged} molecules"
        f" in {time.monotonic() - started:.1f} s"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
