"""The health probes (app/health.py): liveness, and readiness that reports a lost Redis."""

from __future__ import annotations


def test_health_probes(app, login):
    client = app.test_client()
    assert client.get("/healthz").json == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json["checks"]["database"] == "ok" and ready.json["checks"]["redis"] == "ok"
    app.config["REDIS_URL"] = "redis://127.0.0.1:1/0"
    app.extensions.pop("launcher_redis", None)
    down = client.get("/readyz")
    assert down.status_code == 503 and down.json["checks"]["redis"].startswith("unavailable")
