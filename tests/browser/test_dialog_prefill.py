"""In Chromium: the launch dialog starts right on a two-protein snapshot (both fragments
ticked, a protein chosen) so Run launches without a correction; a second Run of the same
job, once the first has ended, is refused with a "Run it again anyway" button that works."""

from __future__ import annotations

from tests.browser.test_snapshot_flow import log_in
from tests.conftest import screenshot
from tests.support import FRAGMENSTEIN, MAC1_NEIGHBOURS

DIALOG = "#launch-dialog"
LAUNCHED = ("PENDING", "STARTED", "SUCCESS", "UPLOADING", "UPLOADED")


def open_combine(page, base: str, snapshot_id: int) -> None:
    page.goto(f"{base}/snapshots/{snapshot_id}/")
    page.click("#launcher a:has-text('Fragmenstein combine')")
    page.wait_for_selector(f"{DIALOG} form#launch-form")


def job_id_of(url: str) -> int:
    return int(url.rstrip("/").split("/")[-1])


def test_the_dialog_starts_right_and_run_launches(
    app, transferred, squonk, live_server, page, worker_process
):
    app.config["EXTERNAL_URL"] = live_server  # where local_squonk calls back
    worker_process()
    log_in(page, live_server, "member")
    open_combine(page, live_server, transferred)

    for code in MAC1_NEIGHBOURS:
        assert page.is_checked(f"{DIALOG} input[name='inputs-fragments'][value='{code}']")
    assert page.input_value("select[name='inputs-protein']") == MAC1_NEIGHBOURS[0]
    assert page.is_visible("#notify-by-email")
    assert page.locator(f"{DIALOG} .field-error").count() == 0
    shot = screenshot(page, "dialog-prefilled")
    assert shot.stat().st_size > 0

    page.click("#run-job")  # no correction
    page.wait_for_url("**/jobs/*/")
    first = job_id_of(page.url)
    page.wait_for_selector("#job-status [data-status]:not([data-status='OPEN'])", timeout=60000)
    assert page.get_attribute("#job-status [data-status]", "data-status") in LAUNCHED
    screenshot(page, "dialog-prefilled-launched")

    # End it (cancel, unless it finished first), then ask for the same job again
    if page.locator("#cancel-job").count():
        page.once("dialog", lambda confirm: confirm.accept())
        page.click("#cancel-job")
    page.wait_for_selector(
        "#job-status [data-status='REVOKED'], #job-status [data-status='SUCCESS'], "
        "#job-status [data-status='UPLOADED'], #job-status [data-status='FAILURE']",
        timeout=120000,
    )
    open_combine(page, live_server, transferred)
    page.click("#run-job")
    refusal = page.wait_for_selector(f"{DIALOG} .refusal.duplicate")
    text = refusal.inner_text()
    assert "run it again" in text
    assert page.is_visible("#run-again") and page.inner_text("#run-again") == "Run it again anyway"
    screenshot(page, "dialog-duplicate")

    page.click("#run-again")
    page.wait_for_url(lambda url: "/jobs/" in url and job_id_of(url) != first)
    page.wait_for_selector("#job-status [data-status]:not([data-status='OPEN'])", timeout=60000)
    assert page.get_attribute("#job-status [data-status]", "data-status") in LAUNCHED


def test_the_picker_marks_proteins_without_the_file(app, small_targets, live_server, page):
    from tests.factories import snapshot

    snapshot_id = snapshot(app, "Mpro")  # its proteins have no apo-desolv PDB
    log_in(page, live_server, "member")
    open_combine(page, live_server, snapshot_id)
    for code in small_targets["Mpro"]:
        option = page.locator(f"select[name='inputs-protein'] option[value='{code}']")
        assert option.is_disabled()
        assert option.inner_text() == f"{code} — no apo-desolv PDB"
        assert page.is_checked(f"{DIALOG} input[name='inputs-fragments'][value='{code}']")
    assert page.input_value("select[name='inputs-protein']") == ""
    screenshot(page, "dialog-mpro-marked")

    # "Start from" a preset (the shipped ones: the definition's tests, the override's own)
    with app.test_request_context():
        from app.jobs.service import job_schemas

        presets = [p for p in job_schemas()[FRAGMENSTEIN].presets if "count" in p.options]
    assert presets, "Fragmenstein combine has no preset setting count"
    preset = presets[-1]
    page.click(f"#presets a[data-preset='{preset.name}']")
    page.wait_for_selector(f"#presets a[data-preset='{preset.name}'].current")
    assert page.input_value("input[name='options-count']") == str(preset.options["count"])
    assert page.is_disabled(f"select[name='inputs-protein'] option[value='{code}']")
    screenshot(page, "dialog-preset")
