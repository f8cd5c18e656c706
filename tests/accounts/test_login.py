"""Logging in through the form: a wrong password, and no open redirect afterwards."""

from __future__ import annotations

from tests.support import csrf_token_of


def test_login_rejects_bad_password_and_open_redirect(app, users):
    client = app.test_client()
    token = csrf_token_of(client.get("/login").text)
    bad = client.post(
        "/login", data={"username": "member", "password": "wrong", "csrf_token": token}
    )
    assert bad.status_code == 200 and "Unknown user or wrong password" in bad.text
    good = client.post(
        "/login?next=https://evil.example/",
        data={"username": "member", "password": "member-password", "csrf_token": token},
    )
    assert good.status_code == 302 and good.headers["Location"] == "/targets/"
