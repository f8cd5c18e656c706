"""Stand-in for the place-string mode of the Squonk2 Fragmenstein image.

Places each given SMILES onto the given fragment hits (its inspirations) with
Fragmenstein's RDKit-only Victor (Wictor), minimised in the context of the protein, and
writes the placed molecules to an SD-file with the same fields as the combine job
(``IDX``, ``DDG``, ``RMSD``, ``outcome``, ``outcome_reason``, ``ref_mols``, SMILES and
protein fields when asked) and a ``<stem>.meta.json`` describing them. Each placement is
labelled as :mod:`.outcomes` says (Fragmenstein's Laboratory labels; size is not judged,
as the Laboratory's placements do not; aromatic rings are checked against the SMILES);
exact duplicates across the ``count`` runs of one SMILES are written once. A SMILES that
cannot be placed is a WARNING event, not a crash.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from rdkit import Chem

from .events import emit_event
from .fragmenstein_combine import (
    REPAIRED,
    add_job_arguments,
    field_descriptions,
    quiet,
    readable,
    write_record,
)
from .molecules import read_molecules
from .outcomes import Outcome, crashed, is_duplicate, judge, summary

# Laboratory.place judges size with this tolerance: a placement is never "equally sized".
SIZE_TOLERANCE = 50


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Fragmenstein place (RDKit-only Wictor)")
    parser.add_argument("-s", "--smiles", nargs="+", required=True)
    add_job_arguments(parser)
    return parser.parse_args(argv)


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
        mol.SetProp("_Name", hit_id)
        mols.append(mol)
    emit_event(f"Read {len(hits)} fragments: {', '.join(ids)}")

    outfile = Path(args.outfile)
    outfile.parent.mkdir(parents=True, exist_ok=True)
    Path(args.work_dir).mkdir(parents=True, exist_ok=True)
    protein_value = args.protein_prop_value or Path(args.protein).name

    written = 0
    with Chem.SDWriter(str(outfile)) as writer:
        for number, smiles in enumerate(args.smiles, 1):
            wanted = Chem.MolFromSmiles(smiles)
            if wanted is None:
                emit_event(f"SMILES {number} ({smiles!r}) is not a valid SMILES", "WARNING")
                continue
            outcomes: list[Outcome] = []
            kept: list[Chem.Mol] = []
            for run in range(1, args.count + 1):
                where = f"{smiles} on {' + '.join(ids)} (run {run})"
                try:
                    victor = Wictor(
                        hits=mols, pdb_filename=args.protein, monster_random_seed=args.seed + run
                    )
                    victor.work_path = args.work_dir
                    victor.place(smiles, long_name=f"place-{number}-{run}")
                except Exception as error:  # Fragmenstein raises many kinds
                    outcomes.append(crashed(f"{error.__class__.__name__}: {error}"))
                    emit_event(f"Could not place {where}: {error}", "WARNING")
                    continue
                mol, repaired = victor.minimized_mol, False
                if mol is not None:
                    mol, repaired = readable(mol)
                    if mol is None:
                        outcomes.append(crashed("the placed molecule does not sanitise"))
                        emit_event(f"Could not place {where}: it does not sanitise", "WARNING")
                        continue
                outcome = judge(victor, mols, mol, size_tolerance=SIZE_TOLERANCE, wanted=wanted)
                if repaired:
                    outcome.reason += f"; {REPAIRED}"
                outcomes.append(outcome)
                if mol is None:
                    emit_event(
                        f"Could not place {where}: {outcome.label}: {outcome.reason}", "WARNING"
                    )
                    continue
                if any(is_duplicate(mol, other) for other in kept):
                    outcome.duplicate = True
                    continue
                kept.append(mol)
                written += 1
                write_record(
                    writer,
                    mol,
                    args,
                    name=f"{outfile.stem}-{written}",
                    index=written,
                    ddg=victor.ddG,
                    rmsd=victor.mrmsd.mrmsd,
                    outcome=outcome,
                    ref_mols=ids,
                    protein_value=protein_value,
                )
                emit_event(f"Placed {where} ({outcome.label}: {outcome.reason})")
            counts = summary(args.count, outcomes, len(kept), "placement")
            emit_event(f"SMILES {number} ({smiles}): {counts}")

    meta = outfile.with_name(f"{outfile.stem}.meta.json")
    meta.write_text(json.dumps(field_descriptions(args), indent=2) + "\n", encoding="utf-8")
    emit_event(
        f"Placing {len(args.smiles)} SMILES gave {written} molecules"
        f" in {time.monotonic() - started:.1f} s"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
