"""Sessions that end: after log-out, an admin's "end sessions" or disabling the account, a
copy of the old cookie is refused everywhere (401 JSON on /api/, the login page with a
message on pages, nothing created with its CSRF token)."""

from __future__ import annotations

from sqlalchemy import func, select

from app.extensions import db
from app.models import Snapshot
from tests.factories import user_of
from tests.support import csrf_token_of

SESSION_ENDED = "Your session has ended. Please log in again."
DISABLED = "This account is disabled. Ask an administrator to enable it."


def saved_cookie(session) -> str:
    """The session cookie a browser (or someone who copied it) holds right now."""
    return session.client.get_cookie("session").value


def replay(app, cookie: str, method: str, url: str, **kw):
    """A request carrying exactly ``cookie``, as a copy kept from before would."""
    client = app.test_client()
    client.set_cookie("session", cookie)
    return client.open(url, method=method, **kw)


def snapshot_count(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(Snapshot))


def assert_refused(app, cookie: str, message: str = SESSION_ENDED) -> None:
    api = replay(app, cookie, "GET", "/api/targets/")
    assert api.status_code == 401 and api.json == {"error": message}
    page = replay(app, cookie, "GET", "/jobs/")
    assert page.status_code == 302 and page.headers["Location"] == "/login?next=/jobs/"
    # the login page says why, whether it is reached by that redirect or directly
    client = app.test_client()
    client.set_cookie("session", cookie)
    followed = client.get("/jobs/", follow_redirects=True)
    assert followed.request.path == "/login" and message in followed.text
    direct = replay(app, cookie, "GET", "/login")
    assert direct.status_code == 200 and message in direct.text
    htmx = replay(app, cookie, "GET", "/jobs/", headers={"HX-Request": "true"})
    assert htmx.status_code == 401 and htmx.headers["HX-Redirect"] == "/login?next=/jobs/"


def test_logout_refuses_the_saved_cookie_and_its_csrf_token(app, small_targets, login):
    member = login("member")
    cookie, token = saved_cookie(member), member.csrf
    code = small_targets["Mac1"][0]
    # the copy works before log-out: it reads, and with its CSRF token it creates
    assert replay(app, cookie, "GET", "/api/targets/").status_code == 200
    made = replay(
        app,
        cookie,
        "POST",
        "/api/snapshots/",
        json={"target": "Mac1", "proteins": [code]},
        headers={"X-CSRFToken": token},
    )
    assert made.status_code == 201, made.text
    assert snapshot_count(app) == 1

    out = member.post("/logout", follow_redirects=True)
    assert out.request.path == "/login" and "You are logged out" in out.text

    assert_refused(app, cookie)
    api_post = replay(
        app,
        cookie,
        "POST",
        "/api/snapshots/",
        json={"target": "Mac1", "proteins": [code]},
        headers={"X-CSRFToken": token},
    )
    assert api_post.status_code == 401 and api_post.json == {"error": SESSION_ENDED}
    form_post = replay(
        app,
        cookie,
        "POST",
        "/targets/Mac1/snapshots/",
        data={"proteins": [code], "csrf_token": token},
    )
    assert form_post.status_code == 302 and form_post.headers["Location"].startswith("/login")
    assert snapshot_count(app) == 1

    # logging in again gives a cookie that works
    again = login("member")
    assert again.get("/api/targets/").status_code == 200
    assert again.get("/jobs/").status_code == 200


def test_logout_ends_the_users_sessions_in_other_browsers_too(app, login):
    laptop, beamline, other_user = login("member"), login("member"), login("outsider")
    laptop.post("/logout")
    assert beamline.get("/api/targets/").status_code == 401
    assert beamline.get("/jobs/").status_code == 302
    assert other_user.get("/api/targets/").status_code == 200


def test_a_cookie_from_before_the_upgrade_works_until_sessions_end(app, users, runner):
    """Cookies issued before session generations existed carry a bare user id."""
    client = app.test_client()
    with app.app_context():
        member_id = user_of("member").id
    with client.session_transaction() as session:
        session["_user_id"] = str(member_id)
        session["_fresh"] = True
    cookie = client.get_cookie("session").value
    assert replay(app, cookie, "GET", "/api/targets/").status_code == 200
    assert runner.invoke(args=["users", "end-sessions", "member"]).exit_code == 0
    assert_refused(app, cookie)


def test_admin_ends_every_session_of_a_user_on_the_admin_page(app, login):
    admin, member, member_elsewhere = login("admin"), login("member"), login("member")
    with app.app_context():
        member_id = user_of("member").id
    token = app.test_cli_runner().invoke(args=["users", "token", "member"]).output.strip()
    cookie = saved_cookie(member)

    assert member.get("/admin/users/").status_code == 404
    assert member.post(f"/admin/users/{member_id}/end-sessions").status_code == 404
    assert member.get("/api/targets/").status_code == 200  # nothing ended by that

    page = admin.get("/admin/users/")
    assert page.status_code == 200
    assert f'action="/admin/users/{member_id}/end-sessions"' in page.text
    no_csrf = admin.client.post(f"/admin/users/{member_id}/end-sessions")
    assert no_csrf.status_code == 400
    assert member.get("/api/targets/").status_code == 200

    done = admin.post(f"/admin/users/{member_id}/end-sessions", follow_redirects=True)
    assert done.request.path == "/admin/users/"
    assert "member: every session ended" in done.text
    for session in (member, member_elsewhere):
        response = session.get("/api/targets/")
        assert response.status_code == 401 and response.json == {"error": SESSION_ENDED}
    assert_refused(app, cookie)
    # the admin is still logged in, and the member's API token still works
    assert admin.get("/admin/users/").status_code == 200
    bearer = app.test_client().get("/api/targets/", headers={"Authorization": f"Bearer {token}"})
    assert bearer.status_code == 200
    assert admin.post("/admin/users/999999/end-sessions").status_code == 404


def test_cli_end_sessions(app, login, runner):
    member, outsider = login("member"), login("outsider")
    result = runner.invoke(args=["users", "end-sessions", "member"])
    assert result.exit_code == 0, result.output
    assert "ended every session of member" in result.output
    assert member.get("/api/targets/").status_code == 401
    assert outsider.get("/api/targets/").status_code == 200
    missing = runner.invoke(args=["users", "end-sessions", "nobody"])
    assert missing.exit_code != 0 and "no user called 'nobody'" in missing.output


def test_disabled_user_is_refused_cookie_login_and_token_until_enabled(app, login, runner):
    member = login("member")
    cookie = saved_cookie(member)
    token = runner.invoke(args=["users", "token", "member", "--name", "ci"]).output.strip()

    result = runner.invoke(args=["users", "disable", "member"])
    assert result.exit_code == 0, result.output
    assert "disabled member" in result.output
    assert "already disabled" in runner.invoke(args=["users", "disable", "member"]).output
    assert_refused(app, cookie, DISABLED)
    bearer = app.test_client().get("/api/targets/", headers={"Authorization": f"Bearer {token}"})
    assert bearer.status_code == 401 and bearer.json == {"error": DISABLED}

    client = app.test_client()
    form = csrf_token_of(client.get("/login").text)
    refused = client.post(
        "/login",
        data={"username": "member", "password": "member-password", "csrf_token": form},
    )
    assert refused.status_code == 200 and DISABLED in refused.text
    assert client.get("/api/targets/").status_code == 401
    page = admin_users_page(login)
    assert "disabled" in page.split('data-user="member"')[1].split("</tr>")[0]

    result = runner.invoke(args=["users", "enable", "member"])
    assert result.exit_code == 0 and "enabled member" in result.output
    assert "is not disabled" in runner.invoke(args=["users", "enable", "member"]).output
    # the account works again, its token too, but the cookie from before stays dead
    assert login("member").get("/api/targets/").status_code == 200
    bearer = app.test_client().get("/api/targets/", headers={"Authorization": f"Bearer {token}"})
    assert bearer.status_code == 200
    assert replay(app, cookie, "GET", "/api/targets/").status_code == 401


def admin_users_page(login) -> str:
    response = login("admin").get("/admin/users/")
    assert response.status_code == 200
    return response.text
