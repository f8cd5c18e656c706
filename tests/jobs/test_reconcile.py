"""The reconciler: a job Squonk2 forgot is lost, a launch whose worker died is queued
again, a job whose callbacks never come still reaches SUCCESS within two periods."""

from __future__ import annotations

import time

import pytest

from app.extensions import db
from app.models import JobRequest
from app.models.base import as_utc, utcnow
from tests.factories import job as make_job
from tests.squonk_server import squonk_server
from tests.support import (
    MAC1_NEIGHBOURS,
    fragmenstein_body,
    reconcile,
    run_worker,
    squonk_phase,
    transferred_snapshot,
    use_squonk,
    wait_for,
)


def test_a_job_squonk_forgot_is_lost(app, small_targets, squonk, login):
    app.config["RECONCILE_QUIET_SECONDS"] = 0
    job_id, _ = make_job(app, status="STARTED")
    assert reconcile(app) == {"applied": 1}
    with app.app_context():
        job = db.session.get(JobRequest, job_id)
        assert job.job_status == "FAILURE" and job.message.startswith("lost")
        assert job.events[-1].source == "poll"


def test_a_launch_whose_worker_died_is_queued_again(app, small_targets, squonk, login):
    from app.extensions import queue

    app.config["RECONCILE_QUIET_SECONDS"] = 0
    snapshot_id, member = transferred_snapshot(app, login)
    job = member.post("/api/job_request/", json=fragmenstein_body(snapshot_id)).json
    with app.app_context():
        queue().empty()  # the launch task is lost with its worker

    def quiet() -> bool:
        """Still OPEN with no instance, last changed before now (QUIET_SECONDS is 0)."""
        with app.app_context():
            row = db.session.get(JobRequest, job["id"])
            assert (row.job_status, row.squonk_instance_id) == ("OPEN", None)
            stamp = as_utc(row.updated)
            db.session.remove()
        return utcnow() > stamp

    wait_for(quiet, timeout=5, interval=0.01, what="the stuck launch to be quiet")
    assert reconcile(app).get("relaunched") == 1
    run_worker(app)
    assert member.get(f"/api/job_request/{job['id']}/").json["job_status"] != "OPEN"


@pytest.mark.parametrize("interval", [2])
def test_reconciler_brings_a_silent_job_to_success_within_two_periods(
    app, small_targets, login, tmp_path, worker_process, interval
):
    with squonk_server(tmp_path / "quiet", env={"LOCAL_SQUONK_CALLBACKS": "0"}) as server:
        use_squonk(app, server)
        app.config.update(RECONCILE_INTERVAL=interval, RECONCILE_QUIET_SECONDS=0)
        snapshot_id, member = transferred_snapshot(app, login)
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
