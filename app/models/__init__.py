"""SQLAlchemy models, one module per area."""

from app.models.snapshots import Snapshot, snapshot_proteins
from app.models.targets import Protein, Target
from app.models.transfers import JobFileTransfer, SquonkFile
from app.models.users import ApiToken, Project, User, project_members

__all__ = [
    "ApiToken",
    "JobFileTransfer",
    "SquonkFile",
    "Project",
    "Protein",
    "Snapshot",
    "Target",
    "User",
    "project_members",
    "snapshot_proteins",
]
