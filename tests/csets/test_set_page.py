"""The set page as chemists use it: readable names for job sets, score descriptions,
sorting and filtering on the server, links to the job, snapshot and target, selections
downloaded as SDF, the Results column of My jobs, and large uploads stored in the
background with a progress page."""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime

from rdkit import Chem
from sqlalchemy import select

from app.extensions import db
from app.models import ComputedSet, JobRequest
from tests.conftest import MAC1_DIR
from tests.csets.conftest import build_sdf, mol_block_of, stored_state
from tests.factories import job as make_job
from tests.support import run_worker

TODAY = datetime.now(UTC).date().isoformat()
ROW = re.compile(r'<tr data-molecule="([^"]+)"')


def shown(text: str) -> list[str]:
    return ROW.findall(text)


def mac1_file(small_targets, count: int = 8, method: str = "test-method") -> bytes:
    codes = small_targets["Mac1"]
    molecules = [
        (f"mol-{n}", mol_block_of(MAC1_DIR, codes[n % len(codes)]), [codes[n % len(codes)]])
        for n in range(count)
    ]
    text = build_sdf(molecules, method=method).decode()
    # one text score that must be escaped, and a boolean written as Python writes it
    text = text.replace("too distant", "False", 1).replace("acceptable", "<b>bold</b>", 1)
    return text.encode()


def job_with_summary(app, summary: str | None) -> int:
    job_id, _ = make_job(app, status="SUCCESS")
    with app.app_context():
        db.session.get(JobRequest, job_id).user_summary = summary
        db.session.commit()
    return job_id


# --- names -----------------------------------------------------------------------------


def test_job_sets_are_named_from_the_summary_or_job_target_and_date(
    app, small_targets, store_set, mac1_sdf
):
    first = job_with_summary(app, "Merges of the adenosine-site hits, round 2!")
    second = job_with_summary(app, "Merges of the adenosine-site hits, round 2!")
    plain = job_with_summary(app, None)
    plain_again = job_with_summary(app, "  ")
    names = [
        store_set("Mac1", mac1_sdf, job_request_id=job_id)
        for job_id in (first, second, plain, plain_again)
    ]
    assert names == [
        "merges-of-the-adenosine-site-hits-round-2",
        "merges-of-the-adenosine-site-hits-round-2-2",
        f"rdkit-conformers-mac1-{TODAY}-1",
        f"rdkit-conformers-mac1-{TODAY}-2",
    ]
    with app.app_context():
        methods = db.session.scalars(select(ComputedSet.method).order_by(ComputedSet.id)).all()
    assert all(len(name) <= 60 for name in names)
    assert methods[0] == "fragmenstein-combine"  # the file's method is kept as it was


def test_uploaded_sets_keep_their_method_date_letter_names(app, small_targets, store_set):
    assert store_set("Mac1", mac1_file(small_targets)) == f"test-method-{TODAY}-A"


# --- the set page -----------------------------------------------------------------------


def test_set_page_shows_descriptions_counts_yes_no_and_escaped_text(
    app, small_targets, store_set, login
):
    name = store_set("Mac1", mac1_file(small_targets, count=1))
    page = login("member").get(f"/computed-sets/{name}/")
    assert page.status_code == 200
    text = page.text
    assert "1 molecule<" in text and "1 molecules" not in text
    # each score's description (its unit) under its column heading
    assert 'data-description="DDG">Gibbs free energy of binding, kcal/mol<' in text
    assert 'data-description="rdkit_MW">Molecular weight, g/mol' in text
    assert 'data-score="outcome">no<' in text and ">False<" not in text
    page = login("member").get(f"/computed-sets/{store_set('Mac1', mac1_file(small_targets, 2))}/")
    assert "2 molecules" in page.text
    assert "&lt;b&gt;bold&lt;/b&gt;" in page.text and "<b>bold</b>" not in page.text


def test_set_page_sorts_filters_and_searches_on_the_server(app, small_targets, store_set, login):
    name = store_set("Mac1", mac1_file(small_targets, count=8))
    member = login("member")
    # DDG is -3.5 + 0.75 n: mol-7 is the largest
    desc = shown(member.get(f"/computed-sets/{name}/?sort=DDG&order=desc").text)
    assert desc == [f"mol-{n}" for n in range(7, -1, -1)]
    by_name = shown(member.get(f"/computed-sets/{name}/?sort=name&order=desc").text)
    assert by_name == sorted(by_name, reverse=True)
    # -2.0 <= DDG <= -0.5: n = 2, 3, 4
    page = member.get(f"/computed-sets/{name}/?min_DDG=-2&max_DDG=-0.5&sort=DDG")
    assert shown(page.text) == ["mol-2", "mol-3", "mol-4"]
    assert "3 molecules of 8 match" in page.text
    # text scores sort after numbers... and the range keeps its values in the form
    assert 'name="min_DDG" value="-2"' in page.text
    page = member.get(f"/computed-sets/{name}/?q=MOL-5")
    assert shown(page.text) == ["mol-5"] and "1 molecule of 8 match" in page.text
    page = member.get(f"/computed-sets/{name}/?min_DDG=lots")
    assert "min_DDG: &#39;lots&#39; is not a number" in page.text and len(shown(page.text)) == 8
    page = member.get(f"/computed-sets/{name}/?min_RMSD=5")
    assert shown(page.text) == [] and "No molecule matches." in page.text


def test_text_scores_sort_after_numbers_and_missing_last(app, small_targets, store_set, login):
    name = store_set("Mac1", mac1_file(small_targets, count=4))
    member = login("member")
    asc = shown(member.get(f"/computed-sets/{name}/?sort=outcome").text)
    # outcome: mol-0 False (text), 1 <b>bold</b>, 2 "too distant", 3 acceptable
    assert asc == ["mol-1", "mol-0", "mol-3", "mol-2"]


def test_set_page_links_job_snapshot_and_target_and_back(app, small_targets, store_set, login):
    job_id = job_with_summary(app, "my merges")
    name = store_set("Mac1", mac1_file(small_targets, count=2), job_request_id=job_id)
    with app.app_context():
        job = db.session.get(JobRequest, job_id)
        job.computed_set_id = db.session.scalar(
            select(ComputedSet.id).where(ComputedSet.name == name)
        )
        job.job_status = "UPLOADED"
        snapshot_id = job.snapshot_id
        db.session.commit()
    member = login("member")
    page = member.get(f"/computed-sets/{name}/").text
    assert f'href="/jobs/{job_id}/" id="job-link">job {job_id}</a>: my merges' in page
    assert f'href="/snapshots/{snapshot_id}/"' in page
    assert 'id="target-link">Mac1</a>' in page
    job_page = member.get(f"/jobs/{job_id}/").text
    assert f'href="/computed-sets/{name}/" id="computed-set-link"' in job_page
    assert "(2 molecules)" in job_page
    mine = member.get("/jobs/").text
    assert "<th>Results</th>" in mine
    assert f'data-set="{name}">{name}</a> <small class="muted">(2 molecules)' in mine


def test_my_jobs_results_column_says_dash_without_a_set(app, small_targets, login):
    make_job(app, status="STARTED")
    mine = login("member").get("/jobs/").text
    assert '<td class="results"><span class="muted">—</span></td>' in mine


def test_download_of_selected_or_filtered_molecules_is_a_valid_set(
    app, small_targets, store_set, login
):
    name = store_set("Mac1", mac1_file(small_targets, count=6))
    member = login("member")
    ids = re.findall(r'name="molecule" value="(\d+)"', member.get(f"/computed-sets/{name}/").text)
    picked = member.get(f"/computed-sets/{name}/download?molecule={ids[1]}&molecule={ids[4]}")
    assert picked.status_code == 200
    assert picked.headers["Content-Disposition"].endswith('-selection.sdf"')
    supplier = Chem.ForwardSDMolSupplier(io.BytesIO(picked.data))
    titles = [m.GetProp("_Name") for m in supplier if m is not None]
    assert titles == ["ver_1.2", "mol-1", "mol-4"]
    filtered = member.get(f"/computed-sets/{name}/download?selection=filter&min_DDG=-1&sort=DDG")
    titles = [
        m.GetProp("_Name")
        for m in Chem.ForwardSDMolSupplier(io.BytesIO(filtered.data))
        if m is not None
    ]
    assert titles == ["ver_1.2", "mol-4", "mol-5"]
    # what was downloaded uploads again as a valid set
    again = member.post(
        "/api/compound-sets/",
        data={"target": "Mac1", "sdf": (io.BytesIO(filtered.data), "again.sdf")},
        content_type="multipart/form-data",
    )
    assert again.status_code == 201, again.json
    assert again.json["molecule_count"] == 2


def test_selection_downloads_go_through_the_access_policy(
    app, small_targets, store_set, login, mpro_sdf
):
    name = store_set("Mpro", mpro_sdf)
    url = f"/computed-sets/{name}/download?selection=filter"
    assert login("outsider").get(url).status_code == 404
    assert login("outsider").get(f"/computed-sets/{name}/download?molecule=1").status_code == 404
    assert login("colleague").get(url).status_code == 200


# --- large uploads in the background ------------------------------------------------------


def test_a_large_upload_is_stored_by_the_background_task(app, small_targets, login):
    app.config["CSET_BACKGROUND_MOLECULES"] = 3
    member = login("member")
    before = stored_state(app)["sets"]
    response = member.post(
        "/computed-sets/upload",
        data={"target": "Mac1", "sdf": (io.BytesIO(mac1_file(small_targets, 6)), "big.sdf")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 302
    progress_url = response.headers["Location"]
    page = member.get(progress_url)
    assert page.status_code == 200
    assert "<progress" in page.text and "Waiting for a worker" in page.text
    assert "big.sdf · 6 molecules" in page.text
    assert stored_state(app)["sets"] == before  # nothing stored before the task ran
    status_url = progress_url.rstrip("/") + "/status"
    poll = member.get(status_url, headers={"HX-Request": "true"})
    assert poll.status_code == 200 and 'hx-trigger="every 1s"' in poll.text

    run_worker(app)

    poll = member.get(status_url, headers={"HX-Request": "true"})
    assert poll.status_code == 286  # final: htmx stops polling
    assert "stored with 6 molecules" in poll.text and "hx-trigger" not in poll.text
    name = re.search(r'href="/computed-sets/([^/"]+)/" id="upload-set-link"', poll.text)[1]
    assert len(shown(member.get(f"/computed-sets/{name}/").text)) == 6
    assert login("colleague").get(progress_url).status_code == 404  # someone else's upload


def test_a_large_bad_upload_shows_its_report_and_stores_nothing(app, small_targets, login):
    app.config["CSET_BACKGROUND_MOLECULES"] = 3
    member = login("member")
    bad = mac1_file(small_targets, 6).replace(b"> <ref_pdb>\n", b"> <ref_pdb>\nnot-a-protein", 1)
    before = stored_state(app)
    response = member.post(
        "/api/compound-sets/",
        data={"target": "Mac1", "sdf": (io.BytesIO(bad), "bad.sdf")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 202, response.json
    assert response.json["status"] == "QUEUED"
    run_worker(app)
    body = member.get(response.json["status_url"]).json
    assert body["status"] == "FAILED" and body["computed_set"] is None
    assert body["problems"] and body["problems"][0]["field"] == "ref_pdb"
    page = member.get(response.json["url"]).text
    assert "The file was rejected" in page and "ref_pdb" in page
    after = stored_state(app)
    assert (after["sets"], after["molecules"]) == (before["sets"], before["molecules"])
    assert not [f for f in after["files"] if f not in before["files"]]
