"""One error shape for every error the server returns.

Exceptions carry their HTTP status. The body is plain text for SPARQL clients and
JSON ``{"error": {"status": ..., "title": ..., "message": ...}}`` when the client
asks for JSON (Accept: application/json) or HTML when it asks for a page, so every
error answer carries ``Vary: Accept``.
"""

from __future__ import annotations

import html
import json

from flask import Flask, Request, Response, request
from werkzeug.exceptions import HTTPException

from kg.errors import UnwritableTerm

TITLES = {
    400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
    405: "Method Not Allowed", 406: "Not Acceptable", 409: "Conflict", 411: "Length Required",
    413: "Payload Too Large", 414: "URI Too Long", 415: "Unsupported Media Type",
    416: "Range Not Satisfiable", 422: "Unprocessable Content", 429: "Too Many Requests",
    500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable",
}


class ApiError(Exception):
    """An error answered with ``status`` and a message that says what was wrong."""

    def __init__(self, status: int, message: str, *, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


def _wants(req: Request) -> str:
    accept = req.accept_mimetypes
    best = accept.best_match(["text/plain", "application/json", "text/html"]) if accept else None
    if best == "application/json":
        return "json"
    if accept and accept.best == "text/html":
        return "html"
    return "text"


def error_response(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    """The one error body, in the form the current request asks for."""
    title = TITLES.get(status, "Error")
    kind = _wants(request)
    if kind == "json":
        body = json.dumps({"error": {"status": status, "title": title, "message": message}})
        mimetype = "application/json"
    elif kind == "html":
        # a message of several lines (a syntax error with its caret) keeps its layout
        tag = "pre" if "\n" in message else "p"
        body = (f"<!doctype html><html lang=en><meta charset=utf-8><title>{status} {title}</title>"
                f"<h1>{status} {html.escape(title)}</h1><{tag}>{html.escape(message)}</{tag}>"
                "</html>")
        mimetype = "text/html"
    else:
        body = f"{status} {title}: {message}\n"
        mimetype = "text/plain"
    resp = Response(body, status=status, mimetype=mimetype)
    for k, v in (headers or {}).items():
        resp.headers[k] = v
    resp.vary.add("Accept")  # the body's form follows Accept: shared caches must know
    return resp


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(ApiError)
    def _api_error(exc: ApiError) -> Response:
        return error_response(exc.status, exc.message, exc.headers)

    @app.errorhandler(UnwritableTerm)
    def _unwritable(exc: UnwritableTerm) -> Response:
        # an answer holding a term the negotiated format cannot hold: the client can ask
        # for one of the formats the message names
        return error_response(406, str(exc))

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> Response:
        status = exc.code or 500
        headers = {}
        valid_methods = getattr(exc, "valid_methods", None)
        if status == 405 and valid_methods:
            headers["Allow"] = ", ".join(valid_methods)
        return error_response(status, exc.description or TITLES.get(status, "Error"), headers)

    @app.errorhandler(Exception)
    def _bug(exc: Exception) -> Response:
        app.logger.exception("unhandled error")
        return error_response(500, "internal error: this is a bug in scholarkg, please report it")
