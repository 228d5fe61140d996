"""The W3C SPARQL 1.1 query- and update-evaluation tests, through a real server.

The tests come from the shared folder (``$SCHOLARKG_SHARED/w3c-sparql11`` or
``../shared/w3c-sparql11``; :mod:`tests.w3c_evaluation` reads and compares them). One
server on 127.0.0.1 (with updates enabled) runs all of them: a test's data is loaded
through the protocols (``DROP ALL``, then the Graph Store Protocol), only when it differs
from what the previous test left, and tests are ordered so that those sharing their
data follow each other. Every SELECT is asked in SPARQL XML, JSON, CSV and TSV, every
ASK in XML and JSON, every CONSTRUCT in Turtle, N-Triples and RDF/XML; after an update,
every graph is read back through the Graph Store Protocol.

Every test also runs in-process on pyoxigraph. A test the engine passes must pass
through the endpoint; a test the engine itself fails is listed in the summary at the
end of the run. Either way the endpoint must give the engine's own answers, term for
term (numbers as the engine writes them, not only their values).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest

from tests.sample_data import shared_dir
from tests.server_fixtures import (
    TOKEN,
    HttpResponse,
    ServerProcess,
    build_disk_store,
    start_server,
)
from tests.w3c_evaluation import (
    TALLY,
    XSD,
    Dataset,
    EngineRunner,
    EvaluationTest,
    Results,
    compare_results,
    exact_literals,
    has_order_by,
    literal,
    load_tests,
    ntriples,
    read_csv,
    read_tsv,
    rows_match,
    run_test,
)


def _suite() -> Path | None:
    shared = shared_dir()
    folder = shared / "w3c-sparql11" if shared is not None else None
    return folder if folder is not None and folder.is_dir() else None


SUITE = _suite()
#: those with the same data next to each other: their data is loaded once
TESTS = (sorted(load_tests(SUITE), key=lambda t: (repr(t.dataset), t.kind, t.id))
         if SUITE is not None else [])
AUTH = {"Authorization": f"Bearer {TOKEN}"}
MEDIA_TYPES = {"xml": "application/sparql-results+xml", "json": "application/sparql-results+json",
               "csv": "text/csv", "tsv": "text/tab-separated-values", "turtle": "text/turtle",
               "ntriples": "application/n-triples", "rdfxml": "application/rdf+xml"}


def _expect(resp: HttpResponse, statuses: tuple[int, ...], what: str) -> None:
    if resp.status not in statuses:
        raise AssertionError(f"{what}: status {resp.status}: {resp.body[:500]!r}")


class EndpointRunner:
    """Runs the tests through the SPARQL Protocol and the Graph Store Protocol."""

    def __init__(self, server: ServerProcess) -> None:
        self.server = server
        self.loaded: Dataset | None = None  # what the store holds; None: not known

    def load(self, dataset: Dataset) -> None:
        if dataset == self.loaded:
            return
        self.loaded = None
        self.update("DROP ALL", None)
        nt = {"Content-Type": "application/n-triples", **AUTH}
        for path in dataset.default:
            resp = self.server.request("/store?default", "POST", body=ntriples(path), headers=nt)
            _expect(resp, (200, 201, 204), f"POST {path.name} to the default graph")
        for name, path in dataset.named:
            resp = self.server.request(f"/store?graph={quote(name, safe='')}", "PUT",
                                       body=ntriples(path), headers=nt)
            _expect(resp, (201, 204), f"PUT {path.name} as <{name}>")
        self.loaded = dataset

    def query(self, text: str, base_iri: str, format_name: str) -> bytes:
        media_type = MEDIA_TYPES[format_name]
        resp = self.server.request("/sparql", "POST", body=f"BASE <{base_iri}>\n{text}".encode(),
                                   headers={"Content-Type": "application/sparql-query",
                                            "Accept": media_type})
        _expect(resp, (200,), "query")
        got = (resp.header("content-type") or "").split(";")[0].strip()
        assert got == media_type, f"asked for {media_type}, got {got}"
        return resp.body

    def update(self, text: str, base_iri: str | None) -> None:
        self.loaded = None
        body = text if base_iri is None else f"BASE <{base_iri}>\n{text}"
        resp = self.server.request("/sparql", "POST", body=body.encode(),
                                   headers={"Content-Type": "application/sparql-update", **AUTH})
        _expect(resp, (204,), "update")

    def graphs(self) -> dict[str | None, bytes]:
        names = json.loads(self.query("SELECT DISTINCT ?g WHERE { GRAPH ?g { } }", "", "json"))
        paths: dict[str | None, str] = {None: "/store?default"}
        for row in names["results"]["bindings"]:
            paths[row["g"]["value"]] = f"/store?graph={quote(row['g']['value'], safe='')}"
        out = {}
        for name, path in paths.items():
            resp = self.server.request(path, headers={"Accept": "application/n-triples"})
            _expect(resp, (200,), f"GET {path}")
            out[name] = resp.body
        return out


@pytest.fixture(scope="module")
def endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EndpointRunner]:
    tmp = tmp_path_factory.mktemp("w3c-evaluation")
    server = start_server(build_disk_store(tmp / "store"), tmp, update_token=TOKEN,
                          workers=1, threads=2, query_timeout_s=20)
    try:
        yield EndpointRunner(server)
    finally:
        server.stop()


@pytest.fixture(scope="module")
def engine() -> EngineRunner:
    return EngineRunner()


if not TESTS:
    def test_w3c_evaluation_tests_present() -> None:
        pytest.skip("the W3C SPARQL 1.1 evaluation tests (shared/w3c-sparql11) are not "
                    "present on this machine; set SCHOLARKG_SHARED to the shared folder")
else:
    @pytest.mark.parametrize("test", TESTS, ids=[t.id for t in TESTS])
    def test_w3c_evaluation(test: EvaluationTest, engine: EngineRunner,
                            endpoint: EndpointRunner) -> None:
        engine_problems = run_test(test, engine)
        endpoint_problems = run_test(test, endpoint)
        TALLY.record(test, not engine_problems, not endpoint_problems)
        if not engine_problems:
            assert not endpoint_problems, "\n".join(endpoint_problems)
        # and term for term what the engine answers (the engine's own failures included)
        with exact_literals():
            differences = run_test(test, endpoint, reference=engine)
        assert not differences, "the endpoint answers unlike the engine:\n" + "\n".join(
            differences)


# the comparison rules themselves (no suite needed) ----------------------------------------

def _uri(name: str) -> tuple[str, str]:
    return ("uri", f"http://ex.org/{name}")


def test_solutions_match_through_a_blank_node_bijection() -> None:
    expected = [(("bnode", "b0"), _uri("a")), (("bnode", "b1"), _uri("a"))]
    assert rows_match(expected, [(("bnode", "x"), _uri("a")), (("bnode", "y"), _uri("a"))],
                      ordered=False)
    # one blank node where two are expected: no bijection
    assert not rows_match(expected, [(("bnode", "x"), _uri("a")), (("bnode", "x"), _uri("a"))],
                          ordered=False)
    shared = [(("bnode", "b0"), ("bnode", "b0"))]
    assert not rows_match(shared, [(("bnode", "x"), ("bnode", "y"))], ordered=False)


def test_order_counts_only_with_order_by() -> None:
    one, two = (_uri("a"),), (_uri("b"),)
    assert rows_match([one, two], [two, one], ordered=False)
    assert not rows_match([one, two], [two, one], ordered=True)
    assert not has_order_by("SELECT * { { SELECT ?x {} ORDER BY ?x } } # ORDER BY ?x")
    assert has_order_by("SELECT * { ?s ?p ?o } ORDER BY DESC(?o)")


def test_csv_answers_compare_without_types() -> None:
    expected = Results(("x", "n"), ({"x": _uri("a"), "n": literal("2.0", XSD + "decimal")},))
    assert compare_results(expected, read_csv(b"x,n\r\nhttp://ex.org/a,2\r\n"), False) is None
    assert compare_results(expected, read_csv(b"x,n\r\nhttp://ex.org/a,3\r\n"), False)
    # typed answers keep their types: an integer is not a decimal
    typed = read_tsv(b"?x\t?n\n<http://ex.org/a>\t2\n")
    assert compare_results(expected, typed, False) is not None
    assert compare_results(expected, read_tsv(b"?x\t?n\n<http://ex.org/a>\t2.00\n"), False) is None
    with exact_literals():  # the same terms, not only the same values
        assert compare_results(expected, read_tsv(b"?x\t?n\n<http://ex.org/a>\t2.00\n"),
                               False) is not None
        assert literal("2.0", XSD + "decimal") == ("literal", "2.0", XSD + "decimal", "")
