"""Request limits enforced before any route runs: 414 for long URLs, 413 for big bodies.

A tiny WSGI middleware looks at the raw request line and Content-Length only, so an
oversized request is refused before werkzeug parses or reads anything. The answer
uses the one error shape. Bodies sent without Content-Length (chunked) are bounded by
Flask's ``MAX_CONTENT_LENGTH``, set from the same setting.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from flask import Flask

from server.errors import error_response
from server.settings import Settings

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment


def url_length(environ: WSGIEnvironment) -> int:
    """Bytes of the request target (path and query string) as the client sent it."""
    query = environ.get("QUERY_STRING", "")
    raw = environ.get("RAW_URI") or environ.get("REQUEST_URI")
    if raw:
        length = len(raw.encode("latin-1", "replace"))
        # some servers (and werkzeug's test client) leave the query string out
        return length + (len(query) + 1 if query and "?" not in raw else 0)
    path = quote(environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", ""), safe="/;=,")
    return len(path) + (len(query) + 1 if query else 0)


class RequestLimits:
    """WSGI middleware: refuse requests over KG_MAX_URL_BYTES or KG_MAX_BODY_BYTES."""

    def __init__(self, app: Flask, wsgi_app: WSGIApplication, settings: Settings) -> None:
        self.app = app
        self.wsgi_app = wsgi_app
        self.settings = settings

    def problem(self, environ: WSGIEnvironment) -> tuple[int, str] | None:
        length = url_length(environ)
        if length > self.settings.max_url_bytes:
            return 414, (f"the request URL is {length} bytes; KG_MAX_URL_BYTES allows "
                         f"{self.settings.max_url_bytes} (send long queries with POST)")
        try:
            body = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return 400, "Content-Length is not a number"
        if body > self.settings.max_body_bytes:
            return 413, (f"the request body is {body} bytes; KG_MAX_BODY_BYTES allows "
                         f"{self.settings.max_body_bytes}")
        return None

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse,
                 ) -> Iterable[bytes]:
        problem = self.problem(environ)
        if problem is None:
            return self.wsgi_app(environ, start_response)
        status, message = problem
        with self.app.request_context(environ):
            response = error_response(status, message, {"Connection": "close"})
            metrics: Any = self.app.extensions.get("kg_metrics")
            if metrics is not None:
                metrics.count_request("limits", status)
            return response(environ, start_response)


def install_limits(app: Flask, settings: Settings) -> None:
    """Wrap the app's WSGI callable with :class:`RequestLimits`."""
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    app.wsgi_app = RequestLimits(app, app.wsgi_app, settings)  # type: ignore[method-assign]
