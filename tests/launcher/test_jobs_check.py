"""``flask jobs check``: the job schemas against the job definitions Squonk2 serves."""

from __future__ import annotations


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
