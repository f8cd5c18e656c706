"""The settings page: "E-mail me when my jobs end", the default a launch takes."""

from __future__ import annotations

import re

from sqlalchemy import select

from app.extensions import db
from app.models import JobRequest
from tests.factories import user_of
from tests.support import MAC1_NEIGHBOURS

CHECKBOX = re.compile(r'<input[^>]*name="notify_by_email"[^>]*>')


def checked(page: str) -> bool:
    box = CHECKBOX.search(page)
    assert box, "the page has no e-mail checkbox"
    return "checked" in box.group(0)


def saved_default(app, username: str = "member") -> bool:
    with app.app_context():
        return user_of(username).notify_by_email


def test_the_settings_page_saves_the_default(app, login):
    member = login("member")
    page = member.get("/settings")
    assert page.status_code == 200
    assert "E-mail me when my jobs end" in page.text and "member@example.org" in page.text
    assert not checked(page.text)
    assert 'href="/settings"' in member.get("/targets/").text  # linked from the header

    saved = member.post(
        "/settings", data={"notify_by_email": "y", "csrf_token": member.csrf}, follow_redirects=True
    )
    assert saved.status_code == 200 and "Your settings are saved." in saved.text
    assert checked(saved.text) and saved_default(app) is True
    assert saved_default(app, "colleague") is False  # one's own settings only

    cleared = member.post("/settings", data={"csrf_token": member.csrf}, follow_redirects=True)
    assert not checked(cleared.text) and saved_default(app) is False


def test_a_post_without_the_csrf_token_changes_nothing(app, login):
    member = login("member")
    refused = member.client.post("/settings", data={"notify_by_email": "y"})
    assert refused.status_code == 400
    assert saved_default(app) is False


def test_a_user_without_an_address_is_told(app, login):
    with app.app_context():
        user_of("member").email = None
        db.session.commit()
    page = login("member").get("/settings").text
    assert "no e-mail address" in page


def test_anonymous_is_sent_to_log_in(login, users):
    response = login(None).get("/settings")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def launch(member, snapshot_id: int, conformers: int, **extra):
    """RDKit conformers on the two neighbours (``conformers`` tells the launches apart: the
    same job still running is never launched twice)."""
    body = {
        "snapshot": snapshot_id,
        "job": "rdkit-conformers",
        "inputs": {"inputFile": list(MAC1_NEIGHBOURS)},
        "options": {"numConformers": conformers},
        **extra,
    }
    return member.post("/api/job_request/", json=body)


def test_a_launch_takes_the_default_unless_told(app, login, transferred):
    member = login("member")
    member.post("/settings", data={"notify_by_email": "y", "csrf_token": member.csrf})
    by_default = launch(member, transferred, 1)
    told_not = launch(member, transferred, 2, notify_by_email=False)
    assert (by_default.status_code, told_not.status_code) == (201, 201), by_default.json
    wrong = launch(member, transferred, 3, notify_by_email="yes")
    assert wrong.status_code == 400 and "notify_by_email" in str(wrong.json)
    with app.app_context():
        wanted = dict(db.session.execute(select(JobRequest.id, JobRequest.notify_by_email)).all())
    assert wanted == {by_default.json["id"]: True, told_not.json["id"]: False}

    member.post("/settings", data={"csrf_token": member.csrf})  # default off again
    told_so = launch(member, transferred, 4, notify_by_email=True)
    off = launch(member, transferred, 5)
    with app.app_context():
        assert db.session.get(JobRequest, told_so.json["id"]).notify_by_email is True
        assert db.session.get(JobRequest, off.json["id"]).notify_by_email is False
