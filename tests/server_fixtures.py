"""Helpers and fixtures for the server tests: real servers on loopback, bounded HTTP.

Every server listens on 127.0.0.1 only, every wait has a deadline, and every process
started here is stopped by the fixture (or context manager) that started it.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from flask import Flask

from kg.storage.store import KnowledgeStore
from server import create_app

ROOT = Path(__file__).resolve().parents[1]
PYTHON = sys.executable
TOKEN = "test-token-0123456789"
REQUEST_TIMEOUT_S = 20.0
STARTUP_TIMEOUT_S = 30.0


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class HttpResponse:
    status: int
    headers: dict[str, str]
    body: bytes
    #: False when the connection ended before the body did (cut chunked stream)
    complete: bool = True

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    @property
    def text(self) -> str:
        return self.body.decode("utf-8")


def http_request(url: str, method: str = "GET", *, headers: Mapping[str, str] | None = None,
                 body: bytes | None = None, timeout: float = REQUEST_TIMEOUT_S,
                 source: str | None = None) -> HttpResponse:
    """One request on a fresh connection, bounded by ``timeout``; never follows redirects.

    ``source`` is the client's own address, another loopback address (127.0.0.2, ...) to
    be another client of the server's fair share."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port,
                                      timeout=timeout,
                                      source_address=(source, 0) if source else None)
    try:
        target = parts.path + ("?" + parts.query if parts.query else "")
        conn.request(method, target or "/", body=body, headers=dict(headers or {}))
        resp = conn.getresponse()
        complete = True
        try:
            data = resp.read()
        except http.client.IncompleteRead as exc:
            data, complete = exc.partial, False
        return HttpResponse(resp.status, {k.lower(): v for k, v in resp.getheaders()},
                            data, complete)
    finally:
        conn.close()


class Listener:
    """A loopback socket that counts the connections made to it (and closes them)."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/sparql"

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.connections += 1
            conn.close()  # no answer: a SERVICE call to it fails at once

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.sock.close()


@dataclass
class ServerProcess:
    """A server subprocess on 127.0.0.1; ``stop()`` always ends it."""

    proc: subprocess.Popen[bytes]
    port: int
    log_path: Path
    env: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def request(self, path: str, method: str = "GET", **kwargs: object) -> HttpResponse:
        return http_request(self.url + path, method, **kwargs)  # type: ignore[arg-type]

    def wait_ready(self, timeout: float = STARTUP_TIMEOUT_S) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}:\n{self.log()}")
            with contextlib.suppress(OSError, http.client.HTTPException):
                if self.request("/healthz", timeout=5).status == 200:
                    return
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"server not ready within {timeout} s:\n{self.log()}")

    def log(self) -> str:
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")[-5000:]
        except OSError:
            return ""

    def stop(self) -> None:
        stop_process(self.proc, grace_s=15)


def stop_process(proc: subprocess.Popen[bytes], *, grace_s: float,
                 group: bool = False) -> None:
    """SIGTERM, then SIGKILL (to its whole process group with ``group``) when it has
    not ended within ``grace_s`` seconds."""
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        if group:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
        else:
            proc.kill()
        proc.wait(timeout=10)


def server_env(store: Path, port: int, **settings: object) -> dict[str, str]:
    """The environment of a served store: KG_* variables from ``settings``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("KG_")}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    env.update({"KG_STORE": str(store), "KG_PORT": str(port), "KG_HOST": "127.0.0.1",
                "PYTHONPATH": str(ROOT)})
    env.update({f"KG_{k.upper()}": str(v) for k, v in settings.items()})
    return env


def start_server(store: Path, log_dir: Path, *, use_gunicorn_cli: bool = False,
                 **settings: object) -> ServerProcess:
    """Serve ``store`` (``python -m server.run``, or the gunicorn command line) and wait
    until /healthz answers."""
    port = free_port()
    env = server_env(store, port, **settings)
    if use_gunicorn_cli:
        workers = str(settings.get("workers", 1))
        threads = str(settings.get("threads", 4))
        cmd = [PYTHON, "-m", "gunicorn", "-k", "gthread", "--threads", threads, "-w", workers,
               "-b", f"127.0.0.1:{port}", "--no-control-socket", "--graceful-timeout", "5",
               "--limit-request-line", "0",
               "server.wsgi:app()"]
    else:
        cmd = [PYTHON, "-m", "server.run"]
    log_path = log_dir / f"server-{port}.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    server = ServerProcess(proc, port, log_path, env)
    try:
        server.wait_ready()
    except BaseException:
        server.stop()
        raise
    return server


@contextlib.contextmanager
def running_server(store: Path, log_dir: Path, **settings: object) -> Iterator[ServerProcess]:
    server = start_server(store, log_dir, **settings)
    try:
        yield server
    finally:
        server.stop()


def executor_processes(server_pid: int) -> list[Any]:
    """The query executor processes (started by multiprocessing's spawn) in a server's
    process tree, as psutil processes."""
    import psutil

    found = []
    for child in psutil.Process(server_pid).children(recursive=True):
        with contextlib.suppress(psutil.NoSuchProcess):
            if "spawn_main" in " ".join(child.cmdline()):
                found.append(child)
    return found


def query_job(sparql: str) -> dict[str, object]:
    """A query job for an executor: SPARQL JSON or Turtle, no result cap."""
    return {"op": "query", "sparql": sparql, "results_format": "json", "rdf_format": "turtle",
            "cap": 0}


def build_disk_store(path: Path, turtle: str | None = None,
                     graphs: Mapping[str, bytes] | None = None) -> Path:
    """An on-disk store holding ``turtle`` in the default graph and N-Triples ``graphs``;
    closed again, so a server may open it."""
    store = KnowledgeStore.open(path)
    if turtle:
        store.load_graph(turtle.encode("utf-8"), "turtle", None, replace=False)
    for iri, data in (graphs or {}).items():
        store.load_graph(data, "ntriples", iri, replace=False)
    store.flush()
    del store
    return path


SAMPLE_TURTLE = """\
@prefix ex: <http://example.org/> .
@prefix foaf: <http://xmlns.com/foaf/0.1/> .
ex:alice a foaf:Person ; foaf:name "Alice" , "Alicia"@es ; foaf:age 42 ;
    foaf:knows ex:bob , [ foaf:name "Anonymous \\"Anon\\" One" ] .
ex:bob a foaf:Person ; foaf:name "Bob\\tTab\\nNewline, comma" ; ex:score 1.5 ;
    ex:seen "2024-01-02"^^<http://www.w3.org/2001/XMLSchema#date> .
"""


@pytest.fixture
def memory_store() -> KnowledgeStore:
    """An in-memory store holding SAMPLE_TURTLE."""
    store = KnowledgeStore.open(None)
    store.load_graph(SAMPLE_TURTLE.encode("utf-8"), "turtle", None, replace=False)
    return store


@pytest.fixture
def make_app(memory_store: KnowledgeStore) -> Iterator[object]:
    """Build an app over ``memory_store`` with settings overrides (queries in-process)."""
    apps: list[Flask] = []

    def make(**overrides: object) -> Flask:
        app = create_app(store=memory_store, **overrides)
        app.config["TESTING"] = True
        apps.append(app)
        return app

    yield make
