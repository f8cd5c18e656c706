"""The embedded default: ``make run`` on a fresh machine with nothing configured.

Migrates the database, loads the demo, starts Redis (the ``redis-server`` binary when on
PATH, otherwise fakeredis' TCP server), the local Squonk2, the web server and the worker,
prints the demo credentials, and supervises them: a child that dies is started again
after a back-off (with a line in the terminal), and Ctrl-C or SIGTERM stops every child
together with every process it forked. ``DATABASE_URL``, ``REDIS_URL`` and
``SQUONK2_DMAPI_URL`` (+ ``SQUONK2_TOKEN``) replace the embedded parts. Production runs the
Procfile under its own process manager instead.

Why not supervisord, circus or honcho: honcho stops everything when one child dies;
supervisord restarts a child that dies after it started at once (its back-off is only for
children that die while starting, and ends in FATAL), and it, like circus, stops a process
group only when asked to stop, not what a dead child left behind (RQ's cron scheduler and
its work horses, the latter in a process group of their own). The ports here are chosen at
start, and the database is prepared between starting Redis and the web server.
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
import threading
import time
import urllib.request
from dataclasses import dataclass

import psutil

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


RESTART_DELAYS = (1, 2, 4, 8, 16, 30)  # seconds before the 1st, 2nd, ... quick restart
STABLE_SECONDS = 60  # a child that ran this long starts again from the first delay
STOP_SECONDS = 10  # how long a stopping child may take before it is killed
PR_SET_CHILD_SUBREAPER = 36


def become_subreaper() -> None:
    """Linux: orphans of our children are re-parented to us (not to init), so we can reap
    them and none outlives the stack unseen."""
    if sys.platform.startswith("linux"):
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)


def session_members(sid: int) -> list[int]:
    """Live processes of session ``sid``: a child with everything it forked (gunicorn's
    workers, RQ's cron scheduler and work horses, which RQ puts in a process group of their
    own but not a session), found even after the child itself died."""
    members = []
    for pid in psutil.pids():
        try:
            if os.getsid(pid) == sid and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                members.append(pid)
        except (OSError, psutil.Error):
            continue
    return members


def describe_exit(code: int) -> str:
    if code >= 0:
        return f"exited with code {code}"
    try:
        return f"was killed by {signal.Signals(-code).name}"
    except ValueError:
        return f"was killed by signal {-code}"


def signal_all(pids: list[int], sig: signal.Signals) -> None:
    for pid in pids:
        try:
            os.kill(pid, sig)
        except OSError:
            pass


@dataclass
class Child:
    name: str
    args: list[str]
    env: dict[str, str]
    proc: subprocess.Popen | None = None
    started: float = 0.0
    quick_deaths: int = 0  # deaths in a row, each within STABLE_SECONDS of its start
    restart_at: float | None = None


class Supervisor:
    """Keeps the embedded children running until stopped.

    Each child runs in a session of its own, so it and every process it forked can be found
    and stopped together. A thread watches them: a child that dies has what it left behind
    stopped, and is started again after RESTART_DELAYS (longer while it keeps dying soon
    after starting), with a line in the terminal. :meth:`stop` stops them all, last started
    first, each with everything in its session (SIGTERM, then SIGKILL after STOP_SECONDS).
    """

    def __init__(self) -> None:
        self.children: list[Child] = []
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.watcher = threading.Thread(target=self.watch, name="supervisor", daemon=True)
        become_subreaper()

    def say(self, message: str) -> None:
        print(f"[embedded] {message}", flush=True)

    def start(self, name: str, args: list[str], env: dict[str, str]) -> Child:
        child = Child(name, args, env)
        with self.lock:
            self.spawn(child)
            self.children.append(child)
        self.say(f"{name} started (pid {child.proc.pid})")
        if not self.watcher.is_alive():
            self.watcher.start()
        return child

    def spawn(self, child: Child) -> None:
        child.proc = subprocess.Popen(
            child.args, env=child.env, cwd=PROJECT_ROOT, start_new_session=True
        )
        child.started = time.monotonic()
        child.restart_at = None

    def watch(self) -> None:
        while not self.stopping.wait(0.5):
            with self.lock:
                if self.stopping.is_set():
                    return
                try:
                    for child in self.children:
                        self.check(child)
                    self.reap_adopted()
                except Exception as exc:  # noqa: BLE001 - the watcher must outlive a hiccup
                    self.say(f"supervisor: {type(exc).__name__}: {exc}")

    def check(self, child: Child) -> None:
        """Notice a death (and clean up after it), or restart a child whose delay is over."""
        assert child.proc is not None
        now = time.monotonic()
        if child.restart_at is None:
            code = child.proc.poll()
            if code is None:
                return
            how = describe_exit(code)
            left = session_members(child.proc.pid)
            if left:
                self.stop_session(child.proc.pid, grace=3)
            if now - child.started >= STABLE_SECONDS:
                child.quick_deaths = 0
            delay = RESTART_DELAYS[min(child.quick_deaths, len(RESTART_DELAYS) - 1)]
            child.quick_deaths += 1
            child.restart_at = now + delay
            stopped = f"; stopped {len(left)} process(es) it left" if left else ""
            self.say(f"{child.name} (pid {child.proc.pid}) {how}{stopped}; restart in {delay} s")
        elif now >= child.restart_at:
            old = child.proc.pid
            self.spawn(child)
            self.say(f"{child.name} restarted (pid {child.proc.pid}, was {old})")

    def reap_adopted(self) -> None:
        """Collect the exit status of orphans re-parented to us (not our own children)."""
        ours = {child.proc.pid for child in self.children if child.proc is not None}
        for proc in psutil.Process().children():
            if proc.pid not in ours:
                try:
                    os.waitpid(proc.pid, os.WNOHANG)
                except ChildProcessError:
                    pass

    def stop_session(self, sid: int, grace: float) -> None:
        """SIGTERM every process of the session, SIGKILL what is left after ``grace``."""
        signal_all(session_members(sid), signal.SIGTERM)
        deadline = time.monotonic() + grace
        while (members := session_members(sid)) and time.monotonic() < deadline:
            self.reap_adopted()
            time.sleep(0.1)
        signal_all(members, signal.SIGKILL)
        deadline = time.monotonic() + 5
        while session_members(sid) and time.monotonic() < deadline:
            time.sleep(0.05)
        self.reap_adopted()

    def stop(self) -> None:
        """Stop every child with what it forked, last started first; no restart after this."""
        self.stopping.set()
        if self.watcher.is_alive():
            self.watcher.join()
        for child in reversed(self.children):
            if child.proc is None:
                continue
            self.stop_session(child.proc.pid, grace=STOP_SECONDS)
            try:
                child.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.say(f"{child.name} (pid {child.proc.pid}) did not stop")
        # anything that left its session but was re-parented to us (we are its subreaper)
        leftovers = psutil.Process().children(recursive=True)
        signal_all([p.pid for p in leftovers], signal.SIGKILL)
        psutil.wait_procs(leftovers, timeout=5)
        self.reap_adopted()


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
    supervisor = Supervisor()
    runtime: dict[str, str] = {}

    def shutdown(*_):
        raise KeyboardInterrupt

    # SIGINT too: a shell starts a background job with SIGINT ignored
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, shutdown)
    try:
        if not env.get("REDIS_URL"):
            redis_port = free_port()
            supervisor.start("redis", redis_command(redis_port), env)
            wait_for_port(redis_port, "Redis")
            runtime["REDIS_URL"] = f"redis://127.0.0.1:{redis_port}/0"

        if not env.get("SQUONK2_DMAPI_URL"):
            squonk_port = free_port()
            token = secrets.token_urlsafe(24)
            squonk_env = dict(
                env, LOCAL_SQUONK_TOKEN=token, LOCAL_SQUONK_ROOT=str(INSTANCE_DIR / "local_squonk")
            )
            supervisor.start(
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
        supervisor.start(
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
        supervisor.start("worker", [PYTHON, "worker.py"], child_env)
        wait_for_url(f"http://127.0.0.1:{port}/healthz", "The web server")
        print(
            f"\nFragalysis Job Launcher is serving http://127.0.0.1:{port}  (Ctrl-C stops it)\n",
            flush=True,
        )
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        print("\nstopping ...", flush=True)
    finally:
        # a second Ctrl-C must not cut the clean-up short (it takes STOP_SECONDS at most)
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, signal.SIG_IGN)
        supervisor.stop()
        RUNTIME_FILE.unlink(missing_ok=True)
        print("stopped", flush=True)


if __name__ == "__main__":
    main()
