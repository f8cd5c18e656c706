"""Fixtures: a real database (PostgreSQL when DATABASE_URL is set, else SQLite), a real
Redis (REDIS_URL, else a redis-server or fakeredis on a free port), the app per test with
its own data directory, clients logged in as the demo roles, and small real targets (loaded
once per session by the real loader, put back for each test). Helpers that are not
fixtures are in tests/support.py, row factories in tests/factories.py."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import threading
import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import create_engine, insert, inspect, select, text, update
from sqlalchemy.engine import make_url

from app import create_app
from app.config import plain_url, sqlalchemy_url
from app.extensions import db
from app.models.base import as_utc, utcnow
from app.targets.demo import demo_data_dir
from app.targets.loader import load_target
from tests import factories
from tests.support import (
    MAC1_NEIGHBOURS,
    copy_mols,
    csrf_token_of,
    free_port,
    port_is_open,
    transferred_snapshot,
    use_squonk,
    wait_for,
)
from tests.support import run_worker as run_worker  # re-exported: older imports use it

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "tests" / "artifacts"
PASSWORDS = {
    "member": "member-password",
    "colleague": "colleague-password",
    "outsider": "outsider-password",
    "admin": "admin-password",
}


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
    """REDIS_URL, or the throwaway Redis ``make run`` starts (app.embedded.redis_command:
    redis-server, fakeredis when absent) on a free loopback port."""
    if os.environ.get("REDIS_URL"):
        yield os.environ["REDIS_URL"]
        return
    from app.embedded import redis_command

    port = free_port()
    proc = subprocess.Popen(redis_command(port), stdout=subprocess.DEVNULL)
    wait_for(lambda: port_is_open(port), timeout=10, what=f"Redis on port {port}")
    yield f"redis://127.0.0.1:{port}/0"
    proc.terminate()
    proc.wait(timeout=10)


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
        # children before parents, so that deleting in this order breaks no foreign key
        ordered = inspect(db.engine).get_sorted_table_and_fkc_names()
        tables = [t for t, _ in reversed(ordered) if t and t != "alembic_version"]
        db.engine.dispose()
    return tables


_RESET_SEQUENCES: dict[str, str] = {}


def _empty_tables(tables: list[str]) -> None:
    """Every table empty and every id sequence back at 1. On PostgreSQL one batch of DELETEs
    (children first) and sequence restarts: a TRUNCATE of all tables costs ~140 ms a test,
    this ~15 ms."""
    if db.engine.dialect.name == "postgresql":
        url = str(db.engine.url)
        if url not in _RESET_SEQUENCES:
            sequences = db.session.scalars(
                text(
                    "SELECT pg_get_serial_sequence(table_name, column_name) "
                    "FROM information_schema.columns WHERE table_schema = current_schema() "
                    "AND column_default LIKE 'nextval(%'"
                )
            ).all()
            _RESET_SEQUENCES[url] = "; ".join(f"ALTER SEQUENCE {seq} RESTART" for seq in sequences)
        statements = [f"DELETE FROM {table}" for table in tables] + [_RESET_SEQUENCES[url]]
        db.session.connection().exec_driver_sql("; ".join(s for s in statements if s))
    else:
        db.session.execute(text("PRAGMA foreign_keys=OFF"))
        for table in tables:
            db.session.execute(text(f"DELETE FROM {table}"))
        db.session.commit()
        db.session.execute(text("PRAGMA foreign_keys=ON"))
    db.session.commit()


@pytest.fixture
def app_config() -> dict:
    """Settings a test (by parametrizing it) or a module (by overriding it) gives ``app``
    on top of the usual ones: those resolved when the app is built, FRAME_ANCESTORS say."""
    return {}


@pytest.fixture
def app(migrated, database_url, redis_url, tmp_path, app_config):
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
            # the jobs' definitions from local_squonk/jobs, read at start-up, whichever
            # Squonk2 a test points at (tests/jobs/test_definitions.py asks Squonk2 itself)
            "JOB_DEFINITIONS": "files",
            **app_config,
        }
    )
    with app.app_context():
        _empty_tables(migrated)
    bodies = collect_responses(app)
    yield app
    with app.app_context():
        assert_no_secret_leaked(bodies, caplog_text(app))
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


# an API token (app.models.users) or any bearer credential in a log line; the redacted
# forms (``fjl_<redacted>``, ``Bearer <redacted>``) do not match
TOKEN_IN_LOG = re.compile(r"fjl_[A-Za-z0-9_-]{20,}|Bearer\s+(?!<redacted>)[A-Za-z0-9._~+/=-]{8,}")
# a JWT (an OpenID provider's ID, access or refresh token): base64url JSON header and claims
JWT = re.compile(r"eyJ[A-Za-z0-9_-]{4,}\.eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*")


def assert_no_secret_leaked(bodies: list[str], log_text: str) -> None:
    """No page, API answer or log line may contain a job's callback secret, a JWT (an OpenID
    provider's tokens) or the OIDC client secret, and no log line an API token or bearer
    credential (an answer may show a token once: when it is issued)."""
    from flask import current_app

    from app.jobs.service import callback_secret
    from app.models import JobRequest

    secrets = [
        callback_secret(nonce) for nonce in db.session.scalars(select(JobRequest.callback_nonce))
    ]
    for secret in secrets:
        for body in [*bodies, log_text]:
            assert secret not in body, "a callback secret leaked into a response or log"
    leaked = TOKEN_IN_LOG.search(log_text)
    assert leaked is None, f"a token leaked into the log: {leaked.group(0)[:12]}..."
    # no JWT and no OIDC client secret anywhere, answers included
    client_secret = current_app.config.get("OIDC_CLIENT_SECRET")
    for scanned in [*bodies, log_text]:
        jwt = JWT.search(scanned)
        assert jwt is None, f"a JWT leaked into a response or log: {jwt.group(0)[:12]}..."
        assert not client_secret or client_secret not in scanned, "the OIDC client secret leaked"


def logged_text(caplog) -> str:
    """Every line logged in the test so far: its setup, its call and (in teardown) its
    teardown. ``caplog.text`` alone holds only the current phase's lines, so a scan in
    teardown would see none of what the test itself logged."""
    records = [*caplog.get_records("setup"), *caplog.get_records("call")]
    if caplog.records is not caplog.get_records("call"):
        records += caplog.records  # the teardown's, when scanning in teardown
    return "\n".join(caplog.handler.format(record) for record in records)


@pytest.fixture(autouse=True)
def capture_logs(request, caplog):
    """Keep every log line (DEBUG and up) of the test for the secret scan."""
    import logging

    caplog.set_level(logging.DEBUG)
    if "app" in request.fixturenames:
        app = request.getfixturevalue("app")
        app.extensions["test_log_text"] = lambda: logged_text(caplog)
    yield


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture
def users(app):
    """The roles: ``member`` (who makes the snapshots and jobs of most tests) and
    ``colleague``, both members of Mac1's public project lb18145-1 and of the private
    lb00000-1 (Mpro); an ``outsider`` (a member of neither) and an ``admin``."""
    for name, password in PASSWORDS.items():
        projects = ("lb00000-1", "lb18145-1") if name in ("member", "colleague") else ()
        factories.user(app, name, password, projects=projects, admin=name == "admin")
    return dict(PASSWORDS)


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
TARGET_TABLES = ("projects", "targets", "proteins")


@dataclass
class TargetSeed:
    """The rows and files one load of the small targets left (see ``small_targets``)."""

    rows: dict[str, list[dict]]
    files: Path  # a DATA_DIR holding only the loaded targets' files
    loaded_at: datetime  # the newest timestamp among the rows
    codes: dict[str, list[str]]


@pytest.fixture(scope="session")
def target_seed(migrated, database_url, redis_url, tmp_path_factory) -> TargetSeed:
    """A public Mac1 with 12 real hits (apo-desolv from the template) and a private Mpro
    with 3 ligands and no apo-desolv PDBs, loaded once per session with the real loader
    into the emptied test database; their rows and files are kept, and the tables emptied
    again."""
    work = tmp_path_factory.mktemp("target-seed")
    app = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": database_url,
            "REDIS_URL": redis_url,
            "DATA_DIR": str(work / "data"),
            "SECRET_KEY": "test-secret-key",
        }
    )
    mac1_codes = sorted(p.stem for p in MAC1_DIR.glob("*.mol"))[:10] + list(MAC1_NEIGHBOURS)
    mac1 = copy_mols(MAC1_DIR, work / "mac1", sorted(set(mac1_codes)), 0)
    mpro = copy_mols(MPRO_DIR, work / "mpro", None, 3)
    with app.app_context():
        _empty_tables(migrated)
        load_target(mac1, "Mac1", "lb18145-1", public=True, template_pdb=MAC1_DIR / "template.pdb")
        load_target(mpro, "Mpro", "lb00000-1", public=False)
        rows = {
            name: [
                dict(row._mapping)
                for row in db.session.execute(
                    select(db.metadata.tables[name]).order_by(db.metadata.tables[name].c.id)
                )
            ]
            for name in TARGET_TABLES
        }
        _empty_tables(migrated)
        db.session.remove()
        db.engine.dispose()
    stamps = [
        as_utc(value)
        for table in rows.values()
        for row in table
        for value in row.values()
        if isinstance(value, datetime)
    ]
    return TargetSeed(
        rows=rows,
        files=work / "data",
        loaded_at=max(stamps),
        codes={"Mac1": sorted(set(mac1_codes)), "Mpro": sorted(p.stem for p in mpro.glob("*.mol"))},
    )


def restore_targets(seed: TargetSeed, data_dir: Path) -> None:
    """Put the seed's rows and files back as a load would leave them now: projects found by
    title (their public flag set as the load sets it) or added, targets and proteins added
    with new ids, every timestamp moved by how long ago the seed was loaded."""
    shutil.copytree(seed.files, data_dir, dirs_exist_ok=True)
    shift = utcnow() - seed.loaded_at

    def moved(row: dict, **changes) -> dict:
        values = {k: v + shift if isinstance(v, datetime) else v for k, v in row.items()}
        values.pop("id")
        return {**values, **changes}

    tables = db.metadata.tables
    projects, targets, proteins = (tables[name] for name in TARGET_TABLES)
    project_ids, target_ids = {}, {}
    for row in seed.rows["projects"]:
        found = db.session.scalar(select(projects.c.id).where(projects.c.title == row["title"]))
        if found is None:
            found = db.session.execute(
                insert(projects).values(moved(row)).returning(projects.c.id)
            ).scalar_one()
        else:
            db.session.execute(
                update(projects)
                .where(projects.c.id == found)
                .values(open_to_public=row["open_to_public"])
            )
        project_ids[row["id"]] = found
    for row in seed.rows["targets"]:
        values = moved(row, project_id=project_ids[row["project_id"]])
        target_ids[row["id"]] = db.session.execute(
            insert(targets).values(values).returning(targets.c.id)
        ).scalar_one()
    db.session.execute(
        insert(proteins),
        [moved(row, target_id=target_ids[row["target_id"]]) for row in seed.rows["proteins"]],
    )
    db.session.commit()


@pytest.fixture
def small_targets(app, users, target_seed) -> dict[str, list[str]]:
    """The small targets of ``target_seed`` as the real loader left them, in this test's
    database and DATA_DIR (put back from the seed: a load with depictions costs ~0.3 s).
    Returns the protein codes of each."""
    with app.app_context():
        restore_targets(target_seed, Path(app.config["DATA_DIR"]))
    return {title: list(codes) for title, codes in target_seed.codes.items()}


@pytest.fixture
def transferred(app, small_targets, squonk, login) -> int:
    """A Mac1 snapshot of the two neighbouring hits whose files are in local_squonk."""
    snapshot_id, _ = transferred_snapshot(app, login)
    return snapshot_id


# --- a live server for browser tests -------------------------------------------------


@pytest.fixture
def live_server(app):
    """The app served by a real werkzeug server in a thread on a free loopback port."""
    from werkzeug.serving import make_server

    port = free_port()
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


def chromium_executable() -> str:
    """Debian's Chromium (never a downloaded browser); skipped without it, failed in CI."""
    executable = os.environ.get("CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(executable).exists():
        if os.environ.get("CI"):
            pytest.fail("Chromium is required in CI (apt-get install chromium)")
        pytest.skip("Chromium is not installed (apt-get install chromium)")
    return executable


@pytest.fixture(scope="session")
def playwright_driver():
    """The one Playwright driver of the run: a second sync driver cannot start while one
    runs, so every browser test launches its browsers from this one."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        yield playwright


@pytest.fixture(scope="session")
def browser(playwright_driver):
    """Debian's Chromium driven by Playwright, with the suite's usual flags."""
    executable = chromium_executable()
    browser = playwright_driver.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
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


@pytest.fixture
def squonk(app, shared_squonk):
    use_squonk(app, shared_squonk)
    return shared_squonk


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
                "JOB_DEFINITIONS": config.get("JOB_DEFINITIONS") or "",
                "JOB_SCHEMAS_DIR": config["JOB_SCHEMAS_DIR"],
                "JOB_DEFINITIONS_DIR": config["JOB_DEFINITIONS_DIR"],
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


# --- ISPyB (a real MariaDB) for MEMBERSHIP_SOURCE=ispyb --------------------------------


@pytest.fixture(scope="session")
def ispyb_url():
    """A database of this run's own on the local MariaDB, with the ISPyB tables (skipped
    without MariaDB, except under CI=1); see tests/ispyb_support.py."""
    from tests.ispyb_support import ispyb_database

    with ispyb_database() as url:
        yield url


@pytest.fixture
def ispyb(app, ispyb_url, small_targets):
    """The app reading memberships from ISPyB, which holds proposals lb00000 (visits 1 and
    2) and lb99999 (visit 1), and people: ``visitor`` on visit lb00000-1, ``stranger`` on
    lb99999-1, ``proposer`` on proposal lb00000 only; each is also one of our users
    (password ``tests.ispyb_support.PASSWORD``). The demo's ``member`` is a member of
    lb00000-1 in our own table only."""
    from app.accounts import ispyb as ispyb_memberships
    from tests.ispyb_support import PASSWORD, Ispyb

    rows = Ispyb(ispyb_url)
    rows.empty()
    rows.proposal("lb", "00000")
    rows.proposal("lb", "99999")
    rows.visit("lb00000", 1)
    rows.visit("lb00000", 2)
    rows.visit("lb99999", 1)
    for login in ("visitor", "stranger", "proposer"):
        rows.person(login)
        factories.user(app, login, PASSWORD)
    rows.on_visit("visitor", "lb00000-1")
    rows.on_visit("stranger", "lb99999-1")
    rows.on_proposal("proposer", "lb00000")
    app.config.update(MEMBERSHIP_SOURCE="ispyb", ISPYB_URL=ispyb_url, ISPYB_CACHE_SECONDS=120)
    ispyb_memberships.forget()
    yield rows
    ispyb_memberships.forget()
    rows.engine.dispose()
