"""Bad input is a clear 4xx (JSON under /api/), never a 500, and changes nothing."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import JobFileTransfer, JobRequest, Snapshot
from tests.factories import snapshot as make_snapshot

HUGE = 10**20  # past every database integer
DEEP = "[" * 5000 + "]" * 5000

JSON_POSTS = ["/api/snapshots/", "/api/job_request/", "/api/job_file_transfer/"]


def counts(app) -> tuple[int, int, int]:
    with app.app_context():
        return tuple(
            db.session.scalar(select(func.count()).select_from(model))
            for model in (Snapshot, JobRequest, JobFileTransfer)
        )


@pytest.mark.parametrize("url", JSON_POSTS)
@pytest.mark.parametrize("body", [DEEP, '{"a": ' * 100 + "1" + "}" * 100])
def test_deeply_nested_json_is_refused_before_parsing(app, small_targets, login, url, body):
    member = login("member")
    before = counts(app)
    answer = member.post(url, data=body, content_type="application/json")
    assert answer.status_code == 400
    assert "nests deeper than 32 levels" in answer.json["error"]
    assert counts(app) == before


@pytest.mark.parametrize(
    "url",
    [
        f"/api/job_request/{HUGE}/",
        f"/api/snapshots/{HUGE}/",
        f"/api/job_file_transfer/{HUGE}/",
        f"/api/job_request/{2**63}/",
    ],
)
def test_ids_past_the_database_range_are_404_json(login, users, url):
    answer = login("member").get(url)
    assert answer.status_code == 404 and answer.json == {"error": "Not found"}


@pytest.mark.parametrize("url", [f"/jobs/{HUGE}/", f"/jobs/{HUGE}/status", f"/snapshots/{HUGE}/"])
def test_pages_past_the_id_range_are_404_pages(login, users, url):
    answer = login("member").get(url)
    assert answer.status_code == 404 and "Not found" in answer.text


@pytest.mark.parametrize(
    "url",
    [
        f"/api/job_request/?snapshot={HUGE}",
        "/api/job_request/?snapshot=abc",
        f"/api/job_file_transfer/?snapshot={HUGE}",
        f"/jobs/?snapshot={HUGE}",
    ],
)
def test_query_ids_that_are_no_ids_are_400(login, users, url):
    answer = login("member").get(url)
    assert answer.status_code == 400
    assert "snapshot must be an id" in (answer.json["error"] if answer.is_json else answer.text)


@pytest.mark.parametrize("value", [2**63, HUGE, 0, -1, True, "1", 1.5])
@pytest.mark.parametrize("url", ["/api/job_request/", "/api/job_file_transfer/"])
def test_body_ids_out_of_range_or_of_another_type_are_400(app, small_targets, login, url, value):
    make_snapshot(app, "Mac1")
    before = counts(app)
    body = {"snapshot": value, "job": "x"} if "job_request" in url else {"snapshot": value}
    answer = login("member").post(url, data=json.dumps(body), content_type="application/json")
    assert answer.status_code == 400 and "id" in answer.json["fields"]["snapshot"]
    assert counts(app) == before


def test_an_unexpected_error_under_api_is_json_with_an_incident_id(app, users, login, caplog):
    def broken():
        raise RuntimeError("a bug")

    app.add_url_rule("/api/broken", "broken", broken)
    app.config["PROPAGATE_EXCEPTIONS"] = False  # as in production
    answer = login("member").get("/api/broken")
    assert answer.status_code == 500 and answer.is_json
    incident = answer.json["incident"]
    assert incident in answer.json["error"]
    assert f"incident {incident}" in caplog.text and "a bug" in caplog.text


MAC1_BODY = {"target": "Mac1", "proteins": ["diamond-x0104_A"]}


@pytest.mark.parametrize(
    ("extra", "field", "problem"),
    [
        ({"title": 5}, "title", "must be a string"),
        ({"title": {"a": 1}}, "title", "must be a string"),
        ({"title": []}, "title", "must be a string"),
        ({"description": []}, "description", "must be a string"),
        ({"description": "x" * 2**20}, "description", "may have at most 10,000 characters"),
        ({"title": "t" * 201}, "title", "may have at most 200 characters"),
        ({"target": 7}, "target", "must be a string"),
        ({"target": ""}, "target", "must not be empty"),
        ({"proteins": "diamond-x0104_A"}, "proteins", "must be a list"),
        ({"proteins": [5]}, "proteins.0", "must be a string"),
        ({"proteins": ["a"] * 5001}, "proteins", "may have at most 5,000 items"),
        ({"titel": "typo"}, "titel", "is not a field of this request"),
    ],
)
def test_snapshot_bodies_of_the_wrong_shape_are_400_naming_the_field(
    app, small_targets, login, extra, field, problem
):
    before = counts(app)
    answer = login("member").post("/api/snapshots/", json={**MAC1_BODY, **extra})
    assert answer.status_code == 400
    assert answer.json["fields"][field] == problem
    assert answer.json["error"] == f"{field} {problem}"
    assert counts(app) == before


@pytest.mark.parametrize("missing", ["target", "proteins"])
def test_missing_snapshot_fields_are_named(app, small_targets, login, missing):
    body = {k: v for k, v in MAC1_BODY.items() if k != missing}
    answer = login("member").post("/api/snapshots/", json=body)
    assert answer.status_code == 400 and answer.json["fields"] == {missing: "is required"}


def test_the_snapshot_form_refuses_a_huge_description_too(app, small_targets, login):
    member = login("member")
    before = counts(app)
    page = member.post(
        "/targets/Mac1/snapshots/",
        data={"proteins": ["diamond-x0104_A"], "title": "t", "description": "x" * 2**20},
    )
    assert page.status_code == 302  # back to the target page, which says why
    assert "at most 10,000 characters" in member.get(page.headers["Location"]).text
    assert counts(app) == before


def jobs(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(JobRequest))


@pytest.mark.parametrize(
    ("change", "field", "problem"),
    [
        ({"options": []}, "options", "must be an object"),
        ({"options": "count=1"}, "options", "must be an object"),
        ({"inputs": []}, "inputs", "must be an object"),
        ({"inputs": {"fragments": 5}}, "inputs.fragments", "must be a string or a list"),
        ({"job": 5}, "job", "must be a string"),
        ({"summary": "s" * 201}, "summary", "may have at most 200 characters"),
        ({"run_again": "yes"}, "run_again", "must be true or false"),
        ({"snapshot": "1"}, "snapshot", "must be an id (an integer from 1 to 2147483647)"),
        ({"optoins": {}}, "optoins", "is not a field of this request"),
    ],
)
def test_launch_bodies_of_the_wrong_shape_are_400_naming_the_field(
    app, transferred, login, change, field, problem
):
    from tests.support import fragmenstein_body

    before = jobs(app)
    answer = login("member").post(
        "/api/job_request/", json={**fragmenstein_body(transferred), **change}
    )
    assert answer.status_code == 400, answer.json
    assert answer.json["fields"][field] == problem
    assert jobs(app) == before


def test_a_megabyte_option_is_refused_by_api_and_dialog(app, transferred, login):
    from tests.support import FRAGMENSTEIN, fragmenstein_body

    member = login("member")
    before = jobs(app)
    body = fragmenstein_body(transferred, fragIdField="x" * 2**20)
    answer = member.post("/api/job_request/", json=body)
    assert answer.status_code == 400
    assert answer.json["fields"] == {"fragIdField": "may have at most 10,000 characters"}
    page = member.post(
        f"/snapshots/{transferred}/launch?job={FRAGMENSTEIN}",
        data={
            "inputs-fragments": body["inputs"]["fragments"],
            "inputs-protein": body["inputs"]["protein"],
            "options-count": "1",
            "options-fragIdField": "x" * 20_000,
        },
        headers={"HX-Request": "true"},
    )
    assert page.status_code in (200, 400) and "at most 10,000 characters" in page.text
    assert jobs(app) == before


def test_bulk_status_ids_are_checked(login, users):
    member = login("member")
    for ids in ([2**63], ["1"], list(range(1, 1002)), None):
        answer = member.post("/api/job_status/", json={"ids": ids})
        assert answer.status_code == 400 and "ids" in next(iter(answer.json["fields"]))
