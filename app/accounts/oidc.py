"""Log-in through an OpenID provider (Keycloak) with Authlib's Flask client.

The authorization code flow with PKCE (S256), state and nonce. Authlib keeps what the
callback needs (state, nonce, PKCE verifier) in the session until the callback, and checks
the answer: the state, the ID token's signature (the provider's JWKS), issuer, audience,
expiry and nonce. A user is the pair (issuer, ``sub``): ``User.external_subject`` holds
``<issuer>|<sub>``, so subjects of another provider never name our users.

No token is kept: the ID token's claims are read once, in the callback, and dropped with
the tokens; the session holds only a flag saying the log-in came through the provider.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import requests
from authlib.common.errors import AuthlibBaseError
from authlib.common.security import generate_token
from authlib.integrations.flask_client import OAuth
from flask import current_app, request, session, url_for
from joserfc.errors import JoseError
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from app.extensions import db
from app.models import User

log = logging.getLogger(__name__)

CLIENT_NAME = "oidc"
# the session flag: this browser's log-in came through the provider (for the logout)
SESSION_FLAG = "oidc_login"
# where each pending log-in returns: {state: {"next": path, "embed": bool}}
PENDING = "oidc_pending"
MAX_PENDING = 3
TIMEOUT_SECONDS = 10
USERNAME_LENGTH = 150  # User.username
SUBJECT_LENGTH = 255  # User.external_subject

ACCESS_DENIED = "The log-in at {provider} was cancelled or refused; you are not logged in."
LOGIN_FAILED = "The log-in at {provider} could not be completed ({reason}). Please try again."
UNREACHABLE = "{provider} cannot be reached right now. Please try again later."


class LoginFailed(Exception):
    """The provider's answer is not a log-in: the message says why, for the user."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Identity:
    """Who the provider says logged in: the checked ID token's claims we use."""

    subject: str  # <issuer>|<sub>
    username: str
    email: str | None
    is_admin: bool | None  # None: OIDC_ADMIN_ROLE is not set, the admin flag stays ours


def is_configured() -> bool:
    return bool(current_app.config.get("OIDC_ISSUER"))


def provider_name() -> str:
    return current_app.config["OIDC_PROVIDER_NAME"]


def external_url(endpoint: str) -> str:
    """The URL of ``endpoint`` as the outside world reaches it: under ``EXTERNAL_URL``,
    which the provider has registered (not the host this request happened to name), and
    without the embed flag (the registered URL is matched exactly)."""
    return current_app.config["EXTERNAL_URL"].rstrip("/") + url_for(endpoint, embed=None)


def client():
    """This app's Authlib client, made on first use (and again if the settings change)."""
    config = current_app.config
    key = tuple(
        config[name]
        for name in ("OIDC_ISSUER", "OIDC_CLIENT_ID", "OIDC_CLIENT_SECRET", "OIDC_SCOPES")
    )
    cached = current_app.extensions.get("oidc_client")
    if cached is not None and cached[0] == key:
        return cached[1]
    # Authlib's client logs each PKCE verifier at DEBUG: a secret of the log-in in progress
    logging.getLogger("authlib.integrations.base_client.sync_app").setLevel(logging.INFO)
    oauth = OAuth(current_app)
    registered = oauth.register(
        CLIENT_NAME,
        client_id=config["OIDC_CLIENT_ID"],
        client_secret=config["OIDC_CLIENT_SECRET"],
        server_metadata_url=f"{config['OIDC_ISSUER']}/.well-known/openid-configuration",
        client_kwargs={
            "scope": config["OIDC_SCOPES"],
            "code_challenge_method": "S256",
            "default_timeout": TIMEOUT_SECONDS,
        },
    )
    current_app.extensions["oidc_client"] = (key, registered)
    return registered


def _metadata() -> dict[str, Any]:
    """The provider's discovery document; its issuer must be the one configured."""
    metadata = client().load_server_metadata()
    issuer = current_app.config["OIDC_ISSUER"]
    if metadata.get("issuer", "").rstrip("/") != issuer:
        log.error(
            "the OpenID provider at %s calls itself %r: set OIDC_ISSUER to its issuer",
            issuer,
            metadata.get("issuer"),
        )
        raise LoginFailed(
            LOGIN_FAILED.format(provider=provider_name(), reason="it is misconfigured here"), 502
        )
    return metadata


# --- logging in ----------------------------------------------------------------------------


def start_login(next_url: str, embed: bool):
    """The redirect to the provider's authorization page; ``next_url`` (a safe local path)
    and the embed flag are remembered for the callback, under this log-in's state.

    :raises LoginFailed: the provider cannot be reached (status 502)
    """
    state = generate_token(30)
    try:
        _metadata()
        response = client().authorize_redirect(external_url("auth.oidc_callback"), state=state)
    except (requests.RequestException, ValueError) as exc:
        log.warning("OpenID provider unreachable at log-in: %s", type(exc).__name__)
        raise LoginFailed(UNREACHABLE.format(provider=provider_name()), 502) from exc
    pending = dict(session.get(PENDING) or {})
    pending[state] = {"next": next_url, "embed": embed}
    # the newest few only: abandoned log-ins must not grow the cookie
    session[PENDING] = dict(list(pending.items())[-MAX_PENDING:])
    return response


def finish_login() -> tuple[Identity, dict[str, Any]]:
    """Check the provider's answer on the callback and read who logged in.

    :return: the identity and what ``start_login`` remembered (``next``, ``embed``)
    :raises LoginFailed: refused or cancelled at the provider, a state or nonce that does
        not match, an ID token that fails its checks, the provider unreachable
    """
    provider = provider_name()
    pending = dict(session.get(PENDING) or {})
    state = request.args.get("state", "")
    remembered = pending.pop(state, None) or {}
    if pending:
        session[PENDING] = pending
    else:
        session.pop(PENDING, None)
    if request.args.get("error"):
        if state:  # this log-in is over: its nonce and PKCE verifier leave the cookie
            client().framework.clear_state_data(session, state)
        # error codes only: the description is the provider's text, not logged verbatim
        log.info("OpenID provider answered the log-in with %s", request.args["error"][:64])
        if request.args["error"] in ("access_denied", "login_required", "consent_required"):
            raise LoginFailed(ACCESS_DENIED.format(provider=provider))
        raise LoginFailed(LOGIN_FAILED.format(provider=provider, reason="refused by it"))
    try:
        _metadata()
        token = client().authorize_access_token()
    except AuthlibBaseError as exc:
        # mismatching state (a stale or forged callback), an error from the token endpoint
        log.info("OpenID log-in failed: %s", getattr(exc, "error", type(exc).__name__))
        reason = (
            "the log-in expired or was started elsewhere"
            if getattr(exc, "error", "") == "mismatching_state"
            else "the provider refused it"
        )
        raise LoginFailed(LOGIN_FAILED.format(provider=provider, reason=reason)) from exc
    except JoseError as exc:
        # a bad signature, issuer, audience, expiry or nonce
        log.warning("OpenID log-in with an ID token that fails its checks: %s", exc)
        reason = "its ID token failed the checks"
        raise LoginFailed(LOGIN_FAILED.format(provider=provider, reason=reason)) from exc
    except (requests.RequestException, ValueError) as exc:
        log.warning("OpenID provider unreachable at the callback: %s", type(exc).__name__)
        raise LoginFailed(UNREACHABLE.format(provider=provider), 502) from exc
    claims = token.get("userinfo")
    if not claims:
        raise LoginFailed(LOGIN_FAILED.format(provider=provider, reason="no ID token"))
    return identity_from_claims(dict(claims)), remembered


def identity_from_claims(claims: dict[str, Any]) -> Identity:
    """Our view of a checked ID token's claims.

    :raises LoginFailed: no usable subject
    """
    sub = claims.get("sub")
    # the configured issuer, which the token's iss was checked against (via discovery)
    subject = f"{current_app.config['OIDC_ISSUER']}|{sub}"
    if not isinstance(sub, str) or not sub or len(subject) > SUBJECT_LENGTH:
        raise LoginFailed(LOGIN_FAILED.format(provider=provider_name(), reason="no usable subject"))
    username = next(
        (
            value.strip()
            for value in (claims.get("preferred_username"), claims.get("email"), sub)
            if isinstance(value, str) and value.strip()
        ),
        sub,
    )[:USERNAME_LENGTH]
    email = claims.get("email") if isinstance(claims.get("email"), str) else None
    admin_role = current_app.config.get("OIDC_ADMIN_ROLE")
    is_admin = admin_role in roles_in(claims) if admin_role else None
    return Identity(subject=subject, username=username, email=email, is_admin=is_admin)


def roles_in(claims: dict[str, Any]) -> set[str]:
    """Every role and group the claims give: Keycloak's realm and this client's roles, and
    plain ``roles`` and ``groups`` claims (a group also counts without its leading ``/``,
    as Keycloak's group mapper writes full paths)."""

    def strings(value: Any) -> set[str]:
        return {v for v in value if isinstance(v, str)} if isinstance(value, list) else set()

    def dig(value: Any, *keys: str) -> Any:
        for key in keys:
            value = value.get(key) if isinstance(value, dict) else None
        return value

    client_id = current_app.config["OIDC_CLIENT_ID"]
    found = strings(dig(claims, "realm_access", "roles"))
    found |= strings(dig(claims, "resource_access", client_id, "roles"))
    found |= strings(claims.get("roles"))
    groups = strings(claims.get("groups"))
    return found | groups | {g.lstrip("/") for g in groups}


# --- the user --------------------------------------------------------------------------


def user_for(identity: Identity) -> User:
    """The user the identity names, created at its first log-in; its email and (when
    OIDC_ADMIN_ROLE is set) admin flag follow the claims at every log-in. A disabled user
    is returned unchanged (the caller refuses it).

    A new user takes ``preferred_username``; when another account already has that name it
    is never merged into: the new user is ``<name>-2`` (``-3``...) instead.
    """
    user = _by_subject(identity.subject)
    if user is None:
        user = _create(identity)
    elif not user.is_active:
        return user
    if identity.email:
        user.email = identity.email
    if identity.is_admin is not None and user.is_admin != identity.is_admin:
        log.info(
            "user %s %s admin (OIDC_ADMIN_ROLE)",
            user.username,
            "made" if identity.is_admin else "no longer",
        )
        user.is_admin = identity.is_admin
    db.session.commit()
    return user


def _by_subject(subject: str) -> User | None:
    return db.session.scalar(select(User).where(User.external_subject == subject))


def _create(identity: Identity) -> User:
    for attempt in range(1, 101):
        name = identity.username
        if attempt > 1:
            suffix = f"-{attempt}"
            name = name[: USERNAME_LENGTH - len(suffix)] + suffix
        if db.session.scalar(select(User.id).where(User.username == name)) is not None:
            continue
        user = User(
            username=name,
            email=identity.email,
            external_subject=identity.subject,
            is_admin=bool(identity.is_admin),
        )
        db.session.add(user)
        try:
            db.session.commit()
        except IntegrityError:
            # a concurrent first log-in: of this subject (use it), or took this name
            db.session.rollback()
            found = _by_subject(identity.subject)
            if found is not None:
                return found
            continue
        if name != identity.username:
            log.warning(
                "username %s is taken by another account: the OpenID user is %s",
                identity.username,
                name,
            )
        log.info("created user %s at their first OpenID log-in", name)
        return user
    raise LoginFailed(LOGIN_FAILED.format(provider=provider_name(), reason="no free username"), 409)


# --- logging out -----------------------------------------------------------------------


def end_session_url() -> str | None:
    """Where to send the browser to end its session at the provider too, if the provider
    offers RP-initiated logout (``end_session_endpoint``); it sends the browser back to our
    login page. No ``id_token_hint``: we keep no ID token (the cookie is not the place)."""
    try:
        endpoint = _metadata().get("end_session_endpoint")
    except (LoginFailed, requests.RequestException, ValueError) as exc:
        log.warning("no logout at the OpenID provider: %s", type(exc).__name__)
        return None
    if not endpoint:
        return None
    params = {
        "client_id": current_app.config["OIDC_CLIENT_ID"],
        "post_logout_redirect_uri": external_url("auth.login"),
    }
    return f"{endpoint}{'&' if '?' in endpoint else '?'}{urlencode(params)}"
