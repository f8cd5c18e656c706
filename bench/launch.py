"""Click-to-PENDING time of launches of the fast RDKit job on local_squonk.

Each launch is a real POST /api/job_request/ (all the checks), a real worker process
(python worker.py) that dry-runs and starts the instance on local_squonk, and the row
reaching PENDING. Prints the median and p95 over N launches (targets: 1 s and 2 s).

    .venv/bin/python bench/launch.py [--launches 20]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--launches", type=int, default=20)
    args = parser.parse_args()

    from flask_migrate import upgrade
    from sqlalchemy import select

    from app import create_app
    from app.extensions import db
    from app.models import JobRequest, Snapshot, Target, User
    from app.targets.demo import demo_data_dir
    from app.targets.loader import load_target
    from bench._common import bench_database_url
    from tests.squonk_server import squonk_server
    from tests.support import run_worker

    work = Path(tempfile.mkdtemp(prefix="bench-launch-"))
    database = bench_database_url(work)
    redis = os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0"
    with squonk_server(work / "squonk", env={"LOCAL_SQUONK_CALLBACKS": "0"}) as server:
        env = dict(
            os.environ,
            DATABASE_URL=database,
            REDIS_URL=redis,
            QUEUE_NAME=f"bench-{uuid.uuid4().hex[:6]}",
            DATA_DIR=str(work / "data"),
            SQUONK2_DMAPI_URL=server.url,
            SQUONK2_TOKEN=server.token,
            SQUONK2_EMBEDDED="1",
            SECRET_KEY="bench-secret",
        )
        os.environ.update(
            {
                k: env[k]
                for k in (
                    "DATABASE_URL",
                    "REDIS_URL",
                    "QUEUE_NAME",
                    "DATA_DIR",
                    "SQUONK2_DMAPI_URL",
                    "SQUONK2_TOKEN",
                    "SQUONK2_EMBEDDED",
                    "SECRET_KEY",
                )
            }
        )
        app = create_app()
        with app.app_context():
            upgrade()
            mac1 = demo_data_dir() / "mac1_mols"
            load_target(mac1, "Mac1", "lb18145-1", public=True, template_pdb=mac1 / "template.pdb")
            user = User(username="bench", is_admin=True)
            db.session.add(user)
            from app.models import ApiToken

            _, token = ApiToken.issue(user)
            target = db.session.scalar(select(Target).where(Target.title == "Mac1"))
            snapshot = Snapshot(
                target=target, author=user, title="bench", proteins=target.proteins[:3]
            )
            db.session.add(snapshot)
            db.session.commit()
            snapshot_id, codes = snapshot.id, snapshot.protein_codes

        client = app.test_client()
        client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {token}"
        client.post("/api/job_file_transfer/", json={"snapshot": snapshot_id})
        run_worker(app)  # the files, once

        worker = subprocess.Popen(
            [sys.executable, str(ROOT / "worker.py")],
            env=env,
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(3)  # the worker is up and listening before the clock starts
        times = []
        try:
            for seed in range(args.launches):
                started = time.perf_counter()
                response = client.post(
                    "/api/job_request/",
                    json={
                        "snapshot": snapshot_id,
                        "job": "rdkit-conformers",
                        "inputs": {"inputFile": codes},
                        "options": {"randomSeed": seed},
                    },
                )
                assert response.status_code == 201, response.json
                job_id = response.json["id"]
                with app.app_context():
                    while True:
                        status = db.session.scalar(
                            select(JobRequest.job_status).where(JobRequest.id == job_id)
                        )
                        db.session.rollback()
                        if status != "OPEN":
                            break
                        time.sleep(0.005)
                    assert status == "PENDING", status
                times.append(time.perf_counter() - started)
        finally:
            worker.terminate()
            worker.wait()
        fetched = sum(1 for r in server.request_log() if r["path"].endswith("/job/get-by-version"))
    times.sort()
    p95 = times[min(len(times) - 1, round(0.95 * (len(times) - 1)))]
    backend = database.split(":", 1)[0]
    print(
        f"{len(times)} launches of rdkit-conformers, database {backend}: click-to-PENDING "
        f"median {statistics.median(times) * 1000:.0f} ms, p95 {p95 * 1000:.0f} ms, "
        f"max {times[-1] * 1000:.0f} ms (targets: median < 1000 ms, p95 < 2000 ms)"
    )
    with app.app_context():
        from app.jobs.definitions import source

        print(
            f"job definitions from {source(app)}: {fetched} get-by-version calls in all "
            "(each job's definition fetched once, then read from the database cache)"
        )


if __name__ == "__main__":
    main()
