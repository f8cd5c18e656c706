"""Fixtures: a real database (PostgreSQL when DATABASE_URL is set, else SQLite), a real
Redis (REDIS_URL, else a redis-server or fakeredis on a free port), the app per test with
its own data directory, clients logged in as the demo roles, and small real targets."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect, select, text
from sqlalchemy.engine import make_url

from app import create_app
from app.config import plain_url, sqlalchemy_url
from app.extensions import db
from app.models import User
from app.squonk.current import forget as forget_squonk
from app.targets.demo import demo_data_dir
from app.targets.loader import load_target

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "tests" / "artifacts"
PASSWORDS = {
    "member": "member-password",
    "outsider": "outsider-password",
    "admin": "admin-password",
}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def database_url(tmp_path_factory):
    """A database of our own for this session: a fresh PostgreSQL database created next
    to the one DATABASE_URL names (so concurrent runs do not collide), or SQLite."""
    base = os.environ.get("DATABASE_URL")
    if not base:
        yield f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.db'}"
        return
    admin_url = make_url(sqlalchemy_url(base))
    name = f"launcher_test_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    yield admin_url.set(database=name).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="session")
def redis_url():
    """REDIS_URL, or a redis-server (fakeredis when absent) on a free loopback port."""
    if os.environ.get("REDIS_URL"):
        yield os.environ["REDIS_URL"]
        return
    port = _free_port()
    if shutil.which("redis-server"):
        proc = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=subprocess.DEVNULL,
        )
        stop = proc.terminate
    else:
        from fakeredis import TcpFakeServer

        server = TcpFakeServer(("127.0.0.1", port), server_type="redis")
        threading.Thread(target=server.serve_forever, daemon=True).start()
        stop = server.shutdown
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.05)
    yield f"redis://127.0.0.1:{port}/0"
    stop()


def pytest_report_header(config):
    database = os.environ.get("DATABASE_URL", "")
    kind = make_url(sqlalchemy_url(database)).get_backend_name() if database else "sqlite"
    redis = os.environ.get("REDIS_URL") or "embedded redis-server/fakeredis"
    chromium = os.environ.get("CHROMIUM") or shutil.which("chromium") or "not installed"
    return [
        f"launcher tests: database={kind} ({'DATABASE_URL' if database else 'embedded'}), "
        f"redis={redis}, browser tests in Chromium: {chromium}"
    ]


@pytest.fixture(scope="session")
def migrated(database_url, redis_url, tmp_path_factory):
    """Run the Alembic migrations once per session: the schema tests use is the real one."""
    from flask_migrate import upgrade

    app = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": database_url,
            "REDIS_URL": redis_url,
            "DATA_DIR": str(tmp_path_factory.mktemp("data")),
            "SECRET_KEY": "test-secret-key",
        }
    )
    with app.app_context():
        upgrade()
        tables = [t for t in inspect(db.engine).get_table_names() if t != "alembic_version"]
        db.engine.dispose()
    return tables


def _empty_tables(tables: list[str]) -> None:
    if db.engine.dialect.name == "postgresql":
        db.session.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
    else:
        db.session.execute(text("PRAGMA foreign_keys=OFF"))
        for table in tables:
            db.session.execute(text(f"DELETE FROM {table}"))
        db.session.commit()
        db.session.execute(text("PRAGMA foreign_keys=ON"))
    db.session.commit()


@pytest.fixture
def app(migrated, database_url, redis_url, tmp_path):
    """A fresh application per test: empty tables, its own data directory and queue."""
    app = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "test-secret-key",
            # scrypt costs ~70 ms a hash; the tests create and log in users hundreds of times
            "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000",
            "SQLALCHEMY_DATABASE_URI": database_url,
            "REDIS_URL": redis_url,
            "QUEUE_NAME": f"test-{uuid.uuid4().hex[:8]}",
            "DATA_DIR": str(tmp_path / "data"),
            "EXTERNAL_URL": "http://127.0.0.1:5000",
            "SQUONK2_DMAPI_URL": None,
            "SQUONK2_TOKEN": None,
        }
    )
    with app.app_context():
        _empty_tables(migrated)
    bodies = collect_responses(app)
    yield app
    with app.app_context():
        assert_no_callback_secret_leaked(bodies + [caplog_text(app)])
        db.session.remove()
        db.engine.dispose()


def collect_responses(app) -> list[str]:
    """Every response body the app sends during the test (for the secret scan)."""
    from flask import request_finished

    bodies: list[str] = []

    def keep(sender, response, **extra):
        if not response.direct_passthrough:
            bodies.append(response.get_data(as_text=True))
        bodies.append(str(response.headers))

    request_finished.connect(keep, app, weak=False)
    return bodies


def caplog_text(app) -> str:
    return app.extensions.get("test_log_text", lambda: "")()


def assert_no_callback_secret_leaked(texts: list[str]) -> None:
    """No page, API answer or log line may contain a job's callback secret."""
    from app.jobs.service import callback_secret
    from app.models import JobRequest

    secrets = [
        callback_secret(nonce) for nonce in db.session.scalars(select(JobRequest.callback_nonce))
    ]
    for secret in secrets:
        for body in texts:
            assert secret not in body, "a callback secret leaked into a response or log"


@pytest.fixture(autouse=True)
def capture_logs(request, caplog):
    """Keep every log line (DEBUG and up) of the test for the secret scan."""
    import logging

    caplog.set_level(logging.DEBUG)
    if "app" in request.fixturenames:
        app = request.getfixturevalue("app")
        app.extensions["test_log_text"] = lambda: caplog.text
    yield


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture
def users(app):
    """The three demo roles: a member of lb00000-1, an outsider, an admin."""
    from app.targets.loader import get_or_create_project

    with app.app_context():
        private = get_or_create_project("lb00000-1")
        for name, password in PASSWORDS.items():
            user = User(username=name, email=f"{name}@example.org", is_admin=name == "admin")
            user.set_password(password)
            if name == "member":
                user.projects.append(private)
            db.session.add(user)
        db.session.commit()
    return dict(PASSWORDS)


def csrf_token_of(html: str) -> str:
    match = re.search(r'"X-CSRFToken": "([^"]+)"', html) or re.search(
        r'name="csrf_token" type="hidden" value="([^"]+)"', html
    )
    assert match, "page carries no CSRF token"
    return match.group(1)


class Session:
    """A test client logged in through the real login form, with CSRF on."""

    def __init__(self, app, username: str | None):
        self.client = app.test_client()
        self.username = username
        self.csrf = None
        if username:
            page = self.client.get("/login")
            response = self.client.post(
                "/login",
                data={
                    "username": username,
                    "password": PASSWORDS[username],
                    "csrf_token": csrf_token_of(page.text),
                },
            )
            assert response.status_code == 302, f"login of {username} failed"
            self.csrf = csrf_token_of(self.client.get("/targets/").text)

    def get(self, url, **kw):
        return self.client.get(url, **kw)

    def request(self, method, url, **kw):
        headers = dict(kw.pop("headers", {}) or {})
        if self.csrf:
            headers.setdefault("X-CSRFToken", self.csrf)
        return self.client.open(url, method=method, headers=headers, **kw)

    def post(self, url, **kw):
        return self.request("POST", url, **kw)

    def delete(self, url, **kw):
        return self.request("DELETE", url, **kw)

    def put(self, url, **kw):
        return self.request("PUT", url, **kw)


@pytest.fixture
def login(app, users):
    """``login("member")`` -> a logged-in Session; ``login(None)`` -> anonymous."""
    return lambda username: Session(app, username)


MAC1_DIR = demo_data_dir() / "mac1_mols"
MPRO_DIR = demo_data_dir() / "mpro_mols"
# Two hits whose ligands sit close together in the Mac1 adenosine site
MAC1_NEIGHBOURS = ("diamond-x0104_A", "diamond-x0128_A")


def copy_mols(source: Path, dest: Path, codes: list[str] | None, count: int) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    names = (
        [f"{c}.mol" for c in codes]
        if codes
        else sorted(p.name for p in source.glob("*.mol"))[:count]
    )
    for name in names:
        shutil.copy(source / name, dest / name)
    return dest


@pytest.fixture
def small_targets(app, users, tmp_path):
    """A public Mac1 with 12 real hits (apo-desolv from the template) and a private Mpro
    with 3 ligands and no apo-desolv PDBs, loaded with the real loader."""
    mac1_codes = sorted(p.stem for p in MAC1_DIR.glob("*.mol"))[:10] + list(MAC1_NEIGHBOURS)
    mac1 = copy_mols(MAC1_DIR, tmp_path / "mac1", sorted(set(mac1_codes)), 0)
    mpro = copy_mols(MPRO_DIR, tmp_path / "mpro", None, 3)
    with app.app_context():
        load_target(mac1, "Mac1", "lb18145-1", public=True, template_pdb=MAC1_DIR / "template.pdb")
        load_target(mpro, "Mpro", "lb00000-1", public=False)
    return {"Mac1": sorted(set(mac1_codes)), "Mpro": sorted(p.stem for p in mpro.glob("*.mol"))}


# --- a live server for browser tests -------------------------------------------------


@pytest.fixture
def live_server(app):
    """The app served by a real werkzeug server in a thread on a free loopback port."""
    from werkzeug.serving import make_server

    port = _free_port()
    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{port}"
    server.shutdown()


CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


@pytest.fixture(scope="session")
def browser():
    """Debian's Chromium driven by Playwright (never a downloaded browser)."""
    executable = os.environ.get("CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(executable).exists():
        if os.environ.get("CI"):
            pytest.fail("Chromium is required in CI (apt-get install chromium)")
        pytest.skip("Chromium is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        print(f"\nbrowser tests run in {executable} {browser.version}")
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1366, "height": 900})
    page = context.new_page()
    page.set_default_timeout(20000)
    yield page
    context.close()


def screenshot(page, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


# --- Squonk2 (the real local_squonk server) and workers -------------------------------


@pytest.fixture(scope="session")
def shared_squonk(tmp_path_factory):
    """One local_squonk for the session (tests make their own projects in it)."""
    from tests.squonk_server import squonk_server

    with squonk_server(
        tmp_path_factory.mktemp("squonk"), env={"LOCAL_SQUONK_CALLBACK_BACKOFF": "0.2"}
    ) as server:
        yield server


def use_squonk(app, server) -> None:
    """Point the app at a local_squonk server, as the embedded default does."""
    app.config.update(
        SQUONK2_DMAPI_URL=server.url,
        SQUONK2_TOKEN=server.token,
        SQUONK2_EMBEDDED=True,
        SQUONK2_RETRY_INTERVALS=[0, 0],
    )
    with app.app_context():
        forget_squonk()


@pytest.fixture
def squonk(app, shared_squonk):
    use_squonk(app, shared_squonk)
    return shared_squonk


def run_worker(app) -> None:
    """Drain the app's queue with a real RQ worker in this process (burst mode)."""
    from rq import SimpleWorker

    from app.extensions import queue, redis_connection

    with app.app_context():
        worker = SimpleWorker([queue()], connection=redis_connection())
        worker.work(burst=True, with_scheduler=False)
        db.session.remove()


class WorkerProcess:
    """``python worker.py`` as a subprocess with the test app's settings."""

    def __init__(self, app, log_path: Path):
        self.app, self.log_path, self.proc = app, log_path, None

    def env(self) -> dict[str, str]:
        config = self.app.config
        env = dict(os.environ)
        database = config["SQLALCHEMY_DATABASE_URI"]
        env.update(
            {
                "DATABASE_URL": plain_url(database),
                "REDIS_URL": config["REDIS_URL"],
                "QUEUE_NAME": config["QUEUE_NAME"],
                "DATA_DIR": config["DATA_DIR"],
                "EXTERNAL_URL": config["EXTERNAL_URL"],
                "SQUONK2_DMAPI_URL": config.get("SQUONK2_DMAPI_URL") or "",
                "SQUONK2_TOKEN": config.get("SQUONK2_TOKEN") or "",
                "SQUONK2_EMBEDDED": "1" if config.get("SQUONK2_EMBEDDED") else "0",
                "SQUONK2_RETRY_INTERVALS": ",".join(
                    str(v) for v in config.get("SQUONK2_RETRY_INTERVALS", [])
                ),
                "TRANSFER_STALE_SECONDS": str(config["TRANSFER_STALE_SECONDS"]),
                "RECONCILE_INTERVAL": str(config["RECONCILE_INTERVAL"]),
                "RECONCILE_QUIET_SECONDS": str(config["RECONCILE_QUIET_SECONDS"]),
                "SECRET_KEY": config["SECRET_KEY"],
                "PYTHONUNBUFFERED": "1",
            }
        )
        return env

    def start(self) -> WorkerProcess:
        log = open(self.log_path, "ab")  # noqa: SIM115 - the child keeps it
        self.proc = subprocess.Popen(
            [sys.executable, str(ROOT / "worker.py")],
            env=self.env(),
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        return self

    def kill(self) -> None:
        """SIGKILL the worker and its work horse: a machine dying mid-task."""
        import signal

        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def stop(self) -> None:
        import signal

        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()


@pytest.fixture
def worker_process(app, tmp_path):
    """Start real worker subprocesses (call it); all are stopped after the test."""
    started: list[WorkerProcess] = []

    def start() -> WorkerProcess:
        proc = WorkerProcess(app, tmp_path / f"worker-{len(started)}.log").start()
        started.append(proc)
        return proc

    yield start
    for proc in started:
        proc.stop()


def wait_for(predicate, timeout: float = 60.0, interval: float = 0.1, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")
