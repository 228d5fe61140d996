"""The executor pool on its own: timeouts, restarts, busy executors, the single writer."""

from __future__ import annotations

import json
import os
import random
import re
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from kg.storage.store import KnowledgeStore
from server.settings import Settings
from server.sparql.executor import (
    ProcessPoolQueryService,
    _native_json,
    coalesce,
    execute,
    json_row_count,
    run_job,
)
from server.web.errors import ApiError
from tests.server_fixtures import build_disk_store, query_job

RUNAWAY = "SELECT (COUNT(*) AS ?c) WHERE { ?a ?b ?c . ?d ?e ?f . ?g ?h ?i }"


def _data(n: int) -> str:
    return "".join(f"<http://example.org/{i}> <http://example.org/p> {i} .\n" for i in range(n))


@pytest.fixture(scope="module")
def store_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_disk_store(tmp_path_factory.mktemp("pool") / "store", _data(2000))


@pytest.fixture
def pool(store_dir: Path) -> Iterator[ProcessPoolQueryService]:
    service = ProcessPoolQueryService(Settings(store=str(store_dir), query_workers=1,
                                               query_timeout_s=1.0))
    events: list[str] = []
    service.on_event = events.append
    try:
        yield service
    finally:
        service.close()


def test_protocol_methods_and_streams(pool: ProcessPoolQueryService) -> None:
    assert pool.ask("ASK { <http://example.org/1> ?p 1 }") is True
    assert pool.select("SELECT ?o { <http://example.org/7> ?p ?o }") == [
        {"o": ("literal", "7", "http://www.w3.org/2001/XMLSchema#integer", None)}]
    assert pool.construct("CONSTRUCT WHERE { <http://example.org/7> ?p ?o }", "ntriples"
                          ).count(b"\n") == 1
    stream = pool.start_job(query_job("SELECT ?s { ?s ?p ?o }"))
    assert stream.head["count"] == 2000 and stream.read().count(b'"uri"') == 2000
    assert pool.status()["busy"] == 0


def test_timeout_kills_and_replaces_the_executor(pool: ProcessPoolQueryService) -> None:
    assert pool.ask("ASK {}", timeout=60) is True  # opened: only the query is timed
    first_pid = pool._idle[0].proc.pid
    started = time.monotonic()
    with pytest.raises(ApiError) as info:
        pool.start_job(query_job(RUNAWAY))
    assert 0.9 < time.monotonic() - started < 3
    assert info.value.status == 503
    assert "took longer than KG_QUERY_TIMEOUT_S (1 s) and was stopped" in info.value.message
    assert pool.restarts == 1 and pool.on_event is not None
    assert pool._idle[0].proc.pid != first_pid
    assert pool.ask("ASK {}") is True


def _run_in_thread(pool: ProcessPoolQueryService, sparql: str,
                   errors: list[ApiError]) -> threading.Thread:
    def run() -> None:
        try:
            pool.start_job(query_job(sparql))
        except ApiError as exc:
            errors.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def test_waiting_for_an_executor_counts_against_the_deadline(
        pool: ProcessPoolQueryService, caplog: pytest.LogCaptureFixture) -> None:
    """A runaway holds the only executor; a query arriving later waits for it, but its
    total time stays within its own timeout, not the runaway's plus its own."""
    pool.ask("ASK {}")  # warm: the single executor is ready
    errors: list[ApiError] = []
    thread = _run_in_thread(pool, RUNAWAY, errors)
    try:
        time.sleep(0.3)
        started = time.monotonic()
        with pytest.raises(ApiError) as info:  # a second runaway: waits, then runs
            pool.start_job(query_job(RUNAWAY))
        waited = time.monotonic() - started
        assert 0.9 < waited < 1.0 + 0.4  # not the wait plus a whole timeout of its own
        assert info.value.status == 503  # stopped waiting, or running: the same answer
        assert "took longer than KG_QUERY_TIMEOUT_S (1 s) and was stopped" in info.value.message
    finally:
        thread.join(timeout=10)
    assert [e.status for e in errors] == [503]
    # the replacement serves (a timeout that lets it finish starting on a loaded machine)
    assert pool.ask("ASK { ?s ?p 3 }", timeout=60) is True
    stops = [r.getMessage() for r in caplog.records if r.name == "server.sparql.executor"]
    assert any(m.startswith("query stopped: timeout after 1.") for m in stops), stops
    assert len(stops) == 2, stops


def test_a_full_queue_is_answered_503_at_once(
        store_dir: Path, caplog: pytest.LogCaptureFixture) -> None:
    service = ProcessPoolQueryService(Settings(store=str(store_dir), query_workers=1,
                                               query_timeout_s=2.0, query_queue=1))
    errors: list[ApiError] = []
    try:
        service.ask("ASK {}")
        runaway = _run_in_thread(service, RUNAWAY, errors)
        time.sleep(0.3)
        waiting = _run_in_thread(service, "ASK { ?s ?p 1 }", [])  # takes the one place
        time.sleep(0.3)
        started = time.monotonic()
        with pytest.raises(ApiError) as info:
            service.ask("ASK { ?s ?p 2 }")
        assert time.monotonic() - started < 0.2
        assert info.value.status == 503 and info.value.headers["Retry-After"] == "1"
        assert "KG_QUERY_QUEUE" in info.value.message
        runaway.join(timeout=10)
        waiting.join(timeout=10)
        assert service.ask("ASK { ?s ?p 4 }") is True
    finally:
        service.close()
    assert [e.status for e in errors] == [503]  # the runaway
    refused = [r.getMessage() for r in caplog.records if "queue full" in r.getMessage()]
    assert len(refused) == 1 and "ASK" not in refused[0]
    assert re.fullmatch(r"query refused: queue full after 0\.\d{3} s "
                        r"\(text sha256 [0-9a-f]{12}\)", refused[0]), refused


def test_a_query_past_the_memory_bound_is_stopped_and_others_are_served(
        store_dir: Path, caplog: pytest.LogCaptureFixture) -> None:
    service = ProcessPoolQueryService(Settings(store=str(store_dir), query_workers=2,
                                               query_timeout_s=20.0, query_memory_mb=200))
    answers: list[bool] = []
    stop = threading.Event()

    def point_queries() -> None:
        for i in range(2000):  # bounded; ends when the memory hog has been answered
            if stop.is_set():
                return
            answers.append(service.ask(f"ASK {{ <http://example.org/{i}> ?p {i} }}"))

    try:
        service.ask("ASK {}")
        thread = threading.Thread(target=point_queries)
        thread.start()
        started = time.monotonic()
        with pytest.raises(ApiError) as info:  # a sort over 4,000,000 rows: > 1 GB
            service.start_job(query_job(
                "SELECT ?a ?b { ?a ?p ?x . ?b ?q ?y } ORDER BY ?x DESC(?y)"))
        stopped_after = time.monotonic() - started
        stop.set()
        thread.join(timeout=10)
        assert info.value.status == 503 and stopped_after < 5
        assert info.value.message == ("query used more than KG_QUERY_MEMORY_MB (200 MB) "
                                      "of memory and was stopped")
        assert answers and all(answers)
        assert service.restarts == 1
        assert service.ask("ASK { <http://example.org/5> ?p 5 }") is True
    finally:
        service.close()
    stops = [r.getMessage() for r in caplog.records if "memory bound" in r.getMessage()]
    assert len(stops) == 1 and stops[0].startswith("query stopped: memory bound after ")
    # stopped long before its 30 s timeout: the watchdog, not the deadline, ended it
    assert float(stops[0].split("after ")[1].split(" s")[0]) < 5


def test_an_executor_that_died_is_replaced(pool: ProcessPoolQueryService) -> None:
    pool.ask("ASK {}")
    executor = pool._idle[0]
    os.kill(executor.proc.pid, signal.SIGKILL)  # a process this test's pool started
    executor.proc.join(timeout=5)
    assert pool.ask("ASK { ?s ?p ?o }") is True  # not the cached "ASK {}": it must run
    assert pool.restarts == 1


def test_single_writer_survives_a_killed_update(tmp_path: Path) -> None:
    store = build_disk_store(tmp_path / "store", _data(1500))
    service = ProcessPoolQueryService(Settings(store=str(store), query_workers=4,
                                               query_timeout_s=1.0, update_token="t"))
    try:
        assert service.size == 1 and not service.read_only
        runaway = ("INSERT { ?a <http://example.org/q> ?f } WHERE "
                   "{ ?a ?b ?c . ?d ?e ?f . ?g ?h ?i }")
        with pytest.raises(ApiError) as info:
            run_job(service, {"op": "update", "sparql": runaway})
        assert info.value.status == 503 and info.value.message.startswith("update took longer")
        # the killed transaction left nothing behind, and the restarted writer works
        assert service.ask("ASK { ?s <http://example.org/q> ?o }") is False
        insert = "INSERT DATA { <http://example.org/n> <http://example.org/q> 1 }"
        run_job(service, {"op": "update", "sparql": insert})
        assert service.ask("ASK { ?s <http://example.org/q> ?o }") is True
        generation = service.generation()
        assert generation.endswith(".1")
    finally:
        service.close()


def test_after_a_timeout_the_next_query_gets_a_started_executor(store_dir: Path) -> None:
    """The replacement of a killed executor is still opening the store; a request that
    arrives meanwhile is given an executor that is ready, not the new one."""
    service = ProcessPoolQueryService(Settings(store=str(store_dir), query_workers=2,
                                               query_timeout_s=1.0))
    try:
        service.start()
        assert service.ask("ASK { ?s ?p ?o }") is True
        before = set(service._idle)
        with pytest.raises(ApiError):
            service.select(RUNAWAY)
        (replacement,) = set(service._idle) - before
        assert not replacement.ready
        now = time.monotonic()
        chosen = service._acquire({"op": "ping"}, now, now + 5, 5)
        try:
            assert chosen is not replacement
            assert chosen.ready or chosen.conn.poll(0)
        finally:
            service._release(chosen)
    finally:
        service.close()


# ------------------------------------------------------------- answers written by the engine

TRICKY = ['{', '}', '{"', '",', '{",', '{"}', '[{', ',{', '{}', '\\', '"', ']', ':',
          '{"type":"', 'type', 'x', ' ', '\n', 'é']


def test_the_engine_written_json_counts_its_rows_exactly(tmp_path: Path) -> None:
    """Literals built from the characters that matter to the count, solutions with
    unbound variables, empty solutions, a variable named "type": the count read from
    the engine's JSON is the number of solutions json.loads finds."""
    rng = random.Random(7)
    lines = []
    for i in range(300):
        value = "".join(rng.choice(TRICKY) for _ in range(rng.randint(0, 6)))
        escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
        lines.append(f'<http://example.org/s{i % 37}> <http://example.org/p{i % 3}> '
                     f'"{escaped}" .\n')
    store = KnowledgeStore.open(None)
    store.load_graph("".join(lines).encode("utf-8"), "turtle", None, replace=False)
    queries = [
        "SELECT ?type ?o { ?type ?p ?o }",
        "SELECT ?s ?o ?none { ?s <http://example.org/p1> ?o }",
        "SELECT ?o { ?s ?p ?o FILTER(STRENDS(?o, '{')) }",
        "SELECT ?x { VALUES ?x { UNDEF UNDEF } }",
        "SELECT * {}",
        "SELECT ?s { ?s ?p ?o FILTER(false) }",
        "SELECT ?s (COUNT(*) AS ?n) { ?s ?p ?o } GROUP BY ?s",
        "SELECT ?t ?o { ?s ?p ?o BIND(TRIPLE(?s, ?p, ?o) AS ?t) }",
    ]
    for sparql in queries:
        job = query_job(sparql)
        head, body = dict(coalesce(execute(store, job)))["done"]
        expected = len(json.loads(body)["results"]["bindings"])
        assert head["count"] == json_row_count(body) == expected, sparql
        assert not head["capped"]


def test_answers_too_big_or_over_the_cap_are_written_row_by_row() -> None:
    store = KnowledgeStore.open(None)
    store.load_graph("".join(f"<http://example.org/{i}> <http://example.org/p> {i} .\n"
                             for i in range(3000)).encode(), "turtle", None, replace=False)
    capped = dict(coalesce(execute(store, {**query_job("SELECT ?s { ?s ?p ?o }"), "cap": 10})))
    head, body = capped["done"]
    assert head["count"] == 10 and head["capped"]
    assert len(json.loads(body)["results"]["bindings"]) == 10
    result = store.query("SELECT ?s ?o { ?s ?p ?o }")
    assert _native_json(result, 0, limit=1000) is None  # more than 1,000 bytes
    whole = b"".join(m[1] for m in execute(store, query_job("SELECT ?s ?o { ?s ?p ?o }"))
                     if m[0] == "data")
    assert len(json.loads(whole)["results"]["bindings"]) == 3000


def _executor_libraries(server_pid: int) -> list[str]:
    """The shared libraries mapped by each query executor of a server's process tree."""
    from tests.server_fixtures import executor_processes

    maps = []
    for child in executor_processes(server_pid):
        with open(f"/proc/{child.pid}/maps") as f:
            maps.append(f.read())
    return maps


@pytest.mark.parametrize("choice", ["auto", "system"])
def test_executors_run_on_the_chosen_allocator(tmp_path: Path, choice: str) -> None:
    """auto: jemalloc wherever the system has it (CI installs libjemalloc2), else the C
    library's malloc; system: never jemalloc. The web workers are never affected."""
    import ctypes.util

    from tests.server_fixtures import running_server

    store = build_disk_store(tmp_path / "store", "<http://example.org/a> <http://example.org/p> 1 .\n")
    with running_server(store, tmp_path, workers=1, query_workers=1,
                        query_allocator=choice) as server:
        maps = _executor_libraries(server.proc.pid)
        assert maps, "no executor found"
        expected = choice == "auto" and ctypes.util.find_library("jemalloc") is not None
        assert all(("libjemalloc" in m) == expected for m in maps)
        with open(f"/proc/{server.proc.pid}/maps") as f:
            assert "libjemalloc" not in f.read()  # the server's main process is not affected


def test_an_allocator_that_is_not_there_is_refused_by_name() -> None:
    from server.run import executor_allocator

    with pytest.raises(ValueError, match="KG_QUERY_ALLOCATOR"):
        executor_allocator(str(Path("/nonexistent/libjemalloc.so")))
