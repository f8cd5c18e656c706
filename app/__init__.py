"""Fragalysis Job Launcher: the Flask application factory."""

from __future__ import annotations

import logging
from importlib.resources import files
from pathlib import Path

from flask import Flask, g, jsonify, render_template, request, send_from_directory, session
from flask_wtf.csrf import CSRFError

from app.config import INSTANCE_DIR, PROJECT_ROOT, from_environment
from app.extensions import csrf, db, login_manager, migrate

log = logging.getLogger(__name__)

HTMX_DIR = Path(str(files("js_lib_htmx") / "static" / "htmx"))


def create_app(config: dict | None = None) -> Flask:
    """Build the application: settings from the environment, overridden by ``config``."""
    app = Flask(
        __name__,
        instance_path=str(INSTANCE_DIR),
        template_folder=str(PROJECT_ROOT / "templates"),
        static_folder=str(PROJECT_ROOT / "static"),
    )
    from app import log_redaction

    log_redaction.install()
    app.config.update(from_environment())
    if config:
        app.config.update(config)

    from app.launcher import load_job_schemas

    # A bad job_schemas file stops start-up, naming the file, the path in it and why
    app.extensions["job_schemas"] = load_job_schemas(Path(app.config["JOB_SCHEMAS_DIR"]))

    db.init_app(app)
    migrate.init_app(app, db, directory=str(PROJECT_ROOT / "migrations"))
    login_manager.init_app(app)
    csrf.init_app(app)

    from app import auth_hooks, cli, htmx
    from app.views import (
        admin,
        api,
        auth,
        callbacks,
        computed_sets,
        health,
        jobs,
        snapshots,
        targets,
        transfers,
    )

    auth_hooks.init_app(app)
    htmx.init_app(app)
    for blueprint in (
        auth.bp,
        targets.bp,
        snapshots.bp,
        transfers.bp,
        jobs.bp,
        api.bp,
        health.bp,
        admin.bp,
        computed_sets.bp,
        callbacks.bp,
    ):
        app.register_blueprint(blueprint)
    cli.register(app)

    @app.get("/static/vendor/htmx/<path:filename>", endpoint="vendor_static")
    def vendor_static(filename: str):
        """htmx 2 served from the django-js-lib-htmx package (no CDN)."""
        response = send_from_directory(HTMX_DIR, filename, max_age=86400)
        return response

    @app.before_request
    def remember_embed_mode():
        # `embed=1` (Fragalysis iframe) drops the site chrome for the rest of the session
        flag = request.args.get("embed")
        if flag == "1":
            session["embed"] = True
        elif flag == "0":
            session.pop("embed", None)
        g.embed = bool(session.get("embed"))

    @app.after_request
    def security_headers(response):
        ancestors = app.config["FRAME_ANCESTORS"]
        response.headers.setdefault("Content-Security-Policy", f"frame-ancestors {ancestors}")
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        return response

    @app.template_filter("elapsed")
    def elapsed(job) -> str:
        """How long a job has run (or ran): from its start, or its request, to now or its end."""
        from app.models.base import as_utc, utcnow

        start = as_utc(job.started or job.launched or job.created)
        end = as_utc(job.finished) if job.finished else utcnow()
        seconds = max(0, int((end - start).total_seconds()))
        hours, rest = divmod(seconds, 3600)
        return (f"{hours}h " if hours else "") + f"{rest // 60}m {rest % 60:02d}s"

    register_error_handlers(app)
    return app


def wants_json() -> bool:
    return request.path.startswith("/api/") or request.accept_mimetypes.best == "application/json"


def register_error_handlers(app: Flask) -> None:
    messages = {
        400: "Bad request",
        401: "Please log in",
        403: "You are not allowed to do that",
        404: "Not found",
        405: "Method not allowed",
        409: "Conflict",
        413: "The upload is too large",
    }

    def handle(error):
        code = getattr(error, "code", 500) or 500
        description = getattr(error, "description", None)
        text = messages.get(code, "Something went wrong")
        if isinstance(error, CSRFError):
            text = "The form expired or is missing its CSRF token; reload the page and retry"
        elif code == 400 and description and not str(description).startswith("The browser"):
            text = str(description)
        if wants_json():
            return jsonify({"error": text}), code
        return render_template("error.html", code=code, message=text), code

    for code in messages:
        app.register_error_handler(code, handle)
    app.register_error_handler(CSRFError, handle)
