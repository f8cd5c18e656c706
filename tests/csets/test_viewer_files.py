"""The files the 3D viewer reads: a molecule's pose, a protein's apo-desolv PDB and its
ligand, and the viewer's JSON for one molecule, each through the access policy (a private
target's files are 404 to non-members, everything is a log-in redirect for anonymous)."""

from __future__ import annotations

import pytest
from rdkit import Chem
from sqlalchemy import select

from app.extensions import db
from app.models import ComputedMolecule, ComputedSet, Protein, Target


def ids_of(app, name: str) -> dict:
    """The set's first molecule id and the target's first protein id (Mac1: with PDB)."""
    with app.app_context():
        cset = db.session.scalar(select(ComputedSet).where(ComputedSet.name == name))
        molecule = db.session.scalar(
            select(ComputedMolecule)
            .where(ComputedMolecule.computed_set_id == cset.id)
            .order_by(ComputedMolecule.id)
        )
        protein = db.session.scalar(
            select(Protein).where(Protein.target_id == cset.target_id).order_by(Protein.code)
        )
        return {"molecule": molecule.id, "protein": protein.id, "name": molecule.name}


@pytest.fixture
def sets(app, small_targets, store_set, mac1_sdf, mpro_sdf):
    """A set on each target; Mpro's first protein given the PDB of a Mac1 protein (Mpro's
    were loaded without apo-desolv files) so that the private target has one to refuse."""
    with app.app_context():
        proteins = {
            title: db.session.scalar(
                select(Protein).join(Target).where(Target.title == title).order_by(Protein.code)
            )
            for title in ("Mac1", "Mpro")
        }
        proteins["Mpro"].apo_desolv_file = proteins["Mac1"].apo_desolv_file
        db.session.commit()
    return {"Mac1": store_set("Mac1", mac1_sdf), "Mpro": store_set("Mpro", mpro_sdf)}


def urls(app, sets: dict, title: str) -> list[str]:
    name = sets[title]
    ids = ids_of(app, name)
    return [
        f"/computed-sets/{name}/molecules/{ids['molecule']}.mol",
        f"/computed-sets/{name}/viewer.json",
        f"/proteins/{ids['protein']}/ligand.mol",
        f"/proteins/{ids['protein']}/apo-desolv.pdb",
    ]


@pytest.mark.parametrize(
    ("title", "role", "status"),
    [
        ("Mac1", "member", 200),
        ("Mac1", "outsider", 200),  # a public target: its sets are published results
        ("Mac1", None, 302),
        ("Mpro", "member", 200),
        ("Mpro", "colleague", 200),
        ("Mpro", "outsider", 404),
        ("Mpro", "admin", 200),
        ("Mpro", None, 302),
    ],
)
def test_viewer_files_follow_the_access_policy(app, sets, login, colleague, title, role, status):
    client = login(role)
    for url in urls(app, sets, title):
        response = client.get(url)
        assert response.status_code == status, url
        if status == 302:
            assert "/login" in response.headers["Location"]


def test_a_molecule_of_another_set_or_no_molecule_is_404(app, sets, login):
    member = login("member")
    other = ids_of(app, sets["Mpro"])["molecule"]
    assert member.get(f"/computed-sets/{sets['Mac1']}/molecules/{other}.mol").status_code == 404
    assert member.get("/computed-sets/no-such-set/viewer.json").status_code == 404
    missing = member.get(f"/computed-sets/{sets['Mac1']}/viewer.json?molecule=no-such-molecule")
    assert missing.status_code == 404
    assert member.get("/proteins/999999/apo-desolv.pdb").status_code == 404


def test_the_files_are_what_rdkit_reads(app, sets, login):
    member = login("member")
    scene = member.get(f"/computed-sets/{sets['Mac1']}/viewer.json").json
    ids = ids_of(app, sets["Mac1"])
    assert scene["molecule"]["name"] == ids["name"] and len(scene["molecules"]) == 8

    pose = member.get(scene["molecule"]["url"])
    assert pose.mimetype == "chemical/x-mdl-molfile"
    mol = Chem.MolFromMolBlock(pose.text)
    assert mol is not None and mol.GetNumConformers() == 1
    assert mol.GetConformer().Is3D()

    # the protein the molecule was placed in (its ref_pdb) and its inspirations' ligands
    assert scene["protein"] and scene["protein"]["code"] == scene["ref_pdb"]
    pdb = member.get(scene["protein"]["url"])
    assert pdb.status_code == 200 and pdb.mimetype == "chemical/x-pdb"
    protein = Chem.MolFromPDBBlock(pdb.text, sanitize=False)
    assert protein is not None and protein.GetNumAtoms() > 1000
    assert scene["hits"]
    for hit in scene["hits"]:
        ligand = Chem.MolFromMolBlock(member.get(hit["url"]).text)
        assert ligand is not None and ligand.GetNumAtoms() > 3


def test_a_protein_without_an_apo_desolv_file_has_none_to_serve(app, sets, login):
    """Mpro's other proteins were loaded without PDBs: no file is 404, and the viewer's JSON
    says there is no protein to show (the page shows the molecule and its hits alone)."""
    member = login("member")
    with app.app_context():
        protein = db.session.scalars(
            select(Protein).join(Target).where(Target.title == "Mpro").order_by(Protein.code)
        ).all()[-1]
        assert protein.apo_desolv_file is None
        last = db.session.scalar(
            select(ComputedMolecule.name)
            .join(ComputedSet)
            .where(ComputedSet.name == sets["Mpro"])
            .order_by(ComputedMolecule.id.desc())
        )
    assert member.get(f"/proteins/{protein.id}/apo-desolv.pdb").status_code == 404
    scene = member.get(f"/computed-sets/{sets['Mpro']}/viewer.json?molecule={last}").json
    assert scene["molecule"]["name"] == last
    assert scene["protein"] is None and [h["code"] for h in scene["hits"]] == [protein.code]


def test_the_set_page_carries_the_viewer(app, sets, login):
    page = login("member").get(f"/computed-sets/{sets['Mac1']}/")
    assert 'id="viewer"' in page.text
    assert f'data-viewer-url="/computed-sets/{sets["Mac1"]}/viewer.json"' in page.text
    assert "/static/vendor/ngl/ngl.js" in page.text and "/static/js/viewer.js" in page.text
    assert "<script>" not in page.text  # no inline script: the CSP stays strict
