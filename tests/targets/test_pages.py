"""Target pages and the targets/snapshots JSON API as a scientist uses them: proteins with
depictions, search and paging partials, snapshots from the form and the API."""

from __future__ import annotations

import re

from sqlalchemy import select

from app.extensions import db
from app.models import Snapshot
from tests.support import MAC1_NEIGHBOURS


def test_target_page_lists_proteins_with_depictions_smiles_and_files(login, small_targets):
    page = login("outsider").get("/targets/Mac1/")
    assert page.status_code == 200
    assert page.text.count('name="proteins"') == len(small_targets["Mac1"])
    for code in small_targets["Mac1"]:
        assert code in page.text
    assert page.text.count('class="file yes"') == 2 * len(small_targets["Mac1"])
    assert "<code>" in page.text and "depiction.svg" in page.text
    assert page.headers["Vary"] == "HX-Request" or "HX-Request" in page.headers["Vary"]


def test_search_and_paging_partials(app, login, small_targets):
    app.config["PROTEINS_PER_PAGE"] = 4
    total = len(small_targets["Mac1"])
    session = login("outsider")
    headers = {"HX-Request": "true", "HX-Target": "protein-table"}
    first = session.get("/targets/Mac1/", headers=headers)
    assert "<html" not in first.text  # a fragment, not a page
    assert first.text.count('name="proteins"') == 4
    assert 'aria-current="page">1<' in first.text
    last_page = -(-total // 4)
    last = session.get(f"/targets/Mac1/?page={last_page}", headers=headers)
    assert last.text.count('name="proteins"') == total - 4 * (last_page - 1)
    assert small_targets["Mac1"][-1] in last.text
    found = session.get("/targets/Mac1/?q=x0104", headers=headers)
    assert found.text.count('name="proteins"') == 1 and "diamond-x0104_A" in found.text
    none = session.get("/targets/Mac1/?q=%25", headers=headers)
    assert "No protein matches." in none.text
    # the same URL without HTMX is the whole page, so links work without JavaScript
    assert "<html" in session.get("/targets/Mac1/?q=x0104").text


def test_create_snapshot_from_form_and_show_it(app, login, small_targets):
    member = login("member")
    response = member.post(
        "/targets/Mac1/snapshots/",
        data={
            "proteins": list(MAC1_NEIGHBOURS),
            "title": "adenosine site pair",
            "csrf_token": member.csrf,
        },
    )
    assert response.status_code == 302
    page = member.get(response.headers["Location"])
    assert "adenosine site pair" in page.text and "2 proteins" in page.text
    assert all(code in page.text for code in MAC1_NEIGHBOURS)
    listing = member.get("/targets/Mac1/snapshots/")
    assert "adenosine site pair" in listing.text


def test_bad_snapshot_input_changes_nothing(app, login, small_targets):
    member = login("member")
    empty = member.post(
        "/targets/Mac1/snapshots/", data={"csrf_token": member.csrf}, follow_redirects=True
    )
    assert "Select at least one protein" in empty.text
    foreign = member.post(
        "/api/snapshots/",
        json={"target": "Mac1", "proteins": [MAC1_NEIGHBOURS[0], small_targets["Mpro"][0]]},
    )
    assert foreign.status_code == 400
    assert small_targets["Mpro"][0] in foreign.json["error"]
    wrong_type = member.post("/api/snapshots/", json={"target": "Mac1", "proteins": "x0104"})
    assert wrong_type.status_code == 400 and "list" in wrong_type.json["error"]
    not_json = member.post("/api/snapshots/", data="nope", content_type="text/plain")
    assert not_json.status_code == 400
    with app.app_context():
        assert db.session.scalar(select(db.func.count(Snapshot.id))) == 0


def test_api_targets_proteins_and_snapshots(login, small_targets):
    member = login("member")
    targets = {t["title"]: t for t in member.get("/api/targets/").json}
    assert targets["Mac1"]["protein_count"] == len(small_targets["Mac1"])
    assert targets["Mac1"]["open_to_public"] is True and targets["Mpro"]["project"] == "lb00000-1"
    assert re.match(r"\d{4}-\d\d-\d\dT.*\+00:00$", targets["Mac1"]["last_updated_datetime"])
    proteins = member.get("/api/targets/Mpro/proteins/").json
    assert proteins[0]["files"] == {"mol": True, "apo_desolv": False}
    created = member.post(
        "/api/snapshots/", json={"target": "Mac1", "proteins": list(MAC1_NEIGHBOURS)}
    )
    assert created.status_code == 201
    fetched = member.get(f"/api/snapshots/{created.json['id']}/").json
    assert fetched["proteins"] == sorted(MAC1_NEIGHBOURS) and fetched["author"] == "member"
