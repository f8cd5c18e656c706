"""Computed sets: molecules computed from a target's hits (uploaded, or imported from a job)."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import db
from app.models.base import utcnow
from app.models.targets import Protein, Target
from app.models.users import User

# The target's proteins a molecule names in its ref_mols (its inspirations)
computed_molecule_inspirations = Table(
    "computed_molecule_inspirations",
    db.metadata,
    Column(
        "molecule_id", ForeignKey("computed_molecules.id", ondelete="CASCADE"), primary_key=True
    ),
    Column("protein_id", ForeignKey("proteins.id", ondelete="CASCADE"), primary_key=True),
)


class ComputedSet(db.Model):
    """A validated computed-set SDF: its header, its stored file and its molecules.

    ``owner`` None means anonymous (an old set): visible to all who see the target, deletable
    only by an admin. Files are under DATA_DIR/csets/<name>/; the paths here are relative.
    """

    __tablename__ = "computed_sets"
    __table_args__ = (Index("ix_computed_sets_target_id_sdf_sha256", "target_id", "sdf_sha256"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    target_id: Mapped[int] = mapped_column(ForeignKey("targets.id", ondelete="CASCADE"), index=True)
    owner_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    submitter_name: Mapped[str] = mapped_column(String(200))
    submitter_email: Mapped[str] = mapped_column(String(254))
    submitter_institution: Mapped[str] = mapped_column(String(200))
    method: Mapped[str] = mapped_column(String(200))
    ref_url: Mapped[str] = mapped_column(String(1000))
    generation_date: Mapped[date] = mapped_column(Date)
    # property name -> description, from the header record
    descriptions: Mapped[dict] = mapped_column(JSON, default=dict)
    # score names in order of first appearance in the file: the set page's columns
    score_names: Mapped[list] = mapped_column(JSON, default=list)
    sdf_file: Mapped[str] = mapped_column(String(500))
    zip_file: Mapped[str | None] = mapped_column(String(500))
    # hex SHA-256 of the SDF as uploaded: the same file again is a duplicate (None: stored
    # before digests were kept)
    sdf_sha256: Mapped[str | None] = mapped_column(String(64))
    # The JobRequest that produced the set (unique: a retried import can never create a
    # second set for the same job); deleting the job keeps the set.
    job_request_id: Mapped[int | None] = mapped_column(
        ForeignKey("job_requests.id", ondelete="SET NULL", use_alter=True), unique=True
    )
    molecule_count: Mapped[int] = mapped_column(Integer, default=0)
    created: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    target: Mapped[Target] = relationship()
    owner: Mapped[User | None] = relationship()
    molecules: Mapped[list[ComputedMolecule]] = relationship(
        back_populates="computed_set", order_by="ComputedMolecule.id", passive_deletes=True
    )

    def __repr__(self) -> str:
        return f"<ComputedSet {self.name}>"


class ComputedMolecule(db.Model):
    """One molecule of a set: its pose, SMILES, inspirations (ref_mols), ref_pdb and scores."""

    __tablename__ = "computed_molecules"
    __table_args__ = (
        UniqueConstraint("computed_set_id", "name", name="uq_computed_molecules_set_name"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    computed_set_id: Mapped[int] = mapped_column(
        ForeignKey("computed_sets.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(200))
    smiles: Mapped[str] = mapped_column(Text)
    original_smiles: Mapped[str] = mapped_column(Text)
    mol_block: Mapped[str] = mapped_column(Text)
    # Fragment codes as written in the file (order kept); `inspirations` links the same codes
    ref_mols: Mapped[list] = mapped_column(JSON, default=list)
    ref_pdb: Mapped[str] = mapped_column(String(255))
    # score name -> float (numeric values) or str (text values)
    scores: Mapped[dict] = mapped_column(JSON, default=dict)
    # problems found on import, names from app.csets.service.FLAGS (None: stored before)
    flags: Mapped[list | None] = mapped_column(JSON, default=list)
    # Drawn on first view and kept: drawing every molecule at import would add ~1.5 ms each
    depiction_svg: Mapped[str | None] = mapped_column(Text)

    computed_set: Mapped[ComputedSet] = relationship(back_populates="molecules")
    inspirations: Mapped[list[Protein]] = relationship(
        secondary=computed_molecule_inspirations, order_by="Protein.code"
    )

    def __repr__(self) -> str:
        return f"<ComputedMolecule {self.name}>"


class ComputedSetUpload(db.Model):
    """A large upload waiting for, or handled by, the background task (the row the
    progress page polls): validated and stored by ``app.csets.task.store_upload``.

    ``status``: QUEUED -> VALIDATING -> STORING -> DONE, or FAILED (``problems`` and/or
    ``message`` say why). The staged files (DATA_DIR-relative) are removed once done.
    """

    __tablename__ = "computed_set_uploads"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    target_id: Mapped[int] = mapped_column(ForeignKey("targets.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    status: Mapped[str] = mapped_column(String(20), default="QUEUED")
    progress: Mapped[int] = mapped_column(Integer, default=0)
    records: Mapped[int] = mapped_column(Integer, default=0)  # molecules, counted on upload
    file_name: Mapped[str] = mapped_column(String(255), default="")
    validate_only: Mapped[bool] = mapped_column(Boolean, default=False)
    upload_anyway: Mapped[bool] = mapped_column(Boolean, default=False)
    sdf_file: Mapped[str | None] = mapped_column(String(500))
    zip_file: Mapped[str | None] = mapped_column(String(500))
    # the report's problems: [{"record", "name", "field", "message"}]
    problems: Mapped[list | None] = mapped_column(JSON)
    message: Mapped[str | None] = mapped_column(Text)
    computed_set_id: Mapped[int | None] = mapped_column(
        ForeignKey("computed_sets.id", ondelete="SET NULL")
    )
    created: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    target: Mapped[Target] = relationship()
    user: Mapped[User | None] = relationship()
    computed_set: Mapped[ComputedSet | None] = relationship()

    def __repr__(self) -> str:
        return f"<ComputedSetUpload {self.id} {self.status}>"
