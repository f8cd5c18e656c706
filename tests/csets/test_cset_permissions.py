"""The computed-set permission matrix over pages and API alike.

Roles: the set's owner (member), another member of the private project (colleague), a
non-member (outsider), an admin, and a logged-out caller. Sets: one owned by the member on
the public Mac1, an anonymous one on Mac1, one owned by the member on the private Mpro.
Rules: a set is visible to whoever sees its target (a private target's sets are 404 to
non-members); only the owner or an admin deletes or replaces; an anonymous set only an admin.
"""

from __future__ import annotations

import io

import pytest

from tests.conftest import MAC1_DIR, MPRO_DIR
from tests.csets.conftest import build_sdf, mol_block_of, stored_state

ROLES = ["owner", "colleague", "outsider", "admin", "logged_out"]
USERNAMES = {
    "owner": "member",
    "colleague": "colleague",
    "outsider": "outsider",
    "admin": "admin",
    "logged_out": None,
}

# set -> role -> (may view, may delete/replace); view False means 404 (not visible)
RULES = {
    "mac1_owned": {
        "owner": (True, True),
        "colleague": (True, False),
        "outsider": (True, False),
        "admin": (True, True),
    },
    "mac1_anonymous": {
        "owner": (True, False),
        "colleague": (True, False),
        "outsider": (True, False),
        "admin": (True, True),
    },
    "mpro_owned": {
        "owner": (True, True),
        "colleague": (True, False),
        "outsider": (False, False),
        "admin": (True, True),
    },
}


@pytest.fixture
def world(small_targets, colleague, store_set, mac1_sdf, mpro_sdf):
    """The three sets by name, plus small valid replacement files per target."""
    mac1_code, mpro_code = small_targets["Mac1"][0], small_targets["Mpro"][0]
    return {
        "sets": {
            "mac1_owned": store_set("Mac1", mac1_sdf, owner="member"),
            "mac1_anonymous": store_set("Mac1", mac1_sdf, owner=None),
            "mpro_owned": store_set("Mpro", mpro_sdf, owner="member"),
        },
        "replacement": {
            "mac1_owned": build_sdf([("new-1", mol_block_of(MAC1_DIR, mac1_code), [mac1_code])]),
            "mac1_anonymous": build_sdf(
                [("new-1", mol_block_of(MAC1_DIR, mac1_code), [mac1_code])]
            ),
            "mpro_owned": build_sdf([("new-1", mol_block_of(MPRO_DIR, mpro_code), [mpro_code])]),
        },
    }


def expected(set_key: str, role: str, action: str, channel: str) -> int:
    """The status a role gets for an action on a set through the page or the API."""
    if role == "logged_out":
        return 401 if channel == "api" else 302
    may_view, may_change = RULES[set_key][role]
    if not may_view:
        return 404
    if action in ("view", "download"):
        return 200
    if not may_change:
        return 403
    if action == "confirm":
        return 200
    if channel == "page":
        return 302
    return 204 if action == "delete" else 200


def call(session, action: str, channel: str, name: str, replacement: bytes):
    multipart = {"sdf": (io.BytesIO(replacement), "new.sdf")}
    if channel == "page":
        return {
            "view": lambda: session.get(f"/computed-sets/{name}/"),
            "download": lambda: session.get(f"/computed-sets/{name}/download"),
            "confirm": lambda: session.get(f"/computed-sets/{name}/delete"),
            "replace": lambda: session.post(
                f"/computed-sets/{name}/replace", data=multipart, content_type="multipart/form-data"
            ),
            "delete": lambda: session.post(
                f"/computed-sets/{name}/delete", data={"confirm": "yes"}
            ),
        }[action]()
    return {
        "view": lambda: session.get(f"/api/compound-sets/{name}/"),
        "download": lambda: session.get(f"/api/compound-sets/{name}/download"),
        "replace": lambda: session.put(
            f"/api/compound-sets/{name}/", data=multipart, content_type="multipart/form-data"
        ),
        "delete": lambda: session.delete(f"/api/compound-sets/{name}/"),
    }[action]()


@pytest.mark.parametrize("channel", ["page", "api"])
@pytest.mark.parametrize("set_key", sorted(RULES))
@pytest.mark.parametrize("role", ROLES)
def test_permission_matrix(app, login, world, role, set_key, channel):
    session = login(USERNAMES[role])
    name = world["sets"][set_key]
    actions = ["view", "download", "replace", "delete"]
    if channel == "page":
        actions.insert(2, "confirm")
    for action in actions:
        before = stored_state(app)
        response = call(session, action, channel, name, world["replacement"][set_key])
        want = expected(set_key, role, action, channel)
        assert response.status_code == want, (action, response.status_code, response.text[:300])
        if channel == "api" and want in (403, 404):
            assert response.json["error"] in ("Not found", "You are not allowed to do that")
        changed = want in (200, 204, 302) and action in ("replace", "delete")
        if role == "logged_out" or not changed:
            assert stored_state(app) == before, action
        elif action == "delete":
            assert stored_state(app)["sets"] == before["sets"] - 1
        else:
            assert stored_state(app)["molecules"] < before["molecules"]
    if role == "logged_out" and channel == "page":
        assert response.headers["Location"].startswith("/login?next=")


@pytest.mark.parametrize("role", ROLES[:4])
def test_list_shows_visible_sets_and_delete_only_where_allowed(login, world, role):
    session = login(USERNAMES[role])
    page = session.get("/computed-sets/").text
    listed = {s["name"] for s in session.get("/api/compound-sets/").json}
    for set_key, name in world["sets"].items():
        may_view, may_change = RULES[set_key][role]
        assert (name in listed) is may_view
        assert (f'data-set="{name}"' in page) is may_view
        assert (f"/computed-sets/{name}/delete" in page) is may_change, set_key
        if may_view:
            detail = session.get(f"/computed-sets/{name}/").text
            assert (f"/computed-sets/{name}/delete" in detail) is may_change
            assert (f"/computed-sets/{name}/replace" in detail) is may_change


def test_logged_out_callers_see_no_list(login, world):
    anonymous = login(None)
    assert anonymous.get("/computed-sets/").status_code == 302
    assert anonymous.get("/api/compound-sets/").status_code == 401


def test_upload_needs_a_user_who_may_see_the_target(app, login, world, mpro_sdf):
    before = stored_state(app)
    outsider = login("outsider")
    page = outsider.post(
        "/computed-sets/upload",
        content_type="multipart/form-data",
        data={"target": "Mpro", "sdf": (io.BytesIO(mpro_sdf), "m.sdf")},
    )
    assert page.status_code == 404  # the private target does not exist for them
    offered = outsider.get("/computed-sets/upload")
    assert 'value="Mpro"' not in offered.text and 'value="Mac1"' not in offered.text
    assert "You are not a member of any target" in offered.text
    # a public target they may see: uploading to it is for its project's members
    page = outsider.post(
        "/computed-sets/upload",
        content_type="multipart/form-data",
        data={
            "target": "Mac1",
            "sdf": (io.BytesIO(mpro_sdf), "m.sdf"),
            "csrf_token": outsider.csrf,
        },
    )
    assert page.status_code == 403 and "You are not a member of project lb18145-1" in page.text
    api = outsider.post(
        "/api/compound-sets/",
        content_type="multipart/form-data",
        data={"target": "Mac1", "sdf": (io.BytesIO(mpro_sdf), "m.sdf")},
    )
    assert api.status_code == 403
    assert api.json == {"error": "You are not a member of project lb18145-1"}
    api = outsider.post(
        "/api/compound-sets/",
        content_type="multipart/form-data",
        data={"target": "Mpro", "sdf": (io.BytesIO(mpro_sdf), "m.sdf")},
    )
    assert api.status_code == 404 and api.json == {"error": "Not found"}
    anonymous = login(None)
    api = anonymous.post(
        "/api/compound-sets/",
        content_type="multipart/form-data",
        data={"target": "Mac1", "sdf": (io.BytesIO(mpro_sdf), "m.sdf")},
    )
    assert api.status_code == 401
    assert stored_state(app) == before


def test_a_colleague_upload_is_owned_by_the_colleague(app, login, world, mpro_sdf):
    colleague = login("colleague")
    created = colleague.post(
        "/api/compound-sets/",
        content_type="multipart/form-data",
        # the member's Mpro set holds the same file
        data={"target": "Mpro", "sdf": (io.BytesIO(mpro_sdf), "m.sdf"), "upload_anyway": "true"},
    )
    assert created.status_code == 201 and created.json["owner"] == "colleague"
    # ... so the colleague may delete it, and the member (owner of the other Mpro set) not
    assert login("member").delete(f"/api/compound-sets/{created.json['name']}/").status_code == 403
    assert colleague.delete(f"/api/compound-sets/{created.json['name']}/").status_code == 204


def test_deletes_without_csrf_token_are_refused(app, login, world):
    member = login("member")
    name = world["sets"]["mac1_owned"]
    before = stored_state(app)
    assert member.client.delete(f"/api/compound-sets/{name}/").status_code == 400
    assert (
        member.client.post(f"/computed-sets/{name}/delete", data={"confirm": "yes"}).status_code
        == 400
    )
    assert stored_state(app) == before


def test_admin_pages_are_admin_only(login, world):
    assert login("admin").get("/admin/computed-sets/").status_code == 200
    assert login("member").get("/admin/computed-sets/").status_code == 404
    admin_page = login("admin").get("/admin/computed-sets/").text
    assert all(name in admin_page for name in world["sets"].values())
    assert "anonymous" in admin_page
    # its Delete buttons come back to the admin page
    assert '"next": "/admin/computed-sets/"' in admin_page
