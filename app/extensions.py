"""Extension objects, bound to the application in create_app(); the Redis and queue
accessors."""

from __future__ import annotations

from flask import Flask, current_app
from flask_login import LoginManager
from flask_mailman import Mail
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf.csrf import CSRFProtect
from htmx_flask import Htmx
from redis import Redis
from rq import Queue
from sqlalchemy import MetaData, event
from sqlalchemy.engine import Engine

from app.config import PROJECT_ROOT

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
htmx = Htmx()
mail = Mail()


def init_extensions(app: Flask) -> None:
    db.init_app(app)
    migrate.init_app(app, db, directory=str(PROJECT_ROOT / "migrations"))
    login_manager.init_app(app)
    csrf.init_app(app)
    htmx.init_app(app)
    # Flask-Mailman's name for the From: address; app.jobs.notify reads the server settings
    # when it sends, so a change to them made after create_app (tests) is honoured
    app.config.setdefault("MAIL_DEFAULT_SENDER", app.config.get("MAIL_FROM"))
    mail.init_app(app)


@event.listens_for(Engine, "connect")
def _sqlite_enforces_what_postgresql_enforces(dbapi_connection, _record) -> None:
    """SQLite leaves foreign keys unchecked unless asked, per connection; WAL lets the
    web processes read while a worker writes."""
    module = type(dbapi_connection).__module__
    if not module.startswith("sqlite3"):
        return
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


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
