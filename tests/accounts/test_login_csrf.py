"""Logging in without a (valid) CSRF token says why instead of silently clearing the form."""

from __future__ import annotations

from tests.conftest import PASSWORDS


def test_login_without_a_csrf_token_says_the_session_expired(app, users):
    app.config["WTF_CSRF_ENABLED"] = True
    client = app.test_client()
    answer = client.post("/login", data={"username": "member", "password": PASSWORDS["member"]})
    assert answer.status_code == 400
    assert "Your session expired, please try again." in answer.text
    assert 'value="member"' in answer.text  # what the user typed is kept
    assert client.get("/api/targets/").status_code == 401  # and nobody was logged in
