"""Curated link sets (`kg link`): reading TSV/CSV, resolving rows, atomic idempotent loading."""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
from pathlib import Path

import pytest
from click.testing import CliRunner
from rdflib import Graph, Literal, URIRef
from rdflib.namespace import OWL, RDF, VOID, XSD

from kg.cli import main
from kg.ingest import Ingestor
from kg.mapping.iris import IriMinter
from kg.mapping.linksets import LinkFileError, linkset_name, load_linkset, read_link_table
from kg.output.export import export_store
from kg.parse.detect import read_documents
from kg.parse.jsonl import parse_jsonl
from kg.storage.store import KnowledgeStore
from kg.validate import validate_store
from tests.sample_data import AS_OF, BASE, EXAMPLES, INGESTED_AT

DATA = Path(__file__).parent / "data" / "linking"
SCHEMA = "https://schema.org/"
SKG = "https://w3id.org/scholarkg/ns#"
PROV = "http://www.w3.org/ns/prov#"
AMARA = f"{BASE}person/amara-okafor"
LUKAS = f"{BASE}person/lukas-brandt"
MEI = f"{BASE}person/mei-tanaka"
GRACE = f"{BASE}person/orcid-0000-0002-1694-233X"
GENERATED = dt.datetime(2026, 11, 22, 8, 30, tzinfo=dt.UTC)
MINTER = IriMinter(BASE)


class CountingStore(KnowledgeStore):
    """A real store that counts the SPARQL updates it runs."""

    updates = 0

    def update(self, sparql: str, *, base_iri: str | None = None) -> None:
        self.updates += 1
        super().update(sparql, base_iri=base_iri)


def _build(store_path: Path | None = None) -> CountingStore:
    store = CountingStore.open(store_path)
    items = (d for p in (EXAMPLES, DATA / "identified.jsonl")
             for f in (sorted(p.iterdir()) if p.is_dir() else [p])
             for d in read_documents(f, as_of=AS_OF))
    report = Ingestor(store, MINTER, ingested_at=INGESTED_AT).ingest(items)
    assert report.ok, report.rejected
    store.updates = 0
    return store


@pytest.fixture
def store() -> CountingStore:
    return _build()


def _load(store: KnowledgeStore, path: Path, data: bytes | None = None, **kwargs):
    return load_linkset(store, path, MINTER, data=data, generated_at=GENERATED, **kwargs)


def _graph(store: KnowledgeStore, graph: str | None) -> Graph:
    return Graph().parse(data=store.dump_graph(graph, "ntriples"), format="nt")


def _quads(store: KnowledgeStore) -> list[str]:
    return sorted(store.quad_lines(all_graphs=True))


def _same_as(store: KnowledgeStore, graph: str | None) -> set[tuple[str, str]]:
    g = _graph(store, graph)
    pairs = {(str(s), str(o)) for s, o in g.subject_objects(OWL.sameAs)}
    assert pairs == {(str(s), str(o)) for s, o in g.subject_objects(URIRef(SCHEMA + "sameAs"))}
    return pairs


# --- reading the table ------------------------------------------------------------------

def test_names_come_from_the_file_stem() -> None:
    assert linkset_name("people.tsv") == "people"
    assert linkset_name("Wikidata Links 2026.CSV") == "wikidata-links-2026"
    with pytest.raises(Exception, match="rename the file"):
        linkset_name("___.csv")


def test_tsv_rows_keep_their_line_numbers() -> None:
    table = read_link_table((DATA / "people.tsv").read_bytes(), path="people.tsv")
    assert table.delimiter == "\t"
    assert table.ignored_columns == ["note"]
    assert [r.line for r in table.rows] == [2, 3, 4, 5, 6, 7, 8, 10, 12]
    assert table.rows[0].scheme == "wikidata"
    assert [str(e) for e in table.rejected] == [
        "people.tsv:11: expected 4 fields like the header, found 2 "
        "(TSV fields are separated by tabs)"]


def test_csv_quoting_and_multi_line_fields() -> None:
    table = read_link_table((DATA / "papers.csv").read_bytes(), path="papers.csv")
    assert table.delimiter == ","
    assert [r.line for r in table.rows] == [2, 3, 5, 6, 7]
    assert table.rows[0].entity == ('Calibrated Uncertainty for Gradient-Boosted Trees via '
                                    'Conformal "Residual" Bands')
    assert table.rows[1].entity == "Fair Ranking\nUnder Uncertain Group Labels"


@pytest.mark.parametrize(
    ("name", "data", "delimiter"),
    [
        ("links.txt", b"entity\ttarget\nA\tB\n", "\t"),
        ("links", b"entity,target\nA,B\n", ","),
        ("links.csv", b"entity;target\nA;B\n", ";"),
        ("links.csv", "\ufeffentity,target\r\nA,B\r\n".encode(), ","),  # Excel: BOM and CRLF
        ("links.tsv", b'Entity\tTARGET\n"A"\tB\n', "\t"),
    ],
)
def test_delimiters_by_extension_or_sniffed(name: str, data: bytes, delimiter: str) -> None:
    table = read_link_table(data, path=name)
    assert table.delimiter == delimiter
    assert len(table.rows) == 1 and table.rows[0].target == "B"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "x.csv: empty file"),
        (b"entity,note\nA,B\n", "x.csv:1: the header row needs the columns entity and target"),
        (b"\n\nentity,entity,target\n", "x.csv:3: the header row names entity twice"),
        (b"entity,target\n\xff,B\n", "x.csv:2: not UTF-8: invalid byte 0xff at byte offset 14"),
        (b'entity,target\n"A,B\n', "x.csv:"),
        (b"entity target\n", "x.txt:1: cannot tell TSV from CSV"),
    ],
)
def test_unreadable_files_are_rejected_whole(data: bytes, message: str) -> None:
    name = "x.txt" if b"entity target" in data else "x.csv"
    with pytest.raises(LinkFileError) as info:
        read_link_table(data, path=name)
    assert str(info.value).startswith(message.replace("x.csv", name)), str(info.value)


# --- loading -------------------------------------------------------------------------------

def test_tsv_by_name_and_iri_with_rejected_rows_reported(store: CountingStore) -> None:
    report = _load(store, DATA / "people.tsv")
    assert (report.name, report.outcome, report.links) == ("people", "loaded", 4)
    assert report.graph == f"{BASE}linkset/people"
    messages = [str(e).split(": ", 1) for e in report.rejected]
    path = str(DATA / "people.tsv")
    assert [where for where, _ in messages] == [f"{path}:{n}" for n in (5, 6, 7, 8, 10, 11)]
    reasons = [reason for _, reason in messages]
    assert reasons[0].startswith("entity 'Grace Hopper' is ambiguous: it matches ")
    assert f"<{BASE}person/grace-hopper>" in reasons[0] and f"<{GRACE}>" in reasons[0]
    assert reasons[1] == "entity 'Nobody Known' matches no person's name or paper's title"
    assert reasons[2] == "target: check digit of '0000-0002-1825-0098' should be 7"
    assert reasons[3] == f"entity <{BASE}person/nobody> is not in the store"
    assert reasons[4] == f"entity <https://example.org/person/x> is not under the base IRI {BASE}"
    assert reasons[5].startswith("expected 4 fields")
    expected = {
        (AMARA, "http://www.wikidata.org/entity/Q1234567"),
        (LUKAS, "https://orcid.org/0000-0001-5109-3700"),
        (AMARA, "https://dblp.org/pid/00/1234-1"),
        (MEI, "http://www.wikidata.org/entity/Q5"),
    }
    assert _same_as(store, report.graph) == expected
    assert expected <= _same_as(store, None)
    assert store.updates == 1  # one atomic SPARQL update


def test_csv_by_title(store: CountingStore) -> None:
    report = _load(store, DATA / "papers.csv")
    assert report.links == 4
    assert [str(e) for e in report.rejected] == [
        f"{DATA / 'papers.csv'}:7: target: Wikidata id 'Q0' must be Q followed by a number "
        "without leading zeros, e.g. Q42"]
    targets = {o for _, o in _same_as(store, report.graph)}
    assert targets == {"https://doi.org/10.5555/conformal.1", "https://arxiv.org/abs/2406.00001",
                       "https://arxiv.org/abs/2409.01234", "https://example.org/papers/77"}


def test_prov_description_in_the_default_graph(store, monkeypatch) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1795262400")
    report = load_linkset(store, DATA / "people.tsv", MINTER)
    g = _graph(store, None)
    node = URIRef(report.graph)
    assert (node, RDF.type, URIRef(PROV + "Entity")) in g
    assert g.value(node, URIRef(SKG + "fileName")) == Literal("people.tsv")
    sha = hashlib.sha256((DATA / "people.tsv").read_bytes()).hexdigest()
    assert g.value(node, URIRef(SKG + "sha256")) == Literal(sha)
    stamp = g.value(node, URIRef(PROV + "generatedAtTime"))
    assert stamp == Literal("2026-11-21T12:00:00Z", datatype=XSD.dateTime)
    assert g.value(node, URIRef("http://purl.org/dc/terms/isPartOf")) == URIRef(f"{BASE}dataset")
    # the description is not in the link set's own graph, which holds only links
    own = _graph(store, report.graph)
    assert set(own.predicates()) == {OWL.sameAs, URIRef(SCHEMA + "sameAs")}


def test_reloading_the_same_file_changes_nothing(store: CountingStore) -> None:
    _load(store, DATA / "people.tsv")
    before = _quads(store)
    store.updates = 0
    later = load_linkset(store, DATA / "people.tsv", MINTER,
                         generated_at=GENERATED + dt.timedelta(days=3))
    assert later.outcome == "unchanged" and later.links == 4
    assert store.updates == 0
    assert _quads(store) == before


def test_a_new_version_replaces_the_link_set_atomically(store: CountingStore,
                                                        tmp_path: Path) -> None:
    path = tmp_path / "people.tsv"
    path.write_text("entity\ttarget\nAmara Okafor\twikidata:Q1234567\n"
                    "Lukas Brandt\torcid:0000-0001-5109-3700\n", encoding="utf-8")
    _load(store, path)
    path.write_text("entity\ttarget\nAmara Okafor\twikidata:Q1234567\n"
                    "Mei Tanaka\twikidata:Q5\n", encoding="utf-8")
    store.updates = 0
    report = _load(store, path)
    assert (report.outcome, report.links, report.added, report.removed) == ("replaced", 2, 1, 1)
    assert store.updates == 1
    expected = {(AMARA, "http://www.wikidata.org/entity/Q1234567"),
                (MEI, "http://www.wikidata.org/entity/Q5")}
    assert _same_as(store, report.graph) == expected
    default = _same_as(store, None)
    assert expected <= default
    assert (LUKAS, "https://orcid.org/0000-0001-5109-3700") not in default
    # one description, of the new version
    g = _graph(store, None)
    assert len(list(g.objects(URIRef(report.graph), URIRef(SKG + "sha256")))) == 1
    assert len(list(g.objects(URIRef(report.graph), URIRef(PROV + "generatedAtTime")))) == 1


def test_links_stated_elsewhere_stay_in_the_default_graph(store, tmp_path: Path) -> None:
    wikidata = "http://www.wikidata.org/entity/Q11641"  # also stated by Grace's own record
    first, second = tmp_path / "one.tsv", tmp_path / "two.tsv"
    first.write_text(f"entity\ttarget\n{GRACE}\t{wikidata}\n"
                     "Lukas Brandt\twikidata:Q77\n", encoding="utf-8")
    second.write_text("entity\ttarget\nLukas Brandt\twikidata:Q77\n", encoding="utf-8")
    _load(store, first)
    _load(store, second)
    first.write_text("entity\ttarget\nMei Tanaka\twikidata:Q5\n", encoding="utf-8")
    report = _load(store, first)
    assert report.removed == 2
    default = _same_as(store, None)
    assert (GRACE, wikidata) in default  # Grace's document states it
    assert (LUKAS, "http://www.wikidata.org/entity/Q77") in default  # link set "two" states it
    assert (LUKAS, "http://www.wikidata.org/entity/Q77") not in _same_as(store, report.graph)


def test_an_empty_new_version_removes_every_link(store, tmp_path: Path) -> None:
    path = tmp_path / "few.csv"
    path.write_text("entity,target\nAmara Okafor,wikidata:Q9\n", encoding="utf-8")
    _load(store, path)
    path.write_text("entity,target\n", encoding="utf-8")
    report = _load(store, path)
    assert (report.outcome, report.links, report.removed) == ("replaced", 0, 1)
    assert (AMARA, "http://www.wikidata.org/entity/Q9") not in _same_as(store, None)


def test_linked_store_satisfies_the_shapes(store) -> None:
    _load(store, DATA / "people.tsv")
    _load(store, DATA / "papers.csv")
    assert all(r.conforms for r in validate_store(store, named_graphs=True))


def test_links_are_in_the_dumps_and_counted_in_void(store, tmp_path: Path) -> None:
    report = _load(store, DATA / "people.tsv")
    _load(store, DATA / "papers.csv")
    export_store(store, tmp_path, base_iri=BASE, release="test")
    quads = gzip.decompress((tmp_path / "scholarkg-test.nq.gz").read_bytes()).decode()
    assert (f"<{MEI}> <{OWL.sameAs}> <http://www.wikidata.org/entity/Q5> <{report.graph}> .\n"
            in quads)
    turtle = Graph().parse(data=gzip.decompress((tmp_path / "scholarkg-test.ttl.gz").read_bytes()),
                           format="turtle")
    assert (URIRef(MEI), OWL.sameAs, URIRef("http://www.wikidata.org/entity/Q5")) in turtle
    void = Graph().parse(tmp_path / "void.ttl", format="turtle")
    counts = {str(void.value(void.value(ls, VOID.objectsTarget), VOID.uriSpace)):
              void.value(ls, VOID.triples).toPython()
              for ls in void.subjects(RDF.type, VOID.Linkset)}
    # identified.jsonl: 2 ORCID, 2 dblp, 1 Wikidata, 2 arXiv, 2 DOI; plus the two link files
    assert counts == {"https://orcid.org/": 3, "https://dblp.org/pid/": 3,
                      "http://www.wikidata.org/entity/": 3, "https://arxiv.org/abs/": 4,
                      "https://doi.org/": 3}


def test_a_later_snapshot_keeps_links_a_link_set_states(tmp_path: Path) -> None:
    store = KnowledgeStore.open(None)
    v1 = (b'{"name": "Ann Example", "as_of": "2026-01-01", '
          b'"identifiers": {"orcid": "0000-0002-1825-0097", "wikidata": "Q42"}}')
    v2 = b'{"name": "Ann Example", "as_of": "2026-06-01", ' \
         b'"identifiers": {"orcid": "0000-0002-1825-0097"}}'
    person = f"{BASE}person/orcid-0000-0002-1825-0097"
    Ingestor(store, MINTER).ingest(parse_jsonl(v1, path="v1.jsonl", as_of=AS_OF))
    path = tmp_path / "ann.tsv"
    path.write_text(f"entity\ttarget\n{person}\twikidata:Q42\n", encoding="utf-8")
    _load(store, path)
    Ingestor(store, MINTER).ingest(parse_jsonl(v2, path="v2.jsonl", as_of=AS_OF))
    assert (person, "http://www.wikidata.org/entity/Q42") in _same_as(store, None)


# --- the command ---------------------------------------------------------------------------

@pytest.fixture
def disk_store(tmp_path: Path) -> Path:
    path = tmp_path / "store"
    store = _build(path)
    store.flush()
    del store
    return path


def test_link_command(disk_store: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    good = tmp_path / "good.csv"
    good.write_text("entity,target\nAmara Okafor,wikidata:Q1234567\n", encoding="utf-8")
    result = runner.invoke(main, ["link", str(good), "--store", str(disk_store)])
    assert result.exit_code == 0, result.output
    assert f"1 links in link set good <{BASE}linkset/good> (loaded: 1 added, 0 removed), " \
           "0 rows rejected" in result.output
    again = runner.invoke(main, ["link", str(good), "--store", str(disk_store)])
    assert again.exit_code == 0 and "(unchanged)" in again.output
    bad = runner.invoke(main, ["link", str(DATA / "people.tsv"), "--store", str(disk_store)])
    assert bad.exit_code == 1
    assert f"rejected: {DATA / 'people.tsv'}:6: entity 'Nobody Known' matches no" in bad.output
    assert "ignored columns: note" in bad.output
    assert "4 links in link set people" in bad.output and "6 rows rejected" in bad.output


def test_link_command_refuses_unreadable_files(disk_store: Path, tmp_path: Path) -> None:
    path = tmp_path / "links.csv"
    path.write_text("who,what\n", encoding="utf-8")
    result = CliRunner().invoke(main, ["link", str(path), "--store", str(disk_store)])
    assert result.exit_code == 1
    assert "Error: " in result.output and "needs the columns entity and target" in result.output
    assert "Traceback" not in result.output


def test_link_command_help() -> None:
    result = CliRunner().invoke(main, ["link", "--help"])
    assert result.exit_code == 0
    assert "Usage:" in result.output and "--store" in result.output
    assert "--base-iri" in result.output and "scheme:value" in result.output
