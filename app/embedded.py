"""The embedded default: ``make run`` on a fresh machine with nothing configured.

Migrates the database, loads the demo, starts Redis (the ``redis-server`` binary when on
PATH, otherwise fakeredis' TCP server), the local Squonk2, the web server and the worker,
prints the demo credentials, and stops every child on Ctrl-C. ``DATABASE_URL``,
``REDIS_URL`` and ``SQUONK2_DMAPI_URL`` (+ ``SQUONK2_TOKEN``) replace the embedded parts.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request

from app.config import INSTANCE_DIR, PROJECT_ROOT, RUNTIME_FILE, ensure_secret_key_file

PYTHON = sys.executable


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"{what} did not start listening on 127.0.0.1:{port}")


def wait_for_url(url: str, what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"{what} did not answer at {url}")


class Children:
    """Child processes, each in its own process group, all stopped together."""

    def __init__(self) -> None:
        self.procs: list[tuple[str, subprocess.Popen]] = []

    def start(self, name: str, args: list[str], env: dict[str, str]) -> subprocess.Popen:
        proc = subprocess.Popen(args, env=env, cwd=PROJECT_ROOT, start_new_session=True)
        self.procs.append((name, proc))
        return proc

    def stop(self) -> None:
        for _, proc in reversed(self.procs):
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        deadline = time.monotonic() + 10
        for _, proc in self.procs:
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)

    def first_exited(self) -> tuple[str, int] | None:
        for name, proc in self.procs:
            if proc.poll() is not None:
                return name, proc.returncode
        return None


def prepare_database() -> None:
    """Run migrations and load the demo (both idempotent); print the demo users."""
    from flask_migrate import upgrade

    from app import create_app
    from app.targets.demo import credentials_text, ensure_demo_users, load_demo_targets

    app = create_app()
    with app.app_context():
        upgrade()
        for report in load_demo_targets():
            print(report.summary().splitlines()[0])
        print(credentials_text(ensure_demo_users()))


def redis_command(port: int) -> list[str]:
    """A throwaway Redis on loopback: the redis-server binary when there is one, else
    fakeredis' TCP server (keeps nothing on disk either way)."""
    if shutil.which("redis-server"):
        return [
            "redis-server",
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ]
    return [PYTHON, "-m", "app.embedded", "--fakeredis-port", str(port)]


def serve_fakeredis(port: int) -> None:
    """A Redis-protocol server for machines without redis-server."""
    from fakeredis import TcpFakeServer

    server = TcpFakeServer(("127.0.0.1", port), server_type="redis")
    server.serve_forever()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Run the embedded demo stack.")
    parser.add_argument("--fakeredis-port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.fakeredis_port:
        serve_fakeredis(args.fakeredis_port)
        return

    INSTANCE_DIR.mkdir(parents=True, exist_ok=True)
    RUNTIME_FILE.unlink(missing_ok=True)
    env = dict(os.environ)
    env.setdefault("SECRET_KEY", ensure_secret_key_file())
    port = int(env.get("PORT", "5000"))
    children = Children()
    runtime: dict[str, str] = {}

    def shutdown(*_):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, shutdown)
    try:
        if not env.get("REDIS_URL"):
            redis_port = free_port()
            children.start("redis", redis_command(redis_port), env)
            wait_for_port(redis_port, "Redis")
            runtime["REDIS_URL"] = f"redis://127.0.0.1:{redis_port}/0"

        if not env.get("SQUONK2_DMAPI_URL"):
            squonk_port = free_port()
            token = secrets.token_urlsafe(24)
            squonk_env = dict(
                env, LOCAL_SQUONK_TOKEN=token, LOCAL_SQUONK_ROOT=str(INSTANCE_DIR / "local_squonk")
            )
            children.start(
                "local squonk",
                [
                    PYTHON,
                    "-m",
                    "local_squonk",
                    "serve",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(squonk_port),
                ],
                squonk_env,
            )
            dmapi = f"http://127.0.0.1:{squonk_port}/data-manager-api"
            wait_for_url(dmapi + "/version", "The local Squonk2")
            runtime.update(SQUONK2_DMAPI_URL=dmapi, SQUONK2_TOKEN=token, SQUONK2_EMBEDDED="1")

        runtime.setdefault("EXTERNAL_URL", env.get("EXTERNAL_URL", f"http://127.0.0.1:{port}"))
        RUNTIME_FILE.write_text(json.dumps(runtime, indent=2))
        RUNTIME_FILE.chmod(0o600)
        child_env = dict(env, **runtime)

        prepare_database()
        children.start(
            "web",
            [
                PYTHON,
                "-m",
                "gunicorn",
                "--bind",
                f"127.0.0.1:{port}",
                "--workers",
                env.get("WEB_CONCURRENCY", "2"),
                # one thread per worker: on few cores, threads sharing the GIL doubled the
                # tail latency of job-table polls (bench/poll.py)
                "--threads",
                env.get("WEB_THREADS", "1"),
                "app:create_app()",
            ],
            child_env,
        )
        children.start("worker", [PYTHON, "worker.py"], child_env)
        wait_for_url(f"http://127.0.0.1:{port}/healthz", "The web server")
        print(
            f"\nFragalysis Job Launcher is serving http://127.0.0.1:{port}  (Ctrl-C stops it)\n",
            flush=True,
        )
        while True:
            exited = children.first_exited()
            if exited:
                print(f"{exited[0]} stopped with exit code {exited[1]}; stopping everything")
                break
            time.sleep(0.5)
    except KeyboardInterrupt:
        print("\nstopping ...")
    finally:
        children.stop()
        RUNTIME_FILE.unlink(missing_ok=True)


if __name__ == "__main__":
    main()
