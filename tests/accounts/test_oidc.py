"""Logging in through an OpenID provider (oidc-provider-mock, a real Authlib provider on
loopback): users created and found by subject, admin from a role claim, refusals that end
on the login page with a 400, ``next`` kept, local log-in switched off, start-up errors."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from app import create_app
from app.accounts import oidc
from app.accounts.service import ACCOUNT_DISABLED, disable_user
from app.extensions import db
from app.models import User
from tests.oidc_provider import CLIENT_ID, local_path, oidc_provider, query_of, use_provider
from tests.support import csrf_token_of, free_port

CALLBACK = "http://127.0.0.1:5000/auth/oidc/callback"  # the test app's EXTERNAL_URL


@pytest.fixture(scope="module")
def provider():
    with oidc_provider(require_nonce=True) as running:
        yield running


@pytest.fixture
def sso(app, provider):
    """The app configured for the provider."""
    use_provider(app, provider)
    return provider


def start(client, query: str = "") -> str:
    """Press "Log in with ..." : the provider's authorization URL we are sent to."""
    response = client.get(f"/auth/oidc/login{query}")
    assert response.status_code == 302, response.text
    return response.headers["Location"]


def back_from(provider, location: str) -> str:
    """The callback path the provider sent the browser to (checked to be ours)."""
    assert location.split("?")[0] == CALLBACK
    return local_path(location)


def sso_log_in(app, provider, sub: str, query: str = "", client=None):
    """The whole round trip as ``sub``: our callback's answer (and the client)."""
    client = client or app.test_client()
    callback = back_from(provider, provider.authorize(start(client, query), sub))
    return client.get(callback), client


def user_of(app, sub: str, provider) -> User | None:
    with app.app_context():
        subject = f"{provider.url}|{sub}"
        return db.session.scalar(select(User).where(User.external_subject == subject))


def session_of(app, client) -> dict:
    cookie = client.get_cookie(app.config.get("SESSION_COOKIE_NAME", "session"))
    return app.session_interface.get_signing_serializer(app).loads(cookie.value)


def test_first_log_in_creates_the_user_and_the_next_finds_it(app, sso, caplog):
    sso.set_user("sub-jdoe", preferred_username="jdoe", email="jdoe@example.org")
    client = app.test_client()
    authorize = start(client)
    asked = query_of(authorize)
    # what the callback needs waits in the (signed) cookie, and in no log line
    waiting = session_of(app, client)[f"_state_oidc_{asked['state']}"]["data"]
    assert waiting["nonce"] == asked["nonce"]
    assert waiting["code_verifier"] not in caplog.text
    assert authorize.startswith(f"{sso.url}/oauth2/authorize?")
    assert asked["redirect_uri"] == CALLBACK and asked["client_id"] == CLIENT_ID
    assert asked["code_challenge_method"] == "S256" and len(asked["code_challenge"]) >= 43
    assert asked["state"] and asked["nonce"] and asked["scope"] == "openid profile email"

    answer = client.get(back_from(sso, sso.authorize(authorize, "sub-jdoe")))
    assert answer.status_code == 302 and answer.headers["Location"] == "/targets/"
    page = client.get("/targets/")
    assert page.status_code == 200 and "jdoe" in page.text
    user = user_of(app, "sub-jdoe", sso)
    assert (user.username, user.email, user.is_admin) == ("jdoe", "jdoe@example.org", False)
    assert user.password_hash is None
    # the cookie holds who is logged in and how, no token, no nonce or PKCE verifier left
    cookie = session_of(app, client)
    assert cookie.get(oidc.SESSION_FLAG) is True
    assert not [key for key in cookie if key.startswith("_state_")]
    assert "eyJ" not in str(cookie)

    sso.set_user("sub-jdoe", preferred_username="jdoe", email="john.doe@example.org")
    again, _ = sso_log_in(app, sso, "sub-jdoe")
    assert again.status_code == 302
    found = user_of(app, "sub-jdoe", sso)
    assert found.id == user.id and found.email == "john.doe@example.org"
    with app.app_context():
        assert db.session.scalar(select(func.count(User.id))) == 1


@pytest.mark.parametrize(
    "claims",
    [
        {"realm_access": {"roles": ["offline_access", "launcher-admin"]}},
        {"resource_access": {CLIENT_ID: {"roles": ["launcher-admin"]}}},
        {"roles": ["launcher-admin"]},
        {"groups": ["/launcher-admin"]},
    ],
    ids=["realm-role", "client-role", "roles", "group"],
)
def test_admin_role_claim_makes_an_admin_and_its_removal_unmakes(app, sso, claims):
    app.config["OIDC_ADMIN_ROLE"] = "launcher-admin"
    sso.set_user("sub-boss", preferred_username="boss", **claims)
    sso_log_in(app, sso, "sub-boss")
    assert user_of(app, "sub-boss", sso).is_admin
    # another client's role of that name, or a role of another name, is not it
    sso.set_user(
        "sub-boss",
        preferred_username="boss",
        realm_access={"roles": ["launcher-user"]},
        resource_access={"other-client": {"roles": ["launcher-admin"]}},
    )
    _, client = sso_log_in(app, sso, "sub-boss")
    assert not user_of(app, "sub-boss", sso).is_admin
    assert client.get("/admin/targets/").status_code == 404


def test_without_admin_role_setting_the_admin_flag_stays_local(app, sso):
    sso.set_user("sub-kept", preferred_username="kept", roles=["launcher-admin"])
    sso_log_in(app, sso, "sub-kept")
    assert not user_of(app, "sub-kept", sso).is_admin
    with app.app_context():
        db.session.get(User, user_of(app, "sub-kept", sso).id).is_admin = True
        db.session.commit()
    sso_log_in(app, sso, "sub-kept")
    assert user_of(app, "sub-kept", sso).is_admin


def test_a_taken_username_is_not_merged_into(app, users, sso):
    sso.set_user("sub-other", preferred_username="member", email="someone@example.org")
    answer, client = sso_log_in(app, sso, "sub-other")
    assert answer.status_code == 302
    newcomer = user_of(app, "sub-other", sso)
    assert newcomer.username == "member-2" and "member-2" in client.get("/targets/").text
    with app.app_context():
        local = db.session.scalar(select(User).where(User.username == "member"))
        assert local.external_subject is None and local.email != "someone@example.org"
        assert local.check_password(users["member"])


def test_refused_at_the_provider_is_a_400_on_the_login_page(app, sso):
    client = app.test_client()
    denied = client.get(back_from(sso, sso.deny(start(client))))
    assert "error=access_denied" in denied.request.full_path
    assert denied.status_code == 400
    assert "cancelled or refused" in denied.text and 'name="password"' in denied.text
    assert client.get("/targets/").status_code == 302  # still anonymous
    other = client.get("/auth/oidc/callback?error=server_error&error_description=%3Cb%3Ex")
    assert other.status_code == 400 and "could not be completed" in other.text
    assert "<b>x" not in other.text


def test_a_bad_or_missing_state_is_a_400(app, sso):
    sso.set_user("sub-state", preferred_username="state")
    client = app.test_client()
    location = sso.authorize(start(client), "sub-state")
    forged = re.sub(r"state=[^&]+", "state=forged", back_from(sso, location))
    answer = client.get(forged)
    assert answer.status_code == 400
    assert "the log-in expired or was started elsewhere" in answer.text
    # a callback this browser never started (another browser's, or replayed)
    stranger = app.test_client().get(back_from(sso, location))
    assert stranger.status_code == 400 and "could not be completed" in stranger.text
    assert user_of(app, "sub-state", sso) is None


def test_an_id_token_with_another_nonce_is_a_400(app, sso):
    """A code obtained for another authorization request (code injection): its ID token
    carries that request's nonce, not the one this browser's log-in remembered."""
    sso.set_user("sub-nonce", preferred_username="nonce")
    client = app.test_client()
    authorize = start(client)
    state = query_of(authorize)["state"]
    elsewhere = re.sub(r"nonce=[^&]+", "nonce=another-nonce", authorize)
    code = query_of(sso.authorize(elsewhere, "sub-nonce"))["code"]
    answer = client.get(f"/auth/oidc/callback?code={code}&state={state}")
    assert answer.status_code == 400 and "ID token failed the checks" in answer.text
    assert user_of(app, "sub-nonce", sso) is None
    assert client.get("/targets/").status_code == 302


def test_next_and_embed_survive_the_round_trip(app, sso):
    sso.set_user("sub-next", preferred_username="next")
    client = app.test_client()
    anonymous = client.get("/jobs/?page=2")
    login_url = anonymous.headers["Location"]
    assert login_url.startswith("/login?next=")
    page = client.get(login_url + "&embed=1")
    button = re.search(r'id="oidc-login"\s+href="([^"]+)"', page.text).group(1)
    query = query_of(button.replace("&amp;", "&"))
    assert query == {"next": "/jobs/?page=2", "embed": "1"}
    client = app.test_client()  # a fresh browser following the button
    answer, _ = sso_log_in(
        app, sso, "sub-next", "?" + button.split("?", 1)[1].replace("&amp;", "&"), client
    )
    # begun inside the frame: back into it through the check step, which finds the session
    assert answer.headers["Location"] == "/login/check?next=/jobs/?page%3D2&embed=1"
    checked = client.get(answer.headers["Location"])
    assert checked.headers["Location"] == "/jobs/?page=2&embed=1"
    assert 'class="embed"' in client.get(checked.headers["Location"]).text
    assert 'class="embed"' not in client.get("/targets/").text  # a tab: the full chrome
    # begun in a tab: straight to next
    answer, _ = sso_log_in(app, sso, "sub-next", "?next=/jobs/")
    assert answer.headers["Location"] == "/jobs/"
    # an open redirect is refused: home instead
    answer, _ = sso_log_in(app, sso, "sub-next", "?next=https://evil.example/")
    assert answer.headers["Location"] == "/targets/"


def test_a_disabled_user_is_refused_with_the_local_message(app, sso):
    sso.set_user("sub-gone", preferred_username="gone")
    sso_log_in(app, sso, "sub-gone")
    with app.app_context():
        disable_user(db.session.get(User, user_of(app, "sub-gone", sso).id))
    answer, client = sso_log_in(app, sso, "sub-gone")
    assert answer.status_code == 403 and ACCOUNT_DISABLED in answer.text
    assert client.get("/targets/").status_code == 302


def test_logout_ends_the_provider_session_too(app, users, sso):
    sso.set_user("sub-out", preferred_username="out")
    _, client = sso_log_in(app, sso, "sub-out")
    token = csrf_token_of(client.get("/targets/").text)
    out = client.post("/logout", data={"csrf_token": token})
    assert out.status_code == 302
    assert out.headers["Location"].startswith(f"{sso.url}/oauth2/end_session?")
    asked = query_of(out.headers["Location"])
    assert asked == {
        "client_id": CLIENT_ID,
        "post_logout_redirect_uri": "http://127.0.0.1:5000/login",
    }
    assert client.get("/targets/").status_code == 302
    assert oidc.SESSION_FLAG not in session_of(app, client)
    # a local user's logout stays here
    local = app.test_client()
    page = local.get("/login")
    local.post(
        "/login",
        data={
            "username": "member",
            "password": users["member"],
            "csrf_token": csrf_token_of(page.text),
        },
    )
    out = local.post("/logout", data={"csrf_token": csrf_token_of(local.get("/targets/").text)})
    assert out.headers["Location"] == "/login"


def test_login_page_puts_the_provider_first(app, sso):
    page = app.test_client().get("/login")
    assert page.status_code == 200
    assert page.text.index("Log in with Diamond (Keycloak)") < page.text.index('name="password"')
    app.config["OIDC_PROVIDER_NAME"] = "XChem SSO"
    assert "Log in with XChem SSO" in app.test_client().get("/login").text


def test_without_oidc_the_login_page_is_as_before(app):
    page = app.test_client().get("/login")
    assert page.status_code == 200 and 'name="password"' in page.text
    assert "Log in with" not in page.text and 'class="primary"' in page.text
    assert app.test_client().get("/auth/oidc/login").status_code == 404
    assert app.test_client().get("/auth/oidc/callback?code=x&state=y").status_code == 404


def test_local_login_off_hides_and_refuses_the_form(app, users, sso):
    app.config["LOCAL_LOGIN"] = False
    client = app.test_client()
    page = client.get("/login")
    assert "Log in with Diamond (Keycloak)" in page.text and 'name="password"' not in page.text
    refused = client.post(
        "/login",
        data={
            "username": "member",
            "password": users["member"],
            "csrf_token": csrf_token_of(page.text),
        },
    )
    assert refused.status_code == 403
    assert "switched off here: log in with Diamond (Keycloak)" in refused.text
    assert client.get("/targets/").status_code == 302


def test_an_unreachable_provider_is_a_502_not_a_500(app):
    app.config.update(
        OIDC_ISSUER=f"http://127.0.0.1:{free_port()}",
        OIDC_CLIENT_ID=CLIENT_ID,
        OIDC_CLIENT_SECRET="unused-secret",
    )
    answer = app.test_client().get("/auth/oidc/login")
    assert answer.status_code == 502 and "cannot be reached right now" in answer.text


BASE = {"SECRET_KEY": "k", "SQLALCHEMY_DATABASE_URI": "sqlite://"}
ISSUER = "https://keycloak.example.org/realms/xchem"


@pytest.mark.parametrize(
    ("settings", "named"),
    [
        ({"OIDC_ISSUER": ISSUER}, "OIDC_CLIENT_ID must be set"),
        ({"OIDC_ISSUER": ISSUER, "OIDC_CLIENT_ID": "c"}, "OIDC_CLIENT_SECRET must be set"),
        ({"LOCAL_LOGIN": False}, "LOCAL_LOGIN may be false only when OIDC_ISSUER is set"),
        ({"OIDC_ISSUER": "http://keycloak.example.org/realms/x"}, "OIDC_ISSUER must be an https"),
        (
            {
                "OIDC_ISSUER": ISSUER,
                "OIDC_CLIENT_ID": "c",
                "OIDC_CLIENT_SECRET": "s",
                "OIDC_SCOPES": "profile",
            },
            "OIDC_SCOPES must include openid",
        ),
    ],
)
def test_incomplete_settings_stop_start_up(settings, named):
    with pytest.raises(RuntimeError, match=re.escape(named)):
        create_app({**BASE, **settings})


def test_settings_from_the_environment(monkeypatch):
    monkeypatch.setenv("OIDC_ISSUER", ISSUER + "/")
    with pytest.raises(RuntimeError, match="OIDC_CLIENT_ID must be set"):
        create_app(BASE)
    monkeypatch.setenv("OIDC_CLIENT_ID", "launcher")
    monkeypatch.setenv("OIDC_CLIENT_SECRET", "s3cret")
    monkeypatch.setenv("LOCAL_LOGIN", "false")
    config = create_app(BASE).config
    assert config["OIDC_ISSUER"] == ISSUER and config["LOCAL_LOGIN"] is False
    assert config["OIDC_SCOPES"] == "openid profile email"
    assert config["OIDC_PROVIDER_NAME"] == "Diamond (Keycloak)"
    monkeypatch.delenv("OIDC_ISSUER")
    with pytest.raises(RuntimeError, match="LOCAL_LOGIN may be false"):
        create_app(BASE)
