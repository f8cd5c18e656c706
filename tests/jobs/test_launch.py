"""Launching jobs: the checks in order, the JobRequest row, the launch on local_squonk."""

from __future__ import annotations

import re

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


# --- the dialog: what it starts with, what it says once, duplicates, presets, e-mail ----


def launch_url(snapshot_id: int, job: str = FRAGMENSTEIN, **query: str) -> str:
    extra = "".join(f"&{key}={value}" for key, value in query.items())
    return f"/snapshots/{snapshot_id}/launch?job={job}{extra}"


def dialog_post(member, snapshot_id: int, job: str = FRAGMENSTEIN, **fields):
    """Post the dialog as htmx does; ``fields`` are its form fields."""
    page = member.get(launch_url(snapshot_id, job))
    data = {"csrf_token": csrf_token_of(page.text), "email_choice": "1", **fields}
    return member.client.post(
        launch_url(snapshot_id, job), data=data, headers={"HX-Request": "true"}
    )


def combine_fields(**changes) -> dict:
    return {
        "inputs-fragments": list(MAC1_NEIGHBOURS),
        "inputs-protein": MAC1_NEIGHBOURS[0],
        "options-count": "1",
        "options-fragIdField": "_Name",
        **changes,
    }


def ticked(html: str) -> list[str]:
    """The codes whose input checkbox is ticked (a fragments input)."""
    return re.findall(r'<input checked id="inputs-\w+-\d+" [^>]*value="([^"]+)"', html)


def set_user(app, username: str, **values) -> None:
    from tests.factories import user_of

    with app.app_context():
        row = user_of(username)
        for name, value in values.items():
            setattr(row, name, value)
        db.session.commit()


def test_dialog_starts_with_the_snapshots_fragments_and_first_protein(app, small_targets, login):
    snapshot_id = make_snapshot(app, "Mac1", list(MAC1_NEIGHBOURS))
    page = login("member").get(launch_url(snapshot_id))
    assert page.status_code == 200
    assert ticked(page.text) == list(MAC1_NEIGHBOURS)
    assert f'<option selected value="{MAC1_NEIGHBOURS[0]}">' in page.text
    assert "Not launched" not in page.text and "field-error" not in page.text


def test_dialog_ticks_no_fragment_when_the_snapshot_has_too_few(app, small_targets, login):
    snapshot_id = make_snapshot(app, "Mac1", [MAC1_NEIGHBOURS[0]])
    page = login("member").get(launch_url(snapshot_id))
    assert page.status_code == 200
    assert 'type="checkbox" value="diamond-x0104_A"' in page.text
    assert ticked(page.text) == []  # 1 < min 2: none ticked
    assert f'<option selected value="{MAC1_NEIGHBOURS[0]}">' in page.text


def test_picker_marks_and_refuses_proteins_without_the_file(app, small_targets, login):
    from app.models import Protein

    first, second = MAC1_NEIGHBOURS
    with app.app_context():
        protein = db.session.scalar(select(Protein).where(Protein.code == first))
        protein.apo_desolv_file = None
        db.session.commit()
    snapshot_id = make_snapshot(app, "Mac1", [first, second])
    member = login("member")
    page = member.get(launch_url(snapshot_id))
    # the first protein with the file is chosen; the one without it marked, not offered
    assert f'<option selected value="{second}">' in page.text
    assert f'<option disabled value="{first}">{first} — no apo-desolv PDB</option>' in page.text
    # the fragments need mol files only: both are ticked
    assert ticked(page.text) == [first, second]
    chosen = dialog_post(member, snapshot_id, **combine_fields(**{"inputs-protein": first}))
    assert chosen.status_code == 200
    assert f"{first} has no apo-desolv PDB" in chosen.text
    assert job_count(app) == 0


def test_picker_on_mpro_offers_no_protein(app, small_targets, login):
    snapshot_id = make_snapshot(app, "Mpro")
    page = login("member").get(launch_url(snapshot_id))
    assert page.status_code == 200
    codes = small_targets["Mpro"]
    for code in codes:
        assert f'<option disabled value="{code}">{code} — no apo-desolv PDB</option>' in page.text
    assert '<option selected value="">Choose a protein</option>' in page.text
    assert (
        "No protein of this snapshot has the apo-desolv PDB this job needs "
        f"(missing for {', '.join(codes)}): it cannot run on this snapshot." in page.text
    )
    assert ticked(page.text) == codes  # 3, within 2..20
    rdkit = login("member").get(launch_url(snapshot_id, "rdkit-conformers"))
    assert "no apo-desolv PDB" not in rdkit.text  # needs mol files only
    assert ticked(rdkit.text) == codes


def test_each_error_is_said_once(app, small_targets, login):
    snapshot_id = make_snapshot(app, "Mac1", [MAC1_NEIGHBOURS[0]])
    member = login("member")
    bad = dialog_post(
        member,
        snapshot_id,
        **{"inputs-protein": "", "options-count": "0", "options-fragIdField": "_Name"},
    )
    assert bad.status_code == 200 and job_count(app) == 0
    text = bad.text
    # the count rule is the error, not also the help text above it
    assert text.count("Choose between 2 and 20 fragments") == 1
    assert "Choose between 2 and 20 fragments (0 chosen)" in text
    assert text.count("Must be between 1 and 100") == 1
    assert "How many merged molecules to keep, best first." in text  # the rest of the help
    assert text.count('class="field-error"') == 3
    assert "Not launched: check the 3 fields marked below." in text
    assert "Check the inputs" not in text and "Check the options" not in text


def test_duplicate_says_follow_it_while_the_old_job_runs(app, transferred, login):
    member = login("member")
    first = dialog_post(member, transferred, **combine_fields())
    assert first.status_code == 204
    first_url = first.headers["HX-Redirect"]
    again = dialog_post(member, transferred, **combine_fields())
    assert again.status_code == 200 and job_count(app) == 1
    assert "The same job is already running (queued, not started yet): follow it." in again.text
    assert f'href="{first_url}" class="existing-job">Follow job' in again.text
    assert 'id="run-again"' not in again.text  # never a second copy of a running job
    forced = dialog_post(member, transferred, **combine_fields(run_again="1"))
    assert forced.status_code == 200 and job_count(app) == 1


def test_duplicate_of_a_cancelled_job_offers_run_it_again(app, transferred, login):
    member = login("member")
    job_id = int(
        dialog_post(member, transferred, **combine_fields()).headers["HX-Redirect"].split("/")[2]
    )
    for status, words in (
        ("REVOKED", "The same job was cancelled: run it again."),
        ("FAILURE", "The same job already ran and failed: run it again."),
        ("SUCCESS", "The same job already ran but has no results: run it again."),
    ):
        with app.app_context():
            db.session.get(JobRequest, job_id).job_status = status
            db.session.commit()
        again = dialog_post(member, transferred, **combine_fields())
        assert again.status_code == 200 and job_count(app) == 1
        assert words in again.text and "see its results" not in again.text
        assert 'data-standing="rerun"' in again.text
        assert (
            '<button type="submit" name="run_again" value="1" class="primary" id="run-again">'
            "Run it again anyway</button>"
        ) in again.text
        # after Run, so Enter in a field submits Run, not "run it again"
        assert again.text.index('id="run-job"') < again.text.index('id="run-again"')
    rerun = dialog_post(member, transferred, **combine_fields(run_again="1"))
    assert rerun.status_code == 204 and job_count(app) == 2


def test_duplicate_of_a_job_with_results_links_them(app, transferred, login):
    from pathlib import Path

    from app.models import ComputedSet
    from tests.factories import computed_set

    member = login("member")
    job_id = int(
        dialog_post(member, transferred, **combine_fields()).headers["HX-Redirect"].split("/")[2]
    )
    sdf = Path(__file__).resolve().parents[1] / "data" / "csets" / "valid_mac1.sdf"
    name = computed_set(app, "Mac1", sdf.read_bytes(), "member")
    with app.app_context():
        row = db.session.get(JobRequest, job_id)
        row.job_status = "UPLOADED"
        row.computed_set_id = db.session.scalar(
            select(ComputedSet.id).where(ComputedSet.name == name)
        )
        db.session.commit()
    again = dialog_post(member, transferred, **combine_fields())
    assert again.status_code == 200
    assert (
        "The same job already ran and has results: see its results, or run it again." in again.text
    )
    assert f'href="/computed-sets/{name}/" class="existing-results">See its results' in again.text
    assert 'id="run-again"' in again.text
    api = member.post("/api/job_request/", json=fragmenstein_body(transferred))
    assert api.status_code == 409 and "see its results" in api.json["error"]


def with_presets(app, monkeypatch, presets) -> None:
    """Fragmenstein combine with these presets (whatever the shipped ones are), for the
    dialog and the launch checks of this test."""
    from dataclasses import replace

    import app.jobs.service as service
    import app.jobs.views as views

    shipped = service.job_schemas

    def schemas():
        found = dict(shipped())
        found[FRAGMENSTEIN] = replace(found[FRAGMENSTEIN], presets=presets)
        return found

    monkeypatch.setattr(service, "job_schemas", schemas)
    monkeypatch.setattr(views, "job_schemas", schemas)


def test_presets_start_the_options(app, small_targets, login, monkeypatch):
    from app.launcher import Preset

    snapshot_id = make_snapshot(app, "Mac1", list(MAC1_NEIGHBOURS))
    member = login("member")
    with_presets(app, monkeypatch, [])
    plain = member.get(launch_url(snapshot_id))
    assert "Start from" not in plain.text  # no presets, no choice
    with_presets(
        app,
        monkeypatch,
        [
            Preset("many", "Many merges", {"count": 7, "keepHydrogens": True}, "definition"),
            Preset("few", "A quick look", {"count": 2}, description="Two merges"),
        ],
    )
    page = member.get(launch_url(snapshot_id), headers={"HX-Request": "true"})
    assert page.status_code == 200 and 'aria-label="Start from"' in page.text
    link = f"/snapshots/{snapshot_id}/launch?job={FRAGMENSTEIN}&amp;preset=many"
    assert f'href="{link}" hx-get="{link}" hx-target="#launch-dialog"' in page.text
    assert 'name="options-count" type="number" value="1"' in page.text
    many = member.get(launch_url(snapshot_id, preset="many"), headers={"HX-Request": "true"})
    assert many.status_code == 200
    assert 'name="options-count" type="number" value="7"' in many.text
    assert 'checked id="options-keepHydrogens"' in many.text
    # the chosen preset is the current one
    assert re.search(r'data-preset="many"\s+class="current"\s+aria-current="true"', many.text)
    assert not re.search(r'data-preset="few"\s+class="current"', many.text)
    assert ticked(many.text) == list(MAC1_NEIGHBOURS)  # inputs still pre-filled
    unknown = member.get(launch_url(snapshot_id, preset="nope"), headers={"HX-Request": "true"})
    assert unknown.status_code == 200
    assert (
        "Fragmenstein combine has no preset called &#39;nope&#39;: starting from its defaults."
        in unknown.text
    )
    assert 'name="options-count" type="number" value="1"' in unknown.text
    # a preset starts the options; the launch checks still apply to what is posted
    launched = dialog_post(member, snapshot_id, **combine_fields(**{"options-count": "7"}))
    assert launched.status_code == 200 and "send them first" in launched.text  # no transfer


def test_email_me_when_it_ends(app, transferred, login):
    member = login("member")
    assert (
        'id="notify-by-email" name="notify_by_email" value="1" >'
        in member.get(launch_url(transferred)).text
    )
    set_user(app, "member", notify_by_email=True)
    page = member.get(launch_url(transferred))
    assert 'id="notify-by-email" name="notify_by_email" value="1" checked>' in page.text
    assert "E-mail me when it ends" in page.text
    # unticked in the dialog: no e-mail for this job, whatever the default
    off = dialog_post(member, transferred, **combine_fields())
    assert off.status_code == 204
    on = dialog_post(
        member, transferred, **combine_fields(notify_by_email="1", **{"options-count": "2"})
    )
    assert on.status_code == 204
    # a post without the dialog's box takes the user's default
    data = {"csrf_token": member.csrf, **combine_fields(**{"options-count": "3"})}
    default = member.client.post(launch_url(transferred), data=data, headers={"HX-Request": "true"})
    assert default.status_code == 204
    with app.app_context():
        rows = db.session.scalars(select(JobRequest).order_by(JobRequest.id)).all()
        assert [row.notify_by_email for row in rows] == [False, True, True]
    # the box keeps its state when the dialog comes back with an error
    bad = dialog_post(member, transferred, **combine_fields(**{"options-count": "0"}))
    assert 'name="notify_by_email" value="1" >' in bad.text
