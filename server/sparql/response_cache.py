"""Whole answers of repeated ``GET /sparql`` queries, answered before the app runs.

The result cache (:mod:`server.sparql.result_cache`) saves the evaluation of a repeated query,
but a hit still went through the whole request path: routing, parameter parsing,
content negotiation, the fair share, the executor pool's bookkeeping, gzip and the
response hooks, several times the cost of the lookup. This WSGI layer, outside the app,
keeps the finished answer of a ``GET`` query (status, headers and body, compressed or
not) and gives it back for the same request on the same data without calling the app.

What makes two requests the same: the path and query string (the query, its dataset
and ``format``) and every request header an answer may depend on
(:data:`VARIANT_HEADERS`: content negotiation, compression, CORS, the host and the
forwarded headers that make the endpoint IRI). Conditional and range requests always go
to the app (it answers 304 from the ETag without running the query).

What is kept is decided by the app, never here: only an answer that the query route
marked as kept (a read query that passes :func:`server.sparql.result_cache.repeatable`, answered
200 in one piece; its ``KG-Result-Cache`` header says ``miss``) is stored, under the
generation of the data it was computed on, in the same bounded
:class:`~server.sparql.result_cache.ResultCache` as the query answers (``KG_RESULT_CACHE_MB``;
a new generation drops every entry). A hit is counted in ``/metrics`` as a request and a
cache hit, and it costs no query time, so the fair share does not charge it.

Requests for the same answer that arrive while it is being computed in this worker do
not compute it again (request coalescing, as caching proxies do it): they wait for the
first one and are answered with its kept answer as hits. When the first one's answer is
not kept (an error, a stopped query, an answer too big to keep), each runs on its own,
and the time it waited counts against its own time limit (:data:`ARRIVED`): one
deadline from arrival still holds.

>>> from server.sparql.result_cache import ResultCache
>>> class Service:
...     cache = ResultCache(10_000)
...     def generation(self): return "g1"
>>> calls = []
>>> def app(environ, start_response):
...     calls.append(environ["QUERY_STRING"])
...     environ[CACHEABLE] = "g1"
...     start_response("200 OK", [("Content-Type", "text/plain"), (CACHE_HEADER, "miss")])
...     return [b"answer"]
>>> layer = ResponseCache(app, Service())
>>> def get(query, **headers):
...     seen = []
...     environ = {"REQUEST_METHOD": "GET", "PATH_INFO": "/sparql", "QUERY_STRING": query,
...                **headers}
...     body = b"".join(layer(environ, lambda status, hdrs, exc=None: seen.append(hdrs)))
...     return body, dict(seen[0])[CACHE_HEADER]
>>> get("query=A"), get("query=A"), get("query=A", HTTP_ACCEPT="text/csv"), calls
((b'answer', 'miss'), (b'answer', 'hit'), (b'answer', 'miss'), ['query=A', 'query=A'])
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

#: the app extension under which the layer is installed (the query route looks for it)
EXTENSION = "kg_response_cache"
#: the environ key the query route sets to the generation its kept answer was computed on
CACHEABLE = "kg.keep_answer"
#: the header that says whether an answer came from a cache
CACHE_HEADER = "KG-Result-Cache"
#: the environ key holding when (time.monotonic()) a request that waited for another
#: request's answer arrived: its query's time limit runs from then
ARRIVED = "kg.arrived"
#: request headers (WSGI names) that an answer may vary with, besides the URL
VARIANT_HEADERS = (
    "HTTP_ACCEPT", "HTTP_ACCEPT_ENCODING", "HTTP_ORIGIN", "HTTP_HOST", "SERVER_NAME",
    "SERVER_PORT", "SCRIPT_NAME", "wsgi.url_scheme", "HTTP_X_FORWARDED_PROTO",
    "HTTP_X_FORWARDED_HOST", "HTTP_X_FORWARDED_PORT", "HTTP_X_FORWARDED_PREFIX",
)
#: a request with one of these goes to the app (conditional or partial answers)
_PASS_HEADERS = ("HTTP_IF_NONE_MATCH", "HTTP_IF_MATCH", "HTTP_IF_MODIFIED_SINCE",
                 "HTTP_IF_UNMODIFIED_SINCE", "HTTP_IF_RANGE", "HTTP_RANGE")
_PATHS = frozenset({"/sparql", "/sparql/"})
_OK = "200 OK"


def plain_get(environ: WSGIEnvironment) -> bool:
    """Whether a request is a plain ``GET /sparql``: no conditional or range header
    (those go to the app, which answers 304 or the whole answer itself).

    >>> plain_get({"REQUEST_METHOD": "GET", "PATH_INFO": "/sparql/"})
    True
    >>> plain_get({"REQUEST_METHOD": "GET", "PATH_INFO": "/sparql", "HTTP_RANGE": "bytes=0-9"})
    False
    >>> plain_get({"REQUEST_METHOD": "HEAD", "PATH_INFO": "/sparql"})
    False
    """
    return (environ.get("REQUEST_METHOD") == "GET" and environ.get("PATH_INFO") in _PATHS
            and not any(name in environ for name in _PASS_HEADERS))


def _variant(environ: WSGIEnvironment) -> str:
    return "\x00".join([environ.get("PATH_INFO", ""), environ.get("QUERY_STRING", ""),
                        *(str(environ.get(name, "")) for name in VARIANT_HEADERS)])


class WorkerAnswers:
    """Whole answers kept in this worker's own result cache (``service.cache``)."""

    def __init__(self, cache: Any) -> None:
        self.cache = cache

    @property
    def enabled(self) -> bool:
        return bool(self.cache.enabled)

    def get(self, generation: str, variant: str) -> tuple[list[tuple[str, str]], bytes] | None:
        hit = self.cache.get((generation, variant))
        return None if hit is None else (hit[0]["headers"], hit[1])

    def put(self, generation: str, variant: str, headers: list[tuple[str, str]],
            body: bytes) -> bool:
        return bool(self.cache.put((generation, variant), {"headers": headers}, body))


class _Flight:
    """An answer being computed: followers wait on ``done`` and read ``answer``."""

    __slots__ = ("answer", "done")

    def __init__(self) -> None:
        self.done = threading.Event()
        #: (headers, body) once kept; None when the answer was not kept
        self.answer: tuple[list[tuple[str, str]], bytes] | None = None


class ResponseCache:
    """WSGI middleware around the app: answers a repeated ``GET /sparql`` from memory.

    ``service`` is the app's query service: its ``generation()`` names the data served
    now. ``answers`` keeps the whole answers: this worker's result cache
    (:class:`WorkerAnswers`, the default) or a store the workers share
    (:class:`server.sparql.shared_answers.SharedAnswers`, under ``kg serve``).
    ``on_hit`` is called for every answer given from it (metrics). ``wait_limit``: the
    longest a request waits for the same answer computed by another (the query timeout).
    """

    def __init__(self, app: WSGIApplication, service: Any,
                 on_hit: Callable[[], None] | None = None, answers: Any = None,
                 wait_limit: float = 30.0) -> None:
        self.app = app
        self.service = service
        self.cache = answers if answers is not None else WorkerAnswers(service.cache)
        self.on_hit = on_hit
        self.wait_limit = wait_limit
        self._flights: dict[tuple[str, str], _Flight] = {}
        self._lock = threading.Lock()

    def _hit(self, start_response: StartResponse, headers: list[tuple[str, str]],
             body: bytes) -> Iterable[bytes]:
        if self.on_hit is not None:
            self.on_hit()
        start_response(_OK, list(headers))
        return [body]

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse,
                 ) -> Iterable[bytes]:
        if not self.cache.enabled or not plain_get(environ):
            return self.app(environ, start_response)
        variant = _variant(environ)
        generation = self.service.generation()
        hit = self.cache.get(generation, variant)
        if hit is not None:
            return self._hit(start_response, *hit)
        # only requests that saw the same data wait for each other: a client that has
        # seen a new release is never handed an answer computed on the one before
        flight_key = (generation, variant)
        with self._lock:
            flight = self._flights.get(flight_key)
            leading = flight is None
            if flight is None:
                flight = self._flights[flight_key] = _Flight()
        if not leading:
            arrived = time.monotonic()
            if flight.done.wait(self.wait_limit) and flight.answer is not None:
                return self._hit(start_response, *flight.answer)
            environ[ARRIVED] = arrived  # the wait counts against this query's time limit
            return self._answer(environ, start_response, variant, None)
        try:
            return self._answer(environ, start_response, variant, flight)
        finally:
            with self._lock:
                del self._flights[flight_key]
            flight.done.set()

    def _answer(self, environ: WSGIEnvironment, start_response: StartResponse,
                variant: str, flight: _Flight | None) -> Iterable[bytes]:
        """The app's answer, kept when the route marked it so (and handed to the
        requests waiting for it on ``flight``)."""
        seen: list[Any] = []

        def remember(status: str, headers: list[tuple[str, str]], exc_info: Any = None,
                     ) -> Callable[[bytes], object]:
            seen[:] = [status, headers]
            return start_response(status, headers, exc_info)

        result = self.app(environ, remember)
        generation = environ.get(CACHEABLE)
        if generation is None or not seen or seen[0] != _OK:
            return result
        try:
            body = b"".join(result)  # small: the route keeps only answers whole in memory
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()
        headers = [(name, "hit" if name == CACHE_HEADER else value)
                   for name, value in seen[1]]
        if self.cache.put(generation, variant, headers, body) and flight is not None:
            flight.answer = (headers, body)
        return [body]
