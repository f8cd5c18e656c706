"""Snapshot file transfers to the real local_squonk through im-squonk2-client."""

from __future__ import annotations

import shutil
import time
from types import SimpleNamespace

from sqlalchemy import select
from squonk2.dm_api import DmApi

from app.extensions import db
from app.models import JobFileTransfer, Protein, SquonkFile
from app.models.base import as_utc, utcnow
from app.storage import data_path
from app.targets.loader import load_target
from tests.conftest import MAC1_DIR
from tests.factories import snapshot as make_snapshot
from tests.support import free_port, load_mac1, port_is_open, run_worker, use_squonk, wait_for


def uploads_of(server, since: int = 0) -> list[str]:
    return [r["upload"]["file"] for r in server.uploads()[since:] if r["status"] == 201]


def test_twenty_proteins_arrive_byte_for_byte(app, users, squonk, login, tmp_path):
    load_mac1(app, tmp_path, 20)
    snapshot_id = make_snapshot(app, "Mac1")
    member = login("member")
    before = len(squonk.uploads())
    created = member.post("/api/job_file_transfer/", json={"snapshot": snapshot_id})
    assert created.status_code == 201 and created.json["transfer_status"] == "PENDING"
    run_worker(app)

    done = member.get(f"/api/job_file_transfer/{created.json['id']}/").json
    assert done["transfer_status"] == "SUCCESS" and done["transfer_progress"] == 100.0
    assert done["files_uploaded"] == 60 and done["transfer_datetime"]
    assert len(uploads_of(squonk, before)) == 60

    # what Squonk2 holds, read back with the real client, is exactly what we stored
    DmApi.set_api_url(squonk.url, verify_ssl_cert=False)
    listing = DmApi.list_project_files(
        squonk.token, project_id=done["squonk_project"], project_path="/fragalysis-files/Mac1"
    )
    assert listing.success
    names = sorted(f["file_name"] for f in listing.msg["files"])
    assert len(names) == 60
    with app.app_context():
        for protein in db.session.scalars(select(Protein)):
            expected = {
                f"{protein.code}.mol": data_path(protein.mol_file).read_bytes(),
                f"{protein.code}_apo-desolv.pdb": data_path(protein.apo_desolv_file).read_bytes(),
                f"{protein.code}.smi": f"{protein.smiles} {protein.code}\n".encode(),
            }
            for name, content in expected.items():
                local = tmp_path / "dl" / name
                local.parent.mkdir(exist_ok=True)
                rv = DmApi.get_unmanaged_project_file(
                    squonk.token,
                    project_id=done["squonk_project"],
                    project_file=name,
                    local_file=str(local),
                    project_path="/fragalysis-files/Mac1",
                )
                assert rv.success and local.read_bytes() == content, name


def test_repeat_is_instant_and_a_reload_uploads_only_what_changed(
    app, users, squonk, login, tmp_path
):
    folder = load_mac1(app, tmp_path, 6)
    snapshot_id = make_snapshot(app, "Mac1")
    member = login("member")
    first = member.post("/api/job_file_transfer/", json={"snapshot": snapshot_id}).json
    run_worker(app)

    mark = len(squonk.uploads())
    started = time.perf_counter()
    again = member.post("/api/job_file_transfer/", json={"snapshot": snapshot_id})
    elapsed = time.perf_counter() - started
    assert again.status_code == 200 and again.json["id"] == first["id"]
    assert again.json["transfer_status"] == "SUCCESS" and elapsed < 1.0
    run_worker(app)
    assert uploads_of(squonk, mark) == []

    # one ligand changes on reload: its mol and its SMILES file go again, nothing else
    victim = sorted(folder.glob("*.mol"))[2]
    shutil.copy(MAC1_DIR / "diamond-x0104_A.mol", victim)
    with app.app_context():
        load_target(folder, "Mac1", "lb18145-1", template_pdb=MAC1_DIR / "template.pdb")
    stale = member.post("/api/job_file_transfer/", json={"snapshot": snapshot_id})
    assert stale.status_code == 201 and stale.json["id"] != first["id"]
    run_worker(app)
    result = member.get(f"/api/job_file_transfer/{stale.json['id']}/").json
    assert result["transfer_status"] == "SUCCESS"
    assert sorted(uploads_of(squonk, mark)) == sorted([f"{victim.stem}.mol", f"{victim.stem}.smi"])
    assert result["files_uploaded"] == 2 and result["files_skipped"] == 16


def test_files_the_proteins_lack_are_named_and_the_rest_is_sent(app, small_targets, squonk, login):
    """Mpro's proteins have no apo-desolv PDB: their mol and SMILES files still go, the
    transfer ends SUCCESS, and the panel, history and API name each file not sent."""
    snapshot_id = make_snapshot(app, "Mpro")
    codes = small_targets["Mpro"]
    member = login("member")
    mark = len(squonk.uploads())
    response = member.post("/api/job_file_transfer/", json={"snapshot": snapshot_id})
    assert response.status_code == 201
    transfer_id = response.json["id"]
    run_worker(app)
    body = member.get(f"/api/job_file_transfer/{transfer_id}/").json
    assert body["transfer_status"] == "SUCCESS"
    assert body["files_missing"] == [
        {"protein": code, "kind": "apo_desolv", "file": f"{code}_apo-desolv.pdb"} for code in codes
    ]
    for code in codes:
        assert code in body["not_sent"]
    assert "apo-desolv PDB" in body["not_sent"]
    sent = uploads_of(squonk, mark)
    assert len(sent) == 2 * len(codes)
    assert not [name for name in sent if "apo-desolv" in name]
    assert {name.rsplit("/", 1)[-1] for name in sent} == {
        f"{code}{suffix}" for code in codes for suffix in (".mol", ".smi")
    }
    panel = member.get(f"/transfers/{transfer_id}/panel").get_data(as_text=True)
    history = member.get(f"/snapshots/{snapshot_id}/transfers/").get_data(as_text=True)
    for page in (panel, history):
        assert "Not sent: the proteins lack these files" in page
        assert all(code in page for code in codes)


def test_codes_from_another_target_are_refused(app, small_targets, squonk, login):
    snapshot_id = make_snapshot(app, "Mac1")
    member = login("member")
    response = member.post(
        "/api/job_file_transfer/",
        json={
            "snapshot": snapshot_id,
            "proteins": [small_targets["Mac1"][0], small_targets["Mpro"][0], "x9999"],
        },
    )
    assert response.status_code == 400
    assert small_targets["Mpro"][0] in response.json["error"] and "x9999" in response.json["error"]
    assert member.post("/api/job_file_transfer/", json={"snapshot": "1"}).status_code == 400
    with app.app_context():
        assert db.session.scalar(select(db.func.count(JobFileTransfer.id))) == 0


def test_transfer_visibility(app, small_targets, squonk, login):
    private = make_snapshot(app, "Mpro")
    public = make_snapshot(app, "Mac1")
    member = login("member")
    mine = member.post("/api/job_file_transfer/", json={"snapshot": private}).json["id"]
    shared = member.post("/api/job_file_transfer/", json={"snapshot": public}).json["id"]
    outsider, colleague, admin = login("outsider"), login("colleague"), login("admin")
    assert outsider.post("/api/job_file_transfer/", json={"snapshot": private}).status_code == 404
    # others' transfers are for members of the target's project, public target or not
    for transfer_id in (mine, shared):
        assert outsider.get(f"/api/job_file_transfer/{transfer_id}/").status_code == 404
        assert outsider.get(f"/transfers/{transfer_id}/panel").status_code == 404
        assert colleague.get(f"/api/job_file_transfer/{transfer_id}/").status_code == 200
        assert admin.get(f"/api/job_file_transfer/{transfer_id}/").status_code == 200
    assert outsider.get("/api/job_file_transfer/").json == []
    assert sorted(t["id"] for t in colleague.get("/api/job_file_transfer/").json) == sorted(
        [mine, shared]
    )
    filtered = member.get("/api/job_file_transfer/?target=Mpro&status=pending").json
    assert [t["id"] for t in filtered] == [mine]
    assert member.get(f"/api/job_file_transfer/?snapshot={public}").json[0]["id"] == shared
    assert member.get("/api/job_file_transfer/?status=DONE").status_code == 400
    assert login(None).get("/api/job_file_transfer/").status_code == 401


def test_unreachable_squonk_ends_in_a_clear_failure_after_retries(
    app, small_targets, login, caplog
):
    port = free_port()
    assert not port_is_open(port)  # every call is refused
    use_squonk(app, SimpleNamespace(url=f"http://127.0.0.1:{port}/data-manager-api", token="t"))
    snapshot_id = make_snapshot(app, "Mac1")
    member = login("member")
    created = member.post("/api/job_file_transfer/", json={"snapshot": snapshot_id}).json
    assert created["transfer_status"] == "PENDING"
    mark = len(caplog.records)
    run_worker(app)
    failed = member.get(f"/api/job_file_transfer/{created['id']}/").json
    assert failed["transfer_status"] == "FAILURE"
    assert failed["message"].startswith("Squonk2 could not be reached")
    # the first try and one per retry interval, each ended by the refused connection
    unanswered = [
        r
        for r in caplog.records[mark:]
        if r.name == "app.squonk.client" and r.getMessage().endswith("failed: status no answer")
    ]
    assert len(unanswered) == 1 + len(app.config["SQUONK2_RETRY_INTERVALS"]), [
        r.getMessage() for r in unanswered
    ]


def test_killed_worker_is_finished_by_the_next_without_duplicate_uploads(
    app, users, squonk, login, tmp_path, worker_process
):
    app.config["TRANSFER_STALE_SECONDS"] = 2
    load_mac1(app, tmp_path, 120)
    snapshot_id = make_snapshot(app, "Mac1")
    member = login("member")
    mark = len(squonk.uploads())
    transfer_id = member.post("/api/job_file_transfer/", json={"snapshot": snapshot_id}).json["id"]

    first = worker_process()

    def uploaded() -> int:
        with app.app_context():
            row = db.session.get(JobFileTransfer, transfer_id)
            count = row.files_uploaded
            db.session.remove()
            return count

    wait_for(lambda: uploaded() >= 40, timeout=60, what="40 uploads")
    first.kill()
    partial = uploaded()
    assert partial < 360, "the transfer finished before the worker could be killed"

    def heartbeat_age() -> float:
        with app.app_context():
            age = utcnow() - as_utc(db.session.get(JobFileTransfer, transfer_id).heartbeat)
            db.session.remove()
        return age.total_seconds()

    stale = app.config["TRANSFER_STALE_SECONDS"]
    wait_for(lambda: heartbeat_age() > stale, timeout=stale + 10, what="a stale heartbeat")

    again = member.post("/api/job_file_transfer/", json={"snapshot": snapshot_id}).json
    assert again["id"] == transfer_id  # the same row resumes
    worker_process()
    wait_for(
        lambda: (
            member.get(f"/api/job_file_transfer/{transfer_id}/").json["transfer_status"]
            == "SUCCESS"
        ),
        timeout=120,
        what="SUCCESS",
    )
    names = uploads_of(squonk, mark)
    assert len(names) == 360 and len(set(names)) == 360, "a file was uploaded twice"
    with app.app_context():
        assert db.session.scalar(select(db.func.count(SquonkFile.id))) == 360


def test_the_reconciler_resumes_an_orphaned_transfer(app, users, squonk, login, tmp_path):
    from app.extensions import queue
    from app.jobs.reconcile import reconcile

    load_mac1(app, tmp_path, 3)
    snapshot_id = make_snapshot(app, "Mac1")
    member = login("member")
    transfer_id = member.post("/api/job_file_transfer/", json={"snapshot": snapshot_id}).json["id"]
    with app.app_context():
        queue().empty()  # its worker and its queued task are gone
        assert reconcile().get("transfer_resumed") == 1
        assert reconcile().get("transfer_resumed") is None  # queued again: alive now
    run_worker(app)
    done = member.get(f"/api/job_file_transfer/{transfer_id}/").json
    assert done["transfer_status"] == "SUCCESS" and done["files_uploaded"] == 9
