"""Federation through the links, end to end.

A second SPARQL endpoint (``oxigraph serve-read-only``) on 127.0.0.1 holds a small
external dataset keyed by the external IRIs our persons are linked to with
``owl:sameAs`` (ORCID, Wikidata, dblp). Our server (`kg serve`, executor processes, an
on-disk store ingested from ``tests/data/linking/identified.jsonl``) lists that endpoint
in ``KG_SERVICE_ALLOWLIST``, so a federated query on ``/sparql`` joins our persons with
the external data; the engine (pyoxigraph) makes the SERVICE call itself, over HTTP.
The same query towards an endpoint that is not listed is refused before anything runs,
and a loopback listener shows that no connection was opened.

Everything listens on, and connects to, 127.0.0.1 only; every wait has a deadline and
every process started here is stopped.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import pytest

from tests.sample_data import BASE, build_store
from tests.server_fixtures import (
    HttpResponse,
    Listener,
    ServerProcess,
    build_disk_store,
    free_port,
    http_request,
    start_server,
    stop_process,
)

LINKING = Path(__file__).parent / "data" / "linking"
GRACE = f"{BASE}person/orcid-0000-0002-1694-233X"
JOSIAH = f"{BASE}person/orcid-0000-0002-1825-0097"
NAMESAKE = f"{BASE}person/grace-hopper"  # a second "Grace Hopper", without identifiers
EXT = "http://example.org/ext/"

#: the external dataset: keyed by the IRIs identified.jsonl links to, plus data that must
#: not join (an ORCID nobody is linked to, another predicate, our own IRI without a link)
EXTERNAL_TURTLE = f"""\
@prefix ext: <{EXT}> .
<https://orcid.org/0000-0002-1825-0097> ext:affiliation "Brown University" ;
    ext:country "US" .
<https://dblp.org/pid/00/1234-1> ext:affiliation "Universität Zürich"@de .
<http://www.wikidata.org/entity/Q11641> ext:affiliation "Yale University" .
<https://dblp.org/pid/h/GraceHopper> ext:affiliation "Harvard University" .
<https://orcid.org/0000-0001-5109-3700> ext:affiliation "Nobody links here" .
<{NAMESAKE}> ext:affiliation "Not reached through owl:sameAs" .
"""

#: (person, name, affiliation) rows the federated query must return, each exactly once, sorted
EXPECTED_ROWS = [
    (GRACE, "Grace Hopper", "Harvard University"),
    (GRACE, "Grace Hopper", "Yale University"),
    (JOSIAH, "Josiah Carberry", "Brown University"),
    (JOSIAH, "Josiah Carberry", "Universität Zürich"),
]

STARTUP_TIMEOUT_S = 30.0
QUERY_TIMEOUT_S = 10.0
OXIGRAPH = Path(sys.executable).with_name("oxigraph")


def federated_query(endpoint: str) -> str:
    return f"""\
PREFIX schema: <https://schema.org/>
PREFIX owl: <http://www.w3.org/2002/07/owl#>
PREFIX ext: <{EXT}>
SELECT ?person ?name ?aff WHERE {{
  ?person a schema:Person ; schema:name ?name ; owl:sameAs ?ext .
  SERVICE <{endpoint}> {{ ?ext ext:affiliation ?aff }}
}} ORDER BY ?person ?aff"""


# the external endpoint -------------------------------------------------------------------------

@dataclass
class ExternalEndpoint:
    """``oxigraph serve-read-only`` on 127.0.0.1, in its own process group."""

    proc: subprocess.Popen[bytes]
    port: int
    log_path: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/query"

    def log(self) -> str:
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")[-5000:]
        except OSError:
            return ""

    def wait_ready(self, timeout: float = STARTUP_TIMEOUT_S) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"oxigraph exited with {self.proc.returncode}:\n{self.log()}")
            with contextlib.suppress(OSError, http.client.HTTPException):
                resp = http_request(self.url + "?query=" + quote("ASK { ?s ?p ?o }"), timeout=5,
                                    headers={"Accept": "application/sparql-results+json"})
                if resp.status == 200 and json.loads(resp.body)["boolean"] is True:
                    return
            time.sleep(0.05)
        raise RuntimeError(f"oxigraph not ready within {timeout} s:\n{self.log()}")

    def stop(self) -> None:
        stop_process(self.proc, grace_s=10, group=True)


def start_external(store: Path, log_dir: Path, lifetime_s: int = 600) -> ExternalEndpoint:
    """Serve ``store`` read-only on a free loopback port; ended after ``lifetime_s`` at the
    latest (``timeout``), even if this test process dies without stopping it."""
    port = free_port()
    cmd = [str(OXIGRAPH), "serve-read-only", "--location", str(store),
           "--bind", f"127.0.0.1:{port}", "--timeout-s", str(int(QUERY_TIMEOUT_S))]
    watchdog = shutil.which("timeout")
    if watchdog:
        cmd = [watchdog, str(lifetime_s), *cmd]
    log_path = log_dir / f"oxigraph-{port}.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
    endpoint = ExternalEndpoint(proc, port, log_path)
    try:
        endpoint.wait_ready()
    except BaseException:
        endpoint.stop()
        raise
    return endpoint


# fixtures ---------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def external(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ExternalEndpoint]:
    if not OXIGRAPH.is_file():
        # the test extra installs it; a missing peer must not pass as a skipped feature
        pytest.fail(f"the oxigraph server ({OXIGRAPH}) is not installed: pip install -e '.[test]'")
    tmp = tmp_path_factory.mktemp("external")
    store = build_disk_store(tmp / "store", EXTERNAL_TURTLE)
    endpoint = start_external(store, tmp)
    try:
        yield endpoint
    finally:
        endpoint.stop()


@pytest.fixture(scope="module")
def dead() -> Iterator[Listener]:
    """An allowlisted endpoint that accepts connections and closes them unanswered."""
    listener = Listener()
    try:
        yield listener
    finally:
        listener.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, external: ExternalEndpoint,
           dead: Listener) -> Iterator[ServerProcess]:
    tmp = tmp_path_factory.mktemp("federation")
    store = build_store([LINKING / "identified.jsonl"], tmp / "store")
    store.flush()
    del store  # closed, so the server may open it
    proc = start_server(tmp / "store", tmp, workers=1, threads=4, query_workers=1,
                        query_timeout_s=QUERY_TIMEOUT_S,
                        service_allowlist=f"{external.url}, {dead.url}")
    try:
        yield proc
    finally:
        proc.stop()


def _query(server: ServerProcess, query: str) -> HttpResponse:
    return server.request("/sparql", "POST", body=query.encode("utf-8"), timeout=30,
                          headers={"Content-Type": "application/sparql-query",
                                   "Accept": "application/sparql-results+json"})


def _rows(resp: HttpResponse) -> list[tuple[str, ...]]:
    data = json.loads(resp.body)
    names = data["head"]["vars"]
    return [tuple(b[n]["value"] if n in b else "" for n in names)
            for b in data["results"]["bindings"]]


# tests ------------------------------------------------------------------------------------------

def test_federated_query_joins_persons_with_allowlisted_endpoint(
        server: ServerProcess, external: ExternalEndpoint) -> None:
    # the external data is only over there: our store knows no ext: triples
    local = _query(server, f"ASK {{ ?s <{EXT}affiliation> ?o }}")
    assert local.status == 200 and json.loads(local.body)["boolean"] is False
    resp = _query(server, federated_query(external.url))
    assert resp.status == 200, resp.text
    assert json.loads(resp.body)["head"]["vars"] == ["person", "name", "aff"]
    assert sorted(_rows(resp)) == EXPECTED_ROWS  # exactly these rows, each once
    assert resp.header("KG-Result-Count") == "4"
    # the literal's language tag survives the round trip through the other endpoint
    langs = {b["aff"]["value"]: b["aff"].get("xml:lang")
             for b in json.loads(resp.body)["results"]["bindings"]}
    assert langs["Universität Zürich"] == "de" and langs["Brown University"] is None


def test_federated_query_to_unlisted_endpoint_is_refused_without_connecting(
        server: ServerProcess, external: ExternalEndpoint) -> None:
    listener = Listener()
    try:
        for endpoint in (listener.url, f"http://127.0.0.1:{listener.port}/query"):
            resp = _query(server, federated_query(endpoint))
            assert resp.status == 400, resp.text
            assert "KG_SERVICE_ALLOWLIST" in resp.text and endpoint in resp.text
            silent = federated_query(endpoint).replace("SERVICE", "SERVICE SILENT")
            resp = _query(server, silent)
            assert resp.status == 400 and "KG_SERVICE_ALLOWLIST" in resp.text
        time.sleep(0.5)
        assert listener.connections == 0, "the server connected to an unlisted endpoint"
    finally:
        listener.close()
    # the allowlisted endpoint is still answered afterwards
    assert sorted(_rows(_query(server, federated_query(external.url)))) == EXPECTED_ROWS


def test_service_silent_to_dead_allowlisted_endpoint_answers(
        server: ServerProcess, dead: Listener) -> None:
    before = dead.connections
    query = federated_query(dead.url).replace("SERVICE", "SERVICE SILENT")
    resp = _query(server, query)
    assert resp.status == 200, resp.text
    # a failed SILENT service is one empty solution: every linked person, no affiliation
    assert sorted(_rows(resp)) == ([(GRACE, "Grace Hopper", "")] * 4
                                   + [(JOSIAH, "Josiah Carberry", "")] * 2)
    deadline = time.monotonic() + 5
    while dead.connections == before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert dead.connections > before, "the allowlisted endpoint was never called"


def test_service_to_dead_allowlisted_endpoint_is_a_502(
        server: ServerProcess, dead: Listener) -> None:
    """The endpoint's failure, not ours: 502 naming the SERVICE call, never a 500."""
    resp = _query(server, federated_query(dead.url))
    assert resp.status == 502, resp.text
    assert "SERVICE endpoint failed" in resp.text
