"""The shared access policy (app/access.py): every route x anonymous / member / outsider /
admin, and what a role that may not see an object learns of it."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import Protein, Snapshot, Target
from tests.factories import snapshot as make_snapshot
from tests.factories import target_of

ROLES = ["anonymous", "member", "outsider", "admin"]


@pytest.fixture
def world(app, small_targets):
    """Ids of private and public objects: a snapshot of each target made by the member."""
    ids = {}
    for title in ("Mac1", "Mpro"):
        codes = small_targets[title][:2]
        snapshot_id = make_snapshot(app, title, codes, name=f"{title} snap")
        with app.app_context():
            first = target_of(title).proteins[0]
            ids[title] = {"snapshot": snapshot_id, "protein": first.id, "code": first.code}
    return ids


# (method, url template, expected status for anonymous, member, outsider, admin)
PAGES = [
    ("GET", "/targets/", 302, 200, 200, 200),
    ("GET", "/targets/Mac1/", 302, 200, 200, 200),
    ("GET", "/targets/Mpro/", 302, 200, 404, 200),
    ("GET", "/targets/Nope/", 302, 404, 404, 404),
    ("GET", "/targets/Mac1/snapshots/", 302, 200, 200, 200),
    ("GET", "/targets/Mpro/snapshots/", 302, 200, 404, 200),
    ("GET", "/snapshots/{Mac1[snapshot]}/", 302, 200, 200, 200),
    ("GET", "/snapshots/{Mpro[snapshot]}/", 302, 200, 404, 200),
    ("GET", "/snapshots/999999/", 302, 404, 404, 404),
    ("GET", "/proteins/{Mac1[protein]}/depiction.svg", 302, 200, 200, 200),
    ("GET", "/proteins/{Mpro[protein]}/depiction.svg", 302, 200, 404, 200),
    ("POST", "/targets/Mpro/snapshots/", 302, 302, 404, 302),
    ("GET", "/api/targets/", 401, 200, 200, 200),
    ("GET", "/api/targets/Mac1/proteins/", 401, 200, 200, 200),
    ("GET", "/api/targets/Mpro/proteins/", 401, 200, 404, 200),
    ("GET", "/api/snapshots/{Mac1[snapshot]}/", 401, 200, 200, 200),
    ("GET", "/api/snapshots/{Mpro[snapshot]}/", 401, 200, 404, 200),
    ("POST", "/api/snapshots/", 401, 201, 404, 201),
    ("GET", "/healthz", 200, 200, 200, 200),
    ("GET", "/login", 200, 302, 302, 302),
]


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(
    "method,template,expected",
    [(m, t, e) for m, t, *e in PAGES],
    ids=[f"{m} {t}" for m, t, *_ in PAGES],
)
def test_access_matrix(login, world, role, method, template, expected):
    session = login(None if role == "anonymous" else role)
    url = template.format(**world)
    if method == "GET":
        response = session.get(url)
    elif url == "/api/snapshots/":
        response = session.post(url, json={"target": "Mpro", "proteins": [world["Mpro"]["code"]]})
    else:
        response = session.post(
            url, data={"proteins": [world["Mpro"]["code"]], "csrf_token": session.csrf or ""}
        )
    assert response.status_code == expected[ROLES.index(role)], response.text[:300]
    if response.status_code == 404 and url.startswith("/api/"):
        assert response.json == {"error": "Not found"}


def test_private_target_is_listed_only_for_member_and_admin(login, world):
    for role, sees in (("member", True), ("outsider", False), ("admin", True)):
        session = login(role)
        titles = [t["title"] for t in session.get("/api/targets/").json]
        assert ("Mpro" in titles) is sees and "Mac1" in titles
        assert ("Mpro" in session.get("/targets/").text) is sees


def test_not_visible_is_identical_to_missing(login, world):
    outsider = login("outsider")
    hidden = outsider.get("/api/targets/Mpro/proteins/")
    missing = outsider.get("/api/targets/NoSuchTarget/proteins/")
    assert (hidden.status_code, hidden.json) == (missing.status_code, missing.json)


def test_posts_without_csrf_token_are_refused_and_change_nothing(app, login, world):
    member = login("member")
    response = member.client.post(
        "/api/snapshots/", json={"target": "Mac1", "proteins": [world["Mac1"]["code"]]}
    )
    assert response.status_code == 400 and "CSRF" in response.json["error"]
    with app.app_context():
        assert db.session.scalar(select(db.func.count(Snapshot.id))) == 2


def test_anonymous_htmx_request_is_redirected_to_login(login, world):
    response = login(None).get("/targets/Mac1/", headers={"HX-Request": "true"})
    assert response.status_code == 401
    assert response.headers["HX-Redirect"].startswith("/login?next=")


def test_protein_ids_of_private_targets_do_not_leak(app, login, world):
    with app.app_context():
        private_ids = [
            p.id
            for p in db.session.scalars(select(Protein).join(Target).where(Target.title == "Mpro"))
        ]
    assert len(private_ids) == 3
    outsider = login("outsider")
    assert all(
        outsider.get(f"/proteins/{pid}/depiction.svg").status_code == 404 for pid in private_ids
    )
