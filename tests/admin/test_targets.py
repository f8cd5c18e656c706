"""The admin's target page and ``flask targets set-squonk-project``: the Squonk2 project a
target's files go to."""

from __future__ import annotations

from sqlalchemy import select

from app.extensions import db
from app.models import Target


def test_set_squonk_project_by_admin_page_and_cli(app, small_targets, login, runner):
    admin, member = login("admin"), login("member")
    with app.app_context():
        target_id = db.session.scalar(select(Target.id).where(Target.title == "Mac1"))
    project = "project-0f0e3f5e-1c2d-4e5f-8a9b-0c1d2e3f4a5b"
    assert member.get("/admin/targets/").status_code == 404
    bad = admin.post(
        f"/admin/targets/{target_id}/squonk-project",
        data={"squonk_project": "nope", "csrf_token": admin.csrf},
        follow_redirects=True,
    )
    assert "looks like project-" in bad.text
    admin.post(
        f"/admin/targets/{target_id}/squonk-project",
        data={"squonk_project": project, "csrf_token": admin.csrf},
    )
    assert project in admin.get("/admin/targets/").text
    result = runner.invoke(args=["targets", "set-squonk-project", "Mpro", project])
    assert result.exit_code == 0, result.output
    with app.app_context():
        assert {t.default_squonk_project for t in db.session.scalars(select(Target))} == {project}
