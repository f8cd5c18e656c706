"""The RQ task that copies a snapshot's files into the target's Squonk2 project."""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

from sqlalchemy import select

from app.extensions import db
from app.jobs import squonk
from app.models import JobFileTransfer, SquonkFile
from app.models.base import utcnow
from app.models.transfers import FAILURE, STARTED, SUCCESS
from app.squonk import SquonkPermanentError, SquonkTransientError
from app.transfers import (
    TransferError,
    ensure_squonk_project,
    file_plan,
    missing_files,
    missing_files_message,
    project_dir,
    proteins_of,
)

log = logging.getLogger(__name__)

UNREACHABLE = ("Squonk2 could not be reached, so the files were not sent. "
               "Try again in a few minutes; if it keeps failing, tell your administrator.")


def _fail(transfer: JobFileTransfer, message: str) -> None:
    transfer.transfer_status = FAILURE
    transfer.message = message
    transfer.heartbeat = utcnow()
    db.session.commit()
    log.info("transfer %s failed: %s", transfer.id, message)


def transfer_files(transfer_id: int) -> str:
    """Upload what is missing or changed; idempotent (a finished row is left alone, a
    re-run after a crash skips what the ledger says already arrived)."""
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
    problems = missing_files(proteins)
    if problems:
        _fail(transfer, missing_files_message(problems))
        return FAILURE
    try:
        project = ensure_squonk_project(transfer.target)
        transfer.squonk_project = project
        path = project_dir(transfer.target.title)
        plan = file_plan(proteins)
        remote = {f.name: f for f in squonk().list_files(project, path)}
        ledger = {row.file_name: row for row in db.session.scalars(select(SquonkFile).where(
            SquonkFile.squonk_project == project, SquonkFile.path == path))}

        def current(planned) -> bool:
            there, sent = remote.get(planned.name), ledger.get(planned.name)
            return (there is not None and there.size == planned.size and sent is not None
                    and sent.sha256 == planned.sha256)

        todo = [planned for planned in plan if not current(planned)]
        transfer.files_total = len(plan)
        transfer.files_skipped = len(plan) - len(todo)
        transfer.files_uploaded = 0
        transfer.transfer_progress = round(100.0 * transfer.files_skipped / len(plan), 1)
        db.session.commit()
        log.info("transfer %s: %d files, %d to upload to %s%s", transfer.id, len(plan),
                 len(todo), project, path)

        with tempfile.TemporaryDirectory(prefix="transfer-") as tmp:
            for planned in todo:
                local = Path(tmp) / planned.name
                local.write_bytes(planned.read())
                squonk().upload_file(project, local, path)
                row = ledger.get(planned.name)
                if row is None:
                    row = SquonkFile(squonk_project=project, path=path, file_name=planned.name)
                    db.session.add(row)
                    ledger[planned.name] = row
                row.sha256, row.size, row.uploaded = planned.sha256, planned.size, utcnow()
                transfer.files_uploaded += 1
                done = transfer.files_skipped + transfer.files_uploaded
                transfer.transfer_progress = round(100.0 * done / len(plan), 1)
                transfer.heartbeat = utcnow()
                # one commit per file: a crash never forgets a file that arrived
                db.session.commit()
                local.unlink()
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

    transfer.transfer_status = SUCCESS
    transfer.transfer_progress = 100.0
    transfer.transfer_datetime = utcnow()
    transfer.heartbeat = utcnow()
    transfer.message = (f"{transfer.files_uploaded} file(s) uploaded, "
                        f"{transfer.files_skipped} already in Squonk2")
    db.session.commit()
    log.info("transfer %s succeeded: %s", transfer.id, transfer.message)
    return SUCCESS


def transfer_attempt_failed(job, connection, exc_type, exc_value, traceback) -> None:
    """RQ failure callback (runs after every failed attempt): on the last one, say so."""
    if job.retries_left:
        log.info("transfer attempt failed (%s); %s retries left", exc_type.__name__,
                 job.retries_left)
        return
    transfer = db.session.get(JobFileTransfer, job.args[0])
    if transfer is None or transfer.is_final:
        return
    db.session.rollback()
    message = UNREACHABLE if issubclass(exc_type, SquonkTransientError) else (
        f"The transfer stopped unexpectedly ({exc_type.__name__}); please try again.")
    _fail(transfer, message)
