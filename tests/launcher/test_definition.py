"""The jobs as the local Squonk2 defines them: our specification passes its launch checks,
the merge reads what the definition format offers, and ``definition_changes`` words a
change for ``flask jobs check``."""

from __future__ import annotations

from pathlib import Path

from app.launcher import JobSchema, definition_changes, definitions_from_dir


def test_the_definition_gives_order_bounds_picker_details_and_outputs(
    job_schemas: dict[str, JobSchema],
) -> None:
    combine = job_schemas["fragmenstein-combine"]
    assert combine.order[:4] == ["count", "keepHydrogens", "fragIdField", "outfile"]
    assert combine.option_properties["count"]["maximum"] == 100
    assert combine.option_properties["count"]["description"].startswith("How many merged")
    assert "default" not in combine.option_properties["outfile"]  # fixed: its value is it
    assert (combine.category, combine.keywords) == ("comp chem", ["fragmenstein", "fbdd"])
    assert combine.doc_url
    (output,) = combine.imported_outputs
    assert (output.name, output.option, output.type) == (
        "outputs",
        "outfile",
        "chemical/x-mdl-sdfile",
    )
    assert output.fields["RMSD"] == "Combined RMSD to the input fragments"
    assert "smiles" not in output.fields  # named by an option in the file, not "smiles"
    rdkit = job_schemas["rdkit-conformers"]
    assert rdkit.imported_outputs == []  # nothing to import: the job ends SUCCESS
    assert rdkit.option_properties["method"]["enum"] == ["ETKDGv3", "ETKDGv2", "ETKDG"]
    place = job_schemas["fragmenstein-place-string"]
    assert place.option_properties["smiles"]["items"]["format"] == "smiles"
    assert place.option_properties["smiles"]["maxItems"] == 100


def test_presets_from_the_definitions_tests_and_the_override(
    job_schemas: dict[str, JobSchema],
) -> None:
    combine = job_schemas["fragmenstein-combine"]
    assert [(p.name, p.source) for p in combine.presets] == [
        ("test-five-merges", "definition"),
        ("test-keep-hydrogens", "definition"),
        ("wide-search", "override"),
    ]
    assert combine.preset("test-five-merges").options == {"count": 5, "keepHydrogens": False}
    assert combine.preset("wide-search").title == "Twenty merges, best first"
    assert combine.preset("nothing") is None


def test_a_definition_test_with_options_the_launcher_refuses_is_left_out(tmp_path: Path) -> None:
    from app.launcher import load_job_schemas
    from app.launcher.schemas import JOB_SCHEMAS_DIR

    definitions = definitions_from_dir()
    key = ("rdkit", "rdkit-conformers", "1.0.0")
    body = dict(definitions[key].body)
    body["tests"] = {
        "too-many": {"options": {"numConformers": 5000}},
        "fixed-output": {"options": {"outputFile": "x.sdf"}},
        "fine": {"options": {"numConformers": 3}},
    }
    from app.launcher import Definition

    changed = {**definitions, key: Definition(body, "Squonk2 at test")}
    rdkit = load_job_schemas(JOB_SCHEMAS_DIR, changed)["rdkit-conformers"]
    assert [p.name for p in rdkit.presets] == ["test-fine"]


def test_definition_changes_are_worded_value_by_value() -> None:
    old = definitions_from_dir()[("fragmenstein", "fragmenstein-combine", "1.0.0")].body
    new = {**old, "variables": {**old["variables"]}}
    new["variables"]["options"] = {
        **old["variables"]["options"],
        "properties": {
            **old["variables"]["options"]["properties"],
            "count": {**old["variables"]["options"]["properties"]["count"], "maximum": 50},
            "seed": {"type": "integer", "title": "Seed"},
        },
    }
    new["keywords"] = ["fragmenstein"]
    assert definition_changes(old, old) == []
    assert definition_changes(old, new) == [
        'keywords: ["fragmenstein", "fbdd"] → ["fragmenstein"]',
        "variables.options.properties.count.maximum: 100 → 50",
        'variables.options.properties.seed: (none) → {"title": "Seed", "type": "integer"}',
    ]


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


def test_job_config_is_what_it_was_when_the_options_were_written_in_job_schemas(
    job_schemas: dict[str, JobSchema],
) -> None:
    """Issue 14: the options left job_schemas/ for the Squonk2 definitions; the API (and so
    the dialog and the server-side checks built from the same schema) did not change.
    The file is GET /api/job_config/ as it was before."""
    import json

    from app.launcher import job_config_json

    before = json.loads(
        (Path(__file__).parent / "data/job_config_before_issue_14.json").read_text()
    )
    now = json.loads(json.dumps([job_config_json(s) for s in job_schemas.values()]))
    assert now == before
