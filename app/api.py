"""Helpers every JSON API module shares: the error shape, request bodies, dates, paging."""

from __future__ import annotations

from dataclasses import dataclass

from flask import abort, jsonify, make_response, request
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

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


# --- request bodies described by JSON Schemas ----------------------------------------------

ID = {"type": "integer", "minimum": 1, "maximum": 2**31 - 1}


def text(max_length: int, *, required: bool = False) -> dict:
    """A string field; optional ones may also be null."""
    if required:
        return {"type": "string", "minLength": 1, "maxLength": max_length}
    return {"type": ["string", "null"], "maxLength": max_length}


def codes(max_items: int = 5000) -> dict:
    """A list of protein codes."""
    return {
        "type": "array",
        "maxItems": max_items,
        "items": {"type": "string", "minLength": 1, "maxLength": 100},
    }


def body_schema(properties: dict, required: tuple[str, ...] = ()) -> Draft202012Validator:
    """The validator of a JSON object body (unknown fields are refused, so typos show)."""
    schema = {
        "type": "object",
        "properties": properties,
        "required": list(required),
        "additionalProperties": False,
    }
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


_TYPES = {
    "string": "a string",
    "array": "a list",
    "object": "an object",
    "integer": "an integer",
    "number": "a number",
    "boolean": "true or false",
    "null": "null",
}


def _problem(error: ValidationError) -> tuple[str, str]:
    """``(field, what is wrong)`` in words a client's author can act on."""
    path = ".".join(str(part) for part in error.absolute_path)
    kind, value = error.validator, error.validator_value
    if error.schema is ID:
        return path, "must be an id (an integer from 1 to 2147483647)"
    if kind == "required":
        missing = next(name for name in value if name not in error.instance)
        return (f"{path}.{missing}" if path else missing), "is required"
    if kind == "additionalProperties":
        extra = sorted(set(error.instance) - set(error.schema.get("properties", {})))
        return (f"{path}.{extra[0]}" if path else extra[0]), "is not a field of this request"
    if kind == "type":
        kinds = [value] if isinstance(value, str) else [v for v in value if v != "null"]
        return path, "must be " + " or ".join(_TYPES.get(k, k) for k in kinds)
    if kind == "maxLength":
        return path, f"may have at most {value:,} characters"
    if kind == "minLength":
        return path, "must not be empty"
    if kind == "maxItems":
        return path, f"may have at most {value:,} items"
    if kind == "minItems":
        return path, f"needs at least {value:,} item" + ("" if value == 1 else "s")
    if kind in ("minimum", "maximum"):
        low, high = error.schema.get("minimum"), error.schema.get("maximum")
        return path, f"must be between {low} and {high}" if None not in (low, high) else (
            f"must be at least {low}" if high is None else f"must be at most {high}"
        )
    return path, error.message


def valid_body(validator: Draft202012Validator) -> dict:
    """The request's JSON object if ``validator`` accepts it, else a 400 naming each field."""
    body = json_body()
    problems: dict[str, str] = {}
    for found in sorted(validator.iter_errors(body), key=lambda e: list(e.absolute_path)):
        field, problem = _problem(found)
        problems.setdefault(field or "body", problem)
    if problems:
        first = next(iter(problems))
        abort(
            make_response(jsonify({"error": f"{first} {problems[first]}", "fields": problems}), 400)
        )
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
