"""The admin's people pages (/admin/users/, /admin/users/<id>/, /admin/audit/) and the
``flask users`` commands that share their services: each action changes what the user
notices (access to the private Mpro, their sessions, their API tokens), writes exactly one
people audit event that the pages show, and is refused (nothing changed) for non-admins,
without the CSRF token, on an unknown user, and for an admin locking themselves out."""

from __future__ import annotations

import html
from contextlib import contextmanager

import pytest
from sqlalchemy import event, func, select

from app.accounts import ispyb as ispyb_memberships
from app.cli import cli_actor
from app.extensions import db
from app.models import ApiToken, AuditEvent, Project, User
from tests import factories
from tests.factories import user_of
from tests.support import free_port

DISABLED = "This account is disabled. Ask an administrator to enable it."
SESSION_ENDED = "Your session has ended. Please log in again."


def text_of(response) -> str:
    """The page as a reader sees it (Jinja escapes quotes)."""
    return html.unescape(response.text)


def ids(app, username: str = "member") -> dict[str, int]:
    with app.app_context():
        projects = dict(db.session.execute(select(Project.title, Project.id)).tuples().all())
        return {"user": user_of(username).id, "admin": user_of("admin").id, **projects}


def events(app, username: str | None = None) -> list[tuple[str, str | None, dict]]:
    """The people audit trail, oldest first: (action, who, detail), of one user or all."""
    with app.app_context():
        stmt = select(AuditEvent).where(AuditEvent.object_type == "user")
        if username is not None:
            stmt = stmt.where(AuditEvent.object_name == username)
        rows = db.session.scalars(stmt.order_by(AuditEvent.id))
        return [(e.action, e.username, dict(e.detail)) for e in rows]


def state(app) -> tuple:
    """Everything these pages can change: accounts, memberships, tokens, the audit trail."""
    with app.app_context():
        users = tuple(
            (u.username, u.is_admin, u.disabled, u.session_generation)
            + tuple(sorted(p.title for p in u.projects))
            for u in db.session.scalars(select(User).order_by(User.id))
        )
        tokens = tuple(db.session.execute(select(ApiToken.id, ApiToken.revoked)).tuples())
        audit = db.session.scalar(select(func.count()).select_from(AuditEvent))
        return users, tokens, audit


def issue(runner, name: str = "member", token_name: str = "ci") -> str:
    result = runner.invoke(args=["users", "token", name, "--name", token_name])
    assert result.exit_code == 0, result.output
    return result.output.strip()


def bearer(app, token: str):
    return app.test_client().get("/api/targets/", headers={"Authorization": f"Bearer {token}"})


def act(session, url: str, **data):
    """POST a form of the admin pages (with its CSRF token) and follow the redirect."""
    return session.post(url, data={"csrf_token": session.csrf, **data}, follow_redirects=True)


def row_of(page: str, attribute: str, value: str) -> str:
    """The table row carrying ``attribute="value"``."""
    return page.split(f'{attribute}="{value}"', 1)[1].split("</tr>", 1)[0]


@contextmanager
def counted_statements(app):
    """The SQL statements the app sends while the block runs."""
    with app.app_context():
        engine = db.engine
    statements: list[str] = []

    def count(conn, cursor, statement, *args):
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", count)


# --- the Users page -------------------------------------------------------------------


def test_users_page_lists_local_and_keycloak_users_with_their_memberships(app, login, runner):
    with app.app_context():
        db.session.add(
            User(
                username="kc-user",
                email="kc@example.org",
                external_subject="https://keycloak.example.org/realms/xchem|0f1e2d",
            )
        )
        db.session.commit()
    assert runner.invoke(args=["users", "disable", "outsider"]).exit_code == 0
    admin = login("admin")
    page = admin.get("/admin/users/")
    assert page.status_code == 200
    member = row_of(page.text, "data-user", "member")
    assert "member@example.org" in member and ">local<" in member and "active" in member
    assert "lb00000-1" in member and "lb18145-1" in member
    assert member.count(">local</span>") == 2  # each membership says where it comes from
    assert f'href="/admin/users/{ids(app)["user"]}/"' in member
    keycloak = row_of(page.text, "data-user", "kc-user")
    assert "Keycloak" in keycloak and "none" in keycloak
    assert "disabled" in row_of(page.text, "data-user", "outsider")
    assert "admin</em>" in row_of(page.text, "data-user", "admin")
    assert 'href="/admin/audit/"' in page.text


def test_users_page_costs_the_same_queries_for_4_users_as_for_24(app, login):
    admin = login("admin")
    with counted_statements(app) as few:
        assert admin.get("/admin/users/").status_code == 200
    for n in range(20):
        factories.user(app, f"extra-{n:02d}", "extra-password", projects=("lb18145-1", f"p-{n}"))
    with counted_statements(app) as many:
        page = admin.get("/admin/users/")
    assert page.status_code == 200 and "p-19" in page.text
    assert len(many) == len(few) <= 5, many


# --- memberships ----------------------------------------------------------------------


def test_removing_a_membership_takes_the_private_target_away_and_adding_gives_it_back(
    app, small_targets, login
):
    admin, member = login("admin"), login("member")
    known = ids(app)
    user_page = f"/admin/users/{known['user']}/"
    assert member.get("/targets/Mpro/").status_code == 200

    done = act(admin, f"{user_page}memberships/{known['lb00000-1']}/remove")
    assert done.request.path == user_page
    assert "member is no longer a member of lb00000-1" in text_of(done)
    assert member.get("/targets/Mpro/").status_code == 404
    assert member.get("/targets/Mac1/").status_code == 200  # lb18145-1 is kept
    assert events(app, "member") == [("remove_membership", "admin", {"project": "lb00000-1"})]
    assert 'data-project="lb00000-1"' not in admin.get(user_page).text

    done = act(admin, f"{user_page}memberships", project="lb00000-1")
    assert "member is now a member of lb00000-1" in text_of(done)
    assert member.get("/targets/Mpro/").status_code == 200
    assert [e[0] for e in events(app, "member")] == ["remove_membership", "add_membership"]

    # each event is shown on the user's page and in the people audit
    page = admin.get(user_page).text
    assert page.count('data-action="remove_membership"') == 1
    assert page.count('data-action="add_membership"') == 1
    assert "project: lb00000-1" in page
    audit = admin.get("/admin/audit/").text
    assert audit.count('data-action="add_membership"') == 1
    assert f'<a href="{user_page}">member</a>' in audit


@pytest.mark.parametrize(
    "title,message",
    [
        ("lb00000-1", "member is already a member of lb00000-1; nothing changed."),
        ("nope-1", "There is no project called 'nope-1'; nothing changed."),
        ("", "Choose a project by its title."),
        ("x" * 300, "There is no project called 'xxxxx"),
    ],
    ids=["already a member", "unknown title", "no title", "long title"],
)
def test_a_bad_membership_is_refused_with_a_message_and_changes_nothing(app, login, title, message):
    admin = login("admin")
    before = state(app)
    done = act(admin, f"/admin/users/{ids(app)['user']}/memberships", project=title)
    assert done.status_code == 200 and message in text_of(done)
    assert 'class="flash error"' in done.text
    assert state(app) == before


def test_removing_a_membership_the_user_does_not_have_is_refused(app, login):
    admin = login("admin")
    known = ids(app, "outsider")
    before = state(app)
    done = act(admin, f"/admin/users/{known['user']}/memberships/{known['lb00000-1']}/remove")
    assert "outsider is not a member of lb00000-1; nothing changed." in text_of(done)
    assert state(app) == before
    missing = admin.post(f"/admin/users/{known['user']}/memberships/999999/remove")
    assert missing.status_code == 404 and state(app) == before


# --- the account ----------------------------------------------------------------------


def test_disabling_refuses_the_users_session_and_token_and_enabling_restores_them(
    app, login, runner
):
    admin, member = login("admin"), login("member")
    token = issue(runner)
    user_page = f"/admin/users/{ids(app)['user']}/"

    done = act(admin, f"{user_page}disable")
    assert done.request.path == user_page
    assert "member is disabled: sessions ended, log-in and API tokens refused." in done.text
    response = member.get("/api/targets/")
    assert response.status_code == 401 and response.json == {"error": DISABLED}
    assert bearer(app, token).status_code == 401 and bearer(app, token).json == {"error": DISABLED}
    again = act(admin, f"{user_page}disable")
    assert "member is already disabled; nothing changed." in again.text

    done = act(admin, f"{user_page}enable")
    assert "member is enabled" in done.text
    assert bearer(app, token).status_code == 200
    assert login("member").get("/api/targets/").status_code == 200
    assert member.get("/api/targets/").status_code == 401  # the old session stays ended
    assert [(a, who) for a, who, _ in events(app, "member")] == [
        ("issue_token", cli_actor()),
        ("disable", "admin"),
        ("enable", "admin"),
    ]
    page = admin.get(user_page).text
    for action in ("issue_token", "disable", "enable"):
        assert page.count(f'data-action="{action}"') == 1


def test_an_admin_cannot_disable_themselves_or_remove_their_own_admin_flag(app, login):
    admin = login("admin")
    mine = f"/admin/users/{ids(app)['admin']}/"
    page = admin.get(mine).text
    assert "You cannot disable your own account." in page
    assert f'action="{mine}disable"' not in page
    before = state(app)
    done = act(admin, f"{mine}disable")
    assert "You cannot disable your own account; ask another admin." in done.text
    done = act(admin, f"{mine}admin", admin="no")
    assert "You cannot remove your own admin flag; ask another admin." in done.text
    assert state(app) == before
    assert admin.get("/admin/users/").status_code == 200


def test_the_admin_flag_opens_and_closes_the_admin_pages(app, login):
    admin, outsider = login("admin"), login("outsider")
    page = f"/admin/users/{ids(app, 'outsider')['user']}/"
    assert outsider.get("/admin/users/").status_code == 404
    assert "outsider is now an admin." in act(admin, f"{page}admin", admin="yes").text
    assert outsider.get("/admin/users/").status_code == 200
    assert "outsider is no longer an admin." in act(admin, f"{page}admin", admin="no").text
    assert outsider.get("/admin/users/").status_code == 404
    assert "say admin=yes or admin=no" in act(admin, f"{page}admin", admin="maybe").text
    assert [a for a, _, _ in events(app, "outsider")] == ["grant_admin", "remove_admin"]


def test_ending_sessions_on_the_users_page_logs_the_user_out(app, login):
    admin, member, outsider = login("admin"), login("member"), login("outsider")
    user_page = f"/admin/users/{ids(app)['user']}/"
    done = act(admin, f"{user_page}end-sessions", back="user")
    assert done.request.path == user_page
    assert "member: every session ended; they must log in again." in done.text
    response = member.get("/api/targets/")
    assert response.status_code == 401 and response.json == {"error": SESSION_ENDED}
    assert outsider.get("/api/targets/").status_code == 200
    assert events(app) == [("end_sessions", "admin", {})]
    assert admin.get(user_page).text.count('data-action="end_sessions"') == 1
    # from the list, the admin is sent back to the list
    done = act(admin, f"{user_page}end-sessions", back="users")
    assert done.request.path == "/admin/users/"


def test_tokens_are_listed_without_secrets_and_a_revoked_one_gets_401(app, login, runner):
    admin = login("admin")
    token = issue(runner, token_name="ci")
    other = issue(runner, token_name="notebook")
    user_page = f"/admin/users/{ids(app)['user']}/"
    with app.app_context():
        ci = db.session.scalar(select(ApiToken).where(ApiToken.name == "ci"))
        ci_id, ci_hash = ci.id, ci.token_hash
    page = admin.get(user_page).text
    row = row_of(page, "data-token", "ci")
    assert "never" in row and "active" in row and "UTC" in row
    for secret in (token, other, ci_hash, ApiToken.hash(other)):
        assert secret not in page

    done = act(admin, f"{user_page}tokens/{ci_id}/revoke")
    assert "member's API token ci is revoked" in text_of(done)
    assert bearer(app, token).status_code == 401
    assert bearer(app, token).json == {"error": "This API token has been revoked"}
    assert bearer(app, other).status_code == 200
    assert "revoked" in row_of(admin.get(user_page).text, "data-token", "ci")

    before = state(app)
    again = act(admin, f"{user_page}tokens/{ci_id}/revoke")
    assert "member's token" in text_of(again) and "already revoked" in text_of(again)
    assert state(app) == before
    # another user's token is not this user's to revoke
    colleague_token = issue(runner, "colleague", "theirs")
    with app.app_context():
        theirs = db.session.scalar(select(ApiToken.id).where(ApiToken.name == "theirs"))
    before = state(app)
    refused = act(admin, f"{user_page}tokens/{theirs}/revoke")
    assert f"member has no token '{theirs}'" in text_of(refused)
    assert state(app) == before and bearer(app, colleague_token).status_code == 200
    assert [(a, d.get("token")) for a, _, d in events(app, "member")] == [
        ("issue_token", "ci"),
        ("issue_token", "notebook"),
        ("revoke_token", "ci"),
    ]


# --- the command line goes through the same services ----------------------------------


def test_the_cli_actions_are_audited_as_cli(app, small_targets, login, runner):
    member = login("member")
    commands = [
        (["users", "remove-from-project", "member", "lb00000-1"], "remove_membership"),
        (["users", "add-to-project", "member", "lb00000-1"], "add_membership"),
        (["users", "token", "member", "--name", "ci"], "issue_token"),
        (["users", "revoke", "member", "ci"], "revoke_token"),
        (["users", "end-sessions", "member"], "end_sessions"),
        (["users", "disable", "member"], "disable"),
        (["users", "enable", "member"], "enable"),
    ]
    for args, action in commands:
        result = runner.invoke(args=args)
        assert result.exit_code == 0, result.output
        assert events(app, "member")[-1][:2] == (action, cli_actor())
        if action == "remove_membership":
            assert login("member").get("/targets/Mpro/").status_code == 404
    assert len(events(app, "member")) == len(commands)
    assert member.get("/api/targets/").status_code == 401
    # a no-op writes nothing
    for args in (["users", "add-to-project", "member", "lb00000-1"], ["users", "enable", "member"]):
        assert runner.invoke(args=args).exit_code == 0
    unknown = runner.invoke(args=["users", "remove-from-project", "member", "nope-1"])
    assert unknown.exit_code != 0 and "There is no project called 'nope-1'" in unknown.output
    assert len(events(app, "member")) == len(commands)
    audit = login("admin").get("/admin/audit/").text
    assert audit.count(f"<td>{cli_actor()}</td>") == len(commands)
    assert cli_actor().startswith("cli")


# --- who may use them ------------------------------------------------------------------


def admin_requests(app, runner) -> list[tuple[str, str, dict]]:
    """Every admin people URL, with a form that would change something if accepted."""
    known = ids(app)
    issue(runner)
    with app.app_context():
        token_id = db.session.scalar(select(ApiToken.id))
    user = f"/admin/users/{known['user']}"
    return [
        ("GET", "/admin/users/", {}),
        ("GET", f"{user}/", {}),
        ("GET", "/admin/audit/", {}),
        ("POST", f"{user}/memberships", {"project": "lb18145-1"}),
        ("POST", f"{user}/memberships/{known['lb00000-1']}/remove", {}),
        ("POST", f"{user}/disable", {}),
        ("POST", f"{user}/enable", {}),
        ("POST", f"{user}/admin", {"admin": "yes"}),
        ("POST", f"{user}/end-sessions", {}),
        ("POST", f"{user}/tokens/{token_id}/revoke", {}),
    ]


@pytest.mark.parametrize("role", ["member", "colleague", "outsider"])
def test_non_admins_get_404_on_every_admin_url_and_nothing_changes(app, login, runner, role):
    requests = admin_requests(app, runner)
    session = login(role)
    before = state(app)
    for method, url, data in requests:
        response = session.request(method, url, data={"csrf_token": session.csrf, **data})
        assert response.status_code == 404, (method, url)
    assert state(app) == before
    assert session.get("/api/targets/").status_code == 200  # still logged in


def test_anonymous_callers_are_sent_to_log_in_and_nothing_changes(app, users, runner):
    requests = admin_requests(app, runner)
    client = app.test_client()
    before = state(app)
    for method, url, data in requests:
        response = client.open(url, method=method, data=data)
        assert response.status_code == 302 and "/login" in response.headers["Location"]
    assert state(app) == before


def test_a_post_without_the_csrf_token_is_refused_and_changes_nothing(app, login, runner):
    requests = admin_requests(app, runner)
    admin = login("admin")
    before = state(app)
    for method, url, data in requests:
        if method == "POST":
            assert admin.client.post(url, data=data).status_code == 400, url
            forged = admin.client.post(url, data={**data, "csrf_token": "forged"})
            assert forged.status_code == 400, url
    assert state(app) == before


def test_an_unknown_user_is_404(app, login):
    admin = login("admin")
    before = state(app)
    for url in ("/admin/users/999999/", "/admin/users/99999999999999999999/"):
        assert admin.get(url).status_code == 404
    for action in ("memberships", "disable", "enable", "admin", "end-sessions", "tokens/1/revoke"):
        response = admin.post(
            f"/admin/users/999999/{action}",
            data={"csrf_token": admin.csrf, "project": "lb18145-1", "admin": "yes"},
        )
        assert response.status_code == 404, action
    assert state(app) == before


# --- memberships from ISPyB -------------------------------------------------------------


def test_ispyb_memberships_are_shown_as_ispyb(app, ispyb, login):
    admin = login("admin")
    page = admin.get("/admin/users/")
    assert page.status_code == 200
    assert "MEMBERSHIP_SOURCE=ispyb" in page.text
    visitor = row_of(page.text, "data-user", "visitor")
    assert "lb00000-1" in visitor and ">ISPyB</span>" in visitor
    proposer = row_of(page.text, "data-user", "proposer")
    assert "lb00000" in proposer and ">ISPyB</span>" in proposer
    # the member's own rows are still listed, as local (and not used for access)
    member = row_of(page.text, "data-user", "member")
    assert "lb00000-1" in member and ">local</span>" in member and "ISPyB</span>" not in member
    detail = admin.get(f"/admin/users/{ids(app, 'visitor')['user']}/").text
    assert "<td>ISPyB</td>" in row_of(detail, "data-project", "lb00000-1")


def test_an_unreachable_ispyb_is_shown_per_user_and_the_page_still_renders(app, login):
    app.config.update(
        MEMBERSHIP_SOURCE="ispyb",
        ISPYB_URL=f"mysql+pymysql://launcher:pw@127.0.0.1:{free_port()}/ispyb",
    )
    ispyb_memberships.forget()
    try:
        admin = login("admin")
        page = admin.get("/admin/users/")
        assert page.status_code == 200
        for name in ("member", "colleague", "outsider", "admin"):
            assert "ISPyB unavailable" in row_of(page.text, "data-user", name)
        assert "lb00000-1" in row_of(page.text, "data-user", "member")  # local rows still shown
        detail = admin.get(f"/admin/users/{ids(app)['user']}/")
        assert detail.status_code == 200 and "ISPyB unavailable" in detail.text
        # the admin can still act on local memberships
        done = act(
            admin, f"/admin/users/{ids(app, 'outsider')['user']}/memberships", project="lb00000-1"
        )
        assert "outsider is now a member of lb00000-1" in done.text
    finally:
        ispyb_memberships.forget()
