"""CORS: the one place that decides the cross-origin headers of the server's answers.

``KG_CORS_ORIGINS`` is ``*`` (the default: any origin), a comma-separated list of
origins (a listed request ``Origin`` is echoed, with ``Vary: Origin``; others get no
CORS headers) or empty (no CORS headers at all). Every answer carries them, errors
included, whichever layer answers: the request limits before the app (414, 413, 411),
the query lane, the routes, werkzeug's routing errors (404, 405). The exceptions are
the operations routes (``/healthz``, ``/metrics``), which are for monitoring, not for
scripts on web pages. A preflight (``OPTIONS``) also gets the methods its URL allows
(its ``Allow`` header), the request headers any route reads, and a max age.

>>> cors_headers("*", None)[0]["Access-Control-Allow-Origin"]
'*'
>>> headers, varies = cors_headers("https://a.example, https://b.example", "https://b.example")
>>> headers["Access-Control-Allow-Origin"], varies
('https://b.example', True)
>>> cors_headers("https://a.example", "https://c.example")
({}, True)
>>> cors_headers("", "https://a.example")
({}, False)
"""

from __future__ import annotations

from flask import Flask, Response, current_app, request

from server.web.negotiation import add_vary

#: response headers scripts on other origins may read, beyond the CORS-safelisted ones
EXPOSED_HEADERS = ", ".join((
    "ETag", "Last-Modified", "Content-Length", "Content-Location", "Content-Range", "Link",
    "Location", "Retry-After", "KG-Release", "KG-Result-Capped", "KG-Result-Count",
    "KG-Result-Cache"))
#: request headers a script on another origin may send (to any route: a preflight is
#: answered for the URL, and what the route does with a header is its own matter)
ALLOWED_REQUEST_HEADERS = ", ".join((
    "Accept", "Accept-Language", "Content-Type", "Authorization", "Range", "If-None-Match",
    "If-Modified-Since", "If-Range"))
#: seconds a browser may keep a preflight's answer
MAX_AGE = "86400"
#: blueprints whose answers carry no CORS headers (monitoring, not for web pages)
WITHOUT_CORS = frozenset({"ops"})


def cors_headers(origins: str, origin: str | None) -> tuple[dict[str, str], bool]:
    """The CORS headers of an answer to a request from ``origin`` under the setting
    ``origins`` (KG_CORS_ORIGINS), and whether the answer varies with ``Origin``."""
    allowed = [o.strip() for o in origins.split(",") if o.strip()]
    if not allowed:
        return {}, False
    if "*" in allowed:
        allow = "*"
    elif origin and origin in allowed:
        allow = origin
    else:
        return {}, True
    return {"Access-Control-Allow-Origin": allow,
            "Access-Control-Expose-Headers": EXPOSED_HEADERS}, allow != "*"


def add_cors(response: Response) -> Response:
    """Give the current request's answer its CORS headers (and a preflight's)."""
    if request.blueprint in WITHOUT_CORS:
        return response
    headers, varies = cors_headers(current_app.config["KG_SETTINGS"].cors_origins,
                                   request.headers.get("Origin"))
    if varies:
        add_vary(response, "Origin")
    if not headers:
        return response
    response.headers.update(headers)
    allow = response.headers.get("Allow")
    if request.method == "OPTIONS" and allow:
        response.headers["Access-Control-Allow-Methods"] = allow
        response.headers["Access-Control-Allow-Headers"] = ALLOWED_REQUEST_HEADERS
        response.headers["Access-Control-Max-Age"] = MAX_AGE
    return response


def install_cors(app: Flask) -> None:
    """Add CORS headers to every answer the app gives (:func:`add_cors`)."""
    app.after_request(add_cors)
