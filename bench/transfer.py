"""Transfer of 200 proteins (600 files) to local_squonk, next to a bare upload loop.

The transfer is the product's own path (request, RQ task in a real worker, database
bookkeeping per file); the bare loop uploads the same 600 files with the same client and
nothing else. Prints both times and their ratio (the target is at most 1.25).

    .venv/bin/python bench/transfer.py [--proteins 200] [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--proteins", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    from flask_migrate import upgrade
    from rq import SimpleWorker
    from sqlalchemy import select

    from app import create_app
    from app.extensions import db, queue, redis_connection
    from app.models import JobFileTransfer, Snapshot, Target, User
    from app.squonk.current import squonk
    from app.targets.demo import demo_data_dir
    from app.targets.loader import load_target
    from app.transfers.service import file_plan, request_transfer
    from bench._common import bench_database_url
    from tests.squonk_server import squonk_server

    work = Path(tempfile.mkdtemp(prefix="bench-transfer-"))
    source = demo_data_dir() / "mpro_mols"
    mols = work / "mols"
    mols.mkdir()
    for path in sorted(source.glob("*.mol"))[: args.proteins]:
        shutil.copy(path, mols / path.name)

    with squonk_server(work / "squonk") as server:
        config = {
            "DATA_DIR": str(work / "data"),
            "SQUONK2_DMAPI_URL": server.url,
            "SQUONK2_TOKEN": server.token,
            "SQUONK2_EMBEDDED": True,
            "QUEUE_NAME": f"bench-{uuid.uuid4().hex[:6]}",
        }
        config["SQLALCHEMY_DATABASE_URI"] = bench_database_url(work)
        if not os.environ.get("REDIS_URL"):
            config["REDIS_URL"] = "redis://127.0.0.1:6379/0"
        app = create_app(config)
        with app.app_context():
            upgrade()
            user = db.session.scalar(select(User).where(User.username == "bench")) or User(
                username="bench", is_admin=True
            )
            db.session.add(user)
            transfer_times, loop_times = [], []
            for round_ in range(args.rounds):
                # a new target per round, so every round uploads all 600 files afresh
                title = f"Bench{round_}-{uuid.uuid4().hex[:4]}"
                load_target(
                    mols, title, "bench-1", public=True, template_pdb=source / "template.pdb"
                )
                target = db.session.scalar(select(Target).where(Target.title == title))
                snapshot = Snapshot(
                    target=target, author=user, title="all", proteins=list(target.proteins)
                )
                db.session.add(snapshot)
                db.session.commit()
                worker = SimpleWorker([queue()], connection=redis_connection())

                started = time.perf_counter()
                transfer, _ = request_transfer(snapshot, user)
                worker.work(burst=True, with_scheduler=False)
                transfer_times.append(time.perf_counter() - started)
                row = db.session.get(JobFileTransfer, transfer.id)
                db.session.refresh(row)
                assert row.transfer_status == "SUCCESS", row.message
                assert row.files_uploaded == 3 * args.proteins

                # the bare loop: the same files, the same client, a fresh folder
                plan = file_plan(list(target.proteins))
                staged = work / f"staged-{round_}"
                staged.mkdir()
                for planned in plan:
                    (staged / planned.name).write_bytes(planned.read())
                project = target.default_squonk_project
                started = time.perf_counter()
                for planned in plan:
                    squonk().upload_file(project, staged / planned.name, f"/bare/{title}")
                loop_times.append(time.perf_counter() - started)

        size = sum(p.stat().st_size for p in (work / f"staged-{args.rounds - 1}").iterdir())
        backend = app.config["SQLALCHEMY_DATABASE_URI"].split(":", 1)[0]
        transfer_s, loop_s = statistics.median(transfer_times), statistics.median(loop_times)
        print(
            f"{3 * args.proteins} files, {size / 1e6:.1f} MB, database {backend}, "
            f"median of {args.rounds} rounds"
        )
        print(
            f"  product transfer (request -> SUCCESS): {transfer_s:6.2f} s "
            f"({3 * args.proteins / transfer_s:5.0f} files/s)"
        )
        print(
            f"  bare client upload loop:               {loop_s:6.2f} s "
            f"({3 * args.proteins / loop_s:5.0f} files/s)"
        )
        print(
            f"  ratio transfer / bare loop:            {transfer_s / loop_s:6.2f}  (target <= 1.25)"
        )


if __name__ == "__main__":
    main()
