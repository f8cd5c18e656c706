"""File transfers of a snapshot's files to a Squonk2 project, and the ledger of what
was uploaded where (so a later transfer can tell which remote files are ours and current)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, DateTime, Float, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import db
from app.models.base import as_utc, utcnow
from app.models.snapshots import Snapshot
from app.models.targets import Target
from app.models.users import User

PENDING, STARTED, SUCCESS, FAILURE = "PENDING", "STARTED", "SUCCESS", "FAILURE"
FINAL_TRANSFER_STATES = frozenset({SUCCESS, FAILURE})


class JobFileTransfer(db.Model):
    __tablename__ = "job_file_transfers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    snapshot_id: Mapped[int] = mapped_column(
        ForeignKey("snapshots.id", ondelete="CASCADE"), index=True
    )
    target_id: Mapped[int] = mapped_column(ForeignKey("targets.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    squonk_project: Mapped[str | None] = mapped_column(String(80))
    proteins: Mapped[list] = mapped_column(JSON, default=list)
    compounds: Mapped[list] = mapped_column(JSON, default=list)
    transfer_status: Mapped[str] = mapped_column(String(16), default=PENDING, index=True)
    transfer_progress: Mapped[float] = mapped_column(Float, default=0.0)
    transfer_datetime: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    message: Mapped[str | None] = mapped_column(Text)
    files_total: Mapped[int] = mapped_column(Integer, default=0)
    files_uploaded: Mapped[int] = mapped_column(Integer, default=0)
    files_skipped: Mapped[int] = mapped_column(Integer, default=0)
    # The files the snapshot's proteins lack, not sent: [{"protein", "kind", "file"}]
    files_missing: Mapped[list | None] = mapped_column(JSON)
    created: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # Moves at every step of the task: a STARTED row that stopped moving was orphaned
    heartbeat: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    snapshot: Mapped[Snapshot] = relationship()
    target: Mapped[Target] = relationship()
    user: Mapped[User | None] = relationship()

    @property
    def is_final(self) -> bool:
        return self.transfer_status in FINAL_TRANSFER_STATES

    @property
    def is_fresh(self) -> bool:
        """Succeeded after the target's files last changed."""
        return (
            self.transfer_status == SUCCESS
            and self.transfer_datetime is not None
            and as_utc(self.transfer_datetime) > as_utc(self.target.last_updated_datetime)
        )


class SquonkFile(db.Model):
    """A file we uploaded to a Squonk2 project, with the SHA-256 of the bytes we sent."""

    __tablename__ = "squonk_files"
    __table_args__ = (
        UniqueConstraint("squonk_project", "path", "file_name", name="uq_squonk_files_location"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    squonk_project: Mapped[str] = mapped_column(String(80))
    path: Mapped[str] = mapped_column(String(500))
    file_name: Mapped[str] = mapped_column(String(255))
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(Integer)
    uploaded: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
