"""API tokens with a name and an optional expiry: ``flask users token|tokens|revoke``; a
revoked, expired or disabled user's token gets 401 JSON."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, update

from app.extensions import db
from app.models import ApiToken
from app.models.base import as_utc, utcnow


def issue(runner, *args: str) -> str:
    result = runner.invoke(args=["users", "token", *args])
    assert result.exit_code == 0, result.output
    return result.output.strip()


def api_status(app, token: str, url: str = "/api/targets/"):
    response = app.test_client().get(url, headers={"Authorization": f"Bearer {token}"})
    return response.status_code, response.get_json(silent=True)


def listing(runner, name: str = "member") -> dict[str, list[str]]:
    """``flask users tokens``, one row per token name: [id, created, expires, used, state]."""
    result = runner.invoke(args=["users", "tokens", name])
    assert result.exit_code == 0, result.output
    lines = result.output.strip().splitlines()
    assert lines[0] == "id\tname\tcreated\texpires\tlast used\tstate"
    rows: dict[str, list[str]] = {}
    for line in lines[1:]:
        if "\t" in line:
            token_id, token_name, *rest = line.split("\t")
            rows[token_name] = [token_id, *rest]
    return rows


def test_named_token_with_expiry_is_listed_without_its_secret(app, users, runner):
    assert runner.invoke(args=["users", "tokens", "member"]).output.strip() == (
        "member has no API tokens"
    )
    token = issue(runner, "member", "--name", "ci", "--expires-in", "30d")
    forever = issue(runner, "member")
    assert token.startswith("fjl_") and forever.startswith("fjl_") and token != forever

    rows = listing(runner)
    assert set(rows) == {"ci", f"token-{ApiToken.hash(forever)[:8]}"}
    ci = rows["ci"]
    expected_expiry = (utcnow() + timedelta(days=30)).strftime("%Y-%m-%d")
    assert ci[2].startswith(expected_expiry) and ci[2].endswith("UTC")
    assert ci[3] == "never" and ci[4] == "active"
    assert rows[f"token-{ApiToken.hash(forever)[:8]}"][2] == "never"
    text = runner.invoke(args=["users", "tokens", "member"]).output
    for secret in (token, forever, ApiToken.hash(token), ApiToken.hash(forever)):
        assert secret not in text

    assert api_status(app, token)[0] == 200
    assert listing(runner)["ci"][3].endswith("UTC")  # last used, now known
    with app.app_context():
        row = db.session.scalar(select(ApiToken).where(ApiToken.name == "ci"))
        delta = as_utc(row.expires) - utcnow()
        assert timedelta(days=29, hours=23) < delta <= timedelta(days=30)


def test_revoked_token_gets_401_and_the_others_keep_working(app, users, runner):
    ci = issue(runner, "member", "--name", "ci")
    laptop = issue(runner, "member", "--name", "laptop")
    outsiders = issue(runner, "outsider", "--name", "ci")

    result = runner.invoke(args=["users", "revoke", "member", "ci"])
    assert result.exit_code == 0, result.output
    assert "revoked member's token ci" in result.output
    assert api_status(app, ci) == (401, {"error": "This API token has been revoked"})
    # a revoked token is refused on pages too, as JSON: the caller is a script
    assert api_status(app, ci, "/jobs/") == (401, {"error": "This API token has been revoked"})
    assert api_status(app, laptop)[0] == 200
    assert api_status(app, outsiders)[0] == 200  # same name, another user

    laptop_id = listing(runner)["laptop"][0]
    assert runner.invoke(args=["users", "revoke", "member", laptop_id]).exit_code == 0
    assert api_status(app, laptop)[0] == 401
    rows = listing(runner)
    assert rows["ci"][4].startswith("revoked ") and rows["laptop"][4].startswith("revoked ")

    again = runner.invoke(args=["users", "revoke", "member", "ci"])
    assert again.exit_code != 0 and "already revoked" in again.output
    again = runner.invoke(args=["users", "revoke", "member", laptop_id])
    assert again.exit_code != 0 and "already revoked" in again.output
    unknown = runner.invoke(args=["users", "revoke", "member", "nope"])
    assert unknown.exit_code != 0 and "member has no token 'nope'" in unknown.output

    # a revoked token's name can be given to a new one, which works
    new_ci = issue(runner, "member", "--name", "ci")
    assert api_status(app, new_ci)[0] == 200 and api_status(app, ci)[0] == 401


def test_a_user_cannot_revoke_another_users_token_by_id(app, users, runner):
    token = issue(runner, "member", "--name", "ci")
    token_id = listing(runner)["ci"][0]
    result = runner.invoke(args=["users", "revoke", "outsider", token_id])
    assert result.exit_code != 0 and f"outsider has no token '{token_id}'" in result.output
    assert api_status(app, token)[0] == 200


def test_expired_token_gets_401(app, users, runner):
    token = issue(runner, "member", "--name", "short", "--expires-in", "45m")
    assert api_status(app, token)[0] == 200
    with app.app_context():
        db.session.execute(
            update(ApiToken)
            .where(ApiToken.name == "short")
            .values(expires=utcnow() - timedelta(seconds=1))
        )
        db.session.commit()
    assert api_status(app, token) == (401, {"error": "This API token has expired"})
    assert listing(runner)["short"][4] == "expired"
    response = app.test_client().get("/api/targets/", headers={"Authorization": f"Bearer {token}"})
    assert response.headers["WWW-Authenticate"] == 'Bearer error="invalid_token"'


def test_disabled_users_tokens_get_401_until_enabled(app, users, runner):
    token = issue(runner, "member", "--name", "ci")
    assert runner.invoke(args=["users", "disable", "member"]).exit_code == 0
    disabled = {"error": "This account is disabled. Ask an administrator to enable it."}
    assert api_status(app, token) == (401, disabled)
    result = runner.invoke(args=["users", "tokens", "member"])
    assert "member is disabled: none of these tokens is accepted" in result.output
    assert runner.invoke(args=["users", "enable", "member"]).exit_code == 0
    assert api_status(app, token)[0] == 200


def test_unknown_token_gets_401(app, users):
    assert api_status(app, "fjl_nope") == (401, {"error": "Unknown API token"})


@pytest.mark.parametrize(
    "args,message",
    [
        (["--name", "12"], "not only digits"),
        (["--name", "has space"], "letters, digits"),
        (["--name", "x" * 101], "up to 100"),
        (["--expires-in", "0"], "positive number"),
        (["--expires-in", "soon"], "positive number"),
        (["--expires-in", "-3d"], "positive number"),
    ],
)
def test_bad_token_options_issue_nothing(app, users, runner, args, message):
    result = runner.invoke(args=["users", "token", "member", *args])
    assert result.exit_code != 0 and message in result.output
    with app.app_context():
        assert db.session.scalars(select(ApiToken)).all() == []


def test_a_live_tokens_name_is_not_given_twice(app, users, runner):
    issue(runner, "member", "--name", "ci")
    twice = runner.invoke(args=["users", "token", "member", "--name", "ci"])
    assert twice.exit_code != 0 and "member already has a token called 'ci'" in twice.output
    assert list(listing(runner)) == ["ci"]
    missing = runner.invoke(args=["users", "tokens", "nobody"])
    assert missing.exit_code != 0 and "no user called 'nobody'" in missing.output
