"""Server time of the target page and the proteins API for Mac1 (all demo proteins).

Prints the median and p95 over N requests of each, measured inside the WSGI app with
Flask's test client (server time, no network), on the database DATABASE_URL names (the
embedded SQLite otherwise). Loads the demo data first (idempotent).

    .venv/bin/python bench/pages.py [--requests 200] [--per-page 50]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(pct / 100 * (len(ordered) - 1))))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--per-page", type=int, default=50)
    args = parser.parse_args()

    from flask_migrate import upgrade

    from app import create_app
    from app.extensions import db
    from app.models import User
    from app.targets.demo import load_demo_targets
    from bench._common import bench_database_url

    workdir = Path(tempfile.mkdtemp(prefix="bench-pages-"))
    config = {
        "DATA_DIR": str(workdir / "data"),
        "PROTEINS_PER_PAGE": args.per_page,
        "WTF_CSRF_ENABLED": False,
    }
    config["SQLALCHEMY_DATABASE_URI"] = bench_database_url(workdir)
    app = create_app(config)
    with app.app_context():
        upgrade()
        load_demo_targets()
        user = db.session.scalar(db.select(User).where(User.username == "bench"))
        if user is None:
            user = User(username="bench")
            user.set_password("bench-password")
            db.session.add(user)
            db.session.commit()

    client = app.test_client()
    client.post("/login", data={"username": "bench", "password": "bench-password"})
    urls = {
        f"target page /targets/Mac1/ (page size {args.per_page})": "/targets/Mac1/",
        "target page, HTMX partial (search 'x0')": "/targets/Mac1/?q=x0",
        "API /api/targets/Mac1/proteins/ (all)": "/api/targets/Mac1/proteins/",
    }
    headers = {"/targets/Mac1/?q=x0": {"HX-Request": "true", "HX-Target": "protein-table"}}
    backend = app.config["SQLALCHEMY_DATABASE_URI"].split(":", 1)[0]
    print(f"database: {backend}; {args.requests} requests each after 10 warm-up requests")
    for label, url in urls.items():
        for _ in range(10):
            assert client.get(url, headers=headers.get(url, {})).status_code == 200
        times = []
        for _ in range(args.requests):
            start = time.perf_counter()
            response = client.get(url, headers=headers.get(url, {}))
            times.append((time.perf_counter() - start) * 1000)
            assert response.status_code == 200
        print(
            f"{label:<55} median {statistics.median(times):6.1f} ms   "
            f"p95 {percentile(times, 95):6.1f} ms   ({len(response.data) // 1024} KiB)"
        )


if __name__ == "__main__":
    main()
