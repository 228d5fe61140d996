"""External merge sort of text lines: deterministic order with bounded memory.

>>> list(sorted_unique_lines(iter(["b\\n", "a\\n", "b\\n", "c\\n"]), chunk_lines=2))
['a\\n', 'b\\n', 'c\\n']
"""

from __future__ import annotations

import heapq
import os
import tempfile
from collections.abc import Iterable, Iterator


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
