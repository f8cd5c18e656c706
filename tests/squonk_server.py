"""Start the real local_squonk server as a subprocess on a free loopback port.

    from tests.squonk_server import squonk_server

    with squonk_server(tmp_path / "squonk", env={"LOCAL_SQUONK_CALLBACKS": "0"}) as server:
        DmApi.set_api_url(server.url, verify_ssl_cert=False)
        DmApi.get_version()

``start_squonk_server(...)`` returns the same handle without the ``with``; call
``.stop()`` yourself. ``.restart()`` stops and starts it again on the same port and
root, so its state (SQLite) and pending callbacks carry over.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from tests.support import free_port, wait_for

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_TOKEN = "local-squonk-token"


@dataclass
class SquonkServer:
    """A running (or stopped) local_squonk subprocess."""

    root: Path
    token: str = DEFAULT_TOKEN
    env: dict[str, str] = field(default_factory=dict)
    port: int = 0
    process: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        """The Data Manager API URL to give ``DmApi.set_api_url()``."""
        return f"{self.base_url}/data-manager-api"

    @property
    def pid(self) -> int | None:
        return None if self.process is None else self.process.pid

    @property
    def log_path(self) -> Path:
        """Where the server's own stdout/stderr go."""
        return self.root / "server.log"

    @property
    def request_log_path(self) -> Path:
        return self.root / "requests.jsonl"

    def request_log(self) -> list[dict[str, Any]]:
        """Every request the server logged so far, oldest first."""
        if not self.request_log_path.exists():
            return []
        lines = self.request_log_path.read_text(encoding="utf-8").splitlines()
        return [json.loads(line) for line in lines if line.strip()]

    def uploads(self) -> list[dict[str, Any]]:
        """The logged file uploads (successful or not)."""
        return [record for record in self.request_log() if "upload" in record]

    def start(self, timeout: float = 30.0) -> SquonkServer:
        """Start the subprocess and wait until ``/version`` answers.

        :param timeout: seconds to wait for the server to answer
        """
        if self.process is not None and self.process.poll() is None:
            return self
        self.root.mkdir(parents=True, exist_ok=True)
        self.port = self.port or free_port()
        env = {
            **os.environ,
            "LOCAL_SQUONK_ROOT": str(self.root),
            "LOCAL_SQUONK_TOKEN": self.token,
            "LOCAL_SQUONK_TEST_JOBS": "1",
            "PYTHONUNBUFFERED": "1",
            **self.env,
        }
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(REPO_ROOT), env.get("PYTHONPATH", "")) if p
        )
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "local_squonk", "serve", "--port", str(self.port)],
                cwd=REPO_ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

        def answers() -> bool:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"local_squonk exited with {self.process.returncode}:\n{self._log_tail()}"
                )
            try:
                return requests.get(f"{self.url}/version", timeout=1).ok
            except requests.RequestException:
                return False

        try:
            wait_for(answers, timeout, interval=0.1, what="local_squonk's /version")
        except AssertionError:
            self.stop()
            raise RuntimeError(
                f"local_squonk did not answer in {timeout} s:\n{self._log_tail()}"
            ) from None
        return self

    def stop(self, timeout: float = 15.0) -> None:
        """Stop the server (SIGTERM, then SIGKILL) and wait for it."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def restart(self, timeout: float = 30.0) -> SquonkServer:
        """Stop and start again with the same root, token, env and port."""
        self.stop()
        return self.start(timeout)

    def headers(self) -> dict[str, str]:
        """The Authorization header for direct ``requests`` calls."""
        return {"Authorization": f"Bearer {self.token}"}

    def _log_tail(self, lines: int = 40) -> str:
        if not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


def start_squonk_server(
    root: Path | str,
    *,
    token: str = DEFAULT_TOKEN,
    env: Mapping[str, str] | None = None,
    port: int = 0,
    timeout: float = 30.0,
) -> SquonkServer:
    """Start local_squonk on a free loopback port; returns the running handle.

    :param root: its ``LOCAL_SQUONK_ROOT`` (state, project volumes, requests.jsonl)
    :param token: the bearer token it accepts
    :param env: extra environment, e.g. ``{"LOCAL_SQUONK_CALLBACK_BACKOFF": "0.1"}``
    :param port: a fixed port (a free one if 0)
    :param timeout: seconds to wait for it to answer
    """
    server = SquonkServer(root=Path(root), token=token, env=dict(env or {}), port=port)
    return server.start(timeout)


@contextmanager
def squonk_server(
    root: Path | str,
    *,
    token: str = DEFAULT_TOKEN,
    env: Mapping[str, str] | None = None,
    port: int = 0,
    timeout: float = 30.0,
) -> Iterator[SquonkServer]:
    """``start_squonk_server`` as a context manager that always stops the server."""
    server = start_squonk_server(root, token=token, env=env, port=port, timeout=timeout)
    try:
        yield server
    finally:
        server.stop()
