"""Server benchmark: ``kg serve`` against Oxigraph's server and rdflib-endpoint, same data.

One run builds (or reuses) a store of the synthetic corpus and its ``kg export`` dumps,
then measures, on 127.0.0.1 and one server at a time (2 cores: the load generator and
the server share them; only the sequential aggregation query goes to scholarkg and
Oxigraph in turns):

1. scholarkg: ``kg serve --store S --exports-dir E --port P`` with default settings
   (read-only: no update token), its result cache on;
2. scholarkg, no cache: the same with ``KG_RESULT_CACHE_MB=0``, so that every query
   is evaluated;
3. Oxigraph: ``oxigraph serve-read-only --location S`` on the same store directory;
4. rdflib-endpoint: ``rdflib-endpoint serve default-graph.nt`` (endpoint at ``/``) on
   the default-graph N-Triples dump, i.e. the triples the other two query by default.

Per server and round (the first three in an order that turns with the round):

- **point queries**: a fixed mix over ``--persons`` (2,000) random profile owners
  (papers with titles and co-authors 50 %, a profile card 25 %, ranked co-authors
  25 %), ``--clients`` concurrent keep-alive connections for ``--duration`` seconds
  after a warm-up: requests/s, p50/p95/p99 latency, errors, and the CPU that server,
  load generator and the rest of the machine used meanwhile;
- **aggregation**: top authors by paper count, ``--agg-warmup`` unmeasured runs then
  ``--agg-repeat`` runs one after the other: median latency. scholarkg without cache
  and Oxigraph, both up (idle otherwise) at that point, take the requests in turns, so
  that the machine's changing load hits both alike;
- **full dump**: scholarkg serves ``/dumps/<release>.nq.gz`` (and ``.nt.gz``) at full
  speed ``--dump-repeat`` times and once to a slow reader, while the RSS of its whole
  process tree (gunicorn master, workers, query executors) is sampled every 10 ms;
  Oxigraph answers ``CONSTRUCT { ?s ?p ?o } WHERE { ?s ?p ?o }`` and
  ``GET /store?default`` as N-Triples; rdflib-endpoint the same CONSTRUCT, once, at
  the end, bounded by ``--rdflib-timeout``.

Every query asks for ``Accept: application/sparql-results+json`` with
``Accept-Encoding: identity`` (no server compresses), by GET ``?query=``. Rounds are
repeated ``--repeat`` times; the report gives medians and, for the targets, the
ratios measured within each round, their median and the worst round:

- scholarkg point-query throughput, result cache off, >= 0.65 x Oxigraph's;
- the same with the result cache on >= 1.5 x Oxigraph's;
- scholarkg aggregation latency (cache off) <= 1.1 x Oxigraph's, and >= 20 x faster
  than rdflib's;
- scholarkg RSS flat while dumps stream: max - min during the downloads <= 16 MB;
- no point-query errors on any server.

After the rounds, the **engine alone**: the same point-query mix through pyoxigraph in one
thread of a process of its own (parse, evaluate, SPARQL JSON by the engine; no HTTP, no
process boundary), CPU ms per query with the C library's malloc and with jemalloc: the
floor under scholarkg's cache-off cost per query, beside Oxigraph's whole server.

A JSON report goes to ``benchmarks/out/server-<N>.json`` (N: profile owners).
Exit status: 0 when every target passes, 1 when one fails, 2 when the benchmark could
not run. Every server and load-generator process is stopped at the end, on errors and
on SIGINT/SIGTERM too.

Usage::

    python benchmarks/bench_server.py                      # 2000 profiles, ~1.3M quads
    python benchmarks/bench_server.py --profiles 500 --duration 5 --repeat 1
    python benchmarks/bench_server.py --store STORE --exports EXPORTS
"""

from __future__ import annotations

import argparse
import array
import contextlib
import gzip
import http.client
import json
import math
import multiprocessing
import os
import random
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any
from urllib.parse import urlencode

import psutil

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
for entry in (str(BENCH_DIR), str(ROOT)):
    if entry not in sys.path:
        sys.path.insert(0, entry)

import generate_corpus  # noqa: E402
from bench_ingest import (  # noqa: E402
    AS_OF,
    BenchmarkError,
    environment_facts,
    find_dumps,
    kg_command,
    kg_environment,
    oxigraph_command,
    write_report,
)
from measure import (  # noqa: E402
    MB,
    CommandFailed,
    PeakRssSampler,
    cpu_delta,
    median,
    percentile,
    run_measured,
    tree_cpu_seconds,
    tree_processes,
    tree_rss,
)

OUT_DIR = BENCH_DIR / "out"
HOST = "127.0.0.1"
JSON_RESULTS = "application/sparql-results+json"
NTRIPLES = "application/n-triples"

#: scholarkg point-query requests/s divided by Oxigraph's, result cache off, must reach this
TARGET_POINT_RATIO_NO_CACHE = 0.65
#: the same with the result cache on (a mix over --persons people)
TARGET_POINT_RATIO_CACHE = 1.5
#: scholarkg aggregation latency divided by Oxigraph's must stay at or below this
TARGET_AGG_VS_OXIGRAPH = 1.1
#: rdflib-endpoint aggregation latency divided by scholarkg's must reach this
TARGET_AGG_VS_RDFLIB = 20.0
#: scholarkg tree RSS max - min while dumps stream must stay at or below this many MB
TARGET_DUMP_RSS_MB = 16.0

PREFIXES = (
    "PREFIX foaf: <http://xmlns.com/foaf/0.1/>\n"
    "PREFIX schema: <https://schema.org/>\n"
    "PREFIX skg: <https://w3id.org/scholarkg/ns#>\n"
)
#: the point-query mix: (name, template with {P} for the person IRI); repeated in order
POINT_TEMPLATES: tuple[tuple[str, str], ...] = (
    (
        "papers+coauthors",
        "SELECT ?paper ?title ?coauthor WHERE { <{P}> foaf:made ?paper . "
        "?paper schema:name ?title . "
        "OPTIONAL { ?paper schema:author ?coauthor FILTER(?coauthor != <{P}>) } }",
    ),
    (
        "profile card",
        "SELECT ?name ?hIndex ?citations ?papers WHERE { <{P}> schema:name ?name . "
        "OPTIONAL { <{P}> skg:hIndex ?hIndex } OPTIONAL { <{P}> skg:citationCount ?citations } "
        "OPTIONAL { <{P}> skg:paperCount ?papers } }",
    ),
    (
        "papers+coauthors",
        "SELECT ?paper ?title ?coauthor WHERE { <{P}> foaf:made ?paper . "
        "?paper schema:name ?title . "
        "OPTIONAL { ?paper schema:author ?coauthor FILTER(?coauthor != <{P}>) } }",
    ),
    (
        "ranked coauthors",
        "SELECT ?coauthor ?name (COUNT(?paper) AS ?shared) WHERE { <{P}> foaf:made ?paper . "
        "?paper schema:author ?coauthor . FILTER(?coauthor != <{P}>) "
        "OPTIONAL { ?coauthor schema:name ?name } } "
        "GROUP BY ?coauthor ?name ORDER BY DESC(?shared) ?coauthor LIMIT 20",
    ),
)
AGGREGATION_QUERY = (
    PREFIXES + "SELECT ?p (COUNT(?x) AS ?n) WHERE { ?x schema:author ?p } "
    "GROUP BY ?p ORDER BY DESC(?n) LIMIT 10"
)
CONSTRUCT_ALL = "CONSTRUCT { ?s ?p ?o } WHERE { ?s ?p ?o }"


def point_query(template: str, person: str) -> str:
    """A point query for one person.

    >>> "<http://ex.org/p> foaf:made" in point_query(POINT_TEMPLATES[0][1], "http://ex.org/p")
    True
    """
    return PREFIXES + template.replace("{P}", person)


# --------------------------------------------------------------------------- HTTP client


class HttpError(Exception):
    """The server's answer is not valid HTTP/1.1 (or the connection closed mid-answer)."""


class KeepAliveClient:
    """A minimal HTTP/1.1 client over one keep-alive socket, for the load generator.

    Requests are prepared byte strings (:func:`raw_get`); only the status line and the
    framing headers are parsed (Content-Length, chunked, Connection), so a request costs
    the client a few tens of microseconds. A request on a reused connection that fails
    before any byte of the answer arrives (the server closed it while idle) is sent again
    once on a new connection.
    """

    def __init__(self, host: str, port: int, timeout: float, source: str | None = None,
                 ) -> None:
        self.address = (host, port)
        self.timeout = timeout
        #: the client's own loopback address: each client is one client of a fair share
        self.source = (source, 0) if source else None
        self._sock: socket.socket | None = None
        self._buf = bytearray()
        self._received = False

    def connect(self) -> None:
        self.close()
        sock = socket.create_connection(self.address, timeout=self.timeout,
                                        source_address=self.source)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._sock, self._buf = sock, bytearray()

    def close(self) -> None:
        if self._sock is not None:
            try:
                self._sock.close()
            finally:
                self._sock = None

    def request(self, raw: bytes) -> tuple[int, bytes]:
        """Send one prepared request; returns (status, body)."""
        for attempt in (0, 1):
            reused = self._sock is not None
            if not reused:
                self.connect()
            assert self._sock is not None
            self._received = False
            try:
                self._sock.sendall(raw)
                return self._response()
            except (_StaleConnection, ConnectionResetError, BrokenPipeError) as exc:
                self.close()
                if not reused or self._received or attempt:
                    raise HttpError(f"the connection failed: {exc!r}") from None
        raise AssertionError("unreachable")

    def _fill(self) -> None:
        assert self._sock is not None
        data = self._sock.recv(262144)
        if not data:
            self.close()
            if not self._received:
                raise _StaleConnection("closed before answering")
            raise HttpError("connection closed in the middle of a response")
        self._received = True
        self._buf += data

    def _response(self) -> tuple[int, bytes]:
        buf = self._buf
        end = buf.find(b"\r\n\r\n")
        while end < 0:
            self._fill()
            end = buf.find(b"\r\n\r\n")
        status, length, chunked, close = parse_head(bytes(buf[:end]))
        del buf[: end + 4]
        if status in (204, 304) or 100 <= status < 200:
            body = b""
        elif chunked:
            body = self._chunked()
        elif length is not None:
            while len(buf) < length:
                self._fill()
            body = bytes(buf[:length])
            del buf[:length]
        else:  # delimited by the end of the connection
            assert self._sock is not None
            while True:
                data = self._sock.recv(262144)
                if not data:
                    break
                buf += data
            body, close = bytes(buf), True
            buf.clear()
        if close:
            self.close()
        return status, body

    def _line(self) -> bytes:
        buf = self._buf
        end = buf.find(b"\r\n")
        while end < 0:
            self._fill()
            end = buf.find(b"\r\n")
        line = bytes(buf[:end])
        del buf[: end + 2]
        return line

    def _chunked(self) -> bytes:
        buf, parts = self._buf, []
        while True:
            size = int(self._line().split(b";", 1)[0], 16)
            if size == 0:
                while self._line():  # trailers, up to the empty line
                    pass
                return b"".join(parts)
            while len(buf) < size + 2:
                self._fill()
            parts.append(bytes(buf[:size]))
            del buf[: size + 2]


class _StaleConnection(Exception):
    """A reused connection was closed by the server before it answered."""


def parse_head(head: bytes) -> tuple[int, int | None, bool, bool]:
    """(status, content length, chunked, connection closes) of a response head.

    >>> parse_head(b"HTTP/1.1 200 OK\\r\\nContent-Length: 12\\r\\nX: y")
    (200, 12, False, False)
    >>> parse_head(b"HTTP/1.1 503 Busy\\r\\ntransfer-encoding: chunked\\r\\nConnection: close")
    (503, None, True, True)
    >>> parse_head(b"HTTP/1.0 200 OK")
    (200, None, False, True)
    """
    lines = head.split(b"\r\n")
    version, _, rest = lines[0].partition(b" ")
    if not version.startswith(b"HTTP/"):
        raise HttpError(f"not an HTTP response: {lines[0][:80]!r}")
    status = int(rest[:3])
    length, chunked, close = None, False, version == b"HTTP/1.0"
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"transfer-encoding":
            chunked = b"chunked" in value.lower()
        elif name == b"connection":
            token = value.strip().lower()
            close = token == b"close" or (close and token != b"keep-alive")
    return status, length, chunked, close


def raw_get(port: int, target: str, accept: str = JSON_RESULTS) -> bytes:
    """A prepared GET request: no compression, keep-alive (HTTP/1.1 default).

    >>> raw_get(8000, "/q?x=1").split(b"\\r\\n")[:2]
    [b'GET /q?x=1 HTTP/1.1', b'Host: 127.0.0.1:8000']
    """
    return (
        f"GET {target} HTTP/1.1\r\nHost: {HOST}:{port}\r\nAccept: {accept}\r\n"
        "Accept-Encoding: identity\r\nUser-Agent: kg-bench-server\r\n\r\n"
    ).encode("ascii")


def http_get(
    port: int, target: str, accept: str, *, timeout: float
) -> tuple[int, dict[str, str], bytes]:
    """One GET with http.client (for checks and slow queries): status, headers, body."""
    conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        conn.request(
            "GET", target, headers={"Accept": accept, "Accept-Encoding": "identity"}
        )
        response = conn.getresponse()
        body = response.read()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, body
    finally:
        conn.close()


# --------------------------------------------------------------------------- load generator


@dataclass(frozen=True)
class LoadSpec:
    """What one load-generator process does (plain data: it is pickled to the process)."""

    port: int
    requests: tuple[bytes, ...]
    threads: int
    first_client: int
    duration: float
    timeout: float
    max_requests_per_client: int


def _client_process(spec: LoadSpec, barrier: Any, results: Any) -> None:
    """Body of a load-generator process: ``spec.threads`` keep-alive clients."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent stops us
    n = len(spec.requests)
    # one loopback address per client across all load processes: the server's fair share
    # limits what one address runs at once, so two clients on one address are one client
    clients = [KeepAliveClient(HOST, spec.port, spec.timeout,
                               source=f"127.0.0.{spec.first_client + slot + 2}")
               for slot in range(spec.threads)]
    outcome: dict[str, Any] = {"error": None}
    go = threading.Event()
    window: dict[str, int] = {}
    latencies = [array.array("q") for _ in clients]
    errors: list[Counter[str]] = [Counter() for _ in clients]
    finished = [0] * len(clients)

    def run(slot: int) -> None:
        client, lat, errs = clients[slot], latencies[slot], errors[slot]
        index = ((spec.first_client + slot) * 7919) % n
        go.wait()
        end = window["end"]
        count = 0
        while count < spec.max_requests_per_client:
            started = time.perf_counter_ns()
            if started >= end:
                break
            raw = spec.requests[index % n]
            index += 1
            count += 1
            try:
                status, _ = client.request(raw)
            except (OSError, HttpError, ValueError) as exc:
                errs[type(exc).__name__] += 1
                client.close()
                time.sleep(0.01)
                continue
            if status != 200:
                errs[f"HTTP {status}"] += 1
                continue
            lat.append(time.perf_counter_ns() - started)
        finished[slot] = time.perf_counter_ns()
        client.close()

    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(len(clients))]
    try:
        for client in clients:
            client.connect()
        for thread in threads:
            thread.start()
        barrier.wait(timeout=120)
    except Exception as exc:  # noqa: BLE001 - reported to the parent
        outcome["error"] = f"{type(exc).__name__}: {exc}"
        barrier.abort()
        go.set()
        window.setdefault("end", 0)
        results.put(outcome)
        return
    before = resource.getrusage(resource.RUSAGE_SELF)
    start = time.perf_counter_ns()
    window["end"] = start + int(spec.duration * 1e9)
    go.set()
    for thread in threads:
        thread.join(spec.duration + spec.timeout + 30)
    after = resource.getrusage(resource.RUSAGE_SELF)
    merged: Counter[str] = Counter()
    for errs in errors:
        merged.update(errs)
    outcome.update(
        latencies_ns=[x for lat in latencies for x in lat],
        errors=dict(merged),
        elapsed=(max(finished) - start) / 1e9 if all(finished) else float("nan"),
        cpu_seconds=(after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime),
        alive=sum(thread.is_alive() for thread in threads),
    )
    results.put(outcome)


@dataclass
class LoadResult:
    """One timed load against one server."""

    requests: int
    errors: dict[str, int]
    elapsed: float
    latencies_ms: list[float]
    client_cpu_seconds: float
    client_process_max_cores: float
    server_cpu_seconds: float
    machine_busy_seconds: float
    server_peak_rss_mb: float

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())

    def summary(self, clients: int, processes: int) -> dict[str, Any]:
        ok = len(self.latencies_ms)
        wall = self.elapsed
        return {
            "requests_ok": ok,
            "errors": self.error_count,
            "error_kinds": self.errors,
            "seconds": wall,
            "requests_per_second": ok / wall if wall else float("nan"),
            "p50_ms": percentile(self.latencies_ms, 50),
            "p95_ms": percentile(self.latencies_ms, 95),
            "p99_ms": percentile(self.latencies_ms, 99),
            "mean_ms": sum(self.latencies_ms) / ok if ok else float("nan"),
            "server_cores": self.server_cpu_seconds / wall,
            "server_cpu_ms_per_request": 1000 * self.server_cpu_seconds / ok if ok else None,
            "client_cores": self.client_cpu_seconds / wall,
            "client_process_max_cores": self.client_process_max_cores,
            "client_cpu_ms_per_request": 1000 * self.client_cpu_seconds / ok if ok else None,
            "other_cores": max(
                0.0,
                (self.machine_busy_seconds - self.server_cpu_seconds - self.client_cpu_seconds)
                / wall,
            ),
            "machine_cores": os.cpu_count(),
            "server_peak_rss_mb": self.server_peak_rss_mb,
            "clients": clients,
            "client_processes": processes,
        }


def _machine_busy() -> float:
    times = psutil.cpu_times()
    return sum(times) - times.idle - getattr(times, "iowait", 0.0)


def run_load(
    server: ServerProcess,
    requests: Sequence[bytes],
    *,
    clients: int,
    processes: int,
    duration: float,
    timeout: float,
) -> LoadResult:
    """``clients`` keep-alive connections in ``processes`` processes, for ``duration`` s."""
    ctx = multiprocessing.get_context("spawn")
    processes = max(1, min(processes, clients))
    barrier = ctx.Barrier(processes + 1)
    results = ctx.Queue()
    share = [clients // processes + (1 if i < clients % processes else 0) for i in range(processes)]
    workers = []
    first = 0
    for threads in share:
        spec = LoadSpec(
            server.port, tuple(requests), threads, first, duration, timeout, 10_000_000
        )
        first += threads
        workers.append(ctx.Process(target=_client_process, args=(spec, barrier, results)))
    outcomes: list[dict[str, Any]] = []
    try:
        for worker in workers:
            worker.start()
        barrier.wait(timeout=120)
        cpu_before = tree_cpu_seconds(server.process)
        busy_before = _machine_busy()
        with PeakRssSampler(server.pid, interval=0.1) as rss:
            for _ in workers:
                outcomes.append(results.get(timeout=duration + timeout + 120))
        cpu_after = tree_cpu_seconds(server.process)
        busy_after = _machine_busy()
    except threading.BrokenBarrierError as exc:
        reason = "no reason given"
        try:
            reason = results.get(timeout=10).get("error") or reason
        except Exception:  # noqa: BLE001 - only for the message
            pass
        raise BenchmarkError(f"the load generator processes did not start: {reason}") from exc
    finally:
        for worker in workers:
            worker.join(timeout=30)
            if worker.is_alive():
                worker.terminate()
                worker.join(timeout=5)
        results.close()
    failed = [o["error"] for o in outcomes if o.get("error")]
    if failed:
        raise BenchmarkError(f"the load generator failed: {failed[0]}")
    errors: Counter[str] = Counter()
    for outcome in outcomes:
        errors.update(outcome["errors"])
        if outcome["alive"]:
            errors["client still waiting at the end"] += outcome["alive"]
    elapsed = max(o["elapsed"] for o in outcomes)
    return LoadResult(
        requests=sum(len(o["latencies_ns"]) for o in outcomes),
        errors=dict(errors),
        elapsed=elapsed,
        latencies_ms=[x / 1e6 for o in outcomes for x in o["latencies_ns"]],
        client_cpu_seconds=sum(o["cpu_seconds"] for o in outcomes),
        client_process_max_cores=max(o["cpu_seconds"] / o["elapsed"] for o in outcomes),
        server_cpu_seconds=cpu_delta(cpu_before, cpu_after),
        machine_busy_seconds=busy_after - busy_before,
        server_peak_rss_mb=rss.peak_bytes / MB,
    )


# --------------------------------------------------------------------------- servers

#: servers started and not yet stopped (stopped on any exit)
_RUNNING: set[ServerProcess] = set()


class ServerProcess:
    """A server started in its own session, stopped (with every descendant) on exit."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        *,
        port: int,
        ready_target: str,
        query_path: str,
        log: Path,
        cwd: Path | None = None,
        env: dict[str, str] | None = None,
        startup_timeout: float = 120.0,
    ) -> None:
        self.name = name
        self.argv = [os.fspath(a) for a in argv]
        self.port = port
        self.ready_target = ready_target
        self.query_path = query_path
        self.log = log
        self.cwd = cwd
        self.env = env
        self.startup_timeout = startup_timeout
        self.process: psutil.Popen | None = None  # type: ignore[assignment]
        self.startup_seconds = float("nan")

    @property
    def pid(self) -> int:
        assert self.process is not None
        return int(self.process.pid)

    def target(self, sparql: str) -> str:
        """The request target of a GET query."""
        return f"{self.query_path}?{urlencode({'query': sparql})}"

    def __enter__(self) -> ServerProcess:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        started = time.perf_counter()
        with self.log.open("ab") as output:
            self.process = psutil.Popen(
                self.argv,
                cwd=self.cwd,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        _RUNNING.add(self)
        deadline = started + self.startup_timeout
        while True:
            if self.process.poll() is not None:
                raise BenchmarkError(
                    f"{self.name} exited with status {self.process.returncode} while starting; "
                    f"end of {self.log}:\n{_tail(self.log)}"
                )
            try:
                status, _, body = http_get(self.port, self.ready_target, JSON_RESULTS,
                                           timeout=10)
            except (OSError, http.client.HTTPException):
                status, body = 0, b""
            if status == 200:
                break
            if 400 <= status < 500:
                raise BenchmarkError(f"{self.name} answered {status} to {self.ready_target}: "
                                     f"{body[:300]!r}")
            if time.perf_counter() > deadline:
                raise BenchmarkError(
                    f"{self.name} did not answer {self.ready_target} within "
                    f"{self.startup_timeout:g} s; end of {self.log}:\n{_tail(self.log)}"
                )
            time.sleep(0.25)
        self.startup_seconds = time.perf_counter() - started

    def rss_mb(self) -> float:
        assert self.process is not None
        return tree_rss(self.process) / MB

    def stop(self) -> None:
        """SIGTERM to the server, then SIGKILL to whatever of its tree remains."""
        process = self.process
        if process is None:
            return
        members = tree_processes(process)
        try:
            process.terminate()
        except psutil.NoSuchProcess:
            pass
        _gone, alive = psutil.wait_procs(members, timeout=20)
        for member in alive:
            try:
                member.kill()
            except psutil.NoSuchProcess:
                pass
        psutil.wait_procs(alive, timeout=5)
        try:  # anything that joined the server's session later (a replaced executor)
            os.killpg(process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            process.wait(timeout=5)
        except psutil.TimeoutExpired:
            pass
        _RUNNING.discard(self)
        self.process = None


def stop_all_servers() -> None:
    """Stop every server still running (used on any exit)."""
    for server in list(_RUNNING):
        server.stop()


def _tail(path: Path, limit: int = 3000) -> str:
    try:
        return path.read_bytes()[-limit:].decode("utf-8", errors="replace")
    except OSError:
        return ""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class Tools:
    """The commands the benchmark runs."""

    kg: list[str]
    oxigraph: str
    rdflib_endpoint: list[str]


def rdflib_endpoint_command() -> list[str]:
    """The rdflib-endpoint CLI (it needs uvicorn: ``pip install 'rdflib-endpoint[cli]'``)."""
    script = Path(sys.executable).parent / "rdflib-endpoint"
    found = str(script) if script.is_file() else shutil.which("rdflib-endpoint")
    if not found:
        raise BenchmarkError(
            "rdflib-endpoint is not installed: pip install 'rdflib-endpoint[cli]' "
            "(the project's 'bench' extra)"
        )
    try:
        done = subprocess.run(
            [found, "serve", "--help"], capture_output=True, text=True, timeout=60, check=False
        )
    except OSError as exc:
        raise BenchmarkError(f"rdflib-endpoint cannot run: {exc}") from exc
    if done.returncode != 0:
        raise BenchmarkError(
            "rdflib-endpoint cannot run (is uvicorn installed? pip install "
            f"'rdflib-endpoint[cli]'):\n{(done.stderr or done.stdout)[-1500:]}"
        )
    return [found]


#: the name of scholarkg run with its result cache off (KG_RESULT_CACHE_MB=0)
NO_CACHE = "scholarkg, no cache"


def scholarkg_server(tools: Tools, data: Dataset, logs: Path, *, cache: bool = True,
                     ) -> ServerProcess:
    """``kg serve`` with default settings; ``cache=False`` turns the result cache off, so
    that every point query is evaluated (what a mix of queries that never repeat costs)."""
    port = free_port()
    env = kg_environment()
    if not cache:
        env["KG_RESULT_CACHE_MB"] = "0"
    return ServerProcess(
        "scholarkg" if cache else NO_CACHE,
        [*tools.kg, "serve", "--store", str(data.store), "--exports-dir", str(data.exports),
         "--host", HOST, "--port", str(port)],
        port=port,
        ready_target="/healthz",
        query_path="/sparql",
        log=logs / ("scholarkg.log" if cache else "scholarkg-no-cache.log"),
        cwd=ROOT,
        env=env,
    )


def oxigraph_server(tools: Tools, data: Dataset, logs: Path) -> ServerProcess:
    port = free_port()
    return ServerProcess(
        "oxigraph",
        [tools.oxigraph, "serve-read-only", "--location", str(data.store),
         "--bind", f"{HOST}:{port}"],
        port=port,
        ready_target="/query?" + urlencode({"query": "ASK {}"}),
        query_path="/query",
        log=logs / "oxigraph.log",
    )


def rdflib_server(tools: Tools, data: Dataset, logs: Path, startup: float) -> ServerProcess:
    port = free_port()
    assert data.default_graph_nt is not None
    return ServerProcess(
        "rdflib-endpoint",
        [*tools.rdflib_endpoint, "serve", str(data.default_graph_nt), "--host", HOST,
         "--port", str(port)],
        port=port,
        # the CLI mounts the endpoint at "/" (SparqlEndpoint's default path)
        ready_target="/?" + urlencode({"query": "ASK {}"}),
        query_path="/",
        log=logs / "rdflib-endpoint.log",
        startup_timeout=startup,
    )


# --------------------------------------------------------------------------- data


@dataclass
class Dataset:
    """The store, its dumps and what they hold."""

    store: Path
    exports: Path
    nquads_dump: Path
    ntriples_dump: Path
    quads: int = 0
    default_triples: int = 0
    profiles: int = 0
    persons: list[str] = field(default_factory=list)
    default_graph_nt: Path | None = None
    build: dict[str, Any] = field(default_factory=dict)


def kg_query_lines(kg: list[str], store: Path, sparql: str) -> list[str]:
    """The TSV lines (header first) of ``kg query``."""
    done = subprocess.run(
        [*kg, "query", sparql, "--store", str(store), "--format", "tsv"],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        cwd=ROOT,
        env=kg_environment(),
    )
    if done.returncode != 0:
        raise BenchmarkError(f"kg query failed on {store}:\n{done.stderr[-2000:]}")
    return done.stdout.splitlines()


def _count(kg: list[str], store: Path, pattern: str) -> int:
    lines = kg_query_lines(kg, store, f"SELECT (COUNT(*) AS ?n) WHERE {{ {pattern} }}")
    return int(lines[1].split("\t")[0].strip('"').split("^^")[0].strip('"'))


def describe_store(data: Dataset, kg: list[str], persons: int, seed: int) -> None:
    """Counts, and ``persons`` random profile owners (people who made papers)."""
    data.default_triples = _count(kg, data.store, "?s ?p ?o")
    data.quads = data.default_triples + _count(kg, data.store, "GRAPH ?g { ?s ?p ?o }")
    lines = kg_query_lines(
        kg, data.store,
        PREFIXES + "SELECT DISTINCT ?p WHERE { ?p foaf:made ?x } ORDER BY ?p",
    )
    owners = [line.strip()[1:-1] for line in lines[1:] if line.startswith("<")]
    if not owners:
        raise BenchmarkError(f"the store {data.store} has no foaf:made statements")
    data.profiles = len(owners)
    data.persons = random.Random(seed).sample(owners, min(persons, len(owners)))


def build_dataset(args: argparse.Namespace, tools: Tools, workdir: Path) -> Dataset:
    """Generate the corpus, ``kg ingest`` and ``kg export`` it (or reuse --store/--exports)."""
    if args.store is not None:
        store, exports = args.store.resolve(), args.exports.resolve()
        if not store.is_dir():
            raise BenchmarkError(f"--store {store} is not a directory")
        build: dict[str, Any] = {"generated": False}
    else:
        corpus, store, exports = workdir / "corpus", workdir / "store", workdir / "exports"
        for path in (corpus, store, exports):
            if path.exists():
                raise BenchmarkError(f"{path} already exists; use another --workdir")
        print(f"generating {args.profiles:,} profiles ...", flush=True)
        summary = generate_corpus.generate(
            args.profiles, corpus, seed=args.seed, as_of=generate_corpus.DEFAULT_AS_OF
        )
        print("kg ingest ...", flush=True)
        ingest = run_measured(
            [*tools.kg, "ingest", corpus, "--as-of", AS_OF, "--store", store],
            cwd=ROOT, env=kg_environment(), log=workdir / "kg-ingest.log",
        )
        print("kg export ...", flush=True)
        export = run_measured(
            [*tools.kg, "export", "--store", store, "--out", exports],
            cwd=ROOT, env=kg_environment(), log=workdir / "kg-export.log",
        )
        if not args.keep:
            shutil.rmtree(corpus, ignore_errors=True)
        build = {
            "generated": True,
            "seed": args.seed,
            "documents": summary.documents,
            "ingest_seconds": ingest.wall_seconds,
            "export_seconds": export.wall_seconds,
        }
    if not exports.is_dir():
        raise BenchmarkError(f"no exports folder at {exports}")
    nquads = find_dumps(exports)
    if nquads[0].parent != exports:
        raise BenchmarkError(f"the dumps must be directly inside {exports} (/dumps/ serves that)")
    ntriples = sorted(exports.glob("*.nt.gz"))
    if not ntriples:
        raise BenchmarkError(f"no *.nt.gz (default-graph N-Triples dump) in {exports}")
    data = Dataset(store, exports, nquads[-1], ntriples[-1], build=build)
    describe_store(data, tools.kg, args.persons, args.seed)
    return data


def gunzip(source: Path, target: Path) -> None:
    with gzip.open(source, "rb") as packed, target.open("wb") as out:
        shutil.copyfileobj(packed, out, 1 << 20)


# --------------------------------------------------------------------------- measurements


def point_requests(server: ServerProcess, persons: Sequence[str]) -> list[bytes]:
    """The prepared point-query mix for one server: every template for every person."""
    return [
        raw_get(server.port, server.target(point_query(template, person)))
        for person in persons
        for _, template in POINT_TEMPLATES
    ]


def check_answers(server: ServerProcess, persons: Sequence[str], timeout: float) -> dict[str, int]:
    """Row counts of the point queries for a few persons (compared across servers); also
    checks that none is capped, so every server answers the same rows."""
    counts: dict[str, int] = {}
    templates = dict(POINT_TEMPLATES)  # each distinct query once
    for person in persons:
        for name, template in templates.items():
            status, headers, body = http_get(
                server.port, server.target(point_query(template, person)), JSON_RESULTS,
                timeout=timeout,
            )
            if status != 200:
                raise BenchmarkError(
                    f"{server.name} answered {status} to a point query: {body[:300]!r}"
                )
            if "kg-result-capped" in headers:
                raise BenchmarkError(f"{server.name} capped a point query result")
            if "gzip" in headers.get("content-encoding", ""):
                raise BenchmarkError(f"{server.name} compressed a response it was told not to")
            counts[f"{name} {person}"] = len(json.loads(body)["results"]["bindings"])
    return counts


def run_aggregations(servers: Sequence[ServerProcess], repeat: int, warmup: int,
                     timeout: float) -> dict[str, dict[str, Any]]:
    """The top-authors query, run one request at a time: ``warmup`` unmeasured rounds
    (scholarkg has several executor processes, each with its own store caches), then
    ``repeat`` measured ones. With several servers the requests alternate between them
    (A B, B A, A B, ...), so a change in the machine's load hits all of them alike."""
    latencies: dict[str, list[float]] = {server.name: [] for server in servers}
    rows: dict[str, int] = {}
    for attempt in range(warmup + repeat):
        for server in servers if attempt % 2 == 0 else list(reversed(servers)):
            # a text of its own per run (a comment), so that it is evaluated every time:
            # scholarkg's result cache would answer a repeated text from memory
            target = server.target(f"{AGGREGATION_QUERY}\n# run {attempt}")
            started = time.perf_counter()
            status, _, body = http_get(server.port, target, JSON_RESULTS, timeout=timeout)
            elapsed = time.perf_counter() - started
            if status != 200:
                raise BenchmarkError(f"{server.name} answered {status} to the aggregation: "
                                     f"{body[:300]!r}")
            rows[server.name] = len(json.loads(body)["results"]["bindings"])
            if attempt >= warmup:
                latencies[server.name].append(elapsed * 1000)
    return {
        name: {"latencies_ms": values, "median_ms": median(values), "min_ms": min(values),
               "rows": rows[name], "interleaved_with": [s.name for s in servers if s.name != name]}
        for name, values in latencies.items()
    }


@dataclass
class Download:
    """One download: size, time, statements (N-Triples lines), and the server RSS."""

    what: str
    status: int
    bytes: int
    seconds: float
    lines: int | None
    timed_out: bool = False
    error: str | None = None

    @property
    def mb_per_second(self) -> float:
        return self.bytes / MB / self.seconds if self.seconds else float("nan")


def download(
    port: int,
    target: str,
    accept: str,
    *,
    what: str,
    timeout: float,
    rate_bytes_per_s: float | None = None,
    count_lines: bool = False,
) -> Download:
    """GET ``target`` and read the whole body (never kept), optionally at a limited rate."""
    started = time.perf_counter()
    deadline = started + timeout
    size, lines, status = 0, 0, 0
    conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        conn.request("GET", target, headers={"Accept": accept, "Accept-Encoding": "identity"})
        response = conn.getresponse()
        status = response.status
        while True:
            chunk = response.read(256 * 1024)
            if not chunk:
                break
            size += len(chunk)
            if count_lines:
                lines += chunk.count(b"\n")
            now = time.perf_counter()
            if now > deadline:
                return Download(what, status, size, now - started, None, timed_out=True)
            if rate_bytes_per_s:
                ahead = size / rate_bytes_per_s - (now - started)
                if ahead > 0:
                    time.sleep(min(ahead, max(0.0, deadline - now)))
    except TimeoutError:
        return Download(what, status, size, time.perf_counter() - started, None, timed_out=True)
    except (OSError, http.client.HTTPException) as exc:
        return Download(what, status, size, time.perf_counter() - started, None,
                        error=f"{type(exc).__name__}: {exc}")
    finally:
        conn.close()
    return Download(what, status, size, time.perf_counter() - started,
                    lines if count_lines else None)


def idle_rss(server: ServerProcess, seconds: float = 1.0) -> float:
    """Median tree RSS (MB) over ``seconds`` without requests."""
    with PeakRssSampler(server.pid, interval=0.02) as sampler:
        time.sleep(seconds)
    return median(rss for _, rss in sampler.history) / MB


def measured_downloads(
    server: ServerProcess, jobs: Sequence[Callable[[], Download]]
) -> tuple[list[Download], dict[str, float]]:
    """Run downloads while sampling the server's tree RSS every 10 ms."""
    before = idle_rss(server)
    with PeakRssSampler(server.pid, interval=0.01) as sampler:
        done = [job() for job in jobs]
    after = idle_rss(server)
    rss = {
        "before_mb": before,
        "during_min_mb": sampler.min_bytes / MB,
        "during_max_mb": sampler.peak_bytes / MB,
        "during_spread_mb": (sampler.peak_bytes - sampler.min_bytes) / MB,
        "after_mb": after,
        "samples": sampler.samples,
    }
    return done, rss


def _download_record(d: Download) -> dict[str, Any]:
    return {
        "what": d.what, "status": d.status, "bytes": d.bytes, "seconds": d.seconds,
        "mb_per_second": d.mb_per_second, "lines": d.lines, "timed_out": d.timed_out,
        "error": d.error,
    }


def _check_downloads(server: ServerProcess, downloads: Sequence[Download]) -> None:
    for d in downloads:
        if d.error or (d.status != 200 and not d.timed_out):
            raise BenchmarkError(f"{server.name}: {d.what} failed: status {d.status}, {d.error}")


def scholarkg_dumps(server: ServerProcess, data: Dataset, args: argparse.Namespace,
                    ) -> dict[str, Any]:
    """Full-speed and slow-reader downloads of the dumps, with the RSS of the tree."""
    nq, nt = data.nquads_dump, data.ntriples_dump
    nq_target, nt_target = f"/dumps/{nq.name}", f"/dumps/{nt.name}"
    slow_rate = nq.stat().st_size / max(0.5, args.slow_seconds)
    jobs: list[Callable[[], Download]] = []
    for _ in range(args.dump_repeat):
        jobs.append(lambda: download(server.port, nq_target, "*/*", what=nq.name,
                                     timeout=args.timeout))
    for _ in range(args.dump_repeat):
        jobs.append(lambda: download(server.port, nt_target, "*/*", what=nt.name,
                                     timeout=args.timeout))
    jobs.append(lambda: download(server.port, nq_target, "*/*", what=nq.name + " (slow reader)",
                                 timeout=args.timeout, rate_bytes_per_s=slow_rate))
    downloads, rss = measured_downloads(server, jobs)
    _check_downloads(server, downloads)
    for d in downloads:
        expected = (nq if d.what.startswith(nq.name) else nt).stat().st_size
        if d.bytes != expected:
            raise BenchmarkError(f"scholarkg sent {d.bytes} bytes of {d.what}, not {expected}")
    fast_nq = [d for d in downloads if d.what == nq.name]
    fast_nt = [d for d in downloads if d.what == nt.name]
    return {
        "nquads": {"file": nq.name, "bytes": nq.stat().st_size, "statements": data.quads,
                   "mb_per_second": median(d.mb_per_second for d in fast_nq),
                   "seconds": median(d.seconds for d in fast_nq)},
        "ntriples": {"file": nt.name, "bytes": nt.stat().st_size,
                     "statements": data.default_triples,
                     "mb_per_second": median(d.mb_per_second for d in fast_nt),
                     "seconds": median(d.seconds for d in fast_nt)},
        "slow_reader_seconds": downloads[-1].seconds,
        "rss": rss,
        "downloads": [_download_record(d) for d in downloads],
    }


def graph_dumps(server: ServerProcess, targets: Sequence[tuple[str, str]], timeout: float,
                ) -> dict[str, Any]:
    """N-Triples downloads of the whole default graph (CONSTRUCT, /store), each with the
    RSS of the server sampled around it."""
    downloads: dict[str, Any] = {}
    for what, target in targets:
        done, rss = measured_downloads(server, [
            lambda t=target, w=what: download(server.port, t, NTRIPLES, what=w,
                                              timeout=timeout, count_lines=True)])
        _check_downloads(server, done)
        d = done[0]
        downloads[what] = {
            **_download_record(d), "rss": rss,
            "statements_per_second": (d.lines or 0) / d.seconds if d.seconds else None,
        }
    return {"downloads": downloads}


# --------------------------------------------------------------------------- one round


def measure_server(
    server: ServerProcess,
    data: Dataset,
    args: argparse.Namespace,
    *,
    aggregation: bool = True,
) -> dict[str, Any]:
    """Checks, warm-up and point-query load (and the aggregation when asked) against a
    running server."""
    result: dict[str, Any] = {"startup_seconds": server.startup_seconds,
                              "idle_rss_mb": server.rss_mb()}
    result["answers"] = check_answers(server, data.persons[: args.check_persons], args.timeout)
    requests = point_requests(server, data.persons)
    print(f"  {server.name}: warm-up {args.warmup:g} s, load {args.duration:g} s ...",
          flush=True)
    run_load(server, requests, clients=args.clients, processes=args.client_processes,
             duration=args.warmup, timeout=args.timeout)
    load = run_load(server, requests, clients=args.clients,
                    processes=args.client_processes, duration=args.duration,
                    timeout=args.timeout)
    result["point"] = load.summary(args.clients, args.client_processes)
    p = result["point"]
    print(f"    {p['requests_per_second']:,.0f} req/s, p50 {p['p50_ms']:.1f} ms, "
          f"p99 {p['p99_ms']:.1f} ms, errors {p['errors']}, server {p['server_cores']:.2f} "
          f"cores, client {p['client_cores']:.2f} cores, other {p['other_cores']:.2f} cores",
          flush=True)
    if aggregation:
        result["aggregation"] = run_aggregations(
            [server], args.agg_repeat, args.agg_warmup, args.timeout)[server.name]
        print(f"  {server.name}: aggregation median {result['aggregation']['median_ms']:.1f} ms",
              flush=True)
    return result


def measure_scholarkg(server: ServerProcess, data: Dataset, args: argparse.Namespace,
                      ) -> dict[str, Any]:
    """Point queries and dump downloads against a running ``kg serve``."""
    result = measure_server(server, data, args, aggregation=False)
    result["dumps"] = scholarkg_dumps(server, data, args)
    rss = result["dumps"]["rss"]
    print(f"  scholarkg: dump {result['dumps']['nquads']['mb_per_second']:.0f} MB/s, "
          f"RSS {rss['before_mb']:.0f} MB before, {rss['during_min_mb']:.0f}-"
          f"{rss['during_max_mb']:.0f} MB during, {rss['after_mb']:.0f} MB after", flush=True)
    return result


def measure_oxigraph(server: ServerProcess, data: Dataset, args: argparse.Namespace,
                     ) -> dict[str, Any]:
    """Point queries and full-graph downloads against a running Oxigraph server."""
    result = measure_server(server, data, args, aggregation=False)
    result["dumps"] = graph_dumps(
        server,
        [("CONSTRUCT", server.target(CONSTRUCT_ALL)), ("GET /store?default", "/store?default")],
        args.timeout,
    )
    return result


def run_round(index: int, tools: Tools, data: Dataset, args: argparse.Namespace, logs: Path,
              ) -> dict[str, Any]:
    """One round: scholarkg with its result cache, scholarkg without it
    (``KG_RESULT_CACHE_MB=0``) and Oxigraph, each measured while the others are up and
    idle, in an order that turns with the round; then scholarkg without cache and
    Oxigraph take the aggregation query in turns."""
    names = ["oxigraph", "scholarkg", NO_CACHE]
    order = names[index % 3:] + names[:index % 3]
    this: dict[str, Any] = {}
    with contextlib.ExitStack() as stack:
        running: dict[str, ServerProcess] = {}
        for name in order:
            if name == "oxigraph":
                server = stack.enter_context(oxigraph_server(tools, data, logs))
                this[name] = measure_oxigraph(server, data, args)
            elif name == "scholarkg":
                server = stack.enter_context(scholarkg_server(tools, data, logs))
                this[name] = measure_scholarkg(server, data, args)
            else:
                server = stack.enter_context(scholarkg_server(tools, data, logs, cache=False))
                this[name] = measure_server(server, data, args, aggregation=False)
            running[name] = server
        aggregations = run_aggregations(
            [running[NO_CACHE], running["oxigraph"]], args.agg_repeat, args.agg_warmup,
            args.timeout)
    for name, result in aggregations.items():
        this[name]["aggregation"] = result
    print("  aggregation (interleaved) median: " + ", ".join(
        f"{name} {result['median_ms']:.1f} ms" for name, result in aggregations.items()),
        flush=True)
    return this


# --------------------------------------------------------------------------- engine alone

#: run in a process of its own: the point-query mix through pyoxigraph in one thread,
#: parsed, evaluated and written as SPARQL JSON by the engine, no HTTP, no IPC
_ENGINE_ALONE = """
import json, sys, time
import pyoxigraph as ox
store = ox.Store.read_only(sys.argv[1])
queries = json.load(sys.stdin)
json_format = ox.QueryResultsFormat.JSON
for text in queries[:200]:
    store.query(text).serialize(format=json_format)
started = time.process_time()
for text in queries:
    store.query(text).serialize(format=json_format)
print(json.dumps((time.process_time() - started) * 1000 / len(queries)))
"""


def engine_alone(data: Dataset, allocator: str | None, limit: int = 3000) -> float:
    """CPU ms per point query of the engine alone: pyoxigraph in one thread of a process
    of its own, over the benchmark's point-query mix (``limit`` queries), with ``allocator``
    preloaded (None: the C library's malloc). What no server around the same engine
    can go below: the floor of scholarkg's cache-off cost per query."""
    queries = [point_query(template, person) for person in data.persons
               for _, template in POINT_TEMPLATES][:limit]
    env = dict(os.environ)
    if allocator:
        env["LD_PRELOAD"] = allocator
    done = subprocess.run([sys.executable, "-c", _ENGINE_ALONE, str(data.store)],
                          input=json.dumps(queries), capture_output=True, text=True,
                          env=env, timeout=600, check=False)
    if done.returncode != 0:
        raise BenchmarkError(f"the engine-alone measurement failed: {done.stderr[-2000:]}")
    return float(done.stdout.strip())


def engine_alone_figures(data: Dataset) -> dict[str, Any]:
    """The engine alone with the C library's malloc and with jemalloc (what kg serve's
    executors preload when the system has it), median of three runs each."""
    import ctypes.util

    jemalloc = ctypes.util.find_library("jemalloc")
    figures: dict[str, Any] = {
        "system_malloc_cpu_ms_per_query": median(engine_alone(data, None) for _ in range(3))}
    if jemalloc:
        figures["jemalloc_cpu_ms_per_query"] = median(
            engine_alone(data, jemalloc) for _ in range(3))
    print("engine alone (pyoxigraph, one thread, no HTTP): " + ", ".join(
        f"{k} {v:.3f}" for k, v in figures.items()), flush=True)
    return figures


# --------------------------------------------------------------------------- summary


def _ratio(a: float | None, b: float | None) -> float:
    if a is None or b is None or not b or math.isnan(a) or math.isnan(b):
        return float("nan")
    return a / b


def _spread(values: list[float], higher_is_better: bool) -> dict[str, Any]:
    """Median, worst and every per-round value of a ratio."""
    worst = min(values) if higher_is_better else max(values)
    return {"median": median(values), "worst": worst, "per_round": values}


def summarise(rounds: list[dict[str, Any]], rdflib: dict[str, Any] | None) -> dict[str, Any]:
    """Medians per server, per-round ratios and the target verdicts."""
    servers: dict[str, list[dict[str, Any]]] = {"scholarkg": [], NO_CACHE: [], "oxigraph": []}
    for r in rounds:
        for name in servers:
            servers[name].append(r[name])
    if rdflib is not None:
        servers["rdflib-endpoint"] = rdflib["rounds"]

    def point_median(runs: list[dict[str, Any]]) -> dict[str, Any]:
        keys = ("requests_per_second", "p50_ms", "p95_ms", "p99_ms", "server_cores",
                "server_cpu_ms_per_request", "client_cores", "client_process_max_cores",
                "client_cpu_ms_per_request", "other_cores", "server_peak_rss_mb")
        out: dict[str, Any] = {k: median(run["point"][k] for run in runs) for k in keys}
        out["errors"] = sum(run["point"]["errors"] for run in runs)
        return out

    per_server: dict[str, dict[str, Any]] = {}
    for name, runs in servers.items():
        entry: dict[str, Any] = {"point": point_median(runs),
                                 "idle_rss_mb": median(run["idle_rss_mb"] for run in runs)}
        if all("aggregation" in run for run in runs):
            entry["aggregation_median_ms"] = median(run["aggregation"]["median_ms"]
                                                    for run in runs)
            entry["aggregation_min_ms"] = min(run["aggregation"]["min_ms"] for run in runs)
        per_server[name] = entry
    kg, cold, ox = servers["scholarkg"], servers[NO_CACHE], servers["oxigraph"]

    def per_round(mine: list[dict[str, Any]], key: str) -> list[float]:
        return [_ratio(a["point"][key], b["point"][key]) for a, b in zip(mine, ox, strict=True)]

    point_cache_on = _spread(per_round(kg, "requests_per_second"), True)
    point_cache_off = _spread(per_round(cold, "requests_per_second"), True)
    cpu_ratios = [_ratio(b["point"]["server_cpu_ms_per_request"],
                         a["point"]["server_cpu_ms_per_request"]) for a, b in zip(cold, ox,
                                                                                  strict=True)]
    agg = _spread([_ratio(a["aggregation"]["median_ms"], b["aggregation"]["median_ms"])
                   for a, b in zip(cold, ox, strict=True)], False)
    agg_min_ratios = [_ratio(a["aggregation"]["min_ms"], b["aggregation"]["min_ms"])
                      for a, b in zip(cold, ox, strict=True)]
    kg_agg = per_server[NO_CACHE]["aggregation_median_ms"]
    rdflib_ratio = (
        _ratio(per_server["rdflib-endpoint"]["aggregation_median_ms"], kg_agg)
        if "rdflib-endpoint" in per_server else float("nan")
    )
    dump_spread = max(run["dumps"]["rss"]["during_spread_mb"] for run in kg)
    errors = sum(s["point"]["errors"] for s in per_server.values())
    targets = {
        "point_throughput_cache_off_vs_oxigraph": {
            "target": f">= {TARGET_POINT_RATIO_NO_CACHE}", "value": point_cache_off["median"],
            "pass": point_cache_off["median"] >= TARGET_POINT_RATIO_NO_CACHE},
        "point_throughput_cache_on_vs_oxigraph": {
            "target": f">= {TARGET_POINT_RATIO_CACHE}", "value": point_cache_on["median"],
            "pass": point_cache_on["median"] >= TARGET_POINT_RATIO_CACHE},
        "aggregation_latency_vs_oxigraph": {
            "target": f"<= {TARGET_AGG_VS_OXIGRAPH}", "value": agg["median"],
            "pass": agg["median"] <= TARGET_AGG_VS_OXIGRAPH},
        "aggregation_speedup_vs_rdflib": {
            "target": f">= {TARGET_AGG_VS_RDFLIB:g}", "value": rdflib_ratio,
            "pass": rdflib_ratio >= TARGET_AGG_VS_RDFLIB},
        "dump_rss_spread_mb": {
            "target": f"<= {TARGET_DUMP_RSS_MB:g}", "value": dump_spread,
            "pass": dump_spread <= TARGET_DUMP_RSS_MB},
        "point_query_errors": {"target": "== 0", "value": errors, "pass": errors == 0},
    }
    kg_dumps = {
        key: median(run["dumps"][key]["mb_per_second"] for run in kg)
        for key in ("nquads", "ntriples")
    }
    ox_dumps = {
        what: {
            "mb_per_second": median(run["dumps"]["downloads"][what]["mb_per_second"]
                                    for run in ox),
            "statements_per_second": median(
                run["dumps"]["downloads"][what]["statements_per_second"] for run in ox),
            "bytes": ox[0]["dumps"]["downloads"][what]["bytes"],
            "lines": ox[0]["dumps"]["downloads"][what]["lines"],
            "rss_spread_mb": max(run["dumps"]["downloads"][what]["rss"]["during_spread_mb"]
                                 for run in ox),
        }
        for what in ox[0]["dumps"]["downloads"]
    }
    return {
        "servers": per_server,
        "ratios": {
            "point_throughput_cache_off": point_cache_off,
            "point_throughput_cache_on": point_cache_on,
            "aggregation_latency_cache_off": agg,
            "aggregation_min_latency_per_round": agg_min_ratios,
            "point_server_cpu_efficiency_cache_off_per_round": cpu_ratios,
            "point_server_cpu_efficiency_cache_off": median(cpu_ratios),
        },
        "dumps": {"scholarkg_mb_per_second": kg_dumps, "oxigraph": ox_dumps,
                  "scholarkg_rss": [run["dumps"]["rss"] for run in kg],
                  "rdflib": rdflib.get("dump") if rdflib else None},
        "targets": targets,
    }


def _verdict(passed: object) -> str:
    return "PASS" if passed else "FAIL"


def format_report(summary: dict[str, Any], data: Dataset, args: argparse.Namespace) -> str:
    """The tables printed at the end."""
    servers = summary["servers"]
    lines = [
        f"server benchmark: {data.profiles:,} profiles, {data.quads:,} quads "
        f"({data.default_triples:,} triples in the default graph), {args.clients} clients x "
        f"{args.duration:g} s, median of {args.repeat} round(s)",
        "",
        "point queries (GET, application/sparql-results+json, keep-alive)",
        f"{'':<17}{'req/s':>9}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'errors':>8}"
        f"{'srv ms/req':>11}{'srv cores':>10}{'cli cores':>10}{'other':>7}{'RSS MB':>8}",
    ]
    points = {name: s["point"] for name, s in servers.items()}
    for name, p in points.items():
        lines.append(
            f"{name:<20}{p['requests_per_second']:>6,.0f}{p['p50_ms']:>9.2f}{p['p95_ms']:>9.2f}"
            f"{p['p99_ms']:>9.2f}{p['errors']:>8}{p['server_cpu_ms_per_request']:>11.3f}"
            f"{p['server_cores']:>10.2f}{p['client_cores']:>10.2f}{p['other_cores']:>7.2f}"
            f"{p['server_peak_rss_mb']:>8,.0f}"
        )
    lines += ["", f"aggregation (top 10 authors by paper count, {args.agg_repeat} sequential runs"
              f" after {args.agg_warmup} unmeasured; {NO_CACHE} and oxigraph in turns)",
              f"{'':<20}{'median ms':>11}{'min ms':>10}"]
    for name, s in servers.items():
        if "aggregation_median_ms" in s:
            lines.append(f"{name:<20}{s['aggregation_median_ms']:>11.1f}"
                         f"{s['aggregation_min_ms']:>10.1f}")
    dumps = summary["dumps"]
    kg_rss = dumps["scholarkg_rss"]
    lines += ["", "full dump", f"{'':<44}{'MB':>8}{'MB/s':>9}{'stmts/s':>12}"]
    for key, file_key in (("nquads", data.nquads_dump), ("ntriples", data.ntriples_dump)):
        statements = data.quads if key == "nquads" else data.default_triples
        size = file_key.stat().st_size
        speed = dumps["scholarkg_mb_per_second"][key]
        lines.append(f"{'scholarkg /dumps/' + file_key.name:<44}{size / MB:>8.1f}{speed:>9.0f}"
                     f"{statements / (size / MB / speed):>12,.0f}")
    for what, d in dumps["oxigraph"].items():
        lines.append(f"{'oxigraph ' + what + ' (N-Triples)':<44}{d['bytes'] / MB:>8.1f}"
                     f"{d['mb_per_second']:>9.0f}{d['statements_per_second']:>12,.0f}")
    rd = dumps["rdflib"]
    if rd:
        if rd["timed_out"]:
            lines.append(f"{'rdflib-endpoint CONSTRUCT (N-Triples)':<44}  timed out after "
                         f"{rd['seconds']:.0f} s (--rdflib-timeout)")
        else:
            lines.append(f"{'rdflib-endpoint CONSTRUCT (N-Triples)':<44}{rd['bytes'] / MB:>8.1f}"
                         f"{rd['mb_per_second']:>9.1f}{rd['statements_per_second']:>12,.0f}")
    lines.append("scholarkg tree RSS while dumps stream (MB): " + "; ".join(
        f"before {r['before_mb']:.0f}, during {r['during_min_mb']:.1f}-{r['during_max_mb']:.1f}"
        f" (spread {r['during_spread_mb']:.1f}), after {r['after_mb']:.0f}" for r in kg_rss))
    for what, d in dumps["oxigraph"].items():
        lines.append(f"oxigraph RSS spread during {what}: {d['rss_spread_mb']:.0f} MB")
    if rd and rd.get("rss"):
        lines.append(f"rdflib-endpoint RSS during CONSTRUCT: {rd['rss']['during_min_mb']:.0f}-"
                     f"{rd['rss']['during_max_mb']:.0f} MB")
    ratios, targets = summary["ratios"], summary["targets"]

    def spread(label: str, r: dict[str, Any]) -> str:
        return (f"  {label:<44} median {r['median']:.3f}, worst round {r['worst']:.3f} "
                f"(rounds: {', '.join(f'{v:.3f}' for v in r['per_round'])})")

    lines += [
        "",
        "ratios (per round, then their median and the worst round)",
        spread(f"{NO_CACHE}/oxigraph point req/s", ratios["point_throughput_cache_off"]),
        spread("scholarkg (cache on)/oxigraph point req/s", ratios["point_throughput_cache_on"]),
        spread(f"{NO_CACHE}/oxigraph aggregation latency",
               ratios["aggregation_latency_cache_off"]),
        "  the same with each round's fastest run (best case): "
        + ", ".join(f"{r:.3f}" for r in ratios["aggregation_min_latency_per_round"]),
        f"  oxigraph/{NO_CACHE} server CPU per request (efficiency): "
        f"{ratios['point_server_cpu_efficiency_cache_off']:.3f}",
        "",
        "targets",
    ]
    labels = {
        "point_throughput_cache_off_vs_oxigraph": "no cache/oxigraph point req/s",
        "point_throughput_cache_on_vs_oxigraph": "cache on/oxigraph point req/s",
        "aggregation_latency_vs_oxigraph": "no cache/oxigraph aggregation latency",
        "aggregation_speedup_vs_rdflib": "rdflib/scholarkg aggregation latency",
        "dump_rss_spread_mb": "scholarkg RSS max-min during dumps (MB)",
        "point_query_errors": "point-query errors (all servers)",
    }
    for key, label in labels.items():
        t = targets[key]
        value = f"{t['value']:.3f}" if isinstance(t["value"], float) else str(t["value"])
        lines.append(f"  {label:<42}{value:>9}   target {t['target']:<7} {_verdict(t['pass'])}")
    return "\n".join(lines)


# --------------------------------------------------------------------------- main


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--profiles", type=int, default=2000,
                        help="generate a corpus of this many profiles (default 2000)")
    parser.add_argument("--store", type=Path, help="reuse this store (with --exports)")
    parser.add_argument("--exports", type=Path, help="the 'kg export' folder of --store")
    parser.add_argument("--duration", type=float, default=20.0,
                        help="seconds of point-query load per server and round (default 20)")
    parser.add_argument("--warmup", type=float, default=3.0,
                        help="seconds of unmeasured load first (default 3)")
    parser.add_argument("--clients", type=int, default=8, help="concurrent clients (default 8)")
    parser.add_argument("--client-processes", type=int, default=2,
                        help="processes the clients are spread over (default 2)")
    parser.add_argument("--repeat", type=int, default=3, help="rounds (default 3)")
    parser.add_argument("--agg-repeat", type=int, default=11,
                        help="measured aggregation runs per server and round (default 11)")
    parser.add_argument("--agg-warmup", type=int, default=3,
                        help="unmeasured aggregation runs first (default 3)")
    parser.add_argument("--dump-repeat", type=int, default=3,
                        help="full-speed downloads of each scholarkg dump per round (default 3)")
    parser.add_argument("--slow-seconds", type=float, default=3.0,
                        help="the slow reader takes this long over the N-Quads dump (default 3)")
    parser.add_argument("--persons", type=int, default=2000,
                        help="persons queried (default 2000)")
    parser.add_argument("--check-persons", type=int, default=20,
                        help="persons whose answers are compared across servers (default 20)")
    parser.add_argument("--timeout", type=float, default=120.0,
                        help="per-request timeout in seconds (default 120)")
    parser.add_argument("--rdflib-timeout", type=float, default=300.0,
                        help="bound of rdflib-endpoint's full CONSTRUCT (default 300 s)")
    parser.add_argument("--rdflib-startup-timeout", type=float, default=900.0,
                        help="bound of rdflib-endpoint loading the data (default 900 s)")
    parser.add_argument("--no-rdflib", action="store_true",
                        help="skip rdflib-endpoint (its target is then reported FAIL)")
    parser.add_argument("--seed", type=int, default=1, help="corpus and sampling seed")
    parser.add_argument("--workdir", type=Path, help="where store, dumps and logs go")
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    parser.add_argument("--kg-command", help="command line that runs the kg CLI")
    parser.add_argument("--report", type=Path,
                        help="JSON report path (default benchmarks/out/server-<N>.json)")
    args = parser.parse_args(argv)
    if (args.store is None) != (args.exports is None):
        parser.error("--store and --exports go together")
    for name in ("profiles", "clients", "client_processes", "repeat", "agg_repeat",
                 "dump_repeat", "persons"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    if args.duration <= 0 or args.timeout <= 0:
        parser.error("--duration and --timeout must be positive")
    return args


def _compare_answers(results: dict[str, dict[str, int]]) -> dict[str, int]:
    """Number of point queries whose row count differs from scholarkg's, per server."""
    reference = results["scholarkg"]
    return {
        name: sum(1 for key, n in counts.items() if reference.get(key) != n)
        for name, counts in results.items() if name != "scholarkg"
    }


def rdflib_phase(server: ServerProcess, args: argparse.Namespace) -> dict[str, Any]:
    """rdflib-endpoint's rounds happen with the others; this is its final CONSTRUCT."""
    print(f"  rdflib-endpoint: CONSTRUCT of the default graph (<= {args.rdflib_timeout:g} s) ...",
          flush=True)
    downloads, rss = measured_downloads(server, [
        lambda: download(server.port, server.target(CONSTRUCT_ALL), NTRIPLES,
                         what="CONSTRUCT", timeout=args.rdflib_timeout, count_lines=True)])
    d = downloads[0]
    return {**_download_record(d), "rss": rss,
            "statements_per_second": (d.lines or 0) / d.seconds if d.lines else None}


def benchmark(args: argparse.Namespace, workdir: Path) -> int:
    kg = kg_command(args.kg_command)
    tools = Tools(kg, oxigraph_command(), [] if args.no_rdflib else rdflib_endpoint_command())
    logs = workdir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    data = build_dataset(args, tools, workdir)
    print(f"store {data.store}: {data.quads:,} quads, {data.default_triples:,} default-graph "
          f"triples, {data.profiles:,} profile owners; {len(data.persons)} persons queried",
          flush=True)
    if data.quads < 1_000_000:
        print("warning: fewer than 1,000,000 quads; use --profiles 1600 or more", flush=True)
    rdflib: dict[str, Any] | None = None
    rdflib_server_process: ServerProcess | None = None
    answers: dict[str, dict[str, int]] = {}
    rounds: list[dict[str, Any]] = []
    try:
        if not args.no_rdflib:
            data.default_graph_nt = workdir / "default-graph.nt"
            gunzip(data.ntriples_dump, data.default_graph_nt)
            print("starting rdflib-endpoint (loads the default graph into rdflib) ...",
                  flush=True)
            rdflib_server_process = rdflib_server(tools, data, logs, args.rdflib_startup_timeout)
            rdflib_server_process.start()
            print(f"  loaded in {rdflib_server_process.startup_seconds:.0f} s, "
                  f"{rdflib_server_process.rss_mb():,.0f} MB", flush=True)
            rdflib = {"rounds": [], "startup_seconds": rdflib_server_process.startup_seconds}
        for index in range(1, args.repeat + 1):
            print(f"round {index}/{args.repeat}", flush=True)
            this = run_round(index, tools, data, args, logs)
            for name in ("scholarkg", NO_CACHE, "oxigraph"):
                answers[name] = this[name]["answers"]
            if rdflib is not None and rdflib_server_process is not None:
                rdflib["rounds"].append(measure_server(rdflib_server_process, data, args))
                answers["rdflib-endpoint"] = rdflib["rounds"][-1]["answers"]
            rounds.append(this)
        if rdflib is not None and rdflib_server_process is not None:
            rdflib["dump"] = rdflib_phase(rdflib_server_process, args)
    finally:
        if rdflib_server_process is not None:
            rdflib_server_process.stop()
    mismatches = _compare_answers(answers)
    summary = summarise(rounds, rdflib)
    summary["answer_mismatches"] = mismatches
    summary["engine_alone"] = engine_alone_figures(data)
    ox_cpu = summary["servers"]["oxigraph"]["point"]["server_cpu_ms_per_request"]
    summary["engine_alone"]["oxigraph_server_cpu_ms_per_request"] = ox_cpu
    print()
    print(format_report(summary, data, args))
    if any(mismatches.values()):
        print(f"warning: point-query row counts differ from scholarkg's: {mismatches}")
    report_path = args.report or OUT_DIR / f"server-{data.profiles}.json"
    write_report(report_path, {
        "benchmark": "server",
        "environment": {**environment_facts(kg, tools.oxigraph),
                        "rdflib_endpoint": tools.rdflib_endpoint,
                        "rdflib_endpoint_version": _package_version("rdflib-endpoint"),
                        "rdflib_version": _package_version("rdflib"),
                        "gunicorn_version": _package_version("gunicorn"),
                        "granian_version": _package_version("granian"),
                        "kg_http_server": os.environ.get("KG_HTTP_SERVER", "granian (default)")},
        "dataset": {"store": str(data.store), "exports": str(data.exports),
                    "quads": data.quads, "default_graph_triples": data.default_triples,
                    "profiles": data.profiles, "persons_queried": len(data.persons),
                    **data.build},
        "settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "queries": {"point": [t for _, t in POINT_TEMPLATES], "aggregation": AGGREGATION_QUERY,
                    "construct": CONSTRUCT_ALL, "prefixes": PREFIXES},
        "summary": summary,
        "rounds": rounds,
        "rdflib_endpoint": rdflib,
    })
    print(f"\nreport written to {report_path}")
    return 0 if all(t["pass"] for t in summary["targets"].values()) else 1


def _package_version(name: str) -> str:
    from importlib import metadata

    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def _on_signal(signum: int, _frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point."""
    args = _parse_args(argv)
    temporary = args.workdir is None
    workdir = Path(tempfile.mkdtemp(prefix="kg-bench-server-")) if temporary else args.workdir
    workdir = workdir.resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    previous = signal.signal(signal.SIGTERM, _on_signal)
    status = 2
    try:
        status = benchmark(args, workdir)
    except (BenchmarkError, CommandFailed) as exc:
        print(f"bench_server: {exc}", file=sys.stderr)
    finally:
        stop_all_servers()
        signal.signal(signal.SIGTERM, previous)
        if args.keep or status == 2:
            print(f"kept {workdir} (logs in {workdir / 'logs'})", file=sys.stderr)
        elif temporary:
            shutil.rmtree(workdir, ignore_errors=True)
    return status


if __name__ == "__main__":
    sys.exit(main())
