"""Memberships from ISPyB (MEMBERSHIP_SOURCE=ispyb) against a real MariaDB holding the
ISPyB tables the ``ispyb.sqlalchemy`` models define: visits and proposals grant the private
Mpro (project lb00000-1), taking a visit away is seen within ISPYB_CACHE_SECONDS, an
unreachable ISPyB is a clear 503 that shows nothing private, and bad settings stop start-up.

MariaDB is expected on 127.0.0.1:3306 (root, no password); each run creates its own
database and drops it. Without MariaDB these tests are skipped, except under CI=1.
"""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import update

from app import create_app
from app.accounts import ispyb as ispyb_memberships
from app.extensions import db
from app.models import Project
from app.web import MEMBERSHIPS_UNAVAILABLE
from tests import factories
from tests.ispyb_support import PASSWORD
from tests.support import csrf_token_of, free_port, wait_for

# the MariaDB database and the ``ispyb`` fixture (its people, proposals and visits) are in
# tests/conftest.py and tests/ispyb_support.py, shared with the admin's people pages' tests
PRIVATE_PAGES = ("/targets/Mpro/", "/targets/Mpro/snapshots/", "/api/targets/Mpro/proteins/")


def log_in(app, username: str, password: str = PASSWORD):
    """A test client logged in through the real login form."""
    client = app.test_client()
    page = client.get("/login")
    response = client.post(
        "/login",
        data={"username": username, "password": password, "csrf_token": csrf_token_of(page.text)},
    )
    assert response.status_code == 302, f"login of {username} failed"
    return client


def mpro_state(client) -> str:
    """``seen``: the private Mpro listed on the page and in the API, each of its pages 200;
    ``hidden``: none of that (404s); ``mixed`` otherwise (a cache that expired mid-way)."""
    listed_page = "Mpro" in client.get("/targets/").text
    listed_api = "Mpro" in [t["title"] for t in client.get("/api/targets/").json]
    statuses = {client.get(url).status_code for url in PRIVATE_PAGES}
    if listed_page and listed_api and statuses == {200}:
        return "seen"
    if not listed_page and not listed_api and statuses == {404}:
        return "hidden"
    return f"mixed: {statuses}, listed on the page {listed_page}, in the API {listed_api}"


def sees_mpro(client) -> bool:
    """Does the user see the private Mpro everywhere (True) or nowhere (False)?"""
    state = mpro_state(client)
    assert state in ("seen", "hidden"), state
    return state == "seen"


def test_a_visit_in_ispyb_grants_its_private_target(app, ispyb):
    assert sees_mpro(log_in(app, "visitor"))
    assert not sees_mpro(log_in(app, "stranger"))
    # our own project_members table no longer counts: member has no ISPyB visit
    assert not sees_mpro(log_in(app, "member", "member-password"))
    assert sees_mpro(log_in(app, "admin", "admin-password"))
    assert app.test_client().get("/readyz").json["checks"]["ispyb"] == "ok"


def test_a_proposal_in_ispyb_grants_all_its_visits(app, ispyb):
    proposer = log_in(app, "proposer")
    assert sees_mpro(proposer)  # lb00000-1, though proposer is on no visit of it
    with app.app_context():
        assert ispyb_memberships.user_project_names(factories.user_of("proposer")) == ["lb00000"]
        assert ispyb_memberships.user_project_names(factories.user_of("visitor")) == ["lb00000-1"]
        assert ispyb_memberships.user_project_names(factories.user_of("member")) == []


@pytest.mark.parametrize(
    "title,visitor_sees,proposer_sees",
    [
        ("lb00000-1", True, True),  # the visit: its members and the proposal's
        ("lb00000-2", False, True),  # another visit of the proposal
        ("lb00000", False, True),  # a project named after the proposal itself
        ("lb000001-1", False, False),  # a visit of another proposal sharing the prefix
        ("LB00000-1", False, False),  # names are compared exactly
    ],
)
def test_which_project_titles_match(app, ispyb, title, visitor_sees, proposer_sees):
    with app.app_context():
        db.session.execute(update(Project).where(Project.title == "lb00000-1").values(title=title))
        db.session.commit()
    assert sees_mpro(log_in(app, "visitor")) is visitor_sees
    assert sees_mpro(log_in(app, "proposer")) is proposer_sees


def test_a_visit_taken_away_in_ispyb_ends_access_within_the_cache_time(app, ispyb):
    app.config["ISPYB_CACHE_SECONDS"] = 1
    visitor = log_in(app, "visitor")
    assert sees_mpro(visitor)
    ispyb.off_visit("visitor", "lb00000-1")
    wait_for(  # a request may land just before the expiry and its neighbour just after
        lambda: mpro_state(visitor) == "hidden",
        timeout=app.config["ISPYB_CACHE_SECONDS"] + 5,
        interval=0.2,
        what="the visitor to lose Mpro once the cached ISPyB visits expired",
    )
    assert visitor.get("/api/targets/Mpro/proteins/").json == {"error": "Not found"}
    assert not sees_mpro(visitor)  # and it stays so


def test_an_unreachable_ispyb_is_a_clear_503_that_shows_nothing_private(app, ispyb, caplog):
    # visitor's visits are not cached yet; ISPyB now "lives" where nothing listens
    secret = f"pw-{uuid.uuid4().hex}"
    app.config["ISPYB_URL"] = f"mysql+pymysql://launcher:{secret}@127.0.0.1:{free_port()}/ispyb"
    visitor = log_in(app, "visitor")
    answers = []
    for url in ("/targets/", *PRIVATE_PAGES, "/api/targets/"):
        response = visitor.get(url)
        answers.append(response.text)
        assert response.status_code == 503, url
        if url.startswith("/api/"):
            assert response.json == {"error": MEMBERSHIPS_UNAVAILABLE}
        else:
            assert "ISPyB, where they come from, cannot be reached right now" in response.text
            assert "Please try again later" in response.text
    ready = app.test_client().get("/readyz")
    answers.append(ready.text)
    assert ready.status_code == 503
    assert ready.json["status"] == "not ready"
    assert ready.json["checks"]["ispyb"].startswith("unavailable")
    assert not any("Mpro" in answer for answer in answers)
    assert "cannot be reached" in caplog.text and secret not in caplog.text
    # an admin sees everything whatever ISPyB says
    assert log_in(app, "admin", "admin-password").get("/targets/Mpro/").status_code == 200


BASE = {"SECRET_KEY": "k", "SQLALCHEMY_DATABASE_URI": "sqlite://"}


@pytest.mark.parametrize(
    "environ,config,message",
    [
        ({"MEMBERSHIP_SOURCE": "ldap"}, {}, "MEMBERSHIP_SOURCE must be one of local, ispyb"),
        ({}, {"MEMBERSHIP_SOURCE": "keycloak"}, "MEMBERSHIP_SOURCE must be one of"),
        ({"MEMBERSHIP_SOURCE": "ispyb"}, {}, "ISPYB_URL must be set when MEMBERSHIP_SOURCE"),
        (
            {"MEMBERSHIP_SOURCE": "ispyb", "ISPYB_URL": "postgresql://u:hunter2@db/ispyb"},
            {},
            "ISPYB_URL must be a MySQL/MariaDB URL",
        ),
        (
            {"MEMBERSHIP_SOURCE": "ispyb", "ISPYB_URL": "not a url: hunter2"},
            {},
            "ISPYB_URL must be a MySQL/MariaDB URL",
        ),
        ({"ISPYB_CACHE_SECONDS": "soon"}, {}, "ISPYB_CACHE_SECONDS must be a whole number"),
        ({}, {"ISPYB_CACHE_SECONDS": -1}, "ISPYB_CACHE_SECONDS must be a whole number"),
    ],
    ids=[
        "unknown source (environment)",
        "unknown source (config)",
        "ispyb without ISPYB_URL",
        "ISPYB_URL not MySQL",
        "ISPYB_URL not a URL",
        "cache seconds not a number",
        "cache seconds negative",
    ],
)
def test_bad_membership_settings_stop_start_up(monkeypatch, environ, config, message):
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(RuntimeError, match=message) as error:
        create_app({**BASE, **config})
    assert "hunter2" not in str(error.value)


def test_good_membership_settings_start(monkeypatch):
    monkeypatch.setenv("MEMBERSHIP_SOURCE", " ISPyB ")
    monkeypatch.setenv("ISPYB_URL", "mysql+pymysql://u:p@ispyb-host/ispyb")
    monkeypatch.setenv("ISPYB_CACHE_SECONDS", "30")
    app = create_app(BASE)
    assert app.config["MEMBERSHIP_SOURCE"] == "ispyb"
    assert app.config["ISPYB_CACHE_SECONDS"] == 30
    monkeypatch.delenv("ISPYB_URL")  # only the ispyb source needs one
    assert create_app({**BASE, "MEMBERSHIP_SOURCE": "local"}).config["MEMBERSHIP_SOURCE"] == "local"


def test_memberships_stay_local_by_default(app, small_targets, login):
    assert app.config["MEMBERSHIP_SOURCE"] == "local"
    assert login("member").get("/targets/Mpro/").status_code == 200
    assert login("outsider").get("/targets/Mpro/").status_code == 404
    assert app.test_client().get("/readyz").json["checks"]["ispyb"] == "not configured"
