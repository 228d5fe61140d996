"""The W3C SPARQL 1.1 Protocol and Graph Store Protocol cases, against a real server.

Cases come from the shared folder (``$SCHOLARKG_SHARED/w3c-protocol`` or
``../shared/w3c-protocol``). Their paths are mapped onto ours: ``/sparql/`` ->
``/sparql``, ``/gsp`` -> ``/store`` (``/gsp/person/1.ttl`` -> ``/store/person/1.ttl``,
direct identification). The server runs with updates enabled and the test token is
sent on every write.

Each case starts from an empty store holding only its ``graphData``. By default one
server serves all cases and is emptied between them through the protocol (DROP ALL,
checked, then the graphData PUT through the Graph Store Protocol): a fresh server per
case costs about a second each. ``SCHOLARKG_W3C_SERVER_PER_CASE=1`` builds a fresh
on-disk store and starts a fresh server for every case instead.
"""

from __future__ import annotations

import json
import os
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import rdflib
from rdflib.compare import isomorphic

from tests.sample_data import shared_dir
from tests.server_fixtures import TOKEN, HttpResponse, ServerProcess, build_disk_store, start_server

PER_CASE = os.environ.get("SCHOLARKG_W3C_SERVER_PER_CASE") == "1"


def _cases_dir() -> Path | None:
    shared = shared_dir()
    folder = shared / "w3c-protocol" if shared is not None else None
    return folder if folder is not None and (folder / "tests.json").is_file() else None


CASES_DIR = _cases_dir()


def _load_cases() -> list[dict[str, Any]]:
    if CASES_DIR is None:
        return []
    manifests = json.loads((CASES_DIR / "tests.json").read_text(encoding="utf-8"))
    return [case for manifest in manifests for case in manifest["tests"]]


CASES = _load_cases()

STATUS_CLASSES = {"StatusCode2xx": range(200, 300), "StatusCode3xx": range(300, 400),
                  "StatusCode4xx": range(400, 500), "StatusCode5xx": range(500, 600),
                  "OK": [200], "Created": [201], "NoContent": [204], "NotFound": [404]}
RESULT_TYPES = {"application/sparql-results+json": "json", "application/json": "json",
                "application/sparql-results+xml": "xml", "application/xml": "xml",
                "text/csv": "csv", "text/tab-separated-values": "tsv"}
RDF_TYPES = {"text/turtle": "turtle", "application/n-triples": "nt", "text/plain": "nt",
             "application/rdf+xml": "xml", "application/ld+json": "json-ld",
             "application/n-quads": "nquads", "application/trig": "trig"}
WRITES = ("POST", "PUT", "DELETE")


def _media_type(resp: HttpResponse) -> str:
    return (resp.header("content-type") or "").split(";", 1)[0].strip().lower()


def _map_path(path: str, location: str | None) -> str:
    if "$LOCATION$" in path:
        assert location is not None, "a request uses $LOCATION$ before any Location header"
        path = path.replace("$LOCATION$", quote(location, safe=""))
    if path.startswith("/sparql/"):
        return "/sparql" + path[len("/sparql/"):]
    if path.startswith("/gsp"):
        return "/store" + path[len("/gsp"):]
    return path


def _check_boolean(resp: HttpResponse, expected: bool | None) -> None:
    kind = RESULT_TYPES.get(_media_type(resp))
    if kind == "json":
        value = json.loads(resp.body)["boolean"]
    elif kind == "xml":
        ns = "{http://www.w3.org/2005/sparql-results#}"
        node = ET.fromstring(resp.body).find(f"{ns}boolean")
        assert node is not None, resp.body
        value = node.text == "true"
    else:
        raise AssertionError(f"boolean result in {_media_type(resp)!r}, expected JSON or XML")
    if expected is not None:
        assert value is expected


def _check_tabular(resp: HttpResponse) -> None:
    kind = RESULT_TYPES.get(_media_type(resp))
    assert kind is not None, f"result set in {_media_type(resp)!r}"
    if kind == "json":
        assert "bindings" in json.loads(resp.body)["results"]
    elif kind == "xml":
        ET.fromstring(resp.body)
    else:
        assert resp.text.splitlines()[0], "no header row"


def _parse_rdf(data: bytes, media_type: str, base: str) -> rdflib.Graph:
    fmt = RDF_TYPES.get(media_type)
    assert fmt is not None, f"RDF in unexpected media type {media_type!r}"
    return rdflib.Graph().parse(data=data, format=fmt, publicID=base)


def _check(resp: HttpResponse, expect: dict[str, Any], url: str) -> None:
    allowed = [code for name in expect["status"] for code in STATUS_CLASSES[name]]
    assert resp.status in allowed, f"status {resp.status}, expected {expect['status']}: " \
        f"{resp.body[:300]!r}"
    assert resp.complete
    fmt = expect.get("format")
    if fmt == "boolean":
        _check_boolean(resp, expect.get("boolean"))
    elif fmt == "tabular":
        _check_tabular(resp)
    elif fmt == "RDF":
        _parse_rdf(resp.body, _media_type(resp), url)
    for name, value in (expect.get("headers") or {}).items():
        got = resp.header(name)
        assert got is not None, f"no {name} header"
        norm = [p.strip().lower() for p in value.split(";")]
        assert [p.strip().lower() for p in got.split(";")] == norm, f"{name}: {got!r}"
    if expect.get("body"):
        expected = rdflib.Graph().parse(data=expect["body"]["chars"], format="turtle",
                                        publicID=url)
        actual = _parse_rdf(resp.body, _media_type(resp), url)
        assert isomorphic(expected, actual), resp.text


def _reset(server: ServerProcess) -> None:
    auth = {"Authorization": f"Bearer {TOKEN}"}
    resp = server.request("/sparql", "POST", body=b"DROP ALL",
                          headers={"Content-Type": "application/sparql-update", **auth})
    assert resp.status == 204, resp.body
    check = server.request("/sparql", "POST", body=(
        b"ASK { { ?s ?p ?o } UNION { GRAPH ?g { ?s ?p ?o } } }"),
        headers={"Content-Type": "application/sparql-query",
                 "Accept": "application/sparql-results+json"})
    assert json.loads(check.body)["boolean"] is False, "the store is not empty after DROP ALL"


def _load_graph_data(server: ServerProcess, case: dict[str, Any]) -> None:
    assert CASES_DIR is not None
    for item in case["graphData"]:
        data = (CASES_DIR / "data" / item["file"]).read_bytes()
        resp = server.request(f"/store?graph={quote(item['graph'], safe='')}", "PUT",
                              body=data, headers={"Content-Type": "application/n-triples",
                                                  "Authorization": f"Bearer {TOKEN}"})
        assert resp.status in (201, 204), resp.body


@pytest.fixture(scope="module")
def shared_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess | None]:
    if PER_CASE or not CASES:
        yield None
        return
    tmp = tmp_path_factory.mktemp("w3c")
    server = start_server(build_disk_store(tmp / "store"), tmp, update_token=TOKEN,
                          workers=1, threads=4, query_timeout_s=20)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def case_server(request: pytest.FixtureRequest, shared_server: ServerProcess | None,
                tmp_path: Path) -> Iterator[ServerProcess]:
    case = request.param
    if shared_server is not None:
        _reset(shared_server)
        _load_graph_data(shared_server, case)
        yield shared_server
        return
    assert CASES_DIR is not None
    graphs = {g["graph"]: (CASES_DIR / "data" / g["file"]).read_bytes()
              for g in case["graphData"]}
    server = start_server(build_disk_store(tmp_path / "store", graphs=graphs), tmp_path,
                          update_token=TOKEN, workers=1, threads=4, query_timeout_s=20)
    try:
        yield server
    finally:
        server.stop()


def run_case(server: ServerProcess, case: dict[str, Any]) -> None:
    """Send a case's requests in order, each checked against its expected response."""
    location: str | None = None
    for step, req in enumerate(case["requests"]):
        path = _map_path(req["path"], location)
        headers = dict(req["headers"])
        if req["method"] in WRITES:
            headers["Authorization"] = f"Bearer {TOKEN}"
        body = None
        if req["body"] is not None:
            body = req["body"]["chars"].encode(req["body"]["encoding"])
        resp = server.request(path, req["method"], headers=headers, body=body)
        expect = req["expect"]
        try:
            _check(resp, expect, server.url + path.split("?", 1)[0])
        except AssertionError as exc:
            raise AssertionError(f"step {step}: {req['method']} {path}: {exc}") from exc
        if expect.get("location_template"):
            location = resp.header("location")
            assert location, f"step {step}: no Location header"


if not CASES:
    def test_w3c_protocol_cases_present() -> None:
        pytest.skip("the W3C protocol cases (shared/w3c-protocol/tests.json) are not present "
                    "on this machine; set SCHOLARKG_SHARED to the shared folder to run them")
else:
    @pytest.mark.parametrize("case_server", CASES, ids=[c["id"] for c in CASES],
                             indirect=True)
    def test_w3c_case(case_server: ServerProcess, request: pytest.FixtureRequest) -> None:
        run_case(case_server, request.node.callspec.params["case_server"])
