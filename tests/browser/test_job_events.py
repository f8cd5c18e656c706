"""In Chromium: the job page of a running Fragmenstein combine shows what the job is doing
(Squonk2's "Merged ..." events) before the job finishes, without a reload, in the words
scientists use ("Running (STARTED)", then "Results ready (UPLOADED)")."""

from __future__ import annotations

from tests.browser.test_job_lifecycle import open_fragmenstein_job
from tests.conftest import screenshot

# Several seeded runs, each a real Fragmenstein merge of the two hits: the first one's
# event comes seconds before the last run ends, which the 2 s poll sees.
RUNS = 4

# One look at the page: is a "Merged" event shown, and what does the status badge say
# at that moment? (Both read from the same DOM, so "before the job finishes" is honest.)
MERGED_SHOWN = """() => {
  const merged = [...document.querySelectorAll('#job-doing .squonk-event')]
    .some(li => li.textContent.includes('Merged'));
  if (!merged) return false;
  const badge = document.querySelector('#job-status > p [data-status]');
  return {status: badge.dataset.status, text: badge.innerText};
}"""


def test_a_running_fragmenstein_job_shows_its_merges_as_they_happen(
    app, small_targets, squonk, live_server, page, worker_process, login
):
    job, _ = open_fragmenstein_job(app, live_server, page, worker_process, login, count=RUNS)
    navigations: list[str] = []
    page.on("framenavigated", lambda frame: navigations.append(frame.url))
    assert "What the job is doing" in page.inner_text("#job-status")

    seen = page.wait_for_function(MERGED_SHOWN, timeout=240000, polling=100).json_value()
    assert seen == {"status": "STARTED", "text": "Running (STARTED)"}, seen
    doing = page.inner_text("#job-doing")
    assert "Merged diamond-x0104_A + diamond-x0128_A (run " in doing, doing
    screenshot(page, "job-events-running")

    page.wait_for_selector("#job-status [data-status='UPLOADED']", timeout=240000)
    assert navigations == []  # no reload: the status panel swapped itself
    assert page.inner_text("#job-status > p [data-status]") == "Results ready (UPLOADED)"
    doing = page.locator("#job-doing").text_content()  # the earlier events folded too
    for run in range(1, RUNS + 1):
        assert f"(run {run})" in doing, doing
    assert "Combining 2 fragments gave" in doing, doing
    history = page.inner_text("#job-status .timeline")
    assert "Squonk2" in history and "the launcher" in history, history
    screenshot(page, "job-events-finished")
