"""``flask users``: create, add to a project, issue a token that the API accepts."""

from __future__ import annotations

from sqlalchemy import select

from app.extensions import db
from app.models import User


def test_users_create_add_to_project_and_token(app, runner):
    result = runner.invoke(
        args=[
            "users",
            "create",
            "carol",
            "--password",
            "long-enough-1",
            "--email",
            "c@example.org",
            "--admin",
        ]
    )
    assert result.exit_code == 0, result.output
    assert "created admin user carol" in result.output
    again = runner.invoke(args=["users", "create", "carol", "--password", "long-enough-1"])
    assert again.exit_code != 0 and "already exists" in again.output
    short = runner.invoke(args=["users", "create", "dave", "--password", "short"])
    assert short.exit_code != 0 and "at least 8" in short.output

    assert runner.invoke(args=["users", "add-to-project", "carol", "lb12345-1"]).exit_code == 0
    token = runner.invoke(args=["users", "token", "carol"]).output.strip()
    assert token.startswith("fjl_") and len(token) > 30
    with app.app_context():
        carol = db.session.scalar(select(User).where(User.username == "carol"))
        assert carol.is_admin and [p.title for p in carol.projects] == ["lb12345-1"]
        assert carol.password_hash != "long-enough-1" and carol.check_password("long-enough-1")
    response = app.test_client().get("/api/targets/", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200
    bad = app.test_client().get("/api/targets/", headers={"Authorization": "Bearer fjl_nope"})
    assert bad.status_code == 401

    missing = runner.invoke(args=["users", "token", "nobody"])
    assert missing.exit_code != 0 and "no user called 'nobody'" in missing.output
