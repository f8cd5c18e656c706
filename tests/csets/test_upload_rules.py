"""Rules of the upload beyond the corpus: non-finite numbers, lengths the database holds,
scores of one kind, described properties, original SMILES against the pose, and the same
file uploaded twice. Each broken file is valid but for its LAST record, and goes through
the upload page and the API: refused naming record, molecule and field; nothing stored."""

from __future__ import annotations

import io
import re
from collections.abc import Callable

import pytest
from rdkit import Chem
from rdkit.Chem import AllChem
from sqlalchemy import select

from app.csets.validator import MAX_LENGTHS, Problem
from app.extensions import db
from app.models import ComputedMolecule, ComputedSet
from tests.csets.conftest import stored_state
from tests.csets.test_computed_sets import page_problems, upload_api, upload_page
from tests.csets.test_validator import CODES, split_valid, validate


def with_last_record(edit: Callable[[str], str]) -> tuple[bytes, int, str]:
    """The valid Mac1 file with its last record edited: (bytes, record number, its name)."""
    header, records = split_valid()
    last = edit(records[-1])
    return (header + "".join(records[:-1]) + last).encode(), len(records) + 1, last.split("\n")[0]


def set_property(record: str, key: str, value: str) -> str:
    """``record`` with property ``key`` set to ``value`` (added when absent)."""
    pattern = re.compile(rf"^> +<{re.escape(key)}>.*\n(?:.+\n)*", re.MULTILINE)
    item = f"> <{key}>\n{value}\n"
    if pattern.search(record):
        return pattern.sub(lambda _: item, record, count=1)
    return record.replace("$$$$\n", f"{item}\n$$$$\n")


def assert_refused(app, login, data: bytes, record: int, name: str, field: str, *contains: str):
    """Page and API both refuse ``data`` with this problem; nothing is stored."""
    member = login("member")
    before = stored_state(app)
    page = upload_page(member, data)
    assert page.status_code == 200 and "The file was rejected" in page.text
    api = upload_api(member, data)
    assert api.status_code == 400, api.json
    for problems in (page_problems(page.text), [Problem(**p) for p in api.json["problems"]]):
        found = [p for p in problems if (p.record, p.name, p.field) == (record, name, field)]
        assert found, [str(p) for p in problems]
        assert all(part in found[0].message for part in contains), str(found[0])
        assert f"record {record} ({name}): {field}:" in str(found[0])
    assert stored_state(app) == before


# --- non-finite numbers ---------------------------------------------------------------


@pytest.mark.parametrize("value", ["NaN", "nan", "inf", "-Infinity", "1e999"])
def test_a_non_finite_score_is_refused(app, login, small_targets, value):
    data, record, name = with_last_record(lambda r: set_property(r, "DDG", value))
    assert_refused(app, login, data, record, name, "DDG", repr(value), "not a finite number")


# --- lengths the database holds -------------------------------------------------------


def test_the_length_limits_are_the_database_columns():
    columns = {**ComputedSet.__table__.c, **{"name": ComputedMolecule.__table__.c.name}}
    columns["ref_pdb"] = ComputedMolecule.__table__.c.ref_pdb
    for key, limit in MAX_LENGTHS.items():
        assert columns[key].type.length == limit, key


def test_a_molecule_name_longer_than_the_database_holds_is_refused(app, login, small_targets):
    long_name = "merge-" + "x" * (MAX_LENGTHS["name"] - 5)  # one character too many

    def rename(record: str) -> str:
        return long_name + record[record.index("\n") :]

    data, record, _ = with_last_record(rename)
    shown = long_name[:79] + "…"  # long names are clipped in the report
    assert_refused(app, login, data, record, shown, "name", "201 characters", "at most 200")
    # exactly the limit fits
    fits = long_name[:-1]
    data, _, _ = with_last_record(lambda r: fits + r[r.index("\n") :])
    assert validate(data).ok


@pytest.mark.parametrize("key", ["method", "submitter_institution", "ref_url"])
def test_a_header_value_longer_than_the_database_holds_is_refused(app, login, small_targets, key):
    header, records = split_valid()
    limit = MAX_LENGTHS[key]
    value = "https://example.org/" + "a" * limit if key == "ref_url" else "m" * (limit + 1)
    data = (set_property(header, key, value) + "".join(records)).encode()
    member = login("member")
    before = stored_state(app)
    api = upload_api(member, data)
    assert api.status_code == 400
    problems = [Problem(**p) for p in api.json["problems"]]
    assert [(p.record, p.field) for p in problems] == [(1, key)], problems
    assert f"at most {limit}" in problems[0].message
    assert stored_state(app) == before


# --- one kind per score ---------------------------------------------------------------


def test_a_score_numeric_in_some_records_and_text_in_others_is_refused(app, login, small_targets):
    _, records = split_valid()
    first_name = records[0].split("\n")[0]
    data, record, name = with_last_record(lambda r: set_property(r, "DDG", "strong binder"))
    assert_refused(
        app,
        login,
        data,
        record,
        name,
        "DDG",
        "'strong binder' is text here",
        f"DDG is a number in record 2 ({first_name})",
    )


# --- described properties -------------------------------------------------------------


def test_a_property_not_described_in_the_header_is_refused(app, login, small_targets):
    data, record, name = with_last_record(lambda r: set_property(r, "pose_score", "0.83"))
    assert_refused(
        app, login, data, record, name, "pose_score", "'pose_score' is not described in the header"
    )


def test_job_results_may_carry_undescribed_scores():
    data, _, _ = with_last_record(lambda r: set_property(r, "pose_score", "0.83"))
    report = validate(data, require_descriptions=False)
    assert report.ok, report.messages()
    assert report.parsed.molecules[-1].scores["pose_score"] == 0.83


# --- original SMILES against the pose -------------------------------------------------


def test_an_original_smiles_of_another_molecule_is_refused(app, login, small_targets):
    data, record, name = with_last_record(
        lambda r: set_property(r, "original SMILES", "c1ccc2ccccc2c1")
    )
    assert_refused(
        app,
        login,
        data,
        record,
        name,
        "original SMILES",
        "'c1ccc2ccccc2c1' is not the molecule of the molblock",
    )


def pose_record(record: str, smiles: str, original: str) -> str:
    """``record`` with a 3D pose of ``smiles`` (stereo from coordinates) as its molblock."""
    mol = Chem.AddHs(Chem.MolFromSmiles(smiles))
    AllChem.EmbedMolecule(mol, randomSeed=7)
    block = Chem.MolToMolBlock(Chem.RemoveHs(mol))
    title, rest = record.split("\n", 1)
    data = rest[rest.index("M  END\n") + len("M  END\n") :]
    return set_property(title + "\n" + block.split("\n", 1)[1] + data, "original SMILES", original)


@pytest.mark.parametrize(
    "original",
    [
        "CC(N)C(=O)O",  # no stereo given
        "C[C@@H](N)C(=O)O",  # the other enantiomer: stereo is not compared
        "[H]OC(=O)C([H])(C)N([H])[H]",  # explicit hydrogens
        "CC([NH3+])C(=O)[O-]",  # the zwitterion: protonation is not compared
    ],
)
def test_an_original_smiles_differing_only_in_stereo_hydrogens_or_protons_is_accepted(original):
    data, _, _ = with_last_record(lambda r: pose_record(r, "C[C@H](N)C(=O)O", original))
    report = validate(data)
    assert report.ok, report.messages()


@pytest.mark.parametrize("original", ["CC(O)C(=O)O", "CC(N)C(=O)OC", "C=C(N)C(=O)O"])
def test_an_original_smiles_differing_in_atoms_or_bonds_is_refused(original):
    data, record, _ = with_last_record(lambda r: pose_record(r, "C[C@H](N)C(=O)O", original))
    report = validate(data)
    assert [(p.record, p.field) for p in report.problems] == [(record, "original SMILES")]


# --- the same file twice --------------------------------------------------------------


def test_the_same_file_again_is_refused_with_a_link_unless_upload_anyway(
    app, login, small_targets, mac1_sdf
):
    member = login("member")
    first = upload_page(member, mac1_sdf)
    assert first.status_code == 302
    name = first.headers["Location"].strip("/").split("/")[-1]
    before = stored_state(app)

    again = upload_page(member, mac1_sdf)
    assert again.status_code == 200 and 'id="duplicate-upload"' in again.text
    assert f'href="/computed-sets/{name}/"' in again.text and "identical" in again.text
    api = upload_api(member, mac1_sdf)
    assert api.status_code == 409
    assert api.json["computed_set"] == {"name": name, "url": f"/computed-sets/{name}/"}
    assert "upload_anyway" in api.json["fields"]
    assert stored_state(app) == before

    form = {"target": "Mac1", "sdf": (io.BytesIO(mac1_sdf), "set.sdf"), "upload_anyway": "y"}
    anyway = member.post("/computed-sets/upload", data=form, content_type="multipart/form-data")
    assert anyway.status_code == 302 and anyway.headers["Location"] != first.headers["Location"]
    form = {"target": "Mac1", "sdf": (io.BytesIO(mac1_sdf), "set.sdf"), "upload_anyway": "true"}
    created = member.post("/api/compound-sets/", data=form, content_type="multipart/form-data")
    assert created.status_code == 201
    with app.app_context():
        assert db.session.scalar(select(db.func.count(ComputedSet.id))) == 3


def test_a_different_file_and_validate_only_are_not_duplicates(app, login, small_targets, mac1_sdf):
    member = login("member")
    assert upload_page(member, mac1_sdf).status_code == 302
    checked = upload_api(member, mac1_sdf, validate_only=True)
    assert checked.status_code == 200 and checked.json["valid"] is True
    changed = mac1_sdf.replace(b"Fragmenstein outcome label", b"Fragmenstein outcome")
    assert upload_api(member, changed).status_code == 201


def test_the_protein_codes_used_here_are_the_targets(small_targets):
    # with_last_record edits the corpus file, whose ref_mols name the Mac1 proteins loaded
    assert set(small_targets["Mac1"]) >= CODES
