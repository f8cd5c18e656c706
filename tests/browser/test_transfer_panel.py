"""In Chromium: send a 20-protein snapshot's files to Squonk2 and watch the panel."""

from __future__ import annotations

import time

from tests.browser.test_snapshot_flow import log_in
from tests.conftest import screenshot
from tests.factories import snapshot as make_snapshot
from tests.support import load_mac1


def test_panel_shows_progress_and_stops_polling_at_success(
    app, users, squonk, live_server, page, tmp_path, worker_process
):
    load_mac1(app, tmp_path, 20)
    snapshot_id = make_snapshot(app, "Mac1")
    polls: list[str] = []
    page.on("request", lambda r: polls.append(r.url) if "/panel" in r.url else None)

    log_in(page, live_server, "member")
    page.goto(f"{live_server}/snapshots/{snapshot_id}/")
    assert "not in Squonk2 yet" in page.inner_text("#transfer-panel")
    page.click("#send-files")
    # the swapped-in panel is polling and shows a progress bar before any worker runs
    page.wait_for_selector("#transfer-panel[hx-trigger='every 2s']")
    assert page.inner_text("#transfer-panel [data-status]") == "PENDING"
    assert page.locator("#transfer-panel progress").count() == 1
    screenshot(page, "transfer-pending")

    worker_process()
    page.wait_for_selector("#transfer-panel [data-status='SUCCESS']", timeout=60000)
    text = page.inner_text("#transfer-panel")
    assert "100%" in text and "60 uploaded" in text
    assert page.get_attribute("#transfer-panel progress", "value") == "100.0"
    assert page.locator("#transfer-panel[hx-trigger]").count() == 0
    screenshot(page, "transfer-success")

    polled = len(polls)
    assert polled >= 1
    # What is tested is that nothing happens: time has to pass (two and a half polling
    # periods of the page's own clock) with no poll. Not a wait for a condition.
    time.sleep(5)
    assert len(polls) == polled
