"""The one place that knows what an HTMX request looks like."""

from __future__ import annotations

from flask import Flask, Response, request

# htmx 2 stops polling when a poll is answered with this status
STOP_POLLING = 286


def is_htmx_request() -> bool:
    return request.headers.get("HX-Request") == "true"


def vary_on_htmx(response: Response) -> Response:
    response.vary.add("HX-Request")
    return response


def init_app(app: Flask) -> None:
    from app.job_status import FINAL

    app.jinja_env.globals["is_htmx_request"] = is_htmx_request
    # panels stop polling at the state machine's final states, named in one place
    app.jinja_env.globals["final_job_states"] = FINAL
