"""A body over MAX_CONTENT_LENGTH gets a clean 413 (JSON under /api/), not a reset."""

from __future__ import annotations

import requests
from sqlalchemy import select

from app.extensions import db
from app.models import ApiToken, User


def test_an_oversized_upload_is_answered_413_json(app, small_targets, live_server):
    app.config["MAX_CONTENT_LENGTH"] = 2 * 2**20
    with app.app_context():
        member = db.session.scalar(select(User).where(User.username == "member"))
        row, token = ApiToken.issue(member)
        db.session.add(row)
        db.session.commit()
    bearer = {"Authorization": f"Bearer {token}"}
    body = b"x" * (3 * 2**20)
    for url in ("/api/compound-sets/", "/api/job_callback/whatever/", "/api/snapshots/"):
        answer = requests.post(
            f"{live_server}{url}",
            data=body,
            headers={"Content-Type": "application/octet-stream", **bearer},
            timeout=60,
        )
        assert answer.status_code == 413, url
        assert answer.json() == {"error": "The upload is too large: at most 2 MB"}
    page = requests.post(
        f"{live_server}/computed-sets/upload", data=body, headers=bearer, timeout=60
    )
    assert page.status_code == 413 and "at most 2 MB" in page.text
