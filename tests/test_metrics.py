"""The Prometheus metrics (app/metrics.py): jobs by status, callbacks by outcome, the
queue and launch timings."""

from __future__ import annotations

from tests.factories import job as make_job
from tests.support import put_callback as put


def test_metrics(app, small_targets, login):
    job_id, secret = make_job(app)
    client = app.test_client()
    put(client, secret, "STARTED")
    client.put("/api/job_callback/nope/", json={"job_status": "STARTED"})
    text = client.get("/metrics").get_data(as_text=True)
    assert 'launcher_jobs{status="STARTED"} 1.0' in text
    assert 'launcher_callbacks_total{outcome="accepted",reason="started"}' in text
    assert 'launcher_callbacks_total{outcome="rejected",reason="unknown_secret"}' in text
    assert "launcher_queue_length" in text and "launcher_launch_duration_seconds" in text
