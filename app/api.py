"""Helpers every JSON API module shares: the error shape, request bodies, dates, paging."""

from __future__ import annotations

from dataclasses import dataclass

from flask import abort, jsonify, request

from app.models.base import as_utc


def iso(value) -> str | None:
    """ISO 8601 with the UTC offset, whatever the database handed back."""
    return as_utc(value).isoformat() if value is not None else None


# Ids are the database's integers (PostgreSQL ``integer``): anything outside is no id at all
MAX_ID = 2**31 - 1
# JSON bodies nest a few levels (an object of options holding arrays); far deeper is an attack
MAX_JSON_DEPTH = 32


def json_depth(data: bytes, limit: int = MAX_JSON_DEPTH) -> int:
    """How deep ``data`` nests arrays and objects (strings skipped), counted without parsing;
    stops counting once past ``limit``."""
    depth = deepest = 0
    in_string = escaped = False
    for byte in data:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:  # quote
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):  # [ {
            depth += 1
            if depth > deepest:
                deepest = depth
                if deepest > limit:
                    return deepest
        elif byte in (0x5D, 0x7D):
            depth -= 1
    return deepest


def json_body() -> dict:
    """The request's JSON object, or a 400 saying what is wrong (checked before parsing)."""
    data = request.get_data(cache=True)
    if json_depth(data) > MAX_JSON_DEPTH:
        abort(400, description=f"The JSON body nests deeper than {MAX_JSON_DEPTH} levels")
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
    """A JSON integer id in the database's range (``true`` is not 1)."""
    return isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= MAX_ID


def query_id(name: str) -> int | None:
    """An id from the query string: None when absent, 400 when it is not an id."""
    raw = request.args.get(name)
    if raw is None or raw == "":
        return None
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_ID:
        abort(400, description=f"{name} must be an id (an integer from 1 to {MAX_ID})")
    return int(raw)


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
