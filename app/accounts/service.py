"""Who is calling: session users, bearer tokens, the default-deny hook and CSRF."""

from __future__ import annotations

from flask import Flask, current_app, g, jsonify, redirect, request, url_for

from app.access import is_public_endpoint, require_login_for_request
from app.extensions import csrf, db, login_manager
from app.models import ApiToken, User
from app.models.base import utcnow

UNSAFE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}


def bearer_token() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return None


@login_manager.user_loader
def load_user(user_id: str) -> User | None:
    return db.session.get(User, int(user_id)) if user_id.isdigit() else None


@login_manager.request_loader
def load_user_from_bearer(_request) -> User | None:
    token = bearer_token()
    if token is None:
        return None
    row = db.session.scalar(db.select(ApiToken).where(ApiToken.token_hash == ApiToken.hash(token)))
    if row is None:
        return None
    row.last_used = utcnow()
    db.session.commit()
    g.bearer_authenticated = True
    return row.user


@login_manager.unauthorized_handler
def unauthorized():
    if request.path.startswith("/api/"):
        return jsonify({"error": "Please log in (session cookie or bearer token)"}), 401
    login_url = url_for("auth.login", next=request.full_path.rstrip("?"))
    if request.htmx:
        # htmx 2 does not swap a 401; HX-Redirect sends the whole page to the login form
        response = jsonify({"error": "Please log in"})
        response.status_code = 401
        response.headers["HX-Redirect"] = login_url
        return response
    return redirect(login_url)


def init_app(app: Flask) -> None:
    login_manager.login_view = "auth.login"
    login_manager.login_message = "Please log in to continue."

    @app.before_request
    def default_deny_and_csrf():
        denied = require_login_for_request()
        if denied is not None:
            return denied
        # A request authenticated by a bearer token carries no cookie, so it cannot be
        # forged cross-site; every cookie-authenticated change needs the CSRF token.
        if (
            request.method in UNSAFE_METHODS
            and not is_public_endpoint(request.endpoint)
            and not g.get("bearer_authenticated")
            and current_app.config.get("WTF_CSRF_ENABLED", True)
        ):
            csrf.protect()
        return None
