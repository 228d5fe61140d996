"""External merge sort of text lines: deterministic order with bounded memory.

>>> list(sorted_unique_lines(iter(["b\\n", "a\\n", "b\\n", "c\\n"]), chunk_lines=2))
['a\\n', 'b\\n', 'c\\n']
"""

from __future__ import annotations

import bisect
import contextlib
import heapq
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator
from typing import Protocol


def _spill(chunk: list[str], directory: str) -> str:
    chunk.sort()
    fd, path = tempfile.mkstemp(prefix="sort-", suffix=".txt", dir=directory)
    with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as f:
        f.writelines(chunk)
    return path


def sorted_unique_lines(lines: Iterable[str], *, chunk_lines: int = 400_000,
                        tmp_dir: str | None = None) -> Iterator[str]:
    """Lines (each ending in a newline) in code-point order, duplicates dropped."""
    with tempfile.TemporaryDirectory(prefix="kg-sort-", dir=tmp_dir) as directory:
        runs: list[str] = []
        chunk: list[str] = []
        for line in lines:
            chunk.append(line)
            if len(chunk) >= chunk_lines:
                runs.append(_spill(chunk, directory))
                chunk = []
        if not runs:
            merged: Iterable[str] = sorted(chunk)
            files = []
        else:
            if chunk:
                runs.append(_spill(chunk, directory))
            files = [open(path, encoding="utf-8", newline="\n") for path in runs]  # noqa: SIM115
            merged = heapq.merge(*files)
        try:
            previous = None
            for line in merged:
                if line != previous:
                    yield line
                    previous = line
        finally:
            for f in files:
                f.close()


class Readable(Protocol):
    """A binary source: an open file, a GzipFile, a pipe."""

    def read(self, size: int = -1, /) -> bytes: ...


#: lines handed on at a time by the byte-level sorter
BLOCK_LINES = 20_000
#: bytes read from a run file at a time
_READ = 4 << 20


class LineSorter:
    """External sort of whole lines as bytes: UTF-8 byte order is code-point order.

    ``add`` takes text made of whole lines (each ending in a newline); once
    ``budget`` bytes are held they are sorted and written to a run file. ``blocks``
    then yields every line in order, in lists of up to ``BLOCK_LINES`` lines, merging
    the runs with list sorts of already sorted pieces (C speed) rather than a
    line-by-line heap. The lines must be distinct, as the quads of a store are.

    >>> import tempfile
    >>> s = LineSorter(tempfile.mkdtemp(), budget=8)
    >>> s.add(b"c .\\nb .\\n"); s.add(b"a .\\n"); s.add(b"d .\\n")
    >>> [line for block in s.blocks() for line in block]
    [b'a .\\n', b'b .\\n', b'c .\\n', b'd .\\n']
    >>> s.lines, len(s.runs)
    (4, 2)
    """

    def __init__(self, directory: str | os.PathLike[str], *, budget: int = 256 << 20) -> None:
        self.directory = os.fspath(directory)
        self.budget = budget
        self.runs: list[str] = []
        self.lines = 0
        self._chunks: list[bytes] = []
        self._size = 0

    def add(self, data: bytes) -> None:
        if data:
            self._chunks.append(data)
            self._size += len(data)
            if self._size >= self.budget:
                self._spill()

    def _sorted(self) -> list[bytes]:
        lines: list[bytes] = []
        chunks, self._chunks, self._size = self._chunks, [], 0
        while chunks:  # each chunk is let go once split: the text is held once, not twice
            # N-Triples escapes every control character, so "\n" is the only line break
            lines += chunks.pop().splitlines(keepends=True)
        lines.sort()
        self.lines += len(lines)
        return lines

    def _spill(self) -> None:
        lines = self._sorted()
        fd, path = tempfile.mkstemp(prefix="run-", suffix=".nq", dir=self.directory)
        with os.fdopen(fd, "wb", buffering=1 << 20) as f:
            f.writelines(lines)
        self.runs.append(path)

    def sources(self) -> list[Iterator[list[bytes]]]:
        """The sorted runs, each as blocks of lines (to merge with other sources)."""
        last = self._sorted()
        tail = iter([last[i:i + BLOCK_LINES] for i in range(0, len(last), BLOCK_LINES)])
        return [*(read_line_blocks(path) for path in self.runs), tail]

    def blocks(self) -> Iterator[list[bytes]]:
        """Every line added, sorted, in blocks; the run files are removed afterwards."""
        try:
            yield from merge_sorted_blocks(self.sources())
        finally:
            self.remove_runs()

    def remove_runs(self) -> None:
        for path in self.runs:
            with contextlib.suppress(OSError):
                os.unlink(path)


def read_line_blocks(path: str | os.PathLike[str]) -> Iterator[list[bytes]]:
    """The lines of a file in blocks (each a non-empty list of lines)."""
    with open(path, "rb") as f:
        yield from line_blocks(f)


def line_blocks(f: Readable, *, size: int = _READ,
                on_data: Callable[[bytes], None] | None = None) -> Iterator[list[bytes]]:
    """The lines of an open binary file in blocks; ``on_data`` sees every byte read.

    >>> import io
    >>> list(line_blocks(io.BytesIO(b"a\\nb\\nc"), size=3))
    [[b'a\\n'], [b'b\\n'], [b'c']]
    """
    carry = b""
    while data := f.read(size):
        if on_data is not None:
            on_data(data)
        data = carry + data
        cut = data.rfind(b"\n") + 1
        carry = data[cut:]
        if cut:
            yield data[:cut].splitlines(keepends=True)
    if carry:
        yield [carry]


def line_chunks(f: Readable, *, size: int = _READ) -> Iterator[bytes]:
    """The text of an open binary file in pieces of whole lines (the last may lack its
    newline).

    >>> import io
    >>> list(line_chunks(io.BytesIO(b"a\\nb\\nc"), size=3))
    [b'a\\n', b'b\\n', b'c']
    """
    carry = b""
    while data := f.read(size):
        data = carry + data
        cut = data.rfind(b"\n") + 1
        carry = data[cut:]
        if cut:
            yield data[:cut]
    if carry:
        yield carry


def merge_sorted_blocks(sources: list[Iterator[list[bytes]]]) -> Iterator[list[bytes]]:
    """Merge sources of sorted lines given in blocks into one sorted stream of blocks.

    Each round takes from every source the lines up to the smallest last line of the
    sources' current blocks (nothing unread can come before it) and sorts them: a list
    sort of a few sorted pieces is a C-speed merge.

    >>> list(merge_sorted_blocks([iter([[b"a", b"c"], [b"e"]]), iter([[b"b", b"d", b"f"]])]))
    [[b'a', b'b', b'c'], [b'd', b'e'], [b'f']]
    """
    heads: list[tuple[list[bytes], int, Iterator[list[bytes]]]] = []
    for source in sources:
        first = next(source, None)
        while first is not None and not first:
            first = next(source, None)
        if first is not None:
            heads.append((first, 0, source))
    if len(heads) == 1:
        block, _, source = heads[0]
        yield block
        yield from (b for b in source if b)
        return
    while heads:
        bound = min(block[-1] for block, _, _ in heads)
        out: list[bytes] = []
        kept = []
        for block, start, source in heads:
            end = bisect.bisect_right(block, bound, start)
            out += block[start:end]
            if end == len(block):
                following = next(source, None)
                while following is not None and not following:
                    following = next(source, None)
                if following is not None:
                    kept.append((following, 0, source))
            else:
                kept.append((block, end, source))
        heads = kept
        out.sort()
        yield out
