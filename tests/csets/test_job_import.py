"""A finished job's results imported as a computed set: the set's rows and file, a failed
import that leaves the job successful with a retry, an import killed mid-way."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from rdkit import Chem
from sqlalchemy import select

from app.extensions import db
from app.models import ComputedMolecule, ComputedSet
from tests.support import MAC1_NEIGHBOURS, finished_in_squonk, reconcile, run_worker


def test_finished_job_is_imported_as_a_computed_set(app, small_targets, squonk, login):
    job_id, member = finished_in_squonk(app, squonk, login)
    assert reconcile(app).get("applied") == 1  # SUCCESS learnt by polling
    run_worker(app)  # the import
    job = member.get(f"/api/job_request/{job_id}/").json
    assert job["job_status"] == "UPLOADED", job["message"]
    assert [e["to"] for e in job["events"] if e["from"] != e["to"]][-3:] == [
        "SUCCESS",
        "UPLOADING",
        "UPLOADED",
    ]
    assert any(e["source"] == "poll" for e in job["events"])
    name = job["computed_set"]
    with app.app_context():
        cset = db.session.scalar(select(ComputedSet).where(ComputedSet.name == name))
        assert cset.owner.username == "member" and cset.job_request_id == job_id
        molecules = db.session.scalars(
            select(ComputedMolecule).where(ComputedMolecule.computed_set_id == cset.id)
        ).all()
        assert molecules and all(sorted(m.ref_mols) == sorted(MAC1_NEIGHBOURS) for m in molecules)
        assert all({"DDG", "RMSD"} <= set(m.scores) for m in molecules)
    download = member.get(f"/api/compound-sets/{name}/download")
    mols = [m for m in Chem.ForwardSDMolSupplier(io.BytesIO(download.data)) if m is not None]
    assert len(mols) - 1 == len(molecules)  # the ver_1.2 header, then each molecule
    page = member.get(f"/jobs/{job_id}/")
    assert f"/computed-sets/{name}/" in page.text


def test_a_failed_import_leaves_a_successful_job_with_a_retry(
    app, small_targets, squonk, login, monkeypatch
):
    job_id, member = finished_in_squonk(app, squonk, login)
    assert reconcile(app).get("applied") == 1  # SUCCESS -> UPLOADING, import queued
    import app.csets.task as results

    real = results.build_header_block
    monkeypatch.setattr(results, "build_header_block", lambda **kw: "not a header\n$$$$\n")
    run_worker(app)
    job = member.get(f"/api/job_request/{job_id}/").json
    assert job["job_status"] == "SUCCESS" and "could not be imported" in job["message"]
    page = member.get(f"/jobs/{job_id}/")
    assert 'id="retry-import"' in page.text
    assert login("outsider").post(f"/jobs/{job_id}/retry-import").status_code == 404
    assert login("colleague").post(f"/jobs/{job_id}/retry-import").status_code == 403
    monkeypatch.undo()
    assert results.build_header_block is real  # the retry runs the real import
    member.post(f"/jobs/{job_id}/retry-import", data={"csrf_token": member.csrf})
    run_worker(app)
    job = member.get(f"/api/job_request/{job_id}/").json
    assert job["job_status"] == "UPLOADED" and job["computed_set"]
    events = [e["message"] or "" for e in job["events"]]
    assert any(m.startswith("import failed") for m in events)


def test_an_import_killed_mid_way_leaves_no_partial_set_and_retry_completes_it(
    app, small_targets, squonk, login, monkeypatch
):
    from app.models import AuditEvent

    job_id, member = finished_in_squonk(app, squonk, login)
    assert reconcile(app).get("applied") == 1  # SUCCESS -> UPLOADING, import queued

    class WorkerKilled(BaseException):
        """What the work horse sees when it is killed: not an Exception, nothing handles it."""

    def die_before_commit(*args, **kwargs):
        raise WorkerKilled()

    # the worker dies after the rows were added and the file written, before the commit
    monkeypatch.setattr(AuditEvent, "record", die_before_commit)
    with pytest.raises(WorkerKilled):
        with app.app_context():
            from app.csets.task import import_results

            import_results(job_id)
    monkeypatch.undo()
    with app.app_context():
        assert db.session.scalar(select(db.func.count(ComputedSet.id))) == 0
        assert db.session.scalar(select(db.func.count(ComputedMolecule.id))) == 0
        assert db.session.scalar(select(db.func.count(AuditEvent.id))) == 0
        from app.extensions import queue

        queue().empty()  # the killed worker's task is gone
    assert not list((Path(app.config["DATA_DIR"]) / "csets").rglob("*.sdf"))

    app.config["IMPORT_STALE_SECONDS"] = 0
    assert reconcile(app).get("import_interrupted") == 1
    job = member.get(f"/api/job_request/{job_id}/").json
    assert job["job_status"] == "SUCCESS" and "interrupted" in job["message"]
    assert 'id="retry-import"' in member.get(f"/jobs/{job_id}/").text
    member.post(f"/jobs/{job_id}/retry-import", data={"csrf_token": member.csrf})
    run_worker(app)
    job = member.get(f"/api/job_request/{job_id}/").json
    assert job["job_status"] == "UPLOADED"
    with app.app_context():
        assert db.session.scalar(select(db.func.count(ComputedSet.id))) == 1


def test_a_job_that_wrote_no_molecule_simply_ends_success(app, small_targets, squonk, login):
    """Every merge of a pair can fail (Fragmenstein writes an empty file): the job ends
    SUCCESS saying there is nothing to import, not an import failure with a retry."""
    job_id, member = finished_in_squonk(app, squonk, login)
    # this job's output: the newest merged.sdf in local Squonk2's project volumes
    output = max(Path(squonk.root).rglob("merged.sdf"), key=lambda p: p.stat().st_mtime)
    assert output.stat().st_size > 0
    output.write_text("")  # what Squonk2 holds when no run gave a molecule
    assert reconcile(app).get("applied") == 1
    run_worker(app)
    job = member.get(f"/api/job_request/{job_id}/").json
    assert job["job_status"] == "SUCCESS", job
    assert job["message"] == (
        "The job finished without writing any molecule: there is nothing to import."
    )
    assert job["computed_set"] is None
    assert "nothing to import" in job["events"][-1]["message"]
    page = member.get(f"/jobs/{job_id}/")
    assert 'id="retry-import"' not in page.text and "could not be imported" not in page.text
    with app.app_context():
        assert db.session.scalar(select(db.func.count(ComputedSet.id))) == 0
