"""External identifiers: validation, canonical IRIs, JSON Lines wiring, identity, VoID link sets."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from rdflib import Graph, Literal, URIRef
from rdflib.namespace import OWL, RDF, VOID

from kg.errors import DocumentError
from kg.ingest import Ingestor
from kg.mapping.identifiers import (
    IdentifierError,
    canonical_iri,
    check,
    orcid_check_digit,
    parse_target,
    target_dataset,
)
from kg.mapping.iris import IriMinter
from kg.output.export import export_store
from kg.parse.detect import read_documents
from kg.parse.jsonl import parse_jsonl
from kg.storage.store import KnowledgeStore
from kg.validate import validate_store
from tests.sample_data import AS_OF, BASE, INGESTED_AT

DATA = Path(__file__).parent / "data" / "linking"
SCHEMA = "https://schema.org/"
DCT = "http://purl.org/dc/terms/"
GRACE = f"{BASE}person/orcid-0000-0002-1694-233X"
JOSIAH = f"{BASE}person/orcid-0000-0002-1825-0097"
NAMESAKE = f"{BASE}person/grace-hopper"
COMPILING = f"{BASE}paper/arxiv-2503.14476"


# --- the checkers -------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("scheme", "value"),
    [
        ("orcid", "0000-0002-1825-0097"),
        ("orcid", "0000-0002-1694-233X"),  # check character X
        ("orcid", "0000-0001-5109-3700"),  # check digit 0
        ("doi", "10.1000/xyz123"),
        ("doi", "10.1000.10/ABC(1)<2>;3"),  # registrant subdivision, any printable suffix
        ("doi", "10.12345678/ü"),
        ("arxiv", "0704.0001"),  # the first new-style id: 4 digits
        ("arxiv", "1412.9999"),
        ("arxiv", "1501.00001"),  # 5 digits from 2015 on
        ("arxiv", "2503.14476"),
        ("arxiv", "hep-th/9901001"),
        ("arxiv", "math.GT/0309136"),
        ("arxiv", "cond-mat/0703999"),
        ("arxiv", "hep-ph/9108001"),
        ("wikidata", "Q42"),
        ("wikidata", "Q1"),
        ("dblp", "123/4567"),
        ("dblp", "00/1234-1"),
        ("dblp", "h/JohnDoe"),
        ("dblp", "l/AdaLovelace"),
        ("profile", "https://profiles.example.org/ada"),
        ("profile", "http://example.org/p?id=7"),
    ],
)
def test_valid_identifiers(scheme: str, value: str) -> None:
    assert check(scheme, value) == value
    assert canonical_iri(scheme, value) is not None


@pytest.mark.parametrize(
    ("scheme", "value", "message"),
    [
        ("orcid", "0000-0002-1825-0098", "check digit of '0000-0002-1825-0098' should be 7"),
        ("orcid", "0000-0002-1694-2330", "check digit of '0000-0002-1694-2330' should be X"),
        ("orcid", "0000-0002-1694-233x", "upper-case"),
        ("orcid", "0000000218250097", "must look like 0000-0002-1825-0097"),
        ("orcid", "https://orcid.org/0000-0002-1825-0097", "must look like"),
        ("doi", "doi:10.1000/x", "without a 'doi:'"),
        ("doi", "10.100/x", "10.<registrant>/<suffix>"),
        ("doi", "10.1000/", "10.<registrant>/<suffix>"),
        ("doi", "10.1000/a b", "10.<registrant>/<suffix>"),
        ("doi", "10.1000/a\x07", "10.<registrant>/<suffix>"),
        ("doi", "11.1000/x", "10.<registrant>/<suffix>"),
        ("arxiv", "2503.14476v2", "without its version suffix 'v2'"),
        ("arxiv", "hep-th/9901001v1", "without its version suffix 'v1'"),
        ("arxiv", "2513.00001", "month 13"),
        ("arxiv", "2500.00001", "month 00"),
        ("arxiv", "0612.0001", "new-style ids start in April 2007"),
        ("arxiv", "1412.00001", "4-digit number"),
        ("arxiv", "1501.0001", "5-digit number"),
        ("arxiv", "hep-xx/9901001", "'hep-xx' in arXiv id 'hep-xx/9901001' is not an arXiv"),
        ("arxiv", "hep-th/9913001", "month 13"),
        ("arxiv", "hep-th/0801001", "must date from 9108 to 0703"),
        ("arxiv", "hep-th/9107001", "must date from 9108 to 0703"),
        ("arxiv", "arXiv:2503.14476", "must be new-style"),
        ("wikidata", "Q0", "without leading zeros"),
        ("wikidata", "Q042", "without leading zeros"),
        ("wikidata", "q42", "Q followed by a number"),
        ("wikidata", "P31", "Q followed by a number"),
        ("dblp", "1/2345", "must look like 123/4567"),
        ("dblp", "h/", "must look like"),
        ("dblp", "https://dblp.org/pid/h/JohnDoe", "without https://dblp.org/pid/"),
        ("profile", "ftp://example.org/a", "absolute http(s) IRI"),
        ("profile", "https://exa mple.org/", "absolute http(s) IRI"),
        ("profile", "profiles.example.org/ada", "absolute http(s) IRI"),
        ("isni", "0000 0001 2103 2683", "unknown identifier scheme 'isni'"),
    ],
)
def test_invalid_identifiers_say_why(scheme: str, value: str, message: str) -> None:
    with pytest.raises(IdentifierError) as info:
        check(scheme, value)
    assert message in str(info.value)
    assert canonical_iri(scheme, value) is None


def test_orcid_check_digit_is_iso_7064_mod_11_2() -> None:
    # the worked example of ORCID's documentation, and one whose check character is X
    assert orcid_check_digit("000000021825009") == "7"
    assert orcid_check_digit("000000021694233") == "X"


@pytest.mark.parametrize(
    ("scheme", "value", "expected"),
    [
        ("orcid", "0000-0002-1825-0097", "https://orcid.org/0000-0002-1825-0097"),
        ("dblp", "00/1234-1", "https://dblp.org/pid/00/1234-1"),
        ("wikidata", "Q42", "http://www.wikidata.org/entity/Q42"),
        ("arxiv", "hep-th/9901001", "https://arxiv.org/abs/hep-th/9901001"),
        ("arxiv", "2503.14476", "https://arxiv.org/abs/2503.14476"),
        ("doi", "10.1000/ABC.123", "https://doi.org/10.1000/abc.123"),
        ("doi", "10.1000/a#b?c%d", "https://doi.org/10.1000/a%23b%3Fc%25d"),
        ("profile", "https://profiles.example.org/ada", "https://profiles.example.org/ada"),
    ],
)
def test_canonical_iris(scheme: str, value: str, expected: str) -> None:
    assert canonical_iri(scheme, value) == expected


@pytest.mark.parametrize(
    ("text", "scheme", "expected"),
    [
        ("orcid:0000-0002-1825-0097", None, "https://orcid.org/0000-0002-1825-0097"),
        ("ORCID:0000-0002-1825-0097", None, "https://orcid.org/0000-0002-1825-0097"),
        ("http://orcid.org/0000-0002-1825-0097", None, "https://orcid.org/0000-0002-1825-0097"),
        ("wd:Q42", None, "http://www.wikidata.org/entity/Q42"),
        ("wikidata:Q42", None, "http://www.wikidata.org/entity/Q42"),
        ("https://www.wikidata.org/wiki/Q42", None, "http://www.wikidata.org/entity/Q42"),
        ("Q42", "wikidata", "http://www.wikidata.org/entity/Q42"),
        ("h/JohnDoe", "dblp", "https://dblp.org/pid/h/JohnDoe"),
        ("https://dblp.org/pid/00/1234-1.html", None, "https://dblp.org/pid/00/1234-1"),
        ("arXiv:2503.14476", None, "https://arxiv.org/abs/2503.14476"),
        ("https://arxiv.org/abs/hep-th/9901001", None, "https://arxiv.org/abs/hep-th/9901001"),
        ("doi:10.1000/XYZ", None, "https://doi.org/10.1000/xyz"),
        ("https://dx.doi.org/10.1000/XYZ", None, "https://doi.org/10.1000/xyz"),
        ("10.1000/xyz", "DOI", "https://doi.org/10.1000/xyz"),
        ("https://doi.org/10.1000/xyz", "doi", "https://doi.org/10.1000/xyz"),
        ("https://example.org/people/7", None, "https://example.org/people/7"),
        ("urn:isbn:0-306-40615-2", None, "urn:isbn:0-306-40615-2"),
    ],
)
def test_targets_in_every_usual_spelling(text: str, scheme: str | None, expected: str) -> None:
    assert parse_target(text, scheme).iri == expected


@pytest.mark.parametrize(
    ("text", "scheme", "message"),
    [
        ("orcid:0000-0002-1825-0098", None, "should be 7"),
        ("https://orcid.org/0000-0002-1825-0098", None, "should be 7"),
        ("https://arxiv.org/abs/2503.14476v3", None, "version suffix"),
        ("Q42", "isni", "unknown scheme 'isni'"),
        ("not a target", None, "neither an absolute IRI nor scheme:value"),
        ("mailto:", None, "neither"),
    ],
)
def test_bad_targets(text: str, scheme: str | None, message: str) -> None:
    with pytest.raises(IdentifierError) as info:
        parse_target(text, scheme)
    assert message in str(info.value)


def test_target_datasets_by_namespace() -> None:
    assert target_dataset("http://www.wikidata.org/entity/Q42").scheme == "wikidata"
    assert target_dataset("https://dblp.org/pid/h/JohnDoe").scheme == "dblp"
    assert target_dataset("https://profiles.example.org/ada") is None


# --- JSON Lines wiring ------------------------------------------------------------------

def test_invalid_identifiers_reject_their_record_naming_line_and_field() -> None:
    path = DATA / "invalid-identifiers.jsonl"
    results = list(parse_jsonl(path.read_bytes(), path="invalid-identifiers.jsonl", as_of=AS_OF))
    good, *bad = results
    assert not isinstance(good, DocumentError) and good.line == 1
    assert all(isinstance(b, DocumentError) for b in bad)
    assert [str(b) for b in bad[:5]] == [
        "invalid-identifiers.jsonl:3: identifiers/orcid: check digit of "
        "'0000-0002-1825-0098' should be 7",
        "invalid-identifiers.jsonl:4: papers/0/identifiers/arxiv: month 13 of arXiv id "
        "'2513.00001' is not 01-12",
        "invalid-identifiers.jsonl:5: identifiers/dblp: dblp person id '1/2345' must look "
        "like 123/4567, 00/1234-1 or h/JohnDoe (without https://dblp.org/pid/)",
        "invalid-identifiers.jsonl:6: papers/1/identifiers/arxiv: 'hep-xx' in arXiv id "
        "'hep-xx/9901001' is not an arXiv archive that had old-style ids (e.g. hep-th, math, "
        "cs, cond-mat)",
        "invalid-identifiers.jsonl:7: papers/0/identifiers/doi: DOI '10.1000/a\\x07b' must be "
        "10.<registrant>/<suffix>, e.g. 10.1000/xyz123, without a 'doi:' or https://doi.org/ "
        "prefix",
    ]
    # what the schema's pattern already refuses is reported by the schema check
    assert str(bad[5]).startswith("invalid-identifiers.jsonl:8: identifiers/wikidata: ")


def test_invalid_identifiers_never_reach_the_store() -> None:
    store = KnowledgeStore.open(None)
    report = _ingest(store, DATA / "invalid-identifiers.jsonl")
    assert len(report.ingested) == 1 and len(report.rejected) == 6
    names = {r["n"][1] for r in store.query(
        f"SELECT ?n WHERE {{ ?p a <{SCHEMA}Person> ; <{SCHEMA}name> ?n }}").rows()}
    assert names == {"Valid Person"}


# --- ingest, identity and VoID ----------------------------------------------------------

def _ingest(store: KnowledgeStore, *paths: Path):
    items = (d for p in paths for d in read_documents(p, as_of=AS_OF))
    return Ingestor(store, IriMinter(BASE), ingested_at=INGESTED_AT).ingest(items)


@pytest.fixture(scope="module")
def linked_store() -> KnowledgeStore:
    store = KnowledgeStore.open(None)
    report = _ingest(store, DATA / "identified.jsonl")
    assert report.ok, report.rejected
    return store


def _default(store: KnowledgeStore) -> Graph:
    return Graph().parse(data=store.dump_graph(None, "ntriples"), format="nt")


def test_identifiers_become_property_values_and_same_as_links(linked_store) -> None:
    g = _default(linked_store)
    grace = URIRef(GRACE)
    expected = {
        "https://orcid.org/0000-0002-1694-233X",
        "https://dblp.org/pid/h/GraceHopper",
        "http://www.wikidata.org/entity/Q11641",
        "https://profiles.example.org/grace-hopper",
    }
    assert {str(o) for o in g.objects(grace, OWL.sameAs)} == expected
    assert {str(o) for o in g.objects(grace, URIRef(SCHEMA + "sameAs"))} == expected
    pid, value = URIRef(SCHEMA + "propertyID"), URIRef(SCHEMA + "value")
    values = {(str(g.value(node, pid)), str(g.value(node, value)))
              for node in g.objects(grace, URIRef(SCHEMA + "identifier"))}
    assert values == {("orcid", "0000-0002-1694-233X"), ("dblp", "h/GraceHopper"),
                      ("wikidata", "Q11641"),
                      ("profile", "https://profiles.example.org/grace-hopper")}
    paper = URIRef(COMPILING)
    assert {str(o) for o in g.objects(paper, OWL.sameAs)} == {
        "https://arxiv.org/abs/2503.14476", "https://doi.org/10.1000/abc.123"}
    # the literal keeps the DOI exactly as written; only the IRI is normalised
    doi_node = URIRef(f"{COMPILING}/identifier/doi")
    assert g.value(doi_node, URIRef(SCHEMA + "value")) == Literal("10.1000/ABC.123")


def test_explicit_identifiers_win_and_namesakes_stay_distinct(linked_store) -> None:
    g = _default(linked_store)
    people = set(g.subjects(RDF.type, URIRef(SCHEMA + "Person")))
    assert people == {URIRef(GRACE), URIRef(JOSIAH), URIRef(NAMESAKE)}
    # one paper listed on two profiles, with all its authors
    authors = set(g.objects(URIRef(COMPILING), URIRef(SCHEMA + "author")))
    assert authors == {URIRef(GRACE), URIRef(JOSIAH)}
    # "Grace Hopper" on Josiah's byline names two Persons: it stays an unresolved name
    psycho = next(g.subjects(URIRef(SCHEMA + "name"), Literal("Psychoceramics Revisited")))
    assert set(g.objects(psycho, URIRef(SCHEMA + "author"))) == {URIRef(JOSIAH)}
    assert URIRef(NAMESAKE) not in set(g.objects(URIRef(COMPILING), URIRef(SCHEMA + "author")))


def test_linked_store_satisfies_the_shapes(linked_store) -> None:
    assert all(r.conforms for r in validate_store(linked_store, named_graphs=False))


def test_one_title_per_paper_identified_by_arxiv_id() -> None:
    store = KnowledgeStore.open(None)
    paper = b'{"title": "%s", "identifiers": {"arxiv": "2503.14476"}}'
    records = (b'{"name": "A One", "papers": [' + paper % b"Deep Nets" + b']}\n'
               b'{"name": "B Two", "papers": [' + paper % b"Deep nets" + b']}')
    items = parse_jsonl(records, path="x.jsonl", as_of=AS_OF)
    Ingestor(store, IriMinter(BASE), ingested_at=INGESTED_AT).ingest(items)
    assert all(r.conforms for r in validate_store(store, named_graphs=False))


def test_void_has_one_linkset_per_target_dataset(linked_store, tmp_path: Path) -> None:
    export_store(linked_store, tmp_path, base_iri=BASE, release="test")
    void = Graph().parse(tmp_path / "void.ttl", format="turtle")
    dataset = URIRef(f"{BASE}dataset")
    counts = {}
    for linkset in void.subjects(RDF.type, VOID.Linkset):
        assert void.value(linkset, VOID.subjectsTarget) == dataset
        assert void.value(linkset, VOID.linkPredicate) == OWL.sameAs
        assert (dataset, VOID.subset, linkset) in void
        target = void.value(linkset, VOID.objectsTarget)
        assert (target, RDF.type, VOID.Dataset) in void
        title = str(void.value(target, URIRef(DCT + "title")))
        counts[title] = (str(void.value(target, VOID.uriSpace)),
                         void.value(linkset, VOID.triples).toPython())
    assert counts == {
        "ORCID": ("https://orcid.org/", 2),
        "dblp computer science bibliography": ("https://dblp.org/pid/", 2),
        "Wikidata": ("http://www.wikidata.org/entity/", 1),
        "arXiv": ("https://arxiv.org/abs/", 2),
        "DOI": ("https://doi.org/", 2),
    }


def test_void_has_no_linksets_without_links(sample_store, tmp_path: Path) -> None:
    export_store(sample_store, tmp_path, base_iri=BASE, release="test")
    void = Graph().parse(tmp_path / "void.ttl", format="turtle")
    assert not list(void.subjects(RDF.type, VOID.Linkset))


def test_as_of_is_irrelevant_to_identity() -> None:
    # the same record a year later is the same Person (its ORCID), not a new one
    store = KnowledgeStore.open(None)
    line = (DATA / "identified.jsonl").read_bytes().splitlines()[0]
    later = line.replace(b'"category": "LG"', b'"category": "LG", "as_of": "2027-11-21"')
    for data in (line, later):
        items = parse_jsonl(data, path="x.jsonl", as_of=dt.date(2026, 11, 21))
        Ingestor(store, IriMinter(BASE), ingested_at=INGESTED_AT).ingest(items)
    people = list(store.query(f"SELECT ?p WHERE {{ ?p a <{SCHEMA}Person> }}").rows())
    assert [p["p"][1] for p in people] == [GRACE]
