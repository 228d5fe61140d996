"""Parse and map documents in worker processes while the caller writes the store.

Parsing and mapping are pure and CPU-bound; the store is written by one process.
:func:`map_files` fans files out to a process pool and yields results in input
order, so ingest output is the same whatever the number of workers.
"""

from __future__ import annotations

import datetime as dt
import multiprocessing
import os
import pickle
import tempfile
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

from kg.errors import DocumentError, KgError
from kg.mapping.iris import IriMinter
from kg.mapping.mapper import MappedDocument, map_document
from kg.parse.detect import read_documents

_settings: dict[str, object] = {}


def _init(as_of: dt.date, base_iri: str, ingested_at: dt.datetime,
          spool: str | None = None) -> None:
    _settings.update(as_of=as_of, minter=IriMinter(base_iri), ingested_at=ingested_at,
                     spool=spool)


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
            mapped.pack()
            out.append(mapped)
    return out


def _map_files_to_spool(paths: list[Path]) -> str:
    """Map files in a worker; the results go to a file, and its name back to the writer.

    The name is a message shorter than a pipe writes atomically, so a worker killed at any
    moment never leaves half a message in the result pipe, where the pool would wait for
    the rest for ever instead of noticing that the worker died.
    """
    spool = _settings["spool"]
    assert isinstance(spool, str)
    with tempfile.NamedTemporaryFile(dir=spool, delete=False) as out:
        pickle.dump([_map_file(path) for path in paths], out,
                    protocol=pickle.HIGHEST_PROTOCOL)
    return out.name


#: files per task sent to a worker: one task per file cost the writer about 1 ms of CPU
#: each (futures, pipes, spool files), as much as mapping a small file
CHUNK_FILES = 16


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
    in_flight: deque[tuple[list[Path], Future[str]]] = deque()
    limit = max(1, (max_in_flight or 256) // CHUNK_FILES)
    # a ProcessPoolExecutor, not a Pool: when a worker dies (the out-of-memory killer, a
    # kill -9) the waiting writer gets an error instead of waiting for ever
    spool = tempfile.TemporaryDirectory(prefix="kg-ingest-")
    pool = ProcessPoolExecutor(processes, mp_context=ctx, initializer=_init,
                               initargs=(as_of, base_iri, ingested_at, spool.name))
    try:
        for chunk in _chunks(files, CHUNK_FILES):
            try:
                future = pool.submit(_map_files_to_spool, chunk)
            except BrokenProcessPool as exc:  # a worker died before its result was read
                raise _worker_died(in_flight[0][0][0] if in_flight else chunk[0]) from exc
            in_flight.append((chunk, future))
            if len(in_flight) >= limit:
                yield from _results(*in_flight.popleft())
        while in_flight:
            yield from _results(*in_flight.popleft())
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        spool.cleanup()


def _chunks(files: Iterable[Path], size: int) -> Iterator[list[Path]]:
    chunk: list[Path] = []
    for path in files:
        chunk.append(path)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _worker_died(path: Path) -> KgError:
    return KgError(f"a worker process died while mapping {path} or a file after it "
                   "(killed, or out of memory?); the store holds whole documents only: "
                   "run the ingest again to finish")


def _results(paths: list[Path],
             future: Future[str]) -> list[list[MappedDocument | DocumentError]]:
    try:
        name = future.result()
    except BrokenProcessPool as exc:
        raise _worker_died(paths[0]) from exc
    with open(name, "rb") as spooled:
        result: list[list[MappedDocument | DocumentError]] = pickle.load(spooled)
    os.unlink(name)
    return result
