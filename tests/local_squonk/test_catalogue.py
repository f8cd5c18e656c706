"""Job definitions: validated at load, rendered with the decoder, refused when broken."""

from __future__ import annotations

from pathlib import Path

import pytest

from local_squonk.catalogue import Catalogue, JobDefinition, SpecificationError, prepare_launch

BROKEN = """\
kind: DataManagerJobDefinition
kind-version: '2021.1'
collection: broken
jobs:
  no-image:
    name: No image
    version: '1.0.0'
    command: /code/im_test.py sleep
"""


def _job(command: str, options: dict | None = None) -> JobDefinition:
    spec = {
        "name": "t",
        "version": "1.0.0",
        "image": {"name": "i", "tag": "t", "project-directory": "/d", "working-directory": "/d"},
        "command": command,
        "variables": {"options": {"type": "object", "properties": options or {}}},
    }
    return JobDefinition(1, "im-test", "t", "1.0.0", spec)


def test_shipped_definitions_load_and_test_jobs_are_opt_in() -> None:
    keys = {(j.collection, j.job, j.version) for j in Catalogue.load().all()}
    assert keys == {
        ("fragmenstein", "fragmenstein-combine", "1.0.0"),
        ("fragmenstein", "fragmenstein-place-string", "1.0.0"),
        ("rdkit", "rdkit-conformers", "1.0.0"),
    }
    with_tests = Catalogue.load(include_test_jobs=True)
    assert with_tests.find("im-test", "sleep", "1.0.0") is not None
    # Ids are stable: they follow the sorted (collection, job, version).
    assert [j.id for j in with_tests.all()] == [1, 2, 3, 4, 5]


def test_an_invalid_definition_stops_the_load(tmp_path: Path) -> None:
    (tmp_path / "broken.yaml").write_text(BROKEN)
    with pytest.raises(ValueError, match="Invalid job definition broken.yaml"):
        Catalogue.load(tmp_path)


def test_undefined_variable_is_a_specification_error(tmp_path: Path) -> None:
    job = _job(
        "/code/im_test.py sleep --seconds {{ seconds }} {{ undeclared }}",
        {"seconds": {"title": "s", "type": "integer", "default": 1}},
    )
    with pytest.raises(SpecificationError, match="Undefined template variables"):
        prepare_launch(job, {}, tmp_path, ".instance-x")


def test_defaults_are_merged_before_rendering(tmp_path: Path) -> None:
    job = _job(
        "/code/im_test.py sleep --seconds {{ seconds }}{% if child %} --child{% endif %}",
        {
            "seconds": {"title": "s", "type": "integer", "default": 5},
            "child": {"title": "c", "type": "boolean", "default": False},
        },
    )
    launch = prepare_launch(job, {"child": True}, tmp_path, ".instance-x")
    assert launch.command == "/code/im_test.py sleep --seconds 5 --child"
    assert launch.argv[1:] == [
        "-m",
        "local_squonk.programs.im_test",
        "sleep",
        "--seconds",
        "5",
        "--child",
    ]
