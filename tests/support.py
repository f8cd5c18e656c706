"""What the tests share besides fixtures: waiting on a condition, a free port, and the
preambles many tests repeat (a snapshot whose files are in Squonk2, a finished job).

Only the standard library is imported at module level: ``tests/squonk_server.py`` and the
benchmarks use ``wait_for`` and ``free_port`` without loading the app. Row factories are
in ``tests/factories.py``; fixtures in ``tests/conftest.py``.
"""

from __future__ import annotations

import re
import shutil
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

# Two hits whose ligands sit close together in the Mac1 adenosine site
MAC1_NEIGHBOURS = ("diamond-x0104_A", "diamond-x0128_A")
FRAGMENSTEIN = "fragmenstein-combine"


def wait_for(
    predicate: Callable[[], Any],
    timeout: float = 60.0,
    interval: float = 0.05,
    what: str | None = None,
) -> Any:
    """Call ``predicate`` every ``interval`` seconds until it returns something truthy, and
    return that; fail after ``timeout`` seconds, naming ``what`` was awaited. An exception
    raised by ``predicate`` ends the wait at once."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            name = what or getattr(predicate, "__qualname__", repr(predicate))
            raise AssertionError(f"timed out after {timeout} s waiting for {name}")
        time.sleep(interval)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_is_open(port: int, host: str = "127.0.0.1") -> bool:
    """Does something accept TCP connections on ``host:port``?"""
    try:
        socket.create_connection((host, port), timeout=0.2).close()
    except OSError:
        return False
    return True


def csrf_token_of(html: str) -> str:
    match = re.search(r'"X-CSRFToken": "([^"]+)"', html) or re.search(
        r'name="csrf_token" type="hidden" value="([^"]+)"', html
    )
    assert match, "page carries no CSRF token"
    return match.group(1)


def copy_mols(source: Path, dest: Path, codes: list[str] | None, count: int) -> Path:
    """Copy ``<code>.mol`` for ``codes`` (or the first ``count`` by name) into ``dest``."""
    dest.mkdir(parents=True, exist_ok=True)
    names = (
        [f"{c}.mol" for c in codes]
        if codes
        else sorted(p.name for p in source.glob("*.mol"))[:count]
    )
    for name in names:
        shutil.copy(source / name, dest / name)
    return dest


def put_callback(client, secret: str, status: str, **extra):
    """Squonk2's callback for the job whose secret is ``secret``."""
    return client.put(f"/api/job_callback/{secret}/", json={"job_status": status, **extra})


def callbacks_at_once(server: str, secret: str, statuses: list[str], timeout: float = 60):
    """Squonk2's callbacks with these statuses, each from its own thread, all released at
    once (a barrier) against the live ``server``; their HTTP status codes."""
    import threading

    import requests

    barrier = threading.Barrier(len(statuses))
    codes: list[int] = []

    def send(status: str) -> None:
        barrier.wait()
        url = f"{server}/api/job_callback/{secret}/"
        codes.append(requests.put(url, json={"job_status": status}, timeout=timeout).status_code)

    threads = [threading.Thread(target=send, args=(s,)) for s in statuses]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return codes


def job_history(app, job_id: int) -> tuple[str, list[tuple[str, str, str]]]:
    """A job's status and its recorded changes as ``(from, to, source)``."""
    from app.extensions import db
    from app.models import JobRequest

    with app.app_context():
        job = db.session.get(JobRequest, job_id)
        return job.job_status, [
            (e.from_status, e.to_status, e.source)
            for e in job.events
            if e.from_status != e.to_status
        ]


def load_mac1(app, tmp_path: Path, count: int) -> Path:
    """The first ``count`` Mac1 hits (by name) loaded as the public target Mac1 with the
    real loader, from ``tmp_path / "mac1"`` (returned, for reloads)."""
    from app.targets.demo import demo_data_dir
    from app.targets.loader import load_target

    source = demo_data_dir() / "mac1_mols"
    folder = copy_mols(source, tmp_path / "mac1", None, count)
    with app.app_context():
        load_target(folder, "Mac1", "lb18145-1", public=True, template_pdb=source / "template.pdb")
    return folder


# --- the queue and Squonk2 ----------------------------------------------------------------


def run_worker(app) -> None:
    """Drain the app's queue with a real RQ worker in this process (burst mode)."""
    from rq import SimpleWorker

    from app.extensions import db, queue, redis_connection

    with app.app_context():
        worker = SimpleWorker([queue()], connection=redis_connection())
        worker.work(burst=True, with_scheduler=False)
        db.session.remove()


def use_squonk(app, server) -> None:
    """Point the app at a local_squonk server (anything with ``url`` and ``token``), as the
    embedded default does."""
    from app.squonk.current import forget

    app.config.update(
        SQUONK2_DMAPI_URL=server.url,
        SQUONK2_TOKEN=server.token,
        SQUONK2_EMBEDDED=True,
        SQUONK2_RETRY_INTERVALS=[0, 0],
    )
    with app.app_context():
        forget()


def squonk_phase(server, instance_id: str) -> str:
    """The phase local_squonk reports for an instance (RUNNING, COMPLETED...)."""
    from squonk2.dm_api import DmApi

    DmApi.set_api_url(server.url, verify_ssl_cert=False)
    return DmApi.get_instance(server.token, instance_id=instance_id).msg.get("phase", "")


def transferred_snapshot(
    app, login, codes: tuple[str, ...] | list[str] = MAC1_NEIGHBOURS, title: str = "Mac1"
) -> tuple[int, Any]:
    """A snapshot of ``codes`` of ``title`` (by default the two neighbouring Mac1 hits)
    whose files the member sent to Squonk2 (the app must point at one: the ``squonk``
    fixture), the transfer checked to have succeeded. Returns ``(snapshot id, the member's
    Session)``."""
    from tests.factories import snapshot

    snapshot_id = snapshot(app, title, list(codes))
    member = login("member")
    created = member.post("/api/job_file_transfer/", json={"snapshot": snapshot_id})
    assert created.status_code == 201, created.json
    run_worker(app)
    done = member.get(f"/api/job_file_transfer/{created.json['id']}/").json
    assert done["transfer_status"] == "SUCCESS", done["message"]
    return snapshot_id, member


def fragmenstein_body(snapshot_id: int, **options) -> dict:
    """The launch request for Fragmenstein on the two neighbouring Mac1 hits."""
    return {
        "snapshot": snapshot_id,
        "job": FRAGMENSTEIN,
        "inputs": {"fragments": list(MAC1_NEIGHBOURS), "protein": MAC1_NEIGHBOURS[0]},
        "options": {"count": 1, **options},
    }


def finished_in_squonk(app, server, login) -> tuple[int, Any]:
    """Launch Fragmenstein on the two neighbours and wait until Squonk2 has finished it;
    returns ``(job id, the member's Session)``. Its callbacks go nowhere (EXTERNAL_URL
    names no server), so the job is still running here until a reconcile pass asks Squonk2
    (``RECONCILE_QUIET_SECONDS`` is set to 0 for that)."""
    app.config["RECONCILE_QUIET_SECONDS"] = 0
    snapshot_id, member = transferred_snapshot(app, login)
    job = member.post("/api/job_request/", json=fragmenstein_body(snapshot_id)).json
    run_worker(app)
    instance = member.get(f"/api/job_request/{job['id']}/").json["squonk_instance_id"]
    assert instance, "the launch did not start a Squonk2 instance"
    wait_for(
        lambda: squonk_phase(server, instance) in ("COMPLETED", "FAILED"),
        timeout=180,
        what="Fragmenstein to finish",
    )
    return job["id"], member


def reconcile(app) -> dict:
    """One reconciler pass; its counts by outcome."""
    from app.extensions import db
    from app.jobs.reconcile import reconcile as run

    with app.app_context():
        counts = run()
        db.session.remove()
    return counts
