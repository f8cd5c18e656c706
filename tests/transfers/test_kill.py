"""Transfers are idempotent under kill -9 (issue 11): a file counts as sent once Squonk2
lists it, so a transfer whose work horse dies mid-upload is resumed (RQ's retry) and sends
only what Squonk2 lacks; no file arrives twice."""

from __future__ import annotations

import json
import os
import signal
from collections import Counter
from pathlib import Path

import psutil
import pytest
from rq import Worker
from sqlalchemy import select
from squonk2.dm_api import DmApi

from app.extensions import db, queue, redis_connection
from app.models import JobFileTransfer, Protein, SquonkFile
from app.queueing import task_id
from app.squonk.client import RemoteFile, Squonk
from app.storage import data_path
from app.targets.loader import load_target
from app.transfers.service import project_dir
from app.transfers.task import transfer_files
from tests.conftest import MAC1_DIR
from tests.factories import snapshot as make_snapshot
from tests.squonk_server import squonk_server
from tests.support import load_mac1, use_squonk, wait_for

FOLDER = project_dir("Mac1")


@pytest.fixture
def squonk(app, tmp_path):
    """A local_squonk of the test's own: the files sent here never meet other tests'."""
    with squonk_server(tmp_path / "squonk", env={"LOCAL_SQUONK_CALLBACKS": "0"}) as server:
        use_squonk(app, server)
        yield server


class UploadLog:
    """The files local_squonk received in ``path`` (201 answers) since this was made, read
    from its request log past the byte offset it had then (the server is shared)."""

    def __init__(self, server, path: str = FOLDER) -> None:
        self.log, self.path = Path(server.request_log_path), path
        self.offset = self.log.stat().st_size if self.log.exists() else 0

    def names(self) -> list[str]:
        with open(self.log, "rb") as stream:
            stream.seek(self.offset)
            data = stream.read()
        # complete lines only: the server may be writing the last one right now
        lines = data[: data.rfind(b"\n") + 1].decode().splitlines()
        records = [json.loads(line) for line in lines if '"upload"' in line]
        return [
            r["upload"]["file"]
            for r in records
            if r["status"] == 201 and r["upload"]["path"] == self.path
        ]


def work_horse(app, worker_pid: int, rq_id: str) -> psutil.Process | None:
    """The work horse of the RQ worker ``worker_pid`` while it runs ``rq_id``: the forked
    child that leads its own process group (RQ's horse calls setpgrp; the cron and
    scheduler children stay in the worker's group)."""
    with app.app_context():
        workers = Worker.all(connection=redis_connection(), queue=queue())
        if not any(w.pid == worker_pid and w.get_current_job_id() == rq_id for w in workers):
            return None
    for child in psutil.Process(worker_pid).children():
        try:
            if os.getpgid(child.pid) == child.pid:
                return child
        except ProcessLookupError:
            continue
    return None


def expected_names(app) -> list[str]:
    with app.app_context():
        codes = db.session.scalars(select(Protein.code)).all()
        db.session.remove()
    return sorted(f"{c}{suffix}" for c in codes for suffix in (".mol", "_apo-desolv.pdb", ".smi"))


def listing(server, project_id: str) -> dict[str, int]:
    DmApi.set_api_url(server.url, verify_ssl_cert=False)
    rv = DmApi.list_project_files(server.token, project_id=project_id, project_path=FOLDER)
    assert rv.success
    return {f["file_name"]: f["stat"]["size"] for f in rv.msg["files"]}


def test_kill_9_of_the_work_horse_mid_transfer_sends_no_file_twice(
    app, users, squonk, login, tmp_path, worker_process
):
    load_mac1(app, tmp_path, 40)
    expected = expected_names(app)
    assert len(expected) == 120
    snapshot_id = make_snapshot(app, "Mac1")
    member = login("member")
    uploads = UploadLog(squonk)
    transfer_id = member.post("/api/job_file_transfer/", json={"snapshot": snapshot_id}).json["id"]
    with app.app_context():
        rq_id = task_id("transfer", transfer_id)
    worker = worker_process()

    def horse_mid_transfer() -> psutil.Process | None:
        sent = len(uploads.names())
        assert sent < len(expected), "the transfer finished before its work horse was killed"
        return work_horse(app, worker.proc.pid, rq_id) if sent >= 10 else None

    horse = wait_for(horse_mid_transfer, timeout=60, interval=0.005, what="10 files uploaded")
    horse.send_signal(signal.SIGKILL)
    horse.wait(timeout=10)
    sent_before = len(uploads.names())
    assert 10 <= sent_before < len(expected)

    def finished() -> dict | None:
        body = member.get(f"/api/job_file_transfer/{transfer_id}/").json
        assert body["transfer_status"] != "FAILURE", body["message"]
        return body if body["transfer_status"] == "SUCCESS" else None

    done = wait_for(finished, timeout=120, what="the resumed transfer's SUCCESS")
    names = uploads.names()
    assert [name for name, count in Counter(names).items() if count > 1] == []
    assert sorted(names) == expected  # every file once, none twice
    assert done["files_uploaded"] + done["files_skipped"] == len(expected)
    assert done["transfer_progress"] == 100.0
    log = (tmp_path / "worker-0.log").read_text(errors="replace")
    assert "Work-horse terminated unexpectedly" in log  # RQ saw the kill and retried
    held = listing(squonk, done["squonk_project"])
    with app.app_context():
        for protein in db.session.scalars(select(Protein)):
            assert held[f"{protein.code}.mol"] == data_path(protein.mol_file).stat().st_size
        assert db.session.scalar(select(db.func.count(SquonkFile.id))) == len(expected)


class Killed(BaseException):
    """Stands in for kill -9 inside one process: nothing catches it."""


def die_at(monkeypatch, call: int, *, landed: bool) -> None:
    """The ``call``-th upload of the process ends it: after the file reached Squonk2
    (``landed``, the answer lost) or before it left."""
    real, calls = Squonk.upload_file, []

    def upload(self, project_id, local_file, path):
        calls.append(local_file)
        if len(calls) == call:
            if landed:
                real(self, project_id, local_file, path)
            raise Killed
        real(self, project_id, local_file, path)

    monkeypatch.setattr(Squonk, "upload_file", upload)


def run_task(app, transfer_id: int) -> str:
    with app.app_context():
        try:
            return transfer_files(transfer_id)
        finally:
            db.session.rollback()
            db.session.remove()


def test_a_file_that_arrived_before_the_kill_is_not_sent_again(
    app, users, squonk, login, tmp_path, monkeypatch
):
    load_mac1(app, tmp_path, 4)
    snapshot_id = make_snapshot(app, "Mac1")
    member = login("member")
    uploads = UploadLog(squonk)
    transfer_id = member.post("/api/job_file_transfer/", json={"snapshot": snapshot_id}).json["id"]
    die_at(monkeypatch, 5, landed=True)
    with pytest.raises(Killed):
        run_task(app, transfer_id)
    assert len(uploads.names()) == 5
    monkeypatch.undo()

    assert run_task(app, transfer_id) == "SUCCESS"
    names = uploads.names()
    assert sorted(names) == expected_names(app) and len(names) == 12


def test_a_changed_file_whose_upload_never_left_is_sent_on_resume(
    app, users, squonk, login, tmp_path, monkeypatch
):
    """The older file of the same name and size is still in Squonk2: its listed time is
    before the ledger's, so it does not pass for the new bytes."""
    folder = load_mac1(app, tmp_path, 4)
    snapshot_id = make_snapshot(app, "Mac1")
    member = login("member")
    first = member.post("/api/job_file_transfer/", json={"snapshot": snapshot_id}).json["id"]
    assert run_task(app, first) == "SUCCESS"

    victim = sorted(folder.glob("*.mol"))[1]
    text = victim.read_text()
    line = text.splitlines()[4]  # the first atom: change one digit, keep the size
    edited = line.replace(line[9], "1" if line[9] != "1" else "2", 1)
    victim.write_text(text.replace(line, edited, 1))
    with app.app_context():
        load_target(folder, "Mac1", "lb18145-1", template_pdb=MAC1_DIR / "template.pdb")
    again = member.post("/api/job_file_transfer/", json={"snapshot": snapshot_id}).json["id"]
    assert again != first
    uploads = UploadLog(squonk)
    die_at(monkeypatch, 1, landed=False)
    with pytest.raises(Killed):
        run_task(app, again)
    monkeypatch.undo()
    assert uploads.names() == []

    assert run_task(app, again) == "SUCCESS"
    assert uploads.names() == [victim.name]
    with app.app_context():
        transfer = db.session.get(JobFileTransfer, again)
        protein = db.session.scalar(select(Protein).where(Protein.code == victim.stem))
        want = data_path(protein.mol_file).read_bytes()
        local = tmp_path / "got.mol"
        DmApi.set_api_url(squonk.url, verify_ssl_cert=False)
        rv = DmApi.get_unmanaged_project_file(
            squonk.token,
            project_id=transfer.squonk_project,
            project_file=victim.name,
            local_file=str(local),
            project_path=FOLDER,
        )
        assert rv.success and local.read_bytes() == want


@pytest.mark.parametrize(
    ("listed", "iso"),
    [
        ("2026-11-21T10:00:00Z", "2026-11-21T10:00:00+00:00"),
        ("2026-11-21T10:00:00.250000", "2026-11-21T10:00:00.250000+00:00"),
        ("2026-11-21T11:00:00+01:00", "2026-11-21T10:00:00+00:00"),
        ("yesterday", None),
        (None, None),
    ],
)
def test_listed_modification_times_are_read_as_utc(listed, iso):
    moment = RemoteFile("a.mol", 1, listed).modified_at
    assert (moment.isoformat() if moment else None) == iso
