"""Launchable jobs: reading and checking ``job_schemas/*.yaml`` (format: job_schemas/README.md).

A file's structure is checked against ``override_schema()``; it is then merged on top of its
Squonk2 definition (``app.launcher.definition``) and the merged job checked in two passes.
The first validates it against ``format_schema()`` (structure, types, ``from`` naming a
registered input kind). The second checks
what needs several values at once: each input's kind's own rules (``min <= max``, one
protein), defaults and enum values that satisfy their own option, ``order``/``required``
naming declared options, templates using known placeholders only. Every problem is reported
with the file it comes from (the override's or the definition's), the dotted path inside it
(``x-launcher.count.value``) and the reason, so a bad file stops start-up with a message
that says where to look.
"""

from __future__ import annotations

import dataclasses
import functools
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jsonschema
import wtforms
import yaml
from jsonschema import Draft202012Validator

from app.launcher.definition import Definition, Key, definitions_from_dir, merge_document
from app.launcher.format import PLACEHOLDERS, format_schema, override_schema
from app.launcher.inputs import InputKind, input_kind, input_kinds, input_sources

JOB_SCHEMAS_DIR = Path(__file__).resolve().parents[2] / "job_schemas"

if TYPE_CHECKING:  # launch.py imports this module
    from app.launcher.checks import LaunchContext

_KEY = re.compile(r"^[a-z][a-z0-9-]*$")
# Any ``{word}`` in a template; those not in PLACEHOLDERS are reported as typos.
_TEMPLATE_FIELD = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
# Option names become attributes of a WTForms form class; these would shadow its API.
_RESERVED_OPTION_NAMES = frozenset(n for n in dir(wtforms.Form()) if not n.startswith("__")) | {
    "csrf_token"
}
# JSON Schema keywords that only make sense for some option types.
_KEYWORD_TYPES = {
    "minimum": ("integer", "number"),
    "maximum": ("integer", "number"),
    "pattern": ("string",),
    "format": ("string",),
    "minLength": ("string",),
    "maxLength": ("string",),
    "items": ("array",),
    "minItems": ("array",),
    "maxItems": ("array",),
}


@functools.cache
def _format_validator(sources: tuple[str, ...]) -> Draft202012Validator:
    """The format's validator for these registered input kinds (one per registry state)."""
    return Draft202012Validator(format_schema(sources))


@dataclass(frozen=True)
class Problem:
    """One thing wrong in one job schema file."""

    file: str
    path: str
    reason: str

    def __str__(self) -> str:
        return f"{self.file}: {self.path}: {self.reason}"


class JobSchemaError(ValueError):
    """One or more job schema files are invalid; the message lists file, path and reason."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(problem) for problem in problems))

    @property
    def file(self) -> str:
        return self.problems[0].file

    @property
    def path(self) -> str:
        return self.problems[0].path

    @property
    def reason(self) -> str:
        return self.problems[0].reason


@dataclass(frozen=True)
class JobInput:
    """A Squonk2 input and where its files come from in the snapshot.

    ``source`` names its input kind (``kind``, from ``app.launcher.inputs``); ``min``/``max``
    bound how many snapshot codes may be chosen, as the kind reads them from the file (a
    protein input is always exactly one: ``min == max == 1``). ``max`` is None when unbounded.
    """

    name: str
    source: str
    format: str
    title: str
    min: int
    max: int | None

    @property
    def kind(self) -> InputKind:
        return input_kind(self.source)

    @property
    def multiple(self) -> bool:
        return self.kind.multiple


@dataclass(frozen=True)
class OptionOverride:
    """The launcher's own value for an option (the ``x-launcher`` block).

    ``editable`` options start at ``value`` but the user may change them; the others are
    fixed: the server always uses ``value`` (templates rendered per launch) whatever was
    submitted. ``hidden`` fixed options are left out of the form altogether.
    """

    value: Any
    editable: bool = True
    hidden: bool = False

    @property
    def fixed(self) -> bool:
        return not self.editable

    @property
    def placeholders(self) -> tuple[str, ...]:
        return template_fields(self.value) if isinstance(self.value, str) else ()


@dataclass(frozen=True)
class JobOutput:
    """A result file of the job, from the definition's ``variables.outputs``: ``creates`` is
    its Jinja template over the options (``'{{ outfile }}'``; ``option`` names the option
    when the template is just one), ``file`` a launcher template (``{job_dir}/run.log``).
    ``import_as`` is ``"computed-set"`` for files to load into Fragalysis (the override's
    ``outputs``); ``fields`` the definition's descriptions of the file's fields
    (``annotation-properties.fields-descriptor``)."""

    name: str
    title: str
    type: str
    file: str | None = None
    option: str | None = None
    import_as: str | None = None
    creates: str | None = None
    fields: dict[str, str] = field(default_factory=dict, compare=False)

    def path(self, options: dict[str, Any], context: LaunchContext | None = None) -> str:
        """The project-relative path of this output for a launch with these options.

        :param options: the resolved options of the launch (as stored on the job request)
        :param context: a ``LaunchContext``, needed only when ``file`` uses placeholders
        """
        if self.option is not None:
            return str(options[self.option])
        if self.creates:
            return _render_creates(self.creates, options)
        assert self.file is not None
        if not template_fields(self.file):
            return self.file
        if context is None:
            raise ValueError(f"Output {self.name} needs a launch context for {self.file!r}")
        return render_template(self.file, context.values())


@functools.cache
def _creates_template(text: str):
    from jinja2.sandbox import SandboxedEnvironment

    return SandboxedEnvironment(autoescape=False).from_string(text)


def _render_creates(text: str, options: dict[str, Any]) -> str:
    """A definition's ``creates`` rendered with the launch's options (as Squonk2 does)."""
    return " ".join(_creates_template(text).render(**options).split())


@dataclass(frozen=True)
class Preset:
    """A "Start from" choice of the dialog: option values to begin with.

    ``source`` is ``"definition"`` (a test of the Squonk2 job definition) or ``"override"``
    (the ``presets`` of the job_schemas file); ``options`` holds editable options only, each
    valid against its option's schema.
    """

    name: str
    title: str
    options: dict[str, Any]
    source: str = "override"
    description: str = ""


@dataclass(frozen=True)
class JobSchema:
    """One launchable job, as read from ``job_schemas/<key>.yaml``.

    ``options`` is the plain JSON Schema of the options (``x-launcher`` blocks moved to
    ``overrides``); ``order`` lists every option name in display order.
    """

    key: str
    collection: str
    job: str
    version: str
    title: str
    description: str
    inputs: list[JobInput]
    options: dict[str, Any]
    order: list[str]
    overrides: dict[str, OptionOverride]
    outputs: list[JobOutput]
    source: Path | None = field(default=None, compare=False)
    presets: list[Preset] = field(default_factory=list)
    # The Squonk2 definition's picker details
    category: str = ""
    keywords: list[str] = field(default_factory=list)
    doc_url: str = ""
    # Which definition it was built on (a refresh that changes it makes a new schema)
    definition_digest: str = ""

    def preset(self, name: str) -> Preset | None:
        return next((preset for preset in self.presets if preset.name == name), None)

    @property
    def option_properties(self) -> dict[str, dict[str, Any]]:
        return self.options.get("properties", {})

    @property
    def required_options(self) -> list[str]:
        return list(self.options.get("required", []))

    def input(self, name: str) -> JobInput | None:
        return next((item for item in self.inputs if item.name == name), None)

    def is_fixed(self, option: str) -> bool:
        override = self.overrides.get(option)
        return override is not None and override.fixed

    @property
    def imported_outputs(self) -> list[JobOutput]:
        """Outputs to import as computed sets when the job succeeds (issue 7)."""
        return [output for output in self.outputs if output.import_as == "computed-set"]


def template_fields(text: str) -> tuple[str, ...]:
    """The ``{name}`` fields a template uses, in order of appearance."""
    return tuple(_TEMPLATE_FIELD.findall(text))


def render_template(text: str, values: dict[str, str | None]) -> str:
    """Substitute the launcher placeholders in ``text``; other braces are left alone.

    Not ``str.format``: a value such as a regular expression may hold braces of its own.

    :raises ValueError: when a placeholder it uses has no value
    """

    def substitute(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in PLACEHOLDERS:
            return match.group(0)
        value = values.get(name)
        if value is None:
            raise ValueError(f"No value for {{{name}}} in {text!r}")
        return value

    return _TEMPLATE_FIELD.sub(substitute, text)


def load_job_schemas(
    directory: Path = JOB_SCHEMAS_DIR, definitions: Mapping[Key, Definition] | None = None
) -> dict[str, JobSchema]:
    """Read and check every ``*.yaml`` in ``directory`` on top of its Squonk2 definition,
    keyed by file name without suffix.

    Every file is checked before raising so one start-up shows all the problems.

    :param directory: the folder of job schema files (what Fragalysis adds to each job)
    :param definitions: the Squonk2 job definitions by (collection, job, version); by
        default those of the local Squonk2 (``local_squonk/jobs``)
    :raises JobSchemaError: listing every problem (file, path inside it, reason)
    """
    if not directory.is_dir():
        raise JobSchemaError([Problem(str(directory), "(directory)", "not a directory")])
    if definitions is None:
        definitions = definitions_from_dir()
    schemas: dict[str, JobSchema] = {}
    problems: list[Problem] = []
    for path in sorted(directory.glob("*.yaml")):
        try:
            override = load_override(path)
            schemas[override.key] = build_job_schema(override, definitions.get(override.job_key))
        except JobSchemaError as error:
            problems.extend(error.problems)
    if problems:
        raise JobSchemaError(problems)
    return schemas


def load_job_schema(path: Path, definitions: Mapping[Key, Definition] | None = None) -> JobSchema:
    """Read and check one job schema file on top of its definition.

    :raises JobSchemaError: listing the file's problems
    """
    override = load_override(path)
    if definitions is None:
        definitions = definitions_from_dir()
    return build_job_schema(override, definitions.get(override.job_key))


@dataclass(frozen=True)
class Override:
    """A checked ``job_schemas/<key>.yaml`` file: what Fragalysis adds to one Squonk2 job."""

    key: str
    path: Path
    document: dict[str, Any] = field(repr=False)

    @property
    def job_key(self) -> Key:
        d = self.document
        return (d["collection"], d["job"], d["version"])

    @property
    def label(self) -> str:
        return f"{self.document['collection']}/{self.document['job']} {self.document['version']}"


def load_overrides(directory: Path = JOB_SCHEMAS_DIR) -> dict[str, Override]:
    """Read and check the structure of every ``*.yaml`` in ``directory``.

    :raises JobSchemaError: listing every problem of every file
    """
    if not directory.is_dir():
        raise JobSchemaError([Problem(str(directory), "(directory)", "not a directory")])
    overrides: dict[str, Override] = {}
    problems: list[Problem] = []
    for path in sorted(directory.glob("*.yaml")):
        try:
            override = load_override(path)
        except JobSchemaError as error:
            problems.extend(error.problems)
        else:
            overrides[override.key] = override
    if problems:
        raise JobSchemaError(problems)
    return overrides


def load_override(path: Path) -> Override:
    """Read one job schema file and check its structure (not yet against Squonk2).

    :raises JobSchemaError: listing the file's problems
    """
    file = str(path)
    key = path.stem
    if not _KEY.match(key):
        raise JobSchemaError(
            [Problem(file, "(file name)", "must be lower-case letters, digits and '-'")]
        )
    try:
        document = yaml.load(path.read_text(encoding="utf-8"), Loader=_UniqueKeyLoader)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "(document)"
        reason = " ".join(p for p in (error.context, error.problem) if p) or str(error)
        raise JobSchemaError([Problem(file, where, f"not valid YAML: {reason}")]) from error
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
        raise JobSchemaError([Problem(file, "(document)", f"cannot read: {error}")]) from error
    found = sorted(
        {_explain(e) for e in _override_validator(input_sources()).iter_errors(document)}
    )
    if found:
        raise JobSchemaError([Problem(file, where, reason) for where, reason in found])
    return Override(key, path, document)


def build_job_schema(override: Override, definition: Definition | None) -> JobSchema:
    """The launchable job: ``override`` merged on top of its Squonk2 ``definition``.

    :raises JobSchemaError: naming the file (the override's, or the definition's source)
        and the path of each problem
    """
    file = str(override.path)
    if definition is None:
        raise JobSchemaError([Problem(file, "job", f"Squonk2 has no job {override.label}")])
    merged = merge_document(file, override.document, definition)
    problems = [Problem(*found) for found in merged.problems]
    document = merged.document
    checked = _format_problems(document) or list(_rule_problems(document))
    problems += [Problem(*_locate(where, file, definition), reason) for where, reason in checked]
    if problems:
        raise JobSchemaError(list(dict.fromkeys(problems)))
    schema = _build(override.key, override.path, document)
    presets, problems = _checked_presets(schema, file, merged.presets)
    if problems:
        raise JobSchemaError(problems)
    outputs = [
        JobOutput(
            name=o["name"],
            title=o["title"],
            type=o["type"],
            option=o["option"],
            import_as=o["import"],
            creates=None if o["option"] else o["creates"],
            fields=o["fields"],
        )
        for o in merged.outputs
    ]
    for output in outputs:
        if output.option is not None and output.option not in schema.option_properties:
            raise JobSchemaError(
                [
                    Problem(
                        definition.source,
                        definition.where(f"variables.outputs.properties.{output.name}.creates"),
                        f"{output.option!r} is not an option of the job",
                    )
                ]
            )
    return dataclasses.replace(
        schema,
        outputs=outputs,
        presets=presets,
        definition_digest=definition.digest,
        **merged.picker,
    )


def _locate(path: str, file: str, definition: Definition) -> tuple[str, str]:
    """Where a problem of the merged document comes from: the override's file and path, or
    the definition's."""
    option = re.match(r"^options\.properties\.([^.\[]+)(.*)$", path)
    if option:
        name, rest = option.groups()
        launcher = re.match(r"^\.x-launcher(.*)$", rest)
        if launcher:
            return file, f"x-launcher.{name}{launcher.group(1)}"
        return definition.source, definition.where(f"variables.options.properties.{name}{rest}")
    listed = re.match(r"^options\.(required|order)(.*)$", path)
    if listed:
        which, rest = listed.groups()
        where = "variables.options.required" if which == "required" else "variables.order.options"
        return definition.source, definition.where(f"{where}{rest}")
    return file, path


def _checked_presets(
    schema: JobSchema, file: str, found: list[dict[str, Any]]
) -> tuple[list[Preset], list[Problem]]:
    """The presets that set only editable options to values they accept. An invalid test
    of the definition is left out; an invalid preset of the override is a problem."""
    presets: list[Preset] = []
    problems: list[Problem] = []
    for preset in found:
        wrong: list[tuple[str, str]] = []
        for name, value in preset["options"].items():
            where = f"presets[{preset.get('index')}].options.{name}"
            prop = schema.option_properties.get(name)
            if prop is None:
                wrong.append((where, f"{name!r} is not an option of the job"))
            elif schema.is_fixed(name):
                wrong.append((where, f"{name!r} is fixed by x-launcher"))
            else:
                wrong += [(where, reason) for reason in _value_problems(prop, value)]
        if preset["source"] == "override":
            problems += [Problem(file, where, reason) for where, reason in wrong]
        if wrong or any(p.name == preset["name"] for p in presets):
            if preset["source"] == "override" and not wrong:
                where = f"presets[{preset.get('index')}].name"
                problems.append(Problem(file, where, f"{preset['name']!r} is used twice"))
            continue
        presets.append(
            Preset(
                name=preset["name"],
                title=preset["title"],
                options=dict(preset["options"]),
                source=preset["source"],
                description=preset.get("description", ""),
            )
        )
    return presets, problems


def job_config_json(schema: JobSchema) -> dict[str, Any]:
    """One item of ``GET /api/job_config/`` (CONTRACTS.md section 4).

    ``inputs`` is a list (order kept; JSON objects lose it when keys are sorted) and
    ``options`` the JSON Schema with each override back in its property's ``x-launcher``
    block and the display ``order``, so an API client can build the same dialog.
    """
    properties: dict[str, Any] = {}
    for name in schema.order:
        prop = dict(schema.option_properties[name])
        override = schema.overrides.get(name)
        if override is not None:
            prop["x-launcher"] = {
                "value": override.value,
                "editable": override.editable,
                "hidden": override.hidden,
            }
        properties[name] = prop
    return {
        "key": schema.key,
        "collection": schema.collection,
        "job": schema.job,
        "version": schema.version,
        "title": schema.title,
        "description": schema.description,
        "inputs": [
            {
                "name": item.name,
                "from": item.source,
                "format": item.format,
                "title": item.title,
                "min": item.min,
                "max": item.max,
                "multiple": item.multiple,
            }
            for item in schema.inputs
        ],
        "options": {
            "type": "object",
            "properties": properties,
            "required": schema.required_options,
            "order": list(schema.order),
        },
    }


# Loading -----------------------------------------------------------------------------------


class _UniqueKeyLoader(yaml.SafeLoader):
    """A safe loader that refuses duplicate keys (PyYAML silently keeps the last one)."""


def _construct_mapping(loader: yaml.SafeLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}", key_node.start_mark
            )
        seen.add(key)
    return loader.construct_mapping(node)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _dotted(parts: Any) -> str:
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(top level)"


@functools.cache
def _override_validator(sources: tuple[str, ...]) -> Draft202012Validator:
    return Draft202012Validator(override_schema(sources))


def _format_problems(document: Any) -> list[tuple[str, str]]:
    """Structure problems, as (path, reason), sorted by path."""
    found: list[tuple[str, str]] = []
    for error in _format_validator(input_sources()).iter_errors(document):
        found.append(_explain(error))
    return sorted(set(found))


def _explain(error: jsonschema.ValidationError) -> tuple[str, str]:
    """A path that points at the offending key and a reason a YAML author understands."""
    parts = list(error.absolute_path)
    if error.validator == "required":
        missing = re.findall(r"'([^']+)' is a required property", error.message)
        return _dotted([*parts, *missing[:1]]), "is required"
    if error.validator == "additionalProperties" and error.validator_value is False:
        allowed = sorted(error.schema.get("properties", {}))
        extra = sorted(set(error.instance) - set(allowed))
        return _dotted([*parts, extra[0]]), f"unknown key (expected one of: {', '.join(allowed)})"
    if "propertyNames" in error.relative_schema_path:
        return (
            _dotted([*parts, error.instance]),
            "names must be letters, digits and '_', not starting with a digit",
        )
    reason = error.message
    if error.validator == "type" and error.validator_value == "string":
        if isinstance(error.instance, bool | int | float):
            # YAML reads 1.0, yes, on... as numbers and booleans; quoting is the fix.
            reason += " (quote it in YAML)"
    return _dotted(parts), reason


def _rule_problems(document: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """Rules across several values, for a document that already has the right structure."""
    inputs: dict[str, Any] = document["inputs"]
    options: dict[str, Any] = document["options"]
    properties: dict[str, Any] = options["properties"]
    sources = {spec["from"] for spec in inputs.values()}

    for name, spec in inputs.items():
        where = f"inputs.{name}"
        yield from input_kind(spec["from"]).spec_problems(where, spec)
        if name in properties:
            yield where, "an input and an option have the same name"

    for name, prop in properties.items():
        yield from _option_problems(f"options.properties.{name}", name, prop, sources)

    for index, name in enumerate(options.get("required", [])):
        if name not in properties:
            yield f"options.required[{index}]", f"{name!r} is not a declared option"
    for index, name in enumerate(options.get("order", [])):
        if name not in properties:
            yield f"options.order[{index}]", f"{name!r} is not a declared option"


def _option_problems(
    where: str, name: str, prop: dict[str, Any], sources: set[str]
) -> Iterator[tuple[str, str]]:
    kind = prop["type"]
    if name in _RESERVED_OPTION_NAMES or name.startswith("_"):
        yield where, f"{name!r} is reserved (it would clash with the form's own attributes)"
    for keyword, kinds in _KEYWORD_TYPES.items():
        if keyword in prop and kind not in kinds:
            yield f"{where}.{keyword}", f"does not apply to a {kind} option"
    if kind == "array" and "items" not in prop:
        yield f"{where}.items", "is required for an array option"
    items = prop.get("items") or {}
    if "format" in items and items.get("type") != "string":
        yield f"{where}.items.format", f"does not apply to {items.get('type')} items"
    for low, high in (("minimum", "maximum"), ("minLength", "maxLength"), ("minItems", "maxItems")):
        if low in prop and high in prop and prop[low] > prop[high]:
            yield f"{where}.{low}", f"{low} ({prop[low]}) is greater than {high} ({prop[high]})"
    for pattern_where, pattern in (
        (f"{where}.pattern", prop.get("pattern")),
        (f"{where}.items.pattern", (prop.get("items") or {}).get("pattern")),
    ):
        if pattern is not None:
            try:
                re.compile(pattern)
            except re.error as error:
                yield pattern_where, f"not a valid regular expression: {error}"
                return  # the checks below would only repeat this problem

    own = option_json_schema(prop)
    try:
        Draft202012Validator.check_schema(own)
    except jsonschema.SchemaError as error:
        yield _dotted([where, *error.absolute_path]), f"not a valid JSON Schema: {error.message}"
        return
    without_enum = {k: v for k, v in own.items() if k != "enum"}
    for index, value in enumerate(prop.get("enum", [])):
        for reason in _value_problems(without_enum, value):
            yield f"{where}.enum[{index}]", reason
    if "default" in prop:
        for reason in _value_problems(own, prop["default"]):
            yield f"{where}.default", reason

    override = prop.get("x-launcher")
    if override is None:
        return
    if override.get("hidden") and override.get("editable"):
        yield f"{where}.x-launcher.hidden", "a hidden option cannot be editable"
    value = override["value"]
    if isinstance(value, str) and template_fields(value):
        templated = f"{where}.x-launcher.value"
        yield from _template_problems(templated, value, sources)
        if kind != "string":
            yield templated, "only string options can hold a template"
        if override.get("editable", not override.get("hidden", False)):
            # The form shows an editable value before any launch context exists.
            yield f"{where}.x-launcher.editable", "a templated value must be 'editable: false'"
    else:
        for reason in _value_problems(own, value):
            yield f"{where}.x-launcher.value", reason


def _value_problems(schema: dict[str, Any], value: Any) -> list[str]:
    """Why ``value`` does not satisfy an option's own schema (empty when it does)."""
    return [error.message for error in Draft202012Validator(schema).iter_errors(value)]


def _template_problems(where: str, text: str, sources: set[str]) -> Iterator[tuple[str, str]]:
    for name in template_fields(text):
        if name not in PLACEHOLDERS:
            known = ", ".join(f"{{{p}}}" for p in PLACEHOLDERS)
            yield where, f"unknown placeholder {{{name}}} (known: {known})"
        elif name == "protein" and not any(input_kind(s).provides_protein for s in sources):
            providers = " or ".join(k.source for k in input_kinds() if k.provides_protein)
            yield where, f"{{protein}} needs an input from {providers}"


def option_json_schema(prop: dict[str, Any]) -> dict[str, Any]:
    """An option's property schema without the launcher's own keys."""
    return {k: v for k, v in prop.items() if k != "x-launcher"}


def _job_input(name: str, spec: dict[str, Any]) -> JobInput:
    low, high = input_kind(spec["from"]).bounds(spec)
    return JobInput(
        name=name,
        source=spec["from"],
        format=spec["format"],
        title=spec.get("title", name),
        min=low,
        max=high,
    )


def _build(key: str, path: Path, document: dict[str, Any]) -> JobSchema:
    options = document["options"]
    properties = options["properties"]
    declared_order = list(options.get("order", []))
    # Options missing from ``order`` follow it in the order the file declares them.
    order = declared_order + [name for name in properties if name not in declared_order]
    inputs = [_job_input(name, spec) for name, spec in document["inputs"].items()]
    overrides = {
        name: OptionOverride(
            value=prop["x-launcher"]["value"],
            editable=prop["x-launcher"].get("editable", not prop["x-launcher"].get("hidden")),
            hidden=prop["x-launcher"].get("hidden", False),
        )
        for name, prop in properties.items()
        if "x-launcher" in prop
    }
    return JobSchema(
        key=key,
        collection=document["collection"],
        job=document["job"],
        version=document["version"],
        title=document["title"],
        description=document.get("description", "").strip(),
        inputs=inputs,
        options={
            "type": "object",
            "properties": {name: option_json_schema(properties[name]) for name in order},
            "required": list(options.get("required", [])),
        },
        order=order,
        overrides=overrides,
        outputs=[],  # the definition's, added by build_job_schema
        source=path,
    )
