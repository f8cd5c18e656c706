"""In Chromium: snapshot two neighbouring Mac1 hits, send their files, launch Fragmenstein."""

from __future__ import annotations

from squonk2.dm_api import DmApi

from tests.browser.test_snapshot_flow import log_in
from tests.conftest import screenshot
from tests.support import MAC1_NEIGHBOURS


def test_launch_fragmenstein_from_the_dialog(
    app, small_targets, squonk, live_server, page, worker_process
):
    app.config["EXTERNAL_URL"] = live_server  # where local_squonk calls back
    worker_process()
    log_in(page, live_server, "member")
    page.goto(f"{live_server}/targets/Mac1/")
    for code in MAC1_NEIGHBOURS:
        page.check(f"input[value='{code}']")
    page.fill("input[name=title]", "adenosine site pair")
    page.click("#create-snapshot")
    page.wait_for_url("**/snapshots/*/")

    page.click("#send-files")
    page.wait_for_selector("#transfer-panel [data-status='SUCCESS']", timeout=60000)

    page.click("#launcher a:has-text('Fragmenstein combine')")
    page.wait_for_selector("#launch-dialog form")
    assert page.input_value("input[name='options-count']") == "1"
    assert page.input_value("input[name='options-outfile']") == "<job directory>/merged.sdf"
    assert page.is_editable("input[name='options-outfile']") is False
    for code in MAC1_NEIGHBOURS:
        page.check(f"#launch-dialog input[value='{code}']")
    page.select_option("select[name='inputs-protein']", MAC1_NEIGHBOURS[0])
    page.fill("input[name='options-count']", "0")
    page.click("#run-job")
    page.wait_for_selector("#field-options-count .field-error")
    assert "Must be between 1 and 100" in page.inner_text("#field-options-count")
    screenshot(page, "launch-dialog-error")

    page.fill("input[name='options-count']", "2")
    page.click("#run-job")
    page.wait_for_url("**/jobs/*/")
    job_id = int(page.url.rstrip("/").split("/")[-1])
    page.wait_for_selector("#job-status [data-status]:not([data-status='OPEN'])", timeout=60000)
    status = page.get_attribute("#job-status [data-status]", "data-status")
    assert status in ("PENDING", "STARTED", "SUCCESS", "UPLOADING", "UPLOADED")
    screenshot(page, "job-page")

    job = page.request.get(f"{live_server}/api/job_request/{job_id}/").json()
    DmApi.set_api_url(squonk.url, verify_ssl_cert=False)
    instance = DmApi.get_instance(squonk.token, instance_id=job["squonk_instance_id"])
    assert instance.success and instance.msg["name"] == f"fragalysis fragmenstein-combine {job_id}"
