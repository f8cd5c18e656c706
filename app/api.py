"""Helpers every JSON API module shares: the error shape, request bodies, dates, paging."""

from __future__ import annotations

from dataclasses import dataclass

from flask import abort, jsonify, request

from app.models.base import as_utc


def iso(value) -> str | None:
    """ISO 8601 with the UTC offset, whatever the database handed back."""
    return as_utc(value).isoformat() if value is not None else None


def json_body() -> dict:
    """The request's JSON object, or a 400 saying what is wrong."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        abort(400, description="The body must be a JSON object")
    return body


def error(message: str, http_status: int = 400, /, **fields: str):
    """The one error shape: ``{"error": ..., "fields"?: {name: problem}}``."""
    body: dict = {"error": message}
    if fields:
        body["fields"] = fields
    return jsonify(body), http_status


def is_id(value) -> bool:
    """A JSON integer id (``true`` is not 1)."""
    return isinstance(value, int) and not isinstance(value, bool)


@dataclass(frozen=True)
class Page:
    """Which slice of ``total`` rows page ``number`` shows, ``size`` at a time."""

    number: int
    pages: int
    size: int
    total: int

    @classmethod
    def of(cls, total: int, number: int | None, size: int) -> Page:
        pages = max(1, -(-total // size))
        return cls(min(max(1, number or 1), pages), pages, size, total)

    @property
    def offset(self) -> int:
        return (self.number - 1) * self.size
