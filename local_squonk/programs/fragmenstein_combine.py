"""Stand-in for ``/code/merger.py`` of the Squonk2 Fragmenstein image (combine only).

Merges the given fragment hits with Fragmenstein's RDKit-only Victor (Wictor) in the
context of the protein and writes the merges to an SD-file with ``IDX``, ``DDG``,
``RMSD``, ``outcome``, ``outcome_reason`` and ``ref_mols`` (plus SMILES and protein
fields when asked), and a ``<stem>.meta.json`` describing those fields.

Every merge is labelled honestly (see :mod:`.outcomes`): Fragmenstein's own
classification, plus a check that the merge kept the aromatic rings of its inspirations.
A merge is written with the bond orders Fragmenstein gave it; one that RDKit cannot
sanitise is repaired only with a label saying so (and what aromaticity it lost). The
``count`` runs often give the same merge; exact duplicates (same InChIKey, heavy-atom
RMSD under 0.1 Å) are written once, and an event says how many distinct merges the runs
gave. A merge that fails is a WARNING event, not a crash: Fragalysis shows the events and
the job still succeeds.
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
from .outcomes import (
    OUTCOME_FIELDS,
    Outcome,
    crashed,
    finite,
    is_duplicate,
    judge,
    summary,
)

REPAIRED = "bond orders repaired by the rectifier (Fragmenstein's did not sanitise)"


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Fragmenstein combine (RDKit-only Wictor)")
    add_job_arguments(parser)
    return parser.parse_args(argv)


def add_job_arguments(parser: argparse.ArgumentParser) -> None:
    """The arguments every mode of the Fragmenstein image takes (combine, place)."""
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


def field_descriptions(args: argparse.Namespace) -> dict[str, dict[str, str]]:
    """What ``<stem>.meta.json`` says about each field the SD-file may carry."""
    fields = {
        "IDX": {"type": "string", "description": "Molecule index"},
        "DDG": {
            "type": "number",
            "description": "Delta delta G of the minimised molecule (absent when not finite)",
        },
        "RMSD": {"type": "number", "description": "Combined RMSD to the input fragments"},
        **OUTCOME_FIELDS,
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


def readable(mol: Chem.Mol) -> tuple[Chem.Mol | None, bool]:
    """The molecule as it reads back sanitised from a molfile (the computed-set validator
    and every consumer will parse it), and whether its bonds had to be repaired for that.

    A merge whose aromatic flags do not kekulise is repaired with the rectifier
    Fragmenstein itself uses; the repaired molecule is only written labelled (the caller
    says so in its reason, and :func:`.outcomes.judge` names any aromatic ring it lost).
    (None, False) when neither reads back.
    """
    for repaired, candidate in ((False, mol), (True, _rectified(mol))):
        if candidate is None:
            continue
        again = Chem.MolFromMolBlock(Chem.MolToMolBlock(candidate), removeHs=False)
        if again is not None and Chem.MolFromSmiles(Chem.MolToSmiles(Chem.RemoveHs(again))):
            return again, repaired
    return None, False


def _rectified(mol: Chem.Mol) -> Chem.Mol | None:
    try:
        from molecular_rectifier import Rectifier

        return Rectifier(Chem.Mol(mol)).fix().mol
    except Exception:  # noqa: BLE001 - a molecule it cannot repair is reported as crashed
        return None


def quiet() -> None:
    """Fragmenstein and RDKit are chatty; only events matter to the Data Manager."""
    RDLogger.DisableLog("rdApp.*")
    warnings.simplefilter("ignore")
    logging.basicConfig(level=logging.ERROR)
    logging.getLogger("Fragmenstein").setLevel(logging.ERROR)
    os.environ.setdefault("DISABLE_PANDERA_IMPORT_WARNING", "True")


def write_record(
    writer: Chem.SDWriter,
    mol: Chem.Mol,
    args: argparse.Namespace,
    *,
    name: str,
    index: int,
    ddg: float,
    rmsd: float,
    outcome: Outcome,
    ref_mols: list[str],
    protein_value: str,
) -> None:
    """One SD record with only the fields meta.json describes (Wictor adds its own, e.g.
    Energy); a non-finite DDG or RMSD is left out, never written as nan."""
    without_h = Chem.RemoveHs(mol)
    if not args.keep_hydrogens:
        mol = without_h
    for prop in list(mol.GetPropNames()):
        mol.ClearProp(prop)
    mol.SetProp("_Name", name)
    mol.SetProp("IDX", str(index))
    if finite(ddg):
        mol.SetDoubleProp("DDG", float(ddg))
    if finite(rmsd):
        mol.SetDoubleProp("RMSD", float(rmsd))
    mol.SetProp("outcome", outcome.label)
    mol.SetProp("outcome_reason", outcome.reason)
    mol.SetProp(args.ref_mols_prop_name, ",".join(ref_mols))
    if args.smiles_prop_name:
        mol.SetProp(args.smiles_prop_name, Chem.MolToSmiles(without_h))
    if args.protein_prop_name:
        mol.SetProp(args.protein_prop_name, protein_value)
    writer.write(mol)


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    quiet()
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

    label = " + ".join(ids)
    outcomes: list[Outcome] = []
    kept: list[Chem.Mol] = []
    runs = args.count if len(mols) >= 2 else 0
    if not runs:
        emit_event("Fragmenstein combine needs at least two fragments", "WARNING")
    with Chem.SDWriter(str(outfile)) as writer:
        for run in range(1, runs + 1):
            try:
                victor = Wictor(
                    hits=mols, pdb_filename=args.protein, monster_random_seed=args.seed + run
                )
                victor.work_path = args.work_dir
                victor.combine(long_name=f"combine-{run}")
            except Exception as error:  # Fragmenstein raises many kinds on unmergeable hits
                outcomes.append(crashed(f"{error.__class__.__name__}: {error}"))
                emit_event(f"Could not merge {label} (run {run}): {error}", "WARNING")
                continue
            mol, repaired = victor.minimized_mol, False
            if mol is not None:
                mol, repaired = readable(mol)
                if mol is None:
                    outcomes.append(crashed("the merge is not a molecule RDKit can sanitise"))
                    emit_event(
                        f"Could not merge {label} (run {run}): the merge is not a molecule "
                        "RDKit can sanitise",
                        "WARNING",
                    )
                    continue
            outcome = judge(victor, mols, mol)
            if repaired:
                outcome.reason += f"; {REPAIRED}"
            outcomes.append(outcome)
            if mol is None:
                emit_event(
                    f"Could not merge {label} (run {run}): {outcome.label}: {outcome.reason}",
                    "WARNING",
                )
                continue
            if any(is_duplicate(mol, other) for other in kept):
                outcome.duplicate = True
                emit_event(
                    f"Merged {label} (run {run}): the same molecule as an earlier run,"
                    " not written again"
                )
                continue
            kept.append(mol)
            smiles = Chem.MolToSmiles(Chem.RemoveHs(mol))
            write_record(
                writer,
                mol,
                args,
                name=f"{outfile.stem}-{len(kept)}",
                index=len(kept),
                ddg=victor.ddG,
                rmsd=victor.mrmsd.mrmsd,
                outcome=outcome,
                ref_mols=ids,
                protein_value=protein_value,
            )
            emit_event(f"Merged {label} (run {run}): {smiles} ({outcome.label}: {outcome.reason})")

    meta = outfile.with_name(f"{outfile.stem}.meta.json")
    meta.write_text(json.dumps(field_descriptions(args), indent=2) + "\n", encoding="utf-8")
    if runs:
        emit_event(summary(runs, outcomes, len(kept)))
    emit_event(
        f"Combining {len(hits)} fragments gave {len(kept)} molecules"
        f" in {time.monotonic() - started:.1f} s"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
