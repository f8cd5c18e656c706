"""Extension objects, bound to the application in create_app()."""

from __future__ import annotations

from flask import current_app
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf.csrf import CSRFProtect
from redis import Redis
from rq import Queue
from sqlalchemy import MetaData

# Stable constraint names so Alembic migrations are identical on SQLite and PostgreSQL
naming_convention = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

db = SQLAlchemy(metadata=MetaData(naming_convention=naming_convention))
migrate = Migrate()
login_manager = LoginManager()
csrf = CSRFProtect()


def redis_connection() -> Redis:
    """The Redis connection of this app, created once per app."""
    conn = current_app.extensions.get("launcher_redis")
    if conn is None:
        url = current_app.config.get("REDIS_URL")
        if not url:
            raise RuntimeError("REDIS_URL is not configured (start the app with `make run`)")
        conn = Redis.from_url(url)
        current_app.extensions["launcher_redis"] = conn
    return conn


def queue() -> Queue:
    """The RQ queue our tasks go to. RQ's default serializer: its cron scheduler (the
    reconciler) enqueues with it, and our tasks take ids only, never objects."""
    return Queue(current_app.config["QUEUE_NAME"], connection=redis_connection())


def enqueue_squonk_task(func: str, row_id: int, on_failure: str, timeout: int):
    """Queue a task that talks to Squonk2: retried with SQUONK2_RETRY_INTERVALS on transient
    failures, with a failure callback that speaks after the last attempt."""
    from rq import Retry
    from rq.job import Callback

    intervals = current_app.config["SQUONK2_RETRY_INTERVALS"]
    return queue().enqueue(
        func,
        row_id,
        retry=Retry(max=len(intervals), interval=intervals) if intervals else None,
        on_failure=Callback(on_failure),
        job_timeout=timeout,
    )
