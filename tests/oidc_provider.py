"""A real OpenID provider on loopback for the OIDC log-in tests: oidc-provider-mock (an
Authlib-based Flask app) served in a thread, and the steps a user takes at it.

What the provider offers (oidc_provider_mock 0.3): discovery, JWKS (RS256), the
authorization page (a form with one field, the subject ``sub``, and a Deny button), the
token endpoint (any client id and secret are accepted), ``PUT /users/<sub>`` to set a
subject's claims, and an end-session page that lists the parameters it was called with
and, once confirmed, redirects to ``post_logout_redirect_uri``. It keeps no log-in session:
every authorization asks for the subject again.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

import requests
from oidc_provider_mock import run_server_in_thread

from tests.support import free_port

CLIENT_ID = "fragalysis-launcher"


@dataclass
class Provider:
    url: str  # the issuer: the provider names itself after the host it is asked on
    client_secret: str

    def set_user(self, sub: str, **claims) -> None:
        """The claims the provider puts in ``sub``'s ID token from now on."""
        response = requests.put(f"{self.url}/users/{sub}", json=claims, timeout=10)
        assert response.status_code == 204, response.text

    def authorize(self, authorize_url: str, sub: str) -> str:
        """Submit the authorization form as ``sub``; where the provider sends the browser."""
        response = requests.post(authorize_url, data={"sub": sub}, allow_redirects=False)
        assert response.status_code == 302, response.text
        return response.headers["Location"]

    def deny(self, authorize_url: str) -> str:
        """Press Deny on the authorization form; where the provider sends the browser."""
        response = requests.post(authorize_url, data={"action": "deny"}, allow_redirects=False)
        assert response.status_code == 302, response.text
        return response.headers["Location"]


# Authlib's *server* side (the provider's grants) logs every token it issues at DEBUG. That
# is the provider's log (Keycloak's, in production), which shares this process only in the
# tests; the app's own lines, Authlib's client side included, are still scanned for tokens.
PROVIDER_LOGGERS = ("authlib.oauth2.rfc6749", "authlib.oidc.core.grants")


@contextmanager
def oidc_provider(**options) -> Iterator[Provider]:
    """oidc-provider-mock on a free loopback port (``options``: its ``run_server_in_thread``
    arguments, e.g. ``require_nonce=True``)."""
    loggers = [logging.getLogger(name) for name in PROVIDER_LOGGERS]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.INFO)
    try:
        with run_server_in_thread(port=free_port(), **options) as server:
            yield Provider(f"http://localhost:{server.server_port}", secrets.token_urlsafe(24))
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


def use_provider(app, provider: Provider, **settings) -> None:
    """Point the app at the provider as a deployment's settings would."""
    app.config.update(
        OIDC_ISSUER=provider.url,
        OIDC_CLIENT_ID=CLIENT_ID,
        OIDC_CLIENT_SECRET=provider.client_secret,
        **settings,
    )


def query_of(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def local_path(url: str) -> str:
    """The path and query of a URL on our app (to open with the Flask test client)."""
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}" if parts.query else parts.path
