"""Loading job schema files: the shipped ones, and every kind of bad file."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from app.launcher import (
    JOB_SCHEMAS_DIR,
    JobSchema,
    JobSchemaError,
    job_config_json,
    load_job_schemas,
)
from tests.launcher.jobfiles import definitions_dir, load, write_job

VALID: dict[str, Any] = {
    "collection": "fragmenstein",
    "job": "fragmenstein-combine",
    "version": "1.0.0",
    "title": "Fragmenstein combine",
    "inputs": {
        "fragments": {
            "from": "lhs-fragments",
            "format": "chemical/x-mdl-molfile",
            "min": 2,
            "max": 20,
        },
        "protein": {"from": "lhs-protein-apo-desolv", "format": "chemical/x-pdb"},
    },
    "options": {
        "type": "object",
        "required": ["outfile", "count"],
        "properties": {
            "outfile": {
                "type": "string",
                "x-launcher": {"value": "{job_dir}/merged.sdf", "editable": False},
            },
            "count": {"type": "integer", "default": 1, "minimum": 1, "maximum": 100},
            "method": {"type": "string", "enum": ["ETKDGv3", "ETKDG"], "default": "ETKDGv3"},
            "fragIdField": {"type": "string", "default": "_Name"},
        },
    },
    "outputs": {
        "merged": {
            "title": "Merged molecules",
            "type": "chemical/x-mdl-sdfile",
            "option": "outfile",
            "import": "computed-set",
        }
    },
}


def write(directory: Path, document: Any, name: str = "my-job.yaml") -> Path:
    return write_job(directory, document, name)


def changed(change: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    document = copy.deepcopy(VALID)
    change(document)
    return document


def prop(document: dict[str, Any], name: str) -> dict[str, Any]:
    return document["options"]["properties"][name]


# The shipped files -------------------------------------------------------------------------


def test_shipped_job_schemas_load(job_schemas: dict[str, JobSchema]) -> None:
    assert set(job_schemas) == {
        "fragmenstein-combine",
        "fragmenstein-place-string",
        "rdkit-conformers",
    }


def test_fragmenstein_combine_is_configured_as_contracts_say(fragmenstein: JobSchema) -> None:
    assert (fragmenstein.collection, fragmenstein.job, fragmenstein.version) == (
        "fragmenstein",
        "fragmenstein-combine",
        "1.0.0",
    )
    fragments, protein = fragmenstein.inputs
    assert (fragments.name, fragments.source, fragments.format) == (
        "fragments",
        "lhs-fragments",
        "chemical/x-mdl-molfile",
    )
    assert (fragments.min, fragments.max, fragments.multiple) == (2, 20, True)
    assert (protein.name, protein.source, protein.format) == (
        "protein",
        "lhs-protein-apo-desolv",
        "chemical/x-pdb",
    )
    assert (protein.min, protein.max, protein.multiple) == (1, 1, False)

    count = fragmenstein.option_properties["count"]
    assert (count["type"], count["default"], count["minimum"], count["maximum"]) == (
        "integer",
        1,
        1,
        100,
    )
    assert fragmenstein.option_properties["keepHydrogens"]["default"] is False
    assert fragmenstein.option_properties["fragIdField"]["default"] == "_Name"

    fixed = {name: o.value for name, o in fragmenstein.overrides.items() if o.fixed}
    assert fixed == {
        "outfile": "{job_dir}/merged.sdf",
        "smilesFieldName": "original SMILES",
        "proteinFieldName": "ref_pdb",
        "proteinFieldValue": "{protein}",
    }
    assert not fragmenstein.overrides["outfile"].hidden  # read-only, shown
    (output,) = fragmenstein.imported_outputs
    assert (output.option, output.type) == ("outfile", "chemical/x-mdl-sdfile")


def test_rdkit_conformers_mirrors_the_local_squonk_job(rdkit: JobSchema) -> None:
    assert (rdkit.collection, rdkit.job, rdkit.version) == ("rdkit", "rdkit-conformers", "1.0.0")
    (molecules,) = rdkit.inputs
    assert (molecules.name, molecules.source, molecules.min, molecules.max) == (
        "inputFile",
        "lhs-fragments",
        1,
        50,
    )
    assert rdkit.option_properties["method"]["enum"] == ["ETKDGv3", "ETKDGv2", "ETKDG"]
    assert rdkit.overrides["outputFile"].value == "{job_dir}/conformers.sdf"
    assert rdkit.imported_outputs == []


def test_order_lists_every_option_declared_order_first(schema_dir: Path) -> None:
    write(schema_dir, changed(lambda d: d["options"].update(order=["count"])))
    schema = load(schema_dir)["my-job"]
    assert schema.order == ["count", "outfile", "method", "fragIdField"]


def test_job_config_json_is_the_api_item(fragmenstein: JobSchema) -> None:
    item = job_config_json(fragmenstein)
    assert {"key", "collection", "job", "version", "title", "inputs", "options"} <= set(item)
    assert item["key"] == "fragmenstein-combine"
    assert [i["name"] for i in item["inputs"]] == ["fragments", "protein"]
    assert item["inputs"][0] | {} == {
        "name": "fragments",
        "from": "lhs-fragments",
        "format": "chemical/x-mdl-molfile",
        "title": "Fragments to merge",
        "min": 2,
        "max": 20,
        "multiple": True,
    }
    options = item["options"]
    assert options["order"][0] == "count"
    assert options["properties"]["outfile"]["x-launcher"] == {
        "value": "{job_dir}/merged.sdf",
        "editable": False,
        "hidden": False,
    }
    assert "x-launcher" not in options["properties"]["count"]


def test_a_directory_that_does_not_exist_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(JobSchemaError, match="not a directory"):
        load_job_schemas(tmp_path / "nowhere")


def test_every_problem_of_every_file_is_reported_at_once(schema_dir: Path) -> None:
    write(schema_dir, changed(lambda d: d.pop("collection")), "first.yaml")
    write(schema_dir, changed(lambda d: prop(d, "count").update(minimum="one")), "second.yaml")
    write(schema_dir, VALID, "fine.yaml")
    with pytest.raises(JobSchemaError) as caught:
        load(schema_dir)
    message = str(caught.value)
    assert f"{schema_dir / 'first.yaml'}: collection: is required" in message
    definition = definitions_dir(schema_dir) / "second.yaml"
    assert (
        f"{definition}: jobs.fragmenstein-combine.variables.options.properties.count.minimum: "
        in message
    )
    assert "fine.yaml" not in message


def test_the_shipped_directory_is_the_default() -> None:
    assert (JOB_SCHEMAS_DIR / "fragmenstein-combine.yaml").is_file()
    assert set(load_job_schemas()) == {
        "fragmenstein-combine",
        "fragmenstein-place-string",
        "rdkit-conformers",
    }


# Bad files: (change, whose file, path inside it, part of the reason) -------------------------
# "override" is the job_schemas file, "definition" the Squonk2 definition file beside it

DEF = "jobs.fragmenstein-combine.variables."

BAD_DOCUMENTS = {
    "missing key": (lambda d: d.pop("collection"), "override", "collection", "is required"),
    "unknown value format": (
        lambda d: prop(d, "fragIdField").update({"x-launcher": {"format": "inchi"}}),
        "override",
        "x-launcher.fragIdField.format",
        "'inchi' is not one of ['smiles']",
    ),
    "value format on a number": (
        lambda d: prop(d, "count").update({"x-launcher": {"format": "smiles"}}),
        "definition",
        DEF + "options.properties.count.format",
        "does not apply to a integer option",
    ),
    "typo in a launcher keyword": (
        lambda d: prop(d, "count").update({"x-launcher": {"minimun": 1}}),
        "override",
        "x-launcher.count.minimun",
        "unknown key (expected one of:",
    ),
    "wrong type": (
        lambda d: prop(d, "count").update(minimum="one"),
        "definition",
        DEF + "options.properties.count.minimum",
        "'one' is not of type 'number'",
    ),
    "unquoted version": (
        lambda d: d.update(version=1.0),
        "override",
        "version",
        "1.0 is not of type 'string' (quote it in YAML)",
    ),
    "unknown input source": (
        lambda d: d["inputs"]["fragments"].update({"from": "rhs-molecules"}),
        "override",
        "inputs.fragments.from",
        "'rhs-molecules' is not one of",
    ),
    "a file type Squonk2 does not accept": (
        lambda d: d["inputs"]["protein"].update(format="chemical/x-mdl-sdfile"),
        "definition",
        DEF + "inputs.properties.protein.mime-types",
        "accepts chemical/x-mdl-sdfile, not chemical/x-pdb",
    ),
    "min above max": (
        lambda d: d["inputs"]["fragments"].update(min=5, max=3),
        "override",
        "inputs.fragments.min",
        "min (5) is greater than max (3)",
    ),
    "several proteins": (
        lambda d: d["inputs"]["protein"].update(max=2),
        "override",
        "inputs.protein.max",
        "a protein input takes exactly one protein",
    ),
    "input named like an option": (
        lambda d: d["inputs"].update(count={"from": "lhs-fragments"}),
        "override",
        "inputs.count",
        "an input and an option have the same name",
    ),
    "unknown option type": (
        lambda d: prop(d, "count").update(type="int"),
        "definition",
        DEF + "options.properties.count.type",
        "'int' is not one of",
    ),
    "default outside the bounds": (
        lambda d: prop(d, "count").update(default=0),
        "definition",
        DEF + "options.properties.count.default",
        "0 is less than the minimum of 1",
    ),
    "default not in the enum": (
        lambda d: prop(d, "method").update(default="UFF"),
        "definition",
        DEF + "options.properties.method.default",
        "'UFF' is not one of ['ETKDGv3', 'ETKDG']",
    ),
    "enum value of another type": (
        lambda d: prop(d, "method").update(enum=["ETKDGv3", 3]),
        "definition",
        DEF + "options.properties.method.enum[1]",
        "3 is not of type 'string'",
    ),
    "minimum above maximum": (
        lambda d: prop(d, "count").update(minimum=10, maximum=5, default=10),
        "definition",
        DEF + "options.properties.count.minimum",
        "minimum (10) is greater than maximum (5)",
    ),
    "bound on a string": (
        lambda d: prop(d, "fragIdField").update(minimum=1),
        "definition",
        DEF + "options.properties.fragIdField.minimum",
        "does not apply to a string option",
    ),
    "array without items": (
        lambda d: d["options"]["properties"].update(ids={"type": "array"}),
        "definition",
        DEF + "options.properties.ids.items",
        "is required for an array option",
    ),
    "pattern that does not compile": (
        lambda d: prop(d, "fragIdField").update(pattern="(unclosed"),
        "definition",
        DEF + "options.properties.fragIdField.pattern",
        "not a valid regular expression",
    ),
    "option name that is not an identifier": (
        lambda d: d["options"]["properties"].update({"count-x": {"type": "integer"}}),
        "definition",
        DEF + "options.properties.count-x",
        "names must be letters, digits and '_'",
    ),
    "option name reserved by the form": (
        lambda d: d["options"]["properties"].update(data={"type": "string"}),
        "definition",
        DEF + "options.properties.data",
        "'data' is reserved",
    ),
    "required option not declared": (
        lambda d: d["options"]["required"].append("cout"),
        "definition",
        DEF + "options.required[2]",
        "'cout' is not a declared option",
    ),
    "order names an undeclared option": (
        lambda d: d["options"].update(order=["count", "keepH"]),
        "definition",
        DEF + "order.options[1]",
        "'keepH' is not a declared option",
    ),
    "override of an option Squonk2 does not have": (
        lambda d: (
            d["options"]["properties"].pop("fragIdField"),
            d.update(extra={"x-launcher": {"fragIdField": {"value": "_Name"}}}),
        ),
        "override",
        "x-launcher.fragIdField",
        "fragmenstein/fragmenstein-combine 1.0.0 in Squonk2 has no option 'fragIdField'",
    ),
    "unknown launcher key": (
        lambda d: prop(d, "outfile")["x-launcher"].update(readonly=True),
        "override",
        "x-launcher.outfile.readonly",
        "unknown key",
    ),
    "unknown placeholder": (
        lambda d: prop(d, "outfile")["x-launcher"].update(value="{jobdir}/merged.sdf"),
        "override",
        "x-launcher.outfile.value",
        "unknown placeholder {jobdir}",
    ),
    "editable template": (
        lambda d: prop(d, "outfile")["x-launcher"].update(editable=True),
        "override",
        "x-launcher.outfile.editable",
        "a templated value must be 'editable: false'",
    ),
    "hidden yet editable": (
        lambda d: prop(d, "count").update(
            {"x-launcher": {"value": 3, "hidden": True, "editable": True}}
        ),
        "override",
        "x-launcher.count.hidden",
        "a hidden option cannot be editable",
    ),
    "fixed value the definition refuses": (
        lambda d: prop(d, "count").update({"x-launcher": {"value": "five", "editable": False}}),
        "override",
        "x-launcher.count.value",
        "'five' is not of type 'integer'",
    ),
    "fixed value out of Squonk2's bounds": (
        lambda d: prop(d, "count").update({"x-launcher": {"value": 500, "editable": False}}),
        "override",
        "x-launcher.count.value",
        "500 is greater than the maximum of 100",
    ),
    "a bound looser than Squonk2's": (
        lambda d: prop(d, "count").update({"x-launcher": {"maximum": 1000}}),
        "override",
        "x-launcher.count.maximum",
        "1000 is looser than Squonk2's maximum 100",
    ),
    "template in a non-string option": (
        lambda d: prop(d, "count").update({"x-launcher": {"value": "{target}", "editable": False}}),
        "override",
        "x-launcher.count.value",
        "only string options can hold a template",
    ),
    "protein placeholder without a protein input": (
        lambda d: (
            d["inputs"].pop("protein"),
            prop(d, "fragIdField").update({"x-launcher": {"value": "{protein}", "hidden": True}}),
        ),
        "override",
        "x-launcher.fragIdField.value",
        "{protein} needs an input from lhs-protein-apo-desolv",
    ),
    "importing an output Squonk2 does not have": (
        lambda d: d.update(extra={"outputs": {"merged2": {"import": "computed-set"}}}),
        "override",
        "outputs.merged2",
        "in Squonk2 has no output (it has: merged)",
    ),
    "output naming an unknown option": (
        lambda d: d["outputs"]["merged"].update(option="outFile"),
        "definition",
        DEF + "outputs.properties.merged.creates",
        "'outFile' is not an option of the job",
    ),
    "output imported as something unknown": (
        lambda d: d["outputs"]["merged"].update({"import": "rhs"}),
        "override",
        "outputs.merged.import",
        "'rhs' is not one of ['computed-set']",
    ),
    "no inputs": (lambda d: d.update(inputs={}), "override", "inputs", "should be non-empty"),
    "a preset setting a fixed option": (
        lambda d: d.update(
            extra={"presets": [{"name": "p", "title": "P", "options": {"outfile": "x.sdf"}}]}
        ),
        "override",
        "presets[0].options.outfile",
        "'outfile' is fixed by x-launcher",
    ),
    "a preset value the option refuses": (
        lambda d: d.update(
            extra={"presets": [{"name": "p", "title": "P", "options": {"count": 0}}]}
        ),
        "override",
        "presets[0].options.count",
        "0 is less than the minimum of 1",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_DOCUMENTS))
def test_a_bad_file_names_the_file_the_path_and_the_reason(schema_dir: Path, case: str) -> None:
    change, whose, where, reason = BAD_DOCUMENTS[case]
    document = changed(change)
    extra = document.pop("extra", {})
    path = write(schema_dir, document)
    if extra:  # keys of the override itself, written after the split
        override = yaml.safe_load(path.read_text())
        for key, value in extra.items():
            if isinstance(value, dict) and isinstance(override.get(key), dict):
                override[key].update(value)
            else:
                override[key] = value
        path.write_text(yaml.safe_dump(override, sort_keys=False))
    if whose == "definition":
        path = definitions_dir(schema_dir) / path.name
    with pytest.raises(JobSchemaError) as caught:
        load(schema_dir)
    problems = [(p.file, p.path) for p in caught.value.problems]
    assert (str(path), where) in problems, str(caught.value)
    assert f"{path}: {where}: " in str(caught.value)
    assert reason in str(caught.value)


def test_a_document_that_is_not_a_mapping(schema_dir: Path) -> None:
    write(schema_dir, ["collection", "job"])
    with pytest.raises(JobSchemaError) as caught:
        load(schema_dir)
    assert caught.value.path == "(top level)"
    assert "is not of type 'object'" in caught.value.reason


def test_invalid_yaml_names_the_line(schema_dir: Path) -> None:
    (schema_dir / "my-job.yaml").write_text("collection: rdkit\njob: [unclosed\n")
    with pytest.raises(JobSchemaError) as caught:
        load(schema_dir)
    assert caught.value.file == str(schema_dir / "my-job.yaml")
    assert caught.value.path.startswith("line ")
    assert caught.value.reason.startswith("not valid YAML")


def test_a_duplicate_key_is_an_error_not_silently_the_last(schema_dir: Path) -> None:
    text = yaml.safe_dump(VALID, sort_keys=False) + "collection: other\n"
    (schema_dir / "my-job.yaml").write_text(text)
    with pytest.raises(JobSchemaError) as caught:
        load(schema_dir)
    assert caught.value.path == f"line {text.count(chr(10))}, column 1"
    assert "duplicate key 'collection'" in caught.value.reason


def test_a_file_name_that_cannot_be_a_key(schema_dir: Path) -> None:
    write(schema_dir, VALID, "My_Job.yaml")
    with pytest.raises(JobSchemaError) as caught:
        load(schema_dir)
    assert (caught.value.path, caught.value.reason) == (
        "(file name)",
        "must be lower-case letters, digits and '-'",
    )


def test_bad_job_schema_stops_start_up(tmp_path, monkeypatch):
    from app import create_app

    (tmp_path / "broken.yaml").write_text(
        "collection: rdkit\njob: rdkit-conformers\nversion: '1.0.0'\n"
        "inputs:\n  inputFile: {from: lhs-fragments}\n"
        "x-launcher:\n  numConformers: {minimun: 1}\n"
    )
    with pytest.raises(JobSchemaError) as error:
        create_app({"JOB_SCHEMAS_DIR": str(tmp_path), "SECRET_KEY": "test-secret-key"})
    assert "broken.yaml" in str(error.value) and "minimun" in str(error.value)
