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

from flask import Response, request
from werkzeug.datastructures import Accept
from werkzeug.http import parse_accept_header

from server.web.negotiation import add_vary

_MIN_SIZE = 1024
_ALREADY_COMPRESSED = ("application/gzip", "application/zip", "image/", "video/")


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
    if response.status_code == 304:
        add_vary(response, "Accept-Encoding")
        return response
    if (response.status_code != 200 or "Content-Encoding" in response.headers
            or (response.mimetype or "").startswith(_ALREADY_COMPRESSED)):
        return response
    add_vary(response, "Accept-Encoding")
    if not accepts_gzip(request.headers.get("Accept-Encoding")):
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
