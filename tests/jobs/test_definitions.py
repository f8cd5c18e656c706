"""Launchable jobs from Squonk2's own definitions (``get_job_by_version`` on a real
local_squonk over HTTP), cached in the database, refreshed by ``flask jobs refresh``, and
``flask jobs check`` saying what changed since."""

from __future__ import annotations

import shutil
from pathlib import Path

from sqlalchemy import select

from app.extensions import db
from app.models import JobDefinition, JobRequest
from tests.squonk_server import squonk_server
from tests.support import MAC1_NEIGHBOURS, csrf_token_of, transferred_snapshot, use_squonk

LOCAL_JOBS = Path(__file__).resolve().parents[2] / "local_squonk" / "jobs"
COMBINE = "fragmenstein-combine"


def definition_fetches(server) -> int:
    return sum(1 for r in server.request_log() if r["path"].endswith("/job/get-by-version"))


def count_of(member) -> dict:
    (combine,) = [j for j in member.get("/api/job_config/").json if j["key"] == COMBINE]
    return combine["options"]["properties"]["count"]


def run_dialog(member, snapshot_id: int, count: int):
    url = f"/snapshots/{snapshot_id}/launch?job={COMBINE}"
    page = member.get(url).get_data(as_text=True)
    fragments = list(MAC1_NEIGHBOURS)
    return member.post(
        url,
        data={
            "csrf_token": csrf_token_of(page),
            "inputs-fragments": fragments,
            "inputs-protein": fragments[0],
            "options-count": str(count),
            "options-fragIdField": "_Name",
        },
        headers={"HX-Request": "true"},
    ).get_data(as_text=True)


def test_definitions_come_from_squonk_cached_and_refreshed_without_a_restart(
    app, small_targets, login, runner, tmp_path
):
    jobs = tmp_path / "definitions"
    shutil.copytree(LOCAL_JOBS, jobs)
    with squonk_server(tmp_path / "squonk", env={"LOCAL_SQUONK_JOBS_DIR": str(jobs)}) as server:
        use_squonk(app, server)
        app.config["JOB_DEFINITIONS"] = "squonk2"
        snapshot_id, member = transferred_snapshot(app, login)
        count = count_of(member)
        assert (count["minimum"], count["maximum"], count["default"]) == (1, 100, 1)
        fetched = definition_fetches(server)
        assert fetched == 3  # once per launchable job, then from the database
        with app.app_context():
            rows = db.session.scalars(select(JobDefinition)).all()
            assert {(r.collection, r.job, r.squonk_url) for r in rows} == {
                ("fragmenstein", COMBINE, server.url.rstrip("/")),
                ("fragmenstein", "fragmenstein-place-string", server.url.rstrip("/")),
                ("rdkit", "rdkit-conformers", server.url.rstrip("/")),
            }
        assert "Must be between 1 and 100" in run_dialog(member, snapshot_id, 101)
        assert definition_fetches(server) == fetched

        check = runner.invoke(args=["jobs", "check"])
        assert check.exit_code == 0, check.output
        assert f"{COMBINE}: fragmenstein/{COMBINE} 1.0.0 unchanged since" in check.output

        # Squonk2's definition changes: check says what, refresh takes it, no restart
        path = jobs / "fragmenstein.yaml"
        text = path.read_text()
        assert text.count("            maximum: 100\n") == 1
        path.write_text(text.replace("            maximum: 100\n", "            maximum: 50\n"))
        check = runner.invoke(args=["jobs", "check"])
        assert check.exit_code == 1
        assert "variables.options.properties.count.maximum: 100 → 50" in check.output
        assert count_of(member)["maximum"] == 100  # nothing stored by a check
        refresh = runner.invoke(args=["jobs", "refresh"])
        assert refresh.exit_code == 0, refresh.output
        assert f"{COMBINE}: fragmenstein/{COMBINE} 1.0.0 updated:" in refresh.output
        assert "  variables.options.properties.count.maximum: 100 → 50" in refresh.output
        assert "rdkit-conformers: rdkit/rdkit-conformers 1.0.0 unchanged" in refresh.output
        assert count_of(member)["maximum"] == 50
        page = run_dialog(member, snapshot_id, 60)
        assert "Must be between 1 and 50" in page
        created = member.post(
            "/api/job_request/",
            json={
                "snapshot": snapshot_id,
                "job": COMBINE,
                "inputs": {"fragments": list(MAC1_NEIGHBOURS), "protein": MAC1_NEIGHBOURS[0]},
                "options": {"count": 60},
            },
        )
        assert created.status_code == 400 and "count" in created.json["fields"]

        # a definition the override no longer fits is not stored: the cached one stays
        path.write_text(
            path.read_text().replace("          fragIdField:\n", "          fragIdFieldName:\n", 1)
        )
        refresh = runner.invoke(args=["jobs", "refresh"])
        assert refresh.exit_code == 1
        assert f"{COMBINE}: not stored, the override does not fit it" in refresh.output
        assert "x-launcher.fragIdField: " in refresh.output
        assert "has no option 'fragIdField'" in refresh.output
        assert count_of(member)["maximum"] == 50


def test_an_unreachable_squonk_makes_jobs_unavailable_not_errors(
    app, small_targets, login, tmp_path
):
    from tests.support import free_port

    app.config.update(
        SQUONK2_DMAPI_URL=f"http://127.0.0.1:{free_port()}/data-manager-api",
        SQUONK2_TOKEN="nobody",
        SQUONK2_RETRY_INTERVALS=[0],
        JOB_DEFINITIONS="squonk2",
    )
    from tests.factories import snapshot as make_snapshot

    snapshot_id = make_snapshot(app, "Mac1")
    member = login("member")
    assert member.get("/api/job_config/").json == []
    page = member.get(f"/snapshots/{snapshot_id}/")
    assert page.status_code == 200
    assert "cannot be launched now" in page.get_data(as_text=True)
    assert "Squonk2 could not give its definition" in page.get_data(as_text=True)
    refused = member.post(
        "/api/job_request/",
        json={"snapshot": snapshot_id, "job": COMBINE, "inputs": {}, "options": {}},
    )
    assert refused.status_code == 400
    with app.app_context():
        assert db.session.scalar(select(db.func.count(JobRequest.id))) == 0
        assert db.session.scalar(select(db.func.count(JobDefinition.id))) == 0


def test_the_reconciler_refreshes_definitions_older_than_the_setting(
    app, small_targets, login, tmp_path
):
    from datetime import timedelta

    from app.models.base import utcnow
    from tests.support import reconcile

    jobs = tmp_path / "definitions"
    shutil.copytree(LOCAL_JOBS, jobs)
    with squonk_server(tmp_path / "squonk", env={"LOCAL_SQUONK_JOBS_DIR": str(jobs)}) as server:
        use_squonk(app, server)
        app.config.update(JOB_DEFINITIONS="squonk2", JOB_DEFINITIONS_REFRESH_SECONDS=3600)
        member = login("member")
        assert count_of(member)["maximum"] == 100
        path = jobs / "fragmenstein.yaml"
        path.write_text(
            path.read_text().replace("            maximum: 100\n", "            maximum: 40\n")
        )
        assert "definitions_refreshed" not in reconcile(app)  # cached 0 s ago: not due
        assert count_of(member)["maximum"] == 100
        with app.app_context():
            for row in db.session.scalars(select(JobDefinition)):
                row.fetched = utcnow() - timedelta(seconds=3601)
            db.session.commit()
        assert reconcile(app).get("definitions_refreshed") == 1
        assert count_of(member)["maximum"] == 40
        with app.app_context():
            ages = [utcnow() - r.fetched for r in db.session.scalars(select(JobDefinition))]
            assert len(ages) == 3 and max(ages) < timedelta(seconds=60)


def test_a_definition_fetched_mid_transaction_does_not_commit_it(
    app, small_targets, squonk, tmp_path
):
    """A status change asks which output to import before its commit; a definition fetched
    then is stored on its own: a rollback still undoes the change."""
    from app.jobs import states
    from app.jobs.definitions import job_schemas
    from tests.factories import job as make_job

    job_id, _ = make_job(app)
    app.config["JOB_DEFINITIONS"] = "squonk2"
    with app.app_context():
        job = db.session.get(JobRequest, job_id)
        before = job.job_status
        assert states.report(job, states.STARTED, "callback") == "applied"
        assert COMBINE in job_schemas()  # fetched and stored now, mid-transaction
        db.session.rollback()
    with app.app_context():
        assert db.session.get(JobRequest, job_id).job_status == before
        assert db.session.scalar(select(db.func.count(JobDefinition.id))) == 3
