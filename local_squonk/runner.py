"""Running instances: one subprocess per instance, a bounded pool, a wall-clock limit.

Each job runs in its own session (so its own process group) with the project volume as
working directory and ``DM_INSTANCE_DIRECTORY`` set, as a Squonk2 job container would.
Stdout lines ``<time> # <LEVEL> -EVENT- <message>`` become task events; the last stderr
lines become events when the job fails. Whatever ends a job (exit, time limit, DELETE,
shutdown) the whole process group is killed so nothing is left behind.
"""

from __future__ import annotations

import json
import logging
import os
import re
import signal
import subprocess
import threading
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import IO, Any

import psutil

from .callbacks import CallbackDispatcher
from .config import Settings
from .store import Store

logger = logging.getLogger(__name__)

EVENT_LINE = re.compile(r"^\S+\s+#\s+([A-Z]+)\s+-EVENT-\s+(.*?)\s*$")
STDERR_TAIL_LINES = 20
_TERM_GRACE_S = 1.0
_PACKAGE_PARENT = str(Path(__file__).resolve().parent.parent)


def _kill_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _exit_code(returncode: int) -> int:
    # A job killed by a signal reports 128 + signal, as a shell or container would.
    return returncode if returncode >= 0 else 128 - returncode


def job_environment(instance_directory: str) -> dict[str, str]:
    """The environment of a job: ours minus the stand-in's secrets, plus the DM variables.

    :param instance_directory: the instance directory relative to the project
    """
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("LOCAL_SQUONK_", "SQUONK2_"))
    }
    python_path = [_PACKAGE_PARENT] + [p for p in env.get("PYTHONPATH", "").split(":") if p]
    env.update(
        DM_INSTANCE_DIRECTORY=instance_directory,
        PYTHONPATH=":".join(python_path),
        # Events must reach us as they happen, not when a buffer fills.
        PYTHONUNBUFFERED="1",
    )
    return env


class Runner:
    """Runs queued instances on a pool of ``settings.workers`` threads."""

    def __init__(self, store: Store, settings: Settings, callbacks: CallbackDispatcher) -> None:
        self._store = store
        self._settings = settings
        self._callbacks = callbacks
        self._pool = ThreadPoolExecutor(settings.workers, thread_name_prefix="job")
        self._lock = threading.Lock()
        # instance id -> "queued" | "running"; absent once finished.
        self._states: dict[str, str] = {}
        self._procs: dict[str, subprocess.Popen[str]] = {}
        self._revoked: set[str] = set()
        self._finished: dict[str, threading.Event] = {}
        self._stopping = False

    # Life cycle -------------------------------------------------------------

    def start(self) -> None:
        """Recover from a previous run: fail what was running, queue what was pending."""
        for instance in self._store.instances_in_phase("RUNNING"):
            self._stop_orphan(instance)
            self._finish(
                instance,
                phase="FAILED",
                state="FAILURE",
                exit_code=None,
                message="Interrupted: local_squonk restarted while the job was running",
                job_status="FAILURE",
            )
        for instance in self._store.instances_in_phase("PENDING"):
            self.submit(instance["instance_id"])

    def shutdown(self) -> None:
        """Stop running jobs (their groups are killed) and stop taking work."""
        with self._lock:
            self._stopping = True
            running = list(self._procs.items())
        for _, proc in running:
            _kill_group(proc.pid, signal.SIGTERM)
        for instance_id, proc in running:
            done = self._finished.get(instance_id)
            if done and not done.wait(_TERM_GRACE_S):
                _kill_group(proc.pid, signal.SIGKILL)
                done.wait(2)
        self._pool.shutdown(wait=False, cancel_futures=True)

    def submit(self, instance_id: str) -> None:
        """Queue a PENDING instance for running."""
        with self._lock:
            self._states[instance_id] = "queued"
            self._finished[instance_id] = threading.Event()
        self._pool.submit(self._run_guarded, instance_id)

    def revoke(self, instance_id: str) -> bool:
        """Stop an instance that is queued or running; True if it was.

        Returns once the job's process group is gone and REVOKED is recorded.

        :param instance_id: the instance to stop
        """
        with self._lock:
            state = self._states.get(instance_id)
            if state is None:
                return False
            self._revoked.add(instance_id)
            proc = self._procs.get(instance_id)
            done = self._finished[instance_id]
            if state == "queued":
                # Never started: the pool thread will skip it, so record it here.
                del self._states[instance_id]
        if state == "queued":
            instance = self._store.get_instance(instance_id)
            if instance:
                self._finish_revoked(instance, exit_code=None)
            done.set()
            return True
        if proc is not None:
            _kill_group(proc.pid, signal.SIGTERM)
            if not done.wait(_TERM_GRACE_S):
                _kill_group(proc.pid, signal.SIGKILL)
        # A job between "running" and having a process kills itself on registering.
        done.wait(5)
        return True

    # Running ----------------------------------------------------------------

    def _run_guarded(self, instance_id: str) -> None:
        try:
            self._run(instance_id)
        except Exception:  # a pool thread must record, not swallow, a crash of ours
            logger.exception("Runner failed on %s", instance_id)
            instance = self._store.get_instance(instance_id)
            if instance and instance["phase"] in ("PENDING", "RUNNING"):
                self._finish(
                    instance,
                    phase="FAILED",
                    state="FAILURE",
                    exit_code=None,
                    message="local_squonk could not run the job",
                    job_status="FAILURE",
                )
        finally:
            with self._lock:
                self._states.pop(instance_id, None)
                self._procs.pop(instance_id, None)
                done = self._finished.pop(instance_id, None)
            if done:
                done.set()

    def _run(self, instance_id: str) -> None:
        with self._lock:
            if self._states.get(instance_id) != "queued" or self._stopping:
                return
            self._states[instance_id] = "running"
        instance = self._store.get_instance(instance_id)
        if instance is None or instance["phase"] != "PENDING":
            return
        task_id = instance["task_id"]
        started = self._store.add_state(task_id, "STARTED")
        self._store.update_instance(instance_id, phase="RUNNING", started=started)
        self._callbacks.notify(instance, "STARTED", started)

        argv: list[str] = json.loads(instance["argv"])
        project_dir = self._settings.projects_dir / instance["project_id"]
        instance_dir = project_dir / instance["instance_directory"]
        instance_dir.mkdir(parents=True, exist_ok=True)
        self._store.add_event(task_id, "INFO", f"Running: {instance['command']}")
        try:
            proc = subprocess.Popen(
                argv,
                cwd=project_dir,
                env=job_environment(instance["instance_directory"]),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                errors="replace",
                start_new_session=True,
            )
        except OSError as error:
            self._store.add_event(task_id, "ERROR", f"Could not start the job: {error}")
            self._finish(
                instance,
                phase="FAILED",
                state="FAILURE",
                exit_code=None,
                message="Could not start",
                job_status="FAILURE",
            )
            return

        with self._lock:
            self._procs[instance_id] = proc
            revoked_early = instance_id in self._revoked or self._stopping
        if revoked_early:
            _kill_group(proc.pid, signal.SIGKILL)
        try:
            create_time = psutil.Process(proc.pid).create_time()
        except psutil.Error:
            create_time = None
        self._store.update_instance(instance_id, pid=proc.pid, pid_create_time=create_time)
        self._store.add_event(task_id, "INFO", f"Job process started (pid {proc.pid})")

        stderr_tail: deque[str] = deque(maxlen=STDERR_TAIL_LINES)
        readers = [
            threading.Thread(
                target=self._read_stdout, args=(proc.stdout, task_id, instance_dir), daemon=True
            ),
            threading.Thread(
                target=self._read_stderr, args=(proc.stderr, stderr_tail, instance_dir), daemon=True
            ),
        ]
        for reader in readers:
            reader.start()

        timed_out = False
        try:
            proc.wait(timeout=self._settings.run_timeout_s)
        except subprocess.TimeoutExpired:
            timed_out = True
            _kill_group(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=_TERM_GRACE_S)
            except subprocess.TimeoutExpired:
                _kill_group(proc.pid, signal.SIGKILL)
                proc.wait()
        # Whatever the job left running in its group goes with it, as with a container.
        _kill_group(proc.pid, signal.SIGKILL)
        for reader in readers:
            reader.join(timeout=5)

        with self._lock:
            revoked = instance_id in self._revoked
            self._revoked.discard(instance_id)
            stopping = self._stopping
        exit_code = _exit_code(proc.returncode)
        instance = self._store.get_instance(instance_id, include_deleted=True) or instance
        if revoked:
            self._finish_revoked(instance, exit_code)
        elif exit_code == 0 and not timed_out:
            self._store.add_event(task_id, "INFO", "Job finished (exit code 0)")
            self._finish(
                instance,
                phase="COMPLETED",
                state="SUCCESS",
                exit_code=0,
                message="Completed",
                job_status="SUCCESS",
            )
        else:
            if timed_out:
                reason = f"Job exceeded the run time limit of {self._settings.run_timeout_s:g} s"
            elif stopping:
                reason = "Job stopped: local_squonk shut down"
            else:
                reason = f"Job failed with exit code {exit_code}"
            self._store.add_event(task_id, "ERROR", reason)
            for line in stderr_tail:
                self._store.add_event(task_id, "ERROR", f"stderr: {line}")
            self._finish(
                instance,
                phase="FAILED",
                state="FAILURE",
                exit_code=exit_code,
                message=reason,
                job_status="FAILURE",
            )

    def _read_stdout(self, stream: IO[str] | None, task_id: str, instance_dir: Path) -> None:
        if stream is None:
            return
        with stream, open(instance_dir / "job.stdout", "a", encoding="utf-8") as log:
            for line in stream:
                log.write(line)
                match = EVENT_LINE.match(line.rstrip("\n"))
                if match:
                    self._store.add_event(task_id, match.group(1), match.group(2))

    @staticmethod
    def _read_stderr(stream: IO[str] | None, tail: deque[str], instance_dir: Path) -> None:
        if stream is None:
            return
        with stream, open(instance_dir / "job.stderr", "a", encoding="utf-8") as log:
            for line in stream:
                log.write(line)
                if line.strip():
                    tail.append(line.rstrip())

    # Recording outcomes -----------------------------------------------------

    def _finish(
        self,
        instance: dict[str, Any],
        *,
        phase: str,
        state: str,
        exit_code: int | None,
        message: str,
        job_status: str,
    ) -> None:
        when = self._store.finish_task(instance["task_id"], state, exit_code, message)
        fields: dict[str, Any] = {"phase": phase, "stopped": when}
        if exit_code is not None:
            fields["exit_code"] = exit_code
        self._store.update_instance(instance["instance_id"], **fields)
        self._callbacks.notify(instance, job_status, when)

    def _finish_revoked(self, instance: dict[str, Any], exit_code: int | None) -> None:
        self._store.add_event(
            instance["task_id"], "WARNING", "Job revoked: the instance was deleted"
        )
        self._finish(
            instance,
            phase="FAILED",
            state="FAILURE",
            exit_code=exit_code,
            message="Revoked",
            job_status="REVOKED",
        )

    def _stop_orphan(self, instance: dict[str, Any]) -> None:
        """Kill the process group of a job a previous server run left behind."""
        pid, created = instance.get("pid"), instance.get("pid_create_time")
        if not pid or created is None:
            return
        try:
            # Only our job: a reused pid belongs to a process created at another time.
            if abs(psutil.Process(pid).create_time() - created) < 1.0:
                _kill_group(pid, signal.SIGKILL)
        except psutil.Error:
            pass
