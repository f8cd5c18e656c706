"""In Chromium: the 3D view of a real Fragmenstein job's set on the set page and on the
job page (the protein, the two hits and the merge), a row click showing another molecule,
and the message the page shows when the viewer cannot load or the browser has no WebGL."""

from __future__ import annotations

import json

import pytest

from tests import factories
from tests.browser.test_snapshot_flow import log_in
from tests.conftest import CHROMIUM_ARGS, ROOT, chromium_executable, screenshot
from tests.csets.conftest import VALID_MAC1
from tests.support import (
    MAC1_NEIGHBOURS,
    fragmenstein_body,
    run_worker,
    squonk_phase,
    transferred_snapshot,
    wait_for,
)
from tests.support import reconcile as reconcile_pass

# Software WebGL (SwiftShader through ANGLE): headless Chromium on a machine without a GPU
WEBGL_ARGS = [a for a in CHROMIUM_ARGS if a != "--disable-gpu"] + [
    "--use-angle=swiftshader",
    "--enable-unsafe-swiftshader",
    "--ignore-gpu-blocklist",
]
NGL = ROOT / "static" / "vendor" / "ngl" / "ngl.js"


def launch(playwright, args: list[str]):
    return playwright.chromium.launch(executable_path=chromium_executable(), args=args)


@pytest.fixture
def playwright_session(playwright_driver):
    return playwright_driver


@pytest.fixture
def webgl_page(playwright_session):
    if not NGL.exists():
        pytest.fail(f"{NGL} is missing: `make` installs it (npm ci, then copies it)")
    browser = launch(playwright_session, WEBGL_ARGS)
    context = browser.new_context(viewport={"width": 1366, "height": 900})
    page = context.new_page()
    page.set_default_timeout(30000)
    yield page
    browser.close()


def shown(page) -> dict:
    viewer = page.locator("#viewer")
    return {
        "state": viewer.get_attribute("data-state"),
        "molecule": viewer.get_attribute("data-molecule"),
        "hits": sorted((viewer.get_attribute("data-hits") or "").split(",")),
        "protein": viewer.get_attribute("data-protein"),
        "components": json.loads(viewer.get_attribute("data-components") or "{}"),
    }


def wait_until_showing(page, molecule: str) -> None:
    page.wait_for_function(
        "name => { const v = document.getElementById('viewer');"
        " return v.dataset.state !== 'loading' && v.dataset.molecule === name"
        " || v.dataset.state === 'error' || v.dataset.state === 'unavailable'; }",
        arg=molecule,
    )


def fragmenstein_set(app, squonk, login) -> tuple[int, str]:
    """A real Fragmenstein job on the two neighbouring Mac1 hits, imported as a set:
    ``(job id, set name)``."""
    app.config["RECONCILE_QUIET_SECONDS"] = 0
    snapshot_id, member = transferred_snapshot(app, login)
    job = member.post("/api/job_request/", json=fragmenstein_body(snapshot_id)).json
    run_worker(app)
    instance = member.get(f"/api/job_request/{job['id']}/").json["squonk_instance_id"]
    wait_for(
        lambda: squonk_phase(squonk, instance) in ("COMPLETED", "FAILED"),
        timeout=240,
        what="Fragmenstein to finish",
    )
    reconcile_pass(app)
    run_worker(app)
    found = member.get(f"/api/job_request/{job['id']}/").json
    assert found["job_status"] == "UPLOADED", found["message"]
    return job["id"], found["computed_set"]


def test_the_set_and_job_pages_show_the_merge_with_its_hits_in_the_protein(
    app, small_targets, squonk, login, live_server, webgl_page
):
    page = webgl_page
    job_id, name = fragmenstein_set(app, squonk, login)
    log_in(page, live_server, "member")
    page.goto(f"{live_server}/computed-sets/{name}/")
    rows = page.locator("table.molecules tbody tr")
    first = rows.nth(0).get_attribute("data-molecule")
    wait_until_showing(page, first)
    view = shown(page)
    assert view["state"] == "ready", page.inner_text("#viewer-message")
    assert view["molecule"] == first
    assert view["hits"] == sorted(MAC1_NEIGHBOURS)
    assert view["protein"] == MAC1_NEIGHBOURS[0]  # the protein the job was given
    assert view["components"] == {"protein": 1, "hits": 2, "molecule": 1}
    assert "viewing" in (rows.nth(0).get_attribute("class") or "")
    assert page.locator(".viewer-legend").inner_text().count("\n") == 2  # three entries
    page.wait_for_timeout(500)  # a frame drawn
    page.locator("#viewer").scroll_into_view_if_needed()
    screenshot(page, "computed-set-3d")

    # a click on the row shows the molecule again (its own request)
    rows.nth(0).locator("td.smiles").click()
    wait_until_showing(page, first)
    assert shown(page)["state"] == "ready"

    page.goto(f"{live_server}/jobs/{job_id}/")
    wait_until_showing(page, first)
    view = shown(page)
    assert (view["state"], view["molecule"]) == ("ready", first)
    assert view["components"] == {"protein": 1, "hits": 2, "molecule": 1}
    screenshot(page, "job-3d")


def test_clicking_a_row_shows_that_molecule_and_its_inspirations(
    app, small_targets, live_server, webgl_page
):
    """The corpus' Fragmenstein file (8 merges, each of two other hits) as an uploaded set."""
    page = webgl_page
    name = factories.computed_set(app, "Mac1", VALID_MAC1.read_bytes(), "member")
    log_in(page, live_server, "member")
    page.goto(f"{live_server}/computed-sets/{name}/")
    rows = page.locator("table.molecules tbody tr")
    wait_until_showing(page, rows.nth(0).get_attribute("data-molecule"))
    for index in (3, 6):
        row = rows.nth(index)
        molecule = row.get_attribute("data-molecule")
        hits = sorted(row.locator("td.ref-mols a").all_inner_texts())
        row.locator("td.smiles").click()
        wait_until_showing(page, molecule)
        view = shown(page)
        assert (view["state"], view["molecule"], view["hits"]) == ("ready", molecule, hits)
        assert view["protein"] == row.locator("td.ref-pdb").inner_text()
        assert view["components"] == {"protein": 1, "hits": 2, "molecule": 1}
        assert "viewing" in (row.get_attribute("class") or "")
        assert page.locator("tr.viewing").count() == 1
    # a link in a row still goes where it says
    rows.nth(1).locator("td.ref-mols a").first.click()
    page.wait_for_url("**/targets/Mac1/?q=*")
    page.go_back()
    wait_until_showing(page, rows.nth(0).get_attribute("data-molecule"))
    page.wait_for_timeout(500)
    page.locator("#viewer").scroll_into_view_if_needed()
    screenshot(page, "computed-set-3d-row")


@pytest.mark.parametrize(
    ("args", "blocked", "message"),
    [
        (WEBGL_ARGS, True, "The 3D viewer could not be loaded"),
        (CHROMIUM_ARGS + ["--disable-3d-apis"], False, "cannot draw 3D graphics"),
    ],
    ids=["library-unavailable", "no-webgl"],
)
def test_the_page_works_with_a_message_when_the_viewer_cannot(
    app, small_targets, live_server, playwright_session, args, blocked, message
):
    name = factories.computed_set(app, "Mac1", VALID_MAC1.read_bytes(), "member")
    browser = launch(playwright_session, args)
    try:
        page = browser.new_page()
        if blocked:  # as if the library were missing (not installed, or blocked)
            page.route("**/vendor/ngl/ngl.js", lambda route: route.abort())
        log_in(page, live_server, "member")
        page.goto(f"{live_server}/computed-sets/{name}/")
        page.wait_for_selector("#viewer[data-state='unavailable']")
        assert message in page.inner_text("#viewer-message")
        assert page.locator("#viewer-message").is_visible()
        assert not page.locator("#viewer-stage").is_visible()
        assert page.locator("table.molecules tbody tr").count() == 8  # the page still works
        screenshot(page, f"computed-set-3d-{'blocked' if blocked else 'no-webgl'}")
    finally:
        browser.close()
