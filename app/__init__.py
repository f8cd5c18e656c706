"""Fragalysis Job Launcher: the Flask application factory."""

from __future__ import annotations

from flask import Flask

from app.config import INSTANCE_DIR, PROJECT_ROOT, resolve


def create_app(config: dict | None = None) -> Flask:
    """Build the application: defaults, then the environment, then ``config``."""
    app = Flask(
        __name__,
        instance_path=str(INSTANCE_DIR),
        template_folder=str(PROJECT_ROOT / "templates"),
        static_folder=str(PROJECT_ROOT / "static"),
    )
    from app import log_redaction

    log_redaction.install()
    app.config.update(resolve(config))

    from app.jobs import definitions

    # A bad job_schemas file stops start-up, naming the file, the path in it and why (and,
    # with definitions from files, one that does not fit its definition)
    definitions.init_app(app)

    from app import cli, health, web
    from app.accounts import service as accounts
    from app.accounts import views as accounts_views
    from app.admin import views as admin_views
    from app.csets import api as csets_api
    from app.csets import views as csets_views
    from app.extensions import init_extensions
    from app.jobs import api as jobs_api
    from app.jobs import callbacks, hooks
    from app.jobs import views as jobs_views
    from app.targets import api as targets_api
    from app.targets import views as targets_views
    from app.transfers import api as transfers_api
    from app.transfers import views as transfers_views

    init_extensions(app)
    web.init_app(app)
    accounts.init_app(app)
    hooks.register_builtin_hooks(app)
    for blueprint in (
        accounts_views.bp,
        targets_views.bp,
        targets_views.snapshots_bp,
        targets_api.bp,
        transfers_views.bp,
        transfers_api.bp,
        jobs_views.bp,
        jobs_api.bp,
        callbacks.bp,
        csets_views.bp,
        csets_api.bp,
        admin_views.bp,
        health.bp,
    ):
        app.register_blueprint(blueprint)
    cli.register(app)
    return app
