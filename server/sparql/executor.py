"""Queries run in executor processes that are killed when they overrun.

Execution model
---------------
Each WSGI worker owns a :class:`ProcessPoolQueryService`: a few executor processes
(``multiprocessing``, *spawn* context), each with the store open. A request

1. acquires an idle executor, waiting at most ``KG_QUERY_TIMEOUT_S`` (else 503 "server
   busy"),
2. sends it a job and waits for the first message with a deadline of
   ``KG_QUERY_TIMEOUT_S``. The executor evaluates the query completely (up to the
   result cap), serialises it, and only then sends a head message (result kind, count,
   whether it was capped) followed by the body in chunks; an answer whose body is small
   (up to 1 MB: point queries, checks, writes) goes as one message instead.
3. moves the body across the pipe into a spool file (memory, then disk), still under
   the same deadline, and releases the executor; only then does the response start.
   A small body arrives whole in its one message and needs no spool file.

So the deadline covers evaluation, serialisation and transfer: a query that overruns
at any point is answered 503 ("query took longer than KG_QUERY_TIMEOUT_S (30 s) and
was stopped"), its executor is killed with SIGKILL and replaced, and no 200 with an
empty or cut body is ever sent (nothing has been sent when the deadline can fire). A
slow client then costs a request thread and a spool file, never an executor. Other
requests keep being served meanwhile: a runaway query holds one executor, not the
WSGI worker.

Read-only and update mode
-------------------------
Without ``KG_UPDATE_TOKEN`` the store is opened read-only by ``KG_QUERY_WORKERS``
executors per WSGI worker (RocksDB allows many read-only processes). With a token the
store must be opened read-write by exactly one process in the whole server (opening it
read-only while another process has it read-write is undefined behaviour), so there
is a single read-write executor that runs queries and updates, and
:func:`server.run.serve` forces one WSGI worker. Killing that executor on a timeout is
safe (updates are RocksDB transactions); it is restarted.

Over a remote engine
--------------------
With ``KG_ENGINE=remote`` (``Settings.engine``, see :mod:`kg.storage.engine`) each executor opens
a :class:`kg.storage.remote_engine.RemoteEngine` instead of the store, and every job above runs
unchanged on it: the deadline, the kill, the result cap, the memory bound, the cache and
the error shapes are the same. The engine client's own time limit is
``min(KG_ENGINE_TIMEOUT_S, KG_QUERY_TIMEOUT_S)``, and the engine's below that, so an
engine that stops a query answers first (503, :class:`kg.errors.EngineTimeout`), and
failing that the executor is killed at our deadline (503 too). The served "release" is
the engine's query URL and release (``KG_ENGINE_RELEASE``, re-read when the pointer file
changes: executors are then replaced as for a moved release symlink); store locks and
release holds concern the embedded store only.

Routes use :func:`job_runner`, which also wraps an
:class:`~server.sparql.service.InProcessQueryService` (tests, development) in the same
interface, without time limits.
"""

from __future__ import annotations

import hashlib
import itertools
import logging
import math
import multiprocessing
import os
import pickle
import re
import select
import signal
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from multiprocessing.connection import Connection
from pathlib import Path
from typing import IO, Any

from flask import Flask, current_app

from kg.errors import (
    EngineTimeout,
    EngineUnavailable,
    KgError,
    RemoteServiceError,
    StoreError,
    UnwritableTerm,
)
from kg.output.results_io import (
    CONTEXT_PATH,
    compact_jsonld,
    load_context,
    write_boolean,
    write_json_solutions,
    write_results,
)
from kg.storage.engine import EngineSettings, open_engine, read_pointer
from kg.storage.release import hold_release
from kg.storage.store import (
    DataSyntaxError,
    KnowledgeStore,
    QueryResult,
    QuerySyntaxError,
    read_error,
)
from server.settings import Settings
from server.sparql.fair_share import excuse_wait
from server.sparql.result_cache import ResultCache
from server.sparql.service import InProcessQueryService, Row
from server.web.errors import ApiError

#: a job sent to an executor: {"op": ..., ...} (plain data, so it pickles)
Job = dict[str, Any]
#: ("head", dict) ("data", bytes) ("end", None) ("error", (status, message)), and on the
#: pipe also ("done", (head, body)): a whole small answer in one message
Message = tuple[str, Any]

WRITE_OPS = frozenset({"update", "graph_load", "graph_delete"})
log = logging.getLogger(__name__)
#: how often the memory watchdog samples the executors
_MEMORY_SAMPLE_S = 0.05
_PAGE_SIZE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
_STARTUP_TIMEOUT_S = 60.0
_SPOOL_IN_MEMORY = 4 * 1024 * 1024  # bigger bodies wait on disk for their client
_CHUNK = 64 * 1024
#: answers with a body up to this size cross the pipe as one message
_WHOLE = 1024 * 1024


# ---------------------------------------------------------------------------
# running one job against a store (in an executor process, or in-process)
# ---------------------------------------------------------------------------

def jsonld_context(ontology_dir: str) -> dict[str, Any] | None:
    path = Path(ontology_dir) / "context.jsonld" if ontology_dir else CONTEXT_PATH
    return load_context(path)


#: what executors run jobs on: the embedded store or a remote engine (kg.storage.engine.GraphEngine)
Engine = Any


def _evaluate(store: Engine, job: Job) -> QueryResult:
    return store.query(job["sparql"], default_graph_uris=job.get("default_graphs"),
                       named_graph_uris=job.get("named_graphs"), base_iri=job.get("base_iri"))


def _query(store: Engine, job: Job) -> Iterator[Message]:
    """Evaluate and serialise the whole result (up to the cap) into a spool file, memory
    first, then disk: memory stays flat however big the result. Then the head, then the
    body in chunks.

    A SELECT answer in SPARQL JSON (the default) is first written by the engine's own
    serialiser into memory, up to :data:`_WHOLE` bytes: most answers (point queries)
    fit, and cost no Python per row. One that does not fit, or has more rows than the
    cap, is evaluated again and written row by row as below."""
    result = _evaluate(store, job)
    cap = int(job.get("cap") or 0)
    kind = result.kind
    fmt = job["rdf_format"] if kind == "graph" else job["results_format"]
    if fmt is None:
        yield "error", (406, job["not_acceptable"][kind])
        return
    head: dict[str, Any] = {"kind": kind, "format": fmt, "capped": False, "count": None}
    if kind == "select" and fmt == "json":
        native = _native_json(result, cap)
        if native is not None:
            head["count"], body = native
            yield "head", head
            yield "data", body
            return
        result = _evaluate(store, job)  # the attempt consumed the solutions
    with tempfile.SpooledTemporaryFile(max_size=_SPOOL_IN_MEMORY) as spool:
        if kind == "select":
            head["count"], head["capped"] = _write_rows(result, fmt, cap, spool)
        elif kind == "ask":
            for chunk in write_boolean(result.boolean, fmt):
                spool.write(chunk)
        elif fmt == "jsonld":  # compaction needs the whole document (bounded by the cap)
            cut, head["count"], head["capped"] = result.capped(cap)
            context = jsonld_context(job.get("ontology_dir", ""))
            spool.write(compact_jsonld(b"".join(cut.serialize(fmt)), context))
        else:
            head["count"], head["capped"] = result.write(spool, fmt, limit=cap)
        yield "head", head
        spool.seek(0)
        while chunk := spool.read(_CHUNK):
            yield "data", chunk


class _Full(Exception):
    """The bounded buffer is full."""


class _Bounded:
    """A binary writer that keeps at most ``limit`` bytes, then raises :class:`_Full`."""

    def __init__(self, limit: int) -> None:
        self.parts: list[bytes] = []
        self.size = 0
        self.limit = limit

    def write(self, data: bytes) -> int:
        self.size += len(data)
        if self.size > self.limit:
            raise _Full
        self.parts.append(bytes(data))
        return len(data)

    def flush(self) -> None:
        pass


def _native_json(result: QueryResult, cap: int, limit: int = _WHOLE) -> tuple[int, bytes] | None:
    """(row count, SPARQL JSON) of a SELECT result written by the engine, or None when
    it is bigger than ``limit`` bytes or has more rows than ``cap`` (0: no cap)."""
    out = _Bounded(limit)
    try:
        result.write_engine_results(out, "json")
    except _Full:
        return None
    body = b"".join(out.parts)
    count = json_row_count(body)
    if cap and count > cap:
        return None
    return count, body


#: a JSON string (escapes included)
_JSON_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"')


def json_row_count(body: bytes) -> int:
    """The number of solutions in SPARQL JSON as the engine writes it (no whitespace).

    Every object that starts ``{"`` is the document, its head or results, a solution
    or a term, and a term starts ``{"type":"``. Inside a JSON string a quote is always
    escaped, so the only other ``{"`` is a string that ends with ``{``, and its closing
    quote is followed by ``,``, ``}`` or ``]``, never by a key. Empty solutions (``{}``)
    and RDF-star terms (objects inside terms) are counted from the text with its
    strings removed.

    >>> json_row_count(b'{"head":{"vars":["type"]},"results":{"bindings":['
    ...                b'{"type":{"type":"literal","value":"{\\"type\\":\\",{"}},'
    ...                b'{"type":{"type":"uri","value":"http://ex.org/"}}]}}')
    2
    >>> json_row_count(b'{"head":{"vars":["x"]},"results":{"bindings":[{},{}]}}')
    2
    >>> json_row_count(b'{"head":{"vars":[]},"results":{"bindings":[]}}')
    0
    """
    if b"{}" in body or b'"type":"triple"' in body:
        bare = _JSON_STRING.sub(b"", body)
        return bare.count(b"[{") + bare.count(b",{")
    starts = (body.count(b'{"') - body.count(b'{",') - body.count(b'{"}')
              - body.count(b'{"]'))
    return starts - 3 - body.count(b'{"type":"')


def _write_rows(result: QueryResult, fmt: str, cap: int, out: IO[bytes]) -> tuple[int, bool]:
    """SELECT rows written as they are read, at most ``cap`` (0: all): (count, capped).

    SPARQL JSON (the default format) is written from the engine's solutions directly;
    the other formats from :meth:`QueryResult.rows`.
    """
    native = fmt == "json"
    rows: Iterator[Any] = result.solutions() if native else result.rows()
    count = 0

    def counted() -> Iterator[Any]:
        nonlocal count
        for row in itertools.islice(rows, cap) if cap else rows:
            count += 1
            yield row

    chunks = (write_json_solutions(result.variables, counted()) if native
              else write_results(result.variables, counted(), fmt))
    for chunk in chunks:
        out.write(chunk)
    return count, bool(cap) and count == cap and next(rows, None) is not None


def _run(store: Engine, job: Job) -> Iterator[Message]:
    op = job["op"]
    if op == "query":
        yield from _query(store, job)
    elif op == "update":
        store.update(job["sparql"], base_iri=job.get("base_iri"))
        yield "head", {}
    elif op == "graph_exists":
        yield "head", {"exists": store.has_graph(job["graph"])}
    elif op == "graph_get":
        if not store.has_graph(job["graph"]):
            yield "error", (404, f"no graph <{job['graph']}> in the store")
            return
        data = store.dump_graph(job["graph"], job["format"])
        if job["format"] == "jsonld":
            data = compact_jsonld(data, jsonld_context(job.get("ontology_dir", "")))
        yield "head", {}
        yield "data", data
    elif op == "graph_load":
        existed = store.has_graph(job["graph"])
        # one transaction per part (multipart POST): the first part replaces on PUT
        for i, (data, fmt) in enumerate(job["parts"] or [(b"", "ntriples")]):
            store.load_graph(data, fmt, job["graph"], replace=job["replace"] and i == 0,
                             base_iri=job.get("base_iri"))
        yield "head", {"created": not existed}
    elif op == "graph_delete":
        yield "head", {"existed": store.drop_graph(job["graph"])}
    elif op == "stats":
        yield "head", {"triples": store.count_quads(all_graphs=True),
                       "default_triples": store.count_quads(None)}
    elif op == "ping":
        yield "head", {"ok": store.query("ASK {}").boolean}
    elif op == "rows":
        yield "head", {"rows": list(store.query(job["sparql"]).rows())}
    elif op == "ask":
        yield "head", {"value": store.query(job["sparql"]).boolean}
    elif op == "construct":
        data = b"".join(store.query(job["sparql"]).serialize(job["format"]))
        yield "head", {}
        yield "data", data
    else:
        yield "error", (500, f"unknown executor job {op!r}")


def execute(store: Engine, job: Job) -> Iterator[Message]:
    """Run one job; every failure becomes a final ("error", (status, message)) message.

    >>> store = KnowledgeStore.open(None)
    >>> list(execute(store, {"op": "update", "sparql": "INSERT DATA { <http://a> <http://b> 1 }"}))
    [('head', {}), ('end', None)]
    >>> job = {"op": "query", "sparql": "SELECT ?o { ?s ?p ?o }", "results_format": "csv",
    ...        "rdf_format": None, "cap": 0}
    >>> list(execute(store, job))[1:]
    [('data', b'o\\r\\n1\\r\\n'), ('end', None)]
    >>> list(execute(store, {"op": "query", "sparql": "ASK {"}))[0][1][0]
    400
    """
    try:
        for message in _run(store, job):
            yield message
            if message[0] == "error":
                return
    except QuerySyntaxError as exc:
        yield "error", (400, f"the {_what(job)} is not valid SPARQL: {exc}")
        return
    except DataSyntaxError as exc:
        yield "error", (400, f"the request body does not parse as RDF: {exc}")
        return
    except EngineTimeout as exc:  # the remote engine stopped it: never a cut answer
        yield "error", (503, f"the {_what(job)} took too long and was stopped: {exc}")
        return
    except EngineUnavailable as exc:
        yield "error", (503, f"the SPARQL engine cannot answer now: {exc}")
        return
    except UnwritableTerm as exc:  # the answer holds a term the format cannot hold
        yield "error", (406, str(exc))
        return
    except StoreError as exc:
        yield "error", (500, str(exc))
        return
    except RemoteServiceError as exc:
        yield "error", (502, str(exc))
        return
    except KgError as exc:
        yield "error", (400, str(exc))
        return
    except (ValueError, RuntimeError, SyntaxError) as exc:
        # pyoxigraph reports evaluation errors (e.g. an unbound SERVICE variable) this way
        yield "error", (400, f"the {_what(job)} failed: {exc}")
        return
    except (ConnectionError, TimeoutError) as exc:  # read by rows() outside the store's guard
        yield "error", (502, str(read_error(exc)))
        return
    except OSError as exc:
        yield "error", (500, f"the store failed: {exc}")
        return
    except Exception as exc:  # noqa: BLE001 - an executor must survive any job
        yield "error", (500, f"internal error in the query executor: {type(exc).__name__}: "
                        f"{exc}")
        return
    yield "end", None


def _pack(obj: Any) -> bytes:
    """A job or message as it crosses the pipe: ``pickle.dumps`` straight into
    ``send_bytes`` (``Connection.send`` builds a ForkingPickler per call, three times
    the cost), read back with ``pickle.loads(recv_bytes())``. Plain data only."""
    return pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)


def _what(job: Job) -> str:
    return "update" if job["op"] in WRITE_OPS else "query"


def text_digest(job: Job) -> str:
    """A short hash that names a job's text in the log without showing it.

    >>> text_digest({"op": "query", "sparql": "ASK {}"})
    '819ea91ed5f1'
    """
    text = job.get("sparql")
    if not isinstance(text, str):
        text = repr(sorted((k, v) for k, v in job.items() if k != "parts"))
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:12]


def log_stop(job: Job, reason: str, arrived: float) -> None:
    """One server log line for a job stopped or refused: reason, duration, text hash."""
    log.warning("%s %s after %.3f s (text sha256 %s)", _what(job), reason,
                time.monotonic() - arrived, text_digest(job))


def executor_main(conn: Connection, store_path: str, read_only: bool,
                  engine: EngineSettings | None = None) -> None:
    """Body of an executor process: open the store (or the remote ``engine``), then run
    jobs until EOF.

    A release (:mod:`kg.storage.release`) stays marked in use while the executor has it open.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the WSGI worker decides when we stop
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    if engine is not None and engine.engine == "remote":
        _serve_jobs(conn, store_path, read_only, engine)
        return
    with hold_release(store_path):
        _serve_jobs(conn, store_path, read_only)


def coalesce(messages: Iterator[Message], limit: int = _WHOLE) -> Iterator[Message]:
    """The messages of a job as they go on the pipe: an answer whose body stays within
    ``limit`` bytes becomes one ("done", (head, body)) message (one send, one receive,
    no spool file on the other side); a bigger one goes as it came (head, data..., end).

    >>> list(coalesce(iter([("head", {"n": 1}), ("data", b"ab"), ("data", b"c"), ("end", None)])))
    [('done', ({'n': 1}, b'abc'))]
    >>> [m[0] for m in coalesce(iter([("head", {}), ("data", b"abc"), ("end", None)]), limit=2)]
    ['head', 'data', 'end']
    >>> list(coalesce(iter([("error", (400, "no"))])))
    [('error', (400, 'no'))]
    """
    buffered: list[Message] | None = []
    size = 0
    for message in messages:
        if buffered is None:
            yield message
            continue
        kind, payload = message
        if kind == "end" and buffered:
            yield "done", (buffered[0][1], b"".join(p for _, p in buffered[1:]))
            return
        if kind in ("end", "error"):
            yield message  # an error drops what was buffered: the answer is the error
            return
        buffered.append(message)
        if kind == "data":
            size += len(payload)
            if size > limit:
                yield from buffered
                buffered = None


def _serve_jobs(conn: Connection, store_path: str, read_only: bool,
                engine: EngineSettings | None = None) -> None:
    try:
        if engine is not None and engine.engine == "remote":
            store = open_engine(engine, None)
        else:
            store = KnowledgeStore.open(store_path, read_only=read_only)
    except KgError as exc:
        conn.send(("error", (503, f"the store cannot be opened: {exc}")))
        return
    conn.send(("ready", os.getpid()))
    while True:
        try:
            job = pickle.loads(conn.recv_bytes())
        except (EOFError, OSError):
            break
        if job is None:
            break
        try:
            for message in coalesce(execute(store, job)):
                conn.send_bytes(_pack(message))
        except (BrokenPipeError, OSError):
            break
    if isinstance(store, KnowledgeStore):
        if not read_only:
            store.flush()
    else:
        store.close()


# ---------------------------------------------------------------------------
# streams handed to routes
# ---------------------------------------------------------------------------

class JobStream:
    """The outcome of a job: ``head`` (a dict) and the body chunks (iterate once).

    The executor is already free; close the stream when done to drop its spool file
    (routes hand it to the response, which closes it).
    """

    def __init__(self, head: dict[str, Any], chunks: Iterator[bytes],
                 on_close: Callable[[], None] | None = None, *,
                 body: bytes | None = None) -> None:
        self.head = head
        self._chunks = chunks
        self._on_close = on_close
        #: the whole body when it arrived in one piece (small answers), else None
        self.body = body

    @classmethod
    def whole(cls, head: dict[str, Any], body: bytes) -> JobStream:
        """A stream over a body already complete in memory."""
        return cls(head, iter((body,) if body else ()), body=body)

    def __iter__(self) -> Iterator[bytes]:
        return self._chunks

    def read(self) -> bytes:
        try:
            return b"".join(self._chunks)
        finally:
            self.close()

    def close(self) -> None:
        if self._on_close is not None:
            on_close, self._on_close = self._on_close, None
            on_close()


def _raise_error(payload: tuple[int, str], headers: dict[str, str] | None = None) -> None:
    status, message = payload
    raise ApiError(status, message, headers=headers)


def _data(messages: Iterator[Message]) -> Iterator[bytes]:
    for kind, payload in messages:
        if kind == "data":
            yield payload
        elif kind == "error":
            _raise_error(payload)


class InProcessRunner:
    """Runs jobs in the calling thread on one store (no time limit)."""

    def __init__(self, store: KnowledgeStore) -> None:
        self.store = store
        self._updates = 0

    def start_job(self, job: Job, *, timeout: float | None = None,
                  keep: bool = True) -> JobStream:
        """Run a job now (``timeout`` and ``keep`` do not apply: nothing is kept)."""
        messages = execute(self.store, job)
        kind, payload = next(messages)
        if kind == "error":
            _raise_error(payload)
        if job["op"] in WRITE_OPS:
            self._updates += 1
        return JobStream(payload, _data(messages))

    def generation(self) -> str:
        return f"mem{id(self.store):x}.{self._updates}"

    def status(self) -> dict[str, Any]:
        return {"mode": "in-process", "store": str(self.store.path or ":memory:")}


# ---------------------------------------------------------------------------
# the process pool
# ---------------------------------------------------------------------------

def _file_id(path: str) -> tuple[int, int, int] | None:
    """(inode, modification time, size) of a file, to notice it being replaced; None
    when there is none."""
    try:
        st = os.stat(path) if path else None
    except OSError:
        return None
    return None if st is None else (st.st_ino, st.st_mtime_ns, st.st_size)


def _directory_id(path: str) -> tuple[int, int] | None:
    """(device, inode) of the directory a path leads to (symlinks followed), or None."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino


def engine_key(engine: EngineSettings) -> str:
    """What a remote engine serves, as executors compare it: its query URL and release.

    >>> engine_key(EngineSettings(engine="remote", query_url="http://h/sparql", release="r1"))
    'http://h/sparql#r1'
    """
    return f"{engine.query_url}#{engine.release}"


class _Executor:
    def __init__(self, ctx: Any, store_path: str, read_only: bool,
                 engine: EngineSettings | None = None) -> None:
        #: the store directory it opened (a symlink such as RELEASES/current resolved), or
        #: over a remote engine its :func:`engine_key`
        self.store_path = store_path
        parent, child = ctx.Pipe(duplex=True)
        self.proc = ctx.Process(target=executor_main,
                                args=(child, store_path, read_only, engine),
                                name="kg-query-executor", daemon=True)
        self.proc.start()
        child.close()
        self.conn: Connection = parent
        self.ready = False
        self.started = time.monotonic()
        #: one of the pool's first executors (given the whole startup time)
        self.initial = False
        #: set by the memory watchdog before it kills the process
        self.memory_stopped = False
        # Connection.poll builds a selector on every call; one poll object per executor
        # (used by one request thread at a time) answers the same question in one call
        self._poller = select.poll()
        self._poller.register(parent.fileno(), select.POLLIN)

    def readable(self, timeout: float) -> bool:
        """True once a message (or EOF) is waiting, False after ``timeout`` seconds."""
        return bool(self._poller.poll(max(0, math.ceil(timeout * 1000))))

    def private_bytes(self) -> int | None:
        """Resident memory less file-backed pages (heap, arenas, caches), or None when
        the process is gone or /proc cannot tell."""
        try:
            with open(f"/proc/{self.proc.pid}/statm", "rb") as f:
                fields = f.read().split()
        except OSError:
            return None
        return (int(fields[1]) - int(fields[2])) * _PAGE_SIZE

    def kill(self) -> None:
        if self.proc.is_alive():
            self.proc.kill()
        self.proc.join(timeout=5)
        self.conn.close()

    def stop(self) -> None:
        try:
            self.conn.send(None)
        except OSError:
            pass
        self.proc.join(timeout=2)
        self.kill()


class ProcessPoolQueryService:
    """The :class:`~server.sparql.service.QueryService` of a served store.

    Executors start on first use (after the WSGI worker has forked) or on :meth:`start`.
    A read-only store given as a symlink (``RELEASES/current``, see :mod:`kg.storage.release`) is
    resolved when executors open it and again before every job: when the link has moved,
    idle executors are replaced at once and busy ones after their job, so every job that
    starts after the switch runs on the new release and none fails because of it.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.read_only = not settings.updates_enabled
        self.size = max(1, settings.query_workers) if self.read_only else 1
        self.timeout = settings.query_timeout_s
        #: most requests waiting for an executor at once (more are refused at once)
        self.queue_limit = max(0, settings.query_queue)
        #: private memory one executor may hold (0: no bound), enforced by a watchdog
        self.memory_limit = max(0, settings.query_memory_mb) * 1024 * 1024
        self._ctx = multiprocessing.get_context("spawn")
        self._cond = threading.Condition()
        self._idle: list[_Executor] = []
        self._busy: set[_Executor] = set()
        #: a started executor kept aside (read-only pools): it takes the place of one
        #: that was killed, so the queries behind a stopped runaway do not wait for a
        #: new process to start and open the store within their own deadline
        self._spare: _Executor | None = None
        self._waiting = 0
        self._watchdog_stop = threading.Event()
        self._started = False
        self._closed = False
        self._updates = 0
        self._fingerprint: str | None = None
        #: a remote engine instead of the store (None: the embedded store), its client's
        #: time limit no longer than ours
        self._engine: EngineSettings | None = None
        self._pointer_seen: tuple[int, int, int] | None = None
        if settings.remote:
            self._engine = replace(settings.engine, timeout_s=min(
                settings.engine.timeout_s, settings.query_timeout_s))
            self._pointer_seen = _file_id(settings.engine.release_pointer)
        #: the store directory new executors open (the served path, symlinks resolved),
        #: or the remote engine's key
        self._serving = (engine_key(self._engine) if self._engine is not None
                         else os.path.realpath(settings.store))
        #: (device, inode) the served path led to when it last resolved to _serving
        self._serving_id: tuple[int, int] | None = None
        self.restarts = 0
        self.switches = 0
        #: answers of repeated read jobs on this generation of the data
        self.cache = ResultCache(settings.result_cache_mb * 1024 * 1024)
        #: called with "timeout", "restart", "busy", "memory", "cache_hit" or "cache_miss"
        #: (metrics)
        self.on_event: Callable[[str], None] | None = None

    # lifecycle -----------------------------------------------------------
    def start(self) -> None:
        if self._started and not self._closed:
            return  # every request calls this: no lock once running
        with self._cond:
            if self._closed:
                raise ApiError(503, "the server is shutting down")
            if not self._started:
                self.generation()
                self._idle = [self._spawn() for _ in range(self.size)]
                for ex in self._idle:
                    ex.initial = True
                if self.read_only:
                    self._spare = self._spawn()
                self._started = True
                if self.memory_limit:
                    threading.Thread(target=self._watch_memory, name="kg-memory-watchdog",
                                     daemon=True).start()

    @property
    def remote(self) -> bool:
        """True when the executors read a remote engine, not the store."""
        return self._engine is not None

    def _spawn(self) -> _Executor:
        return _Executor(self._ctx, self._serving, self.read_only, self._engine)

    def _fresh(self) -> _Executor:
        """A replacement for an executor that was killed or died (call with the condition
        held): the warm spare when it serves the current store, else a new process; a new
        spare starts meanwhile."""
        ex, self._spare = self._spare, None
        if ex is not None and (ex.store_path != self._serving or ex.proc.exitcode is not None):
            self._retire(ex)
            ex = None
        if ex is None:
            ex = self._spawn()
        if self.read_only and not self._closed:
            self._spare = self._spawn()
        return ex

    def _spawn_for_switch(self) -> _Executor:
        """An executor for a new release. Like the pool's first ones it gets the whole
        startup time: the queries that arrive while it opens the new release wait for it
        instead of being stopped at their own deadline (a switch is the server's doing,
        not the query's)."""
        ex = self._spawn()
        ex.initial = True
        return ex

    def _retire(self, ex: _Executor) -> None:
        """Stop an executor that serves an old release, without waiting for it."""
        threading.Thread(target=ex.stop, name="kg-executor-retire", daemon=True).start()

    def _follow_pointer(self) -> None:
        """Notice a release pointer that changed (``kg publish`` switched the current
        release); call with the condition held. An unreadable pointer keeps the release
        being served."""
        assert self._engine is not None
        path = self._engine.release_pointer
        seen = _file_id(path)
        if not path or seen is None or seen == self._pointer_seen:
            return
        self._pointer_seen = seen
        try:
            engine = self._engine.with_pointer(read_pointer(path))
        except (StoreError, KeyError) as exc:
            log.warning("the release pointer %s cannot be read (%s): still serving %s",
                        path, exc, self._serving)
            return
        self._engine = engine
        self._switch_to(engine_key(engine))

    def _follow_switch(self) -> None:
        """Notice a moved symlink (a new release); call with the condition held."""
        if self._engine is not None:
            self._follow_pointer()
            return
        if not self.read_only:
            return  # a store opened for writing is never switched under its writer
        before = _directory_id(self.settings.store)
        if before is not None and before == self._serving_id:
            return  # the path still leads to the directory being served: one stat()
        serving = os.path.realpath(self.settings.store)
        if _directory_id(self.settings.store) == before:  # no move while resolving
            self._serving_id = before
        self._switch_to(serving)

    def _switch_to(self, serving: str) -> None:
        """New executors serve ``serving``; idle ones are replaced now, busy ones after
        their job (call with the condition held)."""
        if serving == self._serving:
            return
        self._serving = serving
        self._fingerprint = None
        self.switches += 1
        stale, self._idle = self._idle, []
        for ex in stale:
            self._retire(ex)
            self._idle.append(self._spawn_for_switch())
        if self._spare is not None:  # it holds the old release open
            self._retire(self._spare)
            self._spare = self._spawn_for_switch()

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._watchdog_stop.set()
            executors = list(self._idle) + list(self._busy)
            if self._spare is not None:
                executors.append(self._spare)
            self._idle, self._busy, self._spare = [], set(), None
            self._cond.notify_all()
        for ex in executors:
            ex.stop()

    def _event(self, name: str) -> None:
        if self.on_event is not None:
            self.on_event(name)

    # acquiring -------------------------------------------------------------
    def _acquire(self, job: Job, arrived: float, deadline: float, limit: float) -> _Executor:
        """An executor for a job, waiting at most until the job's own deadline: the wait
        counts against the query's time limit. When ``queue_limit`` requests already
        wait, the answer is 503 at once."""
        self.start()
        with self._cond:
            self._follow_switch()
            if not self._idle:
                if self._closed:
                    raise ApiError(503, "the server is shutting down")
                if self._waiting >= self.queue_limit:
                    self._event("busy")
                    log_stop(job, "refused: queue full", arrived)
                    raise ApiError(
                        503, f"server busy: all {self.size} query executors are busy and "
                        f"{self._waiting} queries already wait for one (KG_QUERY_QUEUE, "
                        "KG_QUERY_WORKERS); try again later", headers={"Retry-After": "1"})
                self._waiting += 1
                try:
                    while not self._idle:
                        remaining = deadline - time.monotonic()
                        if self._closed:
                            raise ApiError(503, "the server is shutting down")
                        if remaining <= 0:
                            self._event("timeout")
                            log_stop(job, "timeout: waited for an executor", arrived)
                            raise ApiError(503, f"server busy: {_what(job)} took longer than "
                                           f"KG_QUERY_TIMEOUT_S ({limit:g} s) and was stopped "
                                           f"while all {self.size} query executors were busy "
                                           "(KG_QUERY_WORKERS)", headers={"Retry-After": "5"})
                        self._cond.wait(remaining)
                finally:
                    self._waiting -= 1
            ex = self._take_idle()
            if ex.proc.exitcode is not None:  # died while idle (e.g. killed by the OOM killer)
                ex.kill()
                ex = self._fresh()
                self.restarts += 1
                self._event("restart")
            self._busy.add(ex)
            return ex

    def _take_idle(self) -> _Executor:
        """An idle executor, one that has opened its store first: a replacement that is
        still starting would make the request wait for it (call with the condition held)."""
        for index in range(len(self._idle) - 1, -1, -1):
            ex = self._idle[index]
            if ex.ready or ex.readable(0):  # marked ready, or its "ready" is waiting
                return self._idle.pop(index)
        return self._idle.pop()

    def _release(self, ex: _Executor) -> None:
        with self._cond:
            self._busy.discard(ex)
            if self._closed:
                ex.stop()
                return
            # a switch not yet followed is followed by the next _acquire, which replaces
            # every idle executor of the old release (this one included)
            if ex.store_path != self._serving:  # finished its job on an old release
                self._retire(ex)
                ex = self._spawn_for_switch()
            self._idle.append(ex)
            self._cond.notify()

    def _replace(self, ex: _Executor) -> None:
        ex.kill()
        with self._cond:
            self._busy.discard(ex)
            self.restarts += 1
            if not self._closed:
                self._idle.insert(0, self._fresh())  # last in line if it still starts
                self._cond.notify()
        self._event("restart")

    def _receive(self, ex: _Executor, deadline: float, job: Job, arrived: float,
                 ) -> Message | None:
        """The executor's next message, or None when the deadline passed. An executor
        stopped by the memory watchdog is logged (for ``job``) and answered 503."""
        if not ex.readable(deadline - time.monotonic()):
            return None
        try:
            message: Message = pickle.loads(ex.conn.recv_bytes())
        except (EOFError, OSError):
            code = ex.proc.exitcode
            self._replace(ex)
            if ex.memory_stopped:
                log_stop(job, "stopped: memory bound", arrived)
                raise self._memory_error() from None
            raise ApiError(500, f"the query executor stopped unexpectedly (exit code {code}); "
                           "it has been restarted") from None
        return message

    def _memory_error(self) -> ApiError:
        self._event("memory")
        return ApiError(503, "query used more than KG_QUERY_MEMORY_MB "
                        f"({self.memory_limit >> 20} MB) of memory and was stopped")

    def _ensure_ready(self, ex: _Executor, job: Job, arrived: float, deadline: float,
                      limit: float) -> float:
        """Wait, within the job's deadline, for an executor still opening the store.

        One that is merely slow to start goes back to the pool when the deadline passes;
        one that failed, or took longer than the startup limit, is replaced. The first
        executors of a pool (the server starting) get the whole startup limit: a
        server's first queries wait for its store to open rather than fail, and their
        deadline starts once it is open. Returns the job's deadline."""
        if ex.ready:
            return deadline
        startup_end = ex.started + max(_STARTUP_TIMEOUT_S, self.timeout)
        message = self._receive(ex, startup_end if ex.initial else min(deadline, startup_end),
                                job, arrived)
        if message is None and time.monotonic() < startup_end:
            self._release(ex)  # still starting: the next request may find it ready
            self._event("timeout")
            log_stop(job, "timeout: waited for an executor to start", arrived)
            raise ApiError(503, f"server busy: {_what(job)} took longer than "
                           f"KG_QUERY_TIMEOUT_S ({limit:g} s) and was stopped while its query "
                           "executor was still opening the store", headers={"Retry-After": "5"})
        if message is None or message[0] != "ready":
            self._replace(ex)
            if message is not None and message[0] == "error":
                _raise_error(message[1])
            raise ApiError(503, "the query executor did not start in time")
        ex.ready = True
        return max(deadline, time.monotonic() + limit) if ex.initial else deadline

    def _watch_memory(self) -> None:
        """Every :data:`_MEMORY_SAMPLE_S`, stop an executor whose private memory passed
        the bound: a busy one is killed (its request answers 503 naming
        KG_QUERY_MEMORY_MB), an idle one (memory its allocator kept) is replaced."""
        while not self._watchdog_stop.wait(_MEMORY_SAMPLE_S):
            with self._cond:
                executors = list(self._busy) + list(self._idle)
            for ex in executors:
                used = ex.private_bytes()
                if used is None or used <= self.memory_limit:
                    continue
                with self._cond:
                    if ex in self._busy and not ex.memory_stopped:
                        ex.memory_stopped = True
                        ex.proc.kill()  # the request thread sees EOF at once
                    elif ex in self._idle:
                        self._idle.remove(ex)
                        self._retire(ex)
                        self._idle.insert(0, self._fresh())
                        self.restarts += 1

    # jobs ------------------------------------------------------------------
    def start_job(self, job: Job, *, timeout: float | None = None,
                  keep: bool = True) -> JobStream:
        """Run a job; returns once the executor has finished evaluating it.

        A read job answered before on the same data is answered from :attr:`cache`
        (its head then says ``"cache": "hit"``; a kept new answer says ``"miss"``).
        With ``keep=False`` a new answer that could be kept is not, but its head still
        says ``"miss"``: the caller keeps the whole response instead
        (:mod:`server.sparql.response_cache`), and one copy is enough.
        """
        key = self.cache.key(job, self.generation()) if self.cache.enabled else None
        if key is not None:
            hit = self.cache.get(key)
            if hit is not None:
                head, body = hit
                head["cache"] = "hit"
                self._event("cache_hit")
                return JobStream.whole(head, body)
            self._event("cache_miss")
        stream = self._run_job(job, timeout)
        if key is not None and stream.body is not None and (
                self.cache.fits(key, stream.body) if not keep
                else self.cache.put(key, stream.head, stream.body)):
            stream.head["cache"] = "miss"
        return stream

    def _run_job(self, job: Job, timeout: float | None) -> JobStream:
        limit = self.timeout if timeout is None else timeout
        arrived = time.monotonic()
        deadline = arrived + limit  # one deadline from arrival: waiting counts too
        try:
            ex = self._acquire(job, arrived, deadline, limit)
        finally:  # time in the queue is the server's, not the client's (fair share)
            excuse_wait(time.monotonic() - arrived)
        try:
            opening = time.monotonic()
            try:
                deadline = self._ensure_ready(ex, job, arrived, deadline, limit)
            finally:
                excuse_wait(time.monotonic() - opening)
            ex.conn.send_bytes(_pack(job))
            message = self._receive(ex, deadline, job, arrived)
        except ApiError:
            raise  # the executor is back in the pool or replaced already
        except OSError as exc:
            self._replace(ex)
            raise ApiError(503, "the query executor stopped unexpectedly and was restarted; "
                           "try again") from exc
        except BaseException:
            self._replace(ex)
            raise
        if message is None:
            self._replace(ex)
            self._event("timeout")
            log_stop(job, "stopped: timeout", arrived)
            raise ApiError(503, f"{_what(job)} took longer than KG_QUERY_TIMEOUT_S "
                           f"({limit:g} s) and was stopped")
        kind, payload = message
        if kind == "error":
            self._release(ex)
            _raise_error(payload)
        if job["op"] in WRITE_OPS:
            with self._cond:
                self._updates += 1
        if kind == "done":  # a small answer, whole in one message
            self._release(ex)
            head, body = payload
            return JobStream.whole(head, body)
        return JobStream(payload, *self._collect_body(ex, job, arrived, deadline, limit))

    def _collect_body(self, ex: _Executor, job: Job, arrived: float, deadline: float,
                      limit: float) -> tuple[Iterator[bytes], Callable[[], None]]:
        """Move the body from the executor into a spool file, within the deadline.

        The executor is free again as soon as the body is across the pipe: a slow client
        costs a request thread and a temporary file, never an executor. And a deadline
        passing here is still answered with a clean 503, as nothing has been sent yet.
        """
        spool = tempfile.SpooledTemporaryFile(max_size=_SPOOL_IN_MEMORY)  # noqa: SIM115
        try:
            while True:
                msg = self._receive(ex, deadline, job, arrived)
                if msg is None:
                    self._replace(ex)
                    self._event("timeout")
                    log_stop(job, "stopped: timeout sending results", arrived)
                    raise ApiError(503, "query results took longer than KG_QUERY_TIMEOUT_S "
                                   f"({limit:g} s) to produce and were not sent")
                if msg[0] == "data":
                    spool.write(msg[1])
                    continue
                self._release(ex)
                if msg[0] == "error":
                    _raise_error(msg[1])
                break
        except BaseException:
            spool.close()
            raise
        spool.seek(0)
        return iter(lambda: spool.read(_CHUNK), b""), spool.close

    # status --------------------------------------------------------------------
    def generation(self) -> str:
        """Changes whenever the served data may have changed (ETags)."""
        if self.read_only and self._started:
            with self._cond:
                self._follow_switch()
        if self._fingerprint is None and self._engine is not None:
            # the engine's data changes only with its release (or our own updates)
            self._fingerprint = hashlib.sha256(self._serving.encode()).hexdigest()[:16]
        if self._fingerprint is None:
            digest = hashlib.sha256(os.fsencode(self._serving))
            try:
                for entry in sorted(os.scandir(self._serving), key=lambda e: e.name):
                    if entry.is_file() and not entry.name.startswith("LOG"):
                        st = entry.stat()
                        digest.update(f"{entry.name}:{st.st_size}:{st.st_mtime_ns};".encode())
            except OSError:
                pass
            self._fingerprint = digest.hexdigest()[:16]
        return f"{self._fingerprint}.{self._updates}"

    def serving(self) -> tuple[str, str | None]:
        """(the store directory or engine key jobs run on now, the remote engine's
        release or None), as last followed: no look at the link or pointer."""
        engine = self._engine
        return self._serving, (engine.release if engine is not None else None)

    def status(self) -> dict[str, Any]:
        with self._cond:
            if self.read_only and self._started:
                self._follow_switch()
            return {"mode": "read-only" if self.read_only else "read-write",
                    "store": (self.settings.store if self._engine is None
                              else self._engine.query_url),
                    **({"engine": "remote", "release": self._engine.release}
                       if self._engine is not None else {}),
                    "serving": self._serving,
                    "executors": self.size, "busy": len(self._busy),
                    "restarts": self.restarts, "release_switches": self.switches}

    # the QueryService protocol ----------------------------------------------------
    def select(self, sparql: str, *, timeout: float | None = None) -> list[Row]:
        rows: list[Row] = run_job(self, {"op": "rows", "sparql": sparql},
                                  timeout=timeout)["rows"]
        return rows

    def ask(self, sparql: str, *, timeout: float | None = None) -> bool:
        return bool(run_job(self, {"op": "ask", "sparql": sparql}, timeout=timeout)["value"])

    def construct(self, sparql: str, format_name: str, *, timeout: float | None = None) -> bytes:
        job = {"op": "construct", "sparql": sparql, "format": format_name}
        return self.start_job(job, timeout=timeout).read()


Runner = ProcessPoolQueryService | InProcessRunner


def served_directory(runner: Runner) -> str | None:
    """The store directory a runner reads now (a release link resolved), or None over a
    remote engine or an in-memory store: where published figures (``kg-stats.json``) are."""
    if isinstance(runner, ProcessPoolQueryService):
        return None if runner.remote else str(runner.status()["serving"])
    if runner.store.path is not None:
        return str(runner.store.path)
    return None


def run_job(runner: Runner, job: Job, *, timeout: float | None = None) -> dict[str, Any]:
    """Run a job whose answer is its head (writes, checks), releasing the executor."""
    stream = runner.start_job(job, timeout=timeout)
    stream.read()
    return stream.head


def job_runner(app: Flask | None = None) -> Runner:
    """What routes run jobs on: the process pool, or an in-process runner for tests."""
    app = app or current_app
    runner = app.extensions.get("kg_job_runner")
    if runner is None:
        service = app.extensions["kg_query_service"]
        if isinstance(service, ProcessPoolQueryService):
            runner = service
        elif isinstance(service, InProcessQueryService):
            runner = InProcessRunner(service.store)
        else:
            raise StoreError("the query service cannot run protocol jobs")
        app.extensions["kg_job_runner"] = runner
    return runner  # type: ignore[no-any-return]
