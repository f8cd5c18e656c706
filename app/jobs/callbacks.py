"""``PUT /api/job_callback/<secret>/``: Squonk2 reports a job's status (CONTRACTS.md s. 2).

No user authentication (the secret in the URL is the credential) and no CSRF (nothing a
browser can be tricked into); a JSON Schema for the body; a per-address limit on refused
callbacks (unknown secrets, never genuine ones); the same 404 whatever an unknown secret
looks like (secrets are compared by their hash, through an index, never character by
character).
"""

from __future__ import annotations

import json
import logging
import random
import time
from datetime import UTC, datetime

from flask import Blueprint, Response, current_app, jsonify, request
from jsonschema import Draft202012Validator
from sqlalchemy import select
from sqlalchemy.orm.exc import StaleDataError

from app.extensions import db, redis_connection
from app.jobs import states
from app.jobs.service import secret_hash
from app.metrics import count_callback
from app.models import JobRequest
from app.models.base import utcnow

log = logging.getLogger(__name__)
bp = Blueprint("callbacks", __name__)

MAX_BODY = 4096
CALLBACK_SCHEMA = Draft202012Validator(
    {
        "type": "object",
        "required": ["job_status"],
        "properties": {
            "job_status": {"enum": list(states.SQUONK_STATES)},
            "instance_id": {"type": "string", "maxLength": 100},
            "task_id": {"type": "string", "maxLength": 100},
            "project_id": {"type": "string", "maxLength": 100},
            "callback_context": {"type": "string", "maxLength": 256},
            "state_transition_time": {"type": "string", "maxLength": 40},
        },
    }
)


def problem(reason: str, message: str, status: int = 400):
    count_callback("rejected", reason)
    log.info("callback rejected: %s", reason)
    return jsonify({"error": message}), status


def guessing_too_often() -> bool:
    """Count one refused (unknown-secret) callback against the client address; True once the
    address is past the limit in this one-minute window (counted in Redis, all processes).

    Only refusals count, and only refusals are throttled: a flood of forged codes from
    Squonk2's own address (or a shared proxy) never delays a genuine callback from it. The
    address is the peer's, or what TRUSTED_PROXIES vouch for (ProxyFix)."""
    limit = current_app.config["CALLBACK_RATE_LIMIT"]
    if not limit:
        return False
    key = f"launcher:callback-refused:{request.remote_addr}:{int(utcnow().timestamp() // 60)}"
    try:
        pipe = redis_connection().pipeline()
        pipe.incr(key)
        pipe.expire(key, 120)
        count = pipe.execute()[0]
    except Exception:  # noqa: BLE001 - without Redis, refusals are still refusals
        log.warning("callback rate limit unavailable (Redis)")
        return False
    return count > limit


def transition_time(body: dict) -> datetime:
    text = body.get("state_transition_time")
    if not text:
        return utcnow()
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return utcnow()
    return value if value.tzinfo else value.replace(tzinfo=UTC)


ATTEMPTS = 25


def apply_callback(hashed: str, body: dict) -> str | None:
    """Apply one callback in one transaction; None when no job has that secret."""
    # PostgreSQL: the row lock makes concurrent callbacks for one job wait their turn; the
    # version check (all databases) catches any update made from a stale read.
    job = db.session.scalar(
        select(JobRequest).where(JobRequest.callback_secret_hash == hashed).with_for_update()
    )
    if job is None:
        db.session.rollback()
        return None
    if (
        body.get("instance_id")
        and job.squonk_instance_id
        and body["instance_id"] != job.squonk_instance_id
    ):
        db.session.rollback()
        return "wrong_instance"
    new = body["job_status"]
    payload = {k: v for k, v in body.items() if k != "callback_context"}
    outcome = states.report(job, new, "callback", time=transition_time(body), payload=payload)
    db.session.commit()
    return outcome


@bp.put("/api/job_callback/<code>/")
def job_callback(code: str):
    """Apply a Squonk2 status change to the job whose secret is ``code``."""
    if request.content_length is not None and request.content_length > MAX_BODY:
        return problem("oversized", f"The body is larger than {MAX_BODY} bytes")
    raw = request.get_data(cache=False)
    if len(raw) > MAX_BODY:
        return problem("oversized", f"The body is larger than {MAX_BODY} bytes")
    try:
        body = json.loads(raw) if raw else None
    except ValueError:
        body = None
    if not isinstance(body, dict):
        return problem("not_json", "The body must be a JSON object")
    errors = sorted(CALLBACK_SCHEMA.iter_errors(body), key=lambda e: list(e.path))
    if errors:
        return problem("schema", f"Invalid callback: {errors[0].message}")

    hashed = secret_hash(code)
    for attempt in range(ATTEMPTS):
        try:
            outcome = apply_callback(hashed, body)
            break
        except StaleDataError:
            # another callback for this job committed first: read again and re-decide,
            # after a short random pause so a crowd of them does not collide again
            db.session.rollback()
            time.sleep(random.uniform(0, 0.002 * (attempt + 1)))
    else:
        return problem("contention", "The job is busy; retry", 503)
    if outcome is None:
        if guessing_too_often():
            return problem("rate_limited", "Too many unknown callback URLs from this address", 429)
        return problem("unknown_secret", "Not found", 404)
    if outcome == "wrong_instance":
        return problem("wrong_instance", "The instance does not belong to this job")
    new = body["job_status"]
    count_callback(
        "accepted" if outcome != "refused" else "rejected",
        new.lower() if outcome == "applied" else outcome,
    )
    # 204 for a repeat and for a late message too: the sender must not retry them
    return Response(status=204)
