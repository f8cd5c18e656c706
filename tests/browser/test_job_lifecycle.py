"""In Chromium: Fragmenstein on two Mac1 hits, followed live on the job page to its
computed set: PENDING -> STARTED -> SUCCESS -> UPLOADING -> UPLOADED without a reload."""

from __future__ import annotations

import io

from rdkit import Chem

from tests.browser.test_snapshot_flow import log_in
from tests.conftest import screenshot
from tests.factories import snapshot as make_snapshot
from tests.support import MAC1_NEIGHBOURS, fragmenstein_body


def open_fragmenstein_job(app, live_server, page, worker_process, login, **options):
    """The member's Fragmenstein combine on the two Mac1 neighbours, launched (files sent,
    a real worker, local_squonk calling back to ``live_server``) with its job page open in
    ``page``; returns (the job as the API gave it, the member's Session)."""
    app.config["EXTERNAL_URL"] = live_server  # local_squonk calls back here
    worker_process()
    snapshot_id = make_snapshot(app, "Mac1", list(MAC1_NEIGHBOURS))
    member = login("member")
    member.post("/api/job_file_transfer/", json={"snapshot": snapshot_id})

    log_in(page, live_server, "member")
    page.goto(f"{live_server}/snapshots/{snapshot_id}/")
    page.wait_for_selector("#transfer-panel [data-status='SUCCESS']", timeout=60000)
    job = member.post("/api/job_request/", json=fragmenstein_body(snapshot_id, **options)).json
    page.goto(f"{live_server}/jobs/{job['id']}/")
    return job, member


def test_job_page_follows_fragmenstein_to_its_computed_set(
    app, small_targets, squonk, live_server, page, worker_process, login
):
    job, member = open_fragmenstein_job(app, live_server, page, worker_process, login)
    seen: set[str] = set()
    page.on("response", lambda r: seen.add(r.url) if "/status" in r.url else None)
    navigations: list[str] = []
    page.on("framenavigated", lambda frame: navigations.append(frame.url))

    page.wait_for_selector("#job-status [data-status='UPLOADED']", timeout=240000)
    assert navigations == []  # no reload: the status panel swapped itself
    timeline = page.inner_text("#job-status .timeline")
    for step in ("PENDING", "STARTED", "SUCCESS", "UPLOADING", "UPLOADED"):
        assert page.locator(f"#job-status [data-event='{step}']").count() == 1, timeline
    assert page.locator("#job-status .timeline time").count() >= 5
    screenshot(page, "job-uploaded")

    page.click("#computed-set-link")
    page.wait_for_selector("table.molecules")
    text = page.inner_text("main")
    for code in MAC1_NEIGHBOURS:
        assert code in text
    assert "DDG" in text and "RMSD" in text
    assert page.locator("img[src*='.svg'], svg").count() >= 1
    screenshot(page, "computed-set")

    name = page.url.rstrip("/").split("/")[-1]
    download = member.get(f"/computed-sets/{name}/download")
    assert download.status_code == 200
    records = [m for m in Chem.ForwardSDMolSupplier(io.BytesIO(download.data)) if m is not None]
    api = member.get(f"/api/compound-sets/{name}/").json
    # the header record plus every merged molecule
    assert len(records) - 1 == api["molecule_count"] >= 1
