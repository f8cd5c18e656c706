"""Log in and out with a local account."""

from __future__ import annotations

import logging

from flask import Blueprint, flash, g, redirect, render_template, request, url_for
from flask_login import current_user, login_user, logout_user
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, Length

from app.accounts.service import ACCOUNT_DISABLED, end_sessions
from app.extensions import db
from app.models import User
from app.web import safe_next

log = logging.getLogger(__name__)
bp = Blueprint("auth", __name__)


SESSION_EXPIRED = "Your session expired, please try again."


class LoginForm(FlaskForm):
    username = StringField("Username", validators=[DataRequired(), Length(max=150)])
    password = PasswordField("Password", validators=[DataRequired(), Length(max=200)])


@bp.route("/login", methods=["GET", "POST"])
def login():
    """Show the login form, or log the user in."""
    if current_user.is_authenticated:
        return redirect(safe_next(request.args.get("next")))
    if g.get("login_refused") and request.method == "GET":
        # this browser's cookie named a session that has ended or a disabled account
        flash(g.login_refused, "error")
    form = LoginForm()
    if form.validate_on_submit():
        user = db.session.scalar(select(User).where(User.username == form.username.data))
        if user is not None and user.check_password(form.password.data):
            if not user.is_active:
                log.info("refused login of disabled user %s", user.username)
                form.username.errors.append(ACCOUNT_DISABLED)
                return render_template("auth/login.html", form=form)
            login_user(user)
            log.info("user %s logged in", user.username)
            return redirect(safe_next(request.args.get("next")))
        log.info("failed login for %r", form.username.data)
        form.password.errors.append("Unknown user or wrong password")
    elif request.method == "POST" and "csrf_token" in form.errors:
        # the form's token is missing or from an expired session: say so, keep the name
        flash(SESSION_EXPIRED, "error")
        return render_template("auth/login.html", form=form), 400
    return render_template("auth/login.html", form=form)


@bp.post("/logout")
def logout():
    """Log out (POST with the CSRF token, so a link elsewhere cannot log you out).

    Ends the user's session server-side: a copy of the cookie is refused from now on, and
    so are the user's sessions in other browsers (one generation per user)."""
    end_sessions(current_user._get_current_object())
    logout_user()
    flash("You are logged out, in this browser and every other.")
    return redirect(url_for("auth.login"))
