"""In Chromium: log in, filter proteins, select three, create a snapshot, see it."""

from __future__ import annotations

from tests.conftest import PASSWORDS, screenshot


def log_in(page, base: str, username: str) -> None:
    page.goto(f"{base}/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORDS[username])
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/targets/")


def test_select_three_proteins_into_a_snapshot(live_server, page, small_targets):
    log_in(page, live_server, "member")
    page.click("text=Mac1")
    page.wait_for_selector("table.proteins")
    codes = small_targets["Mac1"]
    assert page.locator("input[name=proteins]").count() == len(codes)

    # filter (an HTMX partial swap), pick one, clear the filter, pick two more
    page.fill("input[name=q]", "x0104")
    page.wait_for_function("document.querySelectorAll('input[name=proteins]').length === 1")
    page.check("input[value='diamond-x0104_A']")
    page.fill("input[name=q]", "")
    page.wait_for_function(
        f"document.querySelectorAll('input[name=proteins]').length === {len(codes)}"
    )
    assert page.is_checked("input[value='diamond-x0104_A']")  # kept across the swap
    page.check("input[value='diamond-x0128_A']")
    page.check(f"input[value='{codes[0]}']")
    assert page.inner_text("#selected-count") == "3"
    page.wait_for_function("Array.from(document.images).every(i => i.complete)")
    screenshot(page, "target-page")

    page.fill("input[name=title]", "three Mac1 hits")
    page.click("#create-snapshot")
    page.wait_for_url("**/snapshots/*/")
    assert "three Mac1 hits" in page.inner_text("h1")
    rows = page.locator("table.proteins tbody tr")
    assert rows.count() == 3
    shown = {rows.nth(i).locator("td.code").inner_text() for i in range(3)}
    assert shown == {"diamond-x0104_A", "diamond-x0128_A", codes[0]}
    screenshot(page, "snapshot-page")
