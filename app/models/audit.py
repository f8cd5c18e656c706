"""Audit trail: who did what to which object, and when (admins read it; nothing edits it)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, DateTime, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import db
from app.models.base import utcnow
from app.models.users import User


class AuditEvent(db.Model):
    """One recorded action, e.g. ``delete`` of the ``computed_set`` named ``x-2024-03-15-A``.

    The username is copied so the row still says who it was after the user is deleted, and
    the object is named as well as numbered because the object itself may be gone.
    """

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    time: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    username: Mapped[str | None] = mapped_column(String(150))
    action: Mapped[str] = mapped_column(String(40))
    object_type: Mapped[str] = mapped_column(String(40), index=True)
    object_id: Mapped[int | None] = mapped_column(Integer)
    object_name: Mapped[str | None] = mapped_column(String(200))
    detail: Mapped[dict] = mapped_column(JSON, default=dict)

    user: Mapped[User | None] = relationship()

    @classmethod
    def record(
        cls,
        user: User | str | None,
        action: str,
        obj_type: str,
        obj_id: int | None,
        name: str | None,
        **detail,
    ) -> AuditEvent:
        """Add an event to the session; it commits with the change it describes.

        :param user: who did it: a user, a name for an actor that is no user (the command
            line: ``cli:<OS user>``), or None (anonymous)
        """
        by_name = isinstance(user, str)
        event = cls(
            user=None if by_name else user,
            username=user if by_name else (user.username if user else None),
            action=action,
            object_type=obj_type,
            object_id=obj_id,
            object_name=name,
            detail=detail,
        )
        db.session.add(event)
        return event

    def __repr__(self) -> str:
        return f"<AuditEvent {self.action} {self.object_type} {self.object_name}>"
