"""Comparing a launcher job schema with the job definition Squonk2 actually has.

``flask jobs check`` fetches each job with ``get_job_by_version`` and prints what this
returns, so a job that changed in Squonk2 is found before a scientist's launch fails.
"""

from __future__ import annotations

import json
from typing import Any

from app.launcher.schemas import JobSchema

# JSON Schema bounds a Squonk2 option may have, and the direction ours must stay within.
_LOWER_BOUNDS = ("minimum", "minLength", "minItems")
_UPPER_BOUNDS = ("maximum", "maxLength", "maxItems")


def check_against_definition(schema: JobSchema, definition: dict[str, Any]) -> list[str]:
    """Differences between ``schema`` and a Squonk2 job definition, worded for a person.

    Reported: another collection/job/version; an input missing in Squonk2, single where we
    send several, or not accepting our file format; an input Squonk2 requires that we do
    not provide; an option missing in Squonk2, of another type, with an enum value or a
    bound Squonk2 would refuse; an option Squonk2 requires, without a default, that we do
    not set. Extra optional Squonk2 options are fine (Squonk2 uses their defaults).

    :param definition: the JSON body of ``GET /job/get-by-version`` (``variables`` may be
        an object or JSON text)
    :returns: one message per difference; empty when the two agree
    """
    problems: list[str] = []
    for field in ("collection", "job", "version"):
        theirs = definition.get(field)
        ours = getattr(schema, field)
        if theirs is not None and str(theirs) != ours:
            problems.append(f"{field} is {theirs!r} in Squonk2 but {ours!r} here")

    variables = definition.get("variables") or {}
    if isinstance(variables, str):
        variables = json.loads(variables) if variables.strip() else {}
    problems += _input_problems(schema, variables.get("inputs") or {})
    problems += _option_problems(schema, variables.get("options") or {})
    return problems


def _input_problems(schema: JobSchema, block: dict[str, Any]) -> list[str]:
    problems: list[str] = []
    theirs: dict[str, Any] = block.get("properties") or {}
    for item in schema.inputs:
        spec = theirs.get(item.name)
        if spec is None:
            problems.append(f"input {item.name} missing in Squonk2")
            continue
        multiple = bool(spec.get("multiple")) or spec.get("type") == "files"
        if item.multiple and not multiple and (item.max or 2) > 1:
            problems.append(f"input {item.name} takes one file in Squonk2 but several here")
        if not item.multiple and multiple:
            # Harmless for Squonk2, but the command template will loop over one file.
            problems.append(f"input {item.name} takes several files in Squonk2 but one here")
        mime_types = spec.get("mime-types") or []
        if mime_types and item.format not in mime_types:
            problems.append(
                f"input {item.name} is {item.format} here but Squonk2 accepts "
                f"{', '.join(mime_types)}"
            )
    ours = {item.name for item in schema.inputs}
    for name in block.get("required") or []:
        if name not in ours:
            problems.append(f"input {name} is required by Squonk2 but not provided here")
    return problems


def _option_problems(schema: JobSchema, block: dict[str, Any]) -> list[str]:
    problems: list[str] = []
    theirs: dict[str, Any] = block.get("properties") or {}
    for name in schema.order:
        ours = schema.option_properties[name]
        spec = theirs.get(name)
        if spec is None:
            problems.append(f"option {name} missing in Squonk2")
            continue
        if spec.get("type") != ours["type"]:
            problems.append(
                f"option {name} is {ours['type']} here but {spec.get('type')} in Squonk2"
            )
            continue
        if "enum" in spec:
            refused = [value for value in ours.get("enum", []) if value not in spec["enum"]]
            if refused:
                listed = ", ".join(str(value) for value in refused)
                problems.append(f"option {name}: Squonk2 does not accept {listed}")
            elif "enum" not in ours:
                problems.append(f"option {name} is free here but one of a list in Squonk2")
        for keyword in _LOWER_BOUNDS:
            if keyword in spec and ours.get(keyword, float("-inf")) < spec[keyword]:
                problems.append(
                    f"option {name}: {keyword} is {ours.get(keyword, 'unset')} here but "
                    f"{spec[keyword]} in Squonk2"
                )
        for keyword in _UPPER_BOUNDS:
            if keyword in spec and ours.get(keyword, float("inf")) > spec[keyword]:
                problems.append(
                    f"option {name}: {keyword} is {ours.get(keyword, 'unset')} here but "
                    f"{spec[keyword]} in Squonk2"
                )
    for name in block.get("required") or []:
        if name not in schema.option_properties and "default" not in theirs.get(name, {}):
            problems.append(
                f"option {name} is required by Squonk2 (no default) but not provided here"
            )
    return problems
