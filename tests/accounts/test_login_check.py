"""Logging in inside the Fragalysis frame goes through a check step: a browser that did not
keep the session cookie is told so plainly, never shown the login form again as if nothing
had happened."""

from __future__ import annotations

import re

from app.accounts.views import NOT_KEPT
from tests.conftest import PASSWORDS
from tests.support import csrf_token_of

SCRIPT = re.compile(r"<script\b([^>]*)>(.*?)</script>", re.S)


def log_in_embedded(client, next_url: str = "/targets/"):
    form = client.get(f"/login?embed=1&next={next_url}")
    return client.post(
        f"/login?next={next_url}&embed=1",
        data={
            "username": "member",
            "password": PASSWORDS["member"],
            "csrf_token": csrf_token_of(form.text),
        },
    )


def assert_not_kept_page(answer, tab_url: str) -> None:
    """The page says what happened and offers a tab and, by script, storage access."""
    text = answer.text
    assert NOT_KEPT in text
    assert 'name="password"' not in text  # not the login form
    tab = re.search(r'<a[^>]*id="open-in-new-tab"[^>]*>', text).group(0)
    assert f'href="{tab_url}"' in tab and 'target="_blank"' in tab and "embed" not in tab
    button = re.search(r'<button[^>]*id="request-storage-access"[^>]*>', text).group(0)
    assert " hidden" in button  # shown by the script where document.requestStorageAccess is
    retry = re.search(r'data-retry-url="([^"]+)"', button).group(1).replace("&amp;", "&")
    assert retry.startswith("/login?") and "storage_access=granted" in retry
    assert "embed=1" in retry
    # no inline script (the CSP may forbid it): only files of our own
    scripts = SCRIPT.findall(text)
    assert scripts and all('src="/static/' in attrs and not body.strip() for attrs, body in scripts)
    assert any("storage_access.js" in attrs for attrs, _ in scripts)


def test_the_check_step_passes_a_kept_session_on_to_next(app, users):
    client = app.test_client()
    posted = log_in_embedded(client, "/jobs/")
    assert posted.headers["Location"] == "/login/check?next=/jobs/&embed=1"
    checked = client.get(posted.headers["Location"])
    assert checked.status_code == 302 and checked.headers["Location"] == "/jobs/?embed=1"


def test_a_session_that_did_not_come_back_is_said_so(app, users):
    posted = log_in_embedded(app.test_client(), "/jobs/")
    # the browser dropped the cookie: the check step is asked without it
    other = app.test_client()
    answer = other.get(posted.headers["Location"])
    assert answer.status_code == 200
    assert_not_kept_page(answer, "/jobs/")
    assert "user name and password were right" in answer.text
    assert 'class="embed"' in answer.text and 'class="site"' not in answer.text


def test_a_form_that_came_back_without_any_cookie_is_said_so(app, users):
    """The browser refused even the login form's cookie: the CSRF token cannot be checked."""
    form = app.test_client().get("/login?embed=1&next=/jobs/")
    cookieless = app.test_client(use_cookies=False)
    answer = cookieless.post(
        "/login?next=/jobs/&embed=1",
        data={
            "username": "member",
            "password": PASSWORDS["member"],
            "csrf_token": csrf_token_of(form.text),
        },
    )
    assert answer.status_code == 400
    assert_not_kept_page(answer, "/jobs/")
    assert "Your session expired" not in answer.text


def test_outside_the_frame_an_expired_form_still_says_the_session_expired(app, users):
    form = app.test_client().get("/login")
    answer = app.test_client(use_cookies=False).post(
        "/login",
        data={"username": "member", "password": "x", "csrf_token": csrf_token_of(form.text)},
    )
    assert answer.status_code == 400 and "Your session expired" in answer.text
    assert NOT_KEPT not in answer.text


def test_the_check_step_outside_the_frame_sends_to_the_login_page(app, users):
    answer = app.test_client().get("/login/check?next=/jobs/")
    assert answer.status_code == 302 and answer.headers["Location"].startswith("/login?next=")


def test_the_check_step_is_no_open_redirect(app, users):
    client = app.test_client()
    log_in_embedded(client)
    answer = client.get("/login/check?next=https://evil.example/&embed=1")
    assert answer.headers["Location"] == "/targets/?embed=1"
    page = app.test_client().get("/login/check?next=//evil.example/&embed=1")
    assert_not_kept_page(page, "/targets/")


def test_after_storage_access_the_login_form_says_to_log_in_once_more(app, users):
    page = app.test_client().get("/login?next=/jobs/&storage_access=granted&embed=1")
    assert page.status_code == 200 and 'id="storage-access-granted"' in page.text
    assert 'name="password"' in page.text
    assert 'id="storage-access-granted"' not in app.test_client().get("/login").text
