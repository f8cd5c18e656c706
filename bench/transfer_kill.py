"""kill -9 of the RQ work horse mid-transfer, repeated: does any file reach Squonk2 twice?

Each run loads the demo Mac1 (199 proteins, 597 files) as a new target, asks for the
transfer of all of it, lets a real ``python worker.py`` start uploading to local_squonk,
SIGKILLs the worker's work horse once a chosen number of files has arrived, and waits
for the transfer to end (RQ's retry resumes it; the reconciler runs as in production).
Counts the uploads local_squonk received into the target's folder. Prints per run:
files, where it was killed, uploads, duplicates, the final status and the time from the
request to SUCCESS (retry interval included). The target: 0 duplicates in every run.

    .venv/bin/python bench/transfer_kill.py [--runs 5] [--retry-interval 5]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

ROOT = Path(__file__).resolve().parent.parent
SECRET_KEY = "bench-secret-key-not-for-production"


class UploadLog:
    """Files local_squonk received (201) into ``path`` since this was made."""

    def __init__(self, server, path: str) -> None:
        self.log, self.path = Path(server.request_log_path), path
        self.offset = self.log.stat().st_size if self.log.exists() else 0

    def names(self) -> list[str]:
        with open(self.log, "rb") as stream:
            stream.seek(self.offset)
            data = stream.read()
        # complete lines only: the server may be writing the last one right now
        lines = data[: data.rfind(b"\n") + 1].decode().splitlines()
        records = [json.loads(line) for line in lines if '"upload"' in line]
        return [
            r["upload"]["file"]
            for r in records
            if r["status"] == 201 and r["upload"]["path"] == self.path
        ]


def work_horse(worker_pid: int, rq_id: str):
    """The worker's forked child running ``rq_id`` (it leads its own process group)."""
    import psutil
    from rq import Worker

    from app.extensions import queue, redis_connection

    workers = Worker.all(connection=redis_connection(), queue=queue())
    if not any(w.pid == worker_pid and w.get_current_job_id() == rq_id for w in workers):
        return None
    for child in psutil.Process(worker_pid).children():
        try:
            if os.getpgid(child.pid) == child.pid:
                return child
        except ProcessLookupError:
            continue
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--proteins", type=int, default=199)
    parser.add_argument(
        "--retry-interval", type=int, default=5, help="seconds before RQ's retry (production: 5)"
    )
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args()

    from flask_migrate import upgrade
    from sqlalchemy import select

    from app import create_app
    from app.config import plain_url
    from app.extensions import db
    from app.models import JobFileTransfer, Snapshot, Target, User
    from app.queueing import task_id
    from app.targets.demo import demo_data_dir
    from app.targets.loader import load_target
    from app.transfers.service import project_dir, request_transfer
    from bench._common import bench_database_url
    from tests.squonk_server import squonk_server
    from tests.support import copy_mols, wait_for

    work = Path(tempfile.mkdtemp(prefix="bench-transfer-kill-"))
    source = demo_data_dir() / "mac1_mols"
    mols = copy_mols(source, work / "mac1", None, args.proteins)
    rng = random.Random(args.seed)

    with squonk_server(work / "squonk", env={"LOCAL_SQUONK_CALLBACKS": "0"}) as server:
        config = {
            "SECRET_KEY": SECRET_KEY,
            "DATA_DIR": str(work / "data"),
            "SQUONK2_DMAPI_URL": server.url,
            "SQUONK2_TOKEN": server.token,
            "SQUONK2_EMBEDDED": True,
            "SQUONK2_RETRY_INTERVALS": [args.retry_interval] * 3,
            "QUEUE_NAME": f"bench-kill-{uuid.uuid4().hex[:6]}",
            "SQLALCHEMY_DATABASE_URI": bench_database_url(work),
            "REDIS_URL": os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"),
        }
        app = create_app(config)
        env = {
            **os.environ,
            "DATABASE_URL": plain_url(config["SQLALCHEMY_DATABASE_URI"]),
            "REDIS_URL": config["REDIS_URL"],
            "QUEUE_NAME": config["QUEUE_NAME"],
            "DATA_DIR": config["DATA_DIR"],
            "SECRET_KEY": SECRET_KEY,
            "SQUONK2_DMAPI_URL": server.url,
            "SQUONK2_TOKEN": server.token,
            "SQUONK2_EMBEDDED": "1",
            "SQUONK2_RETRY_INTERVALS": ",".join(str(v) for v in config["SQUONK2_RETRY_INTERVALS"]),
            "PYTHONUNBUFFERED": "1",
        }
        with app.app_context():
            upgrade()
            user = User(username="bench", is_admin=True)
            db.session.add(user)
            db.session.commit()

        log_path = work / "worker.log"
        with open(log_path, "ab") as log:
            worker = subprocess.Popen(
                [sys.executable, str(ROOT / "worker.py")],
                env=env,
                cwd=ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        backend = config["SQLALCHEMY_DATABASE_URI"].split(":", 1)[0]
        print(
            f"{args.proteins} proteins, {3 * args.proteins} files per run, database {backend}, "
            f"RQ retry after {args.retry_interval} s; work horse SIGKILLed mid-upload"
        )
        print("run files killed at uploads duplicates  status   time")
        all_clean = True
        try:
            for run in range(1, args.runs + 1):
                files = 3 * args.proteins
                # the first where the issue saw it (62 of 597), then anywhere mid-transfer
                kill_at = 62 if run == 1 else rng.randint(files // 20, files - files // 10)
                with app.app_context():
                    title = f"Mac1k{run}-{uuid.uuid4().hex[:4]}"
                    load_target(
                        mols, title, "lb18145-1", public=True, template_pdb=source / "template.pdb"
                    )
                    target = db.session.scalar(select(Target).where(Target.title == title))
                    user = db.session.scalar(select(User).where(User.username == "bench"))
                    snapshot = Snapshot(
                        target=target, author=user, title="all", proteins=list(target.proteins)
                    )
                    db.session.add(snapshot)
                    db.session.commit()
                    uploads = UploadLog(server, project_dir(title))
                    started = time.perf_counter()
                    transfer, _ = request_transfer(snapshot, user)
                    transfer_id, rq_id = transfer.id, task_id("transfer", transfer.id)
                    db.session.remove()

                    def horse_at_kill_point(
                        rq_id=rq_id, uploads=uploads, kill_at=kill_at, files=files
                    ):
                        sent = len(uploads.names())
                        if sent >= files:
                            raise RuntimeError("the transfer finished before the kill")
                        return work_horse(worker.pid, rq_id) if sent >= kill_at else None

                    horse = wait_for(horse_at_kill_point, timeout=300, interval=0.005)
                    horse.send_signal(signal.SIGKILL)
                    horse.wait(timeout=10)
                    killed_at = len(uploads.names())

                    def final(transfer_id=transfer_id):
                        row = db.session.get(JobFileTransfer, transfer_id)
                        status = row.transfer_status
                        db.session.remove()
                        return status if status in ("SUCCESS", "FAILURE") else None

                    status = wait_for(final, timeout=600, interval=0.05)
                    elapsed = time.perf_counter() - started
                names = uploads.names()
                duplicates = sum(count - 1 for count in Counter(names).values())
                complete = set(names) == set(uploads_expected(mols, args.proteins))
                all_clean &= status == "SUCCESS" and duplicates == 0 and complete
                print(
                    f"{run:>3} {files:>5} {killed_at:>9} {len(names):>7} {duplicates:>10}  "
                    f"{status:<8} {elapsed:5.1f} s{'' if complete else '  (files missing!)'}"
                )
        finally:
            os.killpg(worker.pid, signal.SIGTERM)
            try:
                worker.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(worker.pid, signal.SIGKILL)
                worker.wait()
        print("every run SUCCESS, every file once" if all_clean else "FAILED: see the table")
        sys.exit(0 if all_clean else 1)


def uploads_expected(mols: Path, count: int) -> list[str]:
    codes = sorted(p.stem for p in mols.glob("*.mol"))[:count]
    return [f"{c}{suffix}" for c in codes for suffix in (".mol", "_apo-desolv.pdb", ".smi")]


if __name__ == "__main__":
    main()
