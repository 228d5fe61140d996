"""The W3C SPARQL 1.1 Protocol and Graph Store Protocol cases over a remote engine.

The cases of tests/test_w3c_protocol.py, run the same way (one server per engine, emptied
between cases, then the case's graphData PUT through the Graph Store Protocol), against
``kg serve`` over a fresh, empty ``oxigraph serve`` and a fresh Virtuoso 7: every read,
update and Graph Store request goes through the remote engine. Every case passes on both,
and both are emptied between cases the same way: ``DROP ALL`` through the server, checked
empty through the server.

Virtuoso, given kg's default graph, refuses ``DROP ALL`` and ``DROP DEFAULT`` ("graph
<urn:scholarkg:default-graph> has not been explicitly created before"), clears only the
default graph on ``CLEAR ALL`` and nothing on ``DROP NAMED``; the client writes these
operations as ``DELETE``s of the graphs kg sees (``virtuoso_graph_management`` in
kg/storage/remote_engine.py), and ``test_graph_management_as_over_oxigraph`` checks each of them
on both engines. The one thing done outside the protocol: Virtuoso's graph group for kg's
default graph is created once, through ``isql``, as ``kg publish`` does.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from kg.storage.engine import DEFAULT_GRAPH_IRI
from kg.storage.remote_engine import virtuoso_group
from tests.engine_fixtures import (
    CLIENT_TIMEOUT_S,
    ISQL,
    OXIGRAPH,
    VIRTUOSO,
    start_oxigraph_serve,
    start_virtuosos,
)
from tests.server_fixtures import TOKEN, ServerProcess, start_server
from tests.test_w3c_protocol import CASES, _load_graph_data, _reset, run_case

SERVER: dict[str, object] = {"update_token": TOKEN, "workers": 1, "threads": 4,
                             "query_timeout_s": 20, "engine_timeout_s": CLIENT_TIMEOUT_S}
#: a server over an engine, and how to empty the engine between cases
Served = tuple[ServerProcess, Callable[[ServerProcess], None]]


@pytest.fixture(scope="module")
def oxigraph_w3c(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    if not OXIGRAPH.is_file():
        pytest.fail(f"the oxigraph server ({OXIGRAPH}) is not installed: pip install -e '.[test]'")
    tmp = tmp_path_factory.mktemp("w3c-oxigraph")
    engine = start_oxigraph_serve(tmp / "db", tmp)
    try:
        settings = {**SERVER, **{k[3:].lower(): v for k, v in engine.env().items()
                                 if k != "KG_ENGINE_TIMEOUT_S"}}
        server = start_server(tmp / "no-store", tmp, **settings)  # type: ignore[arg-type]
        try:
            yield server, _reset
        finally:
            server.stop()
    finally:
        engine.process.stop()


@pytest.fixture(scope="module")
def virtuoso_w3c(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    if VIRTUOSO is None or ISQL is None:
        pytest.skip("Virtuoso is not installed (no virtuoso-t/isql-vt on PATH): "
                    "apt-get install virtuoso-opensource")
    tmp = tmp_path_factory.mktemp("w3c-virtuoso")
    (engine,) = start_virtuosos(tmp, ["w3c"])
    try:
        group = virtuoso_group(DEFAULT_GRAPH_IRI)
        engine.isql(f"DB.DBA.RDF_GRAPH_GROUP_CREATE('{group}', 1);\n"
                    f"DB.DBA.RDF_GRAPH_GROUP_INS('{group}', '{DEFAULT_GRAPH_IRI}');\n")
        slot = engine.slot()
        server = start_server(
            tmp / "no-store", tmp, **SERVER,  # type: ignore[arg-type]
            engine="remote", engine_query_url=slot["query_url"],
            engine_update_url=slot["update_url"], engine_store_url=slot["store_url"],
            engine_user="dba", engine_password="dba", engine_dialect="virtuoso",
            engine_default_graph=DEFAULT_GRAPH_IRI)
        try:
            yield server, _reset
        finally:
            server.stop()
    finally:
        engine.process.stop()


if not CASES:
    def test_w3c_protocol_cases_present() -> None:
        pytest.skip("the W3C protocol cases (shared/w3c-protocol/tests.json) are not present "
                    "on this machine; set SCHOLARKG_SHARED to the shared folder to run them")
else:
    @pytest.mark.parametrize("engine", ["oxigraph-serve", "virtuoso"])
    @pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
    def test_w3c_case_over_a_remote_engine(engine: str, case: dict[str, Any],
                                           request: pytest.FixtureRequest) -> None:
        served: Served = request.getfixturevalue(
            "oxigraph_w3c" if engine == "oxigraph-serve" else "virtuoso_w3c")
        server, reset = served
        reset(server)
        _load_graph_data(server, case)
        run_case(server, case)


#: each graph management operation, and the graphs left after it (None: the default graph)
GRAPH_MANAGEMENT = {
    "DROP ALL": [], "DROP SILENT ALL": [], "CLEAR ALL": [], "CLEAR SILENT ALL": [],
    "DROP NAMED": [None], "CLEAR NAMED": [None],
    "DROP DEFAULT": ["http://ex.org/g1", "http://ex.org/g2"],
    "CLEAR DEFAULT": ["http://ex.org/g1", "http://ex.org/g2"],
    "DROP GRAPH <http://ex.org/g1>": [None, "http://ex.org/g2"],
    # after another operation in the same request, and one that only names them
    "INSERT DATA { <http://ex.org/c> <http://ex.org/p> 'DROP ALL' } ; CLEAR ALL": [],
    "CLEAR DEFAULT ; INSERT DATA { <http://ex.org/c> <http://ex.org/p> 'CLEAR ALL' }": [
        None, "http://ex.org/g1", "http://ex.org/g2"],
}


def _update(server: ServerProcess, text: str) -> None:
    resp = server.request("/sparql", "POST", body=text.encode(),
                          headers={"Content-Type": "application/sparql-update",
                                   "Authorization": f"Bearer {TOKEN}"})
    assert resp.status == 204, (text, resp.body)


def _graphs_left(server: ServerProcess) -> list[str | None]:
    resp = server.request("/sparql", "POST", body=(
        b"SELECT DISTINCT ?g WHERE { { ?s ?p ?o } UNION { GRAPH ?g { ?s ?p ?o } } }"),
        headers={"Content-Type": "application/sparql-query",
                 "Accept": "application/sparql-results+json"})
    assert resp.status == 200, resp.body
    found = [row.get("g", {}).get("value") for row in json.loads(resp.body)["results"]["bindings"]]
    return sorted(found, key=lambda g: g or "")


@pytest.mark.parametrize("engine", ["oxigraph-serve", "virtuoso"])
def test_graph_management_as_over_oxigraph(engine: str, request: pytest.FixtureRequest) -> None:
    server, reset = request.getfixturevalue(
        "oxigraph_w3c" if engine == "oxigraph-serve" else "virtuoso_w3c")
    for operation, left in GRAPH_MANAGEMENT.items():
        reset(server)
        # two requests: over Virtuoso, one request cannot write the default graph and a GRAPH
        _update(server, "INSERT DATA { <http://ex.org/a> <http://ex.org/p> 1 }")
        _update(server, "INSERT DATA { GRAPH <http://ex.org/g1> { <http://ex.org/a> <http://ex.org/p> 2 } "
                        "GRAPH <http://ex.org/g2> { <http://ex.org/b> <http://ex.org/p> 3 } }")
        assert _graphs_left(server) == [None, "http://ex.org/g1", "http://ex.org/g2"]
        _update(server, operation)
        assert _graphs_left(server) == left, operation
