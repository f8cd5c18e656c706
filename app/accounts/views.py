"""Log in and out: a local account, or through the OpenID provider (Keycloak)."""

from __future__ import annotations

import logging

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_login import current_user, login_user, logout_user
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, Length

from app.accounts import oidc
from app.accounts.service import ACCOUNT_DISABLED, end_sessions
from app.extensions import db
from app.models import User
from app.web import safe_next

log = logging.getLogger(__name__)
bp = Blueprint("auth", __name__)


SESSION_EXPIRED = "Your session expired, please try again."
LOCAL_LOGIN_OFF = (
    "Log-in with a username and password is switched off here: log in with {provider}."
)


class LoginForm(FlaskForm):
    username = StringField("Username", validators=[DataRequired(), Length(max=150)])
    password = PasswordField("Password", validators=[DataRequired(), Length(max=200)])


def login_page(form: LoginForm | None = None, status: int = 200):
    """The login page: the provider's button (when OIDC is configured) above the local form
    (unless LOCAL_LOGIN is false)."""
    page = render_template(
        "auth/login.html",
        form=form or LoginForm(),
        oidc_provider=oidc.provider_name() if oidc.is_configured() else None,
        local_login=current_app.config["LOCAL_LOGIN"],
    )
    return page, status


@bp.route("/login", methods=["GET", "POST"])
def login():
    """Show the login form, or log the user in."""
    if current_user.is_authenticated:
        return redirect(safe_next(request.args.get("next")))
    if g.get("login_refused") and request.method == "GET":
        # this browser's cookie named a session that has ended or a disabled account
        flash(g.login_refused, "error")
    if request.method == "POST" and not current_app.config["LOCAL_LOGIN"]:
        flash(LOCAL_LOGIN_OFF.format(provider=oidc.provider_name()), "error")
        return login_page(status=403)
    form = LoginForm()
    if form.validate_on_submit():
        user = db.session.scalar(select(User).where(User.username == form.username.data))
        if user is not None and user.check_password(form.password.data):
            if not user.is_active:
                log.info("refused login of disabled user %s", user.username)
                form.username.errors.append(ACCOUNT_DISABLED)
                return login_page(form)
            login_user(user)
            session.pop(oidc.SESSION_FLAG, None)
            log.info("user %s logged in", user.username)
            return redirect(safe_next(request.args.get("next")))
        log.info("failed login for %r", form.username.data)
        form.password.errors.append("Unknown user or wrong password")
    elif request.method == "POST" and "csrf_token" in form.errors:
        # the form's token is missing or from an expired session: say so, keep the name
        flash(SESSION_EXPIRED, "error")
        return login_page(form, 400)
    return login_page(form)


@bp.get("/auth/oidc/login")
def oidc_login():
    """Send the browser to the OpenID provider's log-in page (``next``: where to land)."""
    if not oidc.is_configured():
        abort(404)
    next_url = safe_next(request.args.get("next"))
    if current_user.is_authenticated:
        return redirect(next_url)
    try:
        return oidc.start_login(next_url, embed=g.embed)
    except oidc.LoginFailed as exc:
        flash(str(exc), "error")
        return login_page(status=exc.status)


@bp.get("/auth/oidc/callback")
def oidc_callback():
    """Where the provider sends the browser back: log the user in, or say why not."""
    if not oidc.is_configured():
        abort(404)
    if current_user.is_authenticated:  # the back button after logging in
        return redirect(url_for("targets.index"))
    try:
        identity, remembered = oidc.finish_login()
        user = oidc.user_for(identity)
    except oidc.LoginFailed as exc:
        flash(str(exc), "error")
        return login_page(status=exc.status)
    if not user.is_active:
        log.info("refused OpenID login of disabled user %s", user.username)
        flash(ACCOUNT_DISABLED, "error")
        return login_page(status=403)
    login_user(user)
    session[oidc.SESSION_FLAG] = True
    if remembered.get("embed"):
        session["embed"] = True
    log.info("user %s logged in through %s", user.username, oidc.provider_name())
    return redirect(safe_next(remembered.get("next")))


@bp.post("/logout")
def logout():
    """Log out (POST with the CSRF token, so a link elsewhere cannot log you out).

    Ends the user's session server-side: a copy of the cookie is refused from now on, and
    so are the user's sessions in other browsers (one generation per user)."""
    through_provider = session.pop(oidc.SESSION_FLAG, False)
    end_sessions(current_user._get_current_object())
    logout_user()
    flash("You are logged out, in this browser and every other.")
    if through_provider and oidc.is_configured():
        # the provider's own session too (RP-initiated logout), or its log-in page would
        # log this browser straight back in; it sends the browser back to our login page
        provider_logout = oidc.end_session_url()
        if provider_logout:
            return redirect(provider_logout)
    return redirect(url_for("auth.login"))
