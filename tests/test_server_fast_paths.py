"""The per-request shortcuts of the server give the answers of the long ways round.

Point queries are cheap for the engine, so the server's own work per request counts:
these shortcuts (one pipe message for small answers, percent-decoding in C, a regex for
the usual query prologue, a keyword check before the SERVICE scan, cached Accept
decisions, a stat() before resolving the store link) must never change an answer.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import unquote_to_bytes

import pytest
from flask import Response
from hypothesis import given, settings
from hypothesis import strategies as st
from werkzeug.test import EnvironBuilder

from server import create_app
from server.run import gunicorn_options
from server.settings import Settings
from server.sparql.executor import JobStream, ProcessPoolQueryService, coalesce
from server.sparql.text import (
    QUERY_FORMS,
    _is,
    decode_codepoints,
    external_refs,
    query_form,
    tokens,
)
from server.web.compression import settle_body
from server.web.errors import ApiError
from server.web.negotiation import add_vary, negotiate, prefers_html
from server.web.request_parsing import percent_decode
from tests.server_fixtures import build_disk_store, query_job

# ---------------------------------------------------------------------------- settings


def test_access_log_is_off_unless_asked_for() -> None:
    assert Settings.from_sources(env={}).access_log is False
    assert gunicorn_options(Settings())["accesslog"] is None
    on = Settings.from_sources(env={"KG_ACCESS_LOG": "true"})
    assert on.access_log is True and gunicorn_options(on)["accesslog"] == "-"
    assert Settings.from_sources(env={"KG_ACCESS_LOG": "0"}).access_log is False
    with pytest.raises(ValueError, match="KG_ACCESS_LOG"):
        Settings.from_sources(env={"KG_ACCESS_LOG": "sometimes"})


# ---------------------------------------------------------------------------- parsing


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from([b"%", b"%2", b"%41", b"%e9", b"%C3%A9", b"%5C", b"%zz", b"\\",
                                 b"\\x41", b"\\\\", b"a", b"+", b"\x00", b"\xff", b"'", b'"',
                                 b"\n"]), max_size=12).map(b"".join) | st.binary(max_size=40))
def test_percent_decoding_is_unquote_to_bytes(data: bytes) -> None:
    assert percent_decode(data) == unquote_to_bytes(data)


def _walked_form(text: str) -> str | None:
    """query_form's answer by the token walk alone."""
    for token in tokens(decode_codepoints(text)):
        if _is(token, *QUERY_FORMS):
            return token.text.lower()
        if not (_is(token, "PREFIX", "BASE") or token.kind in ("iri", "pname")):
            return None
    return None


_PROLOGUE_PIECES = ["PREFIX", "prefix", "BASE", " ", "\n", "\u00a0", "#", "# SELECT\n",
                    "<http://x/>", "<a b>", "ex:", ":", "a.b:", "ex:y", "SELECT", "select",
                    "ASK", "AS\u212a", "\u017felect", "con\ufb06truct", "CONSTRUCT", "DESCRIBE",
                    "INSERT", "SELECT\u00e9", "SELECT.", "SELECT:", "SELECT-", "{", "?x", "'s'",
                    ">", "<", "\\u0053ELECT", "1", "."]


@settings(max_examples=1500, deadline=None)
@given(st.lists(st.sampled_from(_PROLOGUE_PIECES), max_size=9).map("".join))
def test_query_form_shortcut_agrees_with_the_token_walk(text: str) -> None:
    assert query_form(text) == _walked_form(text)


@pytest.mark.parametrize("text", [
    "SELECT * { SERVICE <http://ex.org/s> {} }",
    "SELECT * { \u017fervice <http://ex.org/s> {} }",  # upper() makes it SERVICE
    "SELECT * { \\u0053ERVICE <http://ex.org/s> {} }",
    "select * { service silent ?ep {} }",
    "LOAD <http://ex.org/d.ttl>",
])
def test_service_and_load_are_still_found(text: str) -> None:
    assert external_refs(text)


def test_texts_without_the_keywords_skip_the_scan() -> None:
    assert external_refs("SELECT * { ?s <http://ex.org/p> 'x' }") == []


# ---------------------------------------------------------------------------- negotiation


@pytest.mark.parametrize("accept", [None, "*/*", "application/sparql-results+json",
                                    "text/csv;q=0.5, text/*;q=0.1", "text/html,*/*;q=0.8",
                                    "application/sparql-results+json;q=0, */*"])
def test_cached_negotiation_answers_each_request_alike(accept: str | None) -> None:
    headers = {"Accept": accept} if accept is not None else {}
    answers = []
    for _ in range(2):  # the second answer comes from the cache
        req = EnvironBuilder(headers=headers).get_request()
        try:
            answers.append((negotiate(req, "results", default="json"),
                            prefers_html(req, "results")))
        except ApiError as exc:
            answers.append((exc.status, None))
    assert answers[0] == answers[1]


def test_add_vary_appends_once() -> None:
    response = Response(headers={"Vary": "Origin"})
    add_vary(response, "accept", "Origin")
    add_vary(response, "Accept", "Accept-Encoding")
    assert response.headers["Vary"] == "Origin, accept, Accept-Encoding"
    assert add_vary(Response(), "Accept").headers["Vary"] == "Accept"


# ---------------------------------------------------------------------------- small answers


def test_small_answers_go_as_one_message_and_big_ones_stream() -> None:
    small = [("head", {"count": 1}), ("data", b"ab"), ("end", None)]
    assert list(coalesce(iter(small))) == [("done", ({"count": 1}, b"ab"))]
    big = [("head", {}), ("data", b"x" * 10), ("data", b"y" * 10), ("end", None)]
    assert list(coalesce(iter(big), limit=15)) == big
    failed = [("head", {}), ("data", b"x"), ("error", (500, "broke"))]
    assert list(coalesce(iter(failed))) == [("error", (500, "broke"))]


def test_a_whole_body_is_sent_with_content_length() -> None:
    app = create_app(Settings())
    with app.test_request_context():
        response = Response(JobStream.whole({}, b"hello"))
        assert response.is_streamed
        settle_body(response)
        assert not response.is_streamed and response.headers["Content-Length"] == "5"
        streamed = Response(JobStream({}, iter([b"a"])))
        assert settle_body(streamed).is_streamed


def _rows(n: int) -> str:
    return "".join(f"<http://example.org/{i}> <http://example.org/p> {i} .\n" for i in range(n))


@pytest.fixture(scope="module")
def store_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_disk_store(tmp_path_factory.mktemp("fast") / "store", _rows(2000))


@pytest.fixture
def pool(store_dir: Path) -> Iterator[ProcessPoolQueryService]:
    service = ProcessPoolQueryService(Settings(store=str(store_dir), query_workers=1))
    try:
        yield service
    finally:
        service.close()


def test_executor_answers_small_whole_and_big_spooled(pool: ProcessPoolQueryService) -> None:
    small = pool.start_job(query_job("SELECT ?o { <http://example.org/7> ?p ?o }"))
    assert small.body is not None and small.head["count"] == 1
    assert small.read() == small.body and b'"value":"7"' in small.body
    # 20,000 rows of ~110 bytes: more than one message may hold
    big = pool.start_job(query_job("SELECT ?s ?o ?x { ?s ?p ?o VALUES ?x { 1 2 3 4 5 6 7 8 9 10 } }"))
    assert big.body is None and big.head["count"] == 20000
    assert big.read().count(b'"uri"') == 20000
    assert pool.status()["busy"] == 0


def test_served_small_results_carry_content_length(store_dir: Path) -> None:
    app = create_app(Settings(store=str(store_dir), query_workers=1))
    service = app.extensions["kg_query_service"]
    try:
        client = app.test_client()
        small = client.get("/sparql", query_string={"query": "ASK { ?s ?p 7 }"})
        assert small.status_code == 200 and small.json == {"head": {}, "boolean": True}
        assert small.headers["Content-Length"] == str(len(small.data))
        gzipped = client.get("/sparql", headers={"Accept-Encoding": "gzip"},
                             query_string={"query": "SELECT ?s { ?s ?p ?o }"})
        assert gzipped.headers["Content-Encoding"] == "gzip"
        assert "Accept-Encoding" in gzipped.headers["Vary"]
    finally:
        service.close()


def test_a_moved_store_link_is_still_followed(tmp_path: Path, store_dir: Path) -> None:
    """The served path is stat()ed before every job and resolved when it leads elsewhere."""
    other = build_disk_store(tmp_path / "other", _rows(3))
    link = tmp_path / "current"
    link.symlink_to(store_dir)
    service = ProcessPoolQueryService(Settings(store=str(link), query_workers=1))
    try:
        assert service.select("SELECT (COUNT(*) AS ?n) { ?s ?p ?o }")[0]["n"][1] == "2000"
        before = service.generation()
        tmp = tmp_path / "next"
        tmp.symlink_to(other)
        os.replace(tmp, link)
        assert service.select("SELECT (COUNT(*) AS ?n) { ?s ?p ?o }")[0]["n"][1] == "3"
        assert service.generation() != before and service.switches == 1
    finally:
        service.close()
