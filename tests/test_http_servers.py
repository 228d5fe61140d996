"""``kg serve`` under each HTTP server (``KG_HTTP_SERVER``): the one asked for answers,
each web worker runs its query executors, and nothing of the server is left running once
it has stopped or one of its workers has died."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path
from urllib.parse import quote

import psutil
import pytest

from tests.server_fixtures import (
    build_disk_store,
    executor_processes,
    http_request,
    running_server,
)

TRIPLE = "<http://example.org/a> <http://example.org/p> 1 .\n"


def web_workers(server_pid: int) -> list[psutil.Process]:
    """The server's direct children that hold query executors: its web workers."""
    return [child for child in psutil.Process(server_pid).children()
            if any("spawn_main" in " ".join(c.cmdline()) for c in child.children())]


def gone(processes: list[psutil.Process], within_s: float) -> list[int]:
    """The pids of ``processes`` still running after ``within_s`` seconds."""
    _, alive = psutil.wait_procs(processes, timeout=within_s)
    return [p.pid for p in alive if p.status() != psutil.STATUS_ZOMBIE]


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_disk_store(tmp_path_factory.mktemp("http-servers") / "store", TRIPLE)


@pytest.mark.parametrize(("http_server", "software"),
                         [("granian", "granian"), ("gunicorn", "gunicorn")])
def test_the_server_asked_for_answers_and_leaves_nothing_running(
        tmp_path: Path, store: Path, http_server: str, software: str) -> None:
    with running_server(store, tmp_path, http_server=http_server, workers=2,
                        query_workers=2) as server:
        answer = server.request("/sparql?query=ASK%20%7B%3Fs%20%3Fp%20%3Fo%7D",
                                headers={"Accept": "application/sparql-results+json"})
        assert answer.status == 200 and '"boolean":true' in answer.text.replace(" ", "")
        assert software in answer.header("Server").lower()
        assert "Python threads" not in server.log()  # granian's warning about KG_THREADS
        # each worker runs its executors and the spare that replaces a killed one: 2 x (2 + 1)
        deadline = time.monotonic() + 20
        while len(executor_processes(server.proc.pid)) < 6 and time.monotonic() < deadline:
            time.sleep(0.1)
        tree = psutil.Process(server.proc.pid).children(recursive=True)
        assert len(executor_processes(server.proc.pid)) == 6
        server.proc.send_signal(signal.SIGTERM)
        assert server.proc.wait(timeout=30) == 0
    assert gone(tree, within_s=10) == [], "a worker or executor outlived the server"


def test_a_granian_worker_that_dies_is_replaced_and_its_executors_end(
        tmp_path: Path, store: Path) -> None:
    """A web worker killed outright (the kernel's OOM killer, a crash) cannot stop its
    executors: they end by themselves when their pipe closes, and granian starts a new
    worker, which starts executors of its own."""
    with running_server(store, tmp_path, workers=2, query_workers=1) as server:
        deadline = time.monotonic() + 20
        while len(web_workers(server.proc.pid)) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        victim = web_workers(server.proc.pid)[0]
        orphans = victim.children()
        assert orphans, "the worker has no executor"
        os.kill(victim.pid, signal.SIGKILL)
        assert gone(orphans, within_s=15) == [], "the dead worker's executors kept running"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            workers = web_workers(server.proc.pid)
            if len(workers) == 2 and victim.pid not in [w.pid for w in workers]:
                break
            time.sleep(0.2)
        assert sorted(w.pid for w in web_workers(server.proc.pid)) != [victim.pid]
        assert len(web_workers(server.proc.pid)) == 2, server.log()
        for _ in range(4):  # whichever worker takes each connection
            assert server.request("/healthz").status == 200


#: a cross product of 2,000 triples counted: about 4 million rows, a second or more
SLOW_COUNT = "SELECT (COUNT(*) AS ?n) WHERE { ?a ?b ?c . ?d ?e ?f }"


@pytest.mark.parametrize("http_server", ["granian", "gunicorn"])
def test_a_query_running_at_sigterm_is_answered_whole_before_the_server_ends(
        tmp_path: Path, http_server: str) -> None:
    """Stopping a server (a release rolled across fronts, a deploy) lets the queries it is
    running finish: the client gets the whole answer, not a reset or an empty 200."""
    triples = "".join(f"<http://example.org/s{i}> <http://example.org/p> {i} .\n"
                      for i in range(2000))
    store = build_disk_store(tmp_path / "store", triples)
    answer: dict[str, object] = {}

    def ask(server_url: str) -> None:
        try:
            reply = http_request(f"{server_url}/sparql?query={quote(SLOW_COUNT)}",
                                 headers={"Accept": "application/sparql-results+json"},
                                 timeout=60)
            answer.update(status=reply.status, body=reply.body, at=time.monotonic())
        except Exception as exc:  # noqa: BLE001 - the failure is the finding
            answer.update(error=repr(exc), at=time.monotonic())

    with running_server(store, tmp_path, http_server=http_server, workers=1,
                        query_workers=1, result_cache_mb=0) as server:
        client = threading.Thread(target=ask, args=(server.url,))
        client.start()
        time.sleep(0.3)
        signalled = time.monotonic()
        server.proc.send_signal(signal.SIGTERM)
        client.join(timeout=90)
        assert server.proc.wait(timeout=60) == 0
        assert "error" not in answer, answer
        assert answer["at"] > signalled, "the query ended before the signal: make it slower"  # type: ignore[operator]
        assert answer["status"] == 200
        (row,) = json.loads(answer["body"])["results"]["bindings"]  # type: ignore[arg-type]
        assert row["n"]["value"] == str(2000 * 2000)
        assert "refused to gracefully stop" not in server.log()
