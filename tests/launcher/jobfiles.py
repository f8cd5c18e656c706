"""Job schema files for tests: a launcher document in the old all-in-one shape (options
written out) split into what it now is, a ``job_schemas/`` override and the Squonk2 job
definition it sits on, each written where ``load_job_schemas`` and the app read them."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

from app.launcher import JobSchema, load_job_schemas
from app.launcher.definition import definitions_from_dir


def split(document: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(override, DataManagerJobDefinition file) for a document with ``options``."""
    document = copy.deepcopy(document)
    options = document.pop("options", {}) or {}
    outputs = document.pop("outputs", {}) or {}
    override: dict[str, Any] = {k: v for k, v in document.items() if k != "inputs"}
    override["inputs"] = {}
    inputs: dict[str, Any] = {}
    for name, spec in (document.get("inputs") or {}).items():
        if not isinstance(spec, dict):
            override["inputs"][name] = spec
            continue
        fmt = spec.pop("format", None)
        override["inputs"][name] = spec
        inputs[name] = {"title": spec.get("title", name), "type": "file"}
        if fmt:
            inputs[name]["mime-types"] = [fmt]
        if spec.get("from") == "lhs-fragments":
            inputs[name]["multiple"] = True
    launcher: dict[str, Any] = {}
    properties = {}
    for name, prop in (options.get("properties") or {}).items():
        prop = dict(prop)
        if "x-launcher" in prop:
            launcher[name] = prop.pop("x-launcher")
        properties[name] = prop
    if launcher:
        override["x-launcher"] = launcher
    variables: dict[str, Any] = {
        "inputs": {"type": "object", "properties": inputs},
        "options": {"type": "object", "properties": properties},
    }
    if options.get("required") is not None:
        variables["options"]["required"] = options["required"]
    if options.get("order") is not None:
        variables["order"] = {"options": options["order"]}
    imports = {}
    declared = {}
    for name, spec in outputs.items():
        declared[name] = {
            "title": spec.get("title", name),
            "type": "file",
            "mime-types": [spec.get("type", "chemical/x-mdl-sdfile")],
            "creates": f"{{{{ {spec['option']} }}}}" if "option" in spec else spec.get("file", ""),
        }
        if "import" in spec:
            imports[name] = {"import": spec["import"]}
    if declared:
        variables["outputs"] = {"type": "object", "properties": declared}
    if imports:
        override["outputs"] = imports
    definition = {
        "kind": "DataManagerJobDefinition",
        "kind-version": "2021.1",
        "collection": document.get("collection"),
        "jobs": {
            document.get("job"): {
                "name": document.get("title") or "A job",
                "version": document.get("version"),
                "variables": variables,
            }
        },
    }
    return override, definition


def definitions_dir(schema_dir: Path) -> Path:
    """Where the definitions of ``schema_dir``'s jobs are written (beside it)."""
    directory = schema_dir.parent / f"{schema_dir.name}-definitions"
    directory.mkdir(exist_ok=True)
    return directory


def write_job(directory: Path, document: Any, name: str = "my-job.yaml") -> Path:
    """Write ``document`` as an override in ``directory`` (and its definition beside it);
    a document that is not a mapping is written as it is. Returns the override's path."""
    path = directory / name
    if isinstance(document, dict) and "options" in document:
        override, definition = split(document)
        (definitions_dir(directory) / name).write_text(
            yaml.safe_dump(definition, sort_keys=False), encoding="utf-8"
        )
    else:
        override = document
    path.write_text(yaml.safe_dump(override, sort_keys=False), encoding="utf-8")
    return path


def load(directory: Path) -> dict[str, JobSchema]:
    """``load_job_schemas`` for the jobs ``write_job`` wrote into ``directory``."""
    return load_job_schemas(directory, definitions_from_dir(definitions_dir(directory)))
