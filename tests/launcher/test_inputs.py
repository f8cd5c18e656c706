"""The input-kind registry: a kind registered by this test alone (one class, its template a
string it carries) works end to end without editing any other module: a job schema using it
validates, the dialog renders its field, a bad value is refused with a clear message and a
good one becomes the right Squonk2 variable.

The kind, ``lhs-fragment``, is "a single fragment": ONE ligand mol file, chosen with radio
buttons, sent to Squonk2 as one path (not a list of one, as ``lhs-fragments`` would be).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from sqlalchemy import select
from wtforms import RadioField
from wtforms.validators import InputRequired

from app import create_app
from app.config import SETTINGS
from app.extensions import db
from app.jobs.service import transfer_file_path
from app.launcher import (
    JobInput,
    JobSchemaError,
    OneCode,
    input_kind,
    input_sources,
    job_config_json,
    register_input_kind,
    squonk_variables,
    unregister_input_kind,
)
from app.launcher import format as launcher_format
from app.launcher.inputs import FromSnapshot
from app.models import JobRequest
from tests.launcher.jobfiles import definitions_dir, load, write_job
from tests.support import MAC1_NEIGHBOURS, csrf_token_of

SOURCE = "lhs-fragment"
JOB = "single-fragment"


class SingleFragment(OneCode):
    """``lhs-fragment``: the mol file of ONE fragment chosen from the snapshot."""

    source = SOURCE
    file_kind = "mol"
    offers = "fragments"
    noun, nouns = "fragment", "fragments"
    help = "One fragment's ligand mol file is sent"
    template_source = (
        '{% from "macros/fields.html" import field_frame, checklist %}'
        '{% call field_frame(field) %}<div class="single-fragment">{{ checklist(field) }}</div>'
        "{% endcall %}"
    )

    def field(self, item: JobInput, codes: list[str]):
        return RadioField(
            item.title,
            choices=[(code, code) for code in codes],
            validators=[InputRequired(message=f"Choose a {self.noun}"), FromSnapshot()],
            validate_choice=False,
            description=self.help,
            render_kw={"required": False},
        )


def job_schema(**input_changes: object) -> dict:
    return {
        "collection": "demo",
        "job": "one-fragment",
        "version": "1.0.0",
        "title": "One fragment",
        "inputs": {
            "hit": {
                "from": SOURCE,
                "format": "chemical/x-mdl-molfile",
                "title": "Fragment",
                **input_changes,
            }
        },
        "options": {
            "type": "object",
            "required": ["outfile"],
            "properties": {
                "outfile": {
                    "type": "string",
                    "x-launcher": {"value": "{job_dir}/one.sdf", "editable": False},
                },
            },
        },
    }


@pytest.fixture
def single_fragment():
    """``lhs-fragment`` registered for one test, and gone after it."""
    register_input_kind(SingleFragment)
    yield input_kind(SOURCE)
    unregister_input_kind(SOURCE)
    assert SOURCE not in input_sources()


@pytest.fixture
def kind_schemas_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "kind_job_schemas"
    directory.mkdir()
    write_job(directory, job_schema(), f"{JOB}.yaml")
    return directory


@pytest.fixture
def app(app, single_fragment, kind_schemas_dir):
    """The conftest's app (tables emptied, its DATA_DIR and queue), created again with the
    test's JOB_SCHEMAS_DIR; ``login``, ``transferred``... then use this one."""
    settings = {setting.name: app.config[setting.name] for setting in SETTINGS}
    kind_app = create_app(
        {
            **settings,
            "TESTING": True,
            "JOB_SCHEMAS_DIR": str(kind_schemas_dir),
            "JOB_DEFINITIONS_DIR": str(definitions_dir(kind_schemas_dir)),
        }
    )
    yield kind_app
    with kind_app.app_context():
        db.session.remove()
        db.engine.dispose()


# The registry and the job schema ----------------------------------------------------------


def test_the_shipped_kinds_and_no_other(kind_schemas_dir: Path) -> None:
    # Also shows the test kind does not outlive its fixture, whichever test ran before.
    assert input_sources() == ("lhs-fragments", "lhs-protein-apo-desolv")
    assert launcher_format.INPUT_SOURCES == input_sources()
    with pytest.raises(JobSchemaError) as refused:
        load(kind_schemas_dir)
    assert refused.value.path == "inputs.hit.from"
    assert refused.value.reason.startswith(f"'{SOURCE}' is not one of ['lhs-fragments', ")


def test_a_registered_kind_is_a_valid_from(single_fragment, kind_schemas_dir: Path) -> None:
    assert launcher_format.INPUT_SOURCES[-1] == SOURCE
    schema = load(kind_schemas_dir)[JOB]
    (item,) = schema.inputs
    assert item.kind is single_fragment
    assert (item.min, item.max, item.multiple) == (1, 1, False)
    (listed,) = job_config_json(schema)["inputs"]
    assert listed == {
        "name": "hit",
        "from": SOURCE,
        "format": "chemical/x-mdl-molfile",
        "title": "Fragment",
        "min": 1,
        "max": 1,
        "multiple": False,
    }
    with pytest.raises(ValueError, match="already registered"):
        register_input_kind(SingleFragment)


def test_the_kinds_own_rules_apply(single_fragment, tmp_path: Path) -> None:
    write_job(tmp_path, job_schema(max=2), "two.yaml")
    with pytest.raises(JobSchemaError) as refused:
        load(tmp_path)
    assert str(refused.value).endswith(
        "two.yaml: inputs.hit.max: a fragment input takes exactly one fragment"
    )


def test_a_code_becomes_one_path_not_a_list(single_fragment, kind_schemas_dir: Path) -> None:
    schema = load(kind_schemas_dir)[JOB]
    variables = squonk_variables(schema, {"hit": "Mac1-x0104_A"}, {}, transfer_file_path("Mac1"))
    assert variables == {"hit": "fragalysis-files/Mac1/Mac1-x0104_A.mol"}


# In the app: dialog, refusals, the launch -----------------------------------------------------


def dialog_post(member, snapshot_id: int, page_html: str, **inputs: str):
    return member.client.post(
        f"/snapshots/{snapshot_id}/launch?job={JOB}",
        data={"csrf_token": csrf_token_of(page_html), **inputs},
        headers={"HX-Request": "true"},
    )


def test_the_dialog_renders_the_kinds_template(app, transferred, login) -> None:
    page = login("member").get(f"/snapshots/{transferred}/launch?job={JOB}")
    assert page.status_code == 200
    block = re.search(r'<div class="single-fragment">(.*?)</div>', page.text, re.S)
    assert block, page.text
    radios = re.findall(r'<input[^>]*type="radio"[^>]*>', block.group(1))
    assert len(radios) == len(MAC1_NEIGHBOURS)
    for code in MAC1_NEIGHBOURS:
        assert any('name="inputs-hit"' in r and f'value="{code}"' in r for r in radios)
    assert "One fragment&#39;s ligand mol file is sent" in page.text
    assert 'type="checkbox"' not in block.group(1)


def test_a_bad_value_is_refused_with_its_message(app, transferred, login, small_targets):
    member = login("member")
    page = member.get(f"/snapshots/{transferred}/launch?job={JOB}")
    nothing = dialog_post(member, transferred, page.text)
    assert nothing.status_code == 200 and "Choose a fragment" in nothing.text
    foreign = dialog_post(member, transferred, page.text, **{"inputs-hit": "Other-x9999_A"})
    assert foreign.status_code == 200 and "Not in this snapshot: Other-x9999_A" in foreign.text

    def api(value: object):
        body = {"snapshot": transferred, "job": JOB, "inputs": {"hit": value}, "options": {}}
        response = member.post("/api/job_request/", json=body)
        assert response.status_code == 400, response.json
        return response.json["fields"]["hit"]

    assert api(list(MAC1_NEIGHBOURS)) == "Fragment: choose exactly one fragment"
    assert api(small_targets["Mpro"][0]) == f"Not in this snapshot: {small_targets['Mpro'][0]}"
    assert api("") == "Choose a fragment for Fragment"
    with app.app_context():
        assert db.session.scalar(select(db.func.count(JobRequest.id))) == 0


def test_a_good_value_becomes_the_squonk_variable(app, transferred, login) -> None:
    member = login("member")
    page = member.get(f"/snapshots/{transferred}/launch?job={JOB}")
    code = MAC1_NEIGHBOURS[1]
    launched = dialog_post(member, transferred, page.text, **{"inputs-hit": code})
    assert launched.status_code == 204, launched.text
    job_id = int(launched.headers["HX-Redirect"].rstrip("/").split("/")[-1])
    with app.app_context():
        row = db.session.get(JobRequest, job_id)
        assert row.job_key == JOB and row.inputs == {"hit": code}
        assert row.specification == {
            "hit": f"fragalysis-files/Mac1/{code}.mol",
            "outfile": f"{row.job_dir}/one.sdf",
        }
