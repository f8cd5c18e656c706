"""Every route, every method, crafted input: never a 5xx; under /api/ every refusal is JSON
naming what is wrong, and a refused request changes no row."""

from __future__ import annotations

import json
import re

from sqlalchemy import func, select

from app.extensions import db
from app.models import (
    ApiToken,
    ComputedSet,
    JobFileTransfer,
    JobRequest,
    Snapshot,
    Target,
    User,
)
from tests.factories import snapshot as make_snapshot

HUGE = 2**63
BODIES = {
    "deep": ("application/json", "[" * 5000 + "]" * 5000),
    "huge ints": (
        "application/json",
        json.dumps({"snapshot": HUGE, "ids": [HUGE], "job": "rdkit-conformers", "count": HUGE}),
    ),
    "wrong types": (
        "application/json",
        json.dumps(
            {
                "target": 5,
                "proteins": 5,
                "snapshot": "x",
                "job": [],
                "ids": {},
                "options": [],
                "inputs": 5,
                "title": {},
                "summary": [],
                "job_status": 7,
            }
        ),
    ),
    "missing fields": ("application/json", "{}"),
    "megabyte strings": (
        "application/json",
        json.dumps({"target": "Mac1", "proteins": ["x" * 2**20], "title": "t" * 2**20}),
    ),
    "nul": ("application/json", json.dumps({"target": "Mac1\u0000", "proteins": ["\u0000"]})),
    "not json": ("application/json", b"\xff\xfe not json {"),
    "form junk": (
        "application/x-www-form-urlencoded",
        "proteins=%00&title=" + "t" * 5000 + "&summary=" + "s" * 5000 + "&confirm=yes"
        "&options-count=" + str(HUGE) + "&inputs-protein=nope&project=" + "p" * 300,
    ),
}
INT_VALUES = ("1", str(2**31), str(10**20), "1")
TEXT_VALUES = ("Mac1", "x" * 300, "..%2F..%2Fetc", "Mac1%00")


def rows(app) -> tuple[int, ...]:
    models = (Snapshot, JobRequest, JobFileTransfer, ComputedSet, Target, User, ApiToken)
    with app.app_context():
        return tuple(db.session.scalar(select(func.count()).select_from(model)) for model in models)


def urls(rule) -> list[str]:
    """The rule's path with each crafted value in each of its variables."""
    names = list(rule.arguments)
    if not names:
        return [rule.rule]
    found = []
    for n in range(len(TEXT_VALUES)):
        path = rule.rule
        for name in names:
            converter = re.search(rf"<(?:(\w+):)?{name}>", path)
            values = INT_VALUES if converter.group(1) == "int" else TEXT_VALUES
            path = path.replace(converter.group(0), values[n])
        found.append(path)
    return found


def test_no_crafted_request_on_any_route_answers_5xx(app, small_targets, squonk, login):
    make_snapshot(app, "Mac1")
    sessions = [login("admin"), login("member")]
    skip = {"static", "vendor_static", "auth.logout"}
    seen = problems = 0
    failures: list[str] = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint in skip:
            continue
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            for url, admin in ((u, s) for u in urls(rule) for s in sessions):
                cases = [("none", (None, None))] if method == "GET" else list(BODIES.items())
                for name, (kind, body) in cases:
                    before = rows(app)
                    answer = admin.client.open(
                        url,
                        method=method,
                        data=body,
                        content_type=kind,
                        headers={"X-CSRFToken": admin.csrf},
                    )
                    seen += 1
                    where = f"{method} {url[:60]} [{name}] -> {answer.status_code}"
                    if answer.status_code >= 500:
                        failures.append(where)
                    if answer.status_code >= 400:
                        problems += 1
                        if url.startswith("/api/") and not (
                            answer.is_json and answer.json.get("error")
                        ):
                            failures.append(where + " (not a JSON error)")
                        if rows(app) != before:
                            failures.append(where + " (changed rows)")
    print(f"sweep: {seen} requests, {problems} refused, {len(failures)} failures")
    assert seen > 300 and problems > 200
    assert failures == []
