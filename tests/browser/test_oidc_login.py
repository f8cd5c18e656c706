"""In Chromium: log in through the OpenID provider's authorization page (oidc-provider-mock
on loopback), land on Targets as the SSO user, log out, and out of the provider too.

What the logout part proves: our logout sends the browser to the provider's
end_session_endpoint with our client_id and post_logout_redirect_uri (and no token), the
provider's page shows it received them, and confirming sends the browser back to our login
page, logged out (our cookie no longer logs anyone in). oidc-provider-mock keeps no log-in
session of its own (its end-session page says so), so "its session is gone" can only be
shown as: logging in again goes through its authorization form, asking who you are.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.conftest import screenshot
from tests.oidc_provider import CLIENT_ID, oidc_provider, query_of, use_provider


@pytest.fixture
def provider():
    with oidc_provider(require_nonce=True) as running:
        yield running


def test_log_in_through_the_provider_and_log_out_of_both(app, live_server, page, provider):
    use_provider(app, provider)
    app.config["EXTERNAL_URL"] = live_server
    provider.set_user("sub-sso-1", preferred_username="sso-scientist", email="sso@example.org")
    # the provider's pages ask a CDN for a style sheet: nothing leaves this machine
    page.route("https://cdn.jsdelivr.net/**", lambda route: route.abort())
    at_provider: list[tuple[str, str]] = []
    page.on(
        "request",
        lambda r: at_provider.append((r.method, r.url)) if r.url.startswith(provider.url) else None,
    )

    page.goto(f"{live_server}/login")
    button = page.get_by_role("link", name="Log in with Diamond (Keycloak)")
    expect(button).to_be_visible()
    screenshot(page, "oidc-1-login-page")
    button.click()

    # the provider's authorization page: the tester says who they are
    page.wait_for_url(f"{provider.url}/oauth2/authorize?**")
    expect(page.locator("h1")).to_have_text("Authorize Client")
    expect(page.get_by_text(f"Client ID: {CLIENT_ID}")).to_be_visible()
    page.fill("input[name=sub]", "sub-sso-1")
    screenshot(page, "oidc-2-provider-authorize")
    page.get_by_role("button", name="Authorize").click()

    page.wait_for_url(f"{live_server}/targets/")
    expect(page.locator("header.site .who span")).to_have_text("sso-scientist")
    expect(page.locator("h1")).to_be_visible()
    screenshot(page, "oidc-3-targets-as-sso-user")

    page.get_by_role("button", name="Log out").click()
    page.wait_for_url(f"{provider.url}/oauth2/end_session?**")
    expect(page.locator("h1")).to_have_text("End Session")
    page.locator("details summary").click()
    received = page.locator("details dl")
    expect(received).to_contain_text("client_id")
    expect(received).to_contain_text(CLIENT_ID)
    expect(received).to_contain_text(f"{live_server}/login")
    expect(received).not_to_contain_text("id_token_hint")
    screenshot(page, "oidc-4-provider-end-session")
    page.get_by_role("button", name="End session").click()

    page.wait_for_url(f"{live_server}/login**")
    expect(page.locator(".flash")).to_contain_text("You are logged out")
    expect(page.locator("header.site .who")).to_have_count(0)
    screenshot(page, "oidc-5-back-logged-out")

    end_session = [url for method, url in at_provider if "/oauth2/end_session?" in url]
    assert len(end_session) == 1
    assert query_of(end_session[0]) == {
        "client_id": CLIENT_ID,
        "post_logout_redirect_uri": f"{live_server}/login",
    }
    assert ("POST", f"{provider.url}/oauth2/end_session/confirm") in at_provider

    # our session is gone: Targets sends us to the login page
    page.goto(f"{live_server}/targets/")
    page.wait_for_url(f"{live_server}/login?next=**")
    # and the provider logs nobody in silently: its form asks who you are again
    page.get_by_role("link", name="Log in with Diamond (Keycloak)").click()
    page.wait_for_url(f"{provider.url}/oauth2/authorize?**")
    expect(page.locator("input[name=sub]")).to_be_visible()
    expect(page.locator("input[name=sub]")).to_have_value("")
    screenshot(page, "oidc-6-provider-asks-again")
