"""Tokens, paths that try to leave the project, upload size, and launches refused."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import requests
from squonk2.dm_api import DmApi

from tests.squonk_server import SquonkServer

from .conftest import upload

FRAGMENSTEIN = {"collection": "fragmenstein", "job": "fragmenstein-combine", "version": "1.0.0"}
ZERO_PROJECT = "project-00000000-0000-0000-0000-000000000000"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/account-server/namespace"),
        ("GET", "/project"),
        ("POST", "/project"),
        ("GET", f"/project/{ZERO_PROJECT}"),
        ("GET", "/file"),
        ("DELETE", "/file"),
        ("PUT", f"/project/{ZERO_PROJECT}/file"),
        ("GET", f"/project/{ZERO_PROJECT}/file"),
        ("GET", "/job"),
        ("GET", "/job/1"),
        ("GET", "/job/get-by-version"),
        ("POST", "/instance/dry-run"),
        ("POST", "/instance"),
        ("GET", "/instance"),
        ("GET", "/instance/instance-x"),
        ("DELETE", "/instance/instance-x"),
        ("GET", "/task"),
        ("GET", "/task/task-x"),
        ("GET", "/no-such-endpoint"),
    ],
)
def test_missing_or_wrong_token_is_401(dm: SquonkServer, method: str, path: str) -> None:
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": dm.token}):
        response = requests.request(method, dm.url + path, headers=headers, timeout=5)
        assert response.status_code == 401
        assert "error" in response.json()


def test_client_reports_401_for_a_wrong_token(dm: SquonkServer) -> None:
    rv = DmApi.ping("wrong-token")
    assert not rv.success and rv.http_status_code == 401
    assert DmApi.get_version().success  # needs no token


@pytest.mark.parametrize(
    ("path", "file_name"),
    [
        ("/../..", "state.sqlite3"),
        ("/a/../../..", "requests.jsonl"),
        ("/", "../../state.sqlite3"),
        ("/", ".."),
        ("/etc", "passwd"),
        ("/link", "x.txt"),
        ("/", "escape.txt"),
    ],
)
def test_downloads_never_leave_the_project(
    dm: SquonkServer, project: str, path: str, file_name: str, tmp_path: Path
) -> None:
    volume = dm.root / "projects" / project
    (tmp_path / "x.txt").write_text("outside")
    os.symlink(tmp_path, volume / "link")
    os.symlink(tmp_path / "x.txt", volume / "escape.txt")
    response = requests.get(
        f"{dm.url}/project/{project}/file",
        params={"path": path, "file": file_name},
        headers=dm.headers(),
        timeout=5,
    )
    assert response.status_code in (400, 404)
    assert b"outside" not in response.content and b"SQLite" not in response.content


def test_listing_and_deleting_refuse_escapes(dm: SquonkServer, project: str) -> None:
    listing = requests.get(
        f"{dm.url}/file",
        params={"project_id": project, "path": "/../"},
        headers=dm.headers(),
        timeout=5,
    )
    assert listing.status_code == 400
    deleting = requests.delete(
        f"{dm.url}/file",
        params={"project_id": project, "path": "/..", "file": "requests.jsonl"},
        headers=dm.headers(),
        timeout=5,
    )
    assert deleting.status_code == 400
    assert dm.request_log_path.exists()


def test_uploads_refuse_escapes_and_are_capped(
    dm: SquonkServer, project: str, tmp_path: Path
) -> None:
    url = f"{dm.url}/project/{project}/file"
    for path, name in (("/../x", "a.txt"), ("/", "../a.txt"), ("/", "..")):
        response = requests.put(
            url, data={"path": path}, files={"file": (name, b"x")}, headers=dm.headers(), timeout=5
        )
        assert response.status_code == 400, (path, name)
    assert not (dm.root / "projects" / "x").exists()

    big = tmp_path / "big.sdf"
    big.write_bytes(b"0" * (1024 * 1024 + 1))  # the test server caps uploads at 1 MB
    rv = DmApi.put_unmanaged_project_files(
        dm.token, project_id=project, project_files=[str(big)], project_path="/", force=True
    )
    assert not rv.success and rv.http_status_code == 413
    assert not (dm.root / "projects" / project / "big.sdf").exists()


def _start(dm: SquonkServer, project: str, **overrides: object) -> requests.Response:
    form = {
        "application_id": "datamanagerjobs.squonk.it",
        "as_name": "merge 1",
        "project_id": project,
        "specification": json.dumps({**FRAGMENSTEIN, "variables": {}}),
    }
    form.update({k: str(v) for k, v in overrides.items()})
    return requests.post(f"{dm.url}/instance", data=form, headers=dm.headers(), timeout=5)


def _spec(variables: dict[str, object], **job: str) -> str:
    return json.dumps({**FRAGMENSTEIN, **job, "variables": variables})


@pytest.mark.parametrize(
    "overrides",
    [
        {"application_id": "other"},
        {"as_name": "x"},
        {"as_name": " leading space"},
        {"as_name": "bad/char"},
        {"as_name": "a" * 81},
        {"project_id": "project-1"},
        {"callback_url": "ftp://example.org/x"},
        {"callback_url": "http://127.0.0.1:9/cb", "callback_context": "c" * 257},
        {"callback_url": "http://127.0.0.1:9/cb", "callback_token": "short"},
        {"callback_url": "http://127.0.0.1:9/cb", "callback_token": "0" * 22},
        {"specification": "not json"},
        {"specification": json.dumps({"collection": "fragmenstein"})},
        {"specification": _spec({}, job="nope")},
        {"specification": _spec({})},
        {"specification": _spec({"fragments": ["in/a.mol", "in/b.mol"]})},
        {"specification": _spec({"fragments": ["in/a.mol"], "protein": "in/nope.pdb"})},
        {"specification": _spec({"fragments": ["../a.mol"], "protein": "in/p.pdb"})},
        {"specification": _spec({"fragments": ["/etc/passwd"], "protein": "in/p.pdb"})},
        {"specification": _spec({"fragments": ["in/a.mol"], "protein": ["in/p.pdb", "in/a.mol"]})},
        {"specification": _spec({"fragments": ["in/a.mol"], "protein": "in/p.pdb", "count": 0})},
        {"specification": _spec({"fragments": ["in/a.mol"], "protein": "in/p.pdb", "count": "2"})},
        {"specification": _spec({"fragments": ["in/a.mol"], "protein": "in/p.pdb", "x": 1})},
        {
            "specification": _spec(
                {"fragments": ["in/a.mol"], "protein": "in/p.pdb", "outfile": "merged.txt"}
            )
        },
        {
            "specification": _spec(
                {"fragments": ["in/a.mol"], "protein": "in/p.pdb", "outfile": "../../../merged.sdf"}
            )
        },
    ],
)
def test_invalid_launches_are_400_and_start_nothing(
    dm: SquonkServer, project: str, tmp_path: Path, overrides: dict[str, object]
) -> None:
    for name in ("a.mol", "b.mol", "p.pdb"):
        (tmp_path / name).write_text(name)
    upload(dm.token, project, [tmp_path / n for n in ("a.mol", "b.mol", "p.pdb")], "/in")

    for endpoint in ("/instance/dry-run", "/instance"):
        form = {
            "application_id": "datamanagerjobs.squonk.it",
            "as_name": "merge 1",
            "project_id": project,
            "specification": _spec({"fragments": ["in/a.mol", "in/b.mol"], "protein": "in/p.pdb"}),
            **{k: str(v) for k, v in overrides.items()},
        }
        response = requests.post(dm.url + endpoint, data=form, headers=dm.headers(), timeout=5)
        assert response.status_code == 400, (endpoint, response.text)
        assert response.json()["error"]
    assert DmApi.get_project_instances(dm.token, project_id=project).msg["count"] == 0
    assert DmApi.get_tasks(dm.token, project_id=project).msg["count"] == 0
    assert not any(
        p.name.startswith(".instance-") for p in (dm.root / "projects" / project).iterdir()
    )


def test_unknown_project_is_404(dm: SquonkServer) -> None:
    response = _start(dm, ZERO_PROJECT)
    assert response.status_code == 404


def test_request_log_never_holds_a_token(dm: SquonkServer, project: str) -> None:
    requests.get(
        f"{dm.url}/project/{project}/file-with-token",
        params={"path": "/", "file": "x", "token": "SECRETSECRETSECRETSECR"},
        timeout=5,
    )
    text = dm.request_log_path.read_text()
    assert dm.token not in text and "SECRETSECRET" not in text
    last = json.loads(text.splitlines()[-1])
    assert {"time", "method", "path", "status"} <= set(last)
    assert last["status"] == 403
