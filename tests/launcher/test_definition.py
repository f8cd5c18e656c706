"""Comparing job schemas with the Squonk2 job definitions (``flask jobs check``)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from app.launcher import JobSchema, check_against_definition

LOCAL_SQUONK_JOBS = Path(__file__).resolve().parents[2] / "local_squonk" / "jobs"

# The shape of GET /job/get-by-version, reduced to what is compared.
FRAGMENSTEIN: dict[str, Any] = {
    "collection": "fragmenstein",
    "job": "fragmenstein-combine",
    "version": "1.0.0",
    "variables": {
        "inputs": {
            "type": "object",
            "required": ["fragments", "protein"],
            "properties": {
                "fragments": {
                    "type": "file",
                    "multiple": True,
                    "mime-types": ["chemical/x-mdl-molfile", "chemical/x-mdl-sdfile"],
                },
                "protein": {"type": "file", "mime-types": ["chemical/x-pdb"]},
            },
        },
        "options": {
            "type": "object",
            "required": ["outfile", "count", "keepHydrogens"],
            "properties": {
                "outfile": {"type": "string", "default": "merged.sdf"},
                "count": {"type": "integer", "default": 1, "minimum": 1},
                "keepHydrogens": {"type": "boolean", "default": False},
                "fragIdField": {"type": "string", "default": "_Name"},
                "smilesFieldName": {"type": "string"},
                "proteinFieldName": {"type": "string"},
                "proteinFieldValue": {"type": "string"},
            },
        },
    },
}


def definition(**changes: Any) -> dict[str, Any]:
    copied = copy.deepcopy(FRAGMENSTEIN)
    copied.update(changes)
    return copied


def test_a_matching_definition_has_no_differences(fragmenstein: JobSchema) -> None:
    assert check_against_definition(fragmenstein, FRAGMENSTEIN) == []
    as_text = definition(variables=json.dumps(FRAGMENSTEIN["variables"]))
    assert check_against_definition(fragmenstein, as_text) == []


def test_extra_optional_squonk_options_are_fine(fragmenstein: JobSchema) -> None:
    changed = definition()
    changed["variables"]["options"]["properties"]["verbose"] = {"type": "boolean"}
    assert check_against_definition(fragmenstein, changed) == []


def test_a_mismatching_definition_lists_each_difference(fragmenstein: JobSchema) -> None:
    changed = definition(version="1.1.0")
    variables = changed["variables"]
    del variables["inputs"]["properties"]["protein"]
    variables["inputs"]["properties"]["fragments"]["multiple"] = False
    variables["inputs"]["properties"]["reference"] = {"type": "file"}
    variables["inputs"]["required"].append("reference")
    options = variables["options"]
    del options["properties"]["fragIdField"]
    options["properties"]["count"] = {"type": "number", "minimum": 1}
    options["properties"]["keepHydrogens"]["type"] = "string"
    options["properties"]["seed"] = {"type": "integer"}
    options["required"].append("seed")

    assert check_against_definition(fragmenstein, changed) == [
        "version is '1.1.0' in Squonk2 but '1.0.0' here",
        "input fragments takes one file in Squonk2 but several here",
        "input protein missing in Squonk2",
        "input reference is required by Squonk2 but not provided here",
        "option count is integer here but number in Squonk2",
        "option keepHydrogens is boolean here but string in Squonk2",
        "option fragIdField missing in Squonk2",
        "option seed is required by Squonk2 (no default) but not provided here",
    ]


def test_formats_enums_and_bounds_squonk_would_refuse(rdkit: JobSchema) -> None:
    squonk = {
        "collection": "rdkit",
        "job": "rdkit-conformers",
        "version": "1.0.0",
        "variables": {
            "inputs": {
                "properties": {
                    "inputFile": {"type": "file", "multiple": True, "mime-types": ["text/csv"]}
                }
            },
            "options": {
                "properties": {
                    "outputFile": {"type": "string"},
                    "numConformers": {"type": "integer", "minimum": 2, "maximum": 20},
                    "method": {"type": "string", "enum": ["ETKDGv3"]},
                    "minimize": {"type": "boolean"},
                    "keepHydrogens": {"type": "boolean"},
                    "randomSeed": {"type": "integer"},
                    "idField": {"type": "string"},
                }
            },
        },
    }
    assert check_against_definition(rdkit, squonk) == [
        "input inputFile is chemical/x-mdl-molfile here but Squonk2 accepts text/csv",
        "option numConformers: minimum is 1 here but 2 in Squonk2",
        "option numConformers: maximum is 50 here but 20 in Squonk2",
        "option method: Squonk2 does not accept ETKDGv2, ETKDG",
    ]


@pytest.mark.parametrize(
    ("key", "file", "job"),
    [
        ("fragmenstein-combine", "fragmenstein.yaml", "fragmenstein-combine"),
        ("rdkit-conformers", "rdkit.yaml", "rdkit-conformers"),
    ],
)
def test_shipped_schemas_match_the_local_squonk_jobs(
    job_schemas: dict[str, JobSchema], key: str, file: str, job: str
) -> None:
    path = LOCAL_SQUONK_JOBS / file
    assert path.is_file(), f"{path} is missing: the repository ships it"
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    spec = document["jobs"][job]
    squonk = {
        "collection": document["collection"],
        "job": job,
        "version": spec["version"],
        "variables": spec["variables"],
    }
    assert check_against_definition(job_schemas[key], squonk) == []


def test_local_squonk_accepts_the_specification_we_build(
    job_schemas: dict[str, JobSchema], tmp_path: Path
) -> None:
    """End to end without a server: our variables pass the stand-in's launch checks and
    render the job's command (undefined variables would be an error there)."""
    import local_squonk.catalogue as catalogue_module
    from app.launcher import LaunchContext, resolve_options, squonk_variables

    catalogue = catalogue_module.Catalogue.load()
    codes = ["Mac1-x0104_A", "Mac1-x0150_A"]
    folder = tmp_path / "fragalysis-files" / "Mac1"
    folder.mkdir(parents=True)
    for code in codes:
        (folder / f"{code}.mol").write_text("mol")
        (folder / f"{code}_apo-desolv.pdb").write_text("pdb")

    def layout(source: str, code: str) -> str:
        suffix = ".mol" if source == "lhs-fragments" else "_apo-desolv.pdb"
        return f"fragalysis-files/Mac1/{code}{suffix}"

    context = LaunchContext("alice", "fragalysis-jobs/alice/20250101-101500", "Mac1", codes[0])
    schema = job_schemas["fragmenstein-combine"]
    job = catalogue.find(schema.collection, schema.job, schema.version)
    assert job is not None, "local_squonk/jobs/fragmenstein.yaml has no fragmenstein-combine"
    options = resolve_options(schema, {"count": 2}, context)
    variables = squonk_variables(schema, {"fragments": codes, "protein": codes[0]}, options, layout)
    launch = catalogue_module.prepare_launch(job, variables, tmp_path, "instance-dir")
    assert "--outfile 'fragalysis-jobs/alice/20250101-101500/merged.sdf'" in launch.command
    assert "--protein-prop-value 'Mac1-x0104_A'" in launch.command
    assert "--smiles-prop-name 'original SMILES'" in launch.command
    assert launch.outputs["outputs"]["creates"] == (
        "fragalysis-jobs/alice/20250101-101500/merged.sdf"
    )
