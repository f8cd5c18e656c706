"""Only refused callbacks (unknown secrets) count against an address, so a flood of forged
ones never starves Squonk2's genuine callbacks; X-Forwarded-For only from trusted proxies."""

from __future__ import annotations

import threading
import time

import pytest
import requests

from app import create_app
from app.extensions import redis_connection
from tests.factories import job as make_job


@pytest.fixture(autouse=True)
def fresh_counters(app):
    with app.app_context():
        for key in redis_connection().scan_iter("launcher:callback-refused:*"):
            redis_connection().delete(key)


def put(client, secret: str, status: str, **headers):
    return client.put(f"/api/job_callback/{secret}/", json={"job_status": status}, headers=headers)


def test_genuine_callbacks_get_through_a_flood_of_forged_ones(app, small_targets, live_server):
    app.config["CALLBACK_RATE_LIMIT"] = 50
    job_id, secret = make_job(app)
    forged: list[int] = []
    genuine: list[tuple[int, float]] = []

    def flood(worker: int) -> None:
        with requests.Session() as session:
            for n in range(250):
                url = f"{live_server}/api/job_callback/forged-{worker}-{n}/"
                forged.append(session.put(url, json={"job_status": "SUCCESS"}).status_code)

    def genuine_callbacks() -> None:
        with requests.Session() as session:
            for status in ["STARTED", "RETRY", "STARTED", "SUCCESS"] * 5:
                started = time.perf_counter()
                answer = session.put(
                    f"{live_server}/api/job_callback/{secret}/", json={"job_status": status}
                )
                genuine.append((answer.status_code, time.perf_counter() - started))

    floods = [threading.Thread(target=flood, args=(w,)) for w in range(8)]
    first_minute = int(time.time() // 60)
    for thread in floods:
        thread.start()
    genuine_callbacks()
    for thread in floods:
        thread.join()
    # the limit counts per clock minute: a flood that straddles one gets a second 50
    windows = int(time.time() // 60) - first_minute + 1
    assert len(forged) == 2000
    assert forged.count(404) == 50 * windows and forged.count(429) == 2000 - 50 * windows
    assert [code for code, _ in genuine] == [204] * 20
    assert max(seconds for _, seconds in genuine) < 5


def test_forwarded_for_counts_only_behind_a_trusted_proxy(app, small_targets):
    app.config["CALLBACK_RATE_LIMIT"] = 3
    spoofed = [
        put(app.test_client(), "nope", "SUCCESS", **{"X-Forwarded-For": f"10.0.0.{n}"})
        for n in range(5)
    ]
    # no trusted proxy: the header is the client's word, the peer address is what counts
    assert [r.status_code for r in spoofed] == [404, 404, 404, 429, 429]

    settings = ("SQLALCHEMY_DATABASE_URI", "REDIS_URL", "QUEUE_NAME", "DATA_DIR", "SECRET_KEY")
    proxied = create_app({**{k: app.config[k] for k in settings}, "TRUSTED_PROXIES": 1})
    proxied.config["CALLBACK_RATE_LIMIT"] = 3
    with proxied.app_context():
        for key in redis_connection().scan_iter("launcher:callback-refused:*"):
            redis_connection().delete(key)
    client = proxied.test_client()
    one = [put(client, "nope", "SUCCESS", **{"X-Forwarded-For": "10.0.0.1"}) for _ in range(4)]
    other = put(client, "nope", "SUCCESS", **{"X-Forwarded-For": "10.0.0.2"})
    assert [r.status_code for r in one] == [404, 404, 404, 429]
    assert other.status_code == 404  # another client behind the same proxy
