"""The query lane (server/sparql/lane.py) answers GET /sparql as the Flask route does.

Each request goes to two apps over the same store: one as built (the lane in front of
Flask) and one with the lane taken out. Status, headers (Date aside; Vary as a set) and
body (decompressed) must be the same, and the lane must really have answered the plain
cases itself (no Flask request started) and passed the others on.
"""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask, request_started
from werkzeug.test import Client

from kg.storage.store import KnowledgeStore
from server import create_app
from server.sparql.lane import QueryLane, endpoint_of
from server.web.limits import RequestLimits
from tests.server_fixtures import SAMPLE_TURTLE

JSON = "application/sparql-results+json"
BROWSER = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
BIG = "SELECT ?s ?p ?o ?n WHERE { ?s ?p ?o . VALUES ?n { 1 2 3 4 5 6 7 8 9 10 } }"


def _without_lane(app: Flask) -> Flask:
    """The app with the lane taken out (it sits right inside the request limits)."""
    layer: Any = app.wsgi_app
    while not isinstance(layer, RequestLimits):
        layer = layer.app
    assert isinstance(layer.wsgi_app, QueryLane)
    layer.wsgi_app = layer.wsgi_app.inner
    return app


@pytest.fixture
def apps() -> Iterator[tuple[Flask, Flask, list[str]]]:
    store = KnowledgeStore.open(None)
    store.load_graph(SAMPLE_TURTLE.encode("utf-8"), "turtle", None, replace=False)
    store.load_graph(b"<http://example.org/g1s> <http://example.org/p> \"1\" .", "ntriples",
                     "http://example.org/g1", replace=False)
    options = {"cors_origins": "https://client.example, https://other.example"}
    with_lane = create_app(store=store, **options)
    route_only = _without_lane(create_app(store=store, **options))
    started: list[str] = []

    def seen(sender: Flask, **_: object) -> None:
        if sender is with_lane:
            started.append("flask")

    request_started.connect(seen)
    try:
        yield with_lane, route_only, started
    finally:
        request_started.disconnect(seen)


def _answer(app: Flask, query_string: str, headers: dict[str, str],
            base_url: str = "http://localhost/") -> tuple[int, dict[str, Any], bytes]:
    client = Client(app)
    response = client.get("/sparql", query_string=query_string, headers=headers,
                          base_url=base_url)
    body = response.get_data()
    if response.headers.get("Content-Encoding") == "gzip":
        body = gzip.decompress(body)
    out: dict[str, Any] = {k: v for k, v in response.headers.items()
                           if k not in ("Date", "Vary", "Content-Length")}
    out["Vary"] = {v.strip() for v in response.headers.get("Vary", "").split(",") if v.strip()}
    return response.status_code, out, body


def _qs(**params: str) -> str:
    from urllib.parse import urlencode

    return urlencode(params)


#: (query string, request headers, answered by the lane itself)
CASES = [
    (_qs(query="SELECT ?n WHERE { ?s <http://xmlns.com/foaf/0.1/name> ?n }"),
     {"Accept": JSON, "Accept-Encoding": "identity"}, True),
    (_qs(query=BIG), {"Accept": JSON, "Accept-Encoding": "gzip"}, True),
    (_qs(query=BIG), {"Accept": "text/csv"}, True),
    (_qs(query=BIG, format="tsv"), {}, True),
    (_qs(query="ASK { ?s ?p 42 }"), {"Accept": "application/sparql-results+xml"}, True),
    (_qs(query="CONSTRUCT WHERE { ?s ?p ?o }"), {"Accept": "text/turtle",
                                                 "Accept-Encoding": "gzip"}, True),
    (_qs(query="DESCRIBE <http://example.org/alice>"), {"Accept": "application/ld+json"}, True),
    (_qs(query="SELECT ?s WHERE { ?s ?p ?o }", **{"default-graph-uri": "http://example.org/g1"}),
     {}, True),
    (_qs(query="SELECT (<rel> AS ?x) WHERE {}"), {"Accept": JSON}, True),
    (_qs(query="SELECT * WHERE { ?s ?p ?o } LIMIT 1"),
     {"Origin": "https://client.example"}, True),
    (_qs(query="SELECT * WHERE { ?s ?p ?o } LIMIT 1"), {"Origin": "https://evil.example"}, True),
    # errors found while the query runs: answered by the lane, in the one error shape
    (_qs(query="SELECT * WHERE { ?s ?p ?o "), {"Accept": JSON}, True),
    (_qs(query="SELECT * WHERE { ?s ?p ?o "), {"Accept": "application/json"}, True),
    (_qs(query="SELECT ?x WHERE { BIND(<http://a> AS ?x) BIND(1 AS ?x) }"), {}, True),
    # passed on to Flask
    (_qs(query="SELECT * WHERE { ?s ?p ?o }"), {"Accept": BROWSER}, False),
    (_qs(query="SELECT * WHERE { ?s ?p ?o }"), {"If-None-Match": 'W/"x"'}, False),
    (_qs(query="SELECT * WHERE { SERVICE <http://elsewhere.example/sparql> { ?s ?p ?o } }"),
     {}, False),
    (_qs(query="SELECT * WHERE { ?s ?p ?o }", update="CLEAR ALL"), {}, False),
    ("query=ASK%7B%7D&query=ASK%7B%7D", {}, False),
    ("query=%FF", {}, False),
    (_qs(query="ASK {}", format="no-such-format"), {}, False),
    (_qs(query="CONSTRUCT WHERE { ?s ?p ?o }"), {"Accept": "text/csv"}, False),
]


@pytest.mark.parametrize(("query_string", "headers", "in_lane"), CASES)
def test_the_lane_answers_as_the_route(apps: tuple[Flask, Flask, list[str]], query_string: str,
                                       headers: dict[str, str], in_lane: bool) -> None:
    with_lane, route_only, started = apps
    got = _answer(with_lane, query_string, headers)
    assert started == ([] if in_lane else ["flask"])
    assert got == _answer(route_only, query_string, headers)


def test_the_lane_resolves_against_the_public_endpoint(
        apps: tuple[Flask, Flask, list[str]]) -> None:
    with_lane, route_only, started = apps
    qs = _qs(query="SELECT (<rel> AS ?x) WHERE {}")
    for script in ("/kg", ""):
        base = f"http://data.example:8443{script}/"
        got = _answer(with_lane, qs, {"Accept": "text/csv"}, base_url=base)
        assert got == _answer(route_only, qs, {"Accept": "text/csv"}, base_url=base)
        assert got[0] == 200 and f"http://data.example:8443{script}/rel".encode() in got[2]
    assert started == []


def test_the_lane_counts_its_answers_in_metrics(apps: tuple[Flask, Flask, list[str]]) -> None:
    with_lane, _, started = apps
    client = Client(with_lane)
    for _ in range(3):
        assert client.get("/sparql", query_string=_qs(query="ASK {}")).status_code == 200
    client.get("/sparql", query_string=_qs(query="ASK {"))
    text = client.get("/metrics").get_data(as_text=True)
    assert 'kg_http_requests_total{endpoint="sparql.endpoint",status="200"} 3.0' in text
    assert 'kg_http_requests_total{endpoint="sparql.endpoint",status="400"} 1.0' in text
    # as in the route, a query the engine refused has no duration
    assert 'kg_query_duration_seconds_count{operation="query"} 3.0' in text
    assert started == ["flask"]  # the scrape


def test_endpoint_of_is_flasks_base_url() -> None:
    app = create_app(store=KnowledgeStore.open(None))
    cases = [({"HTTP_HOST": "a.example"}, "/sparql"),
             ({"HTTP_HOST": "a.example:80", "SCRIPT_NAME": "/x/"}, "/sparql/"),
             ({"SERVER_NAME": "b.example", "SERVER_PORT": "8080"}, "/sparql"),
             ({"HTTP_HOST": "c.example", "wsgi.url_scheme": "https",
               "SCRIPT_NAME": "/caf\xc3\xa9"}, "/sparql")]
    for extra, path in cases:
        environ = {"REQUEST_METHOD": "GET", "PATH_INFO": path, "wsgi.url_scheme": "http",
                   "SERVER_NAME": "localhost", "SERVER_PORT": "80", **extra}
        with app.request_context(environ):
            from flask import request

            assert endpoint_of(environ) == request.base_url
