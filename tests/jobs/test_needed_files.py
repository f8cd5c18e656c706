"""A launch needs only the files of the chosen job's inputs: RDKit conformers runs on Mpro
(whose proteins have no apo-desolv PDB), Fragmenstein there is refused naming each file;
"Check files in Squonk2 again" is a visible check."""

from __future__ import annotations

import re

from sqlalchemy import select

from app.extensions import db
from app.models import JobFileTransfer, JobRequest
from tests.factories import snapshot as make_snapshot
from tests.support import (
    FRAGMENSTEIN,
    csrf_token_of,
    reconcile,
    run_worker,
    squonk_phase,
    transferred_snapshot,
    wait_for,
)


def job_rows(app) -> int:
    with app.app_context():
        return db.session.scalar(select(db.func.count(JobRequest.id)))


def test_rdkit_conformers_runs_on_mpro_to_success(app, small_targets, squonk, login):
    app.config["RECONCILE_QUIET_SECONDS"] = 0
    codes = small_targets["Mpro"]
    snapshot_id, member = transferred_snapshot(app, login, codes, "Mpro")
    body = {"snapshot": snapshot_id, "job": "rdkit-conformers", "inputs": {"inputFile": codes}}
    created = member.post("/api/job_request/", json=body)
    assert created.status_code == 201, created.json
    run_worker(app)
    instance = member.get(f"/api/job_request/{created.json['id']}/").json["squonk_instance_id"]
    assert instance
    wait_for(lambda: squonk_phase(squonk, instance) == "COMPLETED", timeout=120, what="RDKit")
    reconcile(app)  # the callbacks go nowhere here: the reconciler asks Squonk2
    run_worker(app)
    job = member.get(f"/api/job_request/{created.json['id']}/").json
    assert job["job_status"] in ("SUCCESS", "UPLOADED"), job["message"]


def test_fragmenstein_on_mpro_is_refused_naming_each_missing_file(
    app, small_targets, squonk, login
):
    codes = small_targets["Mpro"]
    snapshot_id, member = transferred_snapshot(app, login, codes, "Mpro")
    before = job_rows(app)
    body = {
        "snapshot": snapshot_id,
        "job": FRAGMENSTEIN,
        "inputs": {"fragments": codes[:2], "protein": codes[0]},
        "options": {"count": 1},
    }
    refused = member.post("/api/job_request/", json=body)
    assert refused.status_code == 400
    message = refused.json["error"]
    assert "apo-desolv PDB of the chosen protein" in message
    for code in codes:  # the chosen one, and every other protein of the snapshot
        assert f"{code} ({code}_apo-desolv.pdb)" in message
    assert "Sending the files again will not help" in message
    assert "send them first" not in message
    assert job_rows(app) == before


def test_a_launch_before_the_files_are_sent_names_them(app, small_targets, squonk, login):
    codes = small_targets["Mac1"][:2]
    snapshot_id = make_snapshot(app, "Mac1", codes)
    member = login("member")
    body = {"snapshot": snapshot_id, "job": "rdkit-conformers", "inputs": {"inputFile": codes}}
    refused = member.post("/api/job_request/", json=body)
    assert refused.status_code == 400
    assert "send them first" in refused.json["error"]
    for code in codes:
        assert f"{code} ({code}.mol)" in refused.json["error"]
    assert job_rows(app) == 0


def test_check_files_again_adds_a_history_row_and_says_what_it_found(
    app, small_targets, squonk, login
):
    codes = small_targets["Mac1"][:2]
    snapshot_id, member = transferred_snapshot(app, login, codes)
    page = member.get(f"/snapshots/{snapshot_id}/").get_data(as_text=True)
    assert "Check files in Squonk2 again" in page
    token = csrf_token_of(page)
    response = member.post(
        f"/snapshots/{snapshot_id}/transfer",
        data={"csrf_token": token, "recheck": "1"},
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 200
    run_worker(app)
    with app.app_context():
        rows = db.session.scalars(
            select(JobFileTransfer)
            .where(JobFileTransfer.snapshot_id == snapshot_id)
            .order_by(JobFileTransfer.id)
        ).all()
        assert [row.transfer_status for row in rows] == ["SUCCESS", "SUCCESS"]
        latest = rows[-1].id
    panel = member.get(f"/transfers/{latest}/panel").get_data(as_text=True)
    found = re.search(r"checked at (\d\d:\d\d) UTC: (\d+) to upload, (\d+) already there", panel)
    assert found, panel
    assert found.group(2) == "0" and found.group(3) == str(3 * len(codes))
    history = member.get(f"/snapshots/{snapshot_id}/transfers/").get_data(as_text=True)
    assert history.count("already in Squonk2") == 2
