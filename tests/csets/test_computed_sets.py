"""Computed sets through the upload page, the set page and the JSON API: the corpus is
rejected with its messages and stores nothing; a valid file round-trips; names; replace."""

from __future__ import annotations

import html
import io
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from rdkit import Chem
from sqlalchemy import select

from app.chem import FIGURES, figures_of
from app.csets import service as store
from app.csets.service import method_slug, name_suffixes
from app.csets.validator import Problem
from app.extensions import db
from app.models import AuditEvent, ComputedMolecule, ComputedSet
from tests.conftest import MAC1_DIR
from tests.csets.conftest import CORPUS, build_sdf, mol_block_of, stored_state, zip_of
from tests.csets.test_validator import CASES, VALID, matches
from tests.factories import job as make_job

TODAY = datetime.now(UTC).date().isoformat()
PROBLEM_ROW = re.compile(
    r'<tr>\s*<td class="num">(?P<record>[^<]*)</td>\s*<td>(?P<name>[^<]*)</td>\s*'
    r'<td>(?:<code>(?P<field>[^<]*)</code>|—)</td>\s*<td class="message">(?P<message>[^<]*)</td>',
)


def upload_page(
    session,
    data: bytes,
    file_name: str = "set.sdf",
    target: str = "Mac1",
    pdb_zip: bytes | None = None,
    validate_only: bool = False,
    url: str = "",
):
    form: dict[str, Any] = {"target": target, "sdf": (io.BytesIO(data), file_name)}
    if pdb_zip is not None:
        form["pdb_zip"] = (io.BytesIO(pdb_zip), "pdbs.zip")
    if validate_only:
        form["validate_only"] = "y"
    return session.post(
        url or "/computed-sets/upload", data=form, content_type="multipart/form-data"
    )


def upload_api(
    session,
    data: bytes,
    file_name: str = "set.sdf",
    target: str = "Mac1",
    pdb_zip: bytes | None = None,
    validate_only: bool = False,
):
    form: dict[str, Any] = {"target": target, "sdf": (io.BytesIO(data), file_name)}
    if pdb_zip is not None:
        form["pdb_zip"] = (io.BytesIO(pdb_zip), "pdbs.zip")
    if validate_only:
        form["validate_only"] = "true"
    return session.post("/api/compound-sets/", data=form, content_type="multipart/form-data")


def page_problems(text: str) -> list[Problem]:
    """The report table of the upload page, read back as Problems."""
    problems = []
    for row in PROBLEM_ROW.finditer(text):
        record = row["record"].strip()
        name = html.unescape(row["name"])
        problems.append(
            Problem(
                int(record) if record.isdigit() else None,
                None if name in ("—", "header") else name,
                html.unescape(row["field"]) if row["field"] else None,
                html.unescape(row["message"]),
            )
        )
    return problems


def assert_report(problems: list[Problem], case: dict) -> None:
    messages = [str(p) for p in problems]
    for expected in case["problems"]:
        assert any(matches(p, expected) for p in problems), f"{expected} not in {messages}"
    if case.get("exact", True):
        assert len(problems) == len(case["problems"]), messages


# --------------------------------------------------------------------------------------------
# The corpus: rejected with its messages through the page and the API, nothing stored
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("file_name", sorted(CASES))
def test_broken_file_is_rejected_by_page_and_api_and_stores_nothing(
    app, login, small_targets, file_name
):
    case = CASES[file_name]
    options = case.get("options", {})
    if "max_bytes" in options:
        app.config["CSET_MAX_BYTES"] = options["max_bytes"]
    if "max_records" in options:
        app.config["CSET_MAX_RECORDS"] = options["max_records"]
    pdb_zip = zip_of(case["pdb_files"]) if case.get("pdb_files") else None
    data = (CORPUS / file_name).read_bytes()
    member = login("member")
    before = stored_state(app)

    page = upload_page(member, data, file_name, pdb_zip=pdb_zip)
    assert page.status_code == 200
    assert "The file was rejected" in page.text
    assert_report(page_problems(page.text), case)

    api = upload_api(member, data, file_name, pdb_zip=pdb_zip)
    assert api.status_code == 400
    assert api.json["error"] == "The file is not a valid computed set"
    assert_report([Problem(**p) for p in api.json["problems"]], case)

    assert stored_state(app) == before


def test_upload_without_file_or_target_says_so(login, small_targets):
    member = login("member")
    page = member.post(
        "/computed-sets/upload", data={"target": "Mac1"}, content_type="multipart/form-data"
    )
    assert page.status_code == 200 and "Choose the SDF file to upload" in page.text
    api = member.post(
        "/api/compound-sets/", data={"target": "Mac1"}, content_type="multipart/form-data"
    )
    assert api.status_code == 400 and "sdf" in api.json["error"]
    api = member.post(
        "/api/compound-sets/",
        data={"sdf": (io.BytesIO(b"x"), "a.sdf")},
        content_type="multipart/form-data",
    )
    assert api.status_code == 400 and api.json["fields"] == {"target": "required"}


def test_bad_zip_is_a_problem_and_stores_nothing(app, login, small_targets):
    member = login("member")
    data = (CORPUS / "valid_ref_pdb_file.sdf").read_bytes()
    before = stored_state(app)
    api = upload_api(member, data, pdb_zip=b"not a zip at all")
    assert api.status_code == 400
    assert api.json["problems"] == [
        {
            "record": None,
            "name": None,
            "field": "pdb_zip",
            "message": "the PDB archive is not a readable zip file",
        }
    ]
    page = upload_page(member, data, pdb_zip=zip_of(["readme.txt"]))
    assert "the zip holds no .pdb file" in page.text
    assert stored_state(app) == before


# --------------------------------------------------------------------------------------------
# A valid file round-trips
# --------------------------------------------------------------------------------------------


def rdkit_records(data: bytes) -> list[Chem.Mol]:
    supplier = Chem.SDMolSupplier()
    supplier.SetData(data.decode("utf-8-sig").replace("\r\n", "\n"), removeHs=False)
    return list(supplier)


def test_valid_file_round_trips_through_page_set_page_and_download(
    app, login, small_targets, mac1_sdf
):
    member = login("member")
    response = upload_page(member, mac1_sdf, "valid_mac1.sdf")
    name = f"fragmenstein-combine-{TODAY}-A"
    assert response.status_code == 302
    assert response.headers["Location"] == f"/computed-sets/{name}/"

    page = member.get(f"/computed-sets/{name}/")
    assert page.status_code == 200
    text = html.unescape(page.text)
    originals = rdkit_records(mac1_sdf)[1:]
    assert text.count("<tr data-molecule=") == len(originals) == 8
    for mol in originals:
        assert f'data-molecule="{mol.GetProp("_Name")}"' in text
        assert Chem.MolToSmiles(mol) in text
        for code in mol.GetProp("ref_mols").split(","):
            assert f'href="/targets/Mac1/?q={code}"' in text
        assert mol.GetProp("outcome") in text
        assert f"{float(mol.GetProp('DDG')):.4g}" in text
    assert "Gibbs free energy of binding" in text  # the header's descriptions

    depictions = re.findall(r'src="(/computed-sets/[^"]+/depiction\.svg)"', page.text)
    assert len(depictions) == 8
    for url in depictions:
        svg = member.get(url)
        assert svg.status_code == 200 and svg.mimetype == "image/svg+xml"
        assert svg.data.lstrip().startswith(b"<?xml") and b"<svg" in svg.data
    with app.app_context():
        assert (
            db.session.scalar(
                select(db.func.count(ComputedMolecule.id)).where(
                    ComputedMolecule.depiction_svg.is_not(None)
                )
            )
            == 8
        )  # drawn once, kept

    download = member.get(f"/computed-sets/{name}/download")
    assert download.status_code == 200
    assert download.headers["Content-Disposition"] == f"attachment; filename={name}.sdf"
    with app.app_context():
        cset = db.session.scalar(select(ComputedSet).where(ComputedSet.name == name))
        stored = (Path(app.config["DATA_DIR"]) / cset.sdf_file).read_bytes()
    assert download.data == stored == mac1_sdf
    assert member.get(f"/api/compound-sets/{name}/download").data == stored
    back = rdkit_records(download.data)
    assert len(back) == 9 and back[0].GetProp("_Name") == "ver_1.2"
    for mol, original in zip(back[1:], originals, strict=True):
        assert mol.GetPropsAsDict() == original.GetPropsAsDict()
        assert mol.GetProp("_Name") == original.GetProp("_Name")
        assert Chem.MolToSmiles(mol) == Chem.MolToSmiles(original)


def test_stored_rows_hold_every_molecule_property_and_link_inspirations(
    app, login, small_targets, mac1_sdf
):
    member = login("member")
    created = upload_api(member, mac1_sdf)
    assert created.status_code == 201
    body = created.json
    assert body["owner"] == "member" and body["target"] == "Mac1"
    assert body["molecule_count"] == 8 and body["job_request"] is None
    # the file's scores, then the figures computed on import
    assert body["score_names"] == ["DDG", "RMSD", "outcome", *FIGURES]
    assert body["descriptions"]["RMSD"].endswith("Å")
    assert body["generation_date"] == "2024-03-15"

    detail = member.get(f"/api/compound-sets/{body['name']}/").json
    originals = rdkit_records(mac1_sdf)[1:]
    for molecule, original in zip(detail["molecules"], originals, strict=True):
        assert molecule["name"] == original.GetProp("_Name")
        assert molecule["ref_mols"] == original.GetProp("ref_mols").split(",")
        assert molecule["ref_pdb"] == original.GetProp("ref_pdb")
        assert molecule["scores"] == {
            "DDG": float(original.GetProp("DDG")),
            "RMSD": float(original.GetProp("RMSD")),
            "outcome": original.GetProp("outcome"),
            **figures_of(original),
        }
    with app.app_context():
        rows = db.session.scalars(select(ComputedMolecule).order_by(ComputedMolecule.id)).all()
        assert [[p.code for p in m.inspirations] for m in rows] == [
            sorted(m.ref_mols) for m in rows
        ]
        audit = db.session.scalar(select(AuditEvent))
        assert (audit.action, audit.username, audit.object_name) == (
            "create",
            "member",
            body["name"],
        )


def test_validate_only_stores_nothing(app, login, small_targets, mac1_sdf):
    member = login("member")
    before = stored_state(app)
    page = upload_page(member, mac1_sdf, validate_only=True)
    assert page.status_code == 200
    assert "The file is valid: 8 molecules, scores DDG, RMSD, outcome" in page.text
    api = upload_api(member, mac1_sdf, validate_only=True)
    assert api.status_code == 200
    assert api.json == {
        "valid": True,
        "molecule_count": 8,
        "method": "fragmenstein-combine",
        "score_names": ["DDG", "RMSD", "outcome"],
    }
    assert stored_state(app) == before


def test_pdb_zip_is_stored_beside_the_sdf(app, login, small_targets):
    member = login("member")
    data = (CORPUS / "valid_ref_pdb_file.sdf").read_bytes()
    pdb_zip = zip_of(VALID["valid_ref_pdb_file.sdf"]["pdb_files"])
    created = upload_api(member, data, pdb_zip=pdb_zip)
    assert created.status_code == 201, created.json
    with app.app_context():
        cset = db.session.scalar(select(ComputedSet))
        folder = Path(app.config["DATA_DIR"])
        assert (folder / cset.zip_file).read_bytes() == pdb_zip
        assert cset.zip_file.startswith(f"csets/{cset.name}/")


# --------------------------------------------------------------------------------------------
# Set page: sorting and paging
# --------------------------------------------------------------------------------------------


def shown_names(text: str) -> list[str]:
    return re.findall(r'<tr data-molecule="([^"]+)">', text)


def test_set_page_sorts_by_a_score_and_pages(app, login, small_targets, store_set, mac1_sdf):
    name = store_set("Mac1", mac1_sdf)
    app.config["MOLECULES_PER_PAGE"] = 3
    member = login("member")
    originals = rdkit_records(mac1_sdf)[1:]
    by_ddg = [m.GetProp("_Name") for m in sorted(originals, key=lambda m: float(m.GetProp("DDG")))]
    in_file = [m.GetProp("_Name") for m in originals]

    pages = [shown_names(member.get(f"/computed-sets/{name}/?page={p}").text) for p in (1, 2, 3)]
    assert sum(pages, []) == in_file
    ascending = [
        shown_names(member.get(f"/computed-sets/{name}/?sort=DDG&dir=asc&page={p}").text)
        for p in (1, 2, 3)
    ]
    assert sum(ascending, []) == by_ddg
    first = member.get(f"/computed-sets/{name}/?sort=DDG&dir=desc").text
    assert shown_names(first) == by_ddg[::-1][:3]
    assert "page=2&amp;sort=DDG&amp;order=desc" in first  # paging keeps the order
    # an unknown score is ignored rather than an error
    assert shown_names(member.get(f"/computed-sets/{name}/?sort=nope").text) == in_file[:3]


# --------------------------------------------------------------------------------------------
# Names
# --------------------------------------------------------------------------------------------


def test_names_take_the_next_letter_on_collision(app, small_targets, store_set, mac1_sdf):
    names = [store_set("Mac1", mac1_sdf) for _ in range(3)]
    prefix = f"fragmenstein-combine-{TODAY}-"
    assert names == [prefix + "A", prefix + "B", prefix + "C"]


def test_method_is_slugged_and_letters_go_on_to_aa():
    assert method_slug("Fragmenstein combine / v2!") == "Fragmenstein-combine-v2"
    assert method_slug("../../etc") == "etc"
    assert method_slug("¿¿") == "set"
    assert len(method_slug("x" * 500)) == 80
    suffixes = name_suffixes()
    letters = [next(suffixes) for _ in range(26 * 27 + 2)]
    assert letters[:3] == ["A", "B", "C"] and letters[25:28] == ["Z", "AA", "AB"]
    assert letters[-3:] == ["ZZ", "703", "704"]


def test_slugged_method_names_the_set(app, small_targets, store_set):
    code = small_targets["Mac1"][0]
    sdf = build_sdf([("pose-1", mol_block_of(MAC1_DIR, code), [code])], method="my method (v2)")
    assert store_set("Mac1", sdf) == f"my-method-v2-{TODAY}-A"


# --------------------------------------------------------------------------------------------
# All or nothing: store, replace, delete, the job import's retry
# --------------------------------------------------------------------------------------------


def test_a_failure_while_storing_leaves_no_rows_and_no_files(
    app, small_targets, store_set, mac1_sdf, monkeypatch
):
    before = stored_state(app)

    def broken(*args, **kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr(store, "add_molecules", broken)
    with pytest.raises(RuntimeError, match="database went away"):  # ours, not another
        store_set("Mac1", mac1_sdf)
    assert stored_state(app) == before


def test_a_retried_job_import_returns_the_set_it_stored(app, small_targets, store_set, mac1_sdf):
    job_id, _ = make_job(app, "UPLOADING")
    first = store_set("Mac1", mac1_sdf, job_request_id=job_id)
    again = store_set("Mac1", mac1_sdf, job_request_id=job_id)
    assert first == again
    state = stored_state(app)
    assert (state["sets"], state["molecules"], len(state["files"])) == (1, 8, 1)
    with app.app_context():
        assert db.session.scalar(select(ComputedSet.job_request_id)) == job_id


def test_replace_keeps_name_and_owner_and_swaps_molecules_and_file(
    app, login, small_targets, store_set, mac1_sdf
):
    name = store_set("Mac1", mac1_sdf, owner="member")
    code = small_targets["Mac1"][0]
    new = build_sdf([("only-one", mol_block_of(MAC1_DIR, code), [code])], method="other")
    admin = login("admin")
    response = admin.put(
        f"/api/compound-sets/{name}/",
        data={"sdf": (io.BytesIO(new), "n.sdf")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 200, response.json
    assert (response.json["name"], response.json["owner"]) == (name, "member")
    assert response.json["molecule_count"] == 1 and response.json["method"] == "other"
    assert admin.get(f"/api/compound-sets/{name}/download").data == new
    state = stored_state(app)
    assert (state["sets"], state["molecules"], len(state["files"])) == (1, 1, 1)
    with app.app_context():
        actions = db.session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)).all()
    assert actions == ["create", "replace"]


def test_a_bad_replacement_changes_nothing(app, login, small_targets, store_set, mac1_sdf):
    name = store_set("Mac1", mac1_sdf)
    before = stored_state(app)
    member = login("member")
    page = upload_page(
        member,
        (CORPUS / "bad_smiles_syntax.sdf").read_bytes(),
        url=f"/computed-sets/{name}/replace",
    )
    assert page.status_code == 200 and "The file was rejected" in page.text
    assert stored_state(app) == before
    assert member.get(f"/computed-sets/{name}/download").data == mac1_sdf


def test_delete_removes_rows_and_files_and_is_audited(
    app, login, small_targets, store_set, mac1_sdf
):
    keep = store_set("Mac1", mac1_sdf)
    name = store_set("Mac1", mac1_sdf)
    before = stored_state(app)
    member = login("member")
    confirm = member.get(f"/computed-sets/{name}/delete")
    assert confirm.status_code == 200 and "This cannot be undone" in confirm.text
    # a POST without the confirmation only shows the confirmation again
    assert member.post(f"/computed-sets/{name}/delete").status_code == 200
    assert stored_state(app)["sets"] == 2
    response = member.post(f"/computed-sets/{name}/delete", data={"confirm": "yes"})
    assert response.status_code == 302 and response.headers["Location"] == "/computed-sets/"
    after = stored_state(app)
    assert (after["sets"], after["molecules"], after["links"]) == (1, 8, before["links"] // 2)
    assert all(f.startswith(f"{keep}/") for f in after["files"]) and len(after["files"]) == 1
    assert not (Path(app.config["DATA_DIR"]) / "csets" / name).exists()
    with app.app_context():
        event = db.session.scalars(select(AuditEvent).order_by(AuditEvent.id.desc())).first()
        assert (event.action, event.username, event.object_name) == ("delete", "member", name)
        assert event.detail == {"target": "Mac1", "owner": "member", "molecules": 8}
    assert member.get(f"/computed-sets/{name}/").status_code == 404


def test_a_failed_delete_keeps_the_whole_set(
    app, login, small_targets, store_set, mac1_sdf, monkeypatch
):
    name = store_set("Mac1", mac1_sdf)
    before = stored_state(app)

    def broken(*args, **kwargs):
        raise RuntimeError("audit table locked")

    monkeypatch.setattr(AuditEvent, "record", broken)
    with app.app_context():
        cset = db.session.scalar(select(ComputedSet).where(ComputedSet.name == name))
        with pytest.raises(RuntimeError, match="audit table locked"):
            store.delete_computed_set(cset, None)
    assert stored_state(app) == before


def test_htmx_delete_redirects_with_hx_redirect(app, login, small_targets, store_set, mac1_sdf):
    name = store_set("Mac1", mac1_sdf)
    admin = login("admin")
    response = admin.post(
        f"/computed-sets/{name}/delete",
        headers={"HX-Request": "true"},
        data={"confirm": "yes", "next": "/admin/computed-sets/"},
    )
    assert response.status_code == 200
    assert response.headers["HX-Redirect"] == "/admin/computed-sets/"
    assert stored_state(app)["sets"] == 0
    page = admin.get("/admin/computed-sets/")
    assert f"<td>{name}</td>" in page.text and "delete" in page.text  # the audit trail


def test_list_filters_by_target_and_shows_source_job(
    app, login, small_targets, store_set, mac1_sdf, mpro_sdf
):
    job_id, _ = make_job(app, "UPLOADING")
    mac1 = store_set("Mac1", mac1_sdf, job_request_id=job_id)
    mpro = store_set("Mpro", mpro_sdf)
    member = login("member")
    everything = member.get("/computed-sets/").text
    assert mac1 in everything and mpro in everything and f"job {job_id}" in everything
    only_mpro = member.get("/computed-sets/?target=Mpro").text
    assert mpro in only_mpro and mac1 not in only_mpro
    api = member.get("/api/compound-sets/?target=Mac1").json
    assert [s["name"] for s in api] == [mac1] and api[0]["job_request"] == job_id
