"""The lingering gthread worker: keep-alive connections are answered whether their next
request comes at once (same thread) or later (back through the poller), a thread
waiting on one connection never starves the others, and a response's head goes out
with its first body bytes."""

from __future__ import annotations

import http.client
import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from gunicorn.config import Config
from gunicorn.http import wsgi
from gunicorn.workers.gthread import ThreadWorker

from server.worker import LINGER_S, LingeringThreadWorker, OneSendResponse
from tests.server_fixtures import ServerProcess, build_disk_store, running_server


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    tmp = tmp_path_factory.mktemp("worker")
    store = build_disk_store(tmp / "store", "<http://example.org/a> <http://example.org/p> 1 .\n")
    with running_server(store, tmp, http_server="gunicorn", workers=1, threads=2,
                        query_workers=1) as proc:
        yield proc


def _ask(conn: http.client.HTTPConnection, n: int) -> None:
    conn.request("GET", "/sparql?query=" + quote(f"ASK {{ ?s ?p {n} }}"),
                 headers={"Accept": "application/sparql-results+json"})
    response = conn.getresponse()
    body = response.read()
    assert response.status == 200, body
    assert body == (b'{"head":{},"boolean":true}' if n == 1 else b'{"head":{},"boolean":false}')


def test_back_to_back_and_paused_requests_on_one_connection(server: ServerProcess) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=20)
    try:
        for n in range(30):  # at once: answered by the thread that answered the last one
            _ask(conn, n % 3)
        for n in range(3):  # after a pause longer than the linger: through the poller
            time.sleep(LINGER_S * 25)
            _ask(conn, n)
        sock = conn.sock
        _ask(conn, 1)
        assert conn.sock is sock  # one connection throughout
    finally:
        conn.close()


def test_more_busy_connections_than_threads_are_all_served(server: ServerProcess) -> None:
    """Six clients on a worker with two threads, in lock-step rounds: no client can send
    its next request before all six have their answer, so a thread that kept waiting on
    its connection instead of going back to the others would stall every round."""
    failures: list[BaseException] = []
    done = [0] * 6
    rounds = threading.Barrier(6, timeout=20)

    def client(index: int) -> None:
        # six clients, each from its own loopback address (the fair share's clients)
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=20,
                                          source_address=(f"127.0.0.{index + 2}", 0))
        try:
            for n in range(15):
                _ask(conn, n % 2)
                done[index] += 1
                rounds.wait()
        except BaseException as exc:  # noqa: BLE001 - reported below
            failures.append(exc)
        finally:
            conn.close()

    threads = [threading.Thread(target=client, args=(i,)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not failures, failures
    assert done == [15] * 6


def _connections_per_worker(server: ServerProcess) -> list[int]:
    """Established connections on the server's port, per gunicorn worker process."""
    import psutil

    counts = []
    for child in psutil.Process(server.proc.pid).children(recursive=True):
        if "multiprocessing" in " ".join(child.cmdline()):
            continue  # a query executor or resource tracker, not a worker
        counts.append(sum(1 for c in child.net_connections(kind="tcp")
                          if c.status == psutil.CONN_ESTABLISHED and c.laddr
                          and c.laddr.port == server.port))
    return counts


def test_keep_alive_connections_are_shared_out_between_the_workers(tmp_path: Path) -> None:
    """Eight keep-alive clients connecting one after the other: without the shared
    connection table most of them land on whichever worker wakes first (7 and 1 was
    usual) and one core answers them all for as long as they stay open."""
    store = build_disk_store(tmp_path / "store", "<http://example.org/a> <http://example.org/p> 1 .\n")
    with running_server(store, tmp_path, http_server="gunicorn", workers=2, threads=4,
                        query_workers=1) as server:
        conns = [http.client.HTTPConnection("127.0.0.1", server.port, timeout=20)
                 for _ in range(8)]
        try:
            for conn in conns:
                _ask(conn, 1)
            counts = _connections_per_worker(server)
            assert len(counts) == 2 and sum(counts) == 8, counts
            assert max(counts) - min(counts) <= 2, counts
        finally:
            for conn in conns:
                conn.close()


class _RecordingSocket:
    def __init__(self) -> None:
        self.sends: list[bytes] = []

    def sendall(self, data: bytes) -> None:
        self.sends.append(bytes(data))


class _Request:
    def __init__(self, method: str) -> None:
        self.method, self.version = method, (1, 1)

    def should_close(self) -> bool:
        return False


def _respond(response_class: type, method: str, status: str, headers: list[tuple[str, str]],
             chunks: list[object]) -> list[bytes]:
    sock = _RecordingSocket()
    response = response_class(_Request(method), sock, Config())
    response.start_response(status, headers)
    try:
        for chunk in chunks:
            response.write(chunk)
        response.close()
    except TypeError:
        pass  # what gunicorn does with it is the same for both; the bytes are compared
    return sock.sends


@pytest.mark.parametrize(("method", "status", "headers", "chunks", "first_send_has_body"), [
    ("GET", "200 OK", [("Content-Length", "5")], [b"hello"], True),
    ("GET", "200 OK", [], [b"ab", b"", b"cd"], True),  # chunked, an empty chunk between
    ("GET", "200 OK", [("Content-Length", "3")], [b"abcdef", b"gh"], True),  # cut at 3
    ("HEAD", "200 OK", [("Content-Length", "5")], [b"hello"], False),
    ("GET", "304 Not Modified", [], [b""], False),
    ("GET", "200 OK", [("Content-Length", "0")], [b""], False),
    ("GET", "200 OK", [("Content-Length", "0")], [], False),  # head sent by close()
    ("GET", "200 OK", [("Content-Length", "2")], ["no"], False),  # not bytes
])
def test_one_send_response_sends_gunicorns_bytes_with_the_head_in_the_first_send(
        method: str, status: str, headers: list[tuple[str, str]], chunks: list[object],
        first_send_has_body: bool) -> None:
    plain = _respond(wsgi.Response, method, status, headers, chunks)
    joined = _respond(OneSendResponse, method, status, headers, chunks)

    def same_date(sends: list[bytes]) -> bytes:
        return re.sub(rb"Date: [^\r]*", b"Date: -", b"".join(sends))

    assert same_date(joined) == same_date(plain)
    assert joined[0].startswith(b"HTTP/1.1 ")
    head, _, body = joined[0].partition(b"\r\n\r\n")
    assert bool(body) is first_send_has_body
    if first_send_has_body:  # the head no longer goes alone
        assert len(joined) == len(plain) - 1


def test_the_worker_answers_with_one_send_responses(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(wsgi, "Response", wsgi.Response)  # restored after the test
    monkeypatch.setattr(ThreadWorker, "init_process", lambda self: None)
    LingeringThreadWorker.init_process(object.__new__(LingeringThreadWorker))
    assert wsgi.Response is OneSendResponse
