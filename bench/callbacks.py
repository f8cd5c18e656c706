"""Sustained Squonk2 callback rate from concurrent senders, and proof that none is lost.

Builds a throwaway database (PostgreSQL when DATABASE_URL is set) with N job requests at
PENDING, each with its real callback secret (HMAC of its nonce with the server's
SECRET_KEY), and serves the app with gunicorn as the Procfile runs it (2 workers x 4
threads by default; CALLBACK_RATE_LIMIT=0 so the per-address limit does not throttle the
one loopback sender). 16 sender threads (requests.Session each) then PUT the callbacks to
/api/job_callback/<secret>/ as fast as the server answers. The jobs are shared out in
groups, and every group is sent by TWO senders at once, as an at-least-once sender that
repeats itself would, so callbacks for one job race each other on its row. Per job, in order
(each sender waits for each answer):

    3 jobs in 4:  PENDING STARTED STARTED SUCCESS STARTED(late) SUCCESS PENDING(late)
    1 job in 4:   PENDING SUCCESS STARTED(late) PENDING(late)      (SUCCESS overtook STARTED)

Whatever the interleaving of the two senders, every job must end with exactly the
transitions PENDING->STARTED->SUCCESS (PENDING->SUCCESS for the overtaken ones): anything
missing is a lost transition, anything more a duplicate. The jobs are Fragmenstein combine
jobs by default, whose results are imported: SUCCESS goes on to UPLOADING and queues the
import, so the late and repeated SUCCESS callbacks must queue no second import and move
no job out of UPLOADING (``--job rdkit-conformers`` for a job that imports nothing).
Prints callbacks/s over the run, per-request median/p95/p99 (client-side), every non-2xx
answer, the check, imports queued and transitions out of UPLOADING/UPLOADED by callbacks.

    DATABASE_URL=postgresql://... REDIS_URL=redis://... .venv/bin/python bench/callbacks.py \
        [--jobs 200] [--senders 16] [--job fragmenstein-combine]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import summary  # noqa: E402
from bench._server import (  # noqa: E402
    bench_app,
    cores,
    cpu_report,
    cpu_sample,
    gunicorn,
    server_times,
)

NORMAL = ["PENDING", "STARTED", "STARTED", "SUCCESS", "STARTED", "SUCCESS", "PENDING"]
OVERTAKEN = ["PENDING", "SUCCESS", "STARTED", "PENDING"]
EXPECTED = {
    "normal": [("PENDING", "STARTED"), ("STARTED", "SUCCESS")],
    "overtaken": [("PENDING", "SUCCESS")],
}


def seed(app, count: int, job_key: str) -> list[dict]:
    """``count`` PENDING jobs; returns id, secret, instance and kind of each."""
    from sqlalchemy import insert, select

    from app.extensions import db
    from app.jobs.service import callback_secret, secret_hash
    from app.models import JobRequest, Snapshot, Target, User

    with app.app_context():
        target = db.session.scalar(select(Target).where(Target.title == "Mac1"))
        user = User(username="bench")
        snapshot = Snapshot(target=target, author=user, title="bench", proteins=target.proteins[:2])
        db.session.add_all([user, snapshot])
        db.session.commit()
        rows, jobs = [], []
        for n in range(count):
            nonce = uuid.uuid4().hex
            secret = callback_secret(nonce)
            rows.append(
                dict(
                    job_key=job_key,
                    squonk_collection="bench",
                    squonk_job=job_key,
                    squonk_version="1.0.0",
                    snapshot_id=snapshot.id,
                    target_id=target.id,
                    project_id=target.project_id,
                    user_id=user.id,
                    squonk_project="project-bench",
                    inputs={},
                    options={},
                    specification={},
                    job_status="PENDING",
                    fingerprint=uuid.uuid4().hex,
                    callback_nonce=nonce,
                    callback_secret_hash=secret_hash(secret),
                    callback_context=f"fjl-{nonce}",
                    squonk_instance_id=f"instance-{nonce}",
                    launched=datetime.now(UTC),
                )
            )
            jobs.append(
                {
                    "secret": secret,
                    "instance": f"instance-{nonce}",
                    "context": f"fjl-{nonce}",
                    "kind": "overtaken" if n % 4 == 3 else "normal",
                }
            )
        db.session.execute(insert(JobRequest), rows)
        db.session.commit()
        ids = dict(db.session.execute(select(JobRequest.callback_context, JobRequest.id)).all())
        for job in jobs:
            job["id"] = ids[job["context"]]
        return jobs


def send_all(base: str, jobs: list[dict], senders: int) -> dict:
    """Every job's script from two senders at once; latencies (ms) and answers."""
    groups = max(1, senders // 2)
    latencies: list[list[float]] = [[] for _ in range(senders)]
    answers: list[Counter] = [Counter() for _ in range(senders)]
    go = threading.Barrier(senders + 1)

    def sender(n: int) -> None:
        session = requests.Session()
        mine = jobs[n % groups :: groups]
        go.wait()
        for job in mine:
            url = f"{base}/api/job_callback/{job['secret']}/"
            for status in NORMAL if job["kind"] == "normal" else OVERTAKEN:
                body = {
                    "job_status": status,
                    "instance_id": job["instance"],
                    "task_id": f"task-{job['id']}",
                    "state_transition_time": datetime.now(UTC).isoformat(),
                }
                begin = time.perf_counter()
                try:
                    code = session.put(url, json=body, timeout=30).status_code
                except requests.RequestException as exc:
                    code = type(exc).__name__
                latencies[n].append((time.perf_counter() - begin) * 1000)
                answers[n][code] += 1

    threads = [threading.Thread(target=sender, args=(n,), daemon=True) for n in range(senders)]
    for thread in threads:
        thread.start()
    go.wait()
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    return {
        "wall": time.perf_counter() - started,
        "latencies": [v for values in latencies for v in values],
        "answers": sum(answers, Counter()),
    }


def check(app, jobs: list[dict], imports: bool) -> dict:
    """Compare every job's recorded transitions with what its script must produce."""
    from sqlalchemy import func, select

    from app.extensions import db, queue
    from app.models import JobEvent, JobRequest

    final = "UPLOADING" if imports else "SUCCESS"
    then = [("SUCCESS", "UPLOADING")] if imports else []
    with app.app_context():
        queued = [j for j in queue().get_jobs() if j.func_name.endswith("import_results")]
        out_by_callback = db.session.scalar(
            select(func.count(JobEvent.id)).where(
                JobEvent.from_status.in_(["UPLOADING", "UPLOADED"]),
                JobEvent.from_status != JobEvent.to_status,
                JobEvent.source.in_(["callback", "poll"]),
            )
        )
        to_uploading = db.session.scalar(
            select(func.count(JobEvent.id)).where(
                JobEvent.from_status == "SUCCESS", JobEvent.to_status == "UPLOADING"
            )
        )
        status = dict(db.session.execute(select(JobRequest.id, JobRequest.job_status)).all())
        recorded: dict[int, list[tuple[str, str]]] = {}
        for job_id, before, after in db.session.execute(
            select(JobEvent.job_request_id, JobEvent.from_status, JobEvent.to_status)
            .where(JobEvent.from_status != JobEvent.to_status)
            .order_by(JobEvent.id)
        ):
            recorded.setdefault(job_id, []).append((before, after))
    lost = extra = wrong = expected_total = 0
    for job in jobs:
        expected, got = EXPECTED[job["kind"]] + then, recorded.get(job["id"], [])
        matched = sum(1 for step in expected if step in got)
        expected_total += len(expected)
        lost += len(expected) - matched
        extra += len(got) - matched
        wrong += status[job["id"]] != final or got != expected
    return {
        "expected": expected_total,
        "recorded": sum(len(v) for v in recorded.values()),
        "lost": lost,
        "extra": extra,
        "wrong_jobs": wrong,
        "not_final": sum(1 for job in jobs if status[job["id"]] != final),
        "final": final,
        "reached_success": sum(1 for job in jobs if status[job["id"]] in ("SUCCESS", "UPLOADING")),
        "imports_queued": len(queued),
        "import_hooks": to_uploading,
        "out_by_callback": out_by_callback,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--jobs", type=int, default=200)
    parser.add_argument("--senders", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers (Procfile: 2)")
    parser.add_argument("--threads", type=int, default=1, help="threads each (Procfile: 1)")
    parser.add_argument("--job", default="fragmenstein-combine", help="the jobs' job_schemas key")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="bench-callbacks-"))
    app = bench_app(workdir)
    jobs = seed(app, args.jobs, args.job)
    from app.jobs.definitions import job_schemas

    with app.app_context():
        imports = bool(job_schemas()[args.job].imported_outputs)
    backend = app.config["SQLALCHEMY_DATABASE_URI"].split(":", 1)[0]
    overtaken = sum(1 for job in jobs if job["kind"] == "overtaken")
    print(
        f"database {backend}: {args.jobs} {args.job} jobs at PENDING "
        f"({'results imported' if imports else 'nothing imported'}; {overtaken} where SUCCESS "
        f"overtakes STARTED); {args.senders} senders, each job sent by 2 of them at once"
    )
    print(
        f"server: gunicorn {args.workers} workers x {args.threads} threads, CALLBACK_RATE_LIMIT=0"
    )
    print(f"NOTE: {cores()} CPU cores, shared by the senders, gunicorn and PostgreSQL", flush=True)
    with gunicorn(
        app, workdir, args.workers, args.threads, extra_env={"CALLBACK_RATE_LIMIT": "0"}
    ) as base:
        _, seen = server_times(workdir, "/api/job_callback/")
        cpu = cpu_sample()
        result = send_all(base, jobs, args.senders)
        server, _ = server_times(workdir, "/api/job_callback/", seen)
        load = cpu_report(cpu)
    values, answers = result["latencies"], result["answers"]
    ok = sum(n for code, n in answers.items() if isinstance(code, int) and 200 <= code < 300)
    print(
        f"{len(values)} callbacks in {result['wall']:.1f} s: "
        f"{len(values) / result['wall']:.1f} callbacks/s sustained"
    )
    print(f"  client-side  {summary(values)}   max {max(values):7.1f} ms")
    if server:
        print(f"  server-side  {summary(server)}   (gunicorn's own request time)")
    print(f"  {load}")
    print(f"answers: {dict(sorted(answers.items(), key=str))}; non-2xx: {len(values) - ok}")
    verdict = check(app, jobs, imports)
    with app.app_context():
        from app.extensions import queue

        queue().empty()  # the imports it queued are the bench's, not anyone's work
    print(
        f"transitions: expected {verdict['expected']}, recorded {verdict['recorded']}; "
        f"duplicates {verdict['extra']}; jobs not {verdict['final']} {verdict['not_final']}; "
        f"jobs whose history differs {verdict['wrong_jobs']}"
    )
    print(f"lost transitions: {verdict['lost']}")
    print(
        f"imports queued: {verdict['imports_queued']} (RQ jobs), {verdict['import_hooks']} "
        f"(SUCCESS -> UPLOADING); jobs that reached SUCCESS: {verdict['reached_success']}; "
        f"transitions out of UPLOADING/UPLOADED by a callback: {verdict['out_by_callback']}"
    )
    wrong_imports = imports and not (
        verdict["imports_queued"] == verdict["import_hooks"] == verdict["reached_success"]
    )
    if (
        verdict["lost"]
        or verdict["extra"]
        or verdict["wrong_jobs"]
        or ok != len(values)
        or wrong_imports
        or verdict["out_by_callback"]
    ):
        sys.exit(1)


if __name__ == "__main__":
    main()
