"""The byte-level external sort behind the exports."""

from __future__ import annotations

import random
from pathlib import Path

from kg.output.sorting import LineSorter, merge_sorted_blocks


def _lines(count: int, seed: int) -> list[bytes]:
    rng = random.Random(seed)
    words = ["<https://ex.org/", '"Über', '"a\\"b', "<https://ex.org/a", '"日本', "_:b"]
    made = {f"{rng.choice(words)}{rng.randrange(10**6)} <p> {rng.random()} .\n".encode()
            for _ in range(count)}
    return list(made)


def test_many_runs_merge_into_code_point_order(tmp_path: Path) -> None:
    lines = _lines(20_000, seed=7)
    sorter = LineSorter(tmp_path, budget=16_000)
    for start in range(0, len(lines), 37):
        sorter.add(b"".join(lines[start:start + 37]))
    assert len(sorter.runs) > 20
    merged = [line for block in sorter.blocks() for line in block]
    assert merged == sorted(lines)
    # byte order of UTF-8 is code-point order
    assert [m.decode() for m in merged] == sorted(m.decode() for m in merged)
    assert not list(tmp_path.glob("run-*"))  # the run files are gone


def test_merge_of_uneven_blocks_keeps_every_line() -> None:
    rng = random.Random(3)
    sources = []
    everything: list[bytes] = []
    for _ in range(5):
        lines = sorted(_lines(rng.randrange(0, 3000), seed=rng.randrange(100)))
        everything += lines
        blocks, i = [], 0
        while i < len(lines):
            size = rng.randrange(1, 400)
            blocks.append(lines[i:i + size])
            i += size
        sources.append(iter(blocks))
    merged = [line for block in merge_sorted_blocks(sources) for line in block]
    assert merged == sorted(everything)
