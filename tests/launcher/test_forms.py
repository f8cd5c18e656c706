"""The launch dialog built from a job schema: fields, widgets, defaults, bounds, errors."""

from __future__ import annotations

from pathlib import Path

import yaml
from flask import Flask
from werkzeug.datastructures import MultiDict

from app.launcher import (
    JobSchema,
    LaunchContext,
    attach_errors,
    build_launch_form,
    form_submission,
    load_job_schemas,
    resolve_options,
    validate_options,
)
from app.launcher.definition import Definition
from app.launcher.forms import drop_repeated_help, fields_with_errors
from tests.launcher.conftest import SNAPSHOT


def post(flask_app: Flask, schema: JobSchema, data: MultiDict, **kwargs):
    """A form built from a POST, as the view will in a request."""
    with flask_app.test_request_context(method="POST", data=data):
        form = build_launch_form(schema, SNAPSHOT, SNAPSHOT, csrf=False, **kwargs)
        valid = form.validate()
        return form, valid, str(form.inputs()) + str(form.options())


def good_fragmenstein_post(**changes: object) -> MultiDict:
    values: dict[str, object] = {
        "inputs-fragments": SNAPSHOT[:2],
        "inputs-protein": SNAPSHOT[0],
        "options-count": "3",
        "options-fragIdField": "_Name",
    }
    values.update(changes)
    return MultiDict(
        [(k, v) for k, vs in values.items() for v in (vs if isinstance(vs, list) else [vs])]
    )


def test_fields_widgets_and_defaults(flask_app: Flask, fragmenstein: JobSchema) -> None:
    with flask_app.test_request_context():
        form = build_launch_form(fragmenstein, SNAPSHOT, SNAPSHOT)
        inputs, options = form.inputs.form, form.options.form
        assert list(inputs._fields) == ["fragments", "protein"]
        # Hidden fixed options are not in the form at all; order follows the schema.
        assert list(options._fields) == ["count", "keepHydrogens", "fragIdField", "outfile"]

        assert inputs.fragments.type == "MultiCheckboxField"
        assert [value for value, _ in inputs.fragments.choices] == SNAPSHOT
        assert inputs.fragments.description == "Choose between 2 and 20 fragments"
        assert inputs.protein.type == "SelectField"
        assert [value for value, _ in inputs.protein.choices] == ["", *SNAPSHOT]

        assert options.count.type == "IntegerField"
        assert options.count.data == 1
        assert options.count.label.text == "Number of molecules to generate"
        assert "Must be between 1 and 100" in options.count.description
        assert options.keepHydrogens.type == "BooleanField"
        assert options.keepHydrogens.data is False
        assert options.fragIdField.data == "_Name"

        html = str(form.inputs()) + str(form.options())
        assert html.count('type="checkbox" value="Mac1-') == len(SNAPSHOT)
        assert 'name="options-count" type="number" value="1"' in html
        # Bounds are the server's to check: the browser must let an invalid count through.
        assert "min=" not in html and "max=" not in html and " required" not in html
        assert 'name="csrf_token"' in str(form.csrf_token())


def test_fixed_option_is_read_only_and_what_the_browser_sends_is_ignored(
    flask_app: Flask, fragmenstein: JobSchema
) -> None:
    data = good_fragmenstein_post(**{"options-outfile": "../../etc/passwd.sdf"})
    form, valid, html = post(flask_app, fragmenstein, data)
    assert valid, form.errors
    outfile = form.options.outfile
    assert outfile.render_kw["readonly"] is True
    assert outfile.data == "<job directory>/merged.sdf"
    assert "readonly" in str(outfile()) and "passwd" not in html

    inputs, options = form_submission(form)
    assert "outfile" not in options
    resolved = resolve_options(
        fragmenstein, options, LaunchContext("alice", "fragalysis-jobs/alice/1", "Mac1", "P")
    )
    assert resolved["outfile"] == "fragalysis-jobs/alice/1/merged.sdf"


def test_a_valid_submission_gives_typed_inputs_and_options(
    flask_app: Flask, fragmenstein: JobSchema
) -> None:
    form, valid, _ = post(
        flask_app, fragmenstein, good_fragmenstein_post(**{"options-keepHydrogens": "y"})
    )
    assert valid, form.errors
    inputs, options = form_submission(form)
    assert inputs == {"fragments": SNAPSHOT[:2], "protein": SNAPSHOT[0]}
    assert options == {"count": 3, "keepHydrogens": True, "fragIdField": "_Name"}


def test_invalid_count_shows_its_message_inline(flask_app: Flask, fragmenstein: JobSchema) -> None:
    form, valid, html = post(
        flask_app, fragmenstein, good_fragmenstein_post(**{"options-count": "0"})
    )
    assert not valid
    assert form.errors == {"options": {"count": ["Must be between 1 and 100"]}}
    # The user's value is kept for correction.
    assert 'name="options-count" type="number" value="0"' in html

    form, valid, _ = post(
        flask_app, fragmenstein, good_fragmenstein_post(**{"options-count": "many"})
    )
    assert not valid
    assert form.options.count.errors == ["Not a valid integer value."]


def test_fragment_count_and_snapshot_membership(flask_app: Flask, fragmenstein: JobSchema) -> None:
    form, valid, _ = post(
        flask_app, fragmenstein, good_fragmenstein_post(**{"inputs-fragments": [SNAPSHOT[0]]})
    )
    assert not valid
    assert form.inputs.fragments.errors == ["Choose between 2 and 20 fragments (1 chosen)"]

    form, valid, _ = post(
        flask_app,
        fragmenstein,
        good_fragmenstein_post(
            **{"inputs-fragments": [SNAPSHOT[0], "Other-x9999_A"], "inputs-protein": "Nope"}
        ),
    )
    assert not valid
    assert form.inputs.fragments.errors == ["Not in this snapshot: Other-x9999_A"]
    assert form.inputs.protein.errors == ["Not in this snapshot: Nope"]


def test_a_protein_must_be_chosen(flask_app: Flask, fragmenstein: JobSchema) -> None:
    form, valid, _ = post(flask_app, fragmenstein, good_fragmenstein_post(**{"inputs-protein": ""}))
    assert not valid
    assert form.inputs.protein.errors == ["Choose a protein"]


def test_enum_is_a_select_and_rejects_other_values(flask_app: Flask, rdkit: JobSchema) -> None:
    data = MultiDict(
        [
            ("inputs-inputFile", SNAPSHOT[0]),
            ("options-numConformers", "5"),
            ("options-method", "UFF"),
            ("options-randomSeed", "42"),
        ]
    )
    form, valid, html = post(flask_app, rdkit, data)
    assert form.options.method.type == "SelectField"
    assert [value for value, _ in form.options.method.choices] == ["ETKDGv3", "ETKDGv2", "ETKDG"]
    assert not valid
    assert form.options.method.errors == ["Not a valid choice."]


def test_required_option_left_empty(flask_app: Flask, rdkit: JobSchema) -> None:
    data = MultiDict(
        [
            ("inputs-inputFile", SNAPSHOT[0]),
            ("options-numConformers", ""),
            ("options-method", "ETKDG"),
            ("options-randomSeed", "42"),
        ]
    )
    form, valid, _ = post(flask_app, rdkit, data)
    assert not valid
    assert form.options.numConformers.errors == ["This option is required"]


def test_optional_empty_string_option_is_left_to_its_default(
    flask_app: Flask, rdkit: JobSchema
) -> None:
    data = MultiDict(
        [
            ("inputs-inputFile", SNAPSHOT[0]),
            ("options-numConformers", "7"),
            ("options-method", "ETKDG"),
            ("options-randomSeed", "-1"),
            ("options-idField", ""),
        ]
    )
    form, valid, _ = post(flask_app, rdkit, data)
    assert valid, form.errors
    _, options = form_submission(form)
    assert options == {
        "numConformers": 7,
        "method": "ETKDG",
        "minimize": False,
        "keepHydrogens": False,
        "randomSeed": -1,
    }


def test_starting_values_for_run_again(flask_app: Flask, fragmenstein: JobSchema) -> None:
    previous = {"fragments": SNAPSHOT[1:], "protein": SNAPSHOT[2], "count": 7, "outfile": "x.sdf"}
    with flask_app.test_request_context():
        form = build_launch_form(fragmenstein, SNAPSHOT, SNAPSHOT, data=previous)
        assert form.inputs.fragments.data == SNAPSHOT[1:]
        assert form.inputs.protein.data == SNAPSHOT[2]
        assert form.options.count.data == 7
        assert form.options.fragIdField.data == "_Name"
        assert form.options.outfile.data == "<job directory>/merged.sdf"


def test_a_new_class_per_call(flask_app: Flask, fragmenstein: JobSchema, rdkit: JobSchema) -> None:
    with flask_app.test_request_context():
        first = build_launch_form(fragmenstein, SNAPSHOT, SNAPSHOT)
        second = build_launch_form(fragmenstein, SNAPSHOT[:1], SNAPSHOT[:1])
        other = build_launch_form(rdkit, SNAPSHOT, SNAPSHOT)
    assert type(first) is not type(second)
    assert len(first.inputs.fragments.choices) == 3
    assert len(second.inputs.fragments.choices) == 1
    assert "count" not in other.options.form._fields


def test_server_errors_attach_to_their_fields(flask_app: Flask, fragmenstein: JobSchema) -> None:
    with flask_app.test_request_context():
        form = build_launch_form(fragmenstein, SNAPSHOT, SNAPSHOT)
        errors = validate_options(fragmenstein, {"count": "3", "smilesFieldName": 1})
        attach_errors(form, {**errors, "protein": "Not in this snapshot: X"})
        assert form.options.count.errors == ['Must be an integer, not "3"']
        assert form.inputs.protein.errors == ["Not in this snapshot: X"]
        assert "smilesFieldName: Must be a string, not 1" in form.form_errors


def test_number_pattern_and_array_options(flask_app: Flask, tmp_path: Path) -> None:
    override = {
        "collection": "demo",
        "job": "demo",
        "version": "1",
        "title": "Demo",
        "inputs": {"molecules": {"from": "lhs-fragments"}},
    }
    definition = {
        "collection": "demo",
        "job": "demo",
        "version": "1",
        "name": "Demo",
        "variables": {
            "inputs": {
                "type": "object",
                "properties": {
                    "molecules": {
                        "type": "file",
                        "multiple": True,
                        "mime-types": ["chemical/x-mdl-molfile"],
                    }
                },
            },
            "options": {
                "type": "object",
                "properties": {
                    "threshold": {"type": "number", "minimum": 0, "maximum": 1, "default": 0.5},
                    "prefix": {"type": "string", "pattern": "^[A-Z]+$", "default": "AB"},
                    "weights": {"type": "array", "items": {"type": "integer"}, "default": [1, 2]},
                    "tags": {
                        "type": "array",
                        "items": {"type": "string", "enum": ["a", "b", "c"]},
                    },
                },
            },
        },
    }
    (tmp_path / "demo.yaml").write_text(yaml.safe_dump(override))
    found = Definition(definition, "a test's definition")
    schema = load_job_schemas(tmp_path, {found.key: found})["demo"]
    with flask_app.test_request_context():
        fresh = build_launch_form(schema, SNAPSHOT, SNAPSHOT)
        assert fresh.options.threshold.type == "DecimalField"
        assert fresh.options.weights.type == "ListField"
        assert fresh.options.weights._value() == "1\n2"
        assert fresh.options.tags.type == "MultiCheckboxField"

    good = MultiDict(
        [
            ("inputs-molecules", SNAPSHOT[0]),
            ("options-threshold", "0.25"),
            ("options-prefix", "XYZ"),
            ("options-weights", "3\n4\n"),
            ("options-tags", "a"),
            ("options-tags", "c"),
        ]
    )
    form, valid, _ = post(flask_app, schema, good)
    assert valid, form.errors
    _, options = form_submission(form)
    assert options == {"threshold": 0.25, "prefix": "XYZ", "weights": [3, 4], "tags": ["a", "c"]}
    assert validate_options(schema, options) == {}

    bad = MultiDict(
        [
            ("inputs-molecules", SNAPSHOT[0]),
            ("options-threshold", "1.5"),
            ("options-prefix", "xyz"),
            ("options-weights", "3\nfour"),
        ]
    )
    form, valid, _ = post(flask_app, schema, bad)
    assert not valid
    assert form.options.threshold.errors == ["Must be between 0 and 1"]
    assert form.options.prefix.errors == ["Must match the pattern ^[A-Z]+$"]
    assert form.options.weights.errors == ["Line 2: 'four' is not a whole number"]


def test_smiles_lines_are_checked_with_rdkit_and_the_bad_ones_named(
    flask_app: Flask, job_schemas: dict[str, JobSchema]
) -> None:
    place = job_schemas["fragmenstein-place-string"]
    lines = ["CCO", "c1ccccc1O", "C1CC", "CC(=O)Nc1cccnc1", "c1cccc1"]
    form, valid, html = post(
        flask_app, place, good_fragmenstein_post(**{"options-smiles": "\n".join(lines)})
    )
    assert valid, form.errors  # the form only splits the lines; the server checks them
    assert "<textarea" in html and 'name="options-smiles"' in html
    inputs, submitted = form_submission(form)
    assert submitted["smiles"] == lines
    context = LaunchContext(
        username="alice", job_dir="jobs/alice/1", target="Mac1", protein=SNAPSHOT[0]
    )
    errors = validate_options(place, resolve_options(place, submitted, context))
    assert errors == {
        "smiles": "line 3: 'C1CC' is not a valid SMILES; line 5: 'c1cccc1' is not a valid SMILES"
    }
    with flask_app.test_request_context():
        attach_errors(form, errors)
    assert form.options.smiles.errors == [errors["smiles"]]

    good = validate_options(place, resolve_options(place, {"smiles": lines[:2]}, context))
    assert good == {}


# A dialog that starts right ----------------------------------------------------------------

NO_APO = "apo-desolv PDB"


def test_prefill_ticks_every_fragment_and_chooses_the_first_protein(
    flask_app: Flask, fragmenstein: JobSchema
) -> None:
    two = SNAPSHOT[:2]
    with flask_app.test_request_context():
        form = build_launch_form(fragmenstein, two, two, prefill=True)
        assert form.inputs.fragments.data == two
        assert form.inputs.protein.data == two[0]
        # without prefill (a post, an API-like build) nothing is chosen for the user
        plain = build_launch_form(fragmenstein, two, two)
        assert plain.inputs.fragments.data is None or plain.inputs.fragments.data == []
        assert plain.inputs.protein.data == ""
        # a previous launch's inputs win over the prefill
        again = build_launch_form(
            fragmenstein, SNAPSHOT, SNAPSHOT, data={"fragments": SNAPSHOT[1:]}, prefill=True
        )
        assert again.inputs.fragments.data == SNAPSHOT[1:]
        assert again.inputs.protein.data == SNAPSHOT[0]


def test_prefill_ticks_none_outside_the_inputs_bounds(
    flask_app: Flask, fragmenstein: JobSchema
) -> None:
    many = [f"Mac1-x{n:04d}_A" for n in range(21)]  # max is 20
    with flask_app.test_request_context():
        one = build_launch_form(fragmenstein, SNAPSHOT[:1], SNAPSHOT[:1], prefill=True)
        assert one.inputs.fragments.data == []  # min is 2
        assert one.inputs.protein.data == SNAPSHOT[0]
        too_many = build_launch_form(fragmenstein, many, many, prefill=True)
        assert too_many.inputs.fragments.data == []
        html = str(too_many.inputs.fragments())
        assert "checked" not in html


def test_proteins_without_the_file_are_marked_disabled_and_refused(
    flask_app: Flask, fragmenstein: JobSchema
) -> None:
    missing = {(SNAPSHOT[0], "apo_desolv"): NO_APO, (SNAPSHOT[2], "apo_desolv"): NO_APO}
    with flask_app.test_request_context():
        form = build_launch_form(fragmenstein, SNAPSHOT, SNAPSHOT, missing=missing, prefill=True)
        assert form.inputs.protein.data == SNAPSHOT[1]  # the first that has the file
        # the fragments input needs mol files: all ticked, nothing marked
        assert form.inputs.fragments.data == SNAPSHOT
        html = str(form.inputs.protein())
        assert (
            f'<option disabled value="{SNAPSHOT[0]}">{SNAPSHOT[0]} — no {NO_APO}</option>' in html
        )
        assert f'<option selected value="{SNAPSHOT[1]}">{SNAPSHOT[1]}</option>' in html
        assert "no apo-desolv" not in str(form.inputs.fragments())

        nothing = build_launch_form(
            fragmenstein,
            SNAPSHOT[:1],
            SNAPSHOT[:1],
            missing={(SNAPSHOT[0], "apo_desolv"): NO_APO},
            prefill=True,
        )
        assert nothing.inputs.protein.data == ""  # none has it: none chosen
        assert nothing.inputs.protein.description == (
            "No protein of this snapshot has the apo-desolv PDB this job needs "
            f"(missing for {SNAPSHOT[0]}): it cannot run on this snapshot."
        )

    form, valid, _ = post(
        flask_app,
        fragmenstein,
        good_fragmenstein_post(**{"inputs-protein": SNAPSHOT[2]}),
        missing=missing,
    )
    assert not valid
    assert form.inputs.protein.errors == [f"{SNAPSHOT[2]} has no {NO_APO}"]
    form, valid, _ = post(
        flask_app,
        fragmenstein,
        good_fragmenstein_post(**{"inputs-protein": SNAPSHOT[1]}),
        missing=missing,
    )
    assert valid, form.errors


def test_an_error_does_not_repeat_the_help_text(flask_app: Flask, fragmenstein: JobSchema) -> None:
    form, valid, _ = post(
        flask_app,
        fragmenstein,
        good_fragmenstein_post(**{"inputs-fragments": [SNAPSHOT[0]], "options-count": "0"}),
    )
    assert not valid
    with flask_app.test_request_context():
        drop_repeated_help(form)
    # "Choose between 2 and 20 fragments" is said by the error alone
    assert form.inputs.fragments.errors == ["Choose between 2 and 20 fragments (1 chosen)"]
    assert form.inputs.fragments.description == ""
    # the count keeps the help the error does not say
    assert form.options.count.errors == ["Must be between 1 and 100"]
    assert form.options.count.description == "How many merged molecules to keep, best first."
    # fields without an error keep all their help
    assert form.inputs.protein.description == "The protein's desolvated apo structure is used"
    assert [field.name for field in fields_with_errors(form)] == [
        "inputs-fragments",
        "options-count",
    ]


def test_a_server_message_is_attached_once(flask_app: Flask, fragmenstein: JobSchema) -> None:
    form, valid, _ = post(flask_app, fragmenstein, good_fragmenstein_post(**{"options-count": "0"}))
    with flask_app.test_request_context():
        attach_errors(form, {"count": "Must be between 1 and 100", "hidden": "no"})
        attach_errors(form, {"hidden": "no"})
    assert form.options.count.errors == ["Must be between 1 and 100"]
    assert form.form_errors == ["hidden: no"]
