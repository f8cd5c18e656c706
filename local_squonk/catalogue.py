"""The job catalogue: Squonk2 DataManagerJobDefinition files, and rendering a launch.

Definitions are validated with ``im-data-manager-job-decoder`` at start-up so a broken
file stops the server rather than the first launch. A launch merges option defaults,
checks the variables against the definition and renders the command with the decoder,
so an invalid specification or an undefined variable is refused before anything runs.
"""

from __future__ import annotations

import json
import logging
import shlex
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema
import yaml
from decoder import decoder

from .paths import UnsafePathError, check_relative, resolve
from .programs import PROGRAMS

logger = logging.getLogger(__name__)

JOBS_DIR = Path(__file__).parent / "jobs"
TEST_COLLECTIONS = frozenset({"im-test"})
INSTANCE_DIRECTORY_VARIABLE = "DM_INSTANCE_DIRECTORY"

# The JSON-schema keywords of a job option that are checked on launch.
_OPTION_KEYWORDS = ("type", "minimum", "maximum", "enum", "pattern", "items")


class SpecificationError(ValueError):
    """A launch specification the catalogue refuses (answered with 400)."""


@dataclass(frozen=True)
class JobDefinition:
    """One job of a definition file, with the catalogue's numeric id."""

    id: int
    collection: str
    job: str
    version: str
    spec: dict[str, Any] = field(repr=False)

    @property
    def variables(self) -> dict[str, Any]:
        return self.spec.get("variables") or {}

    def summary(self) -> dict[str, Any]:
        image = self.spec["image"]
        return {
            "id": self.id,
            "collection": self.collection,
            "job": self.job,
            "version": self.version,
            "name": self.spec["name"],
            "description": self.spec.get("description", ""),
            "category": self.spec.get("category", ""),
            "keywords": self.spec.get("keywords", []),
            "doc_url": self.spec.get("doc-url", ""),
            "image_name": image["name"],
            "image_tag": image["tag"],
            "image_type": image.get("type", "simple"),
        }

    def detail(self) -> dict[str, Any]:
        return {
            **self.summary(),
            "command": self.spec["command"],
            "command_encoding": self.spec.get("command-encoding", "JINJA2_3_0"),
            "image_project_directory": self.spec["image"]["project-directory"],
            "image_working_directory": self.spec["image"]["working-directory"],
            "variables": self.variables,
            # jote's examples of valid inputs and options (the launcher offers them as presets)
            **({"tests": self.spec["tests"]} if self.spec.get("tests") else {}),
        }


@dataclass(frozen=True)
class Launch:
    """What the runner needs to start an instance."""

    command: str
    argv: list[str]
    outputs: dict[str, Any]


class Catalogue:
    """All known jobs, keyed by id and by (collection, job, version)."""

    def __init__(
        self,
        jobs: list[JobDefinition],
        directory: Path | None = None,
        include_test_jobs: bool = False,
        stamps: dict[str, float] | None = None,
    ) -> None:
        self._by_id = {job.id: job for job in jobs}
        self._by_version = {(j.collection, j.job, j.version): j for j in jobs}
        self.directory, self.include_test_jobs = directory, include_test_jobs
        self.stamps = stamps or {}

    def reloaded(self) -> Catalogue:
        """This catalogue, or a new one when a definition file was added, removed or
        changed since it was read (an edited file is served without a restart, as a real
        Squonk2 serves a job once its definitions are reloaded). A file that no longer
        validates leaves this catalogue in place, with the reason logged."""
        if self.directory is None or _stamps(self.directory) == self.stamps:
            return self
        try:
            return Catalogue.load(self.directory, self.include_test_jobs)
        except (ValueError, OSError, yaml.YAMLError) as error:
            logger.error("Job definitions not reloaded: %s", error)
            return self

    @classmethod
    def load(cls, directory: Path = JOBS_DIR, include_test_jobs: bool = False) -> Catalogue:
        """Read and validate every ``*.yaml`` definition in ``directory``.

        :param directory: where the definition files are
        :param include_test_jobs: also offer the ``im-test`` collection
        :raises ValueError: for a definition the decoder or we refuse
        """
        found: list[tuple[str, str, str, dict[str, Any]]] = []
        stamps = _stamps(directory)
        for path in sorted(directory.glob("*.yaml")):
            document = yaml.safe_load(path.read_text(encoding="utf-8"))
            error = decoder.validate_job_schema(document)
            if error:
                raise ValueError(f"Invalid job definition {path.name}: {error}")
            collection = document["collection"]
            if collection in TEST_COLLECTIONS and not include_test_jobs:
                continue
            for name, spec in document["jobs"].items():
                executable = spec["command"].split()[0]
                if executable not in PROGRAMS:
                    raise ValueError(f"{path.name} {name}: no program for {executable}")
                found.append((collection, name, spec["version"], spec))
        # Ids follow the sorted (collection, job, version) so they are stable over restarts.
        jobs = [
            JobDefinition(index, collection, name, version, spec)
            for index, (collection, name, version, spec) in enumerate(sorted(found, key=_key), 1)
        ]
        logger.info("Loaded %d job definitions from %s", len(jobs), directory)
        return cls(jobs, directory, include_test_jobs, stamps)

    def all(self) -> list[JobDefinition]:
        return list(self._by_id.values())

    def get(self, job_id: int) -> JobDefinition | None:
        return self._by_id.get(job_id)

    def find(self, collection: str, job: str, version: str) -> JobDefinition | None:
        return self._by_version.get((collection, job, version))


def _stamps(directory: Path) -> dict[str, float]:
    """Each definition file's modification time (nanoseconds), by name."""
    return {path.name: path.stat().st_mtime_ns for path in sorted(directory.glob("*.yaml"))}


def _key(item: tuple[str, str, str, dict[str, Any]]) -> tuple[str, str, str]:
    return item[0], item[1], item[2]


def parse_specification(text: str) -> tuple[str, str, str, dict[str, Any]]:
    """Split the ``specification`` form field into collection, job, version, variables.

    :param text: JSON text ``{"collection","job","version","variables"}``
    """
    try:
        spec = json.loads(text) if text else None
    except ValueError as error:
        raise SpecificationError(f"specification is not JSON: {error}") from error
    if not isinstance(spec, dict):
        raise SpecificationError("specification must be a JSON object")
    missing = [key for key in ("collection", "job", "version") if not spec.get(key)]
    if missing:
        raise SpecificationError(f"specification lacks {', '.join(missing)}")
    variables = spec.get("variables") or {}
    if not isinstance(variables, dict):
        raise SpecificationError("specification variables must be an object")
    return str(spec["collection"]), str(spec["job"]), str(spec["version"]), variables


def prepare_launch(
    job: JobDefinition,
    variables: dict[str, Any],
    project_root: Path,
    instance_directory: str,
) -> Launch:
    """Check ``variables`` against ``job`` and render its command.

    :param job: the job to launch
    :param variables: the specification's variables (inputs and options)
    :param project_root: the project volume, for checking input files
    :param instance_directory: the instance's directory relative to the project
    :raises SpecificationError: for anything that must not start
    """
    declared = job.variables
    inputs = (declared.get("inputs") or {}).get("properties") or {}
    options_block = declared.get("options") or {}
    options = options_block.get("properties") or {}

    unknown = sorted(set(variables) - set(inputs) - set(options))
    if unknown:
        raise SpecificationError(f"Unknown variables: {', '.join(unknown)}")

    values: dict[str, Any] = {
        name: spec["default"] for name, spec in options.items() if "default" in spec
    }
    values.update({k: v for k, v in variables.items() if k in options})
    _check_options(options, options_block.get("required") or [], values)

    for name in (declared.get("inputs") or {}).get("required") or []:
        if name not in variables or variables[name] in (None, "", []):
            raise SpecificationError(f"Missing input: {name}")
    for name, spec in inputs.items():
        if name in variables:
            values[name] = _check_input(name, spec, variables[name], project_root)

    values[INSTANCE_DIRECTORY_VARIABLE] = instance_directory
    command = _render(job.spec["command"], values, "command")

    outputs: dict[str, Any] = {}
    for name, spec in ((declared.get("outputs") or {}).get("properties") or {}).items():
        creates = _render(spec["creates"], values, f"output {name}")
        try:
            check_relative(creates)
        except UnsafePathError as error:
            raise SpecificationError(str(error)) from error
        outputs[name] = {"title": spec["title"], "type": spec["type"], "creates": creates}

    try:
        argv = shlex.split(command)
    except ValueError as error:
        raise SpecificationError(f"Rendered command cannot be parsed: {error}") from error
    program = PROGRAMS[argv[0]]
    return Launch(command=command, argv=[sys.executable, "-m", program, *argv[1:]], outputs=outputs)


def _render(template: str, values: dict[str, Any], subject: str) -> str:
    text, ok = decoder.decode(template, values, subject, decoder.TextEncoding.JINJA2_3_0)
    if not ok:
        raise SpecificationError(text)
    # Folded YAML leaves runs of spaces where optional flags rendered empty.
    return " ".join(text.split())


def _check_options(options: dict[str, Any], required: list[str], values: dict[str, Any]) -> None:
    properties: dict[str, Any] = {}
    for name, spec in options.items():
        schema = {k: spec[k] for k in _OPTION_KEYWORDS if k in spec}
        if schema.get("type") == "array" and isinstance(schema.get("items"), dict):
            # Only the item type is meaningful to JSON Schema here.
            schema["items"] = {k: v for k, v in schema["items"].items() if k == "type"}
        properties[name] = schema
    schema = {"type": "object", "properties": properties, "required": list(required)}
    try:
        jsonschema.validate(values, schema)
    except jsonschema.ValidationError as error:
        where = ".".join(str(p) for p in error.absolute_path) or "options"
        raise SpecificationError(f"Invalid option {where}: {error.message}") from error


def _check_input(name: str, spec: dict[str, Any], value: Any, project_root: Path) -> Any:
    multiple = bool(spec.get("multiple")) or spec.get("type") == "files"
    items = value if isinstance(value, list) else [value]
    if not items or not all(isinstance(item, str) and item for item in items):
        raise SpecificationError(f"Input {name} must be a project file path or a list of them")
    if not multiple and len(items) != 1:
        raise SpecificationError(f"Input {name} takes a single file")
    for item in items:
        try:
            path = resolve(project_root, check_relative(item))
        except UnsafePathError as error:
            raise SpecificationError(f"Input {name}: {error}") from error
        if not path.is_file():
            raise SpecificationError(f"Input {name}: no such file in the project: {item}")
    # A multiple input is always a list so the command template can loop over it.
    return items if multiple else items[0]
