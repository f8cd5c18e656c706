"""The shared access policy (app/access.py): every route x role, on the public Mac1 and the
private Mpro, and what a role that may not see an object learns of it.

Roles: anonymous; the *owner* of the snapshot, transfer and job (``member``); a *colleague*
(another member of both projects); an *outsider* (logged in, member of neither: sees the
public Mac1, but not others' work on it, and may not work on it); an *admin*. Computed sets
have their own matrix (tests/csets/test_cset_permissions.py): they are published results.
"""

from __future__ import annotations

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import JobFileTransfer, Protein, Snapshot, Target
from tests.factories import job as make_job
from tests.factories import snapshot as make_snapshot
from tests.factories import target_of, user_of

ROLES = ["anonymous", "owner", "colleague", "outsider", "admin"]
USERNAMES = {"anonymous": None, "owner": "member"}
JOB = "rdkit-conformers"


@pytest.fixture
def world(app, small_targets):
    """Ids of the member's work on each target: a snapshot, a finished transfer of it, and
    a queued (OPEN) job."""
    ids = {}
    for title in ("Mac1", "Mpro"):
        codes = small_targets[title][:2]
        snapshot_id = make_snapshot(app, title, codes, name=f"{title} snap")
        job_id, _ = make_job(app, status="OPEN", title=title)
        with app.app_context():
            target = target_of(title)
            first = target.proteins[0]
            transfer = JobFileTransfer(
                snapshot_id=snapshot_id,
                target_id=target.id,
                user=user_of("member"),
                proteins=codes,
                transfer_status="SUCCESS",
                transfer_progress=100.0,
            )
            db.session.add(transfer)
            db.session.commit()
            ids[title] = {
                "snapshot": snapshot_id,
                "protein": first.id,
                "code": first.code,
                "job": job_id,
                "transfer": transfer.id,
            }
    return ids


def both(template: str, public: tuple, private: tuple) -> list[tuple]:
    """One row per target: ``{T}`` in the template becomes Mac1 / Mpro."""
    return [
        (template.replace("{T", "{Mac1"), *public),
        (template.replace("{T", "{Mpro"), *private),
    ]


# (method url, expected status for anonymous, owner, colleague, outsider, admin)
ROUTES = [
    ("GET /targets/", 302, 200, 200, 200, 200),
    ("GET /targets/Mac1/", 302, 200, 200, 200, 200),
    ("GET /targets/Mpro/", 302, 200, 200, 404, 200),
    ("GET /targets/Nope/", 302, 404, 404, 404, 404),
    ("GET /targets/Mac1/snapshots/", 302, 200, 200, 200, 200),
    ("GET /targets/Mpro/snapshots/", 302, 200, 200, 404, 200),
    ("GET /targets/Mac1/jobs/", 302, 200, 200, 200, 200),
    ("GET /targets/Mpro/jobs/", 302, 200, 200, 404, 200),
    ("GET /snapshots/999999/", 302, 404, 404, 404, 404),
    ("GET /proteins/{Mac1[protein]}/depiction.svg", 302, 200, 200, 200, 200),
    ("GET /proteins/{Mpro[protein]}/depiction.svg", 302, 200, 200, 404, 200),
    # anyone who sees a target may make a snapshot of it
    ("POST /targets/Mac1/snapshots/", 302, 302, 302, 302, 302),
    ("POST /targets/Mpro/snapshots/", 302, 302, 302, 404, 302),
    ("POST /api/snapshots/ Mac1", 401, 201, 201, 201, 201),
    ("POST /api/snapshots/ Mpro", 401, 201, 201, 404, 201),
    ("GET /api/targets/", 401, 200, 200, 200, 200),
    ("GET /api/targets/Mac1/proteins/", 401, 200, 200, 200, 200),
    ("GET /api/targets/Mpro/proteins/", 401, 200, 200, 404, 200),
    # others' snapshots, transfers and jobs: members of the target's project only
    *both("GET /snapshots/{T[snapshot]}/", (302, 200, 200, 404, 200), (302, 200, 200, 404, 200)),
    *both(
        "GET /api/snapshots/{T[snapshot]}/", (401, 200, 200, 404, 200), (401, 200, 200, 404, 200)
    ),
    *both(
        "GET /snapshots/{T[snapshot]}/transfers/",
        (302, 200, 200, 404, 200),
        (302, 200, 200, 404, 200),
    ),
    *both(
        "GET /api/job_file_transfer/{T[transfer]}/",
        (401, 200, 200, 404, 200),
        (401, 200, 200, 404, 200),
    ),
    *both(
        "GET /transfers/{T[transfer]}/panel", (302, 200, 200, 404, 200), (302, 200, 200, 404, 200)
    ),
    *both("GET /jobs/{T[job]}/", (302, 200, 200, 404, 200), (302, 200, 200, 404, 200)),
    *both("GET /jobs/{T[job]}/status", (302, 200, 200, 404, 200), (302, 200, 200, 404, 200)),
    *both("GET /api/job_request/{T[job]}/", (401, 200, 200, 404, 200), (401, 200, 200, 404, 200)),
    # working on a target: members (and admins) only
    *both(
        "POST /snapshots/{T[snapshot]}/transfer",
        (302, 302, 302, 404, 302),
        (302, 302, 302, 404, 302),
    ),
    *both(
        "POST /api/job_file_transfer/ {T[snapshot]}",  # 400: no Squonk2 project here
        (401, 400, 400, 404, 400),
        (401, 400, 400, 404, 400),
    ),
    *both(
        f"GET /snapshots/{{T[snapshot]}}/launch?job={JOB}",
        (302, 200, 200, 404, 200),
        (302, 200, 200, 404, 200),
    ),
    *both(
        f"POST /snapshots/{{T[snapshot]}}/launch?job={JOB}",
        (302, 200, 200, 404, 200),
        (302, 200, 200, 404, 200),
    ),
    *both(
        "POST /api/job_request/ {T[snapshot]}",
        (401, 400, 400, 404, 400),
        (401, 400, 400, 404, 400),
    ),
    # acting on a job: its owner or an admin (a colleague is told why)
    *both("POST /jobs/{T[job]}/cancel", (302, 302, 403, 404, 302), (302, 302, 403, 404, 302)),
    *both(
        "DELETE /api/job_request/{T[job]}/", (401, 200, 403, 404, 200), (401, 200, 403, 404, 200)
    ),
    *both("POST /jobs/{T[job]}/describe", (302, 302, 403, 404, 302), (302, 302, 403, 404, 302)),
    *both("POST /jobs/{T[job]}/retry-import", (302, 302, 403, 404, 302), (302, 302, 403, 404, 302)),
    ("GET /computed-sets/upload", 302, 200, 200, 200, 200),
    # one's own settings: every logged-in user
    ("GET /settings", 302, 200, 200, 200, 200),
    ("POST /settings", 302, 302, 302, 302, 302),
    ("GET /healthz", 200, 200, 200, 200, 200),
    ("GET /login", 200, 302, 302, 302, 302),
    ("GET /login/check", 302, 302, 302, 302, 302),  # on to the login page, or to next
]


def send(session, route: str, world: dict):
    method, url, *rest = route.format(**world).split(" ")
    json = None
    if rest and url == "/api/snapshots/":
        json = {"target": rest[0], "proteins": [world[rest[0]]["code"]]}
    elif rest:  # a snapshot id: send its files, or launch on it (no inputs: 400)
        json = {"snapshot": int(rest[0])}
        if url == "/api/job_request/":
            json["job"] = JOB
    if json is not None:
        return session.request(method, url, json=json)
    if method == "GET":
        return session.get(url)
    if method == "DELETE":
        return session.delete(url)
    title = url.split("/")[2] if url.startswith("/targets/") else "Mpro"
    return session.post(
        url, data={"proteins": [world[title]["code"]], "csrf_token": session.csrf or ""}
    )


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(
    "route,expected", [(r, e) for r, *e in ROUTES], ids=[r for r, *_ in ROUTES]
)
def test_access_matrix(login, world, role, route, expected):
    session = login(USERNAMES.get(role, role))
    response = send(session, route, world)
    assert response.status_code == expected[ROLES.index(role)], response.text[:300]
    if response.status_code == 404 and " /api/" in route:
        assert response.json == {"error": "Not found"}
    if response.status_code == 403 and role == "colleague":
        assert "owner or an admin" in response.text


def test_non_members_may_not_work_on_a_public_target_and_are_told_why(app, login, small_targets):
    """The outsider's own snapshot and job on Mac1 (made before the rule, or on a target
    that was public to them): sending, launching, cancelling refused with the reason;
    nothing is created or changed."""
    own = make_snapshot(app, "Mac1", small_targets["Mac1"][:2], author="outsider")
    job_id, _ = make_job(app, status="OPEN", owner="outsider")
    outsider = login("outsider")
    reason = "You are not a member of project lb18145-1"
    answers = [
        outsider.post("/api/job_file_transfer/", json={"snapshot": own}),
        outsider.post("/api/job_request/", json={"snapshot": own, "job": JOB}),
        outsider.delete(f"/api/job_request/{job_id}/"),
    ]
    for answer in answers:
        assert (answer.status_code, answer.json) == (403, {"error": reason})
    pages = [
        outsider.post(f"/snapshots/{own}/transfer", data={"csrf_token": outsider.csrf}),
        outsider.get(f"/snapshots/{own}/launch?job={JOB}"),
        outsider.post(f"/jobs/{job_id}/cancel", data={"csrf_token": outsider.csrf}),
    ]
    for page in pages:
        assert page.status_code == 403 and reason in page.text
    snapshot_page = outsider.get(f"/snapshots/{own}/").text
    assert reason in snapshot_page and 'id="transfer-panel"' not in snapshot_page
    assert 'id="rerun"' not in outsider.get(f"/jobs/{job_id}/").text
    with app.app_context():
        assert db.session.scalar(select(db.func.count(JobFileTransfer.id))) == 0
    assert outsider.get(f"/api/job_request/{job_id}/").json["job_status"] == "OPEN"


def test_lists_show_others_work_to_members_only(login, world):
    for role, sees in (("colleague", True), ("outsider", False), ("admin", True)):
        session = login(role)
        jobs = {j["id"] for j in session.get("/api/job_request/").json}
        transfers = {t["id"] for t in session.get("/api/job_file_transfer/").json}
        assert (world["Mac1"]["job"] in jobs) is sees, role
        assert (world["Mac1"]["transfer"] in transfers) is sees, role
        page = session.get("/targets/Mac1/").text
        assert ("Mac1 snap" in page) is sees, role
        table = session.get("/targets/Mac1/jobs/").text
        assert (f"/jobs/{world['Mac1']['job']}/" in table) is sees, role


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
    with app.app_context():
        before = db.session.scalar(select(db.func.count(Snapshot.id)))
    member = login("member")
    response = member.client.post(
        "/api/snapshots/", json={"target": "Mac1", "proteins": [world["Mac1"]["code"]]}
    )
    assert response.status_code == 400 and "CSRF" in response.json["error"]
    with app.app_context():
        assert db.session.scalar(select(db.func.count(Snapshot.id))) == before


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
