"""Deterministic gzip files compressed in a background thread.

:class:`GzipWriter` takes bytes from the exporting thread and compresses them in a
thread of its own with zlib-ng (the same DEFLATE format as zlib, about three times
faster at the same level 6); compression releases the GIL, so a dump is compressed on
one core while the next one is being produced on the other. The header is the one
Python's :mod:`gzip` writes with ``mtime=0`` and no file name, so identical input gives
identical bytes, and every gzip reader reads the result.

>>> import gzip, io, tempfile, pathlib
>>> path = pathlib.Path(tempfile.mkdtemp()) / "x.gz"
>>> with GzipWriter(path) as out:
...     _ = out.write(b"hello ")
...     _ = out.write(b"world\\n")
>>> gzip.decompress(path.read_bytes())
b'hello world\\n'
>>> out.raw_size, len(out.raw_sha256)
(12, 64)

The bytes do not depend on how the text was cut into writes:

>>> text = bytes(range(256)) * 20_000
>>> for name, step in (("a.gz", 1_000_003), ("b.gz", 4_194_304), ("c.gz", 777)):
...     with GzipWriter(path.parent / name) as out:
...         for start in range(0, len(text), step):
...             _ = out.write(text[start:start + step])
>>> len({(path.parent / n).read_bytes() for n in ("a.gz", "b.gz", "c.gz")})
1
"""

from __future__ import annotations

import hashlib
import os
import queue
import struct
import threading
from pathlib import Path
from types import TracebackType

from zlib_ng import zlib_ng

#: level 6, as gzip's default and ``gzip -6``
LEVEL = 6
#: the compressor is always given pieces of exactly this size (the last one excepted), so
#: its output never depends on how the text was written; large pieces also mean few
#: hand-overs between threads
PIECE = 4 << 20
#: pieces waiting for the compressing thread at most (bounds memory; the producer waits)
QUEUE_PIECES = 4
# magic, deflate, no flags, mtime 0, no extra flags, OS unknown: what gzip.GzipFile writes
# for compresslevel 6 with mtime=0 and filename=""
_HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"


class GzipWriter:
    """A binary sink writing one gzip file; ``close`` (or the ``with`` block) finishes it.

    ``raw_sha256`` and ``raw_size`` describe the uncompressed bytes (set when closed).
    """

    def __init__(self, path: str | os.PathLike[str], *, digest: bool = True) -> None:
        self.path = Path(path)
        self._file = self.path.open("wb")
        self._file.write(_HEADER)
        self._pending: list[bytes] = []
        self._pending_size = 0
        self._queue: queue.Queue[bytes | None] = queue.Queue(QUEUE_PIECES)
        self._error: BaseException | None = None
        self._hash = hashlib.sha256() if digest else None
        self._closed = False
        self.raw_size = 0
        self.raw_sha256 = ""
        self._thread = threading.Thread(target=self._run, name=f"gzip-{self.path.name}",
                                        daemon=True)
        self._thread.start()

    def _run(self) -> None:
        compressor = zlib_ng.compressobj(LEVEL, zlib_ng.DEFLATED, -zlib_ng.MAX_WBITS,
                                         zlib_ng.DEF_MEM_LEVEL, 0)
        crc = 0
        size = 0
        try:
            while (piece := self._queue.get()) is not None:
                crc = zlib_ng.crc32(piece, crc)
                size += len(piece)
                if self._hash is not None:
                    self._hash.update(piece)
                self._file.write(compressor.compress(piece))
            self._file.write(compressor.flush())
            self._file.write(struct.pack("<II", crc, size & 0xFFFFFFFF))
        except BaseException as exc:  # reported to the producer by close()
            self._error = exc
            while self._queue.get() is not None:  # let the producer finish
                pass

    def write(self, data: bytes, /) -> int:
        """Queue ``data`` for compression (pieces of about 1 MB)."""
        if data:
            self._pending.append(bytes(data))
            self._pending_size += len(data)
            self.raw_size += len(data)
            if self._pending_size >= PIECE:
                text = b"".join(self._pending)
                cut = len(text) - len(text) % PIECE
                for start in range(0, cut, PIECE):
                    self._queue.put(text[start:start + PIECE])
                self._pending = [text[cut:]] if cut < len(text) else []
                self._pending_size = len(text) - cut
        return len(data)

    def flush(self) -> None:
        """Nothing to do: pieces are handed on as they fill, the rest at ``close``."""

    def _flush_pending(self) -> None:
        if self._pending:
            self._queue.put(b"".join(self._pending))
            self._pending = []
            self._pending_size = 0

    def close(self) -> None:
        """Compress what is left, write the trailer and close the file."""
        if self._closed:
            return
        self._closed = True
        try:
            self._flush_pending()
            self._queue.put(None)
            self._thread.join()
        finally:
            self._file.close()
        if self._error is not None:
            raise self._error
        if self._hash is not None:
            self.raw_sha256 = self._hash.hexdigest()

    def __enter__(self) -> GzipWriter:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.close()
