"""Shared by the HTTP benchmarks: a bench database with a small real target, and the app
served by gunicorn on a loopback port (a real multi-process, multi-threaded server)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
SECRET_KEY = "bench-secret-key-not-for-production"
MAC1_CODES = ("diamond-x0104_A", "diamond-x0128_A", "diamond-x0142_A", "diamond-x0158_B")


def cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


def bench_app(workdir: Path):
    """The app on a fresh bench database (schema by the migrations) with Mac1 loaded."""
    import shutil

    from flask_migrate import upgrade

    from app import create_app
    from app.demo import demo_data_dir
    from app.loader import load_target
    from bench._common import bench_database_url

    app = create_app({"SQLALCHEMY_DATABASE_URI": bench_database_url(workdir),
                      "SECRET_KEY": SECRET_KEY, "DATA_DIR": str(workdir / "data")})
    source = demo_data_dir() / "mac1_mols"
    mols = workdir / "mac1"
    mols.mkdir(parents=True, exist_ok=True)
    for code in MAC1_CODES:
        shutil.copy(source / f"{code}.mol", mols / f"{code}.mol")
    with app.app_context():
        upgrade()
        load_target(mols, "Mac1", "lb18145-1", public=True,
                    template_pdb=source / "template.pdb")
    return app


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def gunicorn(app, workdir: Path, workers: int = 4, threads: int = 4,
             extra_env: dict[str, str] | None = None) -> Iterator[str]:
    """Serve ``app``'s database with gunicorn; yields the base URL; stops it afterwards."""
    port = free_port()
    env = dict(os.environ,
               DATABASE_URL=app.config["SQLALCHEMY_DATABASE_URI"],
               REDIS_URL=os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0",
               SECRET_KEY=SECRET_KEY, DATA_DIR=str(workdir / "data"),
               LAUNCHER_INSTANCE_DIR=str(workdir / "instance"), **(extra_env or {}))
    log = open(workdir / "gunicorn.log", "w")  # noqa: SIM115 - closed below
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}",
         "--workers", str(workers), "--threads", str(threads), "--log-level", "warning",
         "app:create_app()"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            if server.poll() is not None:
                raise RuntimeError(f"gunicorn exited; see {workdir / 'gunicorn.log'}")
            try:
                if requests.get(f"{base}/login", timeout=10).status_code == 200:
                    break
            except (requests.ConnectionError, requests.Timeout):
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("gunicorn did not answer within 30 s")
            time.sleep(0.2)
        # warm every worker's thread pool, database pool and template cache
        for _ in range(workers * threads * 2):
            requests.get(f"{base}/login", timeout=10)
        yield base
    finally:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()
