"""Fragmenstein place: SMILES given one a line are checked with RDKit on the server (the
bad ones named, nothing launched), and a real placement through local Squonk2 comes back
as a computed set whose molecules name the chosen hits."""

from __future__ import annotations

import html

from sqlalchemy import select

from app.extensions import db
from app.models import ComputedMolecule, ComputedSet, JobRequest
from tests.support import (
    MAC1_NEIGHBOURS,
    csrf_token_of,
    reconcile,
    run_worker,
    squonk_phase,
    wait_for,
)

PLACE = "fragmenstein-place-string"
# The two neighbours themselves, their urea with the other's rings swapped, and a methyl
# for the methoxy: the 4 valid SMILES a chemist types
GOOD = [
    "COc1ccc(NC(=O)Nc2cccs2)cn1",
    "O=C(Nc1ccccc1)Nc1cccnc1",
    "COc1ccc(NC(=O)Nc2cccnc2)cn1",
    "Cc1ccc(NC(=O)Nc2cccs2)cn1",
]


def job_count(app) -> int:
    with app.app_context():
        return db.session.scalar(select(db.func.count(JobRequest.id)))


def test_an_invalid_smiles_is_named_and_nothing_is_launched(app, transferred, login):
    member = login("member")
    url = f"/snapshots/{transferred}/launch?job={PLACE}"
    page = member.get(url)
    assert page.status_code == 200
    assert "<textarea" in page.text and 'name="options-smiles"' in page.text
    lines = ["CCO", "c1ccccc1O", "C1CC", "CC(=O)Nc1cccnc1", "O=C(O)c1ccccc1"]
    data = {
        "csrf_token": csrf_token_of(page.text),
        "inputs-fragments": list(MAC1_NEIGHBOURS),
        "inputs-protein": MAC1_NEIGHBOURS[0],
        "options-smiles": "\n".join(lines),
        "options-count": "1",
        "options-fragIdField": "_Name",
    }
    bad = member.client.post(url, data=data, headers={"HX-Request": "true"})
    assert bad.status_code == 200
    text = html.unescape(bad.text)
    assert "line 3: 'C1CC' is not a valid SMILES" in text
    assert "line 1" not in text and "line 2" not in text  # only the bad one is named
    assert job_count(app) == 0

    # The JSON API runs the same check.
    body = {
        "snapshot": transferred,
        "job": PLACE,
        "inputs": {"fragments": list(MAC1_NEIGHBOURS), "protein": MAC1_NEIGHBOURS[0]},
        "options": {"smiles": lines, "count": 1},
    }
    response = member.post("/api/job_request/", json=body)
    assert response.status_code == 400
    assert response.json["fields"]["smiles"] == "line 3: 'C1CC' is not a valid SMILES"
    assert job_count(app) == 0


def test_placed_molecules_come_back_as_a_computed_set_of_the_chosen_hits(
    app, transferred, squonk, login
):
    app.config["RECONCILE_QUIET_SECONDS"] = 0
    member = login("member")
    body = {
        "snapshot": transferred,
        "job": PLACE,
        "inputs": {"fragments": list(MAC1_NEIGHBOURS), "protein": MAC1_NEIGHBOURS[0]},
        "options": {"smiles": GOOD, "count": 1},
    }
    created = member.post("/api/job_request/", json=body)
    assert created.status_code == 201, created.json
    run_worker(app)  # the launch
    job = member.get(f"/api/job_request/{created.json['id']}/").json
    instance = job["squonk_instance_id"]
    assert instance, "the launch did not start a Squonk2 instance"
    wait_for(
        lambda: squonk_phase(squonk, instance) in ("COMPLETED", "FAILED"),
        timeout=180,
        what="Fragmenstein place to finish",
    )
    assert reconcile(app).get("applied") == 1
    run_worker(app)  # the import
    job = member.get(f"/api/job_request/{job['id']}/").json
    assert job["job_status"] == "UPLOADED", job.get("message")
    with app.app_context():
        cset = db.session.scalar(select(ComputedSet).where(ComputedSet.name == job["computed_set"]))
        molecules = db.session.scalars(
            select(ComputedMolecule).where(ComputedMolecule.computed_set_id == cset.id)
        ).all()
        assert 1 <= len(molecules) <= len(GOOD)
        assert all(m.ref_mols == list(MAC1_NEIGHBOURS) for m in molecules)
        assert all(m.ref_pdb == MAC1_NEIGHBOURS[0] for m in molecules)
        assert all(m.scores.get("outcome") and m.scores.get("outcome_reason") for m in molecules)
