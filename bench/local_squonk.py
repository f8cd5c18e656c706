"""Benchmark local_squonk: start -> SUCCESS callback for the fast RDKit job, and uploads.

    .venv/bin/python bench/local_squonk.py

Prints the median (of 10) seconds from ``start_job_instance`` to the SUCCESS callback of
``rdkit/rdkit-conformers`` on two Mac1 hits, and the throughput of uploading 200 small
files with ``put_unmanaged_project_files``. Runs its own server in a temporary root.
"""

from __future__ import annotations

import importlib.util
import json
import statistics
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from squonk2.dm_api import TEST_PRODUCT_ID, DmApi  # noqa: E402

from tests.squonk_server import squonk_server  # noqa: E402

RUNS = 10
UPLOADS = 200


class SuccessReceiver(ThreadingHTTPServer):
    """Records when each callback_context's SUCCESS callback arrived."""

    def __init__(self) -> None:
        self.arrived: dict[str, float] = {}
        self.events: dict[str, threading.Event] = {}
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_PUT(self) -> None:  # noqa: N802 (http.server's naming)
                now = time.perf_counter()
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                context = body.get("callback_context", "")
                if body.get("job_status") == "SUCCESS" and context in receiver.events:
                    receiver.arrived[context] = now
                    receiver.events[context].set()
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        super().__init__(("127.0.0.1", 0), Handler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/callback"


def _mac1_dir() -> Path:
    spec = importlib.util.find_spec("fragmenstein")
    assert spec is not None and spec.submodule_search_locations
    return Path(spec.submodule_search_locations[0]) / "demo" / "mac1_mols"


def bench_start_to_success(token: str, project_id: str) -> list[float]:
    hits = [_mac1_dir() / f"diamond-x0{n}_A.mol" for n in (216, 259)]
    assert DmApi.put_unmanaged_project_files(
        token, project_id=project_id, project_files=[str(h) for h in hits], project_path="/in"
    ).success
    spec = {
        "collection": "rdkit",
        "job": "rdkit-conformers",
        "version": "1.0.0",
        "variables": {"inputFile": [f"in/{h.name}" for h in hits], "numConformers": 3},
    }
    receiver = SuccessReceiver()
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    durations = []
    try:
        for run in range(RUNS):
            context = f"bench-{run}"
            receiver.events[context] = threading.Event()
            begun = time.perf_counter()
            rv = DmApi.start_job_instance(
                token,
                project_id=project_id,
                name=f"bench {run}",
                specification=spec,
                callback_url=receiver.url,
                callback_context=context,
            )
            assert rv.success, rv.msg
            if not receiver.events[context].wait(60):
                raise RuntimeError(f"No SUCCESS callback for run {run}")
            durations.append(receiver.arrived[context] - begun)
    finally:
        receiver.shutdown()
    return durations


def bench_uploads(token: str, project_id: str, workdir: Path) -> tuple[float, int]:
    template = (_mac1_dir() / "diamond-x0216_A.mol").read_bytes()
    files = []
    for n in range(UPLOADS):
        path = workdir / f"hit-{n:03d}.mol"
        path.write_bytes(template)
        files.append(str(path))
    begun = time.perf_counter()
    rv = DmApi.put_unmanaged_project_files(
        token, project_id=project_id, project_files=files, project_path="/uploads", force=True
    )
    elapsed = time.perf_counter() - begun
    assert rv.success, rv.msg
    return elapsed, len(template) * UPLOADS


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp, squonk_server(Path(tmp) / "root") as server:
        DmApi.set_api_url(server.url, verify_ssl_cert=False)
        project_id = DmApi.create_project(
            server.token, project_name="bench", as_tier_product_id=TEST_PRODUCT_ID
        ).msg["project_id"]
        durations = bench_start_to_success(server.token, project_id)
        elapsed, size = bench_uploads(server.token, project_id, Path(tmp))
        logged = sum(1 for r in server.uploads() if r["project_path"] == "/uploads")

    print(f"rdkit-conformers start_job_instance -> SUCCESS callback, {RUNS} runs:")
    print(
        f"  median {statistics.median(durations):.3f} s"
        f" (min {min(durations):.3f} s, max {max(durations):.3f} s)"
    )
    print(f"upload of {UPLOADS} files of {size // UPLOADS} bytes ({size / 1e6:.2f} MB):")
    print(
        f"  {elapsed:.2f} s, {UPLOADS / elapsed:.0f} files/s, {size / 1e6 / elapsed:.2f} MB/s"
        f" ({logged} uploads in requests.jsonl)"
    )


if __name__ == "__main__":
    main()
