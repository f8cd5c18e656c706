"""Every setting, declared once with its default: defaults -> environment -> the mapping
passed to ``create_app``.

The embedded default (``make run`` with nothing configured) keeps everything under the
Flask instance folder. Only in embedded mode (no ``DATABASE_URL`` anywhere) are two files of
that folder read: ``secret_key`` and ``runtime.json``, in which ``app.embedded`` records where
its Redis and local Squonk2 listen, so that ``flask --app app ...`` commands run in the
project directory act on the same services. Only ``app.embedded`` writes them.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.csets.validator import DEFAULT_MAX_BYTES, DEFAULT_MAX_RECORDS

log = logging.getLogger(__name__)

PROJECT_ROOT = Path(__file__).resolve().parent.parent
INSTANCE_DIR = Path(os.environ.get("LAUNCHER_INSTANCE_DIR", PROJECT_ROOT / "instance"))
RUNTIME_FILE = INSTANCE_DIR / "runtime.json"
SECRET_KEY_FILE = INSTANCE_DIR / "secret_key"


def as_bool(value: str) -> bool:
    return value.strip().lower() in {"1", "true", "yes", "on"}


def as_int_list(value: str) -> list[int]:
    return [int(v) for v in value.split(",") if v.strip()]


def as_megabytes(value: str) -> int:
    return int(value) * 1024 * 1024


def as_seconds(name: str) -> Callable[[Any], int]:
    """A parser of a whole, non-negative number of seconds whose error names the setting."""

    def parse(value: Any) -> int:
        try:
            seconds = int(str(value).strip())
        except ValueError:
            seconds = -1
        if seconds < 0:
            raise RuntimeError(f"{name} must be a whole number of seconds (0 or more)")
        return seconds

    return parse


def sqlalchemy_url(url: str) -> str:
    """A database URL as SQLAlchemy wants it: PostgreSQL through psycopg 3 (the driver we
    install), whichever spelling (``postgres://``, ``postgresql://``) was configured."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def plain_url(url: str) -> str:
    """The inverse of :func:`sqlalchemy_url`: what ``DATABASE_URL`` would say."""
    prefix = "postgresql+psycopg://"
    return "postgresql://" + url[len(prefix) :] if url.startswith(prefix) else url


@dataclass(frozen=True)
class Setting:
    name: str
    default: Any
    env: str | None = None  # the environment variable, when it differs from ``name``
    parse: Callable[[str], Any] = str
    doc: str = ""


SETTINGS: tuple[Setting, ...] = (
    Setting("SECRET_KEY", None, doc="signs sessions and derives callback secrets"),
    Setting("SQLALCHEMY_DATABASE_URI", None, env="DATABASE_URL", parse=sqlalchemy_url),
    Setting("SQLALCHEMY_ENGINE_OPTIONS", {"pool_pre_ping": True}, parse=json.loads),
    Setting("REDIS_URL", None),
    Setting("QUEUE_NAME", "launcher"),
    Setting("DATA_DIR", str(INSTANCE_DIR / "data")),
    Setting("EXTERNAL_URL", "http://127.0.0.1:5000", doc="where Squonk2 sends callbacks"),
    Setting("SQUONK2_DMAPI_URL", None),
    Setting("SQUONK2_UI_URL", None),
    Setting("SQUONK2_TOKEN", None),
    Setting("SQUONK2_EMBEDDED", False, parse=as_bool, doc="a local Squonk2 we may create in"),
    Setting("SQUONK2_VERIFY_SSL", True, parse=as_bool),
    Setting("SQUONK2_KEYCLOAK_URL", None),
    Setting("SQUONK2_KEYCLOAK_REALM", None),
    Setting("SQUONK2_KEYCLOAK_CLIENT_ID", None),
    Setting("SQUONK2_KEYCLOAK_CLIENT_SECRET", None),
    Setting("SQUONK2_USERNAME", None),
    Setting("SQUONK2_PASSWORD", None),
    Setting("SQUONK2_PRODUCT_ID", None, doc="Squonk2 tier product new projects are charged to"),
    Setting(
        "SQUONK2_RETRY_INTERVALS",
        [5, 15, 45],
        parse=as_int_list,
        doc="seconds between retries of a Squonk2 call that failed transiently",
    ),
    Setting(
        "TRANSFER_STALE_SECONDS",
        300,
        parse=int,
        doc="a STARTED transfer whose heartbeat is older was orphaned by a dead worker",
    ),
    Setting("FRAME_ANCESTORS", "'self'", doc="who may frame the pages (Fragalysis' origin)"),
    Setting("SESSION_COOKIE_SECURE", False, parse=as_bool),
    Setting(
        "CALLBACK_RATE_LIMIT",
        600,
        parse=int,
        doc="callbacks with an unknown secret answered 404 per client address per minute, "
        "then 429 (genuine callbacks always get through; 0: no limit)",
    ),
    Setting(
        "TRUSTED_PROXIES",
        0,
        parse=int,
        doc="how many reverse proxies in front set X-Forwarded-For/-Proto/-Host (ProxyFix); "
        "0 trusts no such header",
    ),
    Setting("RECONCILE_CRON", True, parse=as_bool, doc="this worker runs the reconciler"),
    Setting("RECONCILE_INTERVAL", 60, parse=int, doc="seconds between reconciler passes"),
    Setting(
        "RECONCILE_QUIET_SECONDS",
        120,
        parse=int,
        doc="how long a job may be silent before the reconciler asks Squonk2",
    ),
    Setting(
        "IMPORT_STALE_SECONDS",
        900,
        parse=int,
        doc="an import still UPLOADING after this long lost its worker",
    ),
    Setting("JOB_SCHEMAS_DIR", str(PROJECT_ROOT / "job_schemas")),
    Setting(
        "JOB_DEFINITIONS",
        None,
        doc="where the launchable jobs' definitions come from: 'squonk2' (get_job_by_version, "
        "cached in the database) or 'files' (JOB_DEFINITIONS_DIR, read at start-up); "
        "default: 'squonk2' when SQUONK2_DMAPI_URL is set",
    ),
    Setting(
        "JOB_DEFINITIONS_DIR",
        str(PROJECT_ROOT / "local_squonk" / "jobs"),
        doc="the DataManagerJobDefinition files read when JOB_DEFINITIONS is 'files'",
    ),
    Setting(
        "JOB_DEFINITIONS_REFRESH_SECONDS",
        3600,
        parse=as_seconds("JOB_DEFINITIONS_REFRESH_SECONDS"),
        doc="the reconciler fetches the cached definitions again when they are older (0: never)",
    ),
    Setting(
        "JOB_DEFINITIONS_RETRY_SECONDS",
        30,
        parse=as_seconds("JOB_DEFINITIONS_RETRY_SECONDS"),
        doc="after Squonk2 could not give a definition, how long before asking again",
    ),
    Setting("PROTEINS_PER_PAGE", 50, parse=int),
    Setting("MOLECULES_PER_PAGE", 50, parse=int),
    Setting("JOBS_PER_PAGE", 50, parse=int),
    Setting("MAX_CONTENT_LENGTH", 64 * 1024 * 1024, env="MAX_UPLOAD_MB", parse=as_megabytes),
    Setting("CSET_MAX_BYTES", DEFAULT_MAX_BYTES, parse=int, doc="largest computed-set SDF"),
    Setting("CSET_MAX_RECORDS", DEFAULT_MAX_RECORDS, parse=int, doc="most molecules in a set"),
    Setting(
        "CSET_BACKGROUND_MOLECULES",
        2000,
        parse=int,
        doc="an upload of more molecules is validated and stored by a background task",
    ),
    Setting("PASSWORD_HASH_METHOD", "scrypt", doc="werkzeug's password hash method"),
    # Log-in through an OpenID provider (Keycloak), app.accounts.oidc; off unless OIDC_ISSUER
    Setting(
        "OIDC_ISSUER",
        None,
        doc="the OpenID provider's issuer, e.g. https://keycloak.example.org/realms/xchem "
        "(its settings are read from <issuer>/.well-known/openid-configuration)",
    ),
    Setting("OIDC_CLIENT_ID", None, doc="this application's client id at the provider"),
    Setting("OIDC_CLIENT_SECRET", None, doc="the client's secret (a confidential client)"),
    Setting("OIDC_SCOPES", "openid profile email", doc="scopes asked for; openid is required"),
    Setting(
        "OIDC_ADMIN_ROLE",
        None,
        doc="a role or group (realm_access.roles, resource_access.<client id>.roles, roles or "
        "groups claim of the ID token) that makes the user an admin; unset: admins are local",
    ),
    Setting("OIDC_PROVIDER_NAME", "Diamond (Keycloak)", doc="shown on the log-in button"),
    Setting(
        "LOCAL_LOGIN",
        True,
        parse=as_bool,
        doc="the username/password form; false (only with OIDC_ISSUER) leaves the provider",
    ),
    # Project memberships: the local table (app.accounts.memberships) or ISPyB
    Setting(
        "MEMBERSHIP_SOURCE",
        "local",
        doc="where project memberships come from: local (the project_members table an admin "
        "fills) or ispyb (the proposals and visits ISPyB links to the user's login)",
    ),
    Setting(
        "ISPYB_URL",
        None,
        doc="ISPyB's database, e.g. mysql+pymysql://user:password@ispyb-host/ispyb; "
        "required when MEMBERSHIP_SOURCE is ispyb",
    ),
    Setting(
        "ISPYB_CACHE_SECONDS",
        120,
        parse=as_seconds("ISPYB_CACHE_SECONDS"),
        doc="how long a web process keeps the visits and proposals ISPyB gave for a user",
    ),
    Setting("WTF_CSRF_ENABLED", True, parse=as_bool),
    # The e-mail a user who asked for it gets when a job ends (app.jobs.notify)
    Setting(
        "MAIL_SERVER",
        None,
        doc="the SMTP server job-ended e-mails go through; unset: the worker logs each "
        "e-mail (subject, recipient, links) instead of sending it",
    ),
    Setting("MAIL_PORT", 25, parse=int),
    Setting("MAIL_USE_TLS", False, parse=as_bool, doc="STARTTLS after connecting"),
    Setting("MAIL_USE_SSL", False, parse=as_bool, doc="SMTP over TLS from the start"),
    Setting("MAIL_USERNAME", None),
    Setting("MAIL_PASSWORD", None),
    Setting(
        "MAIL_FROM",
        "Fragalysis Job Launcher <noreply@localhost>",
        doc="the From: address of the e-mails",
    ),
    Setting(
        "JOB_EVENTS_POLL_SECONDS",
        2,
        parse=float,
        doc="the job page's status poll asks Squonk2 for a running job's task events at "
        "most once per this many seconds per job (0: on every poll)",
    ),
)

MEMBERSHIP_SOURCES = ("local", "ispyb")


def check_membership_settings(values: dict[str, Any]) -> None:
    """Stop start-up, naming the setting, when the membership settings cannot work."""
    source = values["MEMBERSHIP_SOURCE"] = str(values["MEMBERSHIP_SOURCE"]).strip().lower()
    if source not in MEMBERSHIP_SOURCES:
        raise RuntimeError(
            f"MEMBERSHIP_SOURCE must be one of {', '.join(MEMBERSHIP_SOURCES)}, not {source!r}"
        )
    cache_seconds = as_seconds("ISPYB_CACHE_SECONDS")
    values["ISPYB_CACHE_SECONDS"] = cache_seconds(values["ISPYB_CACHE_SECONDS"])
    if source != "ispyb":
        return
    url = (values["ISPYB_URL"] or "").strip()
    if not url:
        raise RuntimeError(
            "ISPYB_URL must be set when MEMBERSHIP_SOURCE is ispyb "
            "(e.g. mysql+pymysql://user:password@ispyb-host/ispyb)"
        )
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        backend = make_url(url).get_backend_name()
    except ArgumentError:
        backend = None
    if backend not in ("mysql", "mariadb"):
        # the URL itself is not repeated: it may carry a password
        raise RuntimeError(
            "ISPYB_URL must be a MySQL/MariaDB URL such as "
            "mysql+pymysql://user:password@ispyb-host/ispyb"
        )


LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "::1")


def check_oidc_settings(values: dict[str, Any]) -> None:
    """Stop start-up, naming the setting, when the OIDC log-in settings cannot work.

    OIDC is on when ``OIDC_ISSUER`` is set; the client id and secret are then required.
    """
    from urllib.parse import urlsplit

    issuer = (values["OIDC_ISSUER"] or "").strip().rstrip("/") or None
    values["OIDC_ISSUER"] = issuer
    local_login = values["LOCAL_LOGIN"]
    values["LOCAL_LOGIN"] = as_bool(local_login) if isinstance(local_login, str) else local_login
    name = (values["OIDC_PROVIDER_NAME"] or "").strip()
    values["OIDC_PROVIDER_NAME"] = name or "Diamond (Keycloak)"
    if issuer is None:
        if not values["LOCAL_LOGIN"]:
            raise RuntimeError(
                "LOCAL_LOGIN may be false only when OIDC_ISSUER is set: nobody could log in"
            )
        return
    parts = urlsplit(issuer)
    if not parts.hostname or not (
        parts.scheme == "https" or (parts.scheme == "http" and parts.hostname in LOOPBACK_HOSTS)
    ):
        raise RuntimeError(
            "OIDC_ISSUER must be an https URL such as https://keycloak.example.org/realms/xchem "
            "(http only on loopback)"
        )
    for name in ("OIDC_CLIENT_ID", "OIDC_CLIENT_SECRET"):
        if not (values[name] or "").strip():
            raise RuntimeError(f"{name} must be set when OIDC_ISSUER is set")
    if "openid" not in str(values["OIDC_SCOPES"] or "").split():
        raise RuntimeError("OIDC_SCOPES must include openid (e.g. openid profile email)")


def _runtime() -> dict[str, str]:
    """Service addresses the embedded runner wrote, if it did."""
    try:
        return json.loads(RUNTIME_FILE.read_text())
    except (OSError, ValueError):
        return {}


def resolve(config: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None):
    """The Flask config mapping: defaults, then the environment, then ``config``."""
    environ = os.environ if environ is None else environ
    config = dict(config or {})
    embedded = not environ.get("DATABASE_URL") and not config.get("SQLALCHEMY_DATABASE_URI")
    sources = [environ]
    if embedded:
        sources.append(_runtime())
    values: dict[str, Any] = {}
    for setting in SETTINGS:
        raw = next(
            (s[setting.env or setting.name] for s in sources if s.get(setting.env or setting.name)),
            None,
        )
        values[setting.name] = setting.default if raw is None else setting.parse(raw)
    values.update(config)
    check_membership_settings(values)
    check_oidc_settings(values)

    if embedded and not values["SQLALCHEMY_DATABASE_URI"]:
        values["SQLALCHEMY_DATABASE_URI"] = f"sqlite:///{INSTANCE_DIR / 'launcher.db'}"
    values["SQLALCHEMY_DATABASE_URI"] = sqlalchemy_url(values["SQLALCHEMY_DATABASE_URI"])
    if not values["SECRET_KEY"]:
        values["SECRET_KEY"] = _embedded_secret_key(embedded)

    # Cross-site framing (Fragalysis on another origin) needs cookies a frame may send:
    # SameSite=None; Secure, and Partitioned (CHIPS), the only kind a browser that blocks
    # third-party cookies (Chromium's default) keeps in a frame of another site. The cookie
    # then lives in Fragalysis' partition: a log-in in the frame is not one in a tab.
    ancestors = (values["FRAME_ANCESTORS"] or "").strip() or "'self'"
    cross_site = ancestors not in {"'self'", "'none'"}
    values["FRAME_ANCESTORS"] = ancestors
    values.setdefault("SESSION_COOKIE_HTTPONLY", True)
    values.setdefault("SESSION_COOKIE_SAMESITE", "None" if cross_site else "Lax")
    values["SESSION_COOKIE_SECURE"] = cross_site or values["SESSION_COOKIE_SECURE"]
    values.setdefault("SESSION_COOKIE_PARTITIONED", cross_site)
    # Flask-Login's remember cookie (never set today: no log-in asks to be remembered) has
    # no partitioned setting; app.web partitions it, and any other cookie, like the session's
    values.setdefault("REMEMBER_COOKIE_SAMESITE", "None" if cross_site else "Lax")
    values.setdefault("REMEMBER_COOKIE_SECURE", cross_site)
    values.setdefault("WTF_CSRF_TIME_LIMIT", None)
    # CSRF is checked in one before_request hook so bearer-token API calls can skip it
    values.setdefault("WTF_CSRF_CHECK_DEFAULT", False)
    return values


def _embedded_secret_key(embedded: bool) -> str:
    if not embedded:
        raise RuntimeError("SECRET_KEY must be set (it signs sessions and callback URLs)")
    try:
        return SECRET_KEY_FILE.read_text().strip()
    except OSError:
        # `flask --app app ...` before the first `make run`: nothing to share a key with
        log.warning("no %s yet: using a key for this process only", SECRET_KEY_FILE)
        return secrets.token_urlsafe(48)


def ensure_secret_key_file() -> str:
    """The embedded default's stable secret (created once, 0600). Only app.embedded calls it."""
    try:
        return SECRET_KEY_FILE.read_text().strip()
    except OSError:
        INSTANCE_DIR.mkdir(parents=True, exist_ok=True)
        key = secrets.token_urlsafe(48)
        SECRET_KEY_FILE.write_text(key)
        SECRET_KEY_FILE.chmod(0o600)
        return key
