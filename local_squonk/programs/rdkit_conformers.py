"""Stand-in for ``/code/rdk_conformers.py``: RDKit conformers for a few molecules.

Fast (seconds) so that tests and benchmarks exercise a real job end to end.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from rdkit import Chem, RDLogger
from rdkit.Chem import AllChem

from .events import emit_event
from .molecules import read_molecules

METHODS = {
    "ETKDGv3": AllChem.ETKDGv3,
    "ETKDGv2": AllChem.ETKDGv2,
    "ETKDG": AllChem.ETKDG,
}


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="RDKit conformer generation")
    parser.add_argument("-i", "--input", nargs="+", required=True)
    parser.add_argument("-o", "--outfile", required=True)
    parser.add_argument("-n", "--num-conformers", type=int, default=5)
    parser.add_argument("--method", choices=sorted(METHODS), default="ETKDGv3")
    parser.add_argument("--random-seed", type=int, default=42)
    parser.add_argument("--minimize", action="store_true")
    parser.add_argument("--keep-hydrogens", action="store_true")
    parser.add_argument("--id-field", default="_Name")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    RDLogger.DisableLog("rdApp.*")
    molecules = read_molecules(args.input, args.id_field)
    emit_event(f"Read {len(molecules)} molecules")
    outfile = Path(args.outfile)
    outfile.parent.mkdir(parents=True, exist_ok=True)
    params = METHODS[args.method]()
    params.randomSeed = args.random_seed

    written = 0
    with Chem.SDWriter(str(outfile)) as writer:
        for source_id, mol in molecules:
            mol = Chem.AddHs(mol, addCoords=True)
            conf_ids = list(AllChem.EmbedMultipleConfs(mol, args.num_conformers, params))
            if not conf_ids:
                emit_event(f"No conformer could be embedded for {source_id}", "WARNING")
                continue
            energies: list[float | None] = [None] * len(conf_ids)
            if args.minimize:
                results = AllChem.MMFFOptimizeMoleculeConfs(mol)
                energies = [energy for _, energy in results]
            out = mol if args.keep_hydrogens else Chem.RemoveHs(mol)
            for number, (conf_id, energy) in enumerate(zip(conf_ids, energies, strict=True), 1):
                out.SetProp("_Name", f"{source_id}-{number}")
                out.SetProp("SOURCE_ID", source_id)
                out.SetIntProp("CONF_ID", number)
                if energy is not None:
                    out.SetDoubleProp("ENERGY", float(energy))
                elif out.HasProp("ENERGY"):
                    out.ClearProp("ENERGY")
                writer.write(out, confId=conf_id)
                written += 1
    emit_event(f"Wrote {written} conformers for {len(molecules)} molecules to {outfile}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
