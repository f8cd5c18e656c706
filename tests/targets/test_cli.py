"""``flask targets``: load a folder of real ligands, refuse a bad title, list."""

from __future__ import annotations

from sqlalchemy import select

from app.extensions import db
from app.models import Target
from tests.conftest import MAC1_DIR
from tests.support import copy_mols


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
