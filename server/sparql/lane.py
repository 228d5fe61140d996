"""``GET /sparql?query=...`` answered without the web framework: the query lane.

A point query costs its executor well under a millisecond; around it, Flask's request
context, URL routing, response object and after-request hooks cost about as much again
in the worker (measured with py-spy under the benchmark's load: Flask ~30 % of the
worker's time, the route itself less). The lane is a WSGI layer just outside Flask that
answers the plain case itself with the same parts the ``/sparql`` route uses
(:func:`server.sparql.protocol.prepare_query` and
:func:`~server.sparql.protocol.run_prepared`) and adds the same headers its hooks add:
``Vary``, CORS, gzip, ``ETag``, ``KG-Release``, and the request counted in /metrics.

Everything else goes on to Flask, untouched: other methods and paths, conditional and
range requests (304 from the ETag), browsers asking for a page, an update in the URL,
and every request whose checks fail (Flask answers the same error in the one error
shape). An error while the query runs (a syntax error from the engine, the timeout,
the fair share's 429, a busy server) is answered here, through Flask's own error
handling and hooks. ``tests/test_query_lane.py`` checks that the answers of the lane
and of the route are the same, header for header.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from flask import Flask
from werkzeug.sansio.utils import get_current_url, get_host

from server.ops import metrics, served_release
from server.settings import Settings
from server.sparql.executor import job_runner
from server.sparql.protocol import prepare_query, run_prepared
from server.sparql.response_cache import plain_get
from server.web.compression import GzipStream, accepts_gzip, gzip_whole
from server.web.cors import cors_headers
from server.web.errors import ApiError, error_response
from server.web.request_parsing import parse_params

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

log = logging.getLogger(__name__)

#: the endpoint name the route's requests are counted under in /metrics
ENDPOINT = "sparql.endpoint"


def _decoded(value: str) -> str:
    """A WSGI path (latin-1 code points) as werkzeug reads it."""
    return value.encode("latin-1").decode(errors="replace")


@lru_cache(maxsize=256)
def _endpoint(scheme: str, host_header: str | None, server_name: str, server_port: str,
              script_name: str, path_info: str) -> str:
    port = int(server_port) if server_port.isdigit() else None
    host = get_host(scheme, host_header, (server_name, port) if server_name else None)
    root_path = _decoded(script_name).rstrip("/")
    path = "/" + _decoded(path_info).lstrip("/")
    return get_current_url(scheme, host, root_path, path)


def endpoint_of(environ: WSGIEnvironment) -> str:
    """This endpoint's IRI as Flask's ``request.base_url`` gives it for the same request."""
    return _endpoint(environ.get("wsgi.url_scheme", "http"), environ.get("HTTP_HOST"),
                     environ.get("SERVER_NAME", ""), str(environ.get("SERVER_PORT", "")),
                     environ.get("SCRIPT_NAME", ""), environ.get("PATH_INFO", ""))


class QueryLane:
    """WSGI middleware around Flask's ``wsgi_app``: answers plain ``GET /sparql`` queries."""

    def __init__(self, app: Flask, inner: WSGIApplication) -> None:
        self.app = app
        self.inner = inner
        self.settings: Settings = app.config["KG_SETTINGS"]

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse,
                 ) -> Iterable[bytes]:
        if not plain_get(environ):  # conditional, range and other requests: Flask
            return self.inner(environ, start_response)
        try:
            params = parse_params(environ.get("QUERY_STRING", "").encode("latin-1"), "the URL")
        except (ApiError, UnicodeEncodeError):
            return self.inner(environ, start_response)
        texts = params.getlist("query")
        if len(texts) != 1 or "update" in params:
            return self.inner(environ, start_response)
        accept = environ.get("HTTP_ACCEPT")
        try:
            query = prepare_query(texts[0], params, endpoint=endpoint_of(environ),
                                  accept=accept, settings=self.settings, page=True)
        except ApiError:
            return self.inner(environ, start_response)  # the same error, in Flask's shape
        if query.wants_page:
            return self.inner(environ, start_response)
        return self._answer(environ, start_response, query)

    def _answer(self, environ: WSGIEnvironment, start_response: StartResponse,
                query: Any) -> Iterable[bytes]:
        app, settings = self.app, self.settings
        generation = job_runner(app).generation()
        etag = query.etag(settings, generation)
        try:
            stream, content_type, result_headers = run_prepared(
                app, query, environ, get_generation=generation)
        except ApiError as exc:
            return self._error(environ, start_response, exc)
        except Exception:  # noqa: BLE001 - answered as Flask answers a bug
            log.exception("unhandled error")
            return self._error(environ, start_response, ApiError(
                500, "internal error: this is a bug in scholarkg, please report it"))
        headers = [("Content-Type", content_type), *result_headers.items(),
                   ("ETag", f'W/"{etag}"')]
        cors, varies = cors_headers(settings.cors_origins, environ.get("HTTP_ORIGIN"))
        headers.extend(cors.items())
        headers.append(("Vary", "Accept, Accept-Encoding, Origin" if varies
                        else "Accept, Accept-Encoding"))
        # the job's executor was taken after looking where the link points now
        release = served_release(app.extensions.get("kg_query_service"), follow=False)
        if release is not None:
            headers.append(("KG-Release", release))
        metrics(app).count_request(ENDPOINT, 200)
        gzip = accepts_gzip(environ.get("HTTP_ACCEPT_ENCODING"))
        body: Iterable[bytes]
        if stream.body is not None:
            data = stream.body
            stream.close()
            compressed = gzip_whole(data) if gzip else None
            if compressed is not None:
                data = compressed
                headers.append(("Content-Encoding", "gzip"))
            headers.append(("Content-Length", str(len(data))))
            body = [data]
        elif gzip:
            headers.append(("Content-Encoding", "gzip"))
            body = GzipStream(stream)
        else:
            body = stream  # the server closes it
        start_response("200 OK", headers)
        return body

    def _error(self, environ: WSGIEnvironment, start_response: StartResponse,
               exc: ApiError) -> Iterable[bytes]:
        """The error answer the route would give, with its hooks (error shape, CORS,
        metrics)."""
        with self.app.request_context(environ):
            response = self.app.make_response(error_response(exc.status, exc.message,
                                                             exc.headers))
            response = self.app.process_response(response)
            return response(environ, start_response)


def install_lane(app: Flask) -> None:
    """Put the query lane in front of Flask (inside the request limits and proxy fix)."""
    app.wsgi_app = QueryLane(app, app.wsgi_app)  # type: ignore[method-assign]
