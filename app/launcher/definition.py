"""Squonk2 job definitions, and a ``job_schemas/`` override merged on top of one.

A launchable job is what Squonk2 says it is (``get_job_by_version``: its options with their
types, titles, ``variables.order``, ``required``, ``enum``, ``pattern``, bounds, defaults,
``items``; its inputs' ``multiple`` and ``mime-types``; its outputs' ``creates`` template,
mime type and ``annotation-properties``; its ``tests``; ``category``, ``keywords``,
``doc-url``) plus what Fragalysis adds, from ``job_schemas/<key>.yaml`` (format:
job_schemas/README.md): which Squonk2 job, where each input's files come from (``from``,
``min``/``max``), fixed or hidden values and help text (``x-launcher``), presets, and which
output to import.

``merge_document`` turns the two into the launcher's own document (the shape
``app.launcher.format.format_schema`` describes), which ``app.launcher.schemas`` checks and
builds as before; each problem it finds is traced back to the file and path it comes from:
the override's (``x-launcher.count.value``) or the definition's
(``jobs.fragmenstein-combine.variables.options.properties.count.default`` in a
definition file, ``variables.options.properties.count.default`` of a job Squonk2 served).

Pure: no database, no Squonk2 calls; reading definition files is the one thing it does.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from app.launcher.inputs import input_kind
from app.launcher.value_formats import VALUE_FORMATS

DEFINITIONS_DIR = Path(__file__).resolve().parents[2] / "local_squonk" / "jobs"

# The mime type of each transferred file kind (``app.transfers.service.KINDS``)
FILE_FORMATS = {
    "mol": "chemical/x-mdl-molfile",
    "apo_desolv": "chemical/x-pdb",
    "smi": "chemical/x-daylight-smiles",
}

# The keywords of a Squonk2 option the launcher reads (others are Squonk2's own business)
_OPTION_KEYS = (
    "type",
    "title",
    "description",
    "default",
    "enum",
    "minimum",
    "maximum",
    "pattern",
    "minLength",
    "maxLength",
    "items",
    "minItems",
    "maxItems",
)
_ITEM_KEYS = ("type", "enum", "minimum", "maximum", "pattern")
# What an ``x-launcher`` block may add to an option; bounds only ever tighten Squonk2's
_TIGHTER_LOW = ("minimum", "minLength", "minItems")
_TIGHTER_HIGH = ("maximum", "maxLength", "maxItems")
# ``creates: '{{ outfile }}'``: the output is the file an option names
_OPTION_TEMPLATE = re.compile(r"^\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}$")


Key = tuple[str, str, str]  # (collection, job, version)


@dataclass(frozen=True)
class Definition:
    """One Squonk2 job definition as ``GET /job/get-by-version`` answers it.

    ``body`` holds at least ``collection``, ``job``, ``version``, ``name``, ``description``,
    ``category``, ``keywords``, ``doc_url`` and ``variables`` (an object); ``source`` says
    where it came from (a file, or "Squonk2 at <url>") and ``prefix`` the dotted path of
    the job inside it, for messages.
    """

    body: dict[str, Any] = field(repr=False)
    source: str
    prefix: str = ""

    @property
    def key(self) -> Key:
        return (str(self.body["collection"]), str(self.body["job"]), str(self.body["version"]))

    @property
    def variables(self) -> dict[str, Any]:
        return variables_of(self.body)

    @property
    def digest(self) -> str:
        return definition_digest(self.body)

    def where(self, path: str) -> str:
        return f"{self.prefix}{path}"


def variables_of(body: Mapping[str, Any]) -> dict[str, Any]:
    """A definition's ``variables`` (Squonk2 may send them as JSON text)."""
    variables = body.get("variables") or {}
    if isinstance(variables, str):
        try:
            variables = json.loads(variables) if variables.strip() else {}
        except ValueError:
            return {}
    return variables if isinstance(variables, dict) else {}


def definition_digest(body: Mapping[str, Any]) -> str:
    """A digest of what the launcher reads of a definition (a change makes a new one)."""
    text = json.dumps(normalised(body), sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


# The parts of a definition the launcher reads, compared by ``flask jobs check``
LAUNCHER_FIELDS = (
    "collection",
    "job",
    "version",
    "name",
    "description",
    "category",
    "keywords",
    "doc_url",
    "variables",
    "tests",
)


def normalised(body: Mapping[str, Any]) -> dict[str, Any]:
    """The fields the launcher keeps of a ``get_job_by_version`` answer (variables parsed)."""
    kept = {key: body.get(key) for key in LAUNCHER_FIELDS if body.get(key) is not None}
    kept["variables"] = variables_of(body)
    return kept


def definitions_from_dir(directory: Path = DEFINITIONS_DIR) -> dict[Key, Definition]:
    """The jobs of the ``DataManagerJobDefinition`` files in ``directory`` (the embedded
    local Squonk2's own), shaped as Squonk2 serves them.

    :raises ValueError: for a file that cannot be read as a definition
    """
    found: dict[Key, Definition] = {}
    for path in sorted(directory.glob("*.yaml")):
        document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        if not isinstance(document, dict) or not isinstance(document.get("jobs"), dict):
            raise ValueError(f"{path}: not a job definition file (no 'jobs')")
        for name, spec in document["jobs"].items():
            body = {
                "collection": document.get("collection"),
                "job": name,
                "version": str(spec.get("version")),
                "name": spec.get("name", name),
                "description": spec.get("description", ""),
                "category": spec.get("category", ""),
                "keywords": spec.get("keywords", []),
                "doc_url": spec.get("doc-url", ""),
                "variables": spec.get("variables") or {},
            }
            if spec.get("tests"):
                body["tests"] = spec["tests"]
            definition = Definition(body, str(path), f"jobs.{name}.")
            found[definition.key] = definition
    return found


def definition_changes(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """What changed between two definitions of a job, one line per value, e.g.
    ``variables.options.properties.count.maximum: 100 → 50``."""
    return list(_changes("", normalised(old), normalised(new)))


def _changes(path: str, old: Any, new: Any) -> Iterator[str]:
    if isinstance(old, dict) and isinstance(new, dict):
        for key in list(old) + [k for k in new if k not in old]:
            where = f"{path}.{key}" if path else str(key)
            if key not in new:
                yield f"{where}: {_shown(old[key])} → (removed)"
            elif key not in old:
                yield f"{where}: (none) → {_shown(new[key])}"
            else:
                yield from _changes(where, old[key], new[key])
    elif old != new:
        yield f"{path or '(definition)'}: {_shown(old)} → {_shown(new)}"


def _shown(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, default=str)
    return text if len(text) <= 120 else text[:117] + "..."


# Merging -------------------------------------------------------------------------------------


@dataclass
class Merged:
    """The launcher document for one job, and what the merge itself found wrong.

    ``problems`` are (file, path, reason); ``outputs`` and ``presets`` are plain data for
    ``app.launcher.schemas`` to build.
    """

    document: dict[str, Any]
    problems: list[tuple[str, str, str]]
    outputs: list[dict[str, Any]]
    presets: list[dict[str, Any]]
    picker: dict[str, Any]


def merge_document(file: str, override: dict[str, Any], definition: Definition) -> Merged:
    """The launcher's document for ``override`` (a valid ``job_schemas`` file, as data) on
    top of ``definition``."""
    problems: list[tuple[str, str, str]] = []
    variables = definition.variables
    name = f"{definition.key[0]}/{definition.key[1]} {definition.key[2]}"
    body = definition.body

    inputs_block = variables.get("inputs") or {}
    their_inputs: dict[str, Any] = inputs_block.get("properties") or {}
    inputs: dict[str, Any] = {}
    for input_name, spec in override["inputs"].items():
        where = f"inputs.{input_name}"
        theirs = their_inputs.get(input_name)
        if not isinstance(theirs, dict):
            known = ", ".join(their_inputs) or "none"
            problems.append((file, where, f"{name} in Squonk2 has no such input (it has: {known})"))
            continue
        kind = input_kind(spec["from"])
        file_format = FILE_FORMATS.get(kind.file_kind, "application/octet-stream")
        merged = {"from": spec["from"], "format": file_format}
        for key in ("min", "max"):
            if key in spec:
                merged[key] = spec[key]
        merged["title"] = spec.get("title") or theirs.get("title") or input_name
        inputs[input_name] = merged
        mime_types = theirs.get("mime-types") or []
        if mime_types and file_format not in mime_types:
            problems.append(
                (
                    definition.source,
                    definition.where(f"variables.inputs.properties.{input_name}.mime-types"),
                    f"accepts {', '.join(mime_types)}, not {file_format} "
                    f"(the files of {spec['from']}, {file}: {where}.from)",
                )
            )
        multiple = bool(theirs.get("multiple")) or theirs.get("type") == "files"
        if kind.multiple and not multiple and (spec.get("max") or 2) > 1:
            problems.append(
                (file, f"{where}.from", f"{spec['from']} gives several files; {name} takes one")
            )
        if not kind.multiple and multiple:
            problems.append(
                (file, f"{where}.from", f"{spec['from']} gives one file; {name} takes several")
            )
    for required in inputs_block.get("required") or []:
        if required not in override["inputs"]:
            problems.append(
                (file, "inputs", f"{name} in Squonk2 requires input {required!r}: say where from")
            )

    options_block = variables.get("options") or {}
    theirs_props: dict[str, Any] = options_block.get("properties") or {}
    launcher: dict[str, Any] = override.get("x-launcher") or {}
    for option in launcher:
        if option not in theirs_props:
            known = ", ".join(theirs_props) or "none"
            problems.append(
                (
                    file,
                    f"x-launcher.{option}",
                    f"{name} in Squonk2 has no option {option!r} (it has: {known})",
                )
            )
    properties: dict[str, Any] = {}
    for option, prop in theirs_props.items():
        merged_prop = _option_of(prop)
        block = launcher.get(option)
        if isinstance(block, dict):
            problems += _apply_launcher(file, option, merged_prop, block)
        properties[option] = merged_prop
    order = [o for o in ((variables.get("order") or {}).get("options") or []) if isinstance(o, str)]
    options: dict[str, Any] = {"type": "object", "properties": properties}
    if options_block.get("required"):
        options["required"] = list(options_block["required"])
    if order:
        options["order"] = order

    document = {
        "collection": override["collection"],
        "job": override["job"],
        "version": override["version"],
        "title": override.get("title") or body.get("name") or override["job"],
        "description": override.get("description") or body.get("description") or "",
        "inputs": inputs,
        "options": options,
    }

    outputs = _outputs(file, override, definition, name, problems)
    presets = _presets(override, definition)
    picker = {
        "category": str(body.get("category") or ""),
        "keywords": [str(k) for k in body.get("keywords") or [] if k],
        "doc_url": str(body.get("doc_url") or body.get("doc-url") or ""),
    }
    return Merged(document, problems, outputs, presets, picker)


def _option_of(prop: Any) -> dict[str, Any]:
    """The keywords of a Squonk2 option the launcher reads (an unknown ``format`` dropped:
    only the launcher's value formats mean something here)."""
    if not isinstance(prop, dict):
        return {"type": None}
    kept = {key: prop[key] for key in _OPTION_KEYS if key in prop}
    if isinstance(kept.get("items"), dict):
        kept["items"] = {k: v for k, v in kept["items"].items() if k in _ITEM_KEYS}
    if prop.get("format") in VALUE_FORMATS:
        kept["format"] = prop["format"]
    return kept


def _apply_launcher(
    file: str, option: str, prop: dict[str, Any], block: dict[str, Any]
) -> list[tuple[str, str, str]]:
    """Put an ``x-launcher`` block onto the option it names; bounds may only tighten."""
    problems = []
    where = f"x-launcher.{option}"
    for key in ("title", "description"):
        if key in block:
            prop[key] = block[key]
    if "format" in block:
        if prop.get("type") == "array" and isinstance(prop.get("items"), dict):
            prop["items"] = {**prop["items"], "format": block["format"]}
        else:
            prop["format"] = block["format"]
    for key in _TIGHTER_LOW + _TIGHTER_HIGH:
        if key not in block:
            continue
        theirs = prop.get(key)
        looser = theirs is not None and (
            block[key] < theirs if key in _TIGHTER_LOW else block[key] > theirs
        )
        if looser:
            problems.append(
                (file, f"{where}.{key}", f"{block[key]} is looser than Squonk2's {key} {theirs}")
            )
        else:
            prop[key] = block[key]
    launcher = {k: block[k] for k in ("value", "editable", "hidden") if k in block}
    if "value" in launcher:
        prop["x-launcher"] = launcher
        if launcher.get("hidden") or launcher.get("editable") is False:
            prop.pop("default", None)  # a fixed option's value is its default
    elif "editable" in launcher or "hidden" in launcher:
        problems.append((file, f"{where}.value", "is required with 'editable' or 'hidden'"))
    return problems


def _outputs(
    file: str,
    override: dict[str, Any],
    definition: Definition,
    name: str,
    problems: list[tuple[str, str, str]],
) -> list[dict[str, Any]]:
    theirs: dict[str, Any] = (definition.variables.get("outputs") or {}).get("properties") or {}
    imports: dict[str, Any] = override.get("outputs") or {}
    for output in imports:
        if output not in theirs:
            known = ", ".join(theirs) or "none"
            problems.append(
                (file, f"outputs.{output}", f"{name} in Squonk2 has no output (it has: {known})")
            )
    outputs = []
    for output, spec in theirs.items():
        if not isinstance(spec, dict):
            continue
        creates = str(spec.get("creates") or "")
        mime_types = spec.get("mime-types") or []
        annotations = spec.get("annotation-properties") or {}
        fields = ((annotations.get("fields-descriptor") or {}).get("fields")) or {}
        wanted = imports.get(output) or {}
        entry = {
            "name": output,
            "title": str(spec.get("title") or output),
            "type": str(mime_types[0]) if mime_types else "application/octet-stream",
            "creates": creates,
            "option": None,
            "import": wanted.get("import"),
            "fields": {
                str(k): str(v["description"]).strip()
                for k, v in fields.items()
                # a field named by an option (``expression``) is not called ``k`` in the file
                if isinstance(v, dict) and v.get("description") and not v.get("expression")
            },
        }
        match = _OPTION_TEMPLATE.match(creates)
        if match:
            entry["option"] = match.group(1)
        if entry["import"] and not creates:
            where = definition.where(f"variables.outputs.properties.{output}.creates")
            problems.append((definition.source, where, "is required for an imported output"))
        if entry["import"] == "computed-set" and entry["type"] != "chemical/x-mdl-sdfile":
            problems.append(
                (
                    file,
                    f"outputs.{output}.import",
                    f"a computed set is an SD-file, not {entry['type']}",
                )
            )
        outputs.append(entry)
    return outputs


def _presets(override: dict[str, Any], definition: Definition) -> list[dict[str, Any]]:
    """The definition's ``tests`` (their options) then the override's own ``presets``;
    ``app.launcher.schemas`` keeps the valid ones."""
    presets = []
    tests = definition.body.get("tests") or {}
    if isinstance(tests, dict):
        for test_name, test in tests.items():
            options = test.get("options") if isinstance(test, dict) else None
            if isinstance(options, dict) and options:
                presets.append(
                    {
                        "name": f"test-{test_name}",
                        "title": str(test_name).replace("-", " ").capitalize(),
                        "description": "An example from the Squonk2 job definition's tests",
                        "options": options,
                        "source": "definition",
                    }
                )
    for index, preset in enumerate(override.get("presets") or []):
        presets.append({**preset, "source": "override", "index": index})
    return presets
