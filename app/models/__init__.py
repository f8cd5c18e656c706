"""SQLAlchemy models, one module per area."""

from app.models.audit import AuditEvent
from app.models.computed_sets import (
    ComputedMolecule,
    ComputedSet,
    ComputedSetUpload,
    computed_molecule_inspirations,
)
from app.models.jobs import JobDefinition, JobEvent, JobRequest
from app.models.snapshots import Snapshot, snapshot_proteins
from app.models.targets import Protein, Target
from app.models.transfers import JobFileTransfer, SquonkFile
from app.models.users import ApiToken, Project, User, project_members

__all__ = [
    "ApiToken",
    "AuditEvent",
    "ComputedMolecule",
    "ComputedSet",
    "ComputedSetUpload",
    "JobDefinition",
    "JobEvent",
    "JobFileTransfer",
    "JobRequest",
    "SquonkFile",
    "Project",
    "Protein",
    "Snapshot",
    "Target",
    "User",
    "computed_molecule_inspirations",
    "project_members",
    "snapshot_proteins",
]
