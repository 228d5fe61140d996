"""kg over a remote SPARQL engine: ``oxigraph serve`` and Virtuoso 7 on 127.0.0.1.

A release is built from the bundled sample profiles with ``kg ingest`` + ``kg export``,
loaded into each engine (Virtuoso: ``kg publish``, blue/green), and the data model
contract's queries must answer over each engine exactly as over the embedded store.

Where Virtuoso differs and who compensates (docs/decisions/0010, item 5):
- default graph: Virtuoso's is the union of all graphs (its system graphs included); the
  load puts kg's default graph in a graph of its own, and the client queries a graph group
  holding it as the default graph and hides it and the system graphs from ``GRAPH ?g``;
- terms: Virtuoso writes ``typed-literal`` and plain literals without a datatype; the client
  reads them as pyoxigraph does (``xsd:string``), so rows compare equal;
- numbers: both engines answer canonical forms (no compensation, checked here by the
  metric values and scores, ``xsd:integer`` and ``xsd:decimal``);
- time limits: Virtuoso's "anytime" partial answers (HTTP 200) are refused as timeouts.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from kg.cli import main
from kg.errors import EngineTimeout, EngineUnavailable, StoreError
from kg.mapping.vocab import PREFIXES
from kg.storage.engine import EngineSettings, release_id
from kg.storage.publish import PublishError, publish_virtuoso, read_slots
from kg.storage.remote_engine import RemoteEngine
from kg.storage.store import KnowledgeStore, QuerySyntaxError
from tests.engine_fixtures import (
    CLIENT_TIMEOUT_S,
    ISQL,
    OXIGRAPH,
    VIRTUOSO,
    OxigraphServe,
    Virtuoso,
    start_oxigraph_serve,
    start_virtuosos,
    stop_all,
)
from tests.sample_data import EXAMPLES, ROOT
from tests.server_fixtures import free_port

#: records with identifiers (the sample profiles carry none), written for the tests
IDENTIFIED = ROOT / "tests" / "data" / "linking" / "identified.jsonl"
PROLOGUE = "".join(f"PREFIX {k}: <{v}>\n" for k, v in PREFIXES.items())

#: the data model contract's queries (/docs data-model): written so they hold whether an
#: authorship names its person with skg:person or (before 2026-12-07) schema:author
CONTRACT_QUERIES = {
    "persons": """SELECT ?person ?name ?fname ?topic WHERE {
        ?person a schema:Person, foaf:Person ; schema:name ?name ; foaf:name ?fname .
        OPTIONAL { ?person schema:knowsAbout ?topic } } ORDER BY ?person ?topic""",
    "alternate names": """SELECT ?person ?alt WHERE { ?person a schema:Person ;
        schema:alternateName ?alt } ORDER BY ?person ?alt""",
    "papers": """SELECT ?paper ?title ?date ?about ?credit WHERE {
        ?paper a schema:ScholarlyArticle ; schema:name ?title .
        OPTIONAL { ?paper schema:datePublished ?date }
        OPTIONAL { ?paper schema:about ?about }
        OPTIONAL { ?paper schema:creditText ?credit } } ORDER BY ?paper ?about""",
    "paper authors": """SELECT ?paper ?person WHERE { ?paper a schema:ScholarlyArticle ;
        schema:author ?person } ORDER BY ?paper ?person""",
    "authorship order": """SELECT ?paper ?pos ?name ?complete WHERE {
        ?paper skg:authorship ?a . ?a a skg:Authorship ; skg:nameAsStated ?name .
        OPTIONAL { ?a schema:position ?pos }
        OPTIONAL { ?paper skg:bylineComplete ?complete } } ORDER BY ?paper ?pos ?name""",
    "current metrics": """SELECT ?person ?h ?papers ?cites ?novelty ?ai WHERE {
        ?person a schema:Person .
        OPTIONAL { ?person skg:hIndex ?h } OPTIONAL { ?person skg:paperCount ?papers }
        OPTIONAL { ?person skg:citationCount ?cites }
        OPTIONAL { ?person skg:noveltyScore ?novelty } OPTIONAL { ?person skg:aiScore ?ai }
        } ORDER BY ?person""",
    "paper scores": """SELECT ?paper ?score WHERE { ?paper skg:paperScore ?score }
        ORDER BY ?paper ?score""",
    "metric history": """SELECT ?about ?property ?value ?date ?source WHERE {
        ?o a schema:Observation ; schema:observationAbout ?about ;
           schema:measuredProperty ?property ; schema:value ?value ;
           schema:observationDate ?date ; prov:wasDerivedFrom ?source }
        ORDER BY ?about ?property ?date ?value""",
    "provenance graphs": """SELECT ?g (COUNT(*) AS ?triples) WHERE { GRAPH ?g { ?s ?p ?o } }
        GROUP BY ?g ORDER BY ?g""",
    "who said a name": """SELECT ?person ?name ?g WHERE { GRAPH ?g {
        ?person a schema:Person ; schema:name ?name } } ORDER BY ?person ?g""",
    "documents": """SELECT ?doc ?p ?o WHERE { ?doc a skg:SourceDocument ; ?p ?o }
        ORDER BY ?doc ?p ?o""",
    "identifiers": """SELECT ?s ?scheme ?value ?same WHERE { ?s schema:identifier ?id .
        ?id a schema:PropertyValue ; schema:propertyID ?scheme ; schema:value ?value .
        OPTIONAL { ?s owl:sameAs ?same } } ORDER BY ?s ?scheme ?value ?same""",
    "organisations": """SELECT ?paper ?org ?name WHERE { ?paper schema:sourceOrganization ?org .
        ?org a schema:Organization ; schema:name ?name } ORDER BY ?paper ?org""",
    "counts": """SELECT (COUNT(DISTINCT ?paper) AS ?papers) (COUNT(*) AS ?pairs) WHERE {
        ?paper a schema:ScholarlyArticle ; schema:author ?person }""",
    "every default triple": "SELECT ?s ?p ?o WHERE { ?s ?p ?o } ORDER BY ?s ?p ?o",
    "every quad": "SELECT ?g ?s ?p ?o WHERE { GRAPH ?g { ?s ?p ?o } } ORDER BY ?g ?s ?p ?o",
}


# the release -------------------------------------------------------------------------------

class Release:
    def __init__(self, store: Path, nquads: Path) -> None:
        self.store = store
        self.nquads = nquads


def build_release(tmp: Path, inputs: list[Path], as_of: str) -> Release:
    """``inputs`` through ``kg ingest`` (as of ``as_of``) and ``kg export``, in ``tmp``."""
    runner = CliRunner()
    done = runner.invoke(main, ["ingest", *map(str, inputs), "--as-of", as_of, "--store",
                                str(tmp / "store"), "--jobs", "1"])
    assert done.exit_code == 0, done.output
    done = runner.invoke(main, ["export", "--store", str(tmp / "store"), "--out",
                                str(tmp / "out")])
    assert done.exit_code == 0, done.output
    (nquads,) = (tmp / "out").glob("scholarkg-*.nq.gz")
    return Release(tmp / "store", nquads)


@pytest.fixture(scope="module")
def release(tmp_path_factory: pytest.TempPathFactory) -> Release:
    """The sample profiles (and records with identifiers) through ``kg ingest`` and
    ``kg export``."""
    return build_release(tmp_path_factory.mktemp("release"), [EXAMPLES, IDENTIFIED],
                         "2026-11-21")


@pytest.fixture(scope="module")
def embedded(release: Release) -> Iterator[KnowledgeStore]:
    yield KnowledgeStore.open(release.store, read_only=True)


@pytest.fixture(scope="module")
def oxigraph_serve(release: Release, tmp_path_factory: pytest.TempPathFactory) -> Iterator[OxigraphServe]:
    if not OXIGRAPH.is_file():
        pytest.fail(f"the oxigraph server ({OXIGRAPH}) is not installed: pip install -e '.[test]'")
    tmp = tmp_path_factory.mktemp("oxigraph-serve")
    server = start_oxigraph_serve(tmp / "db", tmp, release.nquads)
    try:
        yield server
    finally:
        server.process.stop()


@pytest.fixture(scope="module")
def virtuosos(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[Virtuoso]]:
    """Two Virtuoso instances, blue and green, with throwaway databases."""
    if VIRTUOSO is None or ISQL is None:
        pytest.skip("Virtuoso is not installed (no virtuoso-t/isql-vt on PATH): "
                    "apt-get install virtuoso-opensource")
    instances = start_virtuosos(tmp_path_factory.mktemp("virtuoso"), ["blue", "green"])
    try:
        yield instances
    finally:
        stop_all([v.process.stop for v in instances])


@pytest.fixture(scope="module")
def published(release: Release, virtuosos: list[Virtuoso],
              tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sample release published into Virtuoso with ``kg publish``: the pointer."""
    tmp = tmp_path_factory.mktemp("publish")
    slots = tmp / "slots.json"
    slots.write_text(json.dumps({v.name: v.slot() for v in virtuosos}), encoding="utf-8")
    pointer = tmp / "current.json"
    done = CliRunner().invoke(main, ["publish", str(release.nquads), "--slots", str(slots),
                                     "--pointer", str(pointer), "--isql", str(ISQL)],
                              env={"KG_ENGINE_PASSWORD": "dba"})
    assert done.exit_code == 0, done.output
    assert done.stdout.strip() == "blue"
    return pointer


def _virtuoso_engine(pointer: Path) -> RemoteEngine:
    return RemoteEngine(EngineSettings.from_sources(
        env={"KG_ENGINE_RELEASE": str(pointer), "KG_ENGINE_USER": "dba",
             "KG_ENGINE_PASSWORD": "dba", "KG_ENGINE_TIMEOUT_S": str(CLIENT_TIMEOUT_S)}))


@pytest.fixture(params=["oxigraph-serve", "virtuoso"])
def remote(request: pytest.FixtureRequest) -> Iterator[RemoteEngine]:
    if request.param == "oxigraph-serve":
        server: OxigraphServe = request.getfixturevalue("oxigraph_serve")
        engine = RemoteEngine(EngineSettings.from_sources(env=server.env()))
    else:
        engine = _virtuoso_engine(request.getfixturevalue("published"))
    with engine:
        yield engine


# same answers ------------------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(CONTRACT_QUERIES))
def test_contract_queries_answer_as_the_embedded_store(
        name: str, remote: RemoteEngine, embedded: KnowledgeStore) -> None:
    sparql = PROLOGUE + CONTRACT_QUERIES[name]
    expected = list(embedded.query(sparql).rows())
    assert expected, f"the sample release must give '{name}' something to compare"
    assert list(remote.query(sparql).rows()) == expected


def test_every_output_format_reads_the_same(remote: RemoteEngine, embedded: KnowledgeStore) -> None:
    select = PROLOGUE + CONTRACT_QUERIES["authorship order"]
    for fmt in ("json", "xml", "csv", "tsv"):
        assert b"".join(remote.query(select).serialize(fmt)) == \
            b"".join(embedded.query(select).serialize(fmt)), fmt
    construct = PROLOGUE + "CONSTRUCT { ?p schema:name ?n } WHERE { ?p a schema:Person ; schema:name ?n }"
    ours = sorted(b"".join(embedded.query(construct).serialize("ntriples")).splitlines())
    assert ours and sorted(b"".join(remote.query(construct).serialize("ntriples")).splitlines()) == ours
    ask = PROLOGUE + "ASK { ?p a schema:ScholarlyArticle }"
    assert remote.query(ask).boolean is True


def test_counts_graphs_and_dumps_match(remote: RemoteEngine, embedded: KnowledgeStore) -> None:
    assert remote.count_quads(None) == embedded.count_quads(None)
    assert remote.count_quads(all_graphs=True) == embedded.count_quads(all_graphs=True)
    graphs = sorted(embedded.named_graphs())
    assert sorted(remote.named_graphs()) == graphs
    for graph in (None, graphs[0]):
        assert sorted(remote.dump_graph(graph, "ntriples").splitlines()) == \
            sorted(embedded.dump_graph(graph, "ntriples").splitlines())
    assert remote.has_graph(graphs[0]) and not remote.has_graph("http://ex.org/no-such-graph")


def test_graph_store_writes_round_trip(remote: RemoteEngine) -> None:
    graph = "http://ex.org/scratch"
    remote.load_graph(b'<http://ex.org/a> <http://ex.org/p> "one" .', "ntriples", graph, replace=True)
    remote.load_graph(b'@prefix ex: <http://ex.org/> . ex:a ex:p "two" .', "turtle", graph, replace=False)
    assert sorted(remote.dump_graph(graph, "ntriples").splitlines()) == [
        b'<http://ex.org/a> <http://ex.org/p> "one" .', b'<http://ex.org/a> <http://ex.org/p> "two" .']
    remote.update(f'DELETE DATA {{ GRAPH <{graph}> {{ <http://ex.org/a> <http://ex.org/p> "one" }} }}')
    assert remote.dump_graph(graph, "ntriples").splitlines() == [b'<http://ex.org/a> <http://ex.org/p> "two" .']
    assert remote.drop_graph(graph) is True
    assert not remote.has_graph(graph)
    assert remote.drop_graph(graph) is False


def test_syntax_errors_say_so(remote: RemoteEngine) -> None:
    with pytest.raises(QuerySyntaxError, match="rejected the query"):
        remote.query("SELECT * WHERE { ?s ?p }")


# the CLI -----------------------------------------------------------------------------------

def _cli(*args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    done = CliRunner().invoke(main, list(args), env=env)
    return done.exit_code, done.stdout


def test_kg_query_and_stats_print_the_same_over_virtuoso(release: Release, published: Path) -> None:
    sparql = PROLOGUE + CONTRACT_QUERIES["metric history"]
    for command in (["query", sparql], ["query", sparql, "--format", "json"], ["stats"]):
        embedded = _cli(*command, "--store", str(release.store))
        assert embedded[0] == 0 and embedded[1]
        assert _cli(*command, "--engine-release", str(published)) == embedded, command


def test_kg_query_and_stats_over_oxigraph_serve(release: Release, oxigraph_serve: OxigraphServe) -> None:
    embedded = _cli("stats", "--store", str(release.store))
    assert _cli("stats", env=oxigraph_serve.env()) == embedded


def test_kg_validate_over_virtuoso(release: Release, published: Path) -> None:
    code, out = _cli("validate", "--engine-release", str(published))
    assert (code, out) == _cli("validate", "--store", str(release.store))
    assert code == 0 and out.endswith(" named graphs: 0 with violations\n")


def test_an_unreachable_engine_is_a_clear_error() -> None:
    url = f"http://127.0.0.1:{free_port()}/sparql"
    with pytest.raises(EngineUnavailable, match="cannot be reached"):
        RemoteEngine(EngineSettings(engine="remote", query_url=url)).query("ASK {}")
    code, out = _cli("stats", "--engine", "remote", "--engine-query-url", url)
    assert code == 1


# time limits: the engine stops first, and an overrun is an error -----------------------------

HEAVY = "SELECT (COUNT(*) AS ?n) WHERE { ?a ?b ?c . ?d ?e ?f . ?g ?h ?i . ?j ?k ?l }"


def test_virtuoso_time_limit_is_an_error(published: Path) -> None:
    with _virtuoso_engine(published) as engine, pytest.raises(EngineTimeout, match="own time limit"):
        engine.query(HEAVY)


def test_virtuoso_partial_anytime_answer_is_refused(published: Path) -> None:
    pointer = json.loads(published.read_text(encoding="utf-8"))
    # Virtuoso's timeout parameter asks for an "anytime" answer: HTTP 200 with what it had
    settings = EngineSettings(engine="remote", query_url=pointer["query_url"] + "?timeout=500",
                              dialect="virtuoso", default_graph=pointer["default_graph"],
                              timeout_s=CLIENT_TIMEOUT_S)
    with RemoteEngine(settings) as engine, pytest.raises(EngineTimeout, match="partial result"):
        engine.query(HEAVY)


def test_our_time_limit_is_an_error(oxigraph_serve: OxigraphServe) -> None:
    env = {**oxigraph_serve.env(), "KG_ENGINE_TIMEOUT_S": "0.5"}
    with RemoteEngine(EngineSettings.from_sources(env=env)) as engine, \
            pytest.raises(EngineTimeout, match="KG_ENGINE_TIMEOUT_S=0.5"):
        engine.query(HEAVY)


def test_wrong_credentials_are_named(published: Path) -> None:
    env = {"KG_ENGINE_RELEASE": str(published), "KG_ENGINE_USER": "dba",
           "KG_ENGINE_PASSWORD": "wrong", "KG_ENGINE_UPDATE_URL": ""}
    settings = EngineSettings.from_sources(env=env)
    pointer = json.loads(published.read_text(encoding="utf-8"))
    with RemoteEngine(settings) as engine:
        assert engine.settings.update_url == pointer["update_url"]
        with pytest.raises(StoreError, match="KG_ENGINE_USER and KG_ENGINE_PASSWORD"):
            engine.update("INSERT DATA { <http://ex.org/a> <http://ex.org/p> 1 }")


# publishing: blue/green, a failed load leaves the current release serving -------------------

def test_a_failed_load_leaves_the_current_release_serving(
        release: Release, published: Path, virtuosos: list[Virtuoso], tmp_path: Path) -> None:
    slots_file = published.parent / "slots.json"
    slots = read_slots(slots_file)
    before = published.read_bytes()
    with _virtuoso_engine(published) as serving:
        _publish_broken_then_good(release, published, virtuosos, slots, serving, before, tmp_path)


def _publish_broken_then_good(release: Release, published: Path, virtuosos: list[Virtuoso],
                              slots: dict, serving: RemoteEngine, before: bytes, tmp_path: Path) -> None:
    quads = serving.count_quads(all_graphs=True)

    broken = tmp_path / "scholarkg-2026-12-01.nq.gz"
    with gzip.open(release.nquads, "rb") as src:
        lines = src.read().splitlines(keepends=True)
    broken.write_bytes(gzip.compress(b"".join(lines[:50]) + b"<http://ex.org/a> broken .\n"
                                     + b"".join(lines[50:])))
    with pytest.raises(PublishError):
        publish_virtuoso(broken, slots, published, isql=str(ISQL))
    assert published.read_bytes() == before
    assert serving.count_quads(all_graphs=True) == quads

    # a good release goes to the other slot, and the pointer follows only then
    renamed = tmp_path / "scholarkg-2026-12-02.nq.gz"
    renamed.write_bytes(release.nquads.read_bytes())
    done = publish_virtuoso(renamed, slots, published, isql=str(ISQL))
    pointer = json.loads(published.read_text(encoding="utf-8"))
    assert (done.slot, pointer["slot"], pointer["release"]) == ("green", "green", "2026-12-02")
    assert pointer["quads"] == quads == done.quads
    with _virtuoso_engine(published) as engine:
        assert engine.release == release_id(engine) == "2026-12-02"
        assert engine.settings.query_url == f"{virtuosos[1].base}/sparql"
        assert engine.count_quads(all_graphs=True) == quads
    # and back to blue for the next one
    assert publish_virtuoso(release.nquads, slots, published, isql=str(ISQL)).slot == "blue"
