"""Fixtures: one real local_squonk subprocess for the folder, the real DmApi client
pointed at it, a fresh project per test and a tiny HTTP callback receiver."""

from __future__ import annotations

import importlib.util
import json
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from squonk2.dm_api import TEST_PRODUCT_ID, DmApi

from tests.squonk_server import SquonkServer, squonk_server
from tests.support import wait_for

# Short back-off and few attempts keep the callback tests quick; a 1 MB upload cap
# lets the size check run without big files.
SERVER_ENV = {
    "LOCAL_SQUONK_CALLBACK_ATTEMPTS": "3",
    "LOCAL_SQUONK_CALLBACK_BACKOFF": "0.1",
    "LOCAL_SQUONK_MAX_UPLOAD_MB": "1",
    "LOCAL_SQUONK_WORKERS": "3",
}
FINAL_PHASES = ("COMPLETED", "FAILED")


@pytest.fixture(scope="package")
def squonk(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SquonkServer]:
    """The shared server (its root is a temporary directory)."""
    with squonk_server(tmp_path_factory.mktemp("local_squonk"), env=SERVER_ENV) as server:
        yield server


@pytest.fixture
def dm(squonk: SquonkServer) -> SquonkServer:
    """The shared server, with the (process-wide) DmApi URL pointing at it."""
    DmApi.set_api_url(squonk.url, verify_ssl_cert=False)
    return squonk


@pytest.fixture
def project(dm: SquonkServer) -> str:
    """A new project id."""
    rv = DmApi.create_project(
        dm.token, project_name=f"test-{uuid.uuid4().hex[:8]}", as_tier_product_id=TEST_PRODUCT_ID
    )
    assert rv.success, rv.msg
    return rv.msg["project_id"]


def wait_final(token: str, instance_id: str, timeout: float = 60.0) -> dict[str, Any]:
    """Poll the instance through DmApi until it is COMPLETED or FAILED."""

    def final() -> dict[str, Any] | None:
        rv = DmApi.get_instance(token, instance_id=instance_id)
        assert rv.success, rv.msg
        return rv.msg if rv.msg["phase"] in FINAL_PHASES else None

    return wait_for(final, timeout, what=f"instance {instance_id} to finish")


def task_events(token: str, task_id: str) -> list[dict[str, Any]]:
    rv = DmApi.get_task(token, task_id=task_id)
    assert rv.success, rv.msg
    return rv.msg["events"]


def upload(token: str, project_id: str, files: list[Path], path: str = "/") -> None:
    rv = DmApi.put_unmanaged_project_files(
        token,
        project_id=project_id,
        project_files=[str(f) for f in files],
        project_path=path,
        force=True,
    )
    assert rv.success, rv.msg


@dataclass
class CallbackReceiver:
    """An HTTP server taking Squonk2 callbacks; ``fail_first`` attempts of each
    job_status are answered 500 (``None``: always 500)."""

    fail_first: int | None = 0
    received: list[dict[str, Any]] = field(default_factory=list)
    attempts: dict[str, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}/callback/abc"

    def handle(self, body: dict[str, Any]) -> int:
        with self.lock:
            status = body.get("job_status", "?")
            attempt = self.attempts[status] = self.attempts.get(status, 0) + 1
            failing = self.fail_first is None or attempt <= self.fail_first
            code = 500 if failing else 204
            self.received.append({**body, "_attempt": attempt, "_answer": code})
            return code

    def delivered(self) -> list[dict[str, Any]]:
        with self.lock:
            return [r for r in self.received if r["_answer"] < 300]

    def statuses(self) -> list[str]:
        return [r["job_status"] for r in self.delivered()]


@pytest.fixture
def receiver_factory() -> Iterator[Callable[..., CallbackReceiver]]:
    """Build callback receivers; all are shut down after the test."""
    servers: list[ThreadingHTTPServer] = []

    def build(fail_first: int | None = 0) -> CallbackReceiver:
        receiver = CallbackReceiver(fail_first=fail_first)

        class Handler(BaseHTTPRequestHandler):
            def do_PUT(self) -> None:  # noqa: N802 (http.server's naming)
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                code = receiver.handle(body)
                self.send_response(code)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        receiver.server = server
        servers.append(server)
        return receiver

    yield build
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture
def mac1_dir() -> Path:
    """Fragmenstein's Mac1 demo hits and template.pdb."""
    # Located without importing fragmenstein, whose import takes seconds.
    spec = importlib.util.find_spec("fragmenstein")
    assert spec is not None and spec.submodule_search_locations
    return Path(spec.submodule_search_locations[0]) / "demo" / "mac1_mols"


@pytest.fixture
def molfiles(tmp_path: Path, mac1_dir: Path) -> list[Path]:
    """Two close Mac1 hits as Fragalysis writes them: the code on the first line."""
    paths = []
    for code in ("diamond-x0216_A", "diamond-x0259_A"):
        lines = (mac1_dir / f"{code}.mol").read_text().splitlines()
        lines[0] = code.removeprefix("diamond-")
        path = tmp_path / f"Mac1-{code.removeprefix('diamond-')}.mol"
        path.write_text("\n".join(lines) + "\n")
        paths.append(path)
    return paths
