"""Snapshot file transfers to Squonk2: what goes where, and asking for a transfer.

Layout in the target's Squonk2 project (one place; the launcher builds job inputs from it):
``/fragalysis-files/<target>/<code>.mol``, ``<code>_apo-desolv.pdb`` and ``<code>.smi``.

What counts as sent is what Squonk2 holds: the task lists the folder (name, size and
modification time, as the DM lists them) and sends only the files :func:`in_squonk` does
not find there. The ledger (:class:`SquonkFile`) says which bytes we sent to each place and
since when: its row for a file is written *before* the upload, with a time strictly later
than anything the folder held then (:func:`sending_since`), and set to the DM's own
modification time once the file is listed. So after a worker killed mid-upload, a file
that reached Squonk2 (listed at or after that time, with the size we sent) is not sent
again, and one that did not (absent, or still the older file) is.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from rq.job import JobStatus
from sqlalchemy import select
from sqlalchemy.orm import contains_eager, joinedload

from app.access import can_view_transfer, visible_transfers
from app.extensions import db
from app.models import JobFileTransfer, Protein, Snapshot, SquonkFile, Target, User
from app.models.base import as_utc, utcnow
from app.models.transfers import FAILURE, PENDING, STARTED, SUCCESS
from app.queueing import enqueue, live_task, task_id
from app.squonk.client import RemoteFile
from app.squonk.current import squonk
from app.storage import data_path

log = logging.getLogger(__name__)

FILES_ROOT = "/fragalysis-files"
KINDS = ("mol", "apo_desolv", "smi")


class TransferError(ValueError):
    """A transfer cannot be asked for; the message says why."""


def project_dir(target_title: str) -> str:
    """The folder of a target's files in its Squonk2 project (absolute, as the DM wants)."""
    return f"{FILES_ROOT}/{target_title}"


def file_name(code: str, kind: str) -> str:
    return {"mol": f"{code}.mol", "apo_desolv": f"{code}_apo-desolv.pdb", "smi": f"{code}.smi"}[
        kind
    ]


def project_file(target_title: str, code: str, kind: str) -> str:
    """Project-relative path of a protein's file, as a job's input variables name it."""
    return f"{project_dir(target_title).lstrip('/')}/{file_name(code, kind)}"


@dataclass(frozen=True)
class PlannedFile:
    name: str
    data: bytes | None  # generated content (.smi); None means read ``source``
    source: str | None  # DATA_DIR-relative path of a stored file
    sha256: str
    size: int

    def read(self) -> bytes:
        return self.data if self.data is not None else data_path(self.source).read_bytes()


# What each kind of file is called in messages
LABELS = {"mol": "ligand mol file", "apo_desolv": "apo-desolv PDB", "smi": "SMILES"}


def has_file(protein: Protein, kind: str) -> bool:
    """Does the target hold the protein's file of ``kind`` (one of :data:`KINDS`)?"""
    return bool(
        {"mol": protein.mol_file, "apo_desolv": protein.apo_desolv_file, "smi": protein.smiles}[
            kind
        ]
    )


def missing_file(code: str, kind: str) -> dict:
    """One entry of ``JobFileTransfer.files_missing``: a file a protein lacks."""
    return {"protein": code, "kind": kind, "file": file_name(code, kind)}


def missing_files(proteins: list[Protein]) -> list[dict]:
    """The files the proteins lack (not sent: there is nothing to send), protein by
    protein in the order of :data:`KINDS`; empty when every protein has all of them."""
    return [
        missing_file(protein.code, kind)
        for protein in proteins
        for kind in KINDS
        if not has_file(protein, kind)
    ]


def words_list(items: list[str], most: int = 20) -> str:
    """``a, b and c``; beyond ``most`` items, ``a, b ... and 12 more``."""
    if len(items) > most:
        return f"{', '.join(items[:most])} and {len(items) - most} more"
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} and {items[-1]}"


def not_sent_text(files_missing: list[dict] | None) -> str | None:
    """What a transfer did not send because the proteins lack the files, grouped by kind:
    "Not sent: the proteins lack these files: the apo-desolv PDB of x0072_A and x0104_A."
    None when nothing is missing."""
    if not files_missing:
        return None
    by_kind: dict[str, list[str]] = {}
    for entry in files_missing:
        by_kind.setdefault(entry["kind"], []).append(entry["protein"])
    parts = [
        f"the {LABELS.get(kind, kind)} of {words_list(codes)}" for kind, codes in by_kind.items()
    ]
    return f"Not sent: the proteins lack these files: {'; '.join(parts)}."


def file_plan(proteins: list[Protein]) -> list[PlannedFile]:
    """Every file the proteins have, with its size and checksum (from the loader's record);
    the files they lack are left out (:func:`missing_files` names them)."""
    plan = []
    for protein in proteins:
        for kind, source, sha in (
            ("mol", protein.mol_file, protein.mol_sha256),
            ("apo_desolv", protein.apo_desolv_file, protein.apo_desolv_sha256),
        ):
            if not source:
                continue
            size = data_path(source).stat().st_size
            plan.append(PlannedFile(file_name(protein.code, kind), None, source, sha, size))
        if protein.smiles:
            smi = f"{protein.smiles} {protein.code}\n".encode()
            plan.append(
                PlannedFile(
                    file_name(protein.code, "smi"),
                    smi,
                    None,
                    hashlib.sha256(smi).hexdigest(),
                    len(smi),
                )
            )
    return plan


def _resolution(listed: datetime) -> timedelta:
    """The step of the DM's modification times: whole seconds unless it lists fractions."""
    return timedelta(seconds=1) if listed.microsecond == 0 else timedelta(microseconds=1)


def in_squonk(planned: PlannedFile, remote: RemoteFile | None, sent: SquonkFile | None) -> bool:
    """Does Squonk2 hold the planned bytes? It lists the file with the planned size, the
    ledger says we sent these bytes there, and the listed file was written at or after we
    began sending them (so it is ours, not an older file of the same name and size).

    A DM that lists no (readable) modification time leaves size and ledger to decide."""
    if remote is None or sent is None:
        return False
    if remote.size != planned.size or sent.size != planned.size or sent.sha256 != planned.sha256:
        return False
    listed = remote.modified_at
    if listed is None:
        return True
    since = as_utc(sent.uploaded)
    if _resolution(listed) == timedelta(seconds=1):
        since = since.replace(microsecond=0)  # the DM truncates to the second
    return listed >= since


def sending_since(remote: RemoteFile | None, now: datetime) -> datetime:
    """The time a ledger row gets before its file is sent: now, or just after the file the
    folder lists under that name if that one looks newer (a DM clock ahead of ours), so the
    older file can never pass for the one we are about to send."""
    listed = remote.modified_at if remote is not None else None
    if listed is None:
        return now
    return max(now, listed + _resolution(listed))


def proteins_of(target: Target, codes: list[str]) -> list[Protein]:
    return list(
        db.session.scalars(
            select(Protein)
            .where(Protein.target_id == target.id, Protein.code.in_(codes))
            .order_by(Protein.code)
        )
    )


def resolve_codes(snapshot: Snapshot, codes: list[str] | None) -> list[str]:
    """The protein codes to send: the snapshot's, or the given ones of its target."""
    if codes is None:
        return sorted(snapshot.protein_codes)
    if not isinstance(codes, list) or not all(isinstance(c, str) for c in codes) or not codes:
        raise TransferError("proteins must be a non-empty list of protein codes")
    known = set(
        db.session.scalars(
            select(Protein.code).where(
                Protein.target_id == snapshot.target_id, Protein.code.in_(codes)
            )
        )
    )
    foreign = [c for c in dict.fromkeys(codes) if c not in known]
    if foreign:
        raise TransferError(f"Not proteins of {snapshot.target.title}: {', '.join(foreign)}")
    return sorted(set(codes))


TASK = "app.transfers.task.transfer_files"


def transfer_is_alive(transfer: JobFileTransfer) -> bool:
    """Is the row's RQ task still going to run (or running with a recent heartbeat)?"""
    job = live_task(task_id("transfer", transfer.id))
    if job is None:
        return False
    if job.get_status(refresh=False) == JobStatus.STARTED:
        stale = timedelta(seconds=current_app.config["TRANSFER_STALE_SECONDS"])
        return utcnow() - as_utc(transfer.heartbeat) < stale
    return True


def enqueue_transfer(transfer: JobFileTransfer) -> None:
    """Commit first, then enqueue (a fast worker must find the row)."""
    db.session.commit()
    enqueue(
        TASK,
        "transfer",
        transfer.id,
        on_failure="app.transfers.task.transfer_attempt_failed",
        timeout=3600,
    )


def orphaned_transfers() -> list[int]:
    """Transfers whose worker died mid-way (no live RQ task, heartbeat gone quiet)."""
    rows = db.session.scalars(
        select(JobFileTransfer).where(JobFileTransfer.transfer_status.in_((PENDING, STARTED)))
    ).all()
    return [row.id for row in rows if not transfer_is_alive(row)]


def latest_transfer(snapshot_id: int) -> JobFileTransfer | None:
    """The newest transfer of a snapshot the current user may see."""
    return db.session.scalars(
        visible_transfers()
        .where(JobFileTransfer.snapshot_id == snapshot_id)
        .order_by(JobFileTransfer.id.desc())
        .limit(1)
    ).first()


def request_transfer(
    snapshot: Snapshot, user: User, codes: list[str] | None = None, recheck: bool = False
) -> tuple[JobFileTransfer, bool]:
    """Ask for the snapshot's files in Squonk2. Returns (transfer, created).

    A fresh successful transfer covering the proteins, or one in flight, is returned as it
    is; otherwise a new row is committed and queued. ``recheck`` (the panel's "Check files
    in Squonk2 again") makes a new row even after a fresh transfer: its task lists the
    folder again and sends what is not there, and the row is the check's line in the
    history. The files the proteins lack are not sent: the row names them
    (``files_missing``) and the rest still goes.
    """
    target: Target = snapshot.target
    wanted = resolve_codes(snapshot, codes)
    if not target.default_squonk_project and not current_app.config["SQUONK2_EMBEDDED"]:
        raise TransferError(
            f"{target.title} has no Squonk2 project yet: ask an administrator to set one"
        )
    candidates = db.session.scalars(
        select(JobFileTransfer)
        .where(JobFileTransfer.snapshot_id == snapshot.id)
        .order_by(JobFileTransfer.id.desc())
    ).all()
    for existing in candidates:
        if not set(wanted) <= set(existing.proteins) or not can_view_transfer(existing, user):
            continue
        if existing.transfer_status in (PENDING, STARTED):
            if transfer_is_alive(existing):
                return existing, False
            # its worker died: the same row picks up where it stopped
            log.info("transfer %s was orphaned; queueing it again", existing.id)
            existing.transfer_status = PENDING
            existing.heartbeat = utcnow()
            enqueue_transfer(existing)
            return existing, False
        if existing.is_fresh and not recheck:
            return existing, False

    transfer = JobFileTransfer(
        snapshot=snapshot,
        target=target,
        user=user,
        squonk_project=target.default_squonk_project,
        proteins=wanted,
        compounds=[],
        files_missing=missing_files(proteins_of(target, wanted)),
    )
    db.session.add(transfer)
    enqueue_transfer(transfer)
    return transfer, True


def check_summary(transfer: JobFileTransfer) -> str | None:
    """ "checked at 12:03 UTC: 2 to upload, 7 already there" for a transfer that listed
    the folder and finished (what it found then: to upload counts what it sent)."""
    if transfer.transfer_status != SUCCESS or transfer.transfer_datetime is None:
        return None
    to_upload = transfer.files_total - transfer.files_skipped
    return (
        f"checked at {as_utc(transfer.transfer_datetime):%H:%M} UTC: "
        f"{to_upload} to upload, {transfer.files_skipped} already there"
    )


def fresh_transfer(snapshot: Snapshot, codes: list[str], user: User) -> JobFileTransfer | None:
    """The latest successful transfer of the snapshot covering ``codes`` that is still fresh."""
    for transfer in db.session.scalars(
        select(JobFileTransfer)
        .where(
            JobFileTransfer.snapshot_id == snapshot.id, JobFileTransfer.transfer_status == SUCCESS
        )
        .order_by(JobFileTransfer.id.desc())
    ):
        if (
            set(codes) <= set(transfer.proteins)
            and transfer.is_fresh
            and can_view_transfer(transfer, user)
        ):
            return transfer
    return None


def fresh_transfers(snapshot: Snapshot, user: User) -> list[JobFileTransfer]:
    """The snapshot's successful transfers the user may see that are still fresh, newest
    first."""
    return [
        transfer
        for transfer in db.session.scalars(
            select(JobFileTransfer)
            .where(
                JobFileTransfer.snapshot_id == snapshot.id,
                JobFileTransfer.transfer_status == SUCCESS,
            )
            .order_by(JobFileTransfer.id.desc())
        )
        if transfer.is_fresh and can_view_transfer(transfer, user)
    ]


def lacking_files(proteins: dict[str, Protein], needed: list[tuple[str, str]]) -> list[dict]:
    """The ``(code, kind)`` files of ``needed`` the target has no such file for, as
    :func:`missing_file` entries (codes not in ``proteins``, by code, are left out)."""
    return [
        missing_file(code, kind)
        for code, kind in needed
        if code in proteins and not has_file(proteins[code], kind)
    ]


def needed_files_check(
    snapshot: Snapshot, needed: list[tuple[str, str]], user: User
) -> tuple[list[dict], list[dict]]:
    """Which of the ``(code, kind)`` files a launch needs are not in Squonk2, as
    ``(lacking, unsent)`` lists of :func:`missing_file` entries: ``lacking`` the target has
    no such file (sending again cannot help), ``unsent`` it has one that no fresh transfer
    of the snapshot sent (sent after the target last changed)."""
    wanted = list(dict.fromkeys(needed))
    proteins = {p.code: p for p in proteins_of(snapshot.target, [code for code, _ in wanted])}
    lacking = lacking_files(proteins, wanted)
    sent: set[tuple[str, str]] = set()
    transfers = fresh_transfers(snapshot, user) if len(lacking) < len(wanted) else []
    for transfer in transfers:
        absent = {(m["protein"], m["kind"]) for m in transfer.files_missing or ()}
        sent |= {(c, k) for c, k in wanted if c in transfer.proteins and (c, k) not in absent}
    unsent = [
        missing_file(code, kind)
        for code, kind in wanted
        if code in proteins and has_file(proteins[code], kind) and (code, kind) not in sent
    ]
    return lacking, unsent


def ensure_squonk_project(target: Target) -> str:
    """The target's Squonk2 project; the embedded default creates one on first use."""
    if target.default_squonk_project:
        return target.default_squonk_project
    if not current_app.config["SQUONK2_EMBEDDED"]:
        raise TransferError(f"{target.title} has no Squonk2 project")
    name = f"fragalysis-{target.title}"
    # a project of that name survives a fresh database in the same local Squonk2: reuse it
    project_id = squonk().find_project(name) or squonk().create_project(
        name, current_app.config.get("SQUONK2_PRODUCT_ID") or _test_product_id()
    )
    target.default_squonk_project = project_id
    db.session.commit()
    log.info("created Squonk2 project %s for %s", project_id, target.title)
    return project_id


def _test_product_id() -> str:
    from squonk2.dm_api import TEST_PRODUCT_ID

    return TEST_PRODUCT_ID


TRANSFER_STATES = frozenset({PENDING, STARTED, SUCCESS, FAILURE})


class TransferFilterError(ValueError):
    """An unknown status in a list filter."""


def transfer_list(
    snapshot: int | None = None,
    target: str | None = None,
    status: str | None = None,
    limit: int | None = None,
) -> list[JobFileTransfer]:
    """The transfers the caller may see, newest first, with what a row shows loaded in the
    same query: the one list the history page and the API share."""
    stmt = visible_transfers().options(
        contains_eager(JobFileTransfer.target), joinedload(JobFileTransfer.user)
    )
    if snapshot:
        stmt = stmt.where(JobFileTransfer.snapshot_id == snapshot)
    if target:
        stmt = stmt.where(Target.title == target)
    if status:
        if status.upper() not in TRANSFER_STATES:
            raise TransferFilterError(status)
        stmt = stmt.where(JobFileTransfer.transfer_status == status.upper())
    stmt = stmt.order_by(JobFileTransfer.id.desc())
    return list(db.session.scalars(stmt.limit(limit) if limit else stmt).unique())
