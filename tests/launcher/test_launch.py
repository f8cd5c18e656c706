"""Server-side launch checks: options resolved and validated, inputs, fingerprint, variables."""

from __future__ import annotations

import pytest

from app.launcher import (
    JobSchema,
    LaunchContext,
    fingerprint,
    resolve_options,
    squonk_variables,
    validate_inputs,
    validate_options,
)
from tests.launcher.conftest import SNAPSHOT

CONTEXT = LaunchContext(
    username="alice",
    job_dir="fragalysis-jobs/alice/20250101-101500",
    target="Mac1",
    protein="Mac1-x0104_A",
)
INPUTS = {"fragments": ["Mac1-x0150_A", "Mac1-x0104_A"], "protein": "Mac1-x0104_A"}


def later(context: LaunchContext = CONTEXT, **changes: str) -> LaunchContext:
    values = {**context.values(), **changes}
    return LaunchContext(**values)  # type: ignore[arg-type]


# Options ------------------------------------------------------------------------------------


def test_defaults_then_user_values_then_fixed_values(fragmenstein: JobSchema) -> None:
    submitted = {
        "count": 4,
        "outfile": "/somewhere/else.sdf",
        "smilesFieldName": "mine",
        "keepHydrogens": None,  # not given: the default stays
    }
    options = resolve_options(fragmenstein, submitted, CONTEXT)
    assert options == {
        "count": 4,
        "keepHydrogens": False,
        "fragIdField": "_Name",
        "outfile": "fragalysis-jobs/alice/20250101-101500/merged.sdf",
        "smilesFieldName": "original SMILES",
        "proteinFieldName": "ref_pdb",
        "proteinFieldValue": "Mac1-x0104_A",
    }
    assert validate_options(fragmenstein, options) == {}


def test_nothing_submitted_gives_a_valid_launch(fragmenstein: JobSchema, rdkit: JobSchema) -> None:
    for schema in (fragmenstein, rdkit):
        assert validate_options(schema, resolve_options(schema, {}, CONTEXT)) == {}


def test_bad_types_are_rejected_not_coerced(fragmenstein: JobSchema) -> None:
    options = resolve_options(
        fragmenstein, {"count": "3", "keepHydrogens": "yes", "fragIdField": 7}, CONTEXT
    )
    assert options["count"] == "3"
    assert validate_options(fragmenstein, options) == {
        "count": 'Must be an integer, not "3"',
        "keepHydrogens": 'Must be a boolean, not "yes"',
        "fragIdField": "Must be a string, not 7",
    }


def test_bounds_enum_required_and_unknown_options(rdkit: JobSchema) -> None:
    options = resolve_options(rdkit, {"numConformers": 0, "method": "UFF", "cout": 1}, CONTEXT)
    del options["randomSeed"]
    assert validate_options(rdkit, options) == {
        "numConformers": "Must be at least 1",
        "method": "Must be one of: ETKDGv3, ETKDGv2, ETKDG",
        "randomSeed": "This option is required",
        "cout": "Unknown option for RDKit conformers",
    }
    assert validate_options(rdkit, {**options, "randomSeed": 10**10})["randomSeed"] == (
        "Must be at most 2147483647"
    )


def test_integral_floats_from_json_become_integers(fragmenstein: JobSchema) -> None:
    options = resolve_options(fragmenstein, {"count": 3.0}, CONTEXT)
    assert options["count"] == 3 and isinstance(options["count"], int)
    bad = resolve_options(fragmenstein, {"count": 2.5}, CONTEXT)
    assert validate_options(fragmenstein, bad) == {"count": "Must be an integer, not 2.5"}


def test_a_job_dir_that_would_break_the_outfile_is_refused() -> None:
    for bad in ("/alice/20250101 101500", "alice/../bob", "alice/2025 01"):
        with pytest.raises(ValueError, match="job_dir must be a relative project path"):
            LaunchContext("alice", bad, "Mac1")


def test_a_protein_template_needs_the_protein(fragmenstein: JobSchema) -> None:
    without = LaunchContext("alice", "fragalysis-jobs/alice/1", "Mac1")
    with pytest.raises(ValueError, match=r"No value for \{protein\}"):
        resolve_options(fragmenstein, {}, without)


# Inputs -------------------------------------------------------------------------------------


def test_inputs_from_the_snapshot_within_bounds(fragmenstein: JobSchema) -> None:
    assert validate_inputs(fragmenstein, INPUTS, SNAPSHOT) == {}


def test_foreign_codes_are_named(fragmenstein: JobSchema) -> None:
    errors = validate_inputs(
        fragmenstein,
        {"fragments": ["Mac1-x0104_A", "NUDT7-x001_A", "Zika-x9_B"], "protein": "NUDT7-x001_A"},
        SNAPSHOT,
    )
    assert errors == {
        "fragments": "Not in this snapshot: NUDT7-x001_A, Zika-x9_B",
        "protein": "Not in this snapshot: NUDT7-x001_A",
    }


def test_fragment_count_bounds(fragmenstein: JobSchema, rdkit: JobSchema) -> None:
    one = {"fragments": ["Mac1-x0104_A"], "protein": "Mac1-x0104_A"}
    assert validate_inputs(fragmenstein, one, SNAPSHOT) == {
        "fragments": "Choose between 2 and 20 fragments (1 chosen)"
    }
    many = [f"c{i}" for i in range(51)]
    assert validate_inputs(rdkit, {"inputFile": many}, many) == {
        "inputFile": "Choose between 1 and 50 fragments (51 chosen)"
    }
    assert validate_inputs(rdkit, {}, SNAPSHOT) == {
        "inputFile": "Choose between 1 and 50 fragments (0 chosen)"
    }


def test_one_protein_and_well_formed_values(fragmenstein: JobSchema) -> None:
    errors = validate_inputs(
        fragmenstein,
        {"fragments": "Mac1-x0104_A", "protein": ["Mac1-x0104_A", "Mac1-x0150_A"], "extra": []},
        SNAPSHOT,
    )
    assert errors == {
        "fragments": "Fragments to merge: expected a list of protein codes",
        "protein": "Protein: choose exactly one protein",
        "extra": "Unknown input 'extra' for Fragmenstein combine",
    }
    assert validate_inputs(fragmenstein, {"fragments": SNAPSHOT[:2]}, SNAPSHOT) == {
        "protein": "Choose a protein for Protein"
    }
    twice = {"fragments": [SNAPSHOT[0], SNAPSHOT[0]], "protein": SNAPSHOT[0]}
    assert validate_inputs(fragmenstein, twice, SNAPSHOT) == {
        "fragments": f"Chosen more than once: {SNAPSHOT[0]}"
    }


# Fingerprint --------------------------------------------------------------------------------


def test_same_launch_later_or_by_another_user_has_the_same_fingerprint(
    fragmenstein: JobSchema,
) -> None:
    first = resolve_options(fragmenstein, {"count": 2}, CONTEXT)
    again = resolve_options(
        fragmenstein,
        {"count": 2},
        later(job_dir="fragalysis-jobs/bob/20250102-090000", username="bob"),
    )
    assert first["outfile"] != again["outfile"]
    digest = fingerprint("Mac1", fragmenstein, INPUTS, first)
    assert len(digest) == 64 and int(digest, 16) >= 0
    assert fingerprint("Mac1", fragmenstein, INPUTS, again) == digest
    # Fragment order, defaults given or omitted, and raw vs resolved options do not matter.
    reordered = {**INPUTS, "fragments": list(reversed(INPUTS["fragments"]))}
    assert fingerprint("Mac1", fragmenstein, reordered, first) == digest
    assert fingerprint("Mac1", fragmenstein, INPUTS, {"count": 2}) == digest
    assert fingerprint("Mac1", fragmenstein, INPUTS, {"count": 2.0, "fragIdField": "_Name"}) == (
        digest
    )


def test_a_different_launch_has_a_different_fingerprint(fragmenstein: JobSchema) -> None:
    options = resolve_options(fragmenstein, {"count": 2}, CONTEXT)
    digest = fingerprint("Mac1", fragmenstein, INPUTS, options)
    other_count = resolve_options(fragmenstein, {"count": 3}, CONTEXT)
    assert fingerprint("Mac1", fragmenstein, INPUTS, other_count) != digest
    assert fingerprint("Mac2", fragmenstein, INPUTS, options) != digest
    other_protein = {**INPUTS, "protein": "Mac1-x0150_A"}
    assert fingerprint("Mac1", fragmenstein, other_protein, options) != digest
    fewer = {**INPUTS, "fragments": SNAPSHOT}
    assert fingerprint("Mac1", fragmenstein, fewer, options) != digest
    hydrogens = resolve_options(fragmenstein, {"count": 2, "keepHydrogens": True}, CONTEXT)
    assert fingerprint("Mac1", fragmenstein, INPUTS, hydrogens) != digest


# Squonk2 variables --------------------------------------------------------------------------


def transfer_layout(source: str, code: str) -> str:
    if source == "lhs-fragments":
        return f"fragalysis-files/Mac1/{code}.mol"
    return f"fragalysis-files/Mac1/{code}_apo-desolv.pdb"


def test_squonk_variables_map_inputs_to_project_files(fragmenstein: JobSchema) -> None:
    options = resolve_options(fragmenstein, {"count": 2}, CONTEXT)
    variables = squonk_variables(fragmenstein, INPUTS, options, transfer_layout)
    assert variables == {
        "fragments": [
            "fragalysis-files/Mac1/Mac1-x0150_A.mol",
            "fragalysis-files/Mac1/Mac1-x0104_A.mol",
        ],
        "protein": "fragalysis-files/Mac1/Mac1-x0104_A_apo-desolv.pdb",
        **options,
    }
    assert variables["outfile"] == "fragalysis-jobs/alice/20250101-101500/merged.sdf"


def test_a_single_fragment_is_still_a_list(rdkit: JobSchema) -> None:
    options = resolve_options(rdkit, {}, CONTEXT)
    variables = squonk_variables(rdkit, {"inputFile": ["Mac1-x0104_A"]}, options, transfer_layout)
    assert variables["inputFile"] == ["fragalysis-files/Mac1/Mac1-x0104_A.mol"]
    assert variables["outputFile"] == "fragalysis-jobs/alice/20250101-101500/conformers.sdf"


def test_output_paths_come_from_the_resolved_options(fragmenstein: JobSchema) -> None:
    options = resolve_options(fragmenstein, {}, CONTEXT)
    (output,) = fragmenstein.imported_outputs
    assert output.path(options) == "fragalysis-jobs/alice/20250101-101500/merged.sdf"


def test_output_file_templates_need_a_context() -> None:
    from app.launcher import JobOutput

    output = JobOutput("log", "Log", "text/plain", file="{job_dir}/run.log")
    assert output.path({}, CONTEXT) == "fragalysis-jobs/alice/20250101-101500/run.log"
    with pytest.raises(ValueError, match="needs a launch context"):
        output.path({})
