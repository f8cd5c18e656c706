"""In Chromium with its default cookie settings: the launcher inside an iframe of another
site, as Fragalysis shows it. A stand-in Fragalysis page is served from
``http://localhost:<port>`` and frames the app on ``http://127.0.0.1:<port>``: two sites,
so the frame's cookies are third-party cookies, which this Chromium blocks unless they
are partitioned (CHIPS).

Secure cookies over plain http: Chromium treats loopback hosts (127.0.0.1, localhost) as
potentially trustworthy, so it keeps ``Secure`` cookies they set over http, exactly as it
keeps them from an https Fragalysis deployment; these tests rely on that, and nothing
else is relaxed for them.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import threading
from html import escape
from urllib.parse import urlencode

import pytest
from playwright.sync_api import expect
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from app.accounts.views import NOT_KEPT
from tests.conftest import CHROMIUM_ARGS, PASSWORDS, screenshot
from tests.support import MAC1_NEIGHBOURS, free_port

FRAME = "launcher"
PARENT_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Fragalysis (stand-in)</title></head>
<body style="margin:0;font-family:sans-serif;background:#20303f">
<h1 style="color:#fff;margin:0;padding:.5rem 1rem;font-size:1.1rem">Fragalysis · {origin}</h1>
<iframe name="{frame}" id="{frame}" src="{src}" title="Job Launcher"
        style="display:block;width:100%;height:820px;border:0;background:#fff"></iframe>
</body></html>"""


class ParentSite:
    """Pages of another site (``http://localhost:<port>``) that frame the URL they are given."""

    def __init__(self):
        self.port = free_port()
        self.origin = f"http://localhost:{self.port}"
        self.server = make_server("127.0.0.1", self.port, self.wsgi, threaded=True)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @Request.application
    def wsgi(self, request: Request) -> Response:
        page = PARENT_PAGE.format(
            origin=self.origin, frame=FRAME, src=escape(request.args.get("src", ""))
        )
        return Response(page, mimetype="text/html")

    def framing(self, url: str) -> str:
        """The URL of a page of this site that frames ``url``."""
        return f"{self.origin}/?{urlencode({'src': url})}"

    def stop(self) -> None:
        self.server.shutdown()


@pytest.fixture
def fragalysis():
    """The site allowed to frame the app (FRAME_ANCESTORS)."""
    site = ParentSite()
    yield site
    site.stop()


@pytest.fixture
def elsewhere():
    """Another site, not in FRAME_ANCESTORS."""
    site = ParentSite()
    yield site
    site.stop()


@pytest.fixture
def app_config(fragalysis):
    """The app as deployed for Fragalysis: framed by another origin (the cross_site case)."""
    return {"FRAME_ANCESTORS": fragalysis.origin}


def browser_executable() -> str:
    """The Chromium the ``browser`` fixture launched."""
    return os.environ.get("CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"


def open_in_frame(page, site: ParentSite, url: str):
    """Open the stand-in Fragalysis page framing ``url``; the frame (which stays the same
    Playwright frame through its navigations)."""
    page.goto(site.framing(url))
    frame = page.frame(name=FRAME)
    assert frame is not None
    return frame


def log_in_in_frame(frame, username: str) -> None:
    frame.fill("input[name=username]", username)
    frame.fill("input[name=password]", PASSWORDS[username])
    frame.click("button[type=submit]")


def app_cookies(page, live_server: str) -> list[dict]:
    host = live_server.split("//", 1)[1].split(":")[0]
    return [c for c in page.context.cookies() if c["domain"] == host]


def grant_storage_access(page, top_level: str, embedded: str) -> None:
    """What a user's "Allow" in Chromium's storage-access prompt does (headless Chromium
    shows no prompt): the permission for ``embedded`` inside ``top_level``, over CDP. The
    session stays attached: Chromium drops the permissions it set when it detaches."""
    cdp = page.context.new_cdp_session(page)
    context_id = cdp.send("Target.getTargetInfo")["targetInfo"]["browserContextId"]
    cdp.send(
        "Browser.setPermission",
        {
            "permission": {"name": "storage-access"},
            "setting": "granted",
            "origin": top_level,
            "embeddedOrigin": embedded,
            "browserContextId": context_id,
        },
    )


def expect_compact_navigation(frame, username: str) -> None:
    nav = frame.locator("#embed-nav")
    expect(nav).to_be_visible()
    for link in ("My jobs", "Computed sets"):
        expect(nav.get_by_role("link", name=link)).to_be_visible()
    expect(nav.get_by_role("button", name="Log out")).to_be_visible()
    expect(nav.locator(".user")).to_have_text(username)
    expect(nav.locator("input[name=csrf_token]")).to_have_count(1)
    # and none of the full site chrome
    expect(frame.locator("header.site")).to_have_count(0)
    expect(frame.locator(".brand")).to_have_count(0)


def test_log_in_and_follow_a_job_inside_the_frame(
    app, small_targets, squonk, live_server, page, worker_process, fragalysis
):
    app.config["EXTERNAL_URL"] = live_server  # where local_squonk calls back
    worker_process()
    navigations: list[str] = []  # every document the frame asked for, redirects included
    page.on(
        "request",
        lambda r: (
            navigations.append(r.url)
            if r.is_navigation_request() and r.frame.name == FRAME
            else None
        ),
    )

    frame = open_in_frame(page, fragalysis, f"{live_server}/login?embed=1")
    expect(frame.locator("input[name=password]")).to_be_visible()
    # this Chromium blocks third-party cookies: the frame has no unpartitioned storage
    assert frame.evaluate("document.hasStorageAccess()") is False
    log_in_in_frame(frame, "member")
    expect(frame.locator("h1")).to_have_text("Targets")
    expect_compact_navigation(frame, "member")
    # the log-in held because its cookie is partitioned under Fragalysis' site
    (session,) = [c for c in app_cookies(page, live_server) if c["name"] == "session"]
    assert session["partitionKey"] == "http://localhost"
    assert session["secure"] and session["sameSite"] == "None"
    screenshot(page, "embed-targets")

    frame.get_by_role("link", name="Mac1").click()
    frame.wait_for_url("**/targets/Mac1/?embed=1")
    for code in MAC1_NEIGHBOURS:
        frame.check(f"input[value='{code}']")
    frame.fill("input[name=title]", "framed pair")
    frame.click("#create-snapshot")
    frame.wait_for_url(re.compile(r"/snapshots/\d+/\?embed=1$"))
    frame.click("#send-files")
    expect(frame.locator("#transfer-panel [data-status]")).to_have_attribute(
        "data-status", "SUCCESS", timeout=60000
    )
    frame.click("#launcher a:has-text('RDKit conformers')")
    expect(frame.locator("#launch-dialog form")).to_be_visible()
    for code in MAC1_NEIGHBOURS:
        frame.check(f"#launch-dialog input[value='{code}']")
    screenshot(page, "embed-launch-dialog")
    frame.click("#run-job")
    frame.wait_for_url(re.compile(r"/jobs/\d+/\?embed=1$"))
    expect(frame.locator("#job-status [data-status]")).to_have_attribute(
        "data-status", "SUCCESS", timeout=120000
    )
    expect(frame.locator("#job-status [data-event='STARTED']")).to_have_count(1)
    expect_compact_navigation(frame, "member")
    screenshot(page, "embed-job-success")

    frame.locator("#embed-nav").get_by_role("link", name="My jobs").click()
    frame.wait_for_url("**/jobs/?embed=1")
    expect(frame.locator("#job-rows [data-status='SUCCESS']")).to_have_count(1)
    expect_compact_navigation(frame, "member")
    # every page the frame asked for was in embed mode, the log-in's redirects included
    assert all("embed=1" in url for url in navigations), navigations
    assert any("/login/check?" in url for url in navigations)
    assert len(navigations) >= 8

    frame.locator("#embed-nav").get_by_role("button", name="Log out").click()
    frame.wait_for_url("**/login?embed=1")
    expect(frame.get_by_text("You are logged out")).to_be_visible()
    expect(frame.locator("header.site")).to_have_count(0)


def test_a_site_not_in_frame_ancestors_cannot_frame_the_app(
    app, users, live_server, page, fragalysis, elsewhere
):
    url = f"{live_server}/login?embed=1"
    with page.expect_event("requestfailed", lambda r: r.url == url) as failed:
        with page.expect_console_message(lambda m: "frame-ancestors" in m.text) as violation:
            frame = open_in_frame(page, elsewhere, url)
    assert "violates the following Content Security Policy directive" in violation.value.text
    assert f'"frame-ancestors {fragalysis.origin}"' in violation.value.text
    assert failed.value.failure == "net::ERR_BLOCKED_BY_RESPONSE"
    # the frame shows Chromium's error page, nothing of the app
    assert frame.url == "chrome-error://chromewebdata/"
    assert frame.locator("form, input[name=password], #embed-nav").count() == 0
    screenshot(page, "embed-refused")


def test_a_tab_without_the_flag_has_the_full_chrome(
    app, small_targets, live_server, page, fragalysis
):
    frame = open_in_frame(page, fragalysis, f"{live_server}/login?embed=1")
    log_in_in_frame(frame, "member")
    expect_compact_navigation(frame, "member")

    # a tab of its own: the frame's log-in lives in Fragalysis' partition, not here
    tab = page.context.new_page()
    tab.goto(f"{live_server}/targets/")
    tab.wait_for_url(f"{live_server}/login?next=/targets/")
    expect(tab.locator("header.site .brand")).to_be_visible()
    tab.fill("input[name=username]", "member")
    tab.fill("input[name=password]", PASSWORDS["member"])
    tab.click("button[type=submit]")
    tab.wait_for_url(f"{live_server}/targets/")
    expect(tab.locator("header.site nav")).to_contain_text("My jobs")
    expect(tab.locator("#embed-nav")).to_have_count(0)
    # embed mode in this tab for one page, then a page without the flag: the full chrome
    tab.goto(f"{live_server}/targets/?embed=1")
    expect(tab.locator("#embed-nav")).to_be_visible()
    tab.goto(f"{live_server}/jobs/")
    expect(tab.locator("header.site .brand")).to_be_visible()
    expect(tab.locator("#embed-nav")).to_have_count(0)
    screenshot(tab, "embed-then-tab-full-chrome")
    # the frame, meanwhile, is still in embed mode
    page.reload()
    expect_compact_navigation(page.frame(name=FRAME), "member")


def test_without_a_partitioned_cookie_the_frame_cannot_log_in_and_says_so(
    app, small_targets, live_server, page, fragalysis
):
    """Why ``Partitioned``: the same cookie without it is refused in this Chromium's frame.
    The page then says so, offers a tab and storage access, and never the bare form."""
    app.config["SESSION_COOKIE_PARTITIONED"] = False
    frame = open_in_frame(page, fragalysis, f"{live_server}/login?embed=1&next=/targets/")
    log_in_in_frame(frame, "member")
    expect(frame.locator("h1")).to_have_text(NOT_KEPT)
    expect(frame.locator("input[name=password]")).to_have_count(0)
    assert app_cookies(page, live_server) == []  # Chromium kept none of the app's cookies
    tab_link = frame.locator("#open-in-new-tab")
    expect(tab_link).to_have_attribute("target", "_blank")
    expect(tab_link).to_have_attribute("href", "/targets/")
    # Chromium has the Storage Access API: the script shows the button
    button = frame.locator("#request-storage-access")
    expect(button).to_be_visible()
    screenshot(page, "embed-not-kept")

    with page.expect_popup() as popup:
        tab_link.click()
    tab = popup.value
    tab.wait_for_url(f"{live_server}/login?next=/targets/")
    expect(tab.locator("header.site .brand")).to_be_visible()
    tab.close()

    # asked without a grant (no earlier visit of the app in a tab of its own): refused
    button.click()
    expect(frame.locator("#storage-access-refused")).to_be_visible()
    expect(frame.locator("h1")).to_have_text(NOT_KEPT)

    # the user allows it: the retry logs in, now with the (unpartitioned) cookie
    grant_storage_access(page, fragalysis.origin, live_server)
    button.click()
    frame.wait_for_url("**storage_access=granted**")
    expect(frame.locator("#storage-access-granted")).to_be_visible()
    assert frame.evaluate("document.hasStorageAccess()") is True
    log_in_in_frame(frame, "member")
    expect(frame.locator("h1")).to_have_text("Targets")
    expect_compact_navigation(frame, "member")
    (session,) = [c for c in app_cookies(page, live_server) if c["name"] == "session"]
    assert "partitionKey" not in session or not session["partitionKey"]
    screenshot(page, "embed-storage-access-granted")


def test_with_third_party_cookies_allowed_the_unpartitioned_cookie_works(
    app, small_targets, live_server, browser, fragalysis, tmp_path
):
    """The control: the failure above is this Chromium's third-party cookie blocking. A
    profile whose setting allows them ("Allow third-party cookies": the preference
    profile.cookie_controls_mode = 0) keeps the same unpartitioned cookie in the frame."""
    app.config["SESSION_COOKIE_PARTITIONED"] = False
    profile = tmp_path / "profile"
    (profile / "Default").mkdir(parents=True)
    preferences = {"profile": {"cookie_controls_mode": 0}}
    (profile / "Default" / "Preferences").write_text(json.dumps(preferences))
    context = browser.browser_type.launch_persistent_context(
        str(profile), executable_path=browser_executable(), args=CHROMIUM_ARGS
    )
    try:
        page = context.new_page()
        page.set_default_timeout(20000)
        frame = open_in_frame(page, fragalysis, f"{live_server}/login?embed=1")
        assert frame.evaluate("document.hasStorageAccess()") is True
        log_in_in_frame(frame, "member")
        expect(frame.locator("h1")).to_have_text("Targets")
        expect_compact_navigation(frame, "member")
        (session,) = [c for c in app_cookies(page, live_server) if c["name"] == "session"]
        assert not session.get("partitionKey")
    finally:
        context.close()


def test_the_check_step_says_so_when_the_log_in_was_not_kept(
    app, users, live_server, page, fragalysis
):
    """The password was right and the log-in done, but the cookie did not come back (here:
    unpartitioned, and no CSRF cookie needed to get that far)."""
    app.config.update(SESSION_COOKIE_PARTITIONED=False, WTF_CSRF_ENABLED=False)
    frame = open_in_frame(page, fragalysis, f"{live_server}/login?embed=1&next=/jobs/")
    log_in_in_frame(frame, "member")
    frame.wait_for_url("**/login/check?next=/jobs/&embed=1")
    expect(frame.locator("h1")).to_have_text(NOT_KEPT)
    expect(frame.get_by_text("user name and password were right")).to_be_visible()
    expect(frame.locator("input[name=password]")).to_have_count(0)
    expect(frame.locator("#open-in-new-tab")).to_have_attribute("href", "/jobs/")
    screenshot(page, "embed-check-step")
