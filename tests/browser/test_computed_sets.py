"""In Chromium: upload a computed set, browse it (depictions, inspirations, sorting),
see a broken file's report, and delete with the htmx confirmation and without JavaScript."""

from __future__ import annotations

from sqlalchemy import func, select

from app.extensions import db
from app.models import ComputedSet
from tests.browser.test_snapshot_flow import log_in
from tests.conftest import screenshot
from tests.csets.conftest import CORPUS, VALID_MAC1, stored_state


def set_count(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count(ComputedSet.id)))


def test_upload_browse_sort_and_delete_a_set(app, live_server, page, small_targets):
    log_in(page, live_server, "member")
    page.click("header.site >> text=Computed sets")
    page.wait_for_url("**/computed-sets/")
    page.click("text=Upload a computed set")

    # a broken file first: the report table names record, molecule, field and message
    page.select_option("select[name=target]", "Mac1")
    page.set_input_files("input[name=sdf]", str(CORPUS / "unknown_ref_mols.sdf"))
    page.click("#upload-submit")
    page.wait_for_selector("#validation-report table.problems")
    report = page.inner_text("#validation-report")
    assert "The file was rejected" in report and "unknown fragment code 'x9999'" in report
    screenshot(page, "cset-report")
    assert set_count(app) == 0

    page.select_option("select[name=target]", "Mac1")
    page.set_input_files("input[name=sdf]", str(VALID_MAC1))
    page.click("#upload-submit")
    page.wait_for_url("**/computed-sets/fragmenstein-combine-*-A/")
    assert "stored with 8 molecules" in page.inner_text(".flash")
    rows = page.locator("table.molecules tbody tr")
    assert rows.count() == 8
    for n in range(8):  # depictions load lazily, as each row comes into view
        rows.nth(n).scroll_into_view_if_needed()
    page.wait_for_function(
        "Array.from(document.querySelectorAll('td.depiction img'))"
        ".every(i => i.complete && i.naturalWidth > 0)"
    )
    assert rows.nth(0).locator("td.ref-mols a").first.inner_text() == "diamond-x0104_A"
    scores = page.locator("th.score").all_inner_texts()
    assert scores[:3] == ["DDG", "RMSD", "outcome"]  # the file's, then RDKit's figures
    assert "rdkit_QED" in scores
    screenshot(page, "cset-page")

    page.click("th.score >> text=DDG")
    page.wait_for_url("**sort=DDG&order=asc")
    ddg = [float(t) for t in page.locator("td[data-score=DDG]").all_inner_texts()]
    assert ddg == sorted(ddg)
    page.click("th.score >> text=DDG")
    page.wait_for_url("**sort=DDG&order=desc")
    ddg = [float(t) for t in page.locator("td[data-score=DDG]").all_inner_texts()]
    assert ddg == sorted(ddg, reverse=True)

    # an inspiration links to the target page filtered on that hit
    link = rows.nth(0).locator("td.ref-mols a").first
    code = link.inner_text()
    link.click()
    page.wait_for_url(f"**/targets/Mac1/?q={code}")
    assert page.locator("table.proteins tbody tr").count() == 1
    page.go_back()

    # htmx asks for confirmation; dismissing it keeps the set (no request is sent), accepting
    # deletes it: of the two clicks exactly one delete request reaches the server
    deletes: list[str] = []
    page.on("request", lambda r: deletes.append(r.url) if r.url.endswith("/delete") else None)
    answers: list[str] = []

    def answer(dialog, accept: bool) -> None:
        answers.append(dialog.type)
        dialog.accept() if accept else dialog.dismiss()

    page.once("dialog", lambda dialog: answer(dialog, False))
    page.click("a.button.danger")  # returns once the dialog was answered
    assert answers == ["confirm"] and set_count(app) == 1
    page.once("dialog", lambda dialog: answer(dialog, True))
    page.click("a.button.danger")
    page.wait_for_url(f"{live_server}/computed-sets/")
    assert "were deleted" in page.inner_text(".flash")
    assert answers == ["confirm", "confirm"] and len(deletes) == 1, deletes
    assert set_count(app) == 0
    screenshot(page, "cset-deleted")


def test_delete_without_javascript_goes_through_the_confirmation_page(
    app, live_server, browser, small_targets
):
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    try:
        log_in(page, live_server, "member")
        page.goto(f"{live_server}/computed-sets/upload")
        page.select_option("select[name=target]", "Mac1")
        page.set_input_files("input[name=sdf]", str(VALID_MAC1))
        page.click("#upload-submit")
        page.wait_for_url("**/computed-sets/fragmenstein-combine-*-A/")
        page.click("a.button.danger")
        page.wait_for_url("**/delete")
        assert "This cannot be undone" in page.inner_text("main")
        screenshot(page, "cset-confirm")
        page.click("#confirm-delete")
        page.wait_for_url(f"{live_server}/computed-sets/")
        assert stored_state(app)["sets"] == 0 and stored_state(app)["files"] == []
    finally:
        context.close()
