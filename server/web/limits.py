"""Request limits enforced before any route runs: 414 for long URLs, 413 for big bodies,
400 for bodies that end early or cannot be read, 411 for chunked bodies on a server that
cannot tell a cut one from a whole one.

A tiny WSGI middleware looks at the raw request line and Content-Length only, so an
oversized request is refused before werkzeug parses or reads anything. The answer
uses the one error shape, with the CORS headers of every answer (so a script on another
origin reads the 414 that tells it to POST). Bodies sent without Content-Length
(chunked) are bounded by Flask's ``MAX_CONTENT_LENGTH``, set from the same setting.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from flask import Flask
from werkzeug.exceptions import ClientDisconnected

from server.settings import Settings
from server.web.cors import add_cors
from server.web.errors import error_response

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


#: WSGI servers (their SERVER_SOFTWARE) that hand a chunked request body cut short (the
#: client stopped before the last chunk) to the app as if it were whole: granian 2 ends
#: the body at the break without a sign. Under them a chunked body is refused (411)
#: before anything of it is read, so a cut query is never run and a cut upload never
#: written. Bodies with a Content-Length are checked for their length (CheckedBody).
UNCHECKED_CHUNKED = ("Granian",)


def chunked_unchecked(environ: WSGIEnvironment) -> bool:
    """Whether the request has a chunked body its server cannot check for completeness.

    >>> chunked_unchecked({"SERVER_SOFTWARE": "Granian", "HTTP_TRANSFER_ENCODING": "chunked"})
    True
    >>> chunked_unchecked({"SERVER_SOFTWARE": "gunicorn/27.0.1",
    ...                    "HTTP_TRANSFER_ENCODING": "chunked"})
    False
    >>> chunked_unchecked({"SERVER_SOFTWARE": "Granian", "CONTENT_LENGTH": "12"})
    False
    """
    return ("chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower()
            and str(environ.get("SERVER_SOFTWARE", "")).startswith(UNCHECKED_CHUNKED))


class CheckedBody:
    """The request body as the WSGI server hands it over, read strictly.

    A body that ends before its Content-Length (the client stopped sending) or a chunked
    body that is cut or malformed is a 400: what arrived is not the request the client
    meant. (gunicorn marks its input as terminated, so werkzeug does not check lengths
    itself, and its chunked-body parser raises its own exceptions.)
    """

    def __init__(self, stream: Any, expected: int | None) -> None:
        self._stream = stream
        self._expected = expected
        self._seen = 0

    def _checked(self, data: bytes, size: int | None) -> bytes:
        self._seen += len(data)
        if (self._expected is not None and self._seen < self._expected
                and (not data or size is None or size < 0)):
            raise ClientDisconnected(
                f"the request body ended after {self._seen} of the {self._expected} bytes its "
                "Content-Length announced")
        return data

    def read(self, size: int | None = -1) -> bytes:
        try:
            data = self._stream.read() if size is None or size < 0 else self._stream.read(size)
        except ClientDisconnected:
            raise
        except Exception as exc:  # noqa: BLE001 - the WSGI server's body parser
            raise ClientDisconnected(f"the request body could not be read: "
                                     f"{exc or type(exc).__name__}") from exc
        return self._checked(data, size)

    def readline(self, size: int | None = -1) -> bytes:
        try:
            data = (self._stream.readline() if size is None or size < 0
                    else self._stream.readline(size))
        except Exception as exc:  # noqa: BLE001 - the WSGI server's body parser
            raise ClientDisconnected(f"the request body could not be read: "
                                     f"{exc or type(exc).__name__}") from exc
        return self._checked(data, 0 if data.endswith(b"\n") else size)

    def __iter__(self) -> Iterator[bytes]:
        while line := self.readline():
            yield line


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
        if chunked_unchecked(environ):
            return 411, ("send the request body with a Content-Length: chunked request "
                         "bodies are refused here, as this server (KG_HTTP_SERVER=granian) "
                         "cannot tell one cut short from a whole one; "
                         "KG_HTTP_SERVER=gunicorn checks and accepts them")
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
            if "wsgi.input" in environ:
                environ["wsgi.input"] = CheckedBody(
                    environ["wsgi.input"], int(environ.get("CONTENT_LENGTH") or 0) or None)
            return self.wsgi_app(environ, start_response)
        status, message = problem
        with self.app.request_context(environ):
            # before the app: its hooks do not run, so the CORS headers are added here
            response = add_cors(error_response(status, message, {"Connection": "close"}))
            metrics: Any = self.app.extensions.get("kg_metrics")
            if metrics is not None:
                metrics.count_request("limits", status)
            return response(environ, start_response)


def install_limits(app: Flask, settings: Settings) -> None:
    """Wrap the app's WSGI callable with :class:`RequestLimits`."""
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    app.wsgi_app = RequestLimits(app, app.wsgi_app, settings)  # type: ignore[method-assign]
