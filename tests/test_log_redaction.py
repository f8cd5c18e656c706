"""Callback secrets and bearer tokens never reach a log line, whichever logger writes it."""

from __future__ import annotations

import logging

import requests

from tests.factories import job as make_job


def test_malformed_bodies_to_a_real_callback_url_leave_no_secret_in_any_log(
    app, small_targets, live_server, caplog
):
    caplog.set_level(logging.DEBUG)
    job_id, secret = make_job(app)
    url = f"{live_server}/api/job_callback/{secret}/"
    bodies = [
        b"{",
        b"[" * 5000 + b"]" * 5000,
        b'{"job_status": 5}',
        b'{"job_status": "STARTED", "time": "not a time"}',
        b"\xff\xfe",
    ]
    for body in bodies:
        answer = requests.put(url, data=body, headers={"Content-Type": "application/json"})
        assert answer.status_code < 600
    requests.get(f"{live_server}/api/targets/", headers={"Authorization": "Bearer fjl_" + "x" * 40})
    # any logger, including ones the product never configured, and tracebacks
    logging.getLogger("some.library").error("failed PUT /api/job_callback/%s/", secret)
    try:
        raise ValueError(f"bad request to /api/job_callback/{secret}/")
    except ValueError:
        logging.getLogger("rq.worker").exception("task failed")
    text = caplog.text + "\n".join(r.getMessage() for r in caplog.records)
    assert secret not in text
    assert "fjl_" + "x" * 40 not in text
    assert "/api/job_callback/<redacted>/" in text  # the lines are there, redacted
