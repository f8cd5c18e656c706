"""Latency of the "My jobs" table poll under load, served by gunicorn over loopback HTTP.

Builds a throwaway database (PostgreSQL when DATABASE_URL is set) with 10,000 job requests
spread over 100 users, one of whom ("bench") has 200 jobs in a realistic mix of statuses
(the newest still running, so the page keeps polling). The app is then served by gunicorn
as the Procfile runs it (2 workers x 4 threads by default) and N pollers (threads, one
requests.Session each, logged in as "bench" with a session cookie from /login) fetch the
table body for the duration, exactly as the page's HTMX poll does: GET /jobs/ with HX-Request and
HX-Target: job-rows, which answers with just the <tbody> (200 while a row is not final).

Two runs: "paced" is what 50 open pages send (each poller waits --interval seconds, the
page's hx-trigger "every 2s", between requests: the acceptance figure, p99 < 100 ms);
"saturated" sends back to back (no pause), so it shows the server's full throughput and
its latency is mostly queueing. Latency is measured client-side (request sent to body
read) and, from gunicorn's access log, server-side. Prints requests/s, median, p95, p99,
the error count (anything but a 200 with rows, or no answer) and how busy the machine was:
the load generator runs on the same machine as the server and the database.

    DATABASE_URL=postgresql://... REDIS_URL=redis://... .venv/bin/python bench/poll.py \
        [--pollers 50] [--seconds 30] [--interval 2] [--skip-saturate]
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
PASSWORD = "bench-password"
HTMX = {"HX-Request": "true", "HX-Target": "job-rows"}
# Of a user's jobs, oldest first: mostly finished, the newest still queued or running
FINISHED_MIX = ["SUCCESS"] * 14 + ["FAILURE"] * 3 + ["REVOKED"] + ["UPLOADED"] * 2
RUNNING_MIX = ["PENDING", "STARTED", "STARTED", "RETRY", "OPEN"]


def seed(app) -> None:
    """Users, snapshots and TOTAL_JOBS job rows, bulk-inserted."""
    from sqlalchemy import insert, select

    from app.extensions import db
    from app.models import JobRequest, Snapshot, Target, User

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
        db.session.commit()
        if db.engine.dialect.name == "postgresql":
            # what autovacuum would do after a bulk insert, now rather than during a run
            with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.execute(db.text("VACUUM (ANALYZE)"))


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


def run(base: str, cookies, pollers: int, seconds: float, interval: float) -> dict:
    """``pollers`` threads polling for ``seconds``; latencies in ms and error count."""
    latencies: list[list[float]] = [[] for _ in range(pollers)]
    errors: list[list[str]] = [[] for _ in range(pollers)]
    go = threading.Barrier(pollers + 1)
    stop_at = [0.0]

    def poller(n: int) -> None:
        session = requests.Session()
        session.cookies.update(cookies)
        session.headers.update(HTMX)
        go.wait()
        # spread the first requests over one period, as pages opened at different times
        time.sleep(random.uniform(0, interval))
        while True:
            begin = time.perf_counter()
            if begin >= stop_at[0]:
                return
            try:
                response = session.get(f"{base}/jobs/", timeout=30)
                elapsed = (time.perf_counter() - begin) * 1000
                if (
                    response.status_code == 200
                    and 'id="job-rows"' in response.text
                    and 'data-job="' in response.text
                ):
                    latencies[n].append(elapsed)
                else:
                    errors[n].append(f"HTTP {response.status_code}")
            except requests.RequestException as exc:
                errors[n].append(type(exc).__name__)
            if interval:
                time.sleep(max(0.0, interval - (time.perf_counter() - begin)))

    threads = [threading.Thread(target=poller, args=(n,), daemon=True) for n in range(pollers)]
    for thread in threads:
        thread.start()
    stop_at[0] = time.perf_counter() + seconds
    go.wait()
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started
    flat = [v for values in latencies for v in values]
    errs = [e for values in errors for e in values]
    return {"ok": len(flat), "errors": errs, "wall": wall, "latencies": flat}


def report(label: str, result: dict, server: list[float]) -> float:
    values = result["latencies"]
    if not values:
        print(f"{label}: no successful requests; errors: {result['errors'][:5]}")
        return float("inf")
    p99 = percentile(values, 99)
    kinds = sorted(set(result["errors"]))
    print(
        f"{label}: {result['ok'] / result['wall']:.1f} requests/s, "
        f"errors {len(result['errors'])}{' ' + str(kinds) if kinds else ''}"
    )
    print(f"  client-side  {summary(values)}   max {max(values):7.1f} ms")
    if server:
        print(f"  server-side  {summary(server)}   (gunicorn's own request time)")
    return p99


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--pollers", type=int, default=50)
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
    seed(app)
    backend = app.config["SQLALCHEMY_DATABASE_URI"].split(":", 1)[0]
    print(
        f"database {backend}: {TOTAL_JOBS} jobs of {USERS} users, 'bench' has {BENCH_JOBS} "
        f"(seeded in {time.perf_counter() - began:.1f} s)"
    )
    print(
        f"server: gunicorn {args.workers} workers x {args.threads} threads; "
        f"{args.pollers} pollers for {args.seconds:.0f} s each run; GET /jobs/ with "
        f"HX-Target: job-rows (50-row <tbody>)"
    )
    print(f"NOTE: {cores()} CPU cores, shared by the load generator, gunicorn and PostgreSQL")
    with gunicorn(app, workdir, args.workers, args.threads) as base:
        cookies = login(base)
        probe = requests.get(f"{base}/jobs/", headers=HTMX, cookies=cookies, timeout=10)
        assert probe.status_code == 200, f"poll answered {probe.status_code}, not 200"
        rows = probe.text.count('data-job="')
        print(
            f"one poll: {len(probe.content) // 1024} KiB, {rows} rows, status 200 "
            f"(a row is not final, so the page keeps polling)"
        )
        _, seen = server_times(workdir, "/jobs/")
        cpu = cpu_sample()
        result = run(base, cookies, args.pollers, args.seconds, args.interval)
        server, seen = server_times(workdir, "/jobs/", seen)
        p99 = report(
            f"paced: {args.pollers} pollers, each every {args.interval:g} s as the page polls",
            result,
            server,
        )
        print(f"  {cpu_report(cpu)}")
        if not args.skip_saturate:
            cpu = cpu_sample()
            result = run(base, cookies, args.pollers, args.seconds, 0)
            server, seen = server_times(workdir, "/jobs/", seen)
            report(
                f"saturated: {args.pollers} pollers back to back (no pause; latency is "
                f"mostly queueing)",
                result,
                server,
            )
            print(f"  {cpu_report(cpu)}")
    verdict = "PASS" if p99 < 100 else "FAIL"
    print(f"target p99 < 100 ms for {args.pollers} pollers (paced run): {verdict}")


if __name__ == "__main__":
    main()
