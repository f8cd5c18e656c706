"""Launching jobs: the checks in order, the JobRequest row, the launch on local_squonk."""

from __future__ import annotations

from sqlalchemy import select
from squonk2.dm_api import DmApi

from app.extensions import db
from app.models import JobRequest
from tests.factories import snapshot as make_snapshot
from tests.support import (
    FRAGMENSTEIN,
    MAC1_NEIGHBOURS,
    csrf_token_of,
    fragmenstein_body,
    run_worker,
)


def instances_started(server) -> int:
    return sum(
        1 for r in server.request_log() if r["method"] == "POST" and r["path"].endswith("/instance")
    )


def job_count(app) -> int:
    with app.app_context():
        return db.session.scalar(select(db.func.count(JobRequest.id)))


def test_launch_creates_a_pending_job_on_squonk(app, transferred, squonk, login):
    member = login("member")
    response = member.post("/api/job_request/", json=fragmenstein_body(transferred))
    assert response.status_code == 201, response.json
    job = response.json
    assert job["job_status"] == "OPEN" and job["options"]["outfile"].endswith("/merged.sdf")
    assert job["options"]["proteinFieldValue"] == MAC1_NEIGHBOURS[0]
    assert job["options"]["smilesFieldName"] == "original SMILES"
    run_worker(app)
    launched = member.get(f"/api/job_request/{job['id']}/").json
    assert launched["job_status"] in ("PENDING", "STARTED", "SUCCESS")
    assert [e["to"] for e in launched["events"]][:2] == ["OPEN", "PENDING"]
    DmApi.set_api_url(squonk.url, verify_ssl_cert=False)
    instance = DmApi.get_instance(squonk.token, instance_id=launched["squonk_instance_id"])
    assert instance.success and instance.msg["project_id"] == launched["squonk_project"]
    with app.app_context():
        row = db.session.get(JobRequest, job["id"])
        assert row.job_dir.startswith("fragalysis-jobs/member/")
        assert row.specification["fragments"] == [
            f"fragalysis-files/Mac1/{code}.mol" for code in MAC1_NEIGHBOURS
        ]
        assert (
            row.specification["protein"]
            == f"fragalysis-files/Mac1/{MAC1_NEIGHBOURS[0]}_apo-desolv.pdb"
        )
        assert len(row.callback_secret_hash) == 64 and len(row.callback_nonce) == 32


def test_launch_task_is_idempotent(app, transferred, squonk, login):
    from app.jobs.task import launch_job

    member = login("member")
    job_id = member.post("/api/job_request/", json=fragmenstein_body(transferred)).json["id"]
    run_worker(app)
    before = instances_started(squonk)
    with app.app_context():
        launch_job(job_id)  # a second run of the task for the same row
        row = db.session.get(JobRequest, job_id)
        # a row whose worker died after Squonk2 started it: the instance is adopted
        instance = row.squonk_instance_id
        row.squonk_instance_id, row.job_status = None, "OPEN"
        db.session.commit()
        launch_job(job_id)
        assert db.session.get(JobRequest, job_id).squonk_instance_id == instance
    assert instances_started(squonk) == before


# --- every launch check: its message, and nothing created ---------------------------------


def refused(app, squonk, session, body, status: int) -> dict:
    jobs, instances = job_count(app), instances_started(squonk)
    response = session.post("/api/job_request/", json=body)
    assert response.status_code == status, response.json
    run_worker(app)
    assert job_count(app) == jobs and instances_started(squonk) == instances
    return response.json


def test_check_access(app, transferred, squonk, login, small_targets):
    private = make_snapshot(app, "Mpro")
    body = fragmenstein_body(private)
    assert refused(app, squonk, login("outsider"), body, 404) == {"error": "Not found"}
    assert login(None).post("/api/job_request/", json=body).status_code == 401


def test_check_fresh_transfer(app, small_targets, squonk, login):
    snapshot_id = make_snapshot(app, "Mac1", list(MAC1_NEIGHBOURS))
    body = refused(app, squonk, login("member"), fragmenstein_body(snapshot_id), 400)
    assert "not in Squonk2" in body["error"] and "send them first" in body["error"]


def test_check_inputs(app, transferred, squonk, login, small_targets):
    member = login("member")
    one = fragmenstein_body(transferred)
    one["inputs"]["fragments"] = [MAC1_NEIGHBOURS[0]]
    body = refused(app, squonk, member, one, 400)
    assert "Choose between 2 and 20 fragments" in body["fields"]["fragments"]
    foreign = fragmenstein_body(transferred)
    foreign["inputs"]["fragments"] = [*MAC1_NEIGHBOURS, small_targets["Mpro"][0]]
    body = refused(app, squonk, member, foreign, 400)
    assert small_targets["Mpro"][0] in body["fields"]["fragments"]


def test_check_options(app, transferred, squonk, login):
    member = login("member")
    body = refused(app, squonk, member, fragmenstein_body(transferred, count=0), 400)
    assert "count" in body["fields"] and "1" in body["fields"]["count"]
    body = refused(app, squonk, member, fragmenstein_body(transferred, count="three"), 400)
    assert "count" in body["fields"]
    # a fixed option cannot be changed, whatever is sent: the fixed value is used
    sneaky = member.post(
        "/api/job_request/", json=fragmenstein_body(transferred, outfile="../../etc/x.sdf")
    )
    assert sneaky.status_code == 201 and sneaky.json["options"]["outfile"].startswith(
        "fragalysis-jobs/member/"
    )


def test_check_duplicates(app, transferred, squonk, login):
    member = login("member")
    before = instances_started(squonk)
    first = member.post("/api/job_request/", json=fragmenstein_body(transferred)).json
    response = member.post("/api/job_request/", json=fragmenstein_body(transferred))
    assert response.status_code == 409 and job_count(app) == 1
    body = response.json
    assert body["existing"]["id"] == first["id"] and "not started yet" in body["error"]
    assert body["existing"]["url"] == f"/jobs/{first['id']}/"
    run_worker(app)
    assert instances_started(squonk) == before + 1  # the first job's only
    body = refused(app, squonk, member, fragmenstein_body(transferred), 409)
    assert "already running" in body["error"] or "already ran" in body["error"]
    with app.app_context():
        row = db.session.get(JobRequest, first["id"])
        row.job_status = "SUCCESS"
        db.session.commit()
    body = refused(app, squonk, member, fragmenstein_body(transferred), 409)
    assert "already ran" in body["error"] and "run it again" in body["error"]
    again = member.post(
        "/api/job_request/", json={**fragmenstein_body(transferred), "run_again": True}
    )
    assert again.status_code == 201
    other = member.post("/api/job_request/", json=fragmenstein_body(transferred, count=2))
    assert other.status_code == 201  # a different count is a different job


def test_dialog_renders_defaults_and_inline_errors(app, transferred, login):
    member = login("member")
    page = member.get(f"/snapshots/{transferred}/launch?job={FRAGMENSTEIN}")
    assert page.status_code == 200
    assert 'name="options-count"' in page.text and 'value="1"' in page.text
    assert "&lt;job directory&gt;/merged.sdf" in page.text and "readonly" in page.text
    assert "proteinFieldValue" not in page.text  # hidden fixed option
    data = {
        "csrf_token": csrf_token_of(page.text),
        "inputs-fragments": list(MAC1_NEIGHBOURS),
        "inputs-protein": MAC1_NEIGHBOURS[0],
        "options-count": "0",
        "options-fragIdField": "_Name",
    }
    bad = member.client.post(
        f"/snapshots/{transferred}/launch?job={FRAGMENSTEIN}",
        data=data,
        headers={"HX-Request": "true"},
    )
    assert bad.status_code == 200 and "Must be between 1 and 100" in bad.text
    assert "<html" not in bad.text  # an HTMX fragment
    assert job_count(app) == 0
    data["options-count"] = "2"
    good = member.client.post(
        f"/snapshots/{transferred}/launch?job={FRAGMENSTEIN}",
        data=data,
        headers={"HX-Request": "true"},
    )
    assert good.status_code == 204 and good.headers["HX-Redirect"].startswith("/jobs/")
    assert member.get(good.headers["HX-Redirect"]).status_code == 200


def test_job_config_lists_launchable_jobs(login, users):
    config = login("member").get("/api/job_config/").json
    keys = {item["key"] for item in config}
    assert {"fragmenstein-combine", "rdkit-conformers"} <= keys
    item = next(i for i in config if i["key"] == FRAGMENSTEIN)
    assert item["collection"] == "fragmenstein" and item["version"] == "1.0.0"
