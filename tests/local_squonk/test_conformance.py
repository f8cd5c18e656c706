"""Every CONTRACTS.md section 1 call through the real im-squonk2-client DmApi."""

from __future__ import annotations

from pathlib import Path

from squonk2.dm_api import TEST_PRODUCT_ID, DmApi

from tests.squonk_server import SquonkServer
from tests.support import wait_for

from .conftest import upload, wait_final

CONFORMERS = {"collection": "rdkit", "job": "rdkit-conformers", "version": "1.0.0"}


def _conformer_spec(inputs: list[str], **options: object) -> dict[str, object]:
    return {**CONFORMERS, "variables": {"inputFile": inputs, **options}}


def test_version_and_ping(dm: SquonkServer) -> None:
    rv = DmApi.get_version()
    assert rv.success and rv.http_status_code == 200
    assert rv.msg["version"]
    rv = DmApi.ping(dm.token)
    assert rv.success and rv.msg["namespace"]


def test_projects(dm: SquonkServer) -> None:
    rv = DmApi.create_project(
        dm.token,
        project_name="conformance-projects",
        as_tier_product_id=TEST_PRODUCT_ID,
        private=True,
    )
    assert rv.success and rv.http_status_code == 201
    project_id = rv.msg["project_id"]
    assert project_id.startswith("project-")

    rv = DmApi.get_available_projects(dm.token, project_name="conformance-projects")
    assert rv.success and rv.msg["count"] == 1
    assert rv.msg["projects"][0]["project_id"] == project_id
    assert rv.msg["projects"][0]["name"] == "conformance-projects"
    rv = DmApi.get_available_projects(dm.token)
    assert rv.success and project_id in {p["project_id"] for p in rv.msg["projects"]}

    rv = DmApi.get_project(dm.token, project_id=project_id)
    assert rv.success and rv.msg["project_id"] == project_id and rv.msg["private"] is True

    missing = DmApi.get_project(dm.token, project_id="project-00000000-0000-0000-0000-000000000000")
    assert not missing.success and missing.http_status_code == 404

    duplicate = DmApi.create_project(
        dm.token, project_name="conformance-projects", as_tier_product_id=TEST_PRODUCT_ID
    )
    assert not duplicate.success and duplicate.http_status_code == 409
    bad_product = DmApi.create_project(dm.token, project_name="x", as_tier_product_id="nope")
    assert not bad_product.success and bad_product.http_status_code == 400


def test_files_round_trip(dm: SquonkServer, project: str, tmp_path: Path) -> None:
    source = tmp_path / "hit.mol"
    source.write_text("x0001\n  test\n\n  0  0  0  0  0  0  0  0  0  0999 V2000\nM  END\n")
    upload(dm.token, project, [source], "/fragalysis-files/target")

    rv = DmApi.list_project_files(
        dm.token, project_id=project, project_path="/fragalysis-files/target"
    )
    assert rv.success and rv.msg["count"] == 1 and rv.msg["path"] == "/fragalysis-files/target"
    entry = rv.msg["files"][0]
    assert entry["file_name"] == "hit.mol"
    assert entry["stat"]["size"] == source.stat().st_size
    assert entry["mime_type"] == "chemical/x-mdl-molfile"
    assert entry["immutable"] is False
    root = DmApi.list_project_files(dm.token, project_id=project, project_path="/")
    assert root.success and root.msg["paths"] == ["fragalysis-files"]

    missing = DmApi.list_project_files(dm.token, project_id=project, project_path="/nope")
    assert not missing.success and missing.http_status_code == 404

    local = tmp_path / "download.mol"
    rv = DmApi.get_unmanaged_project_file(
        dm.token,
        project_id=project,
        project_file="hit.mol",
        local_file=str(local),
        project_path="/fragalysis-files/target",
    )
    assert rv.success and local.read_bytes() == source.read_bytes()
    rv = DmApi.get_unmanaged_project_file(
        dm.token,
        project_id=project,
        project_file="nope.mol",
        local_file=str(local),
        project_path="/fragalysis-files/target",
    )
    assert not rv.success and rv.http_status_code == 404

    rv = DmApi.delete_unmanaged_project_files(
        dm.token,
        project_id=project,
        project_files=["hit.mol"],
        project_path="/fragalysis-files/target",
    )
    assert rv.success
    rv = DmApi.list_project_files(
        dm.token, project_id=project, project_path="/fragalysis-files/target"
    )
    assert rv.success and rv.msg["count"] == 0
    rv = DmApi.delete_unmanaged_project_files(
        dm.token,
        project_id=project,
        project_files=["hit.mol"],
        project_path="/fragalysis-files/target",
    )
    assert not rv.success and rv.http_status_code == 404


def test_upload_without_force_skips_existing_files(
    dm: SquonkServer, project: str, tmp_path: Path
) -> None:
    files = []
    for name in ("a.mol", "b.mol"):
        files.append(tmp_path / name)
        files[-1].write_text(name)
    upload(dm.token, project, files, "/inputs")
    before = len([u for u in dm.uploads() if u["project_id"] == project])

    rv = DmApi.put_unmanaged_project_files(
        dm.token, project_id=project, project_files=[str(f) for f in files], project_path="/inputs"
    )
    assert rv.success
    after = [u for u in dm.uploads() if u["project_id"] == project]
    assert before == 2 and len(after) == 2
    assert {u["file"] for u in after} == {"a.mol", "b.mol"}
    assert {u["upload"]["path"] for u in after} == {"/inputs"}


def test_jobs_catalogue(dm: SquonkServer) -> None:
    rv = DmApi.get_available_jobs(dm.token)
    assert rv.success
    keys = {(j["collection"], j["job"], j["version"]) for j in rv.msg["jobs"]}
    assert ("fragmenstein", "fragmenstein-combine", "1.0.0") in keys
    assert ("rdkit", "rdkit-conformers", "1.0.0") in keys
    assert rv.msg["count"] == len(rv.msg["jobs"])

    rv = DmApi.get_job_by_version(
        dm.token, job_collection="fragmenstein", job_job="fragmenstein-combine", job_version="1.0.0"
    )
    assert rv.success
    variables = rv.msg["variables"]
    assert set(variables["inputs"]["properties"]) == {"fragments", "protein"}
    assert variables["inputs"]["properties"]["fragments"]["multiple"] is True
    options = variables["options"]["properties"]
    assert set(options) == {
        "outfile",
        "count",
        "keepHydrogens",
        "fragIdField",
        "smilesFieldName",
        "proteinFieldName",
        "proteinFieldValue",
    }
    assert options["outfile"]["default"] == "merged.sdf"
    assert options["count"]["minimum"] == 1

    rv_by_id = DmApi.get_job(dm.token, job_id=rv.msg["id"])
    assert rv_by_id.success and rv_by_id.msg["job"] == "fragmenstein-combine"
    assert not DmApi.get_job(dm.token, job_id=9999).success
    missing = DmApi.get_job_by_version(
        dm.token, job_collection="fragmenstein", job_job="nope", job_version="1.0.0"
    )
    assert not missing.success and missing.http_status_code == 404


def test_instances_and_tasks(
    dm: SquonkServer, project: str, molfiles: list[Path], receiver_factory
) -> None:
    upload(dm.token, project, molfiles, "/in")
    inputs = [f"in/{f.name}" for f in molfiles]
    spec = _conformer_spec(inputs, numConformers=2)

    dry = DmApi.dry_run_job_instance(
        dm.token, project_id=project, name="dry run", specification=spec
    )
    assert dry.success and dry.http_status_code == 201
    assert dry.msg["command"].startswith("/code/rdk_conformers.py --input 'in/")
    assert "--num-conformers 2" in dry.msg["command"]
    assert DmApi.get_project_instances(dm.token, project_id=project).msg["count"] == 0

    receiver = receiver_factory()
    rv = DmApi.start_job_instance(
        dm.token,
        project_id=project,
        name="Conformers 1",
        specification=spec,
        callback_url=receiver.url,
        callback_context="job-request-1",
        generate_callback_token=True,
    )
    assert rv.success and rv.http_status_code == 201, rv.msg
    instance_id, task_id = rv.msg["instance_id"], rv.msg["task_id"]
    assert instance_id.startswith("instance-") and task_id.startswith("task-")
    token = rv.msg["callback_token"]
    assert len(token) == 22

    instance = wait_final(dm.token, instance_id)
    assert instance["phase"] == "COMPLETED"
    assert instance["project_id"] == project and instance["name"] == "Conformers 1"
    assert instance["launched"] and instance["started"] and instance["stopped"]
    assert instance["outputs"]["results"]["creates"] == "conformers.sdf"

    listed = DmApi.get_project_instances(dm.token, project_id=project)
    assert listed.success and [i["id"] for i in listed.msg["instances"]] == [instance_id]
    assert DmApi.get_available_instances(dm.token).success

    task = DmApi.get_task(dm.token, task_id=task_id)
    assert task.success and task.msg["done"] is True and task.msg["exit_code"] == 0
    assert task.msg["purpose"] == "INSTANCE" and task.msg["purpose_id"] == instance_id
    assert [s["state"] for s in task.msg["states"]] == ["PENDING", "STARTED", "SUCCESS"]
    ordinals = [e["ordinal"] for e in task.msg["events"]]
    assert ordinals == list(range(1, len(ordinals) + 1))
    assert any("Wrote 4 conformers" in e["message"] for e in task.msg["events"])
    later = DmApi.get_task(dm.token, task_id=task_id, event_prior_ordinal=2, event_limit=1)
    assert [e["ordinal"] for e in later.msg["events"]] == [3]

    by_context = DmApi.get_tasks(dm.token, instance_callback_context="job-request-1")
    assert by_context.success and [t["id"] for t in by_context.msg["tasks"]] == [task_id]
    assert DmApi.get_tasks(dm.token, instance_callback_context="other").msg["count"] == 0
    not_done = DmApi.get_tasks(dm.token, project_id=project, exclude_done=True)
    assert not_done.success and not_done.msg["count"] == 0
    assert DmApi.get_available_tasks(dm.token, project_id=project).msg["count"] == 1

    local = Path(str(molfiles[0]) + ".sdf")
    rv = DmApi.get_unmanaged_project_file_with_token(
        token=token, project_id=project, project_file="conformers.sdf", local_file=str(local)
    )
    assert rv.success and local.read_text().count("$$$$") == 4
    bad = DmApi.get_unmanaged_project_file_with_token(
        token="A" * 22, project_id=project, project_file="conformers.sdf", local_file=str(local)
    )
    assert not bad.success and bad.http_status_code == 403

    rv = DmApi.delete_instance_token(instance_id=instance_id, token=token)
    assert rv.success
    again = DmApi.get_unmanaged_project_file_with_token(
        token=token, project_id=project, project_file="conformers.sdf", local_file=str(local)
    )
    assert not again.success and again.http_status_code == 403
    assert not DmApi.delete_instance_token(instance_id=instance_id, token=token).success

    def hidden_paths() -> list[str]:
        listing = DmApi.list_project_files(
            dm.token, project_id=project, project_path="/", include_hidden=True
        )
        assert listing.success, listing.msg
        return listing.msg["paths"]

    # the instance's hidden directory is listed while the instance exists...
    assert any(p.startswith(".instance-") for p in hidden_paths())
    rv = DmApi.delete_instance(dm.token, instance_id=instance_id)
    assert rv.success and rv.msg["task_id"].startswith("task-")
    gone = DmApi.get_instance(dm.token, instance_id=instance_id)
    assert not gone.success and gone.http_status_code == 404
    assert not DmApi.delete_instance(dm.token, instance_id=instance_id).success
    # ... and gone with it
    assert not any(p.startswith(".instance-") for p in hidden_paths())
    hidden = DmApi.list_project_files(
        dm.token, project_id=project, project_path="/", include_hidden=True
    )
    # The job's output stays in the project after the instance is deleted.
    assert "conformers.sdf" in {f["file_name"] for f in hidden.msg["files"]}
    by_context = DmApi.get_tasks(dm.token, instance_callback_context="job-request-1")
    assert [t["id"] for t in by_context.msg["tasks"]] == [task_id]
    everything = DmApi.get_tasks(dm.token, project_id=project)
    assert {t["removal"] for t in everything.msg["tasks"]} == {False, True}
    removal = DmApi.get_tasks(dm.token, project_id=project, exclude_removal=True)
    assert [t["id"] for t in removal.msg["tasks"]] == [task_id]
    assert wait_for(lambda: receiver.statuses() == ["STARTED", "SUCCESS"], timeout=10)
    delivered = receiver.delivered()
    assert {d["callback_context"] for d in delivered} == {"job-request-1"}
    assert {d["instance_id"] for d in delivered} == {instance_id}
    assert {d["task_id"] for d in delivered} == {task_id}
    assert {d["project_id"] for d in delivered} == {project}
