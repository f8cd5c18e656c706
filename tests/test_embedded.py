"""``python -m app.embedded`` (what ``make run`` runs) supervises its children (issue 11).

One run of the real stack (~20-60 s to start: migrations and the demo load) in a temporary
instance folder (``LAUNCHER_INSTANCE_DIR``) on a free port, with nothing configured:

- the RQ worker is killed with SIGKILL while it copies files to Squonk2: it is listening
  again within 10 s, and what it forked (its work horse, RQ's scheduler and the cron
  scheduler of worker.py) was stopped with it;
- the interrupted transfer then finishes by itself, every file sent once: the reconciler
  (every 5 s here) releases the dead worker's task once its heartbeat lapses (~70 s) and
  RQ retries it; the ledger skips what had arrived;
- SIGINT to the supervisor (Ctrl-C) leaves no process it started.

"Processes it started" is measured without trusting the supervisor's bookkeeping: the
sessions of its children (each child leads one; what they fork stays in it), every process
whose environment names the temporary instance folder (inherited by all descendants), and
the supervisor's own children.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from tests.support import free_port, wait_for

ROOT = Path(__file__).resolve().parent.parent
# the embedded default must not see the services the rest of the suite (or CI) configured
CONFIGURED = ("DATABASE_URL", "REDIS_URL", "SQUONK2_", "EXTERNAL_URL", "SECRET_KEY", "PORT")

pytestmark = [
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc"),
    pytest.mark.timeout(600),
]


def proc_stat(pid: int) -> tuple[int, int, str] | None:
    """(parent pid, session id, state) of a process, None once it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text.rsplit(")", 1)[1].split()
    return int(fields[1]), int(fields[3]), fields[0]


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
    except OSError:
        return ""


def environ_has(pid: int, entry: bytes) -> bool:
    try:
        return entry in Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    except OSError:
        return False


class Stack:
    """The embedded stack under test and the processes it started."""

    def __init__(self, tmp_path: Path):
        self.instance = tmp_path / "instance"
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log_path = tmp_path / "embedded.log"
        env = {k: v for k, v in os.environ.items() if not k.startswith(CONFIGURED)}
        env.update(
            LAUNCHER_INSTANCE_DIR=str(self.instance),
            PORT=str(self.port),
            PYTHONUNBUFFERED="1",
            RECONCILE_INTERVAL="5",
        )
        self.marker = f"LAUNCHER_INSTANCE_DIR={self.instance}".encode()
        self.log_file = self.log_path.open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "app.embedded"],
            cwd=ROOT,
            env=env,
            stdout=self.log_file,
            stderr=subprocess.STDOUT,
        )
        self.sessions: set[int] = set()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def processes(self) -> dict[int, str]:
        """Live processes of the stack (pid -> command line), the supervisor excluded;
        zombies are listed too (a process nobody reaped is one left behind)."""
        found = {}
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit() or int(entry.name) == self.proc.pid:
                continue
            pid = int(entry.name)
            stat = proc_stat(pid)
            if stat is None:
                continue
            ppid, sid, _ = stat
            if ppid == self.proc.pid:
                self.sessions.add(sid)
            if ppid == self.proc.pid or sid in self.sessions or environ_has(pid, self.marker):
                found[pid] = cmdline(pid) or f"<{stat[2]}>"
        return found

    def worker(self) -> int | None:
        """The pid of the RQ worker the supervisor runs (``python worker.py``)."""
        for pid, line in self.processes().items():
            stat = proc_stat(pid)
            if stat and stat[0] == self.proc.pid and line.endswith("worker.py"):
                return pid
        return None

    def password(self, user: str) -> str:
        match = re.search(rf"^  {user}\s+(\S+)", self.log(), re.M)
        assert match, "the embedded stack printed no demo credentials"
        return match.group(1)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        for pid in self.processes():  # only after a failure: the test asserts none is left
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        self.log_file.close()


def member_session(stack: Stack) -> requests.Session:
    """Log in as the demo member with the password the stack printed; API calls carry the
    session's CSRF token."""
    http = requests.Session()
    page = http.get(stack.base + "/login", timeout=10).text
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    answer = http.post(
        stack.base + "/login",
        data={"username": "member", "password": stack.password("member"), "csrf_token": token},
        timeout=10,
    )
    assert answer.ok and "/login" not in answer.url, "the demo member could not log in"
    http.headers["X-CSRFToken"] = token
    return http


def test_supervisor_restarts_the_worker_and_leaves_nothing_behind(tmp_path):
    stack = Stack(tmp_path)
    try:
        wait_for(
            lambda: "is serving" in stack.log() or stack.proc.poll() is not None,
            timeout=240,
            what="the embedded stack to serve",
            interval=0.5,
        )
        assert stack.proc.poll() is None, stack.log()[-3000:]
        started = stack.processes()
        print("started:", *sorted(started.items()), sep="\n  ")
        assert any("redis" in c for c in started.values()), started
        assert any("local_squonk" in c for c in started.values()), started
        assert any("gunicorn" in c for c in started.values()), started

        # a transfer of all Mac1 proteins (597 files, a few seconds), killed midway
        http = member_session(stack)
        codes = [p["code"] for p in http.get(stack.base + "/api/targets/Mac1/proteins/").json()]
        snapshot = http.post(
            stack.base + "/api/snapshots/", json={"target": "Mac1", "proteins": codes}
        )
        assert snapshot.status_code == 201, snapshot.text
        created = http.post(
            stack.base + "/api/job_file_transfer/", json={"snapshot": snapshot.json()["id"]}
        )
        assert created.status_code == 201, created.text
        transfer_url = f"{stack.base}/api/job_file_transfer/{created.json()['id']}/"

        def transfer():
            return http.get(transfer_url, timeout=10).json()

        midway = wait_for(
            lambda: (t := transfer())["files_uploaded"] >= 30 and t,
            timeout=60,
            what="the transfer to be under way",
            interval=0.05,
        )
        worker = stack.worker()
        assert worker, stack.processes()
        _, worker_sid, _ = proc_stat(worker)
        forked = {p: c for p, c in stack.processes().items() if proc_stat(p)[1] == worker_sid}
        print(f"worker {worker} and what it forked:", *sorted(forked.items()), sep="\n  ")
        assert len(forked) >= 3, forked  # worker, cron scheduler, RQ scheduler (+ horse)

        killed_at = time.monotonic()
        os.kill(worker, signal.SIGKILL)
        assert midway["transfer_status"] in ("PENDING", "STARTED")
        assert midway["files_uploaded"] < midway["files_total"], "transfer ended before kill"

        def restarted():
            pid = stack.worker()
            if pid and pid != worker and f"started with PID {pid}," in stack.log():
                tail = stack.log().split(f"started with PID {pid},", 1)[1]
                return pid if "Listening on" in tail else None
            return None

        new_worker = wait_for(restarted, timeout=10, what="the worker to listen again")
        back_in = time.monotonic() - killed_at
        print(f"worker back in {back_in:.1f} s (pid {new_worker})")
        assert f"worker (pid {worker}) was killed by SIGKILL" in stack.log()
        left = {p: c for p, c in stack.processes().items() if proc_stat(p)[1] == worker_sid}
        assert left == {}, f"the dead worker's session still has {left}"
        # the web server was not taken down with it
        assert requests.get(stack.base + "/healthz", timeout=5).ok

        stuck = transfer()
        print(f"transfer after the kill: {stuck['transfer_status']} {stuck['files_uploaded']}")
        done = wait_for(
            lambda: (t := transfer())["transfer_status"] in ("SUCCESS", "FAILURE") and t,
            timeout=240,
            what="the interrupted transfer to finish",
            interval=1,
        )
        print(
            f"interrupted transfer {done['transfer_status']} "
            f"{time.monotonic() - killed_at:.0f} s after the kill"
        )
        assert done["transfer_status"] == "SUCCESS", done
        assert done["files_uploaded"] + done["files_skipped"] == done["files_total"], done
        assert "released 1 task(s) of a dead worker" in stack.log()

        before = stack.processes()
        assert new_worker in before
        stack.proc.send_signal(signal.SIGINT)
        stopped_at = time.monotonic()
        assert stack.proc.wait(timeout=60) == 0, stack.log()[-3000:]
        print(
            f"stopped in {time.monotonic() - stopped_at:.1f} s; sessions {sorted(stack.sessions)}"
        )
        remaining = stack.processes()
        print("remaining after SIGINT:", remaining)
        assert remaining == {}, f"left behind: {remaining}"
        assert "stopped" in stack.log().splitlines()[-1]
    finally:
        stack.close()
