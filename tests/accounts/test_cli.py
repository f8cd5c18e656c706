"""The flask CLI: targets, users, tokens."""

from __future__ import annotations

from sqlalchemy import select

from app.extensions import db
from app.models import Target, User
from tests.conftest import MAC1_DIR, copy_mols


def test_users_create_add_to_project_and_token(app, runner):
    result = runner.invoke(
        args=[
            "users",
            "create",
            "carol",
            "--password",
            "long-enough-1",
            "--email",
            "c@example.org",
            "--admin",
        ]
    )
    assert result.exit_code == 0, result.output
    assert "created admin user carol" in result.output
    again = runner.invoke(args=["users", "create", "carol", "--password", "long-enough-1"])
    assert again.exit_code != 0 and "already exists" in again.output
    short = runner.invoke(args=["users", "create", "dave", "--password", "short"])
    assert short.exit_code != 0 and "at least 8" in short.output

    assert runner.invoke(args=["users", "add-to-project", "carol", "lb12345-1"]).exit_code == 0
    token = runner.invoke(args=["users", "token", "carol"]).output.strip()
    assert token.startswith("fjl_") and len(token) > 30
    with app.app_context():
        carol = db.session.scalar(select(User).where(User.username == "carol"))
        assert carol.is_admin and [p.title for p in carol.projects] == ["lb12345-1"]
        assert carol.password_hash != "long-enough-1" and carol.check_password("long-enough-1")
    response = app.test_client().get("/api/targets/", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200
    bad = app.test_client().get("/api/targets/", headers={"Authorization": "Bearer fjl_nope"})
    assert bad.status_code == 401

    missing = runner.invoke(args=["users", "token", "nobody"])
    assert missing.exit_code != 0 and "no user called 'nobody'" in missing.output


def test_targets_load_command(app, runner, tmp_path):
    folder = copy_mols(MAC1_DIR, tmp_path / "in", None, 4)
    result = runner.invoke(
        args=[
            "targets",
            "load",
            str(folder),
            "--title",
            "Mac1",
            "--project",
            "lb18145-1",
            "--public",
            "--template-pdb",
            str(MAC1_DIR / "template.pdb"),
        ]
    )
    assert result.exit_code == 0, result.output
    assert "Mac1: 4 added" in result.output
    bad = runner.invoke(
        args=["targets", "load", str(folder), "--title", "../etc", "--project", "lb18145-1"]
    )
    assert bad.exit_code != 0 and "may use letters" in bad.output
    with app.app_context():
        assert [t.title for t in db.session.scalars(select(Target))] == ["Mac1"]
    listing = runner.invoke(args=["targets", "list"])
    assert "Mac1\tlb18145-1 (public)\t4 proteins" in listing.output


def test_jobs_check_against_squonk(app, runner, squonk, tmp_path):
    result = runner.invoke(args=["jobs", "check"])
    assert result.exit_code == 0, result.output
    assert (
        "fragmenstein-combine: matches Squonk2's fragmenstein/fragmenstein-combine 1.0.0"
        in result.output
    )
    # a schema whose option Squonk2 does not have, and a job it does not know
    source = app.config["JOB_SCHEMAS_DIR"] + "/fragmenstein-combine.yaml"
    text = open(source).read()
    (tmp_path / "fragmenstein-combine.yaml").write_text(
        text.replace(
            "    keepHydrogens:\n", "    extraOption:\n      type: integer\n    keepHydrogens:\n"
        ).replace("order: [count, keepHydrogens", "order: [count, extraOption, keepHydrogens")
    )
    (tmp_path / "rdkit-conformers.yaml").write_text(
        open(app.config["JOB_SCHEMAS_DIR"] + "/rdkit-conformers.yaml")
        .read()
        .replace("version: '1.0.0'", "version: '9.9.9'")
    )
    from app.launcher import load_job_schemas

    app.extensions["job_schemas"] = load_job_schemas(tmp_path)
    result = runner.invoke(args=["jobs", "check"])
    assert result.exit_code != 0
    assert "extraOption" in result.output
    assert "rdkit-conformers: rdkit/rdkit-conformers 9.9.9 not found in Squonk2" in result.output
