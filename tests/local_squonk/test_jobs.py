"""Jobs really run: Fragmenstein merges Mac1 hits, RDKit is fast, crashes and DELETE
are reported, and nothing is left running."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import psutil
from rdkit import Chem
from squonk2.dm_api import DmApi

from tests.squonk_server import SquonkServer
from tests.support import wait_for

from .conftest import task_events, upload, wait_final

JOB_DIR = "fragalysis-jobs/alice/20261122-101500"


def _start(dm: SquonkServer, project: str, spec: dict[str, object], **kwargs: object) -> dict:
    rv = DmApi.start_job_instance(
        dm.token, project_id=project, name="test job", specification=spec, **kwargs
    )
    assert rv.success, rv.msg
    return rv.msg


def test_fragmenstein_merges_two_close_mac1_hits(
    dm: SquonkServer, project: str, molfiles: list[Path], mac1_dir: Path, tmp_path: Path
) -> None:
    upload(dm.token, project, molfiles, "/fragalysis-files/Mac1")
    upload(dm.token, project, [mac1_dir / "template.pdb"], "/fragalysis-files/Mac1")
    spec = {
        "collection": "fragmenstein",
        "job": "fragmenstein-combine",
        "version": "1.0.0",
        "variables": {
            "fragments": [f"fragalysis-files/Mac1/{f.name}" for f in molfiles],
            "protein": "fragalysis-files/Mac1/template.pdb",
            "outfile": f"{JOB_DIR}/merged.sdf",
            "count": 1,
            "smilesFieldName": "original SMILES",
            "proteinFieldName": "ref_pdb",
            "proteinFieldValue": "Mac1-x0216",
        },
    }
    started = _start(dm, project, spec)
    instance = wait_final(dm.token, started["instance_id"], timeout=120)
    events = [e["message"] for e in task_events(dm.token, started["task_id"])]
    assert instance["phase"] == "COMPLETED", events
    assert instance["outputs"]["outputs"]["creates"] == f"{JOB_DIR}/merged.sdf"

    local = tmp_path / "merged.sdf"
    rv = DmApi.get_unmanaged_project_file(
        dm.token,
        project_id=project,
        project_file="merged.sdf",
        local_file=str(local),
        project_path=f"/{JOB_DIR}",
    )
    assert rv.success
    mols = [m for m in Chem.SDMolSupplier(str(local)) if m is not None]
    assert len(mols) >= 1
    props = mols[0].GetPropsAsDict()
    assert props["ref_mols"].split(",") == ["x0216_A", "x0259_A"]
    assert {"IDX", "RMSD", "outcome", "outcome_reason", "original SMILES", "ref_pdb"} <= set(props)
    assert props["ref_pdb"] == "Mac1-x0216"
    assert Chem.MolFromSmiles(props["original SMILES"]) is not None

    meta = tmp_path / "merged.meta.json"
    rv = DmApi.get_unmanaged_project_file(
        dm.token,
        project_id=project,
        project_file="merged.meta.json",
        local_file=str(meta),
        project_path=f"/{JOB_DIR}",
    )
    assert rv.success
    fields = json.loads(meta.read_text())
    assert set(fields) == {
        "IDX",
        "DDG",
        "RMSD",
        "outcome",
        "outcome_reason",
        "ref_mols",
        "original SMILES",
        "ref_pdb",
    }
    assert all({"type", "description"} <= set(f) for f in fields.values())


def test_fragmenstein_reports_unmergeable_input_as_a_warning(
    dm: SquonkServer, project: str, molfiles: list[Path], mac1_dir: Path
) -> None:
    upload(dm.token, project, molfiles[:1] + [mac1_dir / "template.pdb"], "/in")
    spec = {
        "collection": "fragmenstein",
        "job": "fragmenstein-combine",
        "version": "1.0.0",
        "variables": {"fragments": [f"in/{molfiles[0].name}"], "protein": "in/template.pdb"},
    }
    started = _start(dm, project, spec)
    instance = wait_final(dm.token, started["instance_id"], timeout=120)
    assert instance["phase"] == "COMPLETED"
    warnings = [e for e in task_events(dm.token, started["task_id"]) if e["level"] == "WARNING"]
    assert any("at least two" in w["message"] for w in warnings)


def test_fast_rdkit_job_finishes_within_ten_seconds(
    dm: SquonkServer, project: str, molfiles: list[Path], tmp_path: Path
) -> None:
    upload(dm.token, project, molfiles, "/in")
    spec = {
        "collection": "rdkit",
        "job": "rdkit-conformers",
        "version": "1.0.0",
        "variables": {
            "inputFile": [f"in/{f.name}" for f in molfiles],
            "outputFile": "out/conformers.sdf",
            "numConformers": 3,
            "method": "ETKDGv2",
            "minimize": True,
        },
    }
    begun = time.monotonic()
    started = _start(dm, project, spec)
    instance = wait_final(dm.token, started["instance_id"], timeout=10)
    elapsed = time.monotonic() - begun
    assert instance["phase"] == "COMPLETED" and elapsed < 10
    local = tmp_path / "conformers.sdf"
    assert DmApi.get_unmanaged_project_file(
        dm.token,
        project_id=project,
        project_file="conformers.sdf",
        local_file=str(local),
        project_path="/out",
    ).success
    mols = list(Chem.SDMolSupplier(str(local)))
    assert len(mols) == 6 and all(m.HasProp("ENERGY") for m in mols)
    assert {m.GetProp("SOURCE_ID") for m in mols} == {"x0216_A", "x0259_A"}


def test_crashing_job_reports_failure_with_exit_code_and_stderr(
    dm: SquonkServer, project: str, receiver_factory
) -> None:
    receiver = receiver_factory()
    spec = {
        "collection": "im-test",
        "job": "crash",
        "version": "1.0.0",
        "variables": {"exitCode": 7, "lines": 30},
    }
    started = _start(dm, project, spec, callback_url=receiver.url)
    instance = wait_final(dm.token, started["instance_id"])
    assert instance["phase"] == "FAILED" and instance["exit_code"] == 7
    task = DmApi.get_task(dm.token, task_id=started["task_id"]).msg
    assert task["exit_code"] == 7
    assert [s["state"] for s in task["states"]] == ["PENDING", "STARTED", "FAILURE"]
    messages = [e["message"] for e in task["events"]]
    assert "Job failed with exit code 7" in messages
    # The last 20 stderr lines, in order.
    stderr = [m for m in messages if m.startswith("stderr: ")]
    assert stderr == [f"stderr: crash line {n}" for n in range(11, 31)]
    assert wait_for(lambda: receiver.statuses() == ["STARTED", "FAILURE"], timeout=10)
    assert DmApi.get_version().success  # the server keeps serving


def _pids(token: str, task_id: str) -> dict[str, int]:
    found: dict[str, int] = {}
    for event in task_events(token, task_id):
        match = re.fullmatch(r"(pid|child_pid)=(\d+)", event["message"])
        if match:
            found[match.group(1)] = int(match.group(2))
    return found if len(found) == 2 else {}


def _gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def test_delete_kills_the_job_and_its_children_and_sends_revoked(
    dm: SquonkServer, project: str, receiver_factory
) -> None:
    receiver = receiver_factory()
    spec = {
        "collection": "im-test",
        "job": "sleep",
        "version": "1.0.0",
        "variables": {"seconds": 120},
    }
    started = _start(dm, project, spec, callback_url=receiver.url, callback_context="ctx")
    pids = wait_for(lambda: _pids(dm.token, started["task_id"]), timeout=20)
    assert all(psutil.pid_exists(pid) for pid in pids.values())
    instance_dir = (
        dm.root
        / "projects"
        / project
        / DmApi.get_instance(dm.token, instance_id=started["instance_id"]).msg["instance_directory"]
    )
    assert instance_dir.is_dir()

    rv = DmApi.delete_instance(dm.token, instance_id=started["instance_id"])
    assert rv.success
    assert _gone(pids["pid"])
    assert wait_for(lambda: _gone(pids["child_pid"]), timeout=5)
    assert not instance_dir.exists()

    task = DmApi.get_task(dm.token, task_id=started["task_id"]).msg
    assert task["done"] and task["states"][-1]["state"] == "FAILURE"
    assert task["states"][-1]["message"] == "Revoked"
    assert wait_for(lambda: receiver.statuses() == ["STARTED", "REVOKED"], timeout=10)
    assert receiver.delivered()[-1]["callback_context"] == "ctx"
    assert DmApi.get_version().success


def test_jobs_run_concurrently_up_to_the_pool_size(dm: SquonkServer, project: str) -> None:
    spec = {
        "collection": "im-test",
        "job": "sleep",
        "version": "1.0.0",
        "variables": {"seconds": 2, "child": False},
    }
    begun = time.monotonic()
    ids = [_start(dm, project, spec)["instance_id"] for _ in range(3)]
    for instance_id in ids:
        assert wait_final(dm.token, instance_id)["phase"] == "COMPLETED"
    # Three workers on the test server: three two-second jobs well under 3 x 2 s.
    assert time.monotonic() - begun < 5.5


def test_delete_of_a_queued_instance_revokes_it(
    dm: SquonkServer, project: str, receiver_factory
) -> None:
    receiver = receiver_factory()
    busy = {
        "collection": "im-test",
        "job": "sleep",
        "version": "1.0.0",
        "variables": {"seconds": 30, "child": False},
    }
    blockers = [_start(dm, project, busy)["instance_id"] for _ in range(3)]
    queued = _start(dm, project, busy, callback_url=receiver.url)
    assert DmApi.get_instance(dm.token, instance_id=queued["instance_id"]).msg["phase"] == "PENDING"
    assert DmApi.delete_instance(dm.token, instance_id=queued["instance_id"]).success
    assert wait_for(lambda: receiver.statuses() == ["REVOKED"], timeout=10)
    for instance_id in blockers:
        assert DmApi.delete_instance(dm.token, instance_id=instance_id).success
