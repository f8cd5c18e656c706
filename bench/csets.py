"""Computed sets: upload-and-validate time of a 1,000-molecule SDF, and set-page render time.

The SDF is built from the real Mac1 hits shipped with Fragmenstein (every hit's pose,
renamed, with ``ref_mols`` naming it and a neighbour, ``ref_pdb`` the hit, ``original
SMILES``, and DDG/RMSD/outcome scores) under a valid ``ver_1.2`` header. Prints:

- the validator alone on the file (median of 3);
- ``POST /api/compound-sets/`` (validate + store files + rows in one transaction; median of 3);
- the set page (50 molecules a page), in file order and sorted by DDG: median and p95;
- one depiction drawn on first request vs served from the database, and what drawing every
  depiction at import would have added.

With ``--large N`` (e.g. 40000), then also: an N-molecule upload through the background
task (``POST /api/compound-sets/`` answering 202, then a real RQ worker in this process
validating and storing it), and the set page of that set: file order, sorted by a score,
filtered by a score range, and a text search, median and p95 (target: median < 150 ms).
The large file needs CSET_MAX_RECORDS / CSET_MAX_BYTES above their defaults (20,000
molecules, 50 MB): the bench raises them for its own app. Without REDIS_URL a private
``redis-server`` is started on a free port.

Server time inside the WSGI app (Flask test client, no network), on the database
DATABASE_URL names (a fresh database of its own beside it, or a fresh SQLite file).

    .venv/bin/python bench/csets.py [--molecules 1000] [--requests 100] [--large 40000]
"""

from __future__ import annotations

import argparse
import io
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def build_sdf(count: int) -> bytes:
    """``count`` poses of the real Mac1 hits as a valid computed-set file."""
    from rdkit import Chem

    from app.csets.validator import build_header_block
    from app.targets.demo import demo_data_dir

    hits = sorted((demo_data_dir() / "mac1_mols").glob("*.mol"))
    blocks = {path.stem: path.read_text() for path in hits}
    codes = list(blocks)
    smiles = {code: Chem.MolToSmiles(Chem.MolFromMolBlock(block)) for code, block in blocks.items()}
    rng = random.Random(7)
    text = build_header_block(
        "Bench Runner",
        "bench@example.org",
        "Diamond Light Source",
        "2024-03-15",
        "fragmenstein-combine",
        "https://fragalysis.example.org/jobs/bench/",
        {
            "DDG": "Gibbs free energy of binding, kcal/mol",
            "RMSD": "RMSD to the hits, Å",
            "outcome": "Fragmenstein outcome label",
        },
    )
    for number in range(count):
        code = codes[number % len(codes)]
        neighbour = codes[(number + 1) % len(codes)]
        lines = blocks[code].rstrip("\n").split("\n")
        text += "\n".join([f"{code}-pose-{number}", *lines[1:]]) + "\n"
        for key, value in (
            ("ref_mols", f"{code},{neighbour}"),
            ("ref_pdb", code),
            ("original SMILES", smiles[code]),
            ("DDG", f"{rng.uniform(-12, 2):.3f}"),
            ("RMSD", f"{rng.uniform(0.2, 2.5):.3f}"),
            ("outcome", rng.choice(["acceptable", "too moved", "too contorted"])),
        ):
            text += f"> <{key}>\n{value}\n\n"
        text += "$$$$\n"
    return text.encode()


def timed(action) -> tuple[float, object]:
    start = time.perf_counter()
    result = action()
    return (time.perf_counter() - start) * 1000, result


def page_times(client, url: str, requests: int) -> list[float]:
    for _ in range(5):
        assert client.get(url).status_code == 200
    times = []
    for _ in range(requests):
        elapsed, response = timed(lambda: client.get(url))
        assert response.status_code == 200
        times.append(elapsed)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--molecules", type=int, default=1000)
    parser.add_argument("--requests", type=int, default=100)
    parser.add_argument("--large", type=int, default=0, help="molecules of the background run")
    args = parser.parse_args()

    from flask_migrate import upgrade
    from sqlalchemy import select

    from app import create_app
    from app.chem import depiction_svg, mol_from_molblock
    from app.csets.service import validate_upload
    from app.extensions import db
    from app.models import ApiToken, ComputedMolecule, Target, User
    from app.targets.demo import load_demo_targets
    from bench._common import bench_database_url, summary

    workdir = Path(tempfile.mkdtemp(prefix="bench-csets-"))
    redis_url, redis_process = private_redis(workdir)
    app = create_app(
        {
            "DATA_DIR": str(workdir / "data"),
            "SQLALCHEMY_DATABASE_URI": bench_database_url(workdir),
            "REDIS_URL": redis_url,
            "SECRET_KEY": "bench-secret-key",
            "QUEUE_NAME": "bench-csets",
            "CSET_MAX_RECORDS": max(20_000, args.large + 1),
            "CSET_MAX_BYTES": max(50, args.large * 2 // 1000) * 1024 * 1024,
            "MAX_CONTENT_LENGTH": max(64, args.large * 2 // 1000 + 8) * 1024 * 1024,
        }
    )
    with app.app_context():
        upgrade()
        load_demo_targets()
        user = db.session.scalar(select(User).where(User.username == "bench"))
        if user is None:
            user = User(username="bench", is_admin=True)
            db.session.add(user)
        _, token = ApiToken.issue(user)
        db.session.commit()

    sdf = build_sdf(args.molecules)
    client = app.test_client()
    headers = {"Authorization": f"Bearer {token}"}
    backend = app.config["SQLALCHEMY_DATABASE_URI"].split(":", 1)[0]
    print(
        f"database: {backend}; {args.molecules} molecules from the Mac1 hits, "
        f"{len(sdf) / 1024 / 1024:.1f} MB"
    )

    with app.app_context():
        target = db.session.scalar(select(Target).where(Target.title == "Mac1"))
        runs = [timed(lambda: validate_upload(target, sdf)) for _ in range(3)]
        assert all(report.ok for _, report in runs), runs[0][1].messages()[:5]
    print(f"{'validator alone':<48} median {statistics.median(t for t, _ in runs):8.0f} ms")

    uploads, name = [], None
    for _ in range(3):
        # the same file three times: "upload anyway", or the second is refused as a duplicate
        form = {"target": "Mac1", "sdf": (io.BytesIO(sdf), "bench.sdf"), "upload_anyway": "true"}
        elapsed, response = timed(
            lambda form=form: client.post(
                "/api/compound-sets/",
                data=form,
                headers=headers,
                content_type="multipart/form-data",
            )
        )
        assert response.status_code == 201, response.get_json()
        uploads.append(elapsed)
        name = response.get_json()["name"]
    median_upload = statistics.median(uploads)
    print(
        f"{'upload + validate + store (POST API)':<48} median {median_upload:8.0f} ms   "
        f"(all: {', '.join(f'{t:.0f}' for t in uploads)}; limit 10000)"
    )

    # Pages take a session cookie, not the token: log the same user in through Flask-Login's
    # session keys (no password hashing in the measured path)
    with client.session_transaction() as session:
        with app.app_context():
            session["_user_id"] = str(
                db.session.scalar(select(User.id).where(User.username == "bench"))
            )
            session["_fresh"] = True
    for label, url in (
        ("set page, file order (page 1, 50 rows)", f"/computed-sets/{name}/"),
        ("set page sorted by DDG desc, page 7", f"/computed-sets/{name}/?sort=DDG&dir=desc&page=7"),
    ):
        times = page_times(client, url, args.requests)
        print(f"{label:<48} {summary(times)}")

    with app.app_context():
        molecule_id, block = db.session.execute(
            select(ComputedMolecule.id, ComputedMolecule.mol_block)
            .where(ComputedMolecule.depiction_svg.is_(None))
            .limit(1)
        ).one()
        mols = [
            mol_from_molblock(b)
            for b in db.session.scalars(select(ComputedMolecule.mol_block).limit(200))
        ]
    url = f"/computed-sets/{name}/molecules/{molecule_id}/depiction.svg"
    first, _ = timed(lambda: client.get(url))
    cached = statistics.median(timed(lambda: client.get(url))[0] for _ in range(50))
    per_molecule = statistics.median(timed(lambda m=m: depiction_svg(m))[0] for m in mols)
    print(
        f"{'depiction: first request (drawn, stored)':<48} {first:8.1f} ms; later {cached:.1f} ms"
    )
    print(
        f"{'drawing every depiction at import would add':<48} "
        f"{per_molecule * args.molecules:8.0f} ms ({per_molecule:.2f} ms a molecule)"
    )
    failed = []
    if args.large:
        failed = large_run(app, client, headers, args.large, args.requests)
    if redis_process is not None:
        redis_process.terminate()
        redis_process.wait(10)
    if median_upload > 10_000:
        failed.append("upload and validation took longer than 10 s")
    if failed:
        sys.exit("; ".join(failed))


def private_redis(workdir: Path):
    """REDIS_URL when set; else a redis-server of our own on a free port (and its process)."""
    import atexit
    import os
    import shutil
    import subprocess

    from tests.support import free_port, port_is_open, wait_for

    if os.environ.get("REDIS_URL"):
        return os.environ["REDIS_URL"], None
    if shutil.which("redis-server") is None:
        sys.exit("set REDIS_URL or install redis-server")
    port = free_port()
    process = subprocess.Popen(
        [
            "redis-server",
            "--bind",
            "127.0.0.1",
            "--port",
            str(port),
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(workdir),
        ],
        stdout=subprocess.DEVNULL,
    )
    atexit.register(process.terminate)  # also when the bench fails half-way
    wait_for(lambda: port_is_open(port), timeout=10, what="redis-server")
    return f"redis://127.0.0.1:{port}/0", process


def large_run(app, client, headers, count: int, requests: int) -> list[str]:
    """The background upload of ``count`` molecules and its set page; what missed its target."""
    from rq import SimpleWorker

    from app.extensions import db, queue, redis_connection
    from bench._common import summary

    sdf = build_sdf(count)
    print(f"\nlarge set: {count} molecules, {len(sdf) / 1024 / 1024:.1f} MB")
    form = {"target": "Mac1", "sdf": (io.BytesIO(sdf), "large.sdf"), "upload_anyway": "true"}
    # a client without the page session: a token request carrying a session cookie is
    # held to CSRF like a form
    uploader = app.test_client()
    post_ms, response = timed(
        lambda: uploader.post(
            "/api/compound-sets/", data=form, headers=headers, content_type="multipart/form-data"
        )
    )
    assert response.status_code == 202, response.get_json()
    status_url = response.get_json()["status_url"]

    def work() -> None:
        with app.app_context():
            SimpleWorker([queue()], connection=redis_connection()).work(
                burst=True, with_scheduler=False
            )
            db.session.remove()

    task_ms, _ = timed(work)
    body = uploader.get(status_url, headers=headers).get_json()
    assert body["status"] == "DONE", body
    name = body["computed_set"]["name"]
    print(f"{'POST (stage the file, queue the task): 202':<48} {post_ms:8.0f} ms")
    print(f"{'background task: validate + store':<48} {task_ms:8.0f} ms")
    print(f"{'upload end to end':<48} {post_ms + task_ms:8.0f} ms")
    failed = []
    last = -(-count // app.config["MOLECULES_PER_PAGE"])
    for label, url in (
        ("set page, file order, page 1", f"/computed-sets/{name}/"),
        (
            "set page, sorted by DDG desc, middle page",
            f"/computed-sets/{name}/?sort=DDG&order=desc&page={last // 2}",
        ),
        (
            "set page, sorted by rdkit_QED, last page",
            f"/computed-sets/{name}/?sort=rdkit_QED&page={last}",
        ),
        (
            "set page, -5 <= DDG <= 0, sorted by RMSD",
            f"/computed-sets/{name}/?min_DDG=-5&max_DDG=0&sort=RMSD",
        ),
        ("set page, search 'x0104'", f"/computed-sets/{name}/?q=x0104&page=3"),
    ):
        times = page_times(client, url, max(20, requests // 2))
        print(f"{label:<48} {summary(times)}")
        if statistics.median(times) > 150:
            failed.append(f"{label}: median over 150 ms")
    return failed


if __name__ == "__main__":
    main()
