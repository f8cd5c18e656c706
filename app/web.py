"""Request hooks every page and API shares: embed mode (the Fragalysis iframe: ``embed=1``
on the request, kept in every URL built for it), security headers, htmx helpers,
error pages (JSON for every ``/api/`` path, 4xx and 500 alike), the vendored htmx files,
and where a user may be sent next."""

from __future__ import annotations

import logging
import uuid
from importlib.resources import files
from pathlib import Path
from urllib.parse import parse_qs, parse_qsl, urlencode, urlsplit, urlunsplit

from flask import (
    Flask,
    Response,
    abort,
    current_app,
    g,
    jsonify,
    render_template,
    request,
    send_from_directory,
    url_for,
)
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.routing import IntegerConverter, ValidationError

from app.accounts.memberships import MembershipUnavailable
from app.api import MAX_ID, MAX_JSON_DEPTH, json_depth

log = logging.getLogger(__name__)

HTMX_DIR = Path(str(files("js_lib_htmx") / "static" / "htmx"))

# htmx 2 stops polling when a poll is answered with this status (htmx-flask lacks it)
STOP_POLLING = 286

MESSAGES = {
    400: "Bad request",
    401: "Please log in",
    403: "You are not allowed to do that",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    413: "The upload is too large",
    500: "Something went wrong",
}

MEMBERSHIPS_UNAVAILABLE = (
    "Project memberships cannot be checked: ISPyB, where they come from, cannot be reached "
    "right now. Please try again later."
)


def vary_on_htmx(response: Response) -> Response:
    """A view that answers pages and fragments from one URL must say so to caches."""
    response.vary.add("HX-Request")
    return response


def htmx_target(element_id: str) -> bool:
    """Is this an htmx request that swaps the element ``element_id``?"""
    return bool(request.htmx) and request.htmx.target == element_id


def safe_next(target: str | None, default: str | None = None) -> str:
    """A same-site relative path to go to (never an open redirect), else ``default``."""
    if target:
        parts = urlsplit(target)
        if (
            not parts.scheme
            and not parts.netloc
            and target.startswith("/")
            and not target.startswith("//")
            and "\\" not in target
        ):
            return target
    return default or url_for("targets.index")


# --- embed mode: the pages inside the Fragalysis iframe ----------------------------------

# response headers that send the browser (or htmx) to another page of ours
REDIRECT_HEADERS = ("Location", "HX-Redirect", "HX-Location", "HX-Push-Url")
# endpoints whose URLs never carry the flag: files (URLs given to Squonk2 or the OpenID
# provider are built with ``embed=None``: they must be exactly the registered ones)
NO_EMBED_ENDPOINTS = frozenset({"static", "vendor_static"})


def request_is_embedded() -> bool:
    """Is this request in embed mode? ``embed=1`` in its query; for an htmx request whose URL
    was built elsewhere (by the browser, say), the page it came from (``HX-Current-URL``)."""
    flag = request.args.get("embed")
    if flag is not None or not request.headers.get("HX-Request"):
        return flag == "1"
    page = urlsplit(request.headers.get("HX-Current-URL", ""))
    return page.netloc == request.host and "1" in parse_qs(page.query).get("embed", [])


def keeps_embed_mode(app: Flask, endpoint: str) -> bool:
    """Do URLs of ``endpoint`` carry the embed flag? Pages do; files, the JSON API and the
    Squonk2 callback do not."""
    if endpoint in NO_EMBED_ENDPOINTS:
        return False
    try:
        rules = list(app.url_map.iter_rules(endpoint))
    except KeyError:  # no such endpoint: url_for raises its own BuildError
        return False
    return not any(rule.rule.startswith("/api/") for rule in rules)


def is_own_url(url: str) -> bool:
    """Does ``url`` (a redirect's target) name a page of this app?"""
    if url.startswith("{") or url == "false":  # an HX-Location object, HX-Push-Url: false
        return False
    parts = urlsplit(url)
    if parts.netloc:
        return parts.netloc == request.host and parts.scheme in ("http", "https")
    return not parts.scheme and url.startswith("/") and not url.startswith("//")


def with_embed(url: str, embed: bool = True) -> str:
    """``url`` with ``embed=1`` in its query (or, with ``embed=False``, without the flag).

    :param url: a URL or path of this app
    """
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    flags = [v for k, v in query if k == "embed"]
    if flags == (["1"] if embed else []):
        return url  # as it is, not re-encoded
    query = [(k, v) for k, v in query if k != "embed"] + ([("embed", "1")] if embed else [])
    # quoted as werkzeug's url_for quotes a query
    return urlunsplit(parts._replace(query=urlencode(query, safe="!$'()*,/:;?@")))


def partition_cookies(response: Response) -> Response:
    """With a partitioned session cookie (cross-site framing), every other cookie of ours is
    partitioned too, so the frame keeps it: Flask-Login's remember cookie, which has no such
    setting, and whatever else sets one. ``Partitioned`` needs ``Secure``."""
    if not current_app.config.get("SESSION_COOKIE_PARTITIONED"):
        return response
    cookies = response.headers.getlist("Set-Cookie")
    if not cookies:
        return response
    response.headers.remove("Set-Cookie")
    for cookie in cookies:
        attributes = {part.strip().split("=", 1)[0].lower() for part in cookie.split(";")[1:]}
        for name, attribute in (
            ("secure", "Secure"),
            ("samesite", "SameSite=None"),
            ("partitioned", "Partitioned"),
        ):
            if name not in attributes:
                cookie += f"; {attribute}"
        response.headers.add("Set-Cookie", cookie)
    return response


def wants_json() -> bool:
    return request.path.startswith("/api/") or request.accept_mimetypes.best == "application/json"


class IdConverter(IntegerConverter):
    """``<int:...>`` in every route: a number outside the database's id range names no row,
    so it is a 404 (not an overflow deep in the database driver)."""

    def to_python(self, value: str) -> int:
        number = super().to_python(value)
        if number > MAX_ID:
            raise ValidationError()
        return number


def init_app(app: Flask) -> None:
    """Register the shared hooks, the htmx files and the error handlers (before any route)."""
    app.url_map.converters["int"] = IdConverter
    proxies = app.config["TRUSTED_PROXIES"]
    if proxies:  # the client's address as the trusted proxies saw it, never as a client says
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies, x_host=proxies)

    @app.before_request
    def embed_mode():
        """``embed=1`` on this request (the Fragalysis iframe): a page without the site chrome,
        whose every URL carries ``embed=1`` again (see ``keep_embed_mode``)."""
        g.embed = request_is_embedded()

    @app.url_defaults
    def keep_embed_mode(endpoint: str, values: dict) -> None:
        # links, form actions, htmx URLs and redirects built in embed mode stay in it;
        # ``url_for(..., embed=None)`` builds a URL without it
        if g.get("embed") and "embed" not in values and keeps_embed_mode(app, endpoint):
            values["embed"] = "1"

    @app.after_request
    def embed_redirects(response: Response) -> Response:
        """Redirects to a path that came from elsewhere (``next``, the referrer) stay in embed
        mode too: url_for built the others with ``embed=1`` already."""
        if g.get("embed"):
            for header in REDIRECT_HEADERS:
                url = response.headers.get(header)
                if url and is_own_url(url):
                    response.headers[header] = with_embed(url)
        return response

    # Registered first, so it runs after every other after_request hook (Flask-Login's
    # remember cookie is one); Flask sets (and partitions) the session cookie after them all
    app.after_request_funcs.setdefault(None, []).insert(0, partition_cookies)

    @app.before_request
    def refuse_oversized_bodies():
        """413 before anything reads the body. The body is drained first (up to a bound), so
        the client, still sending, reads the answer instead of a reset connection."""
        limit = app.config.get("MAX_CONTENT_LENGTH")
        length = request.content_length
        if not limit or length is None or length <= limit:
            return None
        stream = request.environ.get("wsgi.input")
        remaining = min(length, 4 * limit)
        while stream is not None and remaining > 0:
            chunk = stream.read(min(remaining, 1 << 20))
            if not chunk:
                break
            remaining -= len(chunk)
        request.environ["wsgi.input_terminated"] = True
        return handle(RequestEntityTooLarge())

    @app.before_request
    def refuse_deep_json():
        """Any JSON body (API, or a form posted as JSON) nests at most MAX_JSON_DEPTH levels,
        checked before anything parses it (Python's parser would recurse out of stack)."""
        if request.is_json and json_depth(request.get_data(cache=True)) > MAX_JSON_DEPTH:
            abort(400, description=f"The JSON body nests deeper than {MAX_JSON_DEPTH} levels")

    @app.before_request
    def refuse_nul_characters():
        """No text a client sends may hold NUL: PostgreSQL cannot store it, no name has it."""
        message = "Text may not contain NUL characters"
        if "\x00" in request.path or any("\x00" in v for v in request.args.values()):
            abort(400, description=message)
        if request.mimetype in ("application/x-www-form-urlencoded", "multipart/form-data"):
            if any("\x00" in v for v in request.form.values()):
                abort(400, description=message)
        elif request.is_json:
            data = request.get_data(cache=True)
            if b"\x00" in data or b"\\u0000" in data:
                abort(400, description=message)

    @app.get("/static/vendor/htmx/<path:filename>", endpoint="vendor_static")
    def vendor_static(filename: str):
        """htmx 2 served from the django-js-lib-htmx package (no CDN)."""
        return send_from_directory(HTMX_DIR, filename, max_age=86400)

    @app.after_request
    def security_headers(response):
        ancestors = app.config["FRAME_ANCESTORS"]
        response.headers.setdefault("Content-Security-Policy", f"frame-ancestors {ancestors}")
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        return response

    def handle(error):
        code = getattr(error, "code", 500) or 500
        if code == 500:
            # one id in the answer and beside the traceback, so a report can be matched
            incident = uuid.uuid4().hex[:12]
            # Flask has just logged the traceback ("Exception on ..."); this line follows it
            log.error("incident %s: %s %s answered 500", incident, request.method, request.path)
            text = f"{MESSAGES[500]} (incident {incident})"
            if wants_json():
                return jsonify({"error": text, "incident": incident}), 500
            return render_template("error.html", code=500, message=text), 500
        description = getattr(error, "description", None)
        text = MESSAGES.get(code, MESSAGES[500])
        if isinstance(error, CSRFError):
            text = "The form expired or is missing its CSRF token; reload the page and retry"
        elif code in (400, 403) and description and description != type(error).description:
            text = str(description)  # our own reason (Werkzeug's stock text says nothing)
        elif code == 413 and app.config.get("MAX_CONTENT_LENGTH"):
            text = f"{text}: at most {app.config['MAX_CONTENT_LENGTH'] / 2**20:g} MB"
        if wants_json():
            return jsonify({"error": text}), code
        return render_template("error.html", code=code, message=text), code

    for code in MESSAGES:
        if code != 500:
            app.register_error_handler(code, handle)
    app.register_error_handler(CSRFError, handle)
    app.register_error_handler(500, handle)

    @app.errorhandler(MembershipUnavailable)
    def memberships_unavailable(error):
        """Access cannot be decided while ISPyB is down: say so (503), show nothing."""
        if wants_json():
            response = jsonify({"error": MEMBERSHIPS_UNAVAILABLE})
        else:
            response = Response(
                render_template("error.html", code=503, message=MEMBERSHIPS_UNAVAILABLE)
            )
        response.status_code = 503
        response.headers["Retry-After"] = "30"
        return response
