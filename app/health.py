"""Liveness and readiness probes."""

from __future__ import annotations

import logging

from flask import Blueprint, Response, current_app, jsonify
from sqlalchemy import text

from app.accounts import ispyb
from app.extensions import db, redis_connection
from app.metrics import render
from app.squonk.current import squonk

log = logging.getLogger(__name__)
bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    """The process is up."""
    return jsonify({"status": "ok"})


def check_database() -> str:
    db.session.execute(text("SELECT 1"))
    return "ok"


def check_redis() -> str:
    redis_connection().ping()
    return "ok"


def check_squonk() -> str:
    if not current_app.config.get("SQUONK2_DMAPI_URL"):
        return "not configured"
    squonk().version()
    return "ok"


@bp.get("/readyz")
def readyz():
    """Database, Redis, Squonk2 and (when memberships come from it) ISPyB are reachable
    (503 naming what is not)."""
    checks = {}
    for name, check in (
        ("database", check_database),
        ("redis", check_redis),
        ("squonk2", check_squonk),
        ("ispyb", ispyb.check),
    ):
        try:
            checks[name] = check()
        except Exception as exc:  # noqa: BLE001 - a probe reports, it never raises
            log.warning("readiness check %s failed: %s", name, type(exc).__name__)
            checks[name] = f"unavailable ({type(exc).__name__})"
    ready = all(v in {"ok", "not configured"} for v in checks.values())
    return jsonify({"status": "ready" if ready else "not ready", "checks": checks}), (
        200 if ready else 503
    )


@bp.get("/metrics")
def metrics():
    """Prometheus metrics: jobs by status, launches, callbacks, durations, queues."""
    return Response(render(), mimetype="text/plain; version=0.0.4")
