"""Turning what a user submitted into a checked Squonk2 launch.

The server calls these on every launch, whether the values came from the dialog (already
coerced by the form) or as raw JSON from ``POST /api/job_request/``; nothing here trusts
the browser. Order of use::

    errors = validate_inputs(schema, inputs, snapshot.protein_codes)
    options = resolve_options(schema, submitted_options, context)
    errors |= validate_options(schema, options)
    digest = fingerprint(target.title, schema, inputs, options)
    variables = squonk_variables(schema, inputs, options, file_path)
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from jsonschema import Draft202012Validator, ValidationError

from app.launcher.schemas import JobSchema, render_template
from app.launcher.value_formats import VALUE_FORMATS

# A job directory is a project-relative path: Squonk2 refuses absolute output paths, and
# the outfile options' patterns (Squonk2's own) allow only these characters.
_JOB_DIR = re.compile(r"^(?!/)(?!.*(?:^|/)\.\.(?:/|$))[A-Za-z0-9_./-]+$")


@dataclass(frozen=True)
class LaunchContext:
    """What templated option values may refer to, for one launch.

    :param username: the launching user's name
    :param job_dir: the launch's own directory in the Squonk2 project, relative to its root
        (e.g. ``fragalysis-jobs/alice/20250101-101500``: no leading ``/``, no spaces)
    :param target: the target's title
    :param protein: the code chosen for the job's protein input, if it has one
    """

    username: str
    job_dir: str
    target: str
    protein: str | None = None

    def __post_init__(self) -> None:
        if not _JOB_DIR.match(self.job_dir):
            raise ValueError(
                "job_dir must be a relative project path of letters, digits and '_.-/'"
                f" (no leading '/', no '..'): {self.job_dir!r}"
            )

    def values(self) -> dict[str, str | None]:
        return {
            "username": self.username,
            "job_dir": self.job_dir,
            "target": self.target,
            "protein": self.protein,
        }


def default_options(schema: JobSchema) -> dict[str, Any]:
    """The starting value of every option that has one: the launcher's editable value, else
    the JSON Schema ``default``. Fixed options are not included (see ``resolve_options``)."""
    values: dict[str, Any] = {}
    for name in schema.order:
        override = schema.overrides.get(name)
        if override is not None:
            if override.editable:
                values[name] = override.value
        elif "default" in schema.option_properties[name]:
            values[name] = schema.option_properties[name]["default"]
    return values


def resolve_options(
    schema: JobSchema, submitted: Mapping[str, Any], context: LaunchContext
) -> dict[str, Any]:
    """The options to launch with: defaults, then the user's values, then fixed values.

    A submitted ``None`` means "not given" (the default stays). Submitted values for fixed
    options are dropped silently: the user cannot change them, whatever the browser sent.
    Unknown names are kept so ``validate_options`` reports them instead of launching
    without what the caller asked for. Integral floats for integer options become ints
    (JSON clients may send ``3.0``; Squonk2 would render ``--count 3.0``); nothing else is
    coerced, so ``"3"`` for an integer stays a string and fails validation.

    :param schema: the job
    :param submitted: option values from the form or the API
    :param context: the launch's user, job directory, target and protein
    """
    options = default_options(schema)
    for name, value in submitted.items():
        if value is None or schema.is_fixed(name):
            continue
        options[name] = value
    for name, override in schema.overrides.items():
        if override.fixed:
            value = override.value
            options[name] = (
                render_template(value, context.values()) if isinstance(value, str) else value
            )
    return _normalise_numbers(schema, options)


def validate_options(schema: JobSchema, options: Mapping[str, Any]) -> dict[str, str]:
    """Check final options against the job's JSON Schema (Draft 2020-12).

    :returns: option name -> message, one per option (empty when valid); unknown options
        are reported under their own name
    """
    closed = {**schema.options, "additionalProperties": False}
    errors: dict[str, str] = {}
    validator = Draft202012Validator(closed)
    for error in sorted(validator.iter_errors(dict(options)), key=lambda e: list(e.path)):
        for name, message in _option_messages(schema, error):
            errors.setdefault(name, message)
    for name, value in options.items():
        if name not in errors and name in schema.option_properties:
            message = _format_problems(schema.option_properties[name], value)
            if message:
                errors[name] = message
    return errors


def _format_problems(prop: Mapping[str, Any], value: Any) -> str | None:
    """Every value of the option that is not in its ``format`` (``VALUE_FORMATS``), named:
    an array's items by line, as the dialog's text area shows them one a line."""
    own = VALUE_FORMATS.get(prop.get("format", ""))
    if own is not None and isinstance(value, str):
        return own(value)
    check = VALUE_FORMATS.get((prop.get("items") or {}).get("format", ""))
    if check is None or not isinstance(value, list):
        return None
    problems = [
        f"line {line}: {problem}"
        for line, item in enumerate(value, 1)
        if isinstance(item, str) and (problem := check(item))
    ]
    return "; ".join(problems) or None


def validate_inputs(
    schema: JobSchema, inputs: Mapping[str, Any], snapshot_codes: list[str]
) -> dict[str, str]:
    """Check chosen inputs: known names, codes from this snapshot, counts within bounds (each
    input's kind says what it accepts and words the message).

    :param inputs: input name -> list of codes (a multiple input, e.g. fragments) or one code
        (e.g. protein)
    :param snapshot_codes: the protein codes of the launch's snapshot
    :returns: input name -> message (empty when valid)
    """
    errors: dict[str, str] = {}
    known = set(snapshot_codes)
    for name in inputs:
        if schema.input(name) is None:
            errors[name] = f"Unknown input {name!r} for {schema.title}"
    for item in schema.inputs:
        message = item.kind.problem(item, inputs.get(item.name), known)
        if message:
            errors[item.name] = message
    return errors


def fingerprint(
    target: str, schema: JobSchema, inputs: Mapping[str, Any], options: Mapping[str, Any]
) -> str:
    """SHA-256 (hex) identifying "the same launch", for duplicate detection.

    Hashes a canonical JSON (sorted keys, compact) of the target, Squonk2 collection, job
    and version, the inputs (fragment lists sorted: choosing A then B is choosing B then A)
    and the options after defaults and overrides, with one rule: a fixed option counts as
    its *template* (``{job_dir}/merged.sdf``), never its rendered value. Rendered values
    carry the job directory and user name, which differ on every launch and say where and
    by whom, not what, is computed; what they may also carry (``{target}``, ``{protein}``)
    is already hashed as the target and the inputs. So the result is the same whether
    ``options`` is what the user sent or the output of ``resolve_options``.
    """
    editable = {name: value for name, value in options.items() if not schema.is_fixed(name)}
    canonical_options = {**default_options(schema), **_drop_none(editable)}
    for name, override in schema.overrides.items():
        if override.fixed:
            canonical_options[name] = override.value
    canonical_inputs = {
        name: sorted(value) if isinstance(value, list) else value for name, value in inputs.items()
    }
    payload = {
        "target": target,
        "collection": schema.collection,
        "job": schema.job,
        "version": schema.version,
        "inputs": canonical_inputs,
        "options": _normalise_numbers(schema, canonical_options),
    }
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def squonk_variables(
    schema: JobSchema,
    inputs: Mapping[str, Any],
    options: Mapping[str, Any],
    file_path: Callable[[str, str], str],
) -> dict[str, Any]:
    """The ``variables`` of the Squonk2 launch specification.

    Each input becomes project-relative file paths, as its kind says: a list for a multiple
    input such as fragments (always a list, even of one, as Squonk2 multiple inputs are),
    one path for a single one such as a protein.
    The options follow as given (pass the output of ``resolve_options``).

    :param inputs: checked inputs (see ``validate_inputs``)
    :param options: resolved and validated options
    :param file_path: ``(source, code) -> path`` where ``source`` is the input's ``from``
        (``lhs-fragments``, ``lhs-protein-apo-desolv``...); owned by the transfer code so
        the file layout in the project is defined in one place
    """
    variables: dict[str, Any] = {}
    for item in schema.inputs:
        path = functools.partial(file_path, item.source)
        variables[item.name] = item.kind.squonk_value(inputs[item.name], path)
    variables.update(options)
    return variables


# Helpers -----------------------------------------------------------------------------------


def _drop_none(values: Mapping[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in values.items() if value is not None}


def _normalise_numbers(schema: JobSchema, options: dict[str, Any]) -> dict[str, Any]:
    for name, value in options.items():
        kind = schema.option_properties.get(name, {}).get("type")
        if kind == "integer" and isinstance(value, float) and value.is_integer():
            options[name] = int(value)
    return options


def _option_messages(schema: JobSchema, error: ValidationError) -> list[tuple[str, str]]:
    """(option name, message) pairs for one jsonschema error, worded for a form."""
    if error.validator == "required":
        missing = re.findall(r"'([^']+)' is a required property", error.message)
        return [(name, "This option is required") for name in missing]
    if error.validator == "additionalProperties":
        extra = sorted(set(error.instance) - set(schema.option_properties))
        return [(name, f"Unknown option for {schema.title}") for name in extra]
    if not error.path:
        return [("options", error.message)]
    name = str(error.path[0])
    value = error.instance
    rule = error.validator_value
    if error.validator == "type":
        article = "an" if str(rule)[0] in "aeiou" else "a"
        message = f"Must be {article} {rule}, not {json.dumps(value)}"
    elif error.validator == "minimum":
        message = f"Must be at least {rule}"
    elif error.validator == "maximum":
        message = f"Must be at most {rule}"
    elif error.validator == "enum":
        message = f"Must be one of: {', '.join(str(choice) for choice in rule)}"
    elif error.validator == "pattern":
        message = f"{json.dumps(value)} does not match the pattern {rule}"
    else:
        message = error.message
    if len(error.path) > 1 and isinstance(error.path[1], int):
        message = f"Item {error.path[1] + 1}: {message}"
    return [(name, message)]
