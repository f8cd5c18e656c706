"""Shared column helpers."""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    """Timezone-aware now in UTC; every timestamp we store is UTC."""
    return datetime.now(UTC)


def as_utc(value: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes: treat them as the UTC we stored."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)
