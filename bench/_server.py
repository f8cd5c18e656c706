"""Shared by the HTTP benchmarks: a bench database with a small real target, and the app
served by gunicorn on a loopback port (a real multi-process, multi-threaded server)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import requests

from tests.support import free_port, wait_for

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
    from app.targets.demo import demo_data_dir
    from app.targets.loader import load_target
    from bench._common import bench_database_url

    app = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": bench_database_url(workdir),
            "SECRET_KEY": SECRET_KEY,
            "DATA_DIR": str(workdir / "data"),
            # its own queue: RQ job ids repeat across runs (import-1 ...), queues must not
            "QUEUE_NAME": f"bench-{workdir.name}",
        }
    )
    source = demo_data_dir() / "mac1_mols"
    mols = workdir / "mac1"
    mols.mkdir(parents=True, exist_ok=True)
    for code in MAC1_CODES:
        shutil.copy(source / f"{code}.mol", mols / f"{code}.mol")
    with app.app_context():
        upgrade()
        load_target(mols, "Mac1", "lb18145-1", public=True, template_pdb=source / "template.pdb")
    return app


@contextmanager
def gunicorn(
    app, workdir: Path, workers: int = 4, threads: int = 4, extra_env: dict[str, str] | None = None
) -> Iterator[str]:
    """Serve ``app``'s database with gunicorn; yields the base URL; stops it afterwards.

    Its access log, ``workdir/access.log``, has one line per request: path, status and the
    server-side time in microseconds (see server_times).
    """
    port = free_port()
    env = dict(
        os.environ,
        DATABASE_URL=app.config["SQLALCHEMY_DATABASE_URI"],
        REDIS_URL=os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0",
        SECRET_KEY=SECRET_KEY,
        DATA_DIR=str(workdir / "data"),
        QUEUE_NAME=app.config["QUEUE_NAME"],
        LAUNCHER_INSTANCE_DIR=str(workdir / "instance"),
        **(extra_env or {}),
    )
    log = open(workdir / "gunicorn.log", "w")  # noqa: SIM115 - closed below
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(workers),
            "--threads",
            str(threads),
            "--log-level",
            "warning",
            # idle connections outlive the pollers' 2 s period (gunicorn's default is 2 s, so
            # a poll could race the server closing its connection)
            "--keep-alive",
            "5",
            "--access-logfile",
            str(workdir / "access.log"),
            "--access-logformat",
            "%(U)s %(s)s %(D)s",
            "app:create_app()",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"

    def answers() -> bool:
        if server.poll() is not None:
            raise RuntimeError(f"gunicorn exited; see {workdir / 'gunicorn.log'}")
        try:
            return requests.get(f"{base}/login", timeout=10).status_code == 200
        except (requests.ConnectionError, requests.Timeout):
            return False

    try:
        try:
            wait_for(answers, timeout=30, interval=0.2, what="gunicorn's /login")
        except AssertionError:
            raise RuntimeError("gunicorn did not answer within 30 s") from None
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


def server_times(workdir: Path, prefix: str, skip: int = 0) -> tuple[list[float], int]:
    """Server-side times (ms) of the requests for paths starting with ``prefix`` in the
    access log after its first ``skip`` lines; and the log's length (the next ``skip``)."""
    try:
        lines = (workdir / "access.log").read_text().splitlines()
    except FileNotFoundError:
        return [], 0
    return [
        int(line.rsplit(" ", 1)[1]) / 1000 for line in lines[skip:] if line.startswith(prefix)
    ], len(lines)


def cpu_sample() -> list[int] | None:
    """The machine's CPU counters (Linux /proc/stat), for cpu_report."""
    try:
        with open("/proc/stat") as stat:
            return [int(v) for v in stat.readline().split()[1:]]
    except OSError:
        return None


def cpu_report(before: list[int] | None) -> str:
    """How busy the whole machine was since ``before``, and how much the hypervisor stole."""
    after = cpu_sample()
    if not before or not after:
        return "machine CPU: unknown"
    delta = [b - a for a, b in zip(before, after, strict=False)]
    total = sum(delta[:8]) or 1
    idle = delta[3] + delta[4]
    steal = delta[7] if len(delta) > 7 else 0
    return (
        f"machine CPU during the run (all processes, {cores()} cores): busy "
        f"{100 * (total - idle - steal) / total:.0f}%, stolen by the hypervisor "
        f"{100 * steal / total:.0f}%"
    )
