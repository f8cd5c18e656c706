"""Chemistry on import: RDKit figures stored as scores (described on the set page) and
flags for problems, shown with readable labels and filterable with ?flag=."""

from __future__ import annotations

import html
import re

from rdkit import Chem
from rdkit.Geometry import Point3D

from app.chem import FIGURES
from app.csets.service import FLAGS, InspirationRings, chemistry_of
from app.csets.validator import ParsedMolecule
from tests.conftest import MAC1_DIR
from tests.csets.conftest import build_sdf, mol_block_of
from tests.csets.test_computed_sets import upload_api

ROW = re.compile(r'<tr data-molecule="([^"]+)">')


def block(code: str) -> str:
    return mol_block_of(MAC1_DIR, f"diamond-{code}")


def joined(*codes: str) -> str:
    """One record holding two hits' poses: a disconnected molecule."""
    mols = [Chem.MolFromMolBlock(block(code)) for code in codes]
    return Chem.MolToMolBlock(Chem.CombineMols(*mols))


def flagged_set(login) -> tuple[object, str]:
    """Six molecules; build_sdf gives DDG -3.5, -2.75, ... so only the sixth has DDG > 0."""
    sdf = build_sdf(
        [
            ("plain", block("x0104_A"), ["diamond-x0104_A"]),  # 2 aromatic rings, as its hit
            # 0 aromatic rings, inspired by a hit with 2
            ("lost-rings", block("x0158_B"), ["diamond-x0128_A"]),
            # 0 rings; the inspiration with the fewest has 0 too
            ("aliphatic-merge", block("x0158_B"), ["diamond-x0128_A", "diamond-x0158_B"]),
            ("two-pieces", joined("x0104_A", "x0128_A"), ["diamond-x0104_A", "diamond-x0128_A"]),
            ("plain-2", block("x0142_A"), ["diamond-x0142_A"]),
            ("unfavourable", block("x0091_B"), ["diamond-x0091_B"]),
        ]
    )
    member = login("member")
    created = upload_api(member, sdf)
    assert created.status_code == 201, created.json
    return member, created.json["name"]


def test_figures_are_stored_as_described_scores(app, login, small_targets):
    member, name = flagged_set(login)
    detail = member.get(f"/api/compound-sets/{name}/").json
    assert detail["score_names"] == ["DDG", "RMSD", "outcome", *FIGURES]
    plain = next(m for m in detail["molecules"] if m["name"] == "plain")
    mol = Chem.MolFromMolBlock(block("x0104_A"))  # COc1ccc(NC(=O)Nc2cccs2)cn1
    assert plain["scores"]["rdkit_heavy_atoms"] == mol.GetNumHeavyAtoms() == 17
    assert abs(plain["scores"]["rdkit_MW"] - 249.295) < 0.01
    assert plain["scores"]["rdkit_HBD"] == 2 and plain["scores"]["rdkit_HBA"] == 4
    assert plain["scores"]["rdkit_rotatable_bonds"] == 3
    assert 0 < plain["scores"]["rdkit_QED"] < 1
    assert "rdkit_cLogP" in plain["scores"]

    page = member.get(f"/computed-sets/{name}/")
    text = html.unescape(page.text)
    assert "Quantitative estimate of drug-likeness" in text and "g/mol" in text
    assert f"/computed-sets/{name}/?sort=rdkit_QED" in text  # sortable like any score
    by_mw = member.get(f"/computed-sets/{name}/?sort=rdkit_MW&dir=desc")
    assert ROW.findall(by_mw.text)[0] == "two-pieces"  # the heaviest


def test_flags_are_raised_shown_and_filterable(app, login, small_targets):
    member, name = flagged_set(login)
    flags = {
        m["name"]: m["flags"] for m in member.get(f"/api/compound-sets/{name}/").json["molecules"]
    }
    assert flags == {
        "plain": [],
        "lost-rings": ["lost_aromaticity"],
        "aliphatic-merge": [],
        "two-pieces": ["disconnected"],
        "plain-2": [],
        "unfavourable": ["positive_ddg"],
    }

    page = member.get(f"/computed-sets/{name}/")
    text = html.unescape(page.text)
    assert "<th>Flags</th>" in text
    for label in (FLAGS["disconnected"], FLAGS["lost_aromaticity"], FLAGS["positive_ddg"]):
        assert f"{label}</span>" in text  # in the molecule's row
        assert f"{label} (1)</a>" in text  # and as a filter
    assert FLAGS["non_finite"] not in text  # no molecule has it: no filter offered

    for flag, expected in (
        ("disconnected", ["two-pieces"]),
        ("lost_aromaticity", ["lost-rings"]),
        ("positive_ddg", ["unfavourable"]),
        ("non_finite", []),
    ):
        shown = member.get(f"/computed-sets/{name}/?flag={flag}")
        assert shown.status_code == 200
        assert ROW.findall(shown.text) == expected, flag
    sorted_and_filtered = member.get(f"/computed-sets/{name}/?flag=disconnected&sort=DDG")
    assert ROW.findall(sorted_and_filtered.text) == ["two-pieces"]
    unknown = member.get(f"/computed-sets/{name}/?flag=nonsense")
    assert unknown.status_code == 200 and len(ROW.findall(unknown.text)) == 6


def test_non_finite_coordinates_are_flagged(app, small_targets):
    # The file cannot carry them (RDKit refuses NaN coordinates, the validator non-finite
    # scores): the flag guards what the import itself computes.
    mol = Chem.MolFromMolBlock(block("x0104_A"))
    mol.GetConformer().SetAtomPosition(0, Point3D(float("nan"), 0.0, 0.0))
    molecule = ParsedMolecule(
        name="m",
        smiles=Chem.MolToSmiles(mol),
        original_smiles=Chem.MolToSmiles(mol),
        mol_block=block("x0104_A"),
        ref_mols=[],
        ref_pdb="diamond-x0104_A",
        scores={"DDG": -1.0},
        mol=mol,
    )
    with app.app_context():
        scores, flags = chemistry_of(molecule, InspirationRings({}), {})
    assert flags == ["non_finite"] and scores["rdkit_heavy_atoms"] == 17
