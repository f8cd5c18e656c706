"""The RQ task that copies a snapshot's files into the target's Squonk2 project."""

from __future__ import annotations

import logging
import queue
import tempfile
import threading
from pathlib import Path

from sqlalchemy import select

from app.extensions import db
from app.models import JobFileTransfer, SquonkFile
from app.models.base import as_utc, utcnow
from app.models.transfers import FAILURE, STARTED, SUCCESS
from app.queueing import on_final_failure
from app.squonk.client import RemoteFile, SquonkPermanentError, SquonkTransientError
from app.squonk.current import squonk
from app.storage import data_path
from app.transfers.service import (
    PlannedFile,
    TransferError,
    ensure_squonk_project,
    file_plan,
    in_squonk,
    missing_files,
    project_dir,
    proteins_of,
    sending_since,
)

log = logging.getLogger(__name__)

UNREACHABLE = (
    "Squonk2 could not be reached, so the files were not sent. "
    "Try again in a few minutes; if it keeps failing, tell your administrator."
)


def _fail(transfer: JobFileTransfer, message: str) -> None:
    transfer.transfer_status = FAILURE
    transfer.message = message
    transfer.heartbeat = utcnow()
    db.session.commit()
    log.info("transfer %s failed: %s", transfer.id, message)


def transfer_files(transfer_id: int) -> str:
    """Upload what Squonk2 does not hold; idempotent (a finished row is left alone, a re-run
    after a crash, even a kill -9 mid-upload, sends only what the folder lacks)."""
    transfer = db.session.get(JobFileTransfer, transfer_id)
    if transfer is None:
        log.warning("transfer %s no longer exists", transfer_id)
        return "missing"
    if transfer.is_final:
        return transfer.transfer_status
    transfer.transfer_status = STARTED
    transfer.message = None
    transfer.heartbeat = utcnow()
    db.session.commit()

    proteins = proteins_of(transfer.target, transfer.proteins)
    # what the proteins lack is not sent (and named); everything they have still goes
    transfer.files_missing = missing_files(proteins)
    # Hundreds of rows stay loaded across hundreds of commits: expiring the whole identity
    # map at each is quadratic work, and nothing else writes these rows while the task runs.
    session = db.session()
    session.expire_on_commit = False
    try:
        project = ensure_squonk_project(transfer.target)
        transfer.squonk_project = project
        path = project_dir(transfer.target.title)
        plan = file_plan(proteins)
        remote = {f.name: f for f in squonk().list_files(project, path)}
        ledger = {
            row.file_name: row
            for row in db.session.scalars(
                select(SquonkFile).where(
                    SquonkFile.squonk_project == project, SquonkFile.path == path
                )
            )
        }
        todo = [p for p in plan if not in_squonk(p, remote.get(p.name), ledger.get(p.name))]
        # a resumed row keeps the count its earlier attempts committed
        earlier = min(transfer.files_uploaded or 0, len(plan) - len(todo))
        transfer.files_total = len(plan)
        transfer.files_skipped = len(plan) - len(todo) - earlier
        transfer.files_uploaded = earlier
        transfer.transfer_progress = _percent(len(plan) - len(todo), len(plan))
        _record_intents(todo, remote, ledger, project, path)
        transfer.heartbeat = utcnow()
        db.session.commit()  # before the first byte leaves: a kill from here on is resumable
        log.info(
            "transfer %s: %d files, %d to upload to %s%s",
            transfer.id,
            len(plan),
            len(todo),
            project,
            path,
        )

        if todo:
            with tempfile.TemporaryDirectory(prefix="transfer-") as tmp:
                _upload_all(transfer, todo, project, path, Path(tmp))
            remote = {f.name: f for f in squonk().list_files(project, path)}
        _confirm(plan, todo, remote, ledger)
    except SquonkPermanentError as exc:
        db.session.rollback()
        _fail(transfer, f"Squonk2 refused the files: {exc}")
        return FAILURE
    except TransferError as exc:
        db.session.rollback()
        _fail(transfer, str(exc))
        return FAILURE
    except SquonkTransientError:
        db.session.rollback()
        raise  # RQ retries with backoff; the failure callback speaks after the last try
    finally:
        session.expire_on_commit = True

    transfer.transfer_status = SUCCESS
    transfer.transfer_progress = 100.0
    transfer.transfer_datetime = utcnow()
    transfer.heartbeat = utcnow()
    transfer.message = (
        f"{transfer.files_uploaded} file(s) uploaded, {transfer.files_skipped} already in Squonk2"
    )
    if transfer.files_missing:
        transfer.message += f"; {len(transfer.files_missing)} not sent: the proteins lack them"
    db.session.commit()
    log.info("transfer %s succeeded: %s", transfer.id, transfer.message)
    return SUCCESS


def _percent(done: int, total: int) -> float:
    """Progress in percent (a plan of no files is done)."""
    return round(100.0 * done / total, 1) if total else 100.0


def _record_intents(
    todo: list[PlannedFile],
    remote: dict[str, RemoteFile],
    ledger: dict[str, SquonkFile],
    project: str,
    path: str,
) -> None:
    """Say in the ledger which bytes are about to be sent, and since when (committed by the
    caller before any upload): after a crash, the listing tells which of them arrived."""
    now = utcnow()
    for planned in todo:
        row = ledger.get(planned.name)
        if row is None:
            row = SquonkFile(squonk_project=project, path=path, file_name=planned.name)
            db.session.add(row)
            ledger[planned.name] = row
        row.sha256, row.size = planned.sha256, planned.size
        row.uploaded = sending_since(remote.get(planned.name), now)


def _confirm(
    plan: list[PlannedFile],
    todo: list[PlannedFile],
    remote: dict[str, RemoteFile],
    ledger: dict[str, SquonkFile],
) -> None:
    """A file counts as sent once Squonk2 lists it: check every file sent is listed with
    its size, and keep the DM's own modification time of each (so later comparisons are
    between two times of the DM's clock)."""
    missing = [p.name for p in todo if remote.get(p.name) is None or remote[p.name].size != p.size]
    if missing:
        raise SquonkTransientError(
            f"{len(missing)} uploaded file(s) are not listed by Squonk2: {', '.join(missing[:5])}"
        )
    for planned in plan:
        row, listed = ledger.get(planned.name), remote.get(planned.name)
        written = listed.modified_at if listed is not None else None
        if row is not None and written is not None and as_utc(row.uploaded) != written:
            row.uploaded = written


def _local_file(planned: PlannedFile, tmp: Path) -> Path:
    """Stored files already carry their Squonk2 names; generated ones are written out."""
    if planned.source is not None and data_path(planned.source).name == planned.name:
        return data_path(planned.source)
    local = tmp / planned.name
    local.write_bytes(planned.read())
    return local


def _upload_all(
    transfer: JobFileTransfer,
    todo: list[PlannedFile],
    project: str,
    path: str,
    tmp: Path,
) -> int:
    """Upload ``todo`` in order, moving the row's progress as files arrive.

    The client serialises its calls, so uploads go one at a time; the database work of
    the file that just arrived overlaps the upload of the next one (a thread uploads, this
    thread records and commits), which keeps the bookkeeping off the critical path. The
    ledger needs nothing here: its rows were committed before the first upload.
    """
    client = squonk()
    locals_ = [(planned, _local_file(planned, tmp)) for planned in todo]
    arrivals: queue.Queue = queue.Queue()

    def upload() -> None:
        for planned, local in locals_:
            try:
                client.upload_file(project, local, path)
            except BaseException as exc:  # noqa: BLE001 - handed to the recording thread
                arrivals.put((planned, exc))
                return
            arrivals.put((planned, None))
        arrivals.put(None)

    uploader = threading.Thread(target=upload, name=f"transfer-{transfer.id}", daemon=True)
    uploader.start()
    return _record_arrivals(transfer, arrivals, uploader)


def _record_arrivals(
    transfer: JobFileTransfer, arrivals: queue.Queue, uploader: threading.Thread
) -> int:
    total, earlier = transfer.files_total, transfer.files_uploaded
    uploaded = 0
    finished = False
    while not finished:
        batch = [arrivals.get()]
        while not arrivals.empty():  # record everything that already arrived, commit once
            batch.append(arrivals.get_nowait())
        error = None
        for item in batch:
            if item is None:
                finished = True
                break
            _planned, error = item
            if error is not None:
                break
            uploaded += 1
        transfer.files_uploaded = earlier + uploaded
        transfer.transfer_progress = _percent(transfer.files_skipped + earlier + uploaded, total)
        transfer.heartbeat = utcnow()
        db.session.commit()
        if error is not None:
            uploader.join()
            raise error
    uploader.join()
    return uploaded


# RQ failure callback (runs after every failed attempt): on the last one, the row says why
transfer_attempt_failed = on_final_failure(
    JobFileTransfer,
    expected=lambda transfer: not transfer.is_final,
    give_up=_fail,
    unreachable=UNREACHABLE,
    what="transfer",
)
