"""Job requests launched on Squonk2 and their history of status changes."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import db
from app.models.base import utcnow
from app.models.computed_sets import ComputedSet
from app.models.snapshots import Snapshot
from app.models.targets import Target
from app.models.users import Project, User


class JobRequest(db.Model):
    __tablename__ = "job_requests"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # the job_schemas file it was launched from, e.g. fragmenstein-combine
    job_key: Mapped[str] = mapped_column(String(100))
    squonk_collection: Mapped[str] = mapped_column(String(100))
    squonk_job: Mapped[str] = mapped_column(String(100))
    squonk_version: Mapped[str] = mapped_column(String(40))
    snapshot_id: Mapped[int] = mapped_column(
        ForeignKey("snapshots.id", ondelete="CASCADE"), index=True
    )
    target_id: Mapped[int] = mapped_column(ForeignKey("targets.id", ondelete="CASCADE"), index=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id"))
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    squonk_project: Mapped[str] = mapped_column(String(80))
    inputs: Mapped[dict] = mapped_column(JSON, default=dict)
    options: Mapped[dict] = mapped_column(JSON, default=dict)  # after defaults and overrides
    specification: Mapped[dict] = mapped_column(JSON, default=dict)  # Squonk2 variables
    job_dir: Mapped[str | None] = mapped_column(String(300))
    job_status: Mapped[str] = mapped_column(String(16), default="OPEN", index=True)
    fingerprint: Mapped[str] = mapped_column(String(64), index=True)
    # The callback URL's secret is HMAC(SECRET_KEY, nonce): the database holds the nonce and
    # the secret's SHA-256, so a copy of the database alone cannot forge callbacks.
    callback_nonce: Mapped[str] = mapped_column(String(64))
    callback_secret_hash: Mapped[str] = mapped_column(String(64), unique=True)
    callback_context: Mapped[str] = mapped_column(String(64), unique=True)
    squonk_instance_id: Mapped[str | None] = mapped_column(String(80), index=True)
    squonk_task_id: Mapped[str | None] = mapped_column(String(80))
    squonk_job_info: Mapped[dict | None] = mapped_column(JSON)
    message: Mapped[str | None] = mapped_column(Text)  # why it failed, in plain words
    user_summary: Mapped[str | None] = mapped_column(String(200))
    user_description: Mapped[str | None] = mapped_column(Text)
    # The set its results were imported as; deleting the set clears it (ON DELETE SET NULL)
    computed_set_id: Mapped[int | None] = mapped_column(
        ForeignKey("computed_sets.id", ondelete="SET NULL")
    )
    created: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    launched: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    started: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Last time Squonk2 told us anything (callback or poll): the reconciler's clock
    last_heard: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # "E-mail me when it ends" (the user's settings give the dialog's default), and when
    # that one e-mail was handed to the mail server (set once, by a conditional update)
    notify_by_email: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    notified: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # The ordinal of the last Squonk2 task event stored with the job (get_task's
    # event_prior_ordinal asks only for the ones after it)
    squonk_event_ordinal: Mapped[int | None] = mapped_column(Integer)
    # Optimistic concurrency: an update made from a stale read fails (StaleDataError) and
    # is retried, so concurrent callbacks never overwrite each other, on any database
    version: Mapped[int] = mapped_column(Integer, nullable=False, server_default="1")

    __mapper_args__ = {"version_id_col": version}

    snapshot: Mapped[Snapshot] = relationship()
    target: Mapped[Target] = relationship()
    project: Mapped[Project] = relationship()
    user: Mapped[User | None] = relationship()
    computed_set: Mapped[ComputedSet | None] = relationship(foreign_keys=[computed_set_id])
    events: Mapped[list[JobEvent]] = relationship(
        back_populates="job", order_by="JobEvent.id", cascade="all, delete-orphan"
    )

    def __repr__(self) -> str:
        return f"<JobRequest {self.id} {self.job_key} {self.job_status}>"


class JobEvent(db.Model):
    """One accepted change of a job's status (or a note about it): the job's history."""

    __tablename__ = "job_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    job_request_id: Mapped[int] = mapped_column(
        ForeignKey("job_requests.id", ondelete="CASCADE"), index=True
    )
    time: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    from_status: Mapped[str | None] = mapped_column(String(16))
    to_status: Mapped[str | None] = mapped_column(String(16))
    source: Mapped[str] = mapped_column(String(16))  # callback, poll, user, system
    message: Mapped[str | None] = mapped_column(Text)
    payload: Mapped[dict | None] = mapped_column(JSON)
    recorded: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    job: Mapped[JobRequest] = relationship(back_populates="events")


class JobDefinition(db.Model):
    """A Squonk2 job definition as ``get_job_by_version`` returned it, cached per Squonk2
    URL and job version; ``digest`` (SHA-256 of its canonical JSON) tells a change."""

    __tablename__ = "job_definitions"
    __table_args__ = (
        UniqueConstraint(
            "squonk_url", "collection", "job", "version", name="uq_job_definitions_version"
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    squonk_url: Mapped[str] = mapped_column(String(500))
    collection: Mapped[str] = mapped_column(String(100))
    job: Mapped[str] = mapped_column(String(100))
    version: Mapped[str] = mapped_column(String(40))
    definition: Mapped[dict] = mapped_column(JSON)
    digest: Mapped[str] = mapped_column(String(64))
    fetched: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
