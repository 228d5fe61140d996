"""End to end: the app under the gunicorn command line, over an on-disk store, with
real SPARQL clients (SPARQLWrapper, rdflib's SPARQLStore), a runaway query that is
stopped while other queries are served, and federated SERVICE refused without any
outbound connection."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pyoxigraph as ox
import pytest
import rdflib
from rdflib.plugins.stores.sparqlstore import SPARQLStore
from SPARQLWrapper import JSON, TURTLE, XML, SPARQLWrapper

from tests.server_fixtures import (
    SAMPLE_TURTLE,
    TOKEN,
    HttpResponse,
    Listener,
    ServerProcess,
    build_disk_store,
    start_server,
)

TIMEOUT_S = 2.0
RUNAWAY = "SELECT (COUNT(*) AS ?c) WHERE { ?a ?b ?c . ?d ?e ?f . ?g ?h ?i }"
PERSON = "http://xmlns.com/foaf/0.1/Person"


def _generated_triples(n: int) -> str:
    return "".join(f"<http://example.org/gen/{i}> <http://example.org/gen/p{i % 5}> {i} .\n"
                   for i in range(n))


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    tmp = tmp_path_factory.mktemp("e2e")
    store = build_disk_store(tmp / "store", SAMPLE_TURTLE + _generated_triples(3000))
    proc = start_server(store, tmp, use_gunicorn_cli=True, workers=1, threads=6,
                        query_workers=2, query_timeout_s=TIMEOUT_S)
    try:
        # warm both executors up (concurrent requests take one each), so timings below
        # measure queries, not process start-up
        warmers = [threading.Thread(target=_query, args=(proc, "ASK {}")) for _ in range(2)]
        for thread in warmers:
            thread.start()
        for thread in warmers:
            thread.join(timeout=30)
        yield proc
    finally:
        proc.stop()


def _query(server: ServerProcess, query: str, timeout: float = 15,
           source: str | None = None) -> HttpResponse:
    return server.request("/sparql?query=" + quote(query), timeout=timeout, source=source,
                          headers={"Accept": "application/sparql-results+json"})


# real clients --------------------------------------------------------------------------------

def test_sparqlwrapper_select_ask_construct(server: ServerProcess) -> None:
    client = SPARQLWrapper(server.url + "/sparql")
    client.setTimeout(15)
    client.setQuery(f"SELECT ?name WHERE {{ ?p a <{PERSON}> ; "
                    "<http://xmlns.com/foaf/0.1/name> ?name } ORDER BY ?name")
    client.setReturnFormat(JSON)
    names = [b["name"]["value"] for b in client.queryAndConvert()["results"]["bindings"]]
    assert names == ["Alice", "Alicia", "Bob\tTab\nNewline, comma"]
    client.setReturnFormat(XML)
    client.setQuery(f"ASK {{ ?p a <{PERSON}> }}")
    assert client.queryAndConvert().getElementsByTagName("boolean")[0].firstChild.data == "true"
    client.setQuery(f"CONSTRUCT {{ ?p a <{PERSON}> }} WHERE {{ ?p a <{PERSON}> }}")
    client.setReturnFormat(TURTLE)
    graph = rdflib.Graph().parse(data=client.queryAndConvert(), format="turtle")
    assert len(graph) == 2


def test_rdflib_sparqlstore_select_ask_construct(server: ServerProcess) -> None:
    store = SPARQLStore(server.url + "/sparql", timeout=15)
    try:
        rows = list(store.query(f"SELECT ?p WHERE {{ ?p a <{PERSON}> }} ORDER BY ?p"))
        assert [str(r[0]) for r in rows] == ["http://example.org/alice", "http://example.org/bob"]
        assert store.query(f"ASK {{ ?p a <{PERSON}> }}").askAnswer is True
        graph = store.query(f"CONSTRUCT {{ ?p a <{PERSON}> }} WHERE {{ ?p a <{PERSON}> }}").graph
        assert graph is not None and len(graph) == 2
    finally:
        store.close()


# a runaway query -------------------------------------------------------------------------------

def test_runaway_query_is_stopped_while_others_are_served(server: ServerProcess) -> None:
    outcome: dict[str, object] = {}

    def run_away() -> None:
        started = time.monotonic()
        # from another client: one client runs one query at a time in a worker of two
        # executors (fair share)
        outcome["response"] = _query(server, RUNAWAY, timeout=20, source="127.0.0.2")
        outcome["seconds"] = time.monotonic() - started

    thread = threading.Thread(target=run_away)
    thread.start()
    try:
        time.sleep(0.4)  # the runaway query is now holding an executor
        started = time.monotonic()
        quick = _query(server, f"ASK {{ ?p a <{PERSON}> }}")
        quick_seconds = time.monotonic() - started
        assert quick.status == 200 and json.loads(quick.body)["boolean"] is True
        assert quick_seconds < 1.5, f"a simple query waited {quick_seconds:.2f} s"
    finally:
        thread.join(timeout=30)
    assert not thread.is_alive()
    slow = outcome["response"]
    assert isinstance(slow, HttpResponse)
    assert slow.status == 503, slow.body
    assert "KG_QUERY_TIMEOUT_S (2 s)" in slow.text and "stopped" in slow.text
    assert TIMEOUT_S - 0.1 <= float(outcome["seconds"]) <= TIMEOUT_S + 2.0  # type: ignore[arg-type]
    # the killed executor was replaced: queries keep working
    assert _query(server, "ASK {}").status == 200
    metrics = server.request("/metrics").text
    assert "kg_query_timeouts_total 1.0" in metrics
    assert "kg_executor_restarts_total 1.0" in metrics


# federated queries ------------------------------------------------------------------------------

def test_service_is_refused_without_connecting(server: ServerProcess) -> None:
    listener = Listener()
    try:
        endpoint = f"http://127.0.0.1:{listener.port}/sparql"
        # the listener works: the engine itself would connect to it
        ox.Store().query(f"SELECT * {{ SERVICE SILENT <{endpoint}> {{ ?s ?p ?o }} }}")
        time.sleep(0.3)
        assert listener.connections == 1
        for query in (f"SELECT * {{ SERVICE <{endpoint}> {{ ?s ?p ?o }} }}",
                      f"SELECT * {{ SERVICE SILENT <{endpoint}> {{ ?s ?p ?o }} }}",
                      f"PREFIX r: <http://127.0.0.1:{listener.port}/> "
                      "SELECT * { service r:sparql { ?s ?p ?o } }"):
            resp = _query(server, query)
            assert resp.status == 400 and "KG_SERVICE_ALLOWLIST" in resp.text
        time.sleep(0.5)
        assert listener.connections == 1, "the server connected to the SERVICE endpoint"
    finally:
        listener.close()


# updates -----------------------------------------------------------------------------------------

def test_updates_and_graph_store_writes_are_refused_without_a_token(
        server: ServerProcess) -> None:
    update = b"INSERT DATA { <http://example.org/x> <http://example.org/p> 1 }"
    for headers in ({}, {"Authorization": f"Bearer {TOKEN}"}):
        resp = server.request("/sparql", "POST", body=update,
                              headers={"Content-Type": "application/sparql-update", **headers})
        assert resp.status == 403 and "KG_UPDATE_TOKEN" in resp.text
    resp = server.request("/store?graph=http%3A%2F%2Fexample.org%2Fg", "PUT", body=update,
                          headers={"Content-Type": "text/turtle"})
    assert resp.status == 403
    resp = _query(server, "ASK { <http://example.org/x> ?p ?o }")
    assert json.loads(resp.body)["boolean"] is False


def test_limits_and_health_over_http(server: ServerProcess) -> None:
    resp = server.request("/sparql?query=" + "x" * 20_000)
    assert resp.status == 414 and "KG_MAX_URL_BYTES" in resp.text
    health = json.loads(server.request("/healthz").body)
    assert health["status"] == "ok" and health["mode"] == "read-only"
    assert Path(health["store"]).name == "store"
