"""The executor pool on its own: timeouts, restarts, busy executors, the single writer."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from server.errors import ApiError
from server.query_executor import ProcessPoolQueryService, run_job
from server.settings import Settings
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
    pool.start()
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


def test_busy_executors_answer_503(pool: ProcessPoolQueryService) -> None:
    pool.ask("ASK {}")  # warm: the single executor is ready
    errors: list[ApiError] = []

    def run_away() -> None:
        try:
            pool.start_job(query_job(RUNAWAY))
        except ApiError as exc:
            errors.append(exc)

    thread = threading.Thread(target=run_away)
    thread.start()
    try:
        time.sleep(0.2)
        with pytest.raises(ApiError) as info:
            pool.start_job({"op": "ping"}, timeout=0.3)
        assert info.value.status == 503 and info.value.message.startswith("server busy")
        assert info.value.headers["Retry-After"]
    finally:
        thread.join(timeout=10)
    assert [e.status for e in errors] == [503]


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
        chosen = service._acquire(time.monotonic() + 5, 5)
        try:
            assert chosen is not replacement
            assert chosen.ready or chosen.conn.poll(0)
        finally:
            service._release(chosen)
    finally:
        service.close()
