"""The /sparql, /store, /healthz and /metrics routes over a real in-memory store
(Flask test client, queries in-process)."""

from __future__ import annotations

import gzip
import io
import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pyoxigraph as ox
import pytest
import rdflib
from flask import Flask
from pyld import jsonld
from rdflib.compare import isomorphic
from rdflib.query import Result
from werkzeug.test import TestResponse

from kg.output.formats import ALL_FORMATS, RDF_FORMATS, RESULT_FORMATS
from kg.storage.store import KnowledgeStore
from server.sparql.service_description import FORMAT_IRIS
from tests.server_fixtures import (  # noqa: F401
    SAMPLE_TURTLE,
    TOKEN,
    Listener,
    make_app,
    memory_store,
)

SELECT_ALL = "SELECT ?s ?p ?o WHERE { ?s ?p ?o } ORDER BY ?s ?p ?o"
CONSTRUCT_ALL = "CONSTRUCT WHERE { ?s ?p ?o }"
ASK = "ASK { ?s a <http://xmlns.com/foaf/0.1/Person> }"
XSD_INTEGER = b"http://www.w3.org/2001/XMLSchema#integer"
BROWSER = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
SPARQL_UPDATE = {"Content-Type": "application/sparql-update"}


@pytest.fixture
def app(make_app: Any) -> Flask:  # noqa: F811
    return make_app()  # type: ignore[no-any-return]


def get(app: Flask, query: str | None = None, headers: dict[str, str] | None = None,
        path: str = "/sparql", **params: str) -> TestResponse:
    args = dict(params)
    if query is not None:
        args["query"] = query
    return app.test_client().get(path, query_string=args, headers=headers or {})


def post(app: Flask, body: bytes | str, content_type: str | None,
         headers: dict[str, str] | None = None, path: str = "/sparql") -> TestResponse:
    all_headers = dict(headers or {})
    if content_type is not None:
        all_headers["Content-Type"] = content_type
    data = body.encode("utf-8") if isinstance(body, str) else body
    return app.test_client().post(path, data=data, headers=all_headers)


def media_type(resp: TestResponse) -> str:
    return resp.headers["Content-Type"].split(";")[0]


def sample_graph() -> rdflib.Graph:
    return rdflib.Graph().parse(data=SAMPLE_TURTLE, format="turtle")


# content negotiation -------------------------------------------------------------

@pytest.mark.parametrize(("accept", "expected"), [
    (None, "application/sparql-results+json"),
    ("*/*", "application/sparql-results+json"),
    ("text/csv;q=0.5, application/sparql-results+xml;q=0.9", "application/sparql-results+xml"),
    ("text/*", "text/csv"),
    ("text/csv;charset=utf-8", "text/csv"),
    ("application/sparql-results+json;q=0, */*", "application/sparql-results+xml"),
    ("application/json", "application/json"),
    ("text/tab-separated-values, */*;q=0.1", "text/tab-separated-values"),
])
def test_select_negotiation(app: Flask, accept: str | None, expected: str) -> None:
    resp = get(app, SELECT_ALL, {"Accept": accept} if accept else None)
    assert resp.status_code == 200, resp.data
    assert media_type(resp) == expected
    assert "Accept" in resp.headers["Vary"]


@pytest.mark.parametrize(("accept", "expected"), [
    (None, "text/turtle"), ("*/*", "text/turtle"), ("text/*", "text/turtle"),
    ("application/rdf+xml", "application/rdf+xml"),
    ("application/n-triples", "application/n-triples"),
    ("application/ld+json;q=0.9, text/turtle;q=0.8", "application/ld+json"),
])
def test_construct_negotiation(app: Flask, accept: str | None, expected: str) -> None:
    resp = get(app, CONSTRUCT_ALL, {"Accept": accept} if accept else None)
    assert resp.status_code == 200, resp.data
    assert media_type(resp) == expected
    assert "Accept" in resp.headers["Vary"]


@pytest.mark.parametrize(("query", "fmt", "expected"), [
    (SELECT_ALL, "csv", "text/csv"), (SELECT_ALL, "srx", "application/sparql-results+xml"),
    (SELECT_ALL, "text/tab-separated-values", "text/tab-separated-values"),
    (CONSTRUCT_ALL, "nt", "application/n-triples"),
    (CONSTRUCT_ALL, "jsonld", "application/ld+json"),
    (CONSTRUCT_ALL, "xml", "application/rdf+xml"), (ASK, "xml", "application/sparql-results+xml"),
])
def test_format_parameter_overrides_accept(app: Flask, query: str, fmt: str,
                                           expected: str) -> None:
    resp = get(app, query, {"Accept": "application/sparql-results+json"}, format=fmt)
    assert resp.status_code == 200, resp.data
    assert media_type(resp) == expected


def test_not_acceptable_lists_the_offered_types(app: Flask) -> None:
    resp = get(app, SELECT_ALL, {"Accept": "image/png"})
    assert resp.status_code == 406
    for fmt in RESULT_FORMATS.values():
        assert fmt.media_type in resp.text
    assert "Accept" in resp.headers["Vary"]
    resp = get(app, CONSTRUCT_ALL, {"Accept": "application/sparql-results+json"})
    assert resp.status_code == 406 and "text/turtle" in resp.text
    assert get(app, SELECT_ALL, format="turtle").status_code == 406
    assert get(app, SELECT_ALL, format="no-such-format").status_code == 400


def test_browsers_are_sent_to_the_query_page(app: Flask) -> None:
    resp = get(app, SELECT_ALL, {"Accept": BROWSER})
    assert resp.status_code == 303
    assert resp.headers["Location"] == "/?" + "query=" + quote(SELECT_ALL, safe="").replace(
        "%20", "+")
    assert get(app, SELECT_ALL, {"Accept": BROWSER}, format="json").status_code == 200
    assert get(app, None, {"Accept": BROWSER}).status_code == 303


# every format parses back ----------------------------------------------------------

def _rows_via_rdflib(data: bytes, fmt: str) -> set[tuple[Any, ...]]:
    result = Result.parse(io.BytesIO(data), format=fmt)
    return {tuple(row) for row in result}


def test_select_results_parse_back_identically(app: Flask) -> None:
    rows = {}
    for name in ("json", "xml", "tsv"):
        resp = get(app, SELECT_ALL, format=name)
        assert resp.status_code == 200
        rows[name] = _rows_via_rdflib(resp.data, name)
        # oxigraph's own parser agrees on the number of solutions
        parsed = ox.parse_query_results(resp.data, ox.QueryResultsFormat.from_media_type(
            media_type(resp)))
        assert len(list(parsed)) == len(rows[name])
    assert rows["json"] == rows["xml"] == rows["tsv"]
    assert len(rows["json"]) == len(sample_graph())
    literals = {str(o) for _, _, o in rows["json"] if isinstance(o, rdflib.Literal)}
    assert 'Anonymous "Anon" One' in literals and "Bob\tTab\nNewline, comma" in literals
    csv_rows = _rows_via_rdflib(get(app, SELECT_ALL, format="csv").data, "csv")
    assert {str(o) for _, _, o in csv_rows} >= {"Bob\tTab\nNewline, comma", "Alicia"}


def test_select_results_match_oxigraph_serialisers(app: Flask) -> None:
    store = ox.Store()
    store.load(SAMPLE_TURTLE.encode(), ox.RdfFormat.TURTLE)
    query = "SELECT ?s ?p ?o WHERE { ?s ?p ?o FILTER(!isBlank(?s) && !isBlank(?o)) } ORDER BY ?o"
    for name in ("json", "xml", "tsv"):
        ours = get(app, query, format=name).data
        fmt = ox.QueryResultsFormat.from_extension({"json": "srj", "xml": "srx",
                                                    "tsv": "tsv"}[name])
        theirs = store.query(query).serialize(None, fmt)
        assert [str(s) for s in ox.parse_query_results(ours, fmt)] == \
            [str(s) for s in ox.parse_query_results(theirs, fmt)]


def test_ask_results(app: Flask) -> None:
    assert json.loads(get(app, ASK).data) == {"head": {}, "boolean": True}
    xml = get(app, ASK, format="xml").data
    assert b"<boolean>true</boolean>" in xml
    assert Result.parse(io.BytesIO(xml), format="xml").askAnswer is True


@pytest.mark.parametrize("fmt", sorted(RDF_FORMATS))
def test_construct_in_every_rdf_format_is_the_graph(app: Flask, fmt: str) -> None:
    resp = get(app, CONSTRUCT_ALL, format=fmt)
    assert resp.status_code == 200, resp.data
    parser = {"turtle": "turtle", "ntriples": "nt", "nquads": "nquads", "trig": "trig",
              "rdfxml": "xml", "jsonld": "json-ld"}[fmt]
    if fmt in ("nquads", "trig"):
        # rdflib's dataset parsers warn (deprecations); read them with oxigraph instead
        quads = ox.parse(resp.data, ox.RdfFormat.from_media_type(media_type(resp)))
        graph = rdflib.Graph().parse(data="".join(f"{q.triple} .\n" for q in quads),
                                     format="nt")
    elif fmt == "jsonld":
        # rdflib's JSON-LD parser warns too; pyld reads the (compacted) document
        nquads = jsonld.to_rdf(json.loads(resp.data), {"format": "application/n-quads"})
        graph = rdflib.Graph().parse(data=nquads, format="nt")
    else:
        graph = rdflib.Graph().parse(data=resp.data, format=parser)
    assert isomorphic(graph, sample_graph())


# the result cap ---------------------------------------------------------------------

def test_result_cap_is_announced(make_app: Any) -> None:  # noqa: F811
    app = make_app(result_cap=3)
    resp = get(app, SELECT_ALL)
    assert resp.headers["KG-Result-Capped"] == "3" and resp.headers["KG-Result-Count"] == "3"
    assert len(json.loads(resp.data)["results"]["bindings"]) == 3
    resp = get(app, CONSTRUCT_ALL, format="nt")
    assert resp.headers["KG-Result-Capped"] == "3"
    assert len(resp.data.splitlines()) == 3
    resp = get(app, "SELECT * { ?s a ?c }")
    assert "KG-Result-Capped" not in resp.headers and resp.headers["KG-Result-Count"] == "2"
    assert b"kg_results_capped_total 2.0" in app.test_client().get("/metrics").data


# errors, limits and request parsing ---------------------------------------------------

def test_error_shape_plain_text_or_json(app: Flask) -> None:
    resp = get(app, "ASK {")
    assert resp.status_code == 400 and media_type(resp) == "text/plain"
    assert resp.text.startswith("400 Bad Request: the query is not valid SPARQL")
    resp = get(app, "ASK {", {"Accept": "application/json"})
    body = json.loads(resp.data)["error"]
    assert body["status"] == 400 and body["title"] == "Bad Request"
    assert "not valid SPARQL" in body["message"]


@pytest.mark.parametrize(("request_kwargs", "status"), [
    ({"query": "ASK {"}, 400),
    ({"method": "PUT"}, 405),
    ({"query": SELECT_ALL, "accept": "image/png"}, 406),
    ({"body": b"ASK {}", "content_type": "text/plain"}, 415),
    ({"body": b"x" * 300, "content_type": "application/sparql-query"}, 413),
    ({"query": "ASK {" + " " * 600 + "}"}, 414),
    ({"body": b"INSERT DATA {}", "content_type": "application/sparql-update"}, 403),
])
def test_every_error_route_uses_the_one_shape(make_app: Any, request_kwargs: dict[str, Any],  # noqa: F811
                                              status: int) -> None:
    app = make_app(max_query_bytes=200, max_url_bytes=500)
    client = app.test_client()
    headers = {"Accept": "application/json"}
    if "accept" in request_kwargs:
        headers["Accept"] = request_kwargs["accept"]
    if "body" in request_kwargs:
        resp = client.post("/sparql", data=request_kwargs["body"],
                           headers={**headers, "Content-Type": request_kwargs["content_type"]})
    elif request_kwargs.get("method") == "PUT":
        resp = client.put("/sparql", headers=headers)
    else:
        resp = client.get("/sparql", query_string={"query": request_kwargs["query"]},
                          headers=headers)
    assert resp.status_code == status
    if status == 406:
        assert resp.text.startswith("406 Not Acceptable: ")
        return
    error = json.loads(resp.data)["error"]
    assert error["status"] == status and error["message"]
    if status == 405:
        assert "GET" in resp.headers["Allow"] and "POST" in resp.headers["Allow"]


def test_limits_name_their_setting(make_app: Any) -> None:  # noqa: F811
    app = make_app(max_query_bytes=100, max_url_bytes=300, max_body_bytes=1000)
    client = app.test_client()
    resp = client.post("/sparql", data="ASK {" + " " * 200 + "}",
                       headers={"Content-Type": "application/sparql-query"})
    assert resp.status_code == 413 and "KG_MAX_QUERY_BYTES" in resp.text
    resp = client.get("/sparql", query_string={"query": "ASK {" + " " * 400 + "}"})
    assert resp.status_code == 414 and "KG_MAX_URL_BYTES" in resp.text
    resp = client.post("/sparql", data=b"q" * 2000,
                       headers={"Content-Type": "application/sparql-query"})
    assert resp.status_code == 413 and "KG_MAX_BODY_BYTES" in resp.text


@pytest.mark.parametrize(("body", "content_type", "fragment"), [
    (b"ASK { ?s ?p '\xff' }", "application/sparql-query", "byte 0xff at offset 13"),
    (b"query=ASK%20%7B%20%3Fs%20%3Fp%20%27%FF%27%20%7D", "application/x-www-form-urlencoded",
     "byte 0xff at offset 13"),
    ("ASK {}".encode("utf-16"), "application/sparql-query", "byte 0xff at offset 0"),
])
def test_non_utf8_is_refused_with_the_offset(app: Flask, body: bytes, content_type: str,
                                             fragment: str) -> None:
    resp = post(app, body, content_type)
    assert resp.status_code == 400 and fragment in resp.text
    resp = post(app, "ASK {}".encode("utf-16"), "application/sparql-query; charset=UTF-16")
    assert resp.status_code == 415 and "UTF-8" in resp.text
    resp = app.test_client().get("/sparql?query=ASK%20%7B%FF%7D")
    assert resp.status_code == 400 and "byte 0xff at offset 5" in resp.text


def test_protocol_request_errors(app: Flask) -> None:
    assert post(app, b"ASK {}", None).status_code == 415
    assert "no Content-Type" in post(app, b"query=ASK+%7B%7D", None).text
    resp = app.test_client().get("/sparql?query=ASK%20%7B%7D&query=ASK%20%7B%7D")
    assert resp.status_code == 400 and "exactly one query" in resp.text
    resp = post(app, b"query=ASK+%7B%7D&update=CLEAR+ALL", "application/x-www-form-urlencoded")
    assert resp.status_code == 400 and "not both" in resp.text
    resp = app.test_client().get("/sparql?update=CLEAR%20ALL")
    assert resp.status_code == 400 and "POST" in resp.text
    assert post(app, b"", "application/x-www-form-urlencoded").status_code == 400
    resp = get(app, ASK, **{"default-graph-uri": "not an IRI"})
    assert resp.status_code == 400 and "absolute IRI" in resp.text


def _count(app: Flask, query: str, **params: str) -> int:
    resp = get(app, query, {"Accept": "application/sparql-results+json"}, **params)
    assert resp.status_code == 200, resp.text
    return int(json.loads(resp.data)["results"]["bindings"][0]["n"]["value"])


def test_the_protocol_dataset_is_the_one_from_and_from_named_give(
        make_app: Any, memory_store: KnowledgeStore) -> None:  # noqa: F811
    """default-graph-uri / named-graph-uri specify the whole dataset (Protocol 2.1.4):
    only named graphs leave the default graph empty, only default graphs leave no named
    graphs, exactly as FROM NAMED / FROM in the query text."""
    g = "http://example.org/graph/one"
    for name, data in ((g, "<http://example.org/x> <http://example.org/p> 1 ."),
                       ("http://example.org/graph/two",
                        "<http://example.org/y> <http://example.org/p> 2 .")):
        memory_store.load_graph(data.encode(), "turtle", name, replace=False)
    app = make_app()
    triples = "SELECT (COUNT(*) AS ?n) {} WHERE {{ ?s ?p ?o }}"
    named = "SELECT (COUNT(DISTINCT ?g) AS ?n) {} WHERE {{ GRAPH ?g {{ ?s ?p ?o }} }}"
    assert _count(app, triples.format("")) > 0 and _count(app, named.format("")) > 1
    for params, clauses in (({"named-graph-uri": g}, f"FROM NAMED <{g}>"),
                            ({"default-graph-uri": g}, f"FROM <{g}>"),
                            ({"default-graph-uri": g, "named-graph-uri": g},
                             f"FROM <{g}> FROM NAMED <{g}>")):
        for query in (triples, named):
            assert _count(app, query.format(""), **params) == _count(
                app, query.format(clauses)), (params, query)
    assert _count(app, triples.format(""), **{"named-graph-uri": g}) == 0
    assert _count(app, named.format(""), **{"default-graph-uri": g}) == 0
    assert _count(app, named.format(""), **{"named-graph-uri": g}) == 1
    assert _count(app, triples.format(""), **{"default-graph-uri": g}) > 0


def test_trailing_slash_and_post_forms(app: Flask) -> None:
    assert get(app, ASK, path="/sparql/").status_code == 200
    resp = post(app, "query=" + quote(ASK), "application/x-www-form-urlencoded")
    assert json.loads(resp.data)["boolean"] is True
    resp = post(app, ASK, "application/sparql-query; charset=utf-8")
    assert json.loads(resp.data)["boolean"] is True


# federated queries ---------------------------------------------------------------------

@pytest.mark.parametrize("query", [
    "SELECT * { SERVICE <http://127.0.0.1:9/sparql> { ?s ?p ?o } }",
    "select * { service silent <http://127.0.0.1:9/sparql> { ?s ?p ?o } }",
    "PREFIX e: <http://127.0.0.1:9/> SELECT * { SeRvIcE e:sparql { ?s ?p ?o } }",
    "BASE <http://127.0.0.1:9/> SELECT * { SERVICE <sparql> { ?s ?p ?o } }",
    "SELECT * { ?s ?p ?o . { SELECT * { SERVICE<http://127.0.0.1:9/s>{?a ?b ?c} } } }",
    "SELECT * # a comment\n{ \\u0053ERVICE <http://127.0.0.1:9/s> { ?s ?p ?o } }",
    "SELECT * { SERVICE ?endpoint { ?s ?p ?o } }",
    "SELECT * { ?s ?p 'SERVICE' . SERVICE # comment\n <http://127.0.0.1:9/s> { } }",
])
def test_service_is_refused_before_execution(app: Flask, query: str) -> None:
    resp = get(app, query)
    assert resp.status_code == 400, resp.data
    assert "KG_SERVICE_ALLOWLIST" in resp.text


@pytest.mark.parametrize("query", [
    "SELECT * { ?s ?p 'SERVICE <http://127.0.0.1:9/s> { }' }",
    "SELECT * { ?s ?p \"\"\"multi\nSERVICE <http://127.0.0.1:9/s> {}\"\"\" }",
    "SELECT * { ?s <http://ex.org/SERVICE> ?o } # SERVICE <http://127.0.0.1:9/s>",
    "PREFIX ex: <http://ex.org/> SELECT * { ?s ex:SERVICE ?service }",
])
def test_service_lookalikes_are_not_refused(app: Flask, query: str) -> None:
    assert get(app, query).status_code == 200


def test_allowlisted_service_and_variable_endpoints(make_app: Any) -> None:  # noqa: F811
    closed = "http://127.0.0.1:1/sparql"  # nothing listens there
    app = make_app(service_allowlist=f"{closed}, http://example.org/other")
    resp = get(app, f"SELECT * {{ SERVICE SILENT <{closed}> {{ ?s ?p ?o }} }}")
    assert resp.status_code == 200
    resp = get(app, "SELECT * { SERVICE <http://127.0.0.1:9/not-listed> { ?s ?p ?o } }")
    assert resp.status_code == 400 and "not listed in KG_SERVICE_ALLOWLIST" in resp.text
    resp = get(app, "SELECT * { SERVICE ?e { ?s ?p ?o } }")
    assert resp.status_code == 400 and "variable endpoint" in resp.text


# updates ------------------------------------------------------------------------------

def test_updates_are_disabled_without_a_token(app: Flask) -> None:
    resp = post(app, "INSERT DATA { <http://a> <http://b> 1 }", "application/sparql-update",
                AUTH)
    assert resp.status_code == 403 and "KG_UPDATE_TOKEN" in resp.text
    resp = app.test_client().put("/store?graph=http://ex.org/g", data=b"",
                                 headers={"Content-Type": "text/turtle", **AUTH})
    assert resp.status_code == 403


def test_update_tokens(make_app: Any) -> None:  # noqa: F811
    app = make_app(update_token=TOKEN)
    update = "INSERT DATA { <http://ex.org/new> <http://ex.org/p> 1 }"
    resp = post(app, update, "application/sparql-update")
    assert resp.status_code == 401 and "WWW-Authenticate" in resp.headers
    resp = post(app, update, "application/sparql-update", {"Authorization": "Bearer nope"})
    assert resp.status_code == 401 and "invalid_token" in resp.headers["WWW-Authenticate"]
    assert post(app, update, "application/sparql-update", AUTH).status_code == 204
    assert json.loads(get(app, "ASK { <http://ex.org/new> ?p ?o }").data)["boolean"] is True
    resp = post(app, "update=" + quote("CLEAR DEFAULT"), "application/x-www-form-urlencoded",
                AUTH)
    assert resp.status_code == 204
    assert json.loads(get(app, "ASK { ?s ?p ?o }").data)["boolean"] is False


def test_update_dataset_parameters(make_app: Any) -> None:  # noqa: F811
    app = make_app(update_token=TOKEN)
    client = app.test_client()
    load = "INSERT DATA { GRAPH <http://ex.org/g1> { <http://ex.org/a> a <http://ex.org/C> } }"
    assert post(app, load, "application/sparql-update", AUTH).status_code == 204
    copy = ("INSERT { GRAPH <http://ex.org/out> { ?s a <http://ex.org/D> } } "
            "WHERE { ?s a <http://ex.org/C> }")
    resp = client.post("/sparql?using-graph-uri=" + quote("http://ex.org/g1", safe=""),
                       data=copy, headers={**SPARQL_UPDATE, **AUTH})
    assert resp.status_code == 204
    ask = "ASK { GRAPH <http://ex.org/out> { <http://ex.org/a> a <http://ex.org/D> } }"
    assert json.loads(get(app, ask).data)["boolean"] is True
    conflict = "WITH <http://ex.org/g1> DELETE { ?s ?p ?o } WHERE { ?s ?p ?o }"
    resp = client.post("/sparql?using-named-graph-uri=http%3A%2F%2Fex.org%2Fg1",
                       data=conflict, headers={**SPARQL_UPDATE, **AUTH})
    assert resp.status_code == 400 and "USING or WITH" in resp.text
    resp = post(app, "LOAD <http://127.0.0.1:9/data.ttl>", "application/sparql-update", AUTH)
    assert resp.status_code == 400 and "KG_SERVICE_ALLOWLIST" in resp.text


# LOAD and LOAD SILENT -------------------------------------------------------------------

@pytest.fixture
def listener() -> Iterator[Listener]:
    """A loopback socket that counts connections: a LOAD from it must not reach it."""
    sock = Listener()
    try:
        yield sock
    finally:
        sock.close()


def _quads(store: KnowledgeStore) -> list[str]:
    return sorted(line.strip() for line in store.quad_lines(all_graphs=True))


@pytest.mark.parametrize("update", [
    "LOAD SILENT <{url}>",
    "load silent <{url}> into graph <http://ex.org/g>",
    "PREFIX l: <{base}> LOAD SILENT l:sparql INTO GRAPH l:g",
    "BASE <{base}> LOAD # a comment\n SILENT <sparql>",
    "\\u004cOAD \\u0053ILENT <{url}>",
])
@pytest.mark.parametrize("allowlist", ["", "http://example.org/other"])
def test_load_silent_from_outside_the_allowlist_does_nothing(
        make_app: Any, memory_store: KnowledgeStore, listener: Listener,  # noqa: F811
        update: str, allowlist: str) -> None:
    app = make_app(update_token=TOKEN, service_allowlist=allowlist)
    before = _quads(memory_store)
    text = update.format(url=listener.url, base=listener.url.removesuffix("sparql"))
    resp = post(app, text, "application/sparql-update", AUTH)
    assert resp.status_code == 204, resp.text
    assert _quads(memory_store) == before
    assert listener.connections == 0


@pytest.mark.parametrize("update", [
    "LOAD <{url}>",
    "LOAD <{url}> INTO GRAPH <http://ex.org/SILENT>",
    "LOAD <{url}> # SILENT",
    "INSERT DATA {{ <http://ex.org/a> <http://ex.org/p> 'LOAD SILENT' }} ; LOAD <{url}>",
    "LOAD SILENT <{url}> ; LOAD <{url}> INTO GRAPH <http://ex.org/g>",
    "LOAD SILENT <{url}> INTO GRAPH",
])
def test_load_without_silent_is_refused(
        make_app: Any, memory_store: KnowledgeStore, listener: Listener,  # noqa: F811
        update: str) -> None:
    app = make_app(update_token=TOKEN)
    before = _quads(memory_store)
    resp = post(app, update.format(url=listener.url), "application/sparql-update", AUTH)
    assert resp.status_code == 400, resp.text
    assert "KG_SERVICE_ALLOWLIST" in resp.text and listener.url in resp.text
    assert _quads(memory_store) == before
    assert listener.connections == 0


def test_refused_load_silent_leaves_the_other_operations_to_run(
        make_app: Any, memory_store: KnowledgeStore, listener: Listener,  # noqa: F811
        ) -> None:
    app = make_app(update_token=TOKEN)
    update = (f"INSERT DATA {{ <http://ex.org/new> <http://ex.org/p> 1 }} ;\n"
              f"LOAD SILENT <{listener.url}> INTO GRAPH <http://ex.org/loaded> ;\n"
              "INSERT DATA { GRAPH <http://ex.org/g2> { <http://ex.org/new> "
              "<http://ex.org/p> 'LOAD SILENT <x>' } }")
    before = _quads(memory_store)
    resp = post(app, "update=" + quote(update), "application/x-www-form-urlencoded", AUTH)
    assert resp.status_code == 204, resp.text
    added = sorted(set(_quads(memory_store)) - set(before))
    assert added == [
        '<http://ex.org/new> <http://ex.org/p> "1"^^<http://www.w3.org/2001/XMLSchema#integer> .',
        '<http://ex.org/new> <http://ex.org/p> "LOAD SILENT <x>" <http://ex.org/g2> .']
    assert not memory_store.has_graph("http://ex.org/loaded")
    assert listener.connections == 0


def test_allowlisted_load_silent_does_connect(
        make_app: Any, memory_store: KnowledgeStore, listener: Listener,  # noqa: F811
        ) -> None:
    """The listener sees a LOAD that is let through: its silence above means something."""
    app = make_app(update_token=TOKEN, service_allowlist=listener.url)
    before = _quads(memory_store)
    resp = post(app, f"LOAD SILENT <{listener.url}>", "application/sparql-update", AUTH)
    assert resp.status_code == 204, resp.text
    assert _quads(memory_store) == before
    assert listener.connections >= 1


# caching, compression, CORS ------------------------------------------------------------

def test_etag_and_304(make_app: Any) -> None:  # noqa: F811
    app = make_app(update_token=TOKEN)
    first = get(app, SELECT_ALL)
    etag = first.headers["ETag"]
    again = get(app, SELECT_ALL, {"If-None-Match": etag})
    assert again.status_code == 304 and not again.data
    assert "Accept" in again.headers["Vary"]
    assert get(app, SELECT_ALL, {"If-None-Match": etag, "Accept": "text/csv"}).status_code == 200
    post(app, "INSERT DATA { <http://a> <http://b> 2 }", "application/sparql-update", AUTH)
    assert get(app, SELECT_ALL, {"If-None-Match": etag}).status_code == 200


def test_gzip(app: Flask) -> None:
    plain = get(app, SELECT_ALL)
    packed = get(app, SELECT_ALL, {"Accept-Encoding": "gzip, deflate"})
    assert packed.headers["Content-Encoding"] == "gzip"
    assert "Accept-Encoding" in packed.headers["Vary"]
    assert gzip.decompress(packed.data) == plain.data


def test_cors(make_app: Any) -> None:  # noqa: F811
    app = make_app()
    resp = get(app, ASK, {"Origin": "https://example.org"})
    assert resp.headers["Access-Control-Allow-Origin"] == "*"
    assert "KG-Result-Capped" in resp.headers["Access-Control-Expose-Headers"]
    # scripts on other origins may read which release answered (replicas)
    assert "KG-Release" in resp.headers["Access-Control-Expose-Headers"]
    pre = app.test_client().options("/sparql", headers={
        "Origin": "https://example.org", "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type, authorization"})
    assert pre.status_code in (200, 204)
    assert "POST" in pre.headers["Access-Control-Allow-Methods"]
    allowed = pre.headers["Access-Control-Allow-Headers"].lower()
    assert "content-type" in allowed and "authorization" in allowed
    listed = make_app(cors_origins="https://a.example, https://b.example")
    resp = get(listed, ASK, {"Origin": "https://b.example"})
    assert resp.headers["Access-Control-Allow-Origin"] == "https://b.example"
    assert "Origin" in resp.headers["Vary"]
    assert "Access-Control-Allow-Origin" not in get(listed, ASK, {"Origin": "https://c.example"}
                                                    ).headers


# service description ----------------------------------------------------------------------

def test_service_description(app: Flask) -> None:
    resp = get(app)
    assert resp.status_code == 200 and media_type(resp) == "text/turtle"
    graph = rdflib.Graph().parse(data=resp.data, format="turtle")
    sd = rdflib.Namespace("http://www.w3.org/ns/sparql-service-description#")
    service = graph.value(predicate=rdflib.RDF.type, object=sd.Service)
    assert graph.value(service, sd.endpoint) == rdflib.URIRef("http://localhost/sparql")
    assert (service, sd.supportedLanguage, sd.SPARQL11Query) in graph
    assert (service, sd.supportedLanguage, sd.SPARQL11Update) not in graph
    formats = {str(o) for o in graph.objects(service, sd.resultFormat)}
    assert formats == {FORMAT_IRIS[f.name] for f in ALL_FORMATS}
    dataset = graph.value(service, sd.defaultDataset)
    void_triples = rdflib.URIRef("http://rdfs.org/ns/void#triples")
    assert graph.value(dataset, void_triples).toPython() == len(sample_graph())
    default_graph = graph.value(dataset, sd.defaultGraph)
    assert graph.value(default_graph, void_triples).toPython() == len(sample_graph())
    resp = get(app, None, {"Accept": "application/ld+json"})
    assert media_type(resp) == "application/ld+json" and json.loads(resp.data)


# graph store ------------------------------------------------------------------------------

def test_graph_store_round_trip(make_app: Any) -> None:  # noqa: F811
    app = make_app(update_token=TOKEN)
    client = app.test_client()
    url = "/store?graph=" + quote("http://ex.org/g", safe="")
    data = b"<http://ex.org/a> <http://ex.org/p> [ <http://ex.org/q> 'x' ] ."
    turtle = {"Content-Type": "text/turtle", **AUTH}
    assert client.get(url).status_code == 404
    assert client.head(url).status_code == 404
    assert client.put(url, data=data, headers=turtle).status_code == 201
    assert client.put(url, data=data, headers=turtle).status_code == 204
    got = client.get(url, headers={"Accept": "application/n-triples"})
    assert got.status_code == 200 and len(got.data.splitlines()) == 2
    assert client.head(url).status_code == 200
    assert client.post(url, data=b"<http://ex.org/b> <http://ex.org/p> 1 .",
                       headers=turtle).status_code == 204
    assert len(client.get(url, query_string=None, headers={"Accept": "text/plain"}
                          ).data.splitlines()) == 3
    bad = client.put(url, data=b"<http://ex.org/a> <http://ex.org/p> .", headers=turtle)
    assert bad.status_code == 400 and "RDF" in bad.text
    assert client.put(url, data=b"x", headers={"Content-Type": "image/png", **AUTH}
                      ).status_code == 415
    assert client.delete(url, headers=AUTH).status_code == 204
    assert client.delete(url, headers=AUTH).status_code == 404
    created = client.post("/store", data=data, headers=turtle)
    assert created.status_code == 201
    location = created.headers["Location"]
    assert location.startswith("https://w3id.org/scholarkg/id/graph/")
    assert client.get("/store?graph=" + quote(location, safe="")).status_code == 200
    assert client.put("/store?default", data=data, headers=turtle).status_code == 204
    assert client.get("/store?default&graph=http://x/").status_code == 400


def test_graph_store_multipart_and_direct_identification(make_app: Any) -> None:  # noqa: F811
    app = make_app(update_token=TOKEN)
    client = app.test_client()
    parts = {
        "a.ttl": (io.BytesIO(b"<http://ex.org/a> <http://ex.org/p> 1 ."), "a.ttl", "text/turtle"),
        "b.nt": (io.BytesIO(b'<http://ex.org/a> <http://ex.org/p> "2"^^<' + XSD_INTEGER + b"> .\n"),
                 "b.nt",
                 "application/n-triples"),
    }
    resp = client.post("/store/people/1", data=parts, headers=AUTH,
                       content_type="multipart/form-data")
    assert resp.status_code == 201, resp.data
    ask = "ASK { GRAPH <http://localhost/store/people/1> { ?s ?p 1, 2 } }"
    assert json.loads(get(app, ask).data)["boolean"] is True


# operations ---------------------------------------------------------------------------------

def test_healthz_and_metrics(app: Flask) -> None:
    client = app.test_client()
    health = client.get("/healthz")
    assert health.status_code == 200 and health.json is not None
    assert health.json["status"] == "ok"
    get(app, ASK)
    text = client.get("/metrics").data.decode()
    assert 'kg_http_requests_total{endpoint="sparql.endpoint",status="200"}' in text
    assert "kg_query_duration_seconds_bucket" in text
    assert "kg_query_timeouts_total" in text and "kg_executor_restarts_total" in text
