"""The local Fragmenstein combine labels every merge honestly: Fragmenstein's outcome and
why, a lost aromatic ring named, no duplicate records across ``count`` runs, no NaN, and
the output (with the header the importer writes) passes the app's computed-set validator.

The program is run as the local Squonk2 runner runs it: ``python -m`` in a subprocess, on
real Mac1 hits from Fragmenstein's demo data.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
from rdkit import Chem
from rdkit.Chem import AllChem, rdMolAlign, rdMolDescriptors

from app.csets.task import INSTITUTION
from app.csets.validator import build_header_block, validate_computed_set
from local_squonk.programs.fragmenstein_combine import write_record
from local_squonk.programs.outcomes import LABELS, judge
from tests.support import MAC1_NEIGHBOURS

ROOT = Path(__file__).resolve().parents[2]
# mac-x0178 (a sulfonamide benzoic acid) + mac-x0348 (an indole): Fragmenstein's merge
# keeps neither ring aromatic (the chemist's report: a saturated spiro gem-diol).
LOSSY_PAIR = ("mac-x0178", "mac-x0348")


def run_combine(mac1_dir: Path, codes: tuple[str, ...], work: Path, count: int) -> Path:
    """Run the program on the hits ``codes`` (their code written on the first line, as
    Fragalysis does) and return the output SD-file."""
    fragments = []
    for code in codes:
        lines = (mac1_dir / f"{code}.mol").read_text().splitlines()
        lines[0] = code
        path = work / f"{code}.mol"
        path.write_text("\n".join(lines) + "\n")
        fragments.append(str(path))
    outfile = work / "out" / "merged.sdf"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-m", "local_squonk.programs.fragmenstein_combine"]
    command += ["--fragments", *fragments, "--protein", str(mac1_dir / "template.pdb")]
    command += ["--outfile", str(outfile), "--count", str(count)]
    command += ["--smiles-prop-name", "original SMILES", "--protein-prop-name", "ref_pdb"]
    command += ["--protein-prop-value", codes[0], "--work-dir", str(work / "output")]
    done = subprocess.run(
        command, cwd=work, env=env, capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    (work / "events.txt").write_text(done.stdout)
    return outfile


def validated(outfile: Path, codes: tuple[str, ...]) -> None:
    """The file, with the header the importer builds from meta.json, passes the validator
    (descriptions required, as for an uploaded file)."""
    meta = json.loads(outfile.with_name("merged.meta.json").read_text())
    descriptions = {
        name: about["description"]
        for name, about in meta.items()
        if name not in ("original SMILES", "ref_mols", "ref_pdb")
    }
    header = build_header_block(
        submitter_name="alice",
        submitter_email="alice@example.org",
        submitter_institution=INSTITUTION,
        generation_date="2026-12-03",
        method="fragmenstein-combine test",
        ref_url="http://localhost/jobs/1/",
        descriptions=descriptions,
    )
    report = validate_computed_set(header.encode() + outfile.read_bytes(), codes)
    assert report.ok, report.messages()


def aromatic_rings(mol: Chem.Mol) -> int:
    return rdMolDescriptors.CalcNumAromaticRings(mol)


def check_honest(outfile: Path, mac1_dir: Path, codes: tuple[str, ...]) -> list[Chem.Mol]:
    mols = [m for m in Chem.SDMolSupplier(str(outfile)) if m is not None]
    hits = [Chem.MolFromMolFile(str(mac1_dir / f"{code}.mol")) for code in codes]
    most = max(aromatic_rings(h) for h in hits)
    for mol in mols:
        props = mol.GetPropsAsDict()
        assert props["outcome"] in LABELS and props["outcome_reason"]
        assert props["ref_mols"].split(",") == list(codes)
        if "DDG" in props:
            assert math.isfinite(props["DDG"])
        if aromatic_rings(mol) < most:
            assert "lost aromaticity" in props["outcome_reason"], props
            assert props["outcome"] != "acceptable"
    for i, first in enumerate(mols):
        for second in mols[i + 1 :]:
            same = Chem.MolToInchiKey(first) == Chem.MolToInchiKey(second)
            assert not (same and rdMolAlign.CalcRMS(first, second) < 0.1), "duplicate records"
    validated(outfile, codes)
    return mols


@pytest.mark.parametrize("codes", [LOSSY_PAIR, MAC1_NEIGHBOURS], ids=["lossy", "neighbours"])
def test_merges_are_labelled_distinct_and_valid(
    mac1_dir: Path, tmp_path: Path, codes: tuple[str, ...]
) -> None:
    outfile = run_combine(mac1_dir, codes, tmp_path, count=3)
    mols = check_honest(outfile, mac1_dir, codes)
    assert mols, "no merge written"
    events = (tmp_path / "events.txt").read_text()
    assert "3 runs gave" in events and "distinct merge" in events
    values = {line.strip().lower() for line in outfile.read_text().splitlines()}
    assert not {"nan", "inf", "-inf"} & values


def test_the_lossy_pair_is_labelled_not_rectified(mac1_dir: Path, tmp_path: Path) -> None:
    outfile = run_combine(mac1_dir, LOSSY_PAIR, tmp_path, count=3)
    mols = [m for m in Chem.SDMolSupplier(str(outfile)) if m is not None]
    events = (tmp_path / "events.txt").read_text()
    # The three seeded runs give the same merge: it is written once and the event says so.
    assert len(mols) == 1
    assert "3 runs gave 1 distinct merge (2 exact duplicates dropped)" in events
    props = mols[0].GetPropsAsDict()
    assert props["outcome"] == "deviant"
    assert (
        "lost aromaticity: 0 aromatic rings, inspirations have 1 and 2" in (props["outcome_reason"])
    )


@pytest.mark.parametrize("energy", [float("nan"), float("inf")], ids=["nan", "inf"])
def test_a_non_finite_energy_is_labelled_and_its_ddg_left_out(
    energy: float, tmp_path: Path
) -> None:
    hit = Chem.AddHs(Chem.MolFromSmiles("c1ccccc1O"))
    merge = Chem.AddHs(Chem.MolFromSmiles("c1ccccc1OCc1ccccc1"))
    for mol in (hit, merge):
        AllChem.EmbedMolecule(mol, randomSeed=1)
    summary = {
        "error": "",
        "∆∆G": energy,
        "comRMSD": 0.5,
        "regarded": ["hit"],
        "disregarded": [],
    }
    victor = SimpleNamespace(
        summarize=lambda: summary, monster=SimpleNamespace(positioned_mol=merge), hits=[hit]
    )
    outcome = judge(victor, [hit], merge)
    assert outcome.label == "crashed" and outcome.reason, outcome

    args = SimpleNamespace(
        keep_hydrogens=False,
        ref_mols_prop_name="ref_mols",
        smiles_prop_name="original SMILES",
        protein_prop_name="ref_pdb",
    )
    path = tmp_path / "one.sdf"
    with Chem.SDWriter(str(path)) as writer:
        write_record(
            writer,
            Chem.Mol(merge),
            args,
            name="one-1",
            index=1,
            ddg=energy,
            rmsd=0.5,
            outcome=outcome,
            ref_mols=["hit"],
            protein_value="hit",
        )
    written = next(iter(Chem.SDMolSupplier(str(path))))
    assert "DDG" not in written.GetPropNames() and written.GetProp("outcome") == "crashed"
    values = [line.strip().lower() for line in path.read_text().splitlines()]
    assert not {"nan", "inf", "-inf"} & set(values)
