"""The target loader and the demo data, on real XChem fragment files."""

from __future__ import annotations

import shutil

from rdkit import Chem
from sqlalchemy import select

from app.extensions import db
from app.models import Protein, Target
from app.storage import data_path
from app.targets.demo import load_demo_targets
from app.targets.loader import load_target
from tests.conftest import MAC1_DIR, MPRO_DIR
from tests.support import copy_mols


def test_load_stores_files_smiles_and_depictions(app, tmp_path):
    folder = copy_mols(MAC1_DIR, tmp_path / "in", None, 5)
    with app.app_context():
        report = load_target(
            folder, "Mac1", "lb18145-1", public=True, template_pdb=MAC1_DIR / "template.pdb"
        )
        assert len(report.added) == 5 and not report.rejected
        target = db.session.scalar(select(Target).where(Target.title == "Mac1"))
        assert target.project.open_to_public
        for protein in target.proteins:
            assert Chem.MolFromSmiles(protein.smiles) is not None
            mol_text = data_path(protein.mol_file).read_text()
            assert mol_text.splitlines()[0] == protein.code  # the code names the ligand
            assert (
                data_path(protein.apo_desolv_file).read_bytes()
                == (MAC1_DIR / "template.pdb").read_bytes()
            )
            assert protein.depiction_svg.lstrip().startswith("<?xml")


def test_per_protein_apo_desolv_files_are_used(app, tmp_path):
    folder = copy_mols(MAC1_DIR, tmp_path / "in", None, 2)
    code = sorted(p.stem for p in folder.glob("*.mol"))[0]
    (folder / f"{code}_apo-desolv.pdb").write_text("HEADER    OWN APO FILE\nEND\n")
    with app.app_context():
        load_target(folder, "T1", "p-1")
        proteins = {p.code: p for p in db.session.scalars(select(Protein))}
        assert data_path(proteins[code].apo_desolv_file).read_text().startswith("HEADER    OWN")
        others = [p for c, p in proteins.items() if c != code]
        assert len(others) == 1 and others[0].apo_desolv_file is None


def test_unreadable_molecules_are_reported_by_name_and_the_rest_loads(app, tmp_path):
    folder = copy_mols(MAC1_DIR, tmp_path / "in", None, 3)
    (folder / "broken-x0001.mol").write_text("not a molfile\n\n\n  1  0  0\nEND\n")
    (folder / "binary-x0002.mol").write_bytes(b"\x89PNG\r\n\x1a\n\x00\xff")
    with app.app_context():
        report = load_target(folder, "T2", "p-2")
        assert set(report.rejected) == {"broken-x0001.mol", "binary-x0002.mol"}
        assert len(report.added) == 3
        assert db.session.scalar(select(db.func.count(Protein.id))) == 3
    assert "rejected broken-x0001.mol" in report.summary()


def test_reload_replaces_changed_files_and_moves_the_timestamp(app, tmp_path):
    folder = copy_mols(MAC1_DIR, tmp_path / "in", None, 3)
    with app.app_context():
        load_target(folder, "Mac1", "lb18145-1", template_pdb=MAC1_DIR / "template.pdb")
        first = db.session.scalar(select(Target)).last_updated_datetime

        unchanged = load_target(folder, "Mac1", "lb18145-1", template_pdb=MAC1_DIR / "template.pdb")
        assert len(unchanged.unchanged) == 3 and not unchanged.changed
        assert db.session.scalar(select(Target)).last_updated_datetime == first

        victim = sorted(folder.glob("*.mol"))[1]
        shutil.copy(MAC1_DIR / "diamond-x0091_B.mol", victim)  # another real ligand
        report = load_target(folder, "Mac1", "lb18145-1", template_pdb=MAC1_DIR / "template.pdb")
        assert report.updated == [victim.stem]
        target = db.session.scalar(select(Target))
        assert target.last_updated_datetime > first
        protein = next(p for p in target.proteins if p.code == victim.stem)
        stored = data_path(protein.mol_file).read_text().splitlines()[1:]
        assert stored == (MAC1_DIR / "diamond-x0091_B.mol").read_text().splitlines()[1:]


def test_demo_load_is_real_and_idempotent(app):
    with app.app_context():
        load_demo_targets()
        mac1 = db.session.scalar(select(Target).where(Target.title == "Mac1"))
        assert len(mac1.proteins) >= 100
        for protein in mac1.proteins:
            assert protein.mol_file and protein.apo_desolv_file
            assert Chem.MolFromSmiles(protein.smiles) is not None
        mpro = db.session.scalar(select(Target).where(Target.title == "Mpro"))
        assert not mpro.project.open_to_public
        assert mpro.proteins and all(p.apo_desolv_file is None for p in mpro.proteins)

        stamp = mac1.last_updated_datetime
        reports = load_demo_targets()
        assert all(not r.changed for r in reports)
        assert (
            db.session.scalar(select(Target).where(Target.title == "Mac1")).last_updated_datetime
            == stamp
        )
        assert db.session.scalar(select(db.func.count(Target.id))) == 2


def test_mpro_demo_files_exist():
    assert len(list(MPRO_DIR.glob("*.mol"))) > 100
