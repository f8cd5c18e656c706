"""Latency of the "My jobs" table poll and of the JSON job list under load, side by side,
served by gunicorn over loopback HTTP.

Builds a throwaway database (PostgreSQL when DATABASE_URL is set) with 10,000 job requests
spread over 100 users, one of whom ("bench") has 200 jobs in a realistic mix of statuses
(the newest still running, so the page keeps polling). The app is then served by gunicorn
as the Procfile runs it (2 workers x 1 thread by default) and two kinds of pollers (threads,
one requests.Session each) fetch for the duration, interleaved and at the same time:

- HTML: --pollers browser pages logged in as "bench" with a session cookie from /login,
  polling exactly as the page's HTMX poll does: GET /jobs/ with HX-Request and HX-Target:
  job-rows, which answers with just the <tbody> (200 while a row is not final);
- JSON: --json-pollers API clients of "bench", each with its own API token (the ApiToken
  that ``flask users token`` issues) sent as ``Authorization: Bearer``, polling
  GET /api/job_request/: the first page, JOBS_PER_PAGE (50) jobs, and X-Total-Count (the
  API lists every job the caller may see, here all 10,000 of the public target).

Two runs: "paced" is what open pages and scripts send (each poller waits --interval seconds,
the page's hx-trigger "every 2s", between requests: the acceptance figures, HTML p99 < 100 ms
and p99(JSON) within 1.5x of p99(HTML)); "saturated" sends back to back (no pause), so it
shows the server's full throughput and its latency is mostly queueing. Latency is measured
client-side (request sent to body read) and, from gunicorn's access log, server-side. Prints,
per kind, requests/s, median, p95, p99, the error count (anything but a 200 with rows, or no
answer); then the two side by side with the ratio p99(JSON)/p99(HTML); the SQL statements
one request of each kind issues (counted in-process with SQLAlchemy's before_cursor_execute);
and how busy the machine was: the load generator runs on the same machine as the server and
the database.

    DATABASE_URL=postgresql://... REDIS_URL=redis://... .venv/bin/python bench/poll.py \
        [--pollers 50] [--json-pollers 50] [--seconds 30] [--interval 2] [--skip-saturate]
"""

from __future__ import annotations

import argparse
import random
import re
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import percentile, summary  # noqa: E402
from bench._server import (  # noqa: E402
    bench_app,
    cores,
    cpu_report,
    cpu_sample,
    gunicorn,
    server_times,
)

TOTAL_JOBS = 10_000
USERS = 100
BENCH_JOBS = 200
PAGE_ROWS = 50  # JOBS_PER_PAGE
PASSWORD = "bench-password"
HTML_PATH = "/jobs/"
JSON_PATH = "/api/job_request/"
HTMX = {"HX-Request": "true", "HX-Target": "job-rows"}
# Of a user's jobs, oldest first: mostly finished, the newest still queued or running
FINISHED_MIX = ["SUCCESS"] * 14 + ["FAILURE"] * 3 + ["REVOKED"] + ["UPLOADED"] * 2
RUNNING_MIX = ["PENDING", "STARTED", "STARTED", "RETRY", "OPEN"]
# Fields of a job in the JSON list (app/jobs/api.py job_json); the probe checks them
JSON_FIELDS = {
    "id",
    "job",
    "job_status",
    "snapshot",
    "target",
    "user",
    "inputs",
    "options",
    "squonk_project",
    "squonk_instance_id",
    "squonk_task_id",
    "squonk_url",
    "computed_set",
    "message",
    "summary",
    "created",
    "updated",
}


def seed(app) -> int:
    """Users, snapshots, TOTAL_JOBS job rows and the UPLOADED jobs' computed sets,
    bulk-inserted."""
    from sqlalchemy import insert, select, update

    from app.extensions import db
    from app.models import ComputedSet, JobRequest, Snapshot, Target, User

    rng = random.Random(6)
    with app.app_context():
        target = db.session.scalar(select(Target).where(Target.title == "Mac1"))
        bench = User(username="bench")
        bench.set_password(PASSWORD)
        users = [bench] + [User(username=f"user{i:03d}") for i in range(1, USERS)]
        db.session.add_all(users)
        snapshots = {}
        for user in users:
            snapshots[user.username] = [
                Snapshot(
                    target=target,
                    author=user,
                    title=f"{user.username} snapshot {n}",
                    proteins=target.proteins[:2],
                )
                for n in range(3)
            ]
            db.session.add_all(snapshots[user.username])
        db.session.commit()

        # who owns each job: "bench" 200, the rest shared out; interleaved in time
        others = [u for u in users if u is not bench]
        owners = [bench] * BENCH_JOBS + [
            others[i % len(others)] for i in range(TOTAL_JOBS - BENCH_JOBS)
        ]
        rng.shuffle(owners)
        seen: dict[int, int] = {}
        counts = {u.id: owners.count(u) for u in users}
        start = datetime.now(UTC) - timedelta(days=30)
        rows = []
        for n, user in enumerate(owners):
            index = seen[user.id] = seen.get(user.id, -1) + 1
            # the user's newest 10% are not final yet
            running = index >= counts[user.id] * 0.9
            status = rng.choice(RUNNING_MIX if running else FINISHED_MIX)
            created = start + timedelta(seconds=n * 250)
            started = created + timedelta(seconds=30) if status not in ("OPEN", "PENDING") else None
            finished = (
                created + timedelta(minutes=5)
                if status in ("SUCCESS", "FAILURE", "REVOKED", "UPLOADED")
                else None
            )
            nonce = uuid.uuid4().hex
            key = rng.choice(["rdkit-conformers", "fragmenstein-combine"])
            rows.append(
                dict(
                    job_key=key,
                    squonk_collection="bench",
                    squonk_job=key,
                    squonk_version="1.0.0",
                    snapshot_id=rng.choice(snapshots[user.username]).id,
                    target_id=target.id,
                    project_id=target.project_id,
                    user_id=user.id,
                    squonk_project="project-bench",
                    inputs={"inputFile": ["diamond-x0104_A"]},
                    options={"randomSeed": n},
                    specification={},
                    job_status=status,
                    fingerprint=uuid.uuid4().hex + uuid.uuid4().hex,
                    callback_nonce=nonce,
                    callback_secret_hash=uuid.uuid4().hex * 2,
                    callback_context=f"fjl-{nonce}",
                    squonk_instance_id=None if status == "OPEN" else f"instance-{nonce}",
                    user_summary=f"run {index}" if index % 7 == 0 else None,
                    created=created,
                    updated=finished or started or created,
                    launched=created,
                    started=started,
                    finished=finished,
                )
            )
        db.session.execute(insert(JobRequest), rows)
        # an UPLOADED job's results were imported: it has its computed set, which the JSON
        # list names (so a query per row for it would show here)
        uploaded = db.session.execute(
            select(JobRequest.id, JobRequest.user_id).where(JobRequest.job_status == "UPLOADED")
        ).all()
        db.session.execute(
            insert(ComputedSet),
            [
                dict(
                    name=f"bench-job-{job_id}",
                    target_id=target.id,
                    owner_id=user_id,
                    submitter_name="bench",
                    submitter_email="bench@example.org",
                    submitter_institution="bench",
                    method="bench",
                    ref_url="https://example.org/bench",
                    generation_date=start.date(),
                    sdf_file=f"csets/bench-job-{job_id}/bench.sdf",
                    job_request_id=job_id,
                    molecule_count=10,
                )
                for job_id, user_id in uploaded
            ],
        )
        db.session.execute(
            update(JobRequest)
            .where(JobRequest.job_status == "UPLOADED")
            .values(
                computed_set_id=select(ComputedSet.id)
                .where(ComputedSet.job_request_id == JobRequest.id)
                .scalar_subquery()
            )
        )
        db.session.commit()
        if db.engine.dialect.name == "postgresql":
            # what autovacuum would do after a bulk insert, now rather than during a run
            with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.execute(db.text("VACUUM (ANALYZE)"))
    return len(uploaded)


def issue_tokens(app, count: int) -> list[str]:
    """``count`` API tokens of "bench" (as ``flask users token bench`` issues them)."""
    from sqlalchemy import select

    from app.extensions import db
    from app.models import ApiToken, User

    with app.app_context():
        bench = db.session.scalar(select(User).where(User.username == "bench"))
        tokens = [ApiToken.issue(bench)[1] for _ in range(count)]
        db.session.commit()
    return tokens


def login(base: str) -> requests.cookies.RequestsCookieJar:
    session = requests.Session()
    page = session.get(f"{base}/login", timeout=10)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page.text).group(1)
    answer = session.post(
        f"{base}/login",
        data={"csrf_token": token, "username": "bench", "password": PASSWORD},
        allow_redirects=False,
        timeout=10,
    )
    assert answer.status_code == 302, answer.status_code
    return session.cookies


def html_ok(response: requests.Response) -> bool:
    return (
        response.status_code == 200
        and 'id="job-rows"' in response.text
        and 'data-job="' in response.text
    )


def json_ok(response: requests.Response) -> bool:
    # "bench" may see every job of the public target, not only its own: all TOTAL_JOBS
    if response.status_code != 200 or response.headers.get("X-Total-Count") != str(TOTAL_JOBS):
        return False
    rows = response.json()
    return isinstance(rows, list) and len(rows) == PAGE_ROWS


@dataclass
class Kind:
    """One kind of poller: what it fetches, how it authenticates, what a good answer is."""

    label: str
    path: str
    ok: Callable[[requests.Response], bool]
    # one (headers, cookies) per poller of this kind
    clients: list[tuple[dict[str, str], object]] = field(default_factory=list)


def run(base: str, kinds: list[Kind], seconds: float, interval: float) -> dict[str, dict]:
    """Every kind's pollers, interleaved, polling for ``seconds``; per kind, latencies in ms
    and errors."""
    # interleaved (HTML, JSON, HTML, ...) so neither kind starts or is scheduled ahead
    pollers = [
        (kind, kind.clients[i])
        for i in range(max(len(kind.clients) for kind in kinds))
        for kind in kinds
        if i < len(kind.clients)
    ]
    latencies: list[list[float]] = [[] for _ in pollers]
    errors: list[list[str]] = [[] for _ in pollers]
    go = threading.Barrier(len(pollers) + 1)
    stop_at = [0.0]

    def poller(n: int) -> None:
        kind, (headers, cookies) = pollers[n]
        session = requests.Session()
        if cookies is not None:
            session.cookies.update(cookies)
        session.headers.update(headers)
        url = f"{base}{kind.path}"
        go.wait()
        # spread the first requests over one period, as pages opened at different times
        time.sleep(random.uniform(0, interval))
        while True:
            begin = time.perf_counter()
            if begin >= stop_at[0]:
                return
            try:
                response = session.get(url, timeout=30)
                _ = response.content
                elapsed = (time.perf_counter() - begin) * 1000
                if kind.ok(response):
                    latencies[n].append(elapsed)
                else:
                    errors[n].append(f"HTTP {response.status_code}")
            except (requests.RequestException, ValueError) as exc:
                errors[n].append(type(exc).__name__)
            if interval:
                time.sleep(max(0.0, interval - (time.perf_counter() - begin)))

    threads = [threading.Thread(target=poller, args=(n,), daemon=True) for n in range(len(pollers))]
    for thread in threads:
        thread.start()
    stop_at[0] = time.perf_counter() + seconds
    go.wait()
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started
    results = {}
    for kind in kinds:
        mine = [n for n, (k, _) in enumerate(pollers) if k is kind]
        flat = [v for n in mine for v in latencies[n]]
        errs = [e for n in mine for e in errors[n]]
        results[kind.label] = {"ok": len(flat), "errors": errs, "wall": wall, "latencies": flat}
    return results


def report(label: str, result: dict, server: list[float]) -> None:
    values = result["latencies"]
    if not values:
        print(f"{label}: no successful requests; errors: {result['errors'][:5]}")
        return
    kinds = sorted(set(result["errors"]))
    print(
        f"{label}: {result['ok'] / result['wall']:.1f} requests/s, "
        f"errors {len(result['errors'])}{' ' + str(kinds) if kinds else ''}"
    )
    print(f"  client-side  {summary(values)}   max {max(values):7.1f} ms")
    if server:
        print(f"  server-side  {summary(server)}   (gunicorn's own request time)")


def p99_of(result: dict | None) -> float:
    return percentile(result["latencies"], 99) if result and result["latencies"] else float("inf")


def side_by_side(results: dict[str, dict]) -> float | None:
    """Medians and p99 of the HTML poll and the JSON list; returns p99(JSON)/p99(HTML)."""
    import statistics

    print("  side by side (client-side)      median        p99")
    for label, result in results.items():
        values = result["latencies"]
        if values:
            print(f"    {label:<28} {statistics.median(values):7.1f} ms {p99_of(result):7.1f} ms")
    html, api = results.get("HTML poll"), results.get("JSON list")
    if not html or not api:
        return None
    ratio = p99_of(api) / p99_of(html)
    print(f"    p99(JSON) / p99(HTML) = {ratio:.2f}")
    return ratio


def statements_per_request(app, token: str) -> dict[str, list[str]]:
    """The SQL statements one request of each kind issues, counted in-process (same app,
    same database) with SQLAlchemy's before_cursor_execute event."""
    from sqlalchemy import event

    from app.extensions import db

    seen: list[str] = []

    def count(conn, cursor, statement, parameters, context, executemany):
        seen.append(" ".join(statement.split())[:90])

    auth = {"Authorization": f"Bearer {token}"}
    counts = {}
    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        for label, path, headers in (
            ("HTML poll", HTML_PATH, HTMX),  # with the session cookie, as a page polls
            ("JSON list", JSON_PATH, auth),
            # the first page's jobs are all still running; these 50 each have a computed set
            ("JSON list ?status=UPLOADED", f"{JSON_PATH}?status=UPLOADED", auth),
        ):
            client = app.test_client()
            if label == "HTML poll":
                page = client.get("/login").get_data(as_text=True)
                csrf = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page)
                answer = client.post(
                    "/login",
                    data={"csrf_token": csrf.group(1), "username": "bench", "password": PASSWORD},
                )
                assert answer.status_code == 302, answer.status_code
            client.get(path, headers=headers)  # warm: first-use queries are not the poll's
            seen.clear()
            response = client.get(path, headers=headers)
            assert response.status_code == 200, (path, response.status_code)
            counts[label] = list(seen)
    finally:
        event.remove(engine, "before_cursor_execute", count)
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--pollers", type=int, default=50, help="HTML pollers (pages)")
    parser.add_argument(
        "--json-pollers",
        type=int,
        default=50,
        help="JSON list pollers (API clients with a bearer token); 0: only the HTML poll",
    )
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument(
        "--interval",
        type=float,
        default=2.0,
        help="seconds between one poller's requests (the page's hx-trigger)",
    )
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers (Procfile: 2)")
    parser.add_argument("--threads", type=int, default=1, help="threads each (Procfile: 1)")
    parser.add_argument(
        "--skip-saturate", action="store_true", help="only the paced run, not the back-to-back one"
    )
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="bench-poll-"))
    began = time.perf_counter()
    app = bench_app(workdir)
    sets = seed(app)
    tokens = issue_tokens(app, max(1, args.json_pollers))
    backend = app.config["SQLALCHEMY_DATABASE_URI"].split(":", 1)[0]
    print(
        f"database {backend}: {TOTAL_JOBS} jobs of {USERS} users, 'bench' has {BENCH_JOBS}; "
        f"{sets} UPLOADED jobs with their computed set "
        f"(seeded in {time.perf_counter() - began:.1f} s)"
    )
    print(
        f"server: gunicorn {args.workers} workers x {args.threads} threads; for {args.seconds:.0f}"
        f" s each run, at the same time: {args.pollers} pollers of GET {HTML_PATH} with "
        f"HX-Target: job-rows (50-row <tbody>, session cookie) and {args.json_pollers} of "
        f"GET {JSON_PATH} (first page, {PAGE_ROWS} jobs as JSON, one bearer token each)"
    )
    print(f"NOTE: {cores()} CPU cores, shared by the load generator, gunicorn and PostgreSQL")
    for label, statements in statements_per_request(app, tokens[0]).items():
        print(f"SQL statements per request, {label}: {len(statements)}")
        for statement in statements:
            print(f"    {statement}")
    with gunicorn(app, workdir, args.workers, args.threads) as base:
        cookies = login(base)
        probe = requests.get(f"{base}{HTML_PATH}", headers=HTMX, cookies=cookies, timeout=10)
        assert probe.status_code == 200, f"poll answered {probe.status_code}, not 200"
        rows = probe.text.count('data-job="')
        print(
            f"one HTML poll: {len(probe.content) // 1024} KiB, {rows} rows, status 200 "
            f"(a row is not final, so the page keeps polling)"
        )
        auth = [{"Authorization": f"Bearer {token}"} for token in tokens]
        probe = requests.get(f"{base}{JSON_PATH}", headers=auth[0], timeout=10)
        assert json_ok(probe), f"JSON list answered {probe.status_code}: {probe.text[:200]}"
        fields = set(probe.json()[0])
        assert fields == JSON_FIELDS, f"JSON fields changed: {sorted(fields ^ JSON_FIELDS)}"
        jobs = probe.json()
        print(
            f"one JSON list: {len(probe.content) // 1024} KiB, {len(jobs)} jobs "
            f"({sum(1 for j in jobs if j['computed_set'])} with a computed set), "
            f"X-Total-Count {probe.headers['X-Total-Count']}"
        )
        kinds = [Kind("HTML poll", HTML_PATH, html_ok, [(HTMX, cookies)] * args.pollers)]
        if args.json_pollers:
            kinds.append(
                Kind(
                    "JSON list", JSON_PATH, json_ok, [(h, None) for h in auth[: args.json_pollers]]
                )
            )
        runs = [("paced", args.interval)] + ([] if args.skip_saturate else [("saturated", 0.0)])
        verdicts = {}
        _, seen = server_times(workdir, "/")
        for name, interval in runs:
            cpu = cpu_sample()
            results = run(base, kinds, args.seconds, interval)
            if interval:
                print(
                    f"{name}: {args.pollers} HTML + {args.json_pollers} JSON pollers, each every "
                    f"{interval:g} s as the page polls"
                )
            else:
                print(
                    f"{name}: the same pollers back to back (no pause; latency is mostly queueing)"
                )
            skip = seen
            for kind in kinds:
                server, seen = server_times(workdir, kind.path, skip)
                report(f"  {kind.label} (GET {kind.path})", results[kind.label], server)
            ratio = side_by_side(results)
            print(f"  {cpu_report(cpu)}")
            if name == "paced":
                verdicts["html"] = p99_of(results["HTML poll"])
                verdicts["ratio"] = ratio
    p99 = verdicts["html"]
    alone = "" if not args.json_pollers else " (set for the pages alone: --json-pollers 0)"
    print(
        f"target HTML p99 < 100 ms (paced run){alone}: {p99:.1f} ms, "
        f"{'PASS' if p99 < 100 else 'FAIL'}"
    )
    ratio = verdicts["ratio"]
    if ratio is not None:
        print(
            f"target p99(JSON) <= 1.5 x p99(HTML) (paced run): {ratio:.2f}x, "
            f"{'PASS' if ratio <= 1.5 else 'FAIL'}"
        )


if __name__ == "__main__":
    main()
