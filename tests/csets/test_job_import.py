"""Automatic import of a finished job's results as a computed set; the reconciler."""

from __future__ import annotations

import io
import time

import pytest
from rdkit import Chem
from sqlalchemy import select
from squonk2.dm_api import DmApi

from app.extensions import db
from app.models import ComputedMolecule, ComputedSet, JobRequest
from tests.conftest import MAC1_NEIGHBOURS, run_worker, wait_for
from tests.factories import snapshot as make_snapshot
from tests.jobs.test_launch import fragmenstein_body


def squonk_phase(server, instance_id: str) -> str:
    DmApi.set_api_url(server.url, verify_ssl_cert=False)
    return DmApi.get_instance(server.token, instance_id=instance_id).msg.get("phase", "")


def finished_in_squonk(app, server, login, body_extra=None) -> tuple[int, object]:
    """Launch Fragmenstein on the two neighbours and wait until Squonk2 has finished it."""
    app.config["RECONCILE_QUIET_SECONDS"] = 0
    snapshot_id = make_snapshot(app, "Mac1", list(MAC1_NEIGHBOURS))
    member = login("member")
    member.post("/api/job_file_transfer/", json={"snapshot": snapshot_id})
    run_worker(app)
    job = member.post("/api/job_request/", json=fragmenstein_body(snapshot_id)).json
    run_worker(app)
    instance = member.get(f"/api/job_request/{job['id']}/").json["squonk_instance_id"]
    wait_for(
        lambda: squonk_phase(server, instance) in ("COMPLETED", "FAILED"),
        timeout=180,
        what="Fragmenstein to finish",
    )
    return job["id"], member


def reconcile(app) -> dict:
    from app.jobs.reconcile import reconcile as run

    with app.app_context():
        counts = run()
        db.session.remove()
    return counts


def test_finished_job_is_imported_as_a_computed_set(app, small_targets, squonk, login):
    job_id, member = finished_in_squonk(app, squonk, login)
    assert reconcile(app).get("applied") == 1  # SUCCESS learnt by polling
    run_worker(app)  # the import
    job = member.get(f"/api/job_request/{job_id}/").json
    assert job["job_status"] == "UPLOADED", job["message"]
    assert [e["to"] for e in job["events"] if e["from"] != e["to"]][-3:] == [
        "SUCCESS",
        "UPLOADING",
        "UPLOADED",
    ]
    assert any(e["source"] == "poll" for e in job["events"])
    name = job["computed_set"]
    with app.app_context():
        cset = db.session.scalar(select(ComputedSet).where(ComputedSet.name == name))
        assert cset.owner.username == "member" and cset.job_request_id == job_id
        molecules = db.session.scalars(
            select(ComputedMolecule).where(ComputedMolecule.computed_set_id == cset.id)
        ).all()
        assert molecules and all(sorted(m.ref_mols) == sorted(MAC1_NEIGHBOURS) for m in molecules)
        assert all({"DDG", "RMSD"} <= set(m.scores) for m in molecules)
    download = member.get(f"/api/compound-sets/{name}/download")
    mols = [m for m in Chem.ForwardSDMolSupplier(io.BytesIO(download.data)) if m is not None]
    assert len(mols) - 1 == len(molecules)  # the ver_1.2 header, then each molecule
    page = member.get(f"/jobs/{job_id}/")
    assert f"/computed-sets/{name}/" in page.text


def test_a_failed_import_leaves_a_successful_job_with_a_retry(
    app, small_targets, squonk, login, monkeypatch
):
    job_id, member = finished_in_squonk(app, squonk, login)
    reconcile(app)
    import app.csets.task as results

    real = results.create_computed_set
    monkeypatch.setattr(results, "build_header_block", lambda **kw: "not a header\n$$$$\n")
    run_worker(app)
    job = member.get(f"/api/job_request/{job_id}/").json
    assert job["job_status"] == "SUCCESS" and "could not be imported" in job["message"]
    page = member.get(f"/jobs/{job_id}/")
    assert 'id="retry-import"' in page.text
    assert login("outsider").post(f"/jobs/{job_id}/retry-import").status_code == 403
    monkeypatch.undo()
    assert results.create_computed_set is real
    member.post(f"/jobs/{job_id}/retry-import", data={"csrf_token": member.csrf})
    run_worker(app)
    job = member.get(f"/api/job_request/{job_id}/").json
    assert job["job_status"] == "UPLOADED" and job["computed_set"]
    events = [e["message"] or "" for e in job["events"]]
    assert any(m.startswith("import failed") for m in events)


def test_a_job_squonk_forgot_is_lost(app, small_targets, squonk, login):
    from tests.factories import job as make_job

    app.config["RECONCILE_QUIET_SECONDS"] = 0
    job_id, _ = make_job(app, status="STARTED")
    assert reconcile(app) == {"applied": 1}
    with app.app_context():
        job = db.session.get(JobRequest, job_id)
        assert job.job_status == "FAILURE" and job.message.startswith("lost")
        assert job.events[-1].source == "poll"


def test_a_launch_whose_worker_died_is_queued_again(app, small_targets, squonk, login):
    app.config["RECONCILE_QUIET_SECONDS"] = 0
    snapshot_id = make_snapshot(app, "Mac1", list(MAC1_NEIGHBOURS))
    member = login("member")
    member.post("/api/job_file_transfer/", json={"snapshot": snapshot_id})
    run_worker(app)
    job = member.post("/api/job_request/", json=fragmenstein_body(snapshot_id)).json
    from app.extensions import redis_connection

    with app.app_context():
        from app.extensions import queue

        queue().empty()  # the launch task is lost with its worker
        redis_connection()
    time.sleep(0.05)
    assert reconcile(app).get("relaunched") == 1
    run_worker(app)
    assert member.get(f"/api/job_request/{job['id']}/").json["job_status"] != "OPEN"


@pytest.mark.parametrize("interval", [2])
def test_reconciler_brings_a_silent_job_to_success_within_two_periods(
    app, small_targets, login, tmp_path, worker_process, interval
):
    from tests.conftest import use_squonk
    from tests.squonk_server import squonk_server

    with squonk_server(tmp_path / "quiet", env={"LOCAL_SQUONK_CALLBACKS": "0"}) as server:
        use_squonk(app, server)
        app.config.update(RECONCILE_INTERVAL=interval, RECONCILE_QUIET_SECONDS=0)
        snapshot_id = make_snapshot(app, "Mac1", list(MAC1_NEIGHBOURS))
        member = login("member")
        member.post("/api/job_file_transfer/", json={"snapshot": snapshot_id})
        run_worker(app)
        body = {
            "snapshot": snapshot_id,
            "job": "rdkit-conformers",
            "inputs": {"inputFile": list(MAC1_NEIGHBOURS)},
            "options": {},
        }
        job = member.post("/api/job_request/", json=body).json
        worker_process()
        instance = wait_for(
            lambda: member.get(f"/api/job_request/{job['id']}/").json["squonk_instance_id"],
            timeout=30,
            what="the launch",
        )
        wait_for(
            lambda: squonk_phase(server, instance) == "COMPLETED",
            timeout=60,
            what="Squonk2 to finish the job",
        )
        finished = time.monotonic()
        wait_for(
            lambda: member.get(f"/api/job_request/{job['id']}/").json["job_status"] == "SUCCESS",
            timeout=4 * interval + 5,
            interval=0.2,
            what="the reconciler",
        )
        assert time.monotonic() - finished <= 2 * interval + 1.5
        events = member.get(f"/api/job_request/{job['id']}/").json["events"]
        assert events[-1]["to"] == "SUCCESS" and events[-1]["source"] == "poll"


def job_processes(server, instance_directory: str) -> list[int]:
    """Processes local_squonk runs for an instance (found by their DM_INSTANCE_DIRECTORY)."""
    import psutil

    found = []
    for proc in psutil.process_iter():
        try:
            if proc.environ().get("DM_INSTANCE_DIRECTORY", "").endswith(instance_directory):
                found.append(proc.pid)
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
    return found


def test_cancel_of_a_running_fragmenstein_job(app, small_targets, squonk, login):
    snapshot_id = make_snapshot(app, "Mac1", list(MAC1_NEIGHBOURS))
    member = login("member")
    member.post("/api/job_file_transfer/", json={"snapshot": snapshot_id})
    run_worker(app)
    job = member.post("/api/job_request/", json=fragmenstein_body(snapshot_id, count=20)).json
    run_worker(app)
    instance = member.get(f"/api/job_request/{job['id']}/").json["squonk_instance_id"]
    wait_for(lambda: squonk_phase(squonk, instance) == "RUNNING", timeout=60, what="RUNNING")
    DmApi.set_api_url(squonk.url, verify_ssl_cert=False)
    directory = DmApi.get_instance(squonk.token, instance_id=instance).msg["instance_directory"]
    running = wait_for(
        lambda: job_processes(squonk, directory), timeout=30, what="the job's process"
    )

    assert login("outsider").delete(f"/api/job_request/{job['id']}/").status_code == 403
    cancelled = member.delete(f"/api/job_request/{job['id']}/")
    assert cancelled.status_code == 200 and cancelled.json["job_status"] == "REVOKED"
    import psutil

    wait_for(
        lambda: (
            not any(
                psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
                for pid in running
            )
        ),
        timeout=15,
        what="the job's processes to end",
    )
    assert job_processes(squonk, directory) == []
    page = member.get(f"/jobs/{job['id']}/")
    assert 'data-status="REVOKED"' in page.text and "cancelled by member" in page.text


def test_an_import_killed_mid_way_leaves_no_partial_set_and_retry_completes_it(
    app, small_targets, squonk, login, monkeypatch
):
    from app.models import AuditEvent

    job_id, member = finished_in_squonk(app, squonk, login)
    reconcile(app)  # SUCCESS -> UPLOADING, import queued

    class WorkerKilled(BaseException):
        """What the work horse sees when it is killed: not an Exception, nothing handles it."""

    def die_before_commit(*args, **kwargs):
        raise WorkerKilled()

    # the worker dies after the rows were added and the file written, before the commit
    monkeypatch.setattr(AuditEvent, "record", die_before_commit)
    with pytest.raises(WorkerKilled):
        with app.app_context():
            from app.csets.task import import_results

            import_results(job_id)
    monkeypatch.undo()
    with app.app_context():
        assert db.session.scalar(select(db.func.count(ComputedSet.id))) == 0
        assert db.session.scalar(select(db.func.count(ComputedMolecule.id))) == 0
        assert db.session.scalar(select(db.func.count(AuditEvent.id))) == 0
        from app.extensions import queue

        queue().empty()  # the killed worker's task is gone
    from pathlib import Path

    assert not list((Path(app.config["DATA_DIR"]) / "csets").rglob("*.sdf"))

    app.config["IMPORT_STALE_SECONDS"] = 0
    assert reconcile(app).get("import_interrupted") == 1
    job = member.get(f"/api/job_request/{job_id}/").json
    assert job["job_status"] == "SUCCESS" and "interrupted" in job["message"]
    assert 'id="retry-import"' in member.get(f"/jobs/{job_id}/").text
    member.post(f"/jobs/{job_id}/retry-import", data={"csrf_token": member.csrf})
    run_worker(app)
    job = member.get(f"/api/job_request/{job_id}/").json
    assert job["job_status"] == "UPLOADED"
    with app.app_context():
        assert db.session.scalar(select(db.func.count(ComputedSet.id))) == 1
