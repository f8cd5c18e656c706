"""Acting on jobs: cancel (of a row, and of a Fragmenstein run in local_squonk whose
processes must end), summary and description, the bulk status API, the job table and job
page that poll until every job is final."""

from __future__ import annotations

import psutil
from squonk2.dm_api import DmApi

from tests.factories import job as make_job
from tests.support import (
    fragmenstein_body,
    run_worker,
    squonk_phase,
    transferred_snapshot,
    wait_for,
)
from tests.support import job_history as history


def test_cancel_by_others_is_404_for_outsiders_and_403_for_colleagues(app, small_targets, login):
    private, _ = make_job(app, title="Mpro", status="OPEN")
    public, _ = make_job(app, title="Mac1", status="OPEN")
    outsider, colleague = login("outsider"), login("colleague")
    member, admin = login("member"), login("admin")
    for job_id in (private, public):  # another's job is not even shown to a non-member
        assert outsider.delete(f"/api/job_request/{job_id}/").status_code == 404
        assert outsider.post(f"/jobs/{job_id}/cancel").status_code == 404
        refused = colleague.delete(f"/api/job_request/{job_id}/")
        assert refused.status_code == 403
        assert refused.json == {"error": "Only the job's owner or an admin may do that"}
        assert colleague.post(f"/jobs/{job_id}/cancel").status_code == 403
    assert history(app, public)[0] == "OPEN"
    cancelled = member.delete(f"/api/job_request/{public}/")
    assert cancelled.status_code == 200 and cancelled.json["job_status"] == "REVOKED"
    assert cancelled.json["events"][-1]["source"] == "user"
    assert admin.delete(f"/api/job_request/{private}/").json["job_status"] == "REVOKED"
    again = member.delete(f"/api/job_request/{public}/")
    assert again.status_code == 409 and "already finished" in again.json["error"]


def test_summary_and_description_only_by_owner(app, small_targets, login):
    job_id, _ = make_job(app)
    colleague, member = login("colleague"), login("member")
    assert (
        colleague.post(
            f"/jobs/{job_id}/describe", data={"summary": "x", "csrf_token": colleague.csrf}
        ).status_code
        == 403
    )
    member.post(
        f"/jobs/{job_id}/describe",
        data={
            "summary": "first merge try",
            "description": "x0104 + x0128",
            "csrf_token": member.csrf,
        },
    )
    page = colleague.get(f"/jobs/{job_id}/")
    assert "first merge try" in page.text and "x0104 + x0128" in page.text
    assert 'name="summary"' not in page.text  # no form for a colleague
    assert login("outsider").get(f"/jobs/{job_id}/").status_code == 404


def test_bulk_status_leaves_out_invisible_jobs(app, small_targets, login):
    private, _ = make_job(app, title="Mpro")
    public, _ = make_job(app, title="Mac1", status="STARTED")
    answer = login("outsider").post("/api/job_status/", json={"ids": [private, public, 999]})
    assert answer.json == {}  # others' jobs: members only, public target or not
    answer = login("colleague").post("/api/job_status/", json={"ids": [private, public, 999]})
    assert answer.json == {str(private): "PENDING", str(public): "STARTED"}
    assert login("member").post("/api/job_status/", json={"ids": [private]}).json == {
        str(private): "PENDING"
    }
    assert login("member").post("/api/job_status/", json={"ids": "1"}).status_code == 400


def test_job_table_is_one_poll_that_stops_when_all_are_final(app, small_targets, login):
    running, secret = make_job(app)
    make_job(app, status="SUCCESS")
    member = login("member")
    page = member.get("/jobs/")
    assert page.text.count('hx-trigger="every 2s"') == 1  # one poll for the whole table
    headers = {"HX-Request": "true", "HX-Target": "job-rows"}
    rows = member.get("/jobs/", headers=headers)
    assert rows.status_code == 200 and rows.text.count("<tr data-job") == 2
    assert rows.headers["Cache-Control"] == "no-store"
    app.test_client().put(f"/api/job_callback/{secret}/", json={"job_status": "SUCCESS"})
    done = member.get("/jobs/", headers=headers)
    assert done.status_code == 286 and "hx-trigger" not in done.text
    filtered = member.get("/targets/Mac1/jobs/?status=success", headers=headers)
    assert filtered.text.count("<tr data-job") == 2
    assert member.get("/jobs/?status=NOPE").status_code == 400


def test_job_page_polls_until_final(app, small_targets, login):
    job_id, secret = make_job(app)
    member = login("member")
    headers = {"HX-Request": "true"}
    assert member.get(f"/jobs/{job_id}/status", headers=headers).status_code == 200
    app.test_client().put(f"/api/job_callback/{secret}/", json={"job_status": "FAILURE"})
    final = member.get(f"/jobs/{job_id}/status", headers=headers)
    assert final.status_code == 286 and 'data-status="FAILURE"' in final.text


def job_processes(server, instance_directory: str) -> list[int]:
    """Processes local_squonk runs for an instance (found by their DM_INSTANCE_DIRECTORY)."""
    found = []
    for proc in psutil.process_iter():
        try:
            if proc.environ().get("DM_INSTANCE_DIRECTORY", "").endswith(instance_directory):
                found.append(proc.pid)
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
    return found


def alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def test_cancel_of_a_running_fragmenstein_job(app, small_targets, squonk, login):
    snapshot_id, member = transferred_snapshot(app, login)
    job = member.post("/api/job_request/", json=fragmenstein_body(snapshot_id, count=20)).json
    run_worker(app)
    instance = member.get(f"/api/job_request/{job['id']}/").json["squonk_instance_id"]
    wait_for(lambda: squonk_phase(squonk, instance) == "RUNNING", timeout=60, what="RUNNING")
    DmApi.set_api_url(squonk.url, verify_ssl_cert=False)
    directory = DmApi.get_instance(squonk.token, instance_id=instance).msg["instance_directory"]
    running = wait_for(
        lambda: job_processes(squonk, directory), timeout=30, what="the job's process"
    )

    assert login("outsider").delete(f"/api/job_request/{job['id']}/").status_code == 404
    assert login("colleague").delete(f"/api/job_request/{job['id']}/").status_code == 403
    cancelled = member.delete(f"/api/job_request/{job['id']}/")
    assert cancelled.status_code == 200 and cancelled.json["job_status"] == "REVOKED"
    wait_for(
        lambda: not any(alive(pid) for pid in running),
        timeout=15,
        what="the job's processes to end",
    )
    assert job_processes(squonk, directory) == []
    page = member.get(f"/jobs/{job['id']}/")
    assert 'data-status="REVOKED"' in page.text and "cancelled by member" in page.text
