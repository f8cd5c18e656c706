"""Log in and out: a local account, or through the OpenID provider (Keycloak); the user's
settings page."""

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
from wtforms import BooleanField, PasswordField, StringField
from wtforms.validators import DataRequired, Length

from app.accounts import oidc
from app.accounts.service import ACCOUNT_DISABLED, end_sessions
from app.extensions import db
from app.models import User
from app.web import safe_next, with_embed

log = logging.getLogger(__name__)
bp = Blueprint("auth", __name__)


SESSION_EXPIRED = "Your session expired, please try again."
LOCAL_LOGIN_OFF = (
    "Log-in with a username and password is switched off here: log in with {provider}."
)
NOT_KEPT = "Your browser did not keep the log-in inside this frame"


class LoginForm(FlaskForm):
    username = StringField("Username", validators=[DataRequired(), Length(max=150)])
    password = PasswordField("Password", validators=[DataRequired(), Length(max=200)])


class SettingsForm(FlaskForm):
    notify_by_email = BooleanField("E-mail me when my jobs end")


def login_page(form: LoginForm | None = None, status: int = 200):
    """The login page: the provider's button (when OIDC is configured) above the local form
    (unless LOCAL_LOGIN is false)."""
    page = render_template(
        "auth/login.html",
        form=form or LoginForm(),
        oidc_provider=oidc.provider_name() if oidc.is_configured() else None,
        local_login=current_app.config["LOCAL_LOGIN"],
        # back from the "not kept" page, where the browser granted storage access
        storage_access=request.args.get("storage_access") == "granted",
    )
    return page, status


def cookie_not_kept(next_url: str, logged_in: bool, status: int = 200):
    """The page a log-in inside the frame ends on when the browser did not keep the session
    cookie: says so, links to the page in a tab of its own and (where the browser has the
    Storage Access API) offers to ask for access and log in again. Never the bare login form,
    which would come back as if nothing had happened.

    :param next_url: where the log-in was going (a safe local path)
    :param logged_in: the credentials were accepted (the check step), or the form came back
        without the cookie its CSRF token needs
    """
    log.info("the session cookie did not come back inside the frame (logged in: %s)", logged_in)
    page = render_template(
        "auth/not_kept.html",
        message=NOT_KEPT,
        logged_in=logged_in,
        tab_url=with_embed(next_url, embed=False),
        retry_url=url_for(
            "auth.login", next=with_embed(next_url, embed=False), storage_access="granted"
        ),
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
            return redirect(after_login(safe_next(request.args.get("next")), g.embed))
        log.info("failed login for %r", form.username.data)
        form.password.errors.append("Unknown user or wrong password")
    elif request.method == "POST" and "csrf_token" in form.errors:
        if g.embed and current_app.config["SESSION_COOKIE_NAME"] not in request.cookies:
            # no session cookie at all came back with the form (whose CSRF token needs it):
            # the browser refuses this frame's cookies, and a new form would fare no better
            return cookie_not_kept(safe_next(request.args.get("next")), False, 400)
        # the form's token is missing or from an expired session: say so, keep the name
        flash(SESSION_EXPIRED, "error")
        return login_page(form, 400)
    return login_page(form)


def after_login(next_url: str, embed: bool) -> str:
    """Where a log-in sends the browser: ``next_url``; inside the frame (``embed``) through
    the check step first, which finds out whether the browser kept the session cookie."""
    if embed:
        return url_for("auth.login_check", next=with_embed(next_url, embed=False), embed="1")
    return next_url


@bp.get("/login/check")
def login_check():
    """After a log-in inside the frame: on to ``next`` if the session came back, else say
    that the browser did not keep it."""
    next_url = safe_next(request.args.get("next"))
    if current_user.is_authenticated:
        return redirect(next_url)
    if not g.embed:  # a tab keeps its cookies; nothing was checked here
        return redirect(url_for("auth.login", next=next_url))
    return cookie_not_kept(next_url, True)


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
    log.info("user %s logged in through %s", user.username, oidc.provider_name())
    next_url = safe_next(remembered.get("next"))
    # whether the log-in began inside the frame (this request, from the provider, cannot say so)
    return redirect(after_login(next_url, bool(remembered.get("embed"))))


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


@bp.route("/settings", methods=["GET", "POST"])
def settings():
    """The user's settings: the default of a launch's "E-mail me when it ends"."""
    user = current_user._get_current_object()
    form = SettingsForm(obj=user)
    if form.validate_on_submit():
        user.notify_by_email = form.notify_by_email.data
        db.session.commit()
        log.info("user %s: e-mail when jobs end: %s", user.username, user.notify_by_email)
        flash("Your settings are saved.")
        return redirect(url_for("auth.settings"))
    if request.method == "POST":  # only the CSRF token can be wrong
        flash(SESSION_EXPIRED, "error")
        return render_template("accounts/settings.html", form=form, user=user), 400
    return render_template("accounts/settings.html", form=form, user=user)
