"""Users, projects (proposals such as lb18145-1) and their membership, API tokens."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime

from flask import current_app
from flask_login import UserMixin
from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    false,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship
from werkzeug.security import check_password_hash, generate_password_hash

from app.extensions import db
from app.models.base import as_utc, utcnow

project_members = Table(
    "project_members",
    db.metadata,
    Column("project_id", ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True),
    Column("user_id", ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
)


class User(UserMixin, db.Model):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(150), unique=True)
    email: Mapped[str | None] = mapped_column(String(254))
    password_hash: Mapped[str | None] = mapped_column(String(255))
    # Subject of an external identity (Keycloak) for users who never get a local password
    external_subject: Mapped[str | None] = mapped_column(String(255), unique=True)
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    created: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # Part of the id Flask-Login keeps in the session cookie: raising it (log out, "end
    # sessions", disable) makes every cookie issued before refer to no user
    session_generation: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # When an admin disabled the account: its cookies and tokens are refused while set
    disabled: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # The settings page's default for a launch's "E-mail me when it ends"
    notify_by_email: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())

    projects: Mapped[list[Project]] = relationship(
        secondary=project_members, back_populates="members"
    )

    @property
    def is_active(self) -> bool:
        return self.disabled is None

    def get_id(self) -> str:
        """The session's user id: ``<id>:<session generation>`` (Flask-Login's
        "alternative token"), so that bumping the generation ends every session."""
        return f"{self.id}:{self.session_generation or 0}"

    def set_password(self, password: str) -> None:
        # werkzeug's hashes are salted per password; scrypt unless configured otherwise
        method = current_app.config.get("PASSWORD_HASH_METHOD", "scrypt")
        self.password_hash = generate_password_hash(password, method=method)

    def check_password(self, password: str) -> bool:
        return bool(self.password_hash) and check_password_hash(self.password_hash, password)

    def __repr__(self) -> str:
        return f"<User {self.username}>"


class Project(db.Model):
    """A proposal/visit: the unit of data access in Fragalysis."""

    __tablename__ = "projects"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    title: Mapped[str] = mapped_column(String(200), unique=True)
    open_to_public: Mapped[bool] = mapped_column(Boolean, default=False)

    members: Mapped[list[User]] = relationship(secondary=project_members, back_populates="projects")

    def __repr__(self) -> str:
        return f"<Project {self.title}>"


class ApiToken(db.Model):
    """A bearer token for scripts; only its SHA-256 is stored. Revoked tokens are kept (as
    a record of what existed) but never accepted again."""

    __tablename__ = "api_tokens"
    __table_args__ = (
        # A name picks one live token of a user (``flask users revoke NAME TOKEN``); a
        # revoked token's name may be given to a new one
        Index(
            "uq_api_tokens_user_id_name_live",
            "user_id",
            "name",
            unique=True,
            sqlite_where=text("revoked IS NULL"),
            postgresql_where=text("revoked IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    expires: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_used: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    user: Mapped[User] = relationship()

    @staticmethod
    def hash(token: str) -> str:
        return hashlib.sha256(token.encode()).hexdigest()

    @classmethod
    def issue(
        cls, user: User, name: str | None = None, expires: datetime | None = None
    ) -> tuple[ApiToken, str]:
        """Create a token row; the clear token is returned once and never stored. Without
        a name it is called ``token-`` and the first 8 hex digits of its hash."""
        token = "fjl_" + secrets.token_urlsafe(32)
        token_hash = cls.hash(token)
        row = cls(user=user, name=name or f"token-{token_hash[:8]}", token_hash=token_hash)
        row.expires = expires
        db.session.add(row)
        return row, token

    def state(self, now: datetime | None = None) -> str:
        """``active``, ``revoked`` or ``expired`` (the owner's being disabled aside)."""
        if self.revoked is not None:
            return "revoked"
        if self.expires is not None and as_utc(self.expires) <= (now or utcnow()):
            return "expired"
        return "active"
