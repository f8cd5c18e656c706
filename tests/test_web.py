"""Shared web behaviour (app/web.py, app/config.py): who may frame the pages, embed mode
(the flag follows the request: every URL built for an ``embed=1`` request carries it, and
nothing is kept in the session), and the cookie settings cross-site embedding needs."""

from __future__ import annotations

import re

import pytest

from tests.conftest import PASSWORDS
from tests.support import csrf_token_of

FRAGALYSIS = "https://fragalysis.diamond.ac.uk"
CROSS_SITE = pytest.mark.parametrize("app_config", [{"FRAME_ANCESTORS": FRAGALYSIS}])


def cookie_attributes(header: str) -> tuple[str, dict[str, str]]:
    """A Set-Cookie header's cookie name and its attributes (lower-case names)."""
    name, *attributes = [part.strip() for part in header.split(";")]
    found = {}
    for attribute in attributes:
        key, _, value = attribute.partition("=")
        found[key.lower()] = value
    return name.split("=", 1)[0], found


def set_cookies(response) -> dict[str, dict[str, str]]:
    return dict(cookie_attributes(h) for h in response.headers.getlist("Set-Cookie"))


def urls_in(html: str) -> list[str]:
    """Every href, action, hx-get/hx-post and src of a page, unescaped."""
    found = re.findall(r'(?:href|action|hx-get|hx-post|src)="([^"]*)"', html)
    return [url.replace("&amp;", "&") for url in found]


def test_frame_ancestors_and_the_embed_flag_follows_the_request(app, login, small_targets):
    session = login("member")
    page = session.get("/targets/Mac1/")
    assert page.headers["Content-Security-Policy"] == "frame-ancestors 'self'"
    assert 'class="site"' in page.text and 'id="embed-nav"' not in page.text
    embedded = session.get("/targets/Mac1/?embed=1")
    assert 'class="site"' not in embedded.text and 'class="embed"' in embedded.text
    assert 'id="embed-nav"' in embedded.text
    # nothing is remembered: the next request without the flag has the full chrome again
    again = session.get("/targets/")
    assert 'class="site"' in again.text and 'class="embed"' not in again.text
    with session.client.session_transaction() as stored:
        assert "embed" not in stored


def test_every_url_of_an_embedded_page_carries_the_flag(app, login, small_targets):
    session = login("member")
    page = session.get("/targets/Mac1/?embed=1")
    urls = urls_in(page.text)
    pages = [u for u in urls if u.startswith("/") and not u.startswith("/static/")]
    assert len(pages) > 10
    # GET forms carry the flag as a field (their action's query is replaced on submission)
    bare = {u for u in pages if "embed=1" not in u}
    assert bare == {"/targets/Mac1/"}, bare  # the protein-search form's action
    assert '<form id="protein-search" method="get" action="/targets/Mac1/">' in page.text
    assert '<input type="hidden" name="embed" value="1">' in page.text
    assert all("embed" not in u for u in urls if u.startswith("/static/"))
    # the compact bar: My jobs, Computed sets, the user, and Log out (POST with CSRF)
    nav = re.search(r'<nav class="embed-nav".*?</nav>', page.text, re.S).group(0)
    for link in ("/targets/?embed=1", "/jobs/?embed=1", "/computed-sets/?embed=1"):
        assert f'href="{link}"' in nav
    assert 'action="/logout?embed=1"' in nav and 'name="csrf_token"' in nav
    assert "member" in nav and "Log out" in nav
    # the same page without the flag: no URL carries it
    plain = session.get("/targets/Mac1/")
    assert not [u for u in urls_in(plain.text) if "embed" in u]
    assert 'name="embed"' not in plain.text


def test_redirects_and_htmx_answers_stay_in_embed_mode(app, login, small_targets):
    anonymous = login(None)
    answer = anonymous.get("/targets/Mac1/?embed=1")
    assert answer.status_code == 302
    assert answer.headers["Location"] == "/login?next=/targets/Mac1/?embed%3D1&embed=1"
    # an htmx request from an embedded page, to a URL the browser built without the flag
    htmx = anonymous.get(
        "/jobs/",
        headers={"HX-Request": "true", "HX-Current-URL": "http://localhost/jobs/?embed=1"},
    )
    assert htmx.status_code == 401 and htmx.headers["HX-Redirect"].endswith("&embed=1")

    member = login("member")
    created = member.post(
        "/targets/Mac1/snapshots/?embed=1",
        data={"proteins": small_targets["Mac1"][:2], "title": "in the frame"},
    )
    assert created.status_code == 302 and created.headers["Location"].endswith("/?embed=1")
    assert 'id="embed-nav"' in member.get(created.headers["Location"]).text
    # a redirect to a path that came from elsewhere (next) gets the flag too
    back = member.get("/login?next=/jobs/&embed=1")
    assert back.headers["Location"] == "/jobs/?embed=1"
    # ...but never one to another site
    assert member.get("/login?next=https://evil.example/&embed=1").headers["Location"] == (
        "/targets/?embed=1"
    )


def test_the_login_round_trip_keeps_the_flag(app, users, small_targets):
    client = app.test_client()
    form = client.get("/login?embed=1&next=/targets/Mac1/")
    assert 'action="/login?next=/targets/Mac1/&amp;embed=1"' in form.text
    assert 'class="embed"' in form.text
    posted = client.post(
        "/login?next=/targets/Mac1/&embed=1",
        data={
            "username": "member",
            "password": PASSWORDS["member"],
            "csrf_token": csrf_token_of(form.text),
        },
    )
    assert posted.status_code == 302
    assert posted.headers["Location"] == "/login/check?next=/targets/Mac1/&embed=1"
    checked = client.get(posted.headers["Location"])
    assert checked.status_code == 302 and checked.headers["Location"] == "/targets/Mac1/?embed=1"
    page = client.get(checked.headers["Location"])
    assert 'id="embed-nav"' in page.text and "Mac1" in page.text
    # the same browser in a tab of its own: the full chrome
    assert 'class="site"' in client.get("/targets/").text


def test_cross_site_embedding_configuration(monkeypatch):
    from app.config import resolve

    given = {"SQLALCHEMY_DATABASE_URI": "sqlite://", "SECRET_KEY": "x"}
    monkeypatch.setenv("FRAME_ANCESTORS", FRAGALYSIS)
    config = resolve(given)
    assert config["SESSION_COOKIE_SAMESITE"] == "None" and config["SESSION_COOKIE_SECURE"]
    assert config["SESSION_COOKIE_PARTITIONED"] is True
    assert config["REMEMBER_COOKIE_SAMESITE"] == "None" and config["REMEMBER_COOKIE_SECURE"]
    monkeypatch.delenv("FRAME_ANCESTORS")
    same_site = resolve(given)
    assert same_site["SESSION_COOKIE_SAMESITE"] == "Lax"
    assert same_site["SESSION_COOKIE_PARTITIONED"] is False
    # a deployment may still decide otherwise
    assert (
        resolve({**given, "FRAME_ANCESTORS": FRAGALYSIS, "SESSION_COOKIE_PARTITIONED": False})[
            "SESSION_COOKIE_PARTITIONED"
        ]
        is False
    )


@CROSS_SITE
def test_cross_site_session_cookie_is_partitioned_secure_and_samesite_none(app, users):
    client = app.test_client()
    form = client.get("/login?embed=1")
    assert form.headers["Content-Security-Policy"] == f"frame-ancestors {FRAGALYSIS}"
    cookie = set_cookies(form)["session"]
    assert {"partitioned", "secure", "httponly"} <= cookie.keys()
    assert cookie["samesite"] == "None"
    logged_in = client.post(
        "/login?embed=1",
        data={
            "username": "member",
            "password": PASSWORDS["member"],
            "csrf_token": csrf_token_of(form.text),
        },
    )
    header = next(h for h in logged_in.headers.getlist("Set-Cookie") if h.startswith("session="))
    assert "; Secure" in header and "; Partitioned" in header and "; SameSite=None" in header


def test_same_site_session_cookie_is_lax_and_not_partitioned(app, users):
    form = app.test_client().get("/login")
    cookie = set_cookies(form)["session"]
    assert cookie["samesite"] == "Lax"
    assert "partitioned" not in cookie and "secure" not in cookie


@CROSS_SITE
def test_cross_site_remember_cookie_is_partitioned_too(app, users):
    """Flask-Login 0.6 has no setting for it: app.web partitions it (and any other cookie)."""
    from flask_login import login_user, logout_user

    from app.extensions import db
    from app.models import User

    with app.test_request_context("/login?embed=1", method="POST"):
        login_user(db.session.query(User).filter_by(username="member").one(), remember=True)
        response = app.process_response(app.make_response("logged in"))
    cookies = set_cookies(response)
    assert {"remember_token", "session"} <= cookies.keys()
    for cookie in cookies.values():
        assert {"partitioned", "secure"} <= cookie.keys() and cookie["samesite"] == "None"

    # its removal (log-out with the cookie) must name the partitioned cookie, or it stays
    with app.test_request_context("/logout", headers={"Cookie": "remember_token=x"}):
        logout_user()
        response = app.process_response(app.make_response("logged out"))
    removal = set_cookies(response)["remember_token"]
    assert {"partitioned", "secure"} <= removal.keys() and removal["expires"]


def test_same_site_remember_cookie_is_lax_and_not_partitioned(app, users):
    from flask_login import login_user

    from app.extensions import db
    from app.models import User

    with app.test_request_context("/login", method="POST"):
        login_user(db.session.query(User).filter_by(username="member").one(), remember=True)
        response = app.process_response(app.make_response("logged in"))
    remember = set_cookies(response)["remember_token"]
    assert remember["samesite"] == "Lax" and "partitioned" not in remember
