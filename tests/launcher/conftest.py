"""Launcher tests need no database (except ``flask jobs check``, which uses the app): the
shipped job schemas and a bare Flask app for building forms in a request context."""

from __future__ import annotations

from pathlib import Path

import pytest
from flask import Flask

from app.launcher import JOB_SCHEMAS_DIR, JobSchema, load_job_schemas

SNAPSHOT = ["Mac1-x0104_A", "Mac1-x0150_A", "Mac1-x0211_B"]


@pytest.fixture(scope="session")
def job_schemas() -> dict[str, JobSchema]:
    return load_job_schemas(JOB_SCHEMAS_DIR)


@pytest.fixture
def fragmenstein(job_schemas: dict[str, JobSchema]) -> JobSchema:
    return job_schemas["fragmenstein-combine"]


@pytest.fixture
def rdkit(job_schemas: dict[str, JobSchema]) -> JobSchema:
    return job_schemas["rdkit-conformers"]


@pytest.fixture
def flask_app() -> Flask:
    app = Flask(__name__)
    app.config.update(SECRET_KEY="launcher-tests", WTF_CSRF_ENABLED=True)
    return app


@pytest.fixture
def schema_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "job_schemas"
    directory.mkdir()
    return directory
