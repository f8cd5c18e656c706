"""Settings from the environment, in one place.

The embedded default (``make run`` with nothing configured) keeps everything under the
Flask instance folder: a SQLite database, the target files, and ``runtime.json`` in which
the embedded runner records where its Redis and local Squonk2 listen, so that
``flask --app app ...`` commands run in the project directory act on the same services.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
INSTANCE_DIR = Path(os.environ.get("LAUNCHER_INSTANCE_DIR", PROJECT_ROOT / "instance"))
RUNTIME_FILE = INSTANCE_DIR / "runtime.json"


def _runtime() -> dict[str, str]:
    """Service addresses the embedded runner wrote, if it did."""
    try:
        return json.loads(RUNTIME_FILE.read_text())
    except (OSError, ValueError):
        return {}


def _bool(value: str | None, default: bool = False) -> bool:
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _secret_key() -> str:
    """A stable secret for the embedded default; production must set SECRET_KEY."""
    if os.environ.get("SECRET_KEY"):
        return os.environ["SECRET_KEY"]
    path = INSTANCE_DIR / "secret_key"
    try:
        return path.read_text().strip()
    except OSError:
        import secrets

        INSTANCE_DIR.mkdir(parents=True, exist_ok=True)
        key = secrets.token_urlsafe(48)
        path.write_text(key)
        path.chmod(0o600)
        return key


def from_environment() -> dict:
    """Build the Flask config mapping from environment variables."""
    env = os.environ
    runtime = _runtime()

    def setting(name: str, default: str | None = None) -> str | None:
        return env.get(name) or runtime.get(name) or default

    frame_ancestors = env.get("FRAME_ANCESTORS", "'self'").strip() or "'self'"
    cross_site_embedding = frame_ancestors not in {"'self'", "'none'"}
    database_url = env.get("DATABASE_URL") or f"sqlite:///{INSTANCE_DIR / 'launcher.db'}"
    if database_url.startswith("postgres://"):
        database_url = "postgresql://" + database_url[len("postgres://") :]
    if database_url.startswith("postgresql://"):
        # psycopg 3 is the driver we install
        database_url = "postgresql+psycopg://" + database_url[len("postgresql://") :]

    return {
        "SECRET_KEY": _secret_key(),
        "SQLALCHEMY_DATABASE_URI": database_url,
        "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": True},
        "REDIS_URL": setting("REDIS_URL"),
        "QUEUE_NAME": env.get("QUEUE_NAME", "launcher"),
        "DATA_DIR": env.get("DATA_DIR", str(INSTANCE_DIR / "data")),
        "EXTERNAL_URL": setting("EXTERNAL_URL", "http://127.0.0.1:5000"),
        "SQUONK2_DMAPI_URL": setting("SQUONK2_DMAPI_URL"),
        "SQUONK2_UI_URL": setting("SQUONK2_UI_URL"),
        "SQUONK2_TOKEN": setting("SQUONK2_TOKEN"),
        "SQUONK2_EMBEDDED": _bool(setting("SQUONK2_EMBEDDED"), False),
        "SQUONK2_VERIFY_SSL": _bool(env.get("SQUONK2_VERIFY_SSL"), True),
        "SQUONK2_KEYCLOAK_URL": env.get("SQUONK2_KEYCLOAK_URL"),
        "SQUONK2_KEYCLOAK_REALM": env.get("SQUONK2_KEYCLOAK_REALM"),
        "SQUONK2_KEYCLOAK_CLIENT_ID": env.get("SQUONK2_KEYCLOAK_CLIENT_ID"),
        "SQUONK2_KEYCLOAK_CLIENT_SECRET": env.get("SQUONK2_KEYCLOAK_CLIENT_SECRET"),
        "SQUONK2_USERNAME": env.get("SQUONK2_USERNAME"),
        "SQUONK2_PASSWORD": env.get("SQUONK2_PASSWORD"),
        # Squonk2 "tier product" new projects are charged to (embedded default: the test id)
        "SQUONK2_PRODUCT_ID": env.get("SQUONK2_PRODUCT_ID"),
        # Seconds between retries of a Squonk2 call that failed transiently
        "SQUONK2_RETRY_INTERVALS": [
            int(v) for v in env.get("SQUONK2_RETRY_INTERVALS", "5,15,45").split(",") if v.strip()
        ],
        # A STARTED transfer whose heartbeat is older than this was orphaned by a dead worker
        "TRANSFER_STALE_SECONDS": int(env.get("TRANSFER_STALE_SECONDS", "300")),
        "FRAME_ANCESTORS": frame_ancestors,
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "None" if cross_site_embedding else "Lax",
        "SESSION_COOKIE_SECURE": cross_site_embedding or _bool(env.get("SESSION_COOKIE_SECURE")),
        "REMEMBER_COOKIE_SAMESITE": "None" if cross_site_embedding else "Lax",
        "REMEMBER_COOKIE_SECURE": cross_site_embedding,
        "WTF_CSRF_TIME_LIMIT": None,
        # CSRF is checked in one before_request hook so bearer-token API calls can skip it
        "WTF_CSRF_CHECK_DEFAULT": False,
        # Squonk2 callbacks accepted per client address per minute (0: no limit)
        "CALLBACK_RATE_LIMIT": int(env.get("CALLBACK_RATE_LIMIT", "600")),
        # The reconciler: how often it runs, and how long a job may be silent before it asks
        "RECONCILE_INTERVAL": int(env.get("RECONCILE_INTERVAL", "60")),
        "RECONCILE_QUIET_SECONDS": int(env.get("RECONCILE_QUIET_SECONDS", "120")),
        # An import still UPLOADING after this long lost its worker: the user may retry it
        "IMPORT_STALE_SECONDS": int(env.get("IMPORT_STALE_SECONDS", "900")),
        "JOB_SCHEMAS_DIR": env.get("JOB_SCHEMAS_DIR", str(PROJECT_ROOT / "job_schemas")),
        "PROTEINS_PER_PAGE": int(env.get("PROTEINS_PER_PAGE", "50")),
        "MAX_CONTENT_LENGTH": int(env.get("MAX_UPLOAD_MB", "64")) * 1024 * 1024,
    }
