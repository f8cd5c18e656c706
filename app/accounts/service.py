"""Who is calling: session users, bearer tokens, the default-deny hook and CSRF; ending
sessions, disabling accounts, the admin flag, local project memberships, issuing and
revoking API tokens; the people audit trail.

A session cookie names ``<user id>:<session generation>`` (``User.get_id``). Logging out,
an admin's "end sessions" and disabling the account raise the user's generation, so every
cookie issued before names a generation that no longer exists and is refused, on every web
process at once, with no session store: the check is the user row the loader reads anyway.

What an admin (on the admin pages) or the command line does to an account is recorded as
an :class:`~app.models.AuditEvent` of ``object_type`` ``user``, in the transaction of the
change itself. ``by`` names who did it: the admin's :class:`User`, or a name for the
command line (``cli:<OS user>``).
"""

from __future__ import annotations

import logging
import re
from datetime import datetime, timedelta

from flask import Flask, current_app, flash, g, jsonify, redirect, request, session, url_for
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from app.access import is_public_endpoint, require_login_for_request
from app.accounts.memberships import MembershipUnavailable
from app.accounts.memberships import source as membership_source
from app.extensions import csrf, db, login_manager
from app.models import ApiToken, AuditEvent, Project, User
from app.models.base import as_utc, utcnow

log = logging.getLogger(__name__)

UNSAFE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
SESSION_ENDED = "Your session has ended. Please log in again."
ACCOUNT_DISABLED = "This account is disabled. Ask an administrator to enable it."
# last_used is a write per API call otherwise; to the minute is enough to tell stale tokens
LAST_USED_RESOLUTION = timedelta(minutes=1)
TOKEN_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
# object_type of the people audit trail's events
PEOPLE = "user"

# Who acts on an account: an admin, a name for an actor that is no user (``cli:alice``)
Actor = User | str | None


class TokenError(ValueError):
    """A token that cannot be issued or revoked as asked; the message says why."""


class AccountError(ValueError):
    """A change to an account that is refused (an admin disabling themselves, a project
    that does not exist); the message says why, and nothing was changed."""


def bearer_token() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return None


def _refuse(reason: str) -> None:
    """Remember why the caller is anonymous, for the 401 or the login page."""
    g.login_refused = reason


@login_manager.user_loader
def load_user(session_id: str) -> User | None:
    user_id, _, generation = session_id.partition(":")
    # A bare id is a cookie from before generations existed: generation 0
    if not user_id.isdigit() or not (generation or "0").isdigit():
        return None
    user = db.session.get(User, int(user_id))
    if user is None:
        return None
    refusal = None
    if user.disabled is not None:
        refusal = ACCOUNT_DISABLED
    elif int(generation or "0") != user.session_generation:
        refusal = SESSION_ENDED
    if refusal is None:
        return user
    _refuse(refusal)
    # Forget the dead login so the next request does not look it up again
    for key in ("_user_id", "_fresh", "_id"):
        session.pop(key, None)
    return None


@login_manager.request_loader
def load_user_from_bearer(_request) -> User | None:
    token = bearer_token()
    if token is None:
        return None
    g.bearer_presented = True
    row = db.session.scalar(select(ApiToken).where(ApiToken.token_hash == ApiToken.hash(token)))
    if row is None:
        _refuse("Unknown API token")
        return None
    state = row.state()
    if state != "active":
        _refuse(f"This API token {'has been revoked' if state == 'revoked' else 'has expired'}")
        return None
    if row.user.disabled is not None:
        _refuse(ACCOUNT_DISABLED)
        return None
    now = utcnow()
    if row.last_used is None or now - as_utc(row.last_used) >= LAST_USED_RESOLUTION:
        row.last_used = now
        db.session.commit()
    g.bearer_authenticated = True
    return row.user


@login_manager.unauthorized_handler
def unauthorized():
    reason = g.get("login_refused")
    if request.path.startswith("/api/") or g.get("bearer_presented"):
        response = jsonify({"error": reason or "Please log in (session cookie or bearer token)"})
        response.status_code = 401
        if g.get("bearer_presented"):
            response.headers["WWW-Authenticate"] = 'Bearer error="invalid_token"'
        return response
    if reason:
        flash(reason, "error")
    login_url = url_for("auth.login", next=request.full_path.rstrip("?"))
    if request.htmx:
        # htmx 2 does not swap a 401; HX-Redirect sends the whole page to the login form
        response = jsonify({"error": reason or "Please log in"})
        response.status_code = 401
        response.headers["HX-Redirect"] = login_url
        return response
    return redirect(login_url)


# --- the people audit trail -----------------------------------------------------------


def _audit(by: Actor, action: str, user: User, **detail) -> None:
    """Add an event about ``user`` to the session; it commits with the change."""
    AuditEvent.record(by, action, PEOPLE, user.id, user.username, **detail)


def _is_self(by: Actor, user: User) -> bool:
    return isinstance(by, User) and by.id == user.id


def people_events(user: User | None = None, limit: int = 200) -> list[AuditEvent]:
    """The newest events of the people audit trail, of ``user`` or of everyone."""
    stmt = select(AuditEvent).where(AuditEvent.object_type == PEOPLE)
    if user is not None:
        stmt = stmt.where(AuditEvent.object_id == user.id)
    stmt = stmt.order_by(AuditEvent.time.desc(), AuditEvent.id.desc()).limit(limit)
    return list(db.session.scalars(stmt))


def ispyb_project_names(users: list[User]) -> dict[int, list[str] | None] | None:
    """For the admin's pages: the visit and proposal names ISPyB gives each user (by user
    id), None for every user ISPyB could not be asked about; None when ISPyB is not the
    source. Once ISPyB fails it is not asked again for the other users (each try may wait
    for its connection timeout)."""
    if membership_source() != "ispyb":
        return None
    from app.accounts import ispyb

    names: dict[int, list[str] | None] = {}
    reachable = True
    for user in users:
        if reachable:
            try:
                names[user.id] = ispyb.user_project_names(user)
                continue
            except MembershipUnavailable:
                reachable = False
        names[user.id] = None
    return names


# --- sessions and accounts ------------------------------------------------------------


def end_sessions(user: User, *, by: Actor = None) -> None:
    """Refuse every session cookie of ``user`` issued so far (API tokens are unaffected).

    :param user: the account; committed here
    :param by: who ended them (audited); None: the user's own log-out, which is not
    """
    # In SQL, so that two concurrent calls both count
    user.session_generation = User.session_generation + 1
    if by is not None:
        _audit(by, "end_sessions", user)
    db.session.commit()
    log.info("ended every session of user %s", user.username)


def disable_user(user: User, *, by: Actor = None) -> bool:
    """Refuse the user's cookies and tokens from now on; False if already disabled.

    :param user: the account; committed here
    :param by: who disabled it (audited)
    :raises AccountError: ``by`` is ``user``: an admin may not lock themselves out
    """
    if _is_self(by, user):
        raise AccountError("You cannot disable your own account; ask another admin.")
    if user.disabled is not None:
        return False
    user.disabled = utcnow()
    # Ended too, so that enabling the account later does not bring old cookies back
    user.session_generation = User.session_generation + 1
    _audit(by, "disable", user)
    db.session.commit()
    log.info("disabled user %s", user.username)
    return True


def enable_user(user: User, *, by: Actor = None) -> bool:
    """Accept the user's log-ins and (unrevoked, unexpired) tokens again; False if active.

    :param user: the account; committed here
    :param by: who enabled it (audited)
    """
    if user.disabled is None:
        return False
    user.disabled = None
    _audit(by, "enable", user)
    db.session.commit()
    log.info("enabled user %s", user.username)
    return True


def set_admin(user: User, is_admin: bool, *, by: Actor = None) -> bool:
    """Make ``user`` an admin or not; False if they already are (or are not).

    A Keycloak user's flag follows the ``OIDC_ADMIN_ROLE`` claim at their next log-in when
    that setting is set.

    :raises AccountError: ``by`` removing their own admin flag
    """
    if not is_admin and _is_self(by, user):
        raise AccountError("You cannot remove your own admin flag; ask another admin.")
    if bool(user.is_admin) == is_admin:
        return False
    user.is_admin = is_admin
    _audit(by, "grant_admin" if is_admin else "remove_admin", user)
    db.session.commit()
    log.info("user %s %s admin", user.username, "made" if is_admin else "no longer")
    return True


# --- local project memberships ------------------------------------------------------


def project_titled(title: str | None) -> Project:
    """The existing project called ``title`` (exactly, spaces around it aside).

    :raises AccountError: no title, or no project of that title
    """
    title = (title or "").strip()
    if not title:
        raise AccountError("Choose a project by its title.")
    project = db.session.scalar(select(Project).where(Project.title == title))
    if project is None:
        shown = title if len(title) <= 60 else title[:60] + "…"
        raise AccountError(f"There is no project called {shown!r}; nothing changed.")
    return project


def add_membership(user: User, project: Project, *, by: Actor = None) -> bool:
    """Make ``user`` a member of ``project`` in the local ``project_members`` table;
    False if they already are. Committed here (a new ``project`` with it).

    :param by: who added it (audited)
    """
    if any(p.id is not None and p.id == project.id for p in user.projects):
        return False
    user.projects.append(project)
    _audit(by, "add_membership", user, project=project.title)
    try:
        db.session.commit()
    except IntegrityError:  # the same membership added concurrently
        db.session.rollback()
        return False
    log.info("user %s added to project %s", user.username, project.title)
    return True


def remove_membership(user: User, project: Project, *, by: Actor = None) -> bool:
    """End ``user``'s local membership of ``project``; False if they are not a member.

    :param by: who removed it (audited)
    """
    if not any(p.id == project.id for p in user.projects):
        return False
    user.projects.remove(project)
    _audit(by, "remove_membership", user, project=project.title)
    db.session.commit()
    log.info("user %s removed from project %s", user.username, project.title)
    return True


# --- API tokens -----------------------------------------------------------------------


def issue_token(
    user: User,
    name: str | None = None,
    lifetime: timedelta | None = None,
    *,
    by: Actor = None,
) -> tuple[ApiToken, str]:
    """A new bearer token for ``user``; the clear token is returned once, never stored.

    :param name: unique among the user's unrevoked tokens; letters, digits, ``._-``, not
        only digits (those are ids); default ``token-<8 hex digits>``
    :param lifetime: accepted until now + lifetime; None: until revoked
    :param by: who issued it (audited: the token's name, id and expiry, never the token)
    :raises TokenError: a bad or taken name, a lifetime that is not positive
    """
    if name is not None:
        if not TOKEN_NAME.fullmatch(name) or name.isdigit():
            raise TokenError(
                "a token name has up to 100 letters, digits, '.', '_' or '-' "
                "(not only digits), starting with a letter or digit"
            )
        if _live_token_named(user, name) is not None:
            raise TokenError(f"{user.username} already has a token called {name!r}")
    if lifetime is not None and lifetime <= timedelta(0):
        raise TokenError("the lifetime of a token must be positive")
    expires = utcnow() + lifetime if lifetime is not None else None
    row, token = ApiToken.issue(user, name, expires)
    try:
        db.session.flush()
        _audit(
            by,
            "issue_token",
            user,
            token=row.name,
            token_id=row.id,
            expires=describe_time(expires) if expires is not None else None,
        )
        db.session.commit()
    except IntegrityError as exc:  # the same name issued concurrently
        db.session.rollback()
        raise TokenError(f"{user.username} already has a token called {name!r}") from exc
    log.info("issued API token %s (id %d) to user %s", row.name, row.id, user.username)
    return row, token


def tokens_of(user: User) -> list[ApiToken]:
    """Every token the user was issued, oldest first, revoked ones included."""
    return list(
        db.session.scalars(
            select(ApiToken).where(ApiToken.user_id == user.id).order_by(ApiToken.id)
        )
    )


def _live_token_named(user: User, name: str) -> ApiToken | None:
    return db.session.scalar(
        select(ApiToken).where(
            ApiToken.user_id == user.id, ApiToken.name == name, ApiToken.revoked.is_(None)
        )
    )


def revoke_token(user: User, name_or_id: str, *, by: Actor = None) -> ApiToken:
    """Revoke one of the user's tokens, named by its name or its id; kept, never accepted.

    :param by: who revoked it (audited)
    :raises TokenError: no such token of this user, or already revoked
    """
    if name_or_id.isdigit():
        row = db.session.get(ApiToken, int(name_or_id))
        if row is not None and row.user_id != user.id:
            row = None
    else:
        row = _live_token_named(user, name_or_id)
        if row is None and any(t.name == name_or_id for t in tokens_of(user)):
            raise TokenError(f"{user.username}'s token {name_or_id!r} is already revoked")
    if row is None:
        raise TokenError(f"{user.username} has no token {name_or_id!r}")
    if row.revoked is not None:
        raise TokenError(f"{user.username}'s token {name_or_id!r} is already revoked")
    row.revoked = utcnow()
    _audit(by, "revoke_token", user, token=row.name, token_id=row.id)
    db.session.commit()
    log.info("revoked API token %s (id %d) of user %s", row.name, row.id, user.username)
    return row


def describe_time(value: datetime | None, never: str = "never") -> str:
    value = as_utc(value)
    return value.strftime("%Y-%m-%d %H:%M UTC") if value is not None else never


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
