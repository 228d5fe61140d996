"""Hostile requests against a real ``kg serve`` on 127.0.0.1 (the small version of
``benchmarks/fuzz_server.py``): no 500, no crash, nothing outside the exports folder served,
no markup sent to a browser unescaped."""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks import hostile_requests as hr  # noqa: E402
from benchmarks import served_store  # noqa: E402
from benchmarks.fuzz_server import SERVER_SETTINGS, prepare, targets  # noqa: E402
from tests.server_fixtures import ServerProcess  # noqa: E402

REQUESTS = 500


@contextmanager
def hostile_server(work: Path, profiles: int, **settings: object,
                   ) -> Iterator[tuple[ServerProcess, Path]]:
    """One web worker serving ``profiles`` generated profiles, and its exports folder."""
    store, exports = prepare(work, profiles=profiles)
    server = served_store.start_kg_serve(store, work / "logs", exports_dir=str(exports),
                                         **{**SERVER_SETTINGS, "workers": 1, **settings})
    try:
        yield server, exports
    finally:
        server.stop()


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerProcess, Path]]:
    with hostile_server(tmp_path_factory.mktemp("hostile-requests"), 8) as served:
        yield served


@pytest.fixture(scope="module")
def served_by_gunicorn(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """The same under KG_HTTP_SERVER=gunicorn, which checks chunked bodies itself."""
    with hostile_server(tmp_path_factory.mktemp("hostile-requests-gunicorn"), 2,
                        http_server="gunicorn") as (server, _):
        yield server


@pytest.fixture(scope="module")
def context(served: tuple[ServerProcess, Path]) -> hr.Context:
    return targets(served[0])


@pytest.fixture(scope="module")
def forbidden(served: tuple[ServerProcess, Path]) -> set[str]:
    return hr.forbidden_bodies(ROOT, [ROOT / "server" / "static", ROOT / "ontology", served[1]])


def send(server: ServerProcess, request: hr.HostileRequest) -> hr.Reply:
    return hr.send_raw(server.port, request.raw, timeout=request.timeout,
                       shut_write=request.shut_write)


def assert_fine(request: hr.HostileRequest, reply: hr.Reply, forbidden: set[str]) -> None:
    problems = hr.check_reply(request, reply, forbidden)
    assert not problems, (problems, request.raw[:300])


# --- faults the fuzzing run found --------------------------------------------------------------


BROKEN_CHUNKED = [b"6\r\nASK {}", b"zz\r\nASK\r\n", b"6\r\nASK {}\r\n3"]
WHOLE_CHUNKED = b"3\r\nASK\r\n3\r\n {}\r\n0\r\n\r\n"


def chunked_query(body: bytes) -> bytes:
    return hr.build("POST", "/sparql", headers=[("Content-Type", "application/sparql-query"),
                                                ("Accept", "application/sparql-results+json"),
                                                ("Transfer-Encoding", "chunked")], body=body)


@pytest.mark.parametrize("body", BROKEN_CHUNKED)
def test_a_broken_chunked_body_is_a_400(served_by_gunicorn: ServerProcess, body: bytes) -> None:
    reply = hr.send_raw(served_by_gunicorn.port, chunked_query(body), shut_write=True)
    assert reply.status == 400, reply
    assert b"request body" in reply.body


@pytest.mark.parametrize("body", [*BROKEN_CHUNKED, WHOLE_CHUNKED])
def test_granian_refuses_every_chunked_body_unread(served: tuple[ServerProcess, Path],
                                                   body: bytes) -> None:
    """granian hands a chunked body cut short over as whole (the first body here would
    run as ASK {}): the default server refuses chunked bodies before reading them, so a
    cut one is never run, and says what to send instead."""
    reply = hr.send_raw(served[0].port, chunked_query(body), shut_write=True)
    assert reply.status == 411, reply
    assert b"Content-Length" in reply.body and b"KG_HTTP_SERVER" in reply.body
    assert reply.headers.get("connection") == "close"


def test_a_body_shorter_than_its_content_length_is_a_400(
        served: tuple[ServerProcess, Path]) -> None:
    """The client stopped sending: what arrived is not the query it meant to send."""
    raw = hr.build("POST", "/sparql", headers=[("Content-Type", "application/sparql-query"),
                                               ("Content-Length", "500")], body=b"ASK {}")
    reply = hr.send_raw(served[0].port, raw, shut_write=True)
    assert reply.status == 400, reply
    assert b"6 of the 500 bytes" in reply.body


def test_a_form_body_shorter_than_its_content_length_is_a_400(
        served: tuple[ServerProcess, Path]) -> None:
    raw = hr.build("POST", "/sparql", headers=[
        ("Content-Type", "application/x-www-form-urlencoded"), ("Content-Length", "90")],
        body=b"query=ASK%20%7B%7D")
    reply = hr.send_raw(served[0].port, raw, shut_write=True)
    assert reply.status == 400, reply


def test_a_complete_chunked_body_is_read(served_by_gunicorn: ServerProcess) -> None:
    reply = hr.send_raw(served_by_gunicorn.port, chunked_query(WHOLE_CHUNKED))
    assert reply.status == 200, reply
    assert b'"boolean":true' in reply.body.replace(b" ", b"")


# --- traversal and markup, every case --------------------------------------------------------


@pytest.mark.parametrize("target", hr.TRAVERSALS)
def test_no_traversal_serves_a_file_from_outside_the_exports(
        served: tuple[ServerProcess, Path], forbidden: set[str], target: str) -> None:
    request = hr.HostileRequest("traversal", hr.build("GET", target))
    reply = send(served[0], request)
    assert reply.status in (400, 404), (target, reply.status)
    assert_fine(request, reply, forbidden)


def test_markup_in_names_titles_and_bylines_is_escaped_on_every_page(
        served: tuple[ServerProcess, Path], context: hr.Context, forbidden: set[str]) -> None:
    server = served[0]
    assert len(context.markup_paths) >= 3  # the markup person and papers of both layouts
    pages = [f"{path}{ext}" for path in context.markup_paths for ext in ("", ".html")]
    pages += ["/?query=" + quote(payload) for payload in hr.MARKUP]
    pages += ["/id/" + quote(payload) for payload in hr.MARKUP]
    pages += ["/dataset", "/dumps/"]
    seen = 0
    for page in pages:
        request = hr.HostileRequest("markup", hr.build("GET", page,
                                                       headers=[("Accept", "text/html")]))
        reply = send(server, request)
        assert reply.status in (200, 404), (page, reply.status)
        assert_fine(request, reply, forbidden)
        seen += reply.body.count(b"&lt;script&gt;alert(1)")
    assert seen > 0  # the markup is there, shown as text


def test_the_query_page_keeps_a_query_as_text(served: tuple[ServerProcess, Path]) -> None:
    payload = "SELECT * { ?s ?p '</textarea><script>alert(1)</script>' }"
    reply = served[0].request("/?query=" + quote(payload), headers={"Accept": "text/html"})
    assert reply.status == 200
    assert b"&lt;/textarea&gt;&lt;script&gt;alert(1)&lt;/script&gt;" in reply.body
    assert b"<script>alert(1)" not in reply.body


# --- generated requests -------------------------------------------------------------------------


def test_generated_hostile_requests(served: tuple[ServerProcess, Path], context: hr.Context,
                                    forbidden: set[str]) -> None:
    server = served[0]
    requests = [hr.make_request(n, 7, context) for n in range(REQUESTS)]
    with ThreadPoolExecutor(8) as pool:
        replies = list(pool.map(lambda r: send(server, r), requests))
    statuses = Counter(r.status for r in replies)
    problems = [(req.kind, p, req.raw[:200]) for req, rep in zip(requests, replies, strict=True)
                for p in hr.check_reply(req, rep, forbidden)]
    assert not problems, problems[:10]
    assert statuses[200] > 20 and statuses[400] > 20, statuses
    assert server.request("/healthz").status == 200
    assert server.proc.poll() is None
    assert served_store.log_alarms(server) == []
