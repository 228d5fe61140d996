"""The result cache answers repeated read queries from memory, and never with stale data."""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from server import create_app
from server.settings import Settings
from server.sparql.executor import ProcessPoolQueryService
from server.sparql.response_cache import ARRIVED, CACHE_HEADER, CACHEABLE, ResponseCache
from server.sparql.result_cache import MAX_ENTRY_BYTES, ResultCache, repeatable
from tests.server_fixtures import build_disk_store, query_job


def _turtle(n: int) -> str:
    return "".join(f"<http://example.org/{i}> <http://example.org/p> {i} .\n" for i in range(n))


# ---------------------------------------------------------------------------- the map


def test_least_recently_used_answers_leave_first_and_the_size_stays_bounded() -> None:
    cache = ResultCache(max_bytes=3 * (1000 + 600))
    keys = [cache.key({"op": "query", "sparql": f"SELECT {i} {{}}"}, "g") for i in range(5)]
    for key in keys[:3]:
        assert cache.put(key, {}, b"x" * 1000)
    assert cache.get(keys[0]) is not None  # now the most recently used
    cache.put(keys[3], {}, b"x" * 1000)
    assert cache.get(keys[1]) is None and cache.get(keys[0]) is not None
    assert len(cache) == 3 and cache.size <= cache.max_bytes
    assert cache.hits == 2 and cache.misses == 1


def test_a_new_generation_drops_the_old_answers() -> None:
    cache = ResultCache(max_bytes=1 << 20)
    job = {"op": "query", "sparql": "SELECT * {}"}
    cache.put(cache.key(job, "old"), {}, b"old")
    cache.put(cache.key(job, "new"), {}, b"new")
    assert len(cache) == 1 and cache.get(cache.key(job, "old")) is None
    assert cache.get(cache.key(job, "new")) == ({}, b"new")


def test_what_is_never_kept() -> None:
    cache = ResultCache(max_bytes=64 << 20)
    assert cache.key({"op": "update", "sparql": "INSERT DATA {}"}, "g") is None
    assert cache.key({"op": "graph_get", "graph": "http://ex.org/g"}, "g") is None
    for text in ("SELECT (NOW() AS ?t) {}", "SELECT (rand() AS ?r) {}",
                 "SELECT (STRUUID() AS ?u) {}", "CONSTRUCT { _:b ?p ?o } { BIND(BNODE() AS ?b) }",
                 "SELECT * { SERVICE <http://127.0.0.1:1/sparql> { ?s ?p ?o } }",
                 "SELECT (\\u004eOW() AS ?t) {}"):
        assert not repeatable(text), text
        assert cache.key({"op": "query", "sparql": text}, "g") is None
    key = cache.key({"op": "query", "sparql": "SELECT * {}"}, "g")
    assert not cache.put(key, {}, b"x" * (MAX_ENTRY_BYTES + 1))
    assert ResultCache(max_bytes=0).key({"op": "query", "sparql": "SELECT * {}"}, "g") is None


SD = "PREFIX sd: <http://www.w3.org/ns/sparql-service-description#>\n"


@pytest.mark.parametrize("text", [
    # the words inside an IRI, a prefix IRI, a prefixed name
    "SELECT ?o { <http://ex.org/SERVICE/now> ?p ?o }",
    SD + "SELECT ?s { ?s a sd:Service }",
    "PREFIX schema: <http://schema.org/> SELECT ?c { ?p schema:knowsAbout ?c }",
    "SELECT ?o { ?s <http://ex.org/rand()> ?o }",
    "PREFIX now: <http://ex.org/> SELECT ?o { now:rand now:uuid ?o }",
    # in a string, a long string, a comment, a variable name
    "SELECT ?s { ?s ?p 'SERVICE <http://ex.org/> {}' }",
    'SELECT ?s { ?s ?p """NOW() and RAND()""" }',
    "SELECT ?s { ?s ?p ?o } # SERVICE <http://ex.org/> { } NOW()",
    "SELECT ?now ?rand ?uuid ?bnode ?service { ?now ?rand ?service }",
    "SELECT $now { $now ?p ?o }",
    # an escape that spells a keyword inside a string stays in the string
    "SELECT ?s { ?s ?p '\\u004eOW()' }",
])
def test_keywords_that_are_not_calls_keep_a_query_cacheable(text: str) -> None:
    assert repeatable(text), text
    assert ResultCache(max_bytes=1 << 20).key({"op": "query", "sparql": text}, "g") is not None


@pytest.mark.parametrize("text", [
    "SELECT (NOW() AS ?t) {}",
    "select (now() as ?t) {}",
    "SELECT (Rand() AS ?r) {}",
    "SELECT (UUID() AS ?u) {}",
    "SELECT (StrUuid() AS ?u) {}",
    "CONSTRUCT { ?b ?p ?o } WHERE { ?s ?p ?o BIND(bNode() AS ?b) }",
    "SELECT * { SERVICE <http://127.0.0.1:1/sparql> { ?s ?p ?o } }",
    "SELECT * { Service Silent ?ep { ?s ?p ?o } }",
    SD + "SELECT * { ?s a sd:Service . SERVICE <http://127.0.0.1:1/s> { ?s ?p ?o } }",
    # a call next to words that only look like the keywords
    "PREFIX schema: <http://schema.org/> SELECT ?c (NOW() AS ?t) { ?p schema:knowsAbout ?c }",
    # escapes decoded first, as SPARQL does: in a keyword, or closing a string early
    "SELECT (\\u004eOW() AS ?t) {}",
    "SELECT (\\U0000004eow() AS ?t) {}",
    "SELECT * { \\u0053ERVICE <http://127.0.0.1:1/s> { ?s ?p ?o } }",
    "SELECT ?s { ?s ?p '\\u0027 . BIND(NOW() AS ?t) } #' }",
    # "<NOW()&&?b>" lexes like an IRI, but the engine reads less-than and a call
    "SELECT ?a { ?a ?p ?b FILTER(?a<NOW()&&?b>?a) }",
])
def test_real_calls_and_service_clauses_make_a_query_uncacheable(text: str) -> None:
    assert not repeatable(text), text
    assert ResultCache(max_bytes=1 << 20).key({"op": "query", "sparql": text}, "g") is None


def test_receivers_may_change_what_they_get() -> None:
    cache = ResultCache(max_bytes=1 << 20)
    key = cache.key({"op": "rows", "sparql": "SELECT ?x {}"}, "g")
    rows = [{"x": ("literal", "1", None, None)}]
    cache.put(key, {"rows": rows}, b"")
    rows[0]["y"] = ("literal", "changed by the first receiver", None, None)
    got = cache.get(key)
    assert got is not None
    got[0]["rows"][0]["z"] = ("literal", "changed by the second", None, None)
    got[0]["cache"] = "hit"
    again = cache.get(key)
    assert again == ({"rows": [{"x": ("literal", "1", None, None)}]}, b"")


# ---------------------------------------------------------------------------- the pool


@pytest.fixture(scope="module")
def store_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_disk_store(tmp_path_factory.mktemp("cache") / "store", _turtle(50))


@pytest.fixture
def pool(store_dir: Path) -> Iterator[ProcessPoolQueryService]:
    service = ProcessPoolQueryService(Settings(store=str(store_dir), query_workers=1))
    try:
        yield service
    finally:
        service.close()


def test_a_repeated_query_is_answered_without_an_executor(
        pool: ProcessPoolQueryService) -> None:
    job = query_job("SELECT ?o { <http://example.org/7> ?p ?o }")
    first = pool.start_job(job)
    assert first.head["cache"] == "miss"
    body = first.read()
    for executor in pool._idle:  # no executor could answer now
        executor.kill()
    second = pool.start_job(job)
    assert second.head["cache"] == "hit" and second.read() == body
    assert pool.cache.hits == 1


def test_an_update_is_seen_by_the_next_query(tmp_path: Path) -> None:
    store = build_disk_store(tmp_path / "store", _turtle(3))
    pool = ProcessPoolQueryService(Settings(store=str(store), update_token="t"))
    count = "SELECT (COUNT(*) AS ?n) { ?s ?p ?o }"
    try:
        assert pool.select(count)[0]["n"][1] == "3"
        assert pool.select(count)[0]["n"][1] == "3" and pool.cache.hits == 1
        pool.start_job({"op": "update",
                        "sparql": "INSERT DATA { <http://example.org/x> <http://example.org/p> 9 }"})
        assert pool.select(count)[0]["n"][1] == "4"
    finally:
        pool.close()


def test_a_new_release_is_seen_by_the_next_query(tmp_path: Path, store_dir: Path) -> None:
    other = build_disk_store(tmp_path / "other", _turtle(3))
    link = tmp_path / "current"
    link.symlink_to(store_dir)
    pool = ProcessPoolQueryService(Settings(store=str(link), query_workers=1))
    count = "SELECT (COUNT(*) AS ?n) { ?s ?p ?o }"
    try:
        assert pool.select(count)[0]["n"][1] == "50"
        assert pool.select(count)[0]["n"][1] == "50" and pool.cache.hits == 1
        tmp = tmp_path / "next"
        tmp.symlink_to(other)
        os.replace(tmp, link)
        assert pool.select(count)[0]["n"][1] == "3"
    finally:
        pool.close()


# ---------------------------------------------------------------------------- the endpoint


def test_the_endpoint_says_when_an_answer_came_from_the_cache(store_dir: Path) -> None:
    app = create_app(Settings(store=str(store_dir), query_workers=1))
    service = app.extensions["kg_query_service"]
    try:
        client = app.test_client()
        query = {"query": "SELECT ?s ?o { ?s ?p ?o } ORDER BY ?o"}
        first = client.get("/sparql", query_string=query)
        second = client.get("/sparql", query_string=query)
        assert first.headers["KG-Result-Cache"] == "miss"
        assert second.headers["KG-Result-Cache"] == "hit"
        assert second.data == first.data and second.json["results"]["bindings"]
        assert second.headers["KG-Result-Count"] == "50"
        # another format is another answer
        csv = client.get("/sparql", query_string={**query, "format": "csv"})
        assert csv.headers["KG-Result-Cache"] == "miss" and csv.data.startswith(b"s,o\r\n")
        clock = client.get("/sparql", query_string={"query": "SELECT (NOW() AS ?t) {}"})
        assert clock.status_code == 200 and "KG-Result-Cache" not in clock.headers
        # a page-style query: the sd: prefix IRI holds "Service", knowsAbout holds "now"
        page = {"query": SD + "PREFIX schema: <http://schema.org/>\n"
                "SELECT ?c { ?s schema:knowsAbout ?c }"}
        assert [client.get("/sparql", query_string=page).headers["KG-Result-Cache"]
                for _ in range(2)] == ["miss", "hit"]
        exposed = client.get("/metrics").data.decode()
        assert "kg_result_cache_hits_total 2.0" in exposed
    finally:
        service.close()


def test_the_cache_can_be_turned_off(store_dir: Path) -> None:
    app = create_app(Settings(store=str(store_dir), query_workers=1, result_cache_mb=0))
    service = app.extensions["kg_query_service"]
    try:
        client = app.test_client()
        for _ in range(2):
            answer = client.get("/sparql", query_string={"query": "ASK { ?s ?p 7 }"})
            assert answer.status_code == 200 and "KG-Result-Cache" not in answer.headers
        assert service.cache.hits == 0 and len(service.cache) == 0
    finally:
        service.close()


# ---------------------------------------------------------------------------- whole answers


def _requests_counted(client: object, endpoint: str = "sparql.endpoint") -> float:
    text = client.get("/metrics").data.decode()  # type: ignore[attr-defined]
    for line in text.splitlines():
        if line.startswith("kg_http_requests_total{") and f'endpoint="{endpoint}"' in line \
                and 'status="200"' in line:
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_a_repeated_get_is_answered_whole_before_the_app_runs(store_dir: Path) -> None:
    app = create_app(Settings(store=str(store_dir), query_workers=1))
    service = app.extensions["kg_query_service"]
    try:
        client = app.test_client()
        query = {"query": "SELECT ?o { <http://example.org/3> ?p ?o }"}
        first = client.get("/sparql", query_string=query)
        assert first.headers["KG-Result-Cache"] == "miss"
        assert len(service.cache) == 1  # one copy: the whole answer, not the job's too
        for executor in service._idle:  # no executor could answer now
            executor.kill()
        jobs: list[object] = []
        run_job = service.start_job

        def counted(job: dict[str, object], **kw: object) -> object:
            jobs.append(job)
            return run_job(job, **kw)

        service.start_job = counted
        second = client.get("/sparql", query_string=query)
        assert second.status_code == 200 and second.data == first.data
        assert second.headers["KG-Result-Cache"] == "hit"
        assert jobs == []  # the route never ran
        same = ("Content-Type", "ETag", "KG-Result-Count", "Vary",
                "Access-Control-Allow-Origin")
        assert [second.headers.get(h) for h in same] == [first.headers.get(h) for h in same]
        assert first.headers.get("ETag")
        assert _requests_counted(client) == 2.0
        assert "kg_result_cache_hits_total 1.0" in client.get("/metrics").data.decode()
    finally:
        service.close()


def test_each_variant_of_a_request_is_its_own_answer(store_dir: Path) -> None:
    import gzip

    app = create_app(Settings(store=str(store_dir), query_workers=1))
    service = app.extensions["kg_query_service"]
    try:
        client = app.test_client()
        query = {"query": "SELECT ?s ?o { ?s ?p ?o } ORDER BY ?o"}
        variants = [{"Accept-Encoding": "gzip"}, {"Accept-Encoding": "identity"},
                    {"Accept": "text/csv"}, {"Accept": "application/sparql-results+xml"}]
        answers = [[client.get("/sparql", query_string=query, headers=h) for _ in range(2)]
                   for h in variants]
        for (first, second) in answers:
            assert (first.headers["KG-Result-Cache"], second.headers["KG-Result-Cache"]) \
                == ("miss", "hit")
            assert first.data == second.data
            assert first.headers["Content-Type"] == second.headers["Content-Type"]
        zipped, plain, csv, xml = (pair[1] for pair in answers)
        assert zipped.headers["Content-Encoding"] == "gzip"
        assert gzip.decompress(zipped.data) == plain.data and "Content-Encoding" not in plain.headers
        assert csv.data.startswith(b"s,o\r\n") and xml.data.startswith(b"<?xml")
        # another host makes another endpoint IRI (the base IRI of relative IRIs)
        base = {"query": "SELECT (<x> AS ?x) {}"}
        here = client.get("/sparql", query_string=base, headers={"Host": "a.example"})
        there = client.get("/sparql", query_string=base, headers={"Host": "b.example"})
        assert b"a.example" in here.data and b"b.example" in there.data
    finally:
        service.close()


def test_what_the_whole_answer_cache_leaves_to_the_app(store_dir: Path) -> None:
    app = create_app(Settings(store=str(store_dir), query_workers=1))
    service = app.extensions["kg_query_service"]
    try:
        client = app.test_client()
        query = {"query": "ASK { ?s ?p 5 }"}
        etag = client.get("/sparql", query_string=query).headers["ETag"]
        conditional = client.get("/sparql", query_string=query, headers={"If-None-Match": etag})
        assert conditional.status_code == 304
        for _ in range(2):  # errors are never kept
            bad = client.get("/sparql", query_string={"query": "SELECT { oops"})
            assert bad.status_code == 400 and "KG-Result-Cache" not in bad.headers
        for _ in range(2):  # unrepeatable queries are never kept
            clock = client.get("/sparql", query_string={"query": "SELECT (NOW() AS ?t) {}"})
            assert clock.status_code == 200 and "KG-Result-Cache" not in clock.headers
        # POST answers are kept by the query cache alone, as before
        posted = [client.post("/sparql", data={"query": "ASK { ?s ?p 6 }"}) for _ in range(2)]
        assert [p.headers["KG-Result-Cache"] for p in posted] == ["miss", "hit"]
        head = client.head("/sparql", query_string=query)
        assert head.status_code == 200 and head.data == b""
    finally:
        service.close()


def test_a_new_release_is_not_answered_from_whole_answers(tmp_path: Path, store_dir: Path,
                                                          ) -> None:
    other = build_disk_store(tmp_path / "other", _turtle(3))
    link = tmp_path / "current"
    link.symlink_to(store_dir)
    app = create_app(Settings(store=str(link), query_workers=1))
    service = app.extensions["kg_query_service"]
    count = {"query": "SELECT (COUNT(*) AS ?n) { ?s ?p ?o }"}
    try:
        client = app.test_client()
        answers = [client.get("/sparql", query_string=count) for _ in range(2)]
        assert [a.headers["KG-Result-Cache"] for a in answers] == ["miss", "hit"]
        assert answers[1].json["results"]["bindings"][0]["n"]["value"] == "50"
        tmp = tmp_path / "next"
        tmp.symlink_to(other)
        os.replace(tmp, link)
        after = client.get("/sparql", query_string=count)
        assert after.headers["KG-Result-Cache"] == "miss"
        assert after.json["results"]["bindings"][0]["n"]["value"] == "3"
    finally:
        service.close()


def test_the_workers_of_kg_serve_share_their_whole_answers(tmp_path: Path, store_dir: Path,
                                                           ) -> None:
    """A query one worker answered is a hit in the other: with a cache per worker each
    new query was evaluated once per worker before every client got it from memory."""
    import http.client
    from urllib.parse import quote

    import psutil

    from tests.server_fixtures import running_server

    def owner(server_pid: int, conn: http.client.HTTPConnection) -> int:
        port = conn.sock.getsockname()[1]
        for child in psutil.Process(server_pid).children():
            if any(c.raddr and c.raddr.port == port for c in child.net_connections("tcp")):
                return child.pid
        raise AssertionError("no worker holds the connection")

    with running_server(store_dir, tmp_path, workers=2, threads=2, query_workers=1) as server:
        conns: list[http.client.HTTPConnection] = []
        by_worker: dict[int, http.client.HTTPConnection] = {}
        try:
            # connect until both workers hold one (the kernel spreads connections over
            # the workers' sockets by their addresses, not in turn)
            while len(by_worker) < 2 and len(conns) < 64:
                conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=20)
                conns.append(conn)
                conn.request("GET", "/healthz")
                conn.getresponse().read()
                by_worker.setdefault(owner(server.proc.pid, conn), conn)
            assert len(by_worker) == 2, "both workers must hold a connection"
            first, second = by_worker.values()
            target = "/sparql?query=" + quote("SELECT ?o { <http://example.org/9> ?p ?o }")
            answers = []
            for conn in (first, second, first):
                conn.request("GET", target, headers={"Accept": "application/sparql-results+json"})
                response = conn.getresponse()
                answers.append((response.getheader("KG-Result-Cache"), response.read()))
            assert [a[0] for a in answers] == ["miss", "hit", "hit"]
            assert answers[0][1] == answers[1][1] == answers[2][1]
        finally:
            for conn in conns:
                conn.close()


# ------------------------------------------------------------ coalesced requests


class _SlowApp:
    """A stand-in for the app: each call takes ``seconds`` and is counted; it marks its
    answer kept when ``keep``."""

    def __init__(self, seconds: float, keep: bool) -> None:
        self.seconds, self.keep = seconds, keep
        self.calls: list[dict[str, object]] = []
        self.ends: list[float] = []
        self.lock = threading.Lock()

    def __call__(self, environ: dict[str, object], start_response: Any) -> list[bytes]:
        with self.lock:
            self.calls.append(dict(environ))
        time.sleep(self.seconds)
        self.ends.append(time.monotonic())
        if self.keep:
            environ[CACHEABLE] = "g1"
        start_response("200 OK", [("Content-Type", "text/plain"), (CACHE_HEADER, "miss")])
        return [b"the answer"]


class _Service:
    def __init__(self) -> None:
        self.cache = ResultCache(100_000)

    def generation(self) -> str:
        return "g1"


def _concurrent_gets(layer: ResponseCache, clients: int) -> list[tuple[bytes, str]]:
    results: list[tuple[bytes, str]] = []
    lock = threading.Lock()

    def get() -> None:
        seen: list[Any] = []
        environ = {"REQUEST_METHOD": "GET", "PATH_INFO": "/sparql", "QUERY_STRING": "query=A"}
        body = b"".join(layer(environ, lambda status, headers, exc=None: seen.append(headers)))
        with lock:
            results.append((body, dict(seen[0])[CACHE_HEADER]))

    threads = [threading.Thread(target=get) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    return results


def test_requests_for_an_answer_being_computed_wait_for_it() -> None:
    app = _SlowApp(0.3, keep=True)
    hits: list[int] = []
    layer = ResponseCache(app, _Service(), on_hit=lambda: hits.append(1))
    results = _concurrent_gets(layer, 6)
    assert len(app.calls) == 1
    assert sorted(results) == [(b"the answer", "hit")] * 5 + [(b"the answer", "miss")]
    assert len(hits) == 5


def test_when_the_first_answer_is_not_kept_each_runs_with_its_waiting_counted() -> None:
    app = _SlowApp(0.2, keep=False)
    layer = ResponseCache(app, _Service())
    before = time.monotonic()
    results = _concurrent_gets(layer, 4)
    assert results == [(b"the answer", "miss")] * 4
    assert len(app.calls) == 4
    arrivals = [call.get(ARRIVED) for call in app.calls]
    assert arrivals[0] is None  # the first ran at once
    # the others arrived while it ran, and waited for it
    assert all(isinstance(a, float) and before <= a < min(app.ends) for a in arrivals[1:])


def test_a_request_that_waited_has_only_the_rest_of_its_time(store_dir: Path,
                                                            monkeypatch: pytest.MonkeyPatch,
                                                            caplog: pytest.LogCaptureFixture,
                                                            ) -> None:
    caplog.set_level(logging.WARNING, logger="server.sparql.executor")
    app = create_app(Settings(store=str(store_dir), query_timeout_s=5.0))
    timeouts: list[float | None] = []
    runner = app.extensions["kg_query_service"]
    real = runner.start_job

    def spy(job: dict[str, Any], *, timeout: float | None = None, keep: bool = True) -> Any:
        timeouts.append(timeout)
        return real(job, timeout=timeout, keep=keep)

    monkeypatch.setattr(runner, "start_job", spy)
    try:
        client = app.test_client()
        assert client.get("/sparql", query_string={"query": "ASK {}"}).status_code == 200
        waited = client.get("/sparql", query_string={"query": "ASK { ?s ?p ?o }"},
                            environ_overrides={ARRIVED: time.monotonic() - 2.0})
        assert waited.status_code == 200
        restarts = runner.restarts
        late = client.get("/sparql", query_string={"query": "ASK { ?s ?p 1 }"},
                          environ_overrides={ARRIVED: time.monotonic() - 6.0})
        assert late.status_code == 503 and b"KG_QUERY_TIMEOUT_S (5 s)" in late.data
        assert late.headers["Retry-After"] == "5"
        assert runner.restarts == restarts  # no executor was taken, nor killed, for it
        assert 'kg_query_timeouts_total 1.0' in client.get("/metrics").get_data(as_text=True)
        assert "timeout: waited for the same query of another request" in caplog.text
    finally:
        runner.close()
    assert timeouts[0] is None
    assert timeouts[1] is not None and 2.5 < timeouts[1] <= 3.0
    assert len(timeouts) == 2  # the late one never reached the executors


def test_a_request_that_sees_new_data_does_not_wait_for_an_answer_on_the_old() -> None:
    app = _SlowApp(0.4, keep=True)
    service = _Service()
    layer = ResponseCache(app, service)
    first = threading.Thread(target=_concurrent_gets, args=(layer, 1))
    first.start()
    time.sleep(0.1)  # the first request is being answered on generation g1
    service.generation = lambda: "g2"  # type: ignore[method-assign]
    assert _concurrent_gets(layer, 1) == [(b"the answer", "miss")]
    first.join(5)
    assert len(app.calls) == 2
