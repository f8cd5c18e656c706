"""Memberships from ISPyB (MEMBERSHIP_SOURCE=ispyb) against a real MariaDB holding the
ISPyB tables the ``ispyb.sqlalchemy`` models define: visits and proposals grant the private
Mpro (project lb00000-1), taking a visit away is seen within ISPYB_CACHE_SECONDS, an
unreachable ISPyB is a clear 503 that shows nothing private, and bad settings stop start-up.

MariaDB is expected on 127.0.0.1:3306 (root, no password); each run creates its own
database and drops it. Without MariaDB these tests are skipped, except under CI=1.
"""

from __future__ import annotations

import os
import uuid

import pytest
from ispyb.sqlalchemy import (
    BLSession,
    Person,
    Proposal,
    ProposalHasPerson,
    SessionHasPerson,
)
from sqlalchemy import create_engine, delete, insert, text, update
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from app import create_app
from app.accounts import ispyb as ispyb_memberships
from app.extensions import db
from app.models import Project
from app.web import MEMBERSHIPS_UNAVAILABLE
from tests import factories
from tests.support import csrf_token_of, free_port, wait_for

MARIADB = "mysql+pymysql://root@127.0.0.1:3306/"
PASSWORD = "ispyb-user-password"
# the ISPyB tables memberships are read from, and those their foreign keys need
MEMBERSHIP_TABLES = (Person, Proposal, BLSession, SessionHasPerson, ProposalHasPerson)
PRIVATE_PAGES = ("/targets/Mpro/", "/targets/Mpro/snapshots/", "/api/targets/Mpro/proteins/")


def tables_needed():
    """The membership tables and every table their foreign keys point to."""
    needed, todo = {}, [model.__table__ for model in MEMBERSHIP_TABLES]
    while todo:
        table = todo.pop()
        if table.name not in needed:
            needed[table.name] = table
            todo.extend(fk.column.table for fk in table.foreign_keys)
    return list(needed.values())


@pytest.fixture(scope="module")
def ispyb_url():
    """A database of this run's own on the local MariaDB, with the ISPyB tables."""
    admin = create_engine(
        MARIADB, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 3}
    )
    try:
        with admin.connect() as conn:
            conn.execute(text("SELECT 1"))
    except OperationalError as exc:
        admin.dispose()
        where = make_url(MARIADB).render_as_string(hide_password=True)
        reason = f"MariaDB is not reachable at {where} (root, no password): {exc.orig}"
        if os.environ.get("CI") == "1":
            pytest.fail(reason)
        pytest.skip(reason)
    name = f"launcher_ispyb_{uuid.uuid4().hex}"
    with admin.connect() as conn:
        conn.execute(text(f"CREATE DATABASE `{name}`"))
    url = make_url(MARIADB).set(database=name)
    engine = create_engine(url)
    try:
        Person.metadata.create_all(engine, tables=tables_needed())
        engine.dispose()
        yield url.render_as_string(hide_password=False)
    finally:
        engine.dispose()
        with admin.connect() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS `{name}`"))
        admin.dispose()


class Ispyb:
    """The test's ISPyB rows: people by login, proposals and visits by name."""

    def __init__(self, url: str):
        self.engine = create_engine(url)
        self.people: dict[str, int] = {}
        self.proposals: dict[str, int] = {}
        self.visits: dict[str, int] = {}

    def empty(self) -> None:
        with self.engine.begin() as conn:
            for model in reversed(MEMBERSHIP_TABLES):
                conn.execute(delete(model))

    def person(self, login: str | None) -> int:
        with self.engine.begin() as conn:
            person_id = conn.execute(
                insert(Person).values(login=login, familyName=login or "PI")
            ).inserted_primary_key[0]
        if login:
            self.people[login] = person_id
        return person_id

    def proposal(self, code: str, number: str) -> int:
        principal = self.person(None)
        with self.engine.begin() as conn:
            proposal_id = conn.execute(
                insert(Proposal).values(
                    proposalCode=code, proposalNumber=number, personId=principal, title="t"
                )
            ).inserted_primary_key[0]
        self.proposals[f"{code}{number}"] = proposal_id
        return proposal_id

    def visit(self, proposal: str, number: int) -> int:
        with self.engine.begin() as conn:
            session_id = conn.execute(
                insert(BLSession).values(
                    proposalId=self.proposals[proposal], visit_number=number, beamLineName="i04-1"
                )
            ).inserted_primary_key[0]
        self.visits[f"{proposal}-{number}"] = session_id
        return session_id

    def on_visit(self, login: str, visit: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                insert(SessionHasPerson).values(
                    sessionId=self.visits[visit], personId=self.people[login], role="Team Member"
                )
            )

    def off_visit(self, login: str, visit: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                delete(SessionHasPerson)
                .where(SessionHasPerson.sessionId == self.visits[visit])
                .where(SessionHasPerson.personId == self.people[login])
            )

    def on_proposal(self, login: str, proposal: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                insert(ProposalHasPerson).values(
                    proposalId=self.proposals[proposal],
                    personId=self.people[login],
                    role="Co-Investigator",
                )
            )


@pytest.fixture
def ispyb(app, ispyb_url, small_targets):
    """The app reading memberships from ISPyB, which holds proposals lb00000 (visits 1 and
    2) and lb99999 (visit 1), and people: ``visitor`` on visit lb00000-1, ``stranger`` on
    lb99999-1, ``proposer`` on proposal lb00000 only; each is also one of our users. The
    demo's ``member`` is a member of lb00000-1 in our own table only."""
    rows = Ispyb(ispyb_url)
    rows.empty()
    rows.proposal("lb", "00000")
    rows.proposal("lb", "99999")
    rows.visit("lb00000", 1)
    rows.visit("lb00000", 2)
    rows.visit("lb99999", 1)
    for login in ("visitor", "stranger", "proposer"):
        rows.person(login)
        factories.user(app, login, PASSWORD)
    rows.on_visit("visitor", "lb00000-1")
    rows.on_visit("stranger", "lb99999-1")
    rows.on_proposal("proposer", "lb00000")
    app.config.update(MEMBERSHIP_SOURCE="ispyb", ISPYB_URL=ispyb_url, ISPYB_CACHE_SECONDS=120)
    ispyb_memberships.forget()
    yield rows
    ispyb_memberships.forget()
    rows.engine.dispose()


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


def sees_mpro(client) -> bool:
    """Does the user see the private Mpro: listed on the page and in the API, and each of
    its pages answered (200), or none of that (404s)?"""
    listed_page = "Mpro" in client.get("/targets/").text
    listed_api = "Mpro" in [t["title"] for t in client.get("/api/targets/").json]
    statuses = {client.get(url).status_code for url in PRIVATE_PAGES}
    if listed_page and listed_api and statuses == {200}:
        return True
    assert not listed_page and not listed_api and statuses == {404}, (statuses, listed_page)
    return False


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
    wait_for(
        lambda: not sees_mpro(visitor),
        timeout=app.config["ISPYB_CACHE_SECONDS"] + 5,
        interval=0.2,
        what="the visitor to lose Mpro once the cached ISPyB visits expired",
    )
    assert visitor.get("/api/targets/Mpro/proteins/").json == {"error": "Not found"}


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
