"""Fragment-screen targets and their proteins (one crystal structure + bound fragment each)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import db
from app.models.base import utcnow
from app.models.users import Project


class Target(db.Model):
    __tablename__ = "targets"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    title: Mapped[str] = mapped_column(String(200), unique=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id"), index=True)
    default_squonk_project: Mapped[str | None] = mapped_column(String(80))
    # Moves whenever a load changes any file: file transfers compare against it
    last_updated_datetime: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    created: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    project: Mapped[Project] = relationship()
    proteins: Mapped[list[Protein]] = relationship(
        back_populates="target", order_by="Protein.code", cascade="all, delete-orphan"
    )

    def __repr__(self) -> str:
        return f"<Target {self.title}>"


class Protein(db.Model):
    """One protein of a target: its ligand mol file, apo-desolv PDB and SMILES.

    File paths are relative to the DATA_DIR setting; the SHA-256 of each file is kept so a
    transfer can tell a changed file from an unchanged one without reading it again.
    """

    __tablename__ = "proteins"
    __table_args__ = (UniqueConstraint("target_id", "code", name="uq_proteins_target_code"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    target_id: Mapped[int] = mapped_column(ForeignKey("targets.id", ondelete="CASCADE"))
    code: Mapped[str] = mapped_column(String(200))
    smiles: Mapped[str | None] = mapped_column(Text)
    mol_file: Mapped[str | None] = mapped_column(String(500))
    mol_sha256: Mapped[str | None] = mapped_column(String(64))
    apo_desolv_file: Mapped[str | None] = mapped_column(String(500))
    apo_desolv_sha256: Mapped[str | None] = mapped_column(String(64))
    depiction_svg: Mapped[str | None] = mapped_column(Text)
    updated: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    target: Mapped[Target] = relationship(back_populates="proteins")

    @property
    def files(self) -> dict[str, bool]:
        return {"mol": bool(self.mol_file), "apo_desolv": bool(self.apo_desolv_file)}

    def __repr__(self) -> str:
        return f"<Protein {self.code}>"
