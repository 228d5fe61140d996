"""gzip for responses whose client accepts it, streamed bodies compressed on the fly."""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Iterable, Iterator

from flask import Response, request

from server.negotiation import add_vary

_MIN_SIZE = 1024
_ALREADY_COMPRESSED = ("application/gzip", "application/zip", "image/", "video/")


class _GzipStream:
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


def gzip_response(response: Response) -> Response:
    """Compress a 200 response once, when the request accepts gzip."""
    if (response.status_code != 200 or request.method == "HEAD"
            or "Content-Encoding" in response.headers
            or (response.mimetype or "").startswith(_ALREADY_COMPRESSED)):
        return response
    add_vary(response, "Accept-Encoding")
    if request.accept_encodings["gzip"] <= 0:
        return response
    if response.is_streamed:
        response.response = _GzipStream(response.response)  # type: ignore[arg-type]
        response.headers.pop("Content-Length", None)
    else:
        data = response.get_data()
        if len(data) < _MIN_SIZE:
            return response
        response.set_data(gzip.compress(data, 6))
    response.headers["Content-Encoding"] = "gzip"
    return response
