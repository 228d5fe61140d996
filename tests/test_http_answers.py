"""What browsers on other origins, caches and scripts written for other endpoints see:
CORS headers on every answer of /sparql and /store (errors from every layer included),
``output=`` and ``results=`` as names of ``format=``, and HEAD and 304 answers that
carry the headers of the GET and 200 answers they stand for."""

from __future__ import annotations

import gzip
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote, urlencode

import pytest
from flask import Flask
from werkzeug.test import TestResponse

from server.sparql.fair_share import fair_share
from server.web.cors import ALLOWED_REQUEST_HEADERS, EXPOSED_HEADERS
from tests.server_fixtures import (  # noqa: F401
    SAMPLE_TURTLE,
    ServerProcess,
    build_disk_store,
    http_request,
    make_app,
    memory_store,
    running_server,
)

ORIGIN = {"Origin": "https://page.example"}
SELECT = "SELECT ?s ?p ?o WHERE { ?s ?p ?o } ORDER BY ?s ?p ?o"
CONSTRUCT = "CONSTRUCT WHERE { ?s ?p ?o }"
ASK = "ASK { ?s ?p ?o }"


@pytest.fixture
def app(make_app: Any) -> Flask:  # noqa: F811
    return make_app()  # type: ignore[no-any-return]


def names(header: str | None) -> list[str]:
    return [part.strip() for part in (header or "").split(",") if part.strip()]


def assert_cross_origin(resp: TestResponse) -> None:
    assert resp.headers.get("Access-Control-Allow-Origin") == "*", (resp.status, resp.headers)
    assert resp.headers.get("Access-Control-Expose-Headers") == EXPOSED_HEADERS


# --- CORS ---------------------------------------------------------------------------


def test_a_url_over_the_limit_is_a_414_a_page_on_another_origin_can_read(
        make_app: Any) -> None:  # noqa: F811
    app = make_app(max_url_bytes=200)
    resp = app.test_client().get("/sparql", query_string={"query": "ASK {}" + " " * 300},
                                 headers=ORIGIN)
    assert resp.status_code == 414
    assert_cross_origin(resp)


def test_a_body_over_the_limit_is_a_413_a_page_on_another_origin_can_read(
        make_app: Any) -> None:  # noqa: F811
    app = make_app(max_body_bytes=100)
    resp = app.test_client().post("/sparql", data=b"ASK {}" + b" " * 200, headers={
        **ORIGIN, "Content-Type": "application/sparql-query"})
    assert resp.status_code == 413
    assert_cross_origin(resp)


def test_a_refused_chunked_body_is_a_411_a_page_on_another_origin_can_read(
        app: Flask) -> None:
    resp = app.test_client().post(
        "/sparql", data=b"ASK {}", environ_base={"SERVER_SOFTWARE": "Granian"},
        headers={**ORIGIN, "Content-Type": "application/sparql-query",
                 "Transfer-Encoding": "chunked"})
    assert resp.status_code == 411
    assert_cross_origin(resp)


@pytest.mark.parametrize(("method", "path"), [
    ("PUT", "/sparql"), ("DELETE", "/sparql"), ("PATCH", "/sparql/"), ("POST", "/id/person/x"),
    ("PATCH", "/store?default"),
])
def test_a_wrong_method_is_a_405_a_page_on_another_origin_can_read(
        app: Flask, method: str, path: str) -> None:
    resp = app.test_client().open(path, method=method, headers=ORIGIN)
    assert resp.status_code == 405
    assert "Allow" in resp.headers
    assert_cross_origin(resp)


def test_retry_after_is_exposed_to_other_origins(app: Flask) -> None:
    resp = app.test_client().get("/sparql", query_string={"query": ASK}, headers=ORIGIN)
    assert resp.status_code == 200
    assert "Retry-After" in names(resp.headers["Access-Control-Expose-Headers"])


@pytest.mark.parametrize("headers", [{}, {"If-None-Match": '"x"'}])
def test_a_429_and_its_retry_after_are_readable_from_another_origin(
        make_app: Any, headers: dict[str, str]) -> None:  # noqa: F811
    """Refused by the fair share, in the query lane (plain GET) and in the route."""
    app = make_app(client_query_budget_s=30.0, client_query_window_s=3600.0)
    share = fair_share(app)
    assert share.table is not None
    share.table.charge("127.0.0.1", 40.0, time.monotonic())  # 10 s in debt
    resp = app.test_client().get("/sparql", query_string={"query": ASK},
                                 headers={**ORIGIN, **headers})
    assert resp.status_code == 429
    assert int(resp.headers["Retry-After"]) > 0
    assert_cross_origin(resp)
    assert "Retry-After" in names(resp.headers["Access-Control-Expose-Headers"])


def test_the_sparql_preflight_allows_conditional_requests(app: Flask) -> None:
    resp = app.test_client().options("/sparql", headers={
        **ORIGIN, "Access-Control-Request-Method": "GET",
        "Access-Control-Request-Headers": "if-none-match"})
    assert resp.status_code == 204
    assert resp.headers["Access-Control-Allow-Origin"] == "*"
    assert resp.headers["Access-Control-Allow-Headers"] == ALLOWED_REQUEST_HEADERS
    assert "If-None-Match" in names(resp.headers["Access-Control-Allow-Headers"])
    assert names(resp.headers["Access-Control-Allow-Methods"]) == ["GET", "POST", "OPTIONS"]


@pytest.mark.parametrize("target", ["/store?default", "/store?graph=http://example.org/none"])
def test_graph_store_reads_are_readable_from_other_origins(app: Flask, target: str) -> None:
    resp = app.test_client().get(target, headers=ORIGIN)
    assert resp.status_code == (200 if target.endswith("default") else 404)
    assert_cross_origin(resp)


def test_the_graph_store_preflight_answers_cors(app: Flask) -> None:
    resp = app.test_client().options("/store", headers={
        **ORIGIN, "Access-Control-Request-Method": "PUT",
        "Access-Control-Request-Headers": "content-type, authorization"})
    assert resp.status_code == 200
    assert resp.headers["Access-Control-Allow-Origin"] == "*"
    assert set(names(resp.headers["Access-Control-Allow-Methods"])) == {
        "GET", "HEAD", "PUT", "POST", "DELETE", "OPTIONS"}
    assert {"Content-Type", "Authorization"} <= set(
        names(resp.headers["Access-Control-Allow-Headers"]))


def test_listed_origins_are_echoed_on_errors_of_every_layer(make_app: Any) -> None:  # noqa: F811
    client = make_app(cors_origins="https://a.example, https://b.example",
                      max_url_bytes=200).test_client()
    long_url = client.get("/sparql", query_string={"query": "ASK {}" + " " * 300},
                          headers={"Origin": "https://b.example"})
    wrong_method = client.put("/sparql", headers={"Origin": "https://b.example"})
    for resp in (long_url, wrong_method):
        assert resp.headers["Access-Control-Allow-Origin"] == "https://b.example"
        assert "Origin" in names(resp.headers["Vary"])
    other = client.put("/sparql", headers={"Origin": "https://c.example"})
    assert "Access-Control-Allow-Origin" not in other.headers
    assert "Origin" in names(other.headers["Vary"])


# --- output= and results= -------------------------------------------------------------


@pytest.mark.parametrize(("query", "param", "value", "media_type"), [
    (ASK, "output", "xml", "application/sparql-results+xml"),
    (SELECT, "output", "csv", "text/csv"),
    (SELECT, "output", "tsv", "text/tab-separated-values"),
    (SELECT, "results", "csv", "text/csv"),
    (CONSTRUCT, "output", "nt", "application/n-triples"),
    (SELECT, "output", "application/sparql-results+xml", "application/sparql-results+xml"),
])
def test_output_and_results_name_the_format(app: Flask, query: str, param: str, value: str,
                                            media_type: str) -> None:
    for method in ("GET", "POST"):
        if method == "GET":
            resp = app.test_client().get("/sparql", query_string={"query": query, param: value})
        else:
            resp = app.test_client().post("/sparql", data={"query": query, param: value})
        assert resp.status_code == 200, resp.data
        assert resp.mimetype == media_type


def test_output_names_the_format_of_the_service_description_and_graph_store(
        app: Flask) -> None:
    client = app.test_client()
    assert client.get("/sparql?output=nt").mimetype == "application/n-triples"
    assert client.get("/store?default&output=nt").mimetype == "application/n-triples"


def test_an_unknown_output_is_the_same_400_as_an_unknown_format(app: Flask) -> None:
    resp = app.test_client().get("/sparql", query_string={"query": ASK, "output": "pdf"})
    assert resp.status_code == 400
    assert resp.get_data(as_text=True).startswith("400 Bad Request: unknown output=pdf; "
                                                  "known formats: json")


def test_agreeing_output_and_results_are_fine(app: Flask) -> None:
    resp = app.test_client().get("/sparql", query_string={"query": ASK, "output": "XML",
                                                          "results": "xml"})
    assert resp.status_code == 200
    assert resp.mimetype == "application/sparql-results+xml"


@pytest.mark.parametrize("params", [
    {"format": "json", "output": "xml"}, {"format": "csv", "results": "tsv"},
    {"output": "csv", "results": "json"},
])
def test_conflicting_format_parameters_are_a_400(app: Flask, params: dict[str, str]) -> None:
    first, second = list(params.items())
    resp = app.test_client().get("/sparql", query_string={"query": SELECT, **params})
    assert resp.status_code == 400
    assert resp.get_data(as_text=True) == (
        f"400 Bad Request: {first[0]}={first[1]} and {second[0]}={second[1]} ask for "
        "different formats: output= and results= are other names of format=, give one "
        "of them\n")


# --- HEAD and 304 -------------------------------------------------------------------


def test_a_304_carries_the_vary_of_its_200(app: Flask) -> None:
    client = app.test_client()
    headers = {"Accept-Encoding": "gzip"}
    first = client.get("/sparql", query_string={"query": SELECT}, headers=headers)
    assert first.status_code == 200
    assert first.headers["Vary"] == "Accept, Accept-Encoding"
    again = client.get("/sparql", query_string={"query": SELECT},
                       headers={**headers, "If-None-Match": first.headers["ETag"]})
    assert again.status_code == 304
    assert again.headers["Vary"] == "Accept, Accept-Encoding"
    assert again.headers["ETag"] == first.headers["ETag"]


def test_head_carries_the_headers_of_get(app: Flask) -> None:
    client = app.test_client()
    headers = {"Accept-Encoding": "gzip"}
    got = client.get("/sparql", query_string={"query": SELECT}, headers=headers)
    head = client.head("/sparql", query_string={"query": SELECT}, headers=headers)
    assert head.status_code == 200 and head.data == b""
    for name in ("Vary", "Content-Encoding", "Content-Type", "ETag"):
        assert head.headers.get(name) == got.headers.get(name), name
    assert head.headers["Content-Encoding"] == "gzip"


# --- a real server ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One worker of ``kg serve`` (granian, executor processes) on 127.0.0.1."""
    work = tmp_path_factory.mktemp("http-answers")
    store = build_disk_store(work / "store", SAMPLE_TURTLE)
    with running_server(store, work, workers=1, max_url_bytes=2000,
                        result_cache_mb=0) as server:
        yield server


def test_served_head_sends_the_compressed_length_of_get(served: ServerProcess) -> None:
    """The body is whole in memory there: GET sends it compressed with its length."""
    target = "/sparql?" + urlencode({"query": SELECT})
    headers = {"Accept-Encoding": "gzip"}
    got = http_request(served.url + target, headers=headers)
    head = http_request(served.url + target, "HEAD", headers=headers)
    assert got.status == head.status == 200
    assert got.header("content-encoding") == head.header("content-encoding") == "gzip"
    assert head.header("content-length") == got.header("content-length") == str(len(got.body))
    assert head.header("vary") == got.header("vary") == "Accept, Accept-Encoding"
    assert gzip.decompress(got.body).startswith(b"{")


def test_served_414_is_readable_from_another_origin(served: ServerProcess) -> None:
    target = "/sparql?query=" + quote("ASK {}" + " " * 3000)
    resp = http_request(served.url + target, headers=ORIGIN)
    assert resp.status == 414
    assert resp.header("access-control-allow-origin") == "*"
    assert resp.header("access-control-expose-headers") == EXPOSED_HEADERS
    assert b"POST" in resp.body


def test_served_preflight_allows_if_none_match(served: ServerProcess) -> None:
    resp = http_request(served.url + "/sparql", "OPTIONS", headers={
        **ORIGIN, "Access-Control-Request-Method": "GET",
        "Access-Control-Request-Headers": "if-none-match"})
    assert resp.status == 204
    assert "If-None-Match" in names(resp.header("access-control-allow-headers"))
