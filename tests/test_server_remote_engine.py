"""``kg serve`` over a remote SPARQL engine (``oxigraph serve``, Virtuoso 7) on 127.0.0.1.

One release (the bundled sample profiles, see tests/test_remote_engine.py) is served three
ways: embedded (the store), over ``oxigraph serve`` loaded with its N-Quads, and over
Virtuoso with ``kg publish`` (``KG_ENGINE_RELEASE``). Over HTTP the remote servers must
answer as the embedded one: the contract queries in every results format, CONSTRUCT in
Turtle, entity pages, /dataset's figures (computed by query over an engine) and the error
shapes (SERVICE refused, writes refused). A query that overruns is a 503 within the time
limit, never a 200 with a cut body.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest

from kg.mapping.iris import DEFAULT_BASE_IRI
from kg.storage.store import KnowledgeStore
from tests.engine_fixtures import CLIENT_TIMEOUT_S, ENGINE_TIMEOUT_S, OxigraphServe
from tests.server_fixtures import TOKEN, HttpResponse, ServerProcess, start_server
from tests.test_remote_engine import (  # noqa: F401 - module fixtures shared with that module
    CONTRACT_QUERIES,
    HEAVY,
    PROLOGUE,
    Release,
    oxigraph_serve,
    published,
    release,
    virtuosos,
)

#: our limit: above the engines' own (ENGINE_TIMEOUT_S), so the engine stops first
QUERY_TIMEOUT_S = ENGINE_TIMEOUT_S + 2.0
SERVER: dict[str, object] = {"workers": 1, "threads": 4, "query_workers": 2, "query_timeout_s": QUERY_TIMEOUT_S}
RESULT_TYPES = {"json": "application/sparql-results+json", "xml": "application/sparql-results+xml",
                "csv": "text/csv", "tsv": "text/tab-separated-values"}


@pytest.fixture(scope="module")
def embedded_server(release: Release,  # noqa: F811
                    tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    server = start_server(release.store, tmp_path_factory.mktemp("embedded-server"), **SERVER)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def oxigraph_server(oxigraph_serve: OxigraphServe,  # noqa: F811
                    tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    tmp = tmp_path_factory.mktemp("oxigraph-server")
    engine: dict[str, object] = {k[3:].lower(): v for k, v in oxigraph_serve.env().items()}
    server = start_server(tmp / "no-store", tmp, **SERVER, **engine)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def virtuoso_server(published: Path,  # noqa: F811
                    tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """Served from the published release, with updates enabled (token) and the engine's
    credentials: writes go to Virtuoso's update endpoint."""
    tmp = tmp_path_factory.mktemp("virtuoso-server")
    server = start_server(tmp / "no-store", tmp, **SERVER, update_token=TOKEN,
                          engine_release=published, engine_user="dba", engine_password="dba",
                          engine_timeout_s=CLIENT_TIMEOUT_S)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(params=["oxigraph-serve", "virtuoso"])
def remote_server(request: pytest.FixtureRequest) -> ServerProcess:
    name = "oxigraph_server" if request.param == "oxigraph-serve" else "virtuoso_server"
    server: ServerProcess = request.getfixturevalue(name)
    return server


def _query(server: ServerProcess, sparql: str, accept: str, **headers: str) -> HttpResponse:
    return server.request("/sparql", "POST", body=sparql.encode("utf-8"),
                          headers={"Content-Type": "application/sparql-query",
                                   "Accept": accept, **headers})


def _ntriples(turtle: bytes) -> list[bytes]:
    return sorted(KnowledgeStore.convert(turtle, "turtle", "ntriples").splitlines())


def _local(server: ServerProcess, body: bytes) -> bytes:
    """A body with the server's own address written the same for every server."""
    return body.replace(server.url.encode(), b"http://SERVER")


# same answers over HTTP --------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(CONTRACT_QUERIES))
def test_contract_queries_answer_as_the_embedded_server(
        name: str, remote_server: ServerProcess, embedded_server: ServerProcess) -> None:
    sparql = PROLOGUE + CONTRACT_QUERIES[name]
    for fmt, media_type in RESULT_TYPES.items():
        ours = _query(embedded_server, sparql, media_type)
        assert ours.status == 200 and ours.body, (fmt, ours.body[:300])
        theirs = _query(remote_server, sparql, media_type)
        assert (theirs.status, theirs.complete) == (200, True), (fmt, theirs.body[:300])
        assert theirs.header("content-type") == ours.header("content-type")
        assert theirs.body == ours.body, f"{name} in {fmt}"


def test_construct_in_turtle_and_ask(remote_server: ServerProcess,
                                     embedded_server: ServerProcess) -> None:
    construct = PROLOGUE + """CONSTRUCT { ?paper schema:author ?p . ?p schema:name ?n }
        WHERE { ?paper a schema:ScholarlyArticle ; schema:author ?p . ?p schema:name ?n }"""
    ours = _query(embedded_server, construct, "text/turtle")
    theirs = _query(remote_server, construct, "text/turtle")
    assert ours.status == theirs.status == 200
    assert theirs.header("content-type") == ours.header("content-type")
    assert _ntriples(ours.body) and _ntriples(theirs.body) == _ntriples(ours.body)
    ask = PROLOGUE + "ASK { ?p a schema:Person }"
    answer = _query(remote_server, ask, RESULT_TYPES["json"])
    assert json.loads(answer.body)["boolean"] is True


def test_a_capped_result_says_so_as_embedded(remote_server: ServerProcess,
                                             embedded_server: ServerProcess) -> None:
    sparql = "SELECT ?s ?p ?o WHERE { ?s ?p ?o } ORDER BY ?s ?p ?o"
    # the cap is a server setting (100000 here, more than the sample holds): same head
    ours = _query(embedded_server, sparql, RESULT_TYPES["csv"])
    theirs = _query(remote_server, sparql, RESULT_TYPES["csv"])
    assert theirs.body == ours.body
    assert theirs.header("kg-result-capped") == ours.header("kg-result-capped")


# pages -------------------------------------------------------------------------------------

def _person_paths(server: ServerProcess) -> list[str]:
    sparql = PROLOGUE + "SELECT ?p WHERE { ?p a schema:Person } ORDER BY ?p LIMIT 2"
    rows = json.loads(_query(server, sparql, RESULT_TYPES["json"]).body)["results"]["bindings"]
    iris = [row["p"]["value"] for row in rows]
    assert iris and all(i.startswith(DEFAULT_BASE_IRI) for i in iris)
    return ["/id/" + i[len(DEFAULT_BASE_IRI):] for i in iris]


def test_entity_pages_as_embedded(remote_server: ServerProcess,
                                  embedded_server: ServerProcess) -> None:
    for path in _person_paths(embedded_server):
        ours = embedded_server.request(path, headers={"Accept": "text/html"})
        theirs = remote_server.request(path, headers={"Accept": "text/html"})
        assert ours.status == theirs.status == 200, path
        assert _local(remote_server, theirs.body) == _local(embedded_server, ours.body), path
        ours = embedded_server.request(path, headers={"Accept": "text/turtle"})
        theirs = remote_server.request(path, headers={"Accept": "text/turtle"})
        assert ours.status == theirs.status == 200, path
        assert _ntriples(ours.body) and _ntriples(theirs.body) == _ntriples(ours.body), path


def test_dataset_page_gives_the_same_figures(remote_server: ServerProcess,
                                             embedded_server: ServerProcess) -> None:
    ours = embedded_server.request("/dataset")
    theirs = remote_server.request("/dataset")
    assert ours.status == theirs.status == 200
    assert b"Dataset" in ours.body
    assert _local(remote_server, theirs.body) == _local(embedded_server, ours.body)


def test_health_names_the_engine_and_release(virtuoso_server: ServerProcess,
                                             published: Path) -> None:  # noqa: F811
    health = json.loads(virtuoso_server.request("/healthz").body)
    pointer = json.loads(published.read_text(encoding="utf-8"))
    assert health["status"] == "ok"
    assert (health["engine"], health["release"], health["store"]) == (
        "remote", pointer["release"], pointer["query_url"])


# refusals and errors: the same shapes ------------------------------------------------------

def test_service_is_refused_as_embedded(remote_server: ServerProcess,
                                        embedded_server: ServerProcess) -> None:
    sparql = "SELECT * WHERE { SERVICE <http://127.0.0.1:9/sparql> { ?s ?p ?o } }"
    ours = _query(embedded_server, sparql, RESULT_TYPES["json"])
    theirs = _query(remote_server, sparql, RESULT_TYPES["json"])
    assert ours.status == 400 and "KG_SERVICE_ALLOWLIST" in ours.text
    assert (theirs.status, theirs.body) == (ours.status, ours.body)


def test_writes_without_a_token_are_refused(oxigraph_server: ServerProcess,
                                            virtuoso_server: ServerProcess,
                                            embedded_server: ServerProcess) -> None:
    update = b"INSERT DATA { <http://ex.org/a> <http://ex.org/p> 1 }"
    headers = {"Content-Type": "application/sparql-update"}
    ours = embedded_server.request("/sparql", "POST", body=update, headers=headers)
    theirs = oxigraph_server.request("/sparql", "POST", body=update, headers=headers)
    assert ours.status == 403 and (theirs.status, theirs.body) == (ours.status, ours.body)
    # updates enabled: a missing or wrong token is 401, the right one writes into the engine
    assert virtuoso_server.request("/sparql", "POST", body=update, headers=headers).status == 401
    wrong = {**headers, "Authorization": "Bearer wrong"}
    assert virtuoso_server.request("/sparql", "POST", body=update, headers=wrong).status == 401


def test_an_update_reaches_the_engine_and_a_new_generation(virtuoso_server: ServerProcess) -> None:
    graph = "http://ex.org/server-scratch"
    auth = {"Authorization": f"Bearer {TOKEN}"}
    ask = f"ASK {{ GRAPH <{graph}> {{ ?s ?p ?o }} }}"
    before = _query(virtuoso_server, ask, RESULT_TYPES["json"])
    assert json.loads(before.body)["boolean"] is False
    generation = json.loads(virtuoso_server.request("/healthz").body)["generation"]
    done = virtuoso_server.request(
        "/sparql", "POST", body=f"INSERT DATA {{ GRAPH <{graph}> {{ <http://ex.org/a> "
        "<http://ex.org/p> 1 } }".encode(), headers={"Content-Type": "application/sparql-update",
                                                    **auth})
    assert done.status == 204, done.body
    try:
        # the cached ASK is not answered again: the update started a new generation
        assert json.loads(virtuoso_server.request("/healthz").body)["generation"] != generation
        after = _query(virtuoso_server, ask, RESULT_TYPES["json"])
        assert json.loads(after.body)["boolean"] is True
    finally:
        dropped = virtuoso_server.request(f"/store?graph={quote(graph, safe='')}", "DELETE",
                                          headers=auth)
        assert dropped.status == 204, dropped.body


def test_syntax_errors_are_400(remote_server: ServerProcess) -> None:
    answer = _query(remote_server, "SELECT * WHERE { ?s ?p }", RESULT_TYPES["json"])
    assert answer.status == 400 and b"not valid SPARQL" in answer.body, answer.body


# time limits -------------------------------------------------------------------------------

def test_a_runaway_query_is_503_within_the_limit(remote_server: ServerProcess) -> None:
    started = time.monotonic()
    answer = _query(remote_server, HEAVY, RESULT_TYPES["json"])
    took = time.monotonic() - started
    assert answer.status == 503, answer.body[:300]
    assert took < QUERY_TIMEOUT_S + 2, took
    assert answer.complete and b"stopped" in answer.body, answer.body
    # and the server answers the next query at once
    ask = _query(remote_server, "ASK { ?s ?p ?o }", RESULT_TYPES["json"])
    assert ask.status == 200 and json.loads(ask.body)["boolean"] is True


# releases: the pointer is followed ---------------------------------------------------------

def test_a_moved_release_pointer_is_followed(oxigraph_serve: OxigraphServe,  # noqa: F811
                                             tmp_path: Path) -> None:
    pointer = tmp_path / "current.json"
    base = {"query_url": f"{oxigraph_serve.base}/query", "dialect": "standard"}
    pointer.write_text(json.dumps({**base, "release": "2026-12-01"}), encoding="utf-8")
    with_pointer: dict[str, object] = {**SERVER, "engine_release": pointer}
    server = start_server(tmp_path / "no-store", tmp_path, **with_pointer)
    try:
        first = json.loads(server.request("/healthz").body)
        assert first["release"] == "2026-12-01"
        pointer.with_suffix(".new").write_text(json.dumps({**base, "release": "2026-12-02"}),
                                               encoding="utf-8")
        pointer.with_suffix(".new").replace(pointer)  # as kg publish switches: by rename
        second = json.loads(server.request("/healthz").body)
        assert second["release"] == "2026-12-02"
        assert second["generation"] != first["generation"]
        assert second["release_switches"] == first["release_switches"] + 1
        ask = _query(server, "ASK { ?s ?p ?o }", RESULT_TYPES["json"])
        assert ask.status == 200 and json.loads(ask.body)["boolean"] is True
    finally:
        server.stop()
