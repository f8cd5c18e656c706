"""Callback delivery: retries with back-off, giving up, surviving a restart, switched off."""

from __future__ import annotations

import time
from pathlib import Path

from squonk2.dm_api import DmApi

from tests.squonk_server import SquonkServer, squonk_server
from tests.support import wait_for

from .conftest import SERVER_ENV, task_events, wait_final

SLEEP = {"collection": "im-test", "job": "sleep", "version": "1.0.0"}


def _sleep_job(dm: SquonkServer, project: str, seconds: float, **kwargs: object) -> dict:
    spec = {**SLEEP, "variables": {"seconds": seconds, "child": False}}
    rv = DmApi.start_job_instance(
        dm.token, project_id=project, name="sleeper", specification=spec, **kwargs
    )
    assert rv.success, rv.msg
    return rv.msg


def _callback_events(token: str, task_id: str) -> list[dict]:
    return [e for e in task_events(token, task_id) if e["message"].startswith("Callback ")]


def test_receiver_failing_twice_gets_started_and_success_on_the_third_attempt(
    dm: SquonkServer, project: str, receiver_factory
) -> None:
    receiver = receiver_factory(fail_first=2)
    started = _sleep_job(dm, project, 0, callback_url=receiver.url, callback_context="retry")
    wait_final(dm.token, started["instance_id"])
    assert wait_for(lambda: receiver.statuses() == ["STARTED", "SUCCESS"], timeout=15)
    assert [(r["job_status"], r["_attempt"], r["_answer"]) for r in receiver.received] == [
        ("STARTED", 1, 500),
        ("STARTED", 2, 500),
        ("STARTED", 3, 204),
        ("SUCCESS", 1, 500),
        ("SUCCESS", 2, 500),
        ("SUCCESS", 3, 204),
    ]
    body = receiver.delivered()[-1]
    assert body["instance_id"] == started["instance_id"] and body["task_id"] == started["task_id"]
    assert body["project_id"] == project and body["callback_context"] == "retry"
    assert body["state_transition_time"].endswith("Z")

    events = wait_for(
        lambda: (e := _callback_events(dm.token, started["task_id"])) and len(e) == 6 and e
    )
    assert [e["message"].split(":")[0] for e in events] == [
        f"Callback {status} attempt {n}/3" for status in ("STARTED", "SUCCESS") for n in (1, 2, 3)
    ]
    assert "HTTP 500" in events[0]["message"] and "delivered" in events[2]["message"]


def test_receiver_always_failing_sees_exactly_the_configured_attempts(
    dm: SquonkServer, project: str, receiver_factory
) -> None:
    receiver = receiver_factory(fail_first=None)
    started = _sleep_job(dm, project, 0, callback_url=receiver.url)
    wait_final(dm.token, started["instance_id"])

    def given_up() -> list[dict]:
        events = task_events(dm.token, started["task_id"])
        return [e for e in events if e["level"] == "WARNING" and "giving up" in e["message"]]

    warnings = wait_for(lambda: len(given_up()) == 2 and given_up(), timeout=15)
    assert [w["message"].split()[1] for w in warnings] == ["STARTED", "SUCCESS"]
    # What is tested is that nothing more comes: time has to pass (longer than any back-off
    # left) with no further try. Not a wait for a condition.
    time.sleep(0.5)
    assert [(r["job_status"], r["_attempt"]) for r in receiver.received] == [
        ("STARTED", 1),
        ("STARTED", 2),
        ("STARTED", 3),
        ("SUCCESS", 1),
        ("SUCCESS", 2),
        ("SUCCESS", 3),
    ]
    attempts = [e for e in _callback_events(dm.token, started["task_id"]) if e["level"] == "INFO"]
    assert len(attempts) == 6 and all("HTTP 500" in e["message"] for e in attempts)


def test_unreachable_receiver_is_an_error_event_not_a_stall(dm: SquonkServer, project: str) -> None:
    started = _sleep_job(dm, project, 0, callback_url="http://127.0.0.1:9/nobody")
    assert wait_final(dm.token, started["instance_id"])["phase"] == "COMPLETED"
    events = wait_for(
        lambda: (e := _callback_events(dm.token, started["task_id"])) and len(e) >= 8 and e
    )
    assert "error ConnectionError" in events[0]["message"]


def test_restart_resumes_undelivered_callbacks_and_fails_interrupted_jobs(
    tmp_path: Path, receiver_factory
) -> None:
    receiver = receiver_factory(fail_first=None)
    env = {
        **SERVER_ENV,
        "LOCAL_SQUONK_CALLBACK_ATTEMPTS": "50",
        "LOCAL_SQUONK_CALLBACK_BACKOFF": "0.2",
    }
    with squonk_server(tmp_path / "squonk", env=env) as server:
        DmApi.set_api_url(server.url, verify_ssl_cert=False)
        project = DmApi.create_project(
            server.token,
            project_name="restart",
            as_tier_product_id="product-11111111-1111-1111-1111-111111111111",
        ).msg["project_id"]
        running = _sleep_job(server, project, 60, callback_url=receiver.url)
        assert wait_for(lambda: receiver.received, timeout=10)

        server.restart()
        DmApi.set_api_url(server.url, verify_ssl_cert=False)
        instance = wait_final(server.token, running["instance_id"])
        assert instance["phase"] == "FAILED"
        task = DmApi.get_task(server.token, task_id=running["task_id"]).msg
        assert task["states"][-1]["message"].startswith(("Interrupted", "Job stopped"))

        receiver.fail_first = 0  # the receiver recovers: what was pending now arrives
        assert wait_for(lambda: receiver.statuses() == ["STARTED", "FAILURE"], timeout=15)
        # State survived the restart.
        assert DmApi.get_project(server.token, project_id=project).success


def test_callbacks_can_be_switched_off(tmp_path: Path, receiver_factory) -> None:
    receiver = receiver_factory()
    env = {**SERVER_ENV, "LOCAL_SQUONK_CALLBACKS": "0"}
    with squonk_server(tmp_path / "squonk", env=env) as server:
        DmApi.set_api_url(server.url, verify_ssl_cert=False)
        project = DmApi.create_project(
            server.token,
            project_name="quiet",
            as_tier_product_id="product-11111111-1111-1111-1111-111111111111",
        ).msg["project_id"]
        started = _sleep_job(server, project, 0, callback_url=receiver.url)
        assert wait_final(server.token, started["instance_id"])["phase"] == "COMPLETED"
        # What is tested is that nothing comes: time has to pass (longer than the first
        # delivery takes with callbacks on, see above) with no callback. Not a wait.
        time.sleep(0.5)
        assert receiver.received == []
        assert "Callback delivery is disabled" in server.log_path.read_text()


def test_wall_clock_limit_fails_the_job(tmp_path: Path) -> None:
    env = {**SERVER_ENV, "LOCAL_SQUONK_RUN_TIMEOUT": "1"}
    with squonk_server(tmp_path / "squonk", env=env) as server:
        DmApi.set_api_url(server.url, verify_ssl_cert=False)
        project = DmApi.create_project(
            server.token,
            project_name="slow",
            as_tier_product_id="product-11111111-1111-1111-1111-111111111111",
        ).msg["project_id"]
        started = _sleep_job(server, project, 30)
        instance = wait_final(server.token, started["instance_id"], timeout=15)
        assert instance["phase"] == "FAILED"
        messages = [e["message"] for e in task_events(server.token, started["task_id"])]
        assert "Job exceeded the run time limit of 1 s" in messages
