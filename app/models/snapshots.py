"""Snapshots: a scientist's selection of a target's proteins (the LHS), kept as it was."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, DateTime, ForeignKey, Integer, String, Table, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import db
from app.models.base import utcnow
from app.models.targets import Protein, Target
from app.models.users import User

snapshot_proteins = Table(
    "snapshot_proteins",
    db.metadata,
    Column("snapshot_id", ForeignKey("snapshots.id", ondelete="CASCADE"), primary_key=True),
    Column("protein_id", ForeignKey("proteins.id", ondelete="CASCADE"), primary_key=True),
)


class Snapshot(db.Model):
    __tablename__ = "snapshots"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    target_id: Mapped[int] = mapped_column(ForeignKey("targets.id", ondelete="CASCADE"), index=True)
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)
    created: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    target: Mapped[Target] = relationship()
    author: Mapped[User | None] = relationship()
    proteins: Mapped[list[Protein]] = relationship(
        secondary=snapshot_proteins, order_by="Protein.code"
    )

    @property
    def protein_codes(self) -> list[str]:
        return [p.code for p in self.proteins]

    def __repr__(self) -> str:
        return f"<Snapshot {self.id} of {self.target_id}>"
