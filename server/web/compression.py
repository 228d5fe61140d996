"""gzip for responses whose client accepts it, streamed bodies compressed on the fly.

A streamed body that is in fact complete in memory (a small query result arrives from
its executor in one piece, see :class:`server.sparql.executor.JobStream`) is sent with
``Content-Length`` instead of chunked: fewer writes, and compressed in one go.
"""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Iterable, Iterator
from functools import lru_cache

from flask import Flask, Response, request
from werkzeug.datastructures import Accept
from werkzeug.http import parse_accept_header

from server.web.negotiation import add_vary

_MIN_SIZE = 1024
_ALREADY_COMPRESSED = ("application/gzip", "application/zip", "image/", "video/")
#: media types of pages, RDF and scripts worth compressing (by prefix)
_TEXTUAL = ("text/", "application/javascript", "application/json", "application/ld+json",
            "application/n-triples", "application/n-quads", "application/trig",
            "application/rdf+xml", "application/xml", "application/xhtml+xml",
            "image/svg+xml")
#: static files compressed, by their ETag (a file's version): compressed once each
_STATIC_GZIP: dict[str, bytes] = {}
_STATIC_GZIP_MAX = 64


class GzipStream:
    """A gzip-compressing view of a streamed body; ``close()`` always reaches the body,
    even when iteration never started (HEAD, a client gone before the first byte)."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self.chunks = chunks

    def __iter__(self) -> Iterator[bytes]:
        compressor = zlib.compressobj(6, zlib.DEFLATED, 31)  # 31: the gzip container
        for chunk in self.chunks:
            out = compressor.compress(chunk)
            if out:
                yield out
        yield compressor.flush()

    def close(self) -> None:
        close = getattr(self.chunks, "close", None)
        if close is not None:
            close()


@lru_cache(maxsize=256)
def accepts_gzip(accept_encoding: str | None) -> bool:
    """Whether an Accept-Encoding header accepts gzip (as ``request.accept_encodings``)."""
    return bool(parse_accept_header(accept_encoding, Accept)["gzip"] > 0)


def gzip_whole(data: bytes) -> bytes | None:
    """A whole body compressed, or None when it is too small to be worth it."""
    return gzip.compress(data, 6) if len(data) >= _MIN_SIZE else None


def settle_body(response: Response) -> Response:
    """Give a streamed response whose body is already whole in memory (an iterable with
    a ``body`` of bytes, such as a small :class:`~server.sparql.executor.JobStream`) that
    body as data, so it is sent with Content-Length rather than chunked."""
    body = getattr(response.response, "body", None) if response.is_streamed else None
    if isinstance(body, bytes):
        stream = response.response
        response.set_data(body)
        close = getattr(stream, "close", None)
        if close is not None:
            close()
    return response


def gzip_response(response: Response) -> Response:
    """Compress a 200 response once, when the request accepts gzip.

    A HEAD answer gets the headers its GET would get (RFC 9110 §9.3.2): the same
    ``Vary``, ``Content-Encoding`` and, when the body is whole, the compressed
    ``Content-Length`` (the body is compressed and not sent). A 304 gets the ``Vary``
    its 200 would get (§15.4.5)."""
    settle_body(response)
    eligible = ("Content-Encoding" not in response.headers
                and not (response.mimetype or "").startswith(_ALREADY_COMPRESSED))
    if not _gzip_wanted(response, eligible):
        return response
    if response.is_streamed:
        response.response = GzipStream(response.response)  # type: ignore[arg-type]
        response.headers.pop("Content-Length", None)
    else:
        compressed = gzip_whole(response.get_data())
        if compressed is None:
            return response
        response.set_data(compressed)
    response.headers["Content-Encoding"] = "gzip"
    return response


def _gzip_wanted(response: Response, eligible: bool) -> bool:
    """Whether to compress the response: an ``eligible`` 200 for a client that accepts
    gzip. An eligible 200 or 304 says ``Vary: Accept-Encoding`` either way (a 304 gets
    the ``Vary`` its 200 would get, RFC 9110 §15.4.5)."""
    if not eligible or response.status_code not in (200, 304):
        return False
    add_vary(response, "Accept-Encoding")
    return response.status_code == 200 and wants_gzip()


def compressible(response: Response) -> bool:
    """Whether the response is text worth compressing (a page, RDF, a script).

    >>> page, image = Response(mimetype="text/html"), Response(mimetype="image/png")
    >>> compressible(page), compressible(image)
    (True, False)
    """
    return (response.mimetype or "").startswith(_TEXTUAL)


def wants_gzip() -> bool:
    """Whether the current request accepts a gzip body."""
    return accepts_gzip(request.headers.get("Accept-Encoding"))


def gzip_static(response: Response) -> Response:
    """Compress a static file (the editor's 420 KB script, stylesheets) for a client that
    accepts gzip: once per file version (its ETag), then from memory. The compressed
    answer's ETag is weak (the same file, other bytes): a revalidation with it still
    gets 304 (If-None-Match compares weakly)."""
    etag, _ = response.get_etag()
    if not _gzip_wanted(response, compressible(response)) or etag is None:
        return response
    original = response.response  # the open file
    response.direct_passthrough = False
    compressed = _STATIC_GZIP.get(etag)
    if compressed is None:
        compressed = gzip.compress(response.get_data(), 9)
        if len(_STATIC_GZIP) >= _STATIC_GZIP_MAX:
            _STATIC_GZIP.clear()
        _STATIC_GZIP[etag] = compressed
    close = getattr(original, "close", None)
    if close is not None:
        close()
    response.set_data(compressed)
    response.set_etag(etag, weak=True)
    response.headers["Content-Encoding"] = "gzip"
    return response


def install_static_compression(app: Flask) -> None:
    """Compress the app's static files for clients that accept gzip (:func:`gzip_static`)."""

    @app.after_request
    def _static(response: Response) -> Response:
        return gzip_static(response) if request.endpoint == "static" else response
