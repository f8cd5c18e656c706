"""A job's computed set and the database's integrity: deleting the set hands the job back
(its results may be imported again); foreign keys hold on the embedded SQLite database."""

from __future__ import annotations

import re

import pytest
from flask_migrate import upgrade
from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError

from app import create_app
from app.extensions import db
from app.models import ComputedSet, JobRequest, Target
from tests.app.test_results import finished_in_squonk, reconcile
from tests.conftest import run_worker


def test_deleting_a_jobs_set_brings_back_retry_import(app, small_targets, squonk, login):
    job_id, member = finished_in_squonk(app, squonk, login)
    reconcile(app)
    run_worker(app)
    job = member.get(f"/api/job_request/{job_id}/").json
    assert job["job_status"] == "UPLOADED", job["message"]
    name = job["computed_set"]
    page = member.get(f"/jobs/{job_id}/")
    assert 'id="retry-import"' not in page.text  # imported: nothing to retry

    confirm = member.post(f"/computed-sets/{name}/delete", data={"confirm": "yes"})
    assert confirm.status_code in (302, 303)
    with app.app_context():
        assert db.session.scalar(select(ComputedSet).where(ComputedSet.name == name)) is None
        row = db.session.get(JobRequest, job_id)
        assert (row.job_status, row.computed_set_id) == ("SUCCESS", None)
    page = member.get(f"/jobs/{job_id}/")
    assert 'id="retry-import"' in page.text and "was deleted" in page.text
    job = member.get(f"/api/job_request/{job_id}/").json
    assert job["computed_set"] is None
    assert [(e["from"], e["to"], e["source"]) for e in job["events"]][-1] == (
        "UPLOADED",
        "SUCCESS",
        "user",
    )

    member.post(f"/jobs/{job_id}/retry-import", data={"csrf_token": member.csrf})
    run_worker(app)
    job = member.get(f"/api/job_request/{job_id}/").json
    assert job["job_status"] == "UPLOADED" and job["computed_set"]
    assert member.get(f"/computed-sets/{job['computed_set']}/").status_code == 200
    retried = [e for e in job["events"] if e["to"] == "UPLOADING" and e["source"] == "user"]
    assert [e["message"] for e in retried] == ["import retried by member"]
    page = member.get(f"/jobs/{job_id}/").get_data(as_text=True)
    assert re.search(r'data-source="user">you</span>\s*import retried</li>', page), page


def test_the_embedded_sqlite_database_enforces_foreign_keys(tmp_path, redis_url):
    """What `make run` uses: SQLite with foreign keys on and WAL, so it refuses what
    PostgreSQL refuses."""
    embedded = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'launcher.db'}",
            "SECRET_KEY": "test-secret-key",
            "REDIS_URL": redis_url,
            "DATA_DIR": str(tmp_path / "data"),
        }
    )
    with embedded.app_context():
        upgrade()
        assert db.session.execute(text("PRAGMA foreign_keys")).scalar() == 1
        assert db.session.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        db.session.add(Target(title="T", project_id=12345))
        with pytest.raises(IntegrityError, match="FOREIGN KEY"):
            db.session.commit()
        db.session.rollback()
        assert db.session.scalar(select(db.func.count(Target.id))) == 0
        db.session.remove()
        db.engine.dispose()
