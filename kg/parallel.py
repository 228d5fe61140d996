"""Parse and map documents in worker processes while the caller writes the store.

Parsing and mapping are pure and CPU-bound; the store is written by one process.
:func:`map_files` fans files out to a process pool and yields results in input
order, so ingest output is the same whatever the number of workers.
"""

from __future__ import annotations

import datetime as dt
import multiprocessing
from collections import deque
from collections.abc import Iterable, Iterator
from multiprocessing.pool import AsyncResult
from pathlib import Path

from kg.detect import read_documents
from kg.errors import DocumentError
from kg.ingest import first_snapshot_nquads
from kg.iris import IriMinter
from kg.mapper import MappedDocument, map_document

_settings: dict[str, object] = {}


def _init(as_of: dt.date, base_iri: str, ingested_at: dt.datetime) -> None:
    _settings.update(as_of=as_of, minter=IriMinter(base_iri), ingested_at=ingested_at)


def _map_file(path: Path) -> list[MappedDocument | DocumentError]:
    as_of = _settings["as_of"]
    minter = _settings["minter"]
    ingested_at = _settings["ingested_at"]
    assert isinstance(as_of, dt.date) and isinstance(minter, IriMinter)
    assert isinstance(ingested_at, dt.datetime)
    out: list[MappedDocument | DocumentError] = []
    for item in read_documents(path, as_of=as_of):
        if isinstance(item, DocumentError):
            out.append(item)
        else:
            mapped = map_document(item, minter, ingested_at=ingested_at)
            mapped.first_snapshot_nquads = first_snapshot_nquads(mapped)
            out.append(mapped)
    return out


def map_files(files: Iterable[Path], *, as_of: dt.date, base_iri: str,
              ingested_at: dt.datetime, processes: int,
              max_in_flight: int | None = None) -> Iterator[list[MappedDocument | DocumentError]]:
    """Per file, in order: its mapped documents and rejections."""
    if processes <= 1:
        _init(as_of, base_iri, ingested_at)
        for path in files:
            yield _map_file(path)
        return
    ctx = multiprocessing.get_context("forkserver")
    # a bounded number of files in flight (about one store batch): workers keep mapping
    # while the writer loads a batch, but never run far ahead of it,
    # so memory does not grow with the corpus (Pool.imap would queue every result)
    in_flight: deque[AsyncResult[list[MappedDocument | DocumentError]]] = deque()
    limit = max_in_flight or 256
    with ctx.Pool(processes, initializer=_init, initargs=(as_of, base_iri, ingested_at)) as pool:
        for path in files:
            in_flight.append(pool.apply_async(_map_file, (path,)))
            if len(in_flight) >= limit:
                yield in_flight.popleft().get()
        while in_flight:
            yield in_flight.popleft().get()
