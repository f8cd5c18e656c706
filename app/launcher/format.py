"""The formats of the launcher's job files, as JSON Schemas (Draft 2020-12).

- ``override_schema()``: a ``job_schemas/*.yaml`` file, what Fragalysis adds to a Squonk2
  job definition (which job, where inputs come from, ``x-launcher``, presets, imports);
- ``format_schema()``: the launcher's document of one job, that file merged on top of its
  definition (``app.launcher.definition.merge_document``), checked before it is built.

Kept as Python dicts rather than ``.json`` files so they travel with the package however
it is installed. ``job_schemas/README.md`` documents every key; keep the two in step.

The schemas check the structure and catch typos (``additionalProperties: false``
everywhere). Rules that need more than one value at a time (``min <= max``, a default that
satisfies its own option's bounds, ``order`` naming declared options...) are checked after
it by ``app.launcher.schemas``.

An input's ``from`` must name a registered input kind (``app.launcher.inputs``); the kinds'
own rules (a protein input takes one protein...) are theirs to check.
"""

from __future__ import annotations

from typing import Any

from app.launcher.inputs import input_sources
from app.launcher.value_formats import VALUE_FORMATS

# ``INPUT_SOURCES`` (where an input takes its files from in the snapshot, its ``from``) and
# ``FORMAT_SCHEMA`` follow the input-kind registry (``app.launcher.inputs``), so they are
# computed when read: see ``__getattr__`` at the end.

# Values the launcher substitutes into templated option values and output file names.
PLACEHOLDERS = ("username", "job_dir", "target", "protein")

# What an output may be imported as (issue 7).
OUTPUT_IMPORTS = ("computed-set",)

OPTION_TYPES = ("string", "integer", "number", "boolean", "array")
ITEM_TYPES = ("string", "integer", "number", "boolean")

_NAME = "^[A-Za-z_][A-Za-z0-9_]*$"
_MIME_TYPE = "^[a-z]+/[A-Za-z0-9.+-]+$"

_ITEMS: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["type"],
    "properties": {
        "type": {"enum": list(ITEM_TYPES)},
        "enum": {"type": "array", "minItems": 1},
        "minimum": {"type": "number"},
        "maximum": {"type": "number"},
        "pattern": {"type": "string"},
        "format": {"enum": list(VALUE_FORMATS)},
    },
}

_LAUNCHER_OVERRIDE: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["value"],
    "properties": {
        "value": {},
        "editable": {"type": "boolean"},
        "hidden": {"type": "boolean"},
    },
}

_OPTION: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["type"],
    "properties": {
        "type": {"enum": list(OPTION_TYPES)},
        "title": {"type": "string", "minLength": 1},
        "description": {"type": "string"},
        "default": {},
        "enum": {"type": "array", "minItems": 1},
        "minimum": {"type": "number"},
        "maximum": {"type": "number"},
        "pattern": {"type": "string"},
        "minLength": {"type": "integer", "minimum": 0},
        "maxLength": {"type": "integer", "minimum": 0},
        "format": {"enum": list(VALUE_FORMATS)},
        "items": _ITEMS,
        "minItems": {"type": "integer", "minimum": 0},
        "maxItems": {"type": "integer", "minimum": 0},
        "x-launcher": _LAUNCHER_OVERRIDE,
    },
}

_INPUT: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["from", "format"],
    "properties": {
        # "from": {"enum": [...the registered input kinds...]}, added by format_schema()
        "format": {"type": "string", "pattern": _MIME_TYPE},
        "title": {"type": "string", "minLength": 1},
        "min": {"type": "integer", "minimum": 1},
        "max": {"type": "integer", "minimum": 1},
    },
}

# Which Squonk2 job, and its words in the picker: the same in both schemas
_IDENTITY: dict[str, Any] = {
    "collection": {"type": "string", "pattern": "^[a-z][a-z0-9-]*$"},
    "job": {"type": "string", "pattern": "^[a-z][a-z0-9-]*$"},
    "version": {"type": "string", "minLength": 1, "maxLength": 24},
    "title": {"type": "string", "minLength": 1},
    "description": {"type": "string"},
}

_FORMAT_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "Fragalysis job launcher: one launchable Squonk2 job",
    "type": "object",
    "additionalProperties": False,
    "required": ["collection", "job", "version", "title", "inputs", "options"],
    "properties": {
        **_IDENTITY,
        "inputs": {
            "type": "object",
            "minProperties": 1,
            "propertyNames": {"pattern": _NAME},
            "additionalProperties": _INPUT,
        },
        "options": {
            "type": "object",
            "additionalProperties": False,
            "required": ["type", "properties"],
            "properties": {
                "type": {"const": "object"},
                "required": {
                    "type": "array",
                    "items": {"type": "string"},
                    "uniqueItems": True,
                },
                "order": {
                    "type": "array",
                    "items": {"type": "string"},
                    "uniqueItems": True,
                },
                "properties": {
                    "type": "object",
                    "propertyNames": {"pattern": _NAME},
                    "additionalProperties": _OPTION,
                },
            },
        },
    },
}


# A ``job_schemas/*.yaml`` file: what Fragalysis adds to a Squonk2 job definition
_OVERRIDE_INPUT: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["from"],
    "properties": {
        # "from": {"enum": [...the registered input kinds...]}, added by override_schema()
        "title": {"type": "string", "minLength": 1},
        "min": {"type": "integer", "minimum": 1},
        "max": {"type": "integer", "minimum": 1},
    },
}

_OVERRIDE_OPTION: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        **_LAUNCHER_OVERRIDE["properties"],
        **{
            key: _OPTION["properties"][key]
            for key in (
                "title",
                "description",
                "format",
                "minimum",
                "maximum",
                "minLength",
                "maxLength",
                "minItems",
                "maxItems",
            )
        },
    },
}

_PRESET: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["name", "title", "options"],
    "properties": {
        "name": {"type": "string", "pattern": "^[a-z][a-z0-9-]*$"},
        "title": {"type": "string", "minLength": 1},
        "description": {"type": "string"},
        "options": {"type": "object", "propertyNames": {"pattern": _NAME}},
    },
}

_OVERRIDE_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "Fragalysis job launcher: what Fragalysis adds to one Squonk2 job",
    "type": "object",
    "additionalProperties": False,
    "required": ["collection", "job", "version", "inputs"],
    "properties": {
        **_IDENTITY,
        "inputs": {
            "type": "object",
            "minProperties": 1,
            "propertyNames": {"pattern": _NAME},
            "additionalProperties": _OVERRIDE_INPUT,
        },
        "x-launcher": {
            "type": "object",
            "propertyNames": {"pattern": _NAME},
            "additionalProperties": _OVERRIDE_OPTION,
        },
        "presets": {"type": "array", "items": _PRESET},
        "outputs": {
            "type": "object",
            "propertyNames": {"pattern": "^[A-Za-z_][A-Za-z0-9_-]*$"},
            "additionalProperties": {
                "type": "object",
                "additionalProperties": False,
                "required": ["import"],
                "properties": {"import": {"enum": list(OUTPUT_IMPORTS)}},
            },
        },
    },
}


def _with_sources(
    schema: dict[str, Any], item: dict[str, Any], sources: tuple[str, ...] | None
) -> dict[str, Any]:
    """``schema`` with each input's ``from`` limited to ``sources`` (default: the registered
    input kinds). A new dict each call; the parts it shares with others are not copied."""
    sources = input_sources() if sources is None else sources
    item = {**item, "properties": {"from": {"enum": list(sources)}, **item["properties"]}}
    inputs = {**schema["properties"]["inputs"], "additionalProperties": item}
    return {**schema, "properties": {**schema["properties"], "inputs": inputs}}


def override_schema(sources: tuple[str, ...] | None = None) -> dict[str, Any]:
    """The JSON Schema of a ``job_schemas/*.yaml`` file, ``from`` limited to ``sources``."""
    return _with_sources(_OVERRIDE_SCHEMA, _OVERRIDE_INPUT, sources)


def format_schema(sources: tuple[str, ...] | None = None) -> dict[str, Any]:
    """The JSON Schema of the launcher's document of one job, ``from`` limited to
    ``sources``."""
    return _with_sources(_FORMAT_SCHEMA, _INPUT, sources)


def __getattr__(name: str) -> Any:
    if name == "INPUT_SOURCES":
        return input_sources()
    if name == "FORMAT_SCHEMA":
        return format_schema()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
