"""Terms a format cannot hold are refused with a 406 that names them, never written
malformed or changed, and never a 500; every 200 body parses back to the same values.

RDF/XML (XML 1.0) cannot hold most C0 controls, U+FFFE/U+FFFF, or a predicate without
an XML local name; SPARQL XML results cannot hold those characters either; JSON-LD has
no triple terms. RDF 1.2 base direction reads the same in every results format that
can carry it.
"""

from __future__ import annotations

import io
import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pyoxigraph as ox
import pytest
import rdflib
from flask import Flask
from werkzeug.test import TestResponse

from kg.errors import UnwritableTerm
from kg.mapping.vocab import PREFIXES
from kg.output.term_limits import RDF_NS, rdfxml_predicate_fault
from kg.storage.store import KnowledgeStore, QueryResult
from tests.server_fixtures import (  # noqa: F401
    SAMPLE_TURTLE,
    TOKEN,
    HttpResponse,
    build_disk_store,
    make_app,
    memory_store,
    running_server,
)

ITS = "{http://www.w3.org/2005/11/its}"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
SRX = "{http://www.w3.org/2005/sparql-results#}"
GRAPH_FORMATS_BUT_RDFXML = ("text/turtle, application/n-triples, application/n-quads, "
                            "application/trig, application/ld+json")
GRAPH_FORMATS_BUT_JSONLD = ("text/turtle, application/n-triples, application/n-quads, "
                            "application/trig, application/rdf+xml")
#: every character XML 1.0 cannot hold, one of each kind (SPARQL escapes, as sent)
ILLEGAL = ["\\u0001", "\\u0008", "\\u000B", "\\u000C", "\\u000E", "\\u001F", "\\uFFFE",
           "\\uFFFF"]
TRIPLE_TERM = "<<( <http://ex.org/a> <http://ex.org/b> <http://ex.org/c> )>>"


@pytest.fixture
def app(make_app: Any) -> Flask:  # noqa: F811
    return make_app()  # type: ignore[no-any-return]


def sparql(app: Flask, query: str, fmt: str) -> TestResponse:
    return app.test_client().get("/sparql", query_string={"query": query, "format": fmt})


def construct(obj: str, predicate: str = "<http://ex.org/p>") -> str:
    return f"CONSTRUCT {{ <http://ex.org/s> {predicate} {obj} }} WHERE {{}}"


def assert_refused(resp: TestResponse, *named: str) -> str:
    """A 406 whose message names every string in ``named``."""
    assert resp.status_code == 406, (resp.status_code, resp.data)
    text = resp.get_data(as_text=True)
    for part in named:
        assert part in text, (part, text)
    return text


# RDF/XML --------------------------------------------------------------------------------

@pytest.mark.parametrize("escape", ILLEGAL)
def test_rdfxml_refuses_a_literal_xml_cannot_hold(app: Flask, escape: str) -> None:
    query = construct(f'"a{escape}b"')
    value = "a" + chr(int(escape[2:], 16)) + "b"
    # named in N-Triples syntax, as the engine escapes it ("a\\fb", "a\\u0001b")
    assert_refused(sparql(app, query, "rdfxml"), "RDF/XML cannot hold",
                   f"the literal {ox.Literal(value)}", f"U+{escape[2:].upper()}",
                   GRAPH_FORMATS_BUT_RDFXML)
    # the formats the message names do hold it
    for fmt in ("turtle", "ntriples", "jsonld"):
        resp = sparql(app, query, fmt)
        assert resp.status_code == 200, (fmt, resp.data)
        if fmt != "jsonld":
            parsed = ox.parse(resp.data, ox.RdfFormat.from_media_type(resp.mimetype))
            assert [q.object.value for q in parsed] == [value]


REFUSED_PREDICATES = [
    "http://ex.org/p/", "http://ex.org/123", "http://ex.org/p#", "urn:1",
    "http://ex.org/p?x=1", "https://schema.org/",  # a prefix of the project's own table
    RDF_NS + "li", RDF_NS + "Description", RDF_NS + "about",  # RDF/XML's syntax names
    RDF_NS + "bagID", RDF_NS + "aboutEach",  # names its grammar no longer allows
]
WRITTEN_PREDICATES = [
    "http://ex.org/-a", "urn:x", "http://ex.org/a%20b", "http://ex.org/_1", "http://ex.org/é",
    "http://ex.org/a/b1", RDF_NS + "type", RDF_NS + "_1", "https://schema.org/name"]


def test_rdfxml_refuses_exactly_the_predicates_without_an_xml_name(app: Flask) -> None:
    for predicate in REFUSED_PREDICATES:
        query = construct('"x"', f"<{predicate}>")
        assert_refused(sparql(app, query, "rdfxml"), f"the predicate <{predicate}>",
                       GRAPH_FORMATS_BUT_RDFXML)
        assert sparql(app, query, "turtle").status_code == 200
    for predicate in WRITTEN_PREDICATES:
        resp = sparql(app, construct('"x"', f"<{predicate}>"), "rdfxml")
        assert resp.status_code == 200, resp.data
        graph = rdflib.Graph().parse(data=resp.data, format="xml")
        assert list(graph.predicates()) == [rdflib.URIRef(predicate)]


def test_the_predicate_check_agrees_with_the_engines_writer() -> None:
    """The rule that names a refused predicate is the one Oxigraph splits IRIs by."""
    store = ox.Store()
    for iri in ["http://ex.org/p/", "http://ex.org/123", "http://ex.org/-a", "urn:x", "urn:1",
                "http://ex.org/a.b", "http://ex.org/a·b", "http://ex.org/·1", "http://ex.org/%41",
                "http://ex.org/1é", "http://ex.org/a-", "http://ex.org/p#x1", "tag:x,2020:",
                "http://ex.org/\u0300a"]:
        data = store.query(construct('"x"', f"<{iri}>")).serialize(format=ox.RdfFormat.RDF_XML)
        assert (b"<oxprefix: " in data) == (rdfxml_predicate_fault(iri) is not None), iri


def test_rdfxml_keeps_carriage_returns_and_other_legal_characters(app: Flask) -> None:
    """A raw CR would be read back as LF: written as a character reference."""
    value = "cr\r lf\n crlf\r\n tab\t del\x7f nel\x85 \ufffd \U0010ffff ]]> <&>"
    query = construct('"cr\\r lf\\n crlf\\r\\n tab\\t del\\u007F nel\\u0085 \\uFFFD '
                      '\\U0010FFFF ]]> <&>"')
    resp = sparql(app, query, "rdfxml")
    assert resp.status_code == 200
    assert [str(o) for o in rdflib.Graph().parse(data=resp.data, format="xml").objects()] == [
        value]
    parsed = ox.parse(resp.data, ox.RdfFormat.RDF_XML)
    assert [q.object.value for q in parsed] == [value]


def test_rdfxml_is_the_engines_own_but_for_carriage_returns(
        memory_store: KnowledgeStore) -> None:  # noqa: F811
    """The check changes nothing else in an answer RDF/XML can hold."""
    memory_store.update('INSERT DATA { <http://ex.org/s> <http://ex.org/p> "a\\r\\nb" }')
    triples = list(memory_store.query("CONSTRUCT WHERE { ?s ?p ?o }").capped(0)[0]._raw)
    out = io.BytesIO()
    QueryResult("graph", triples).write(out, "rdfxml")
    engine = ox.serialize(triples, None, ox.RdfFormat.RDF_XML, prefixes=PREFIXES)
    assert out.getvalue() == engine.replace(b"\r", b"&#13;")
    assert len(rdflib.Graph().parse(data=out.getvalue(), format="xml")) == len(triples)


def test_a_graph_in_a_triple_term_is_checked_too(app: Flask) -> None:
    query = construct('<<( <http://ex.org/a> <http://ex.org/b> "c\\u0002" )>>')
    assert_refused(sparql(app, query, "rdfxml"), 'the literal "c\\u0002"', "U+0002")


def test_a_capped_graph_is_refused_only_for_what_it_holds(make_app: Any) -> None:  # noqa: F811
    """The term is looked for in the triples the answer holds (up to the cap)."""
    app = make_app(result_cap=2)
    rows = ['(<http://ex.org/1> "c\\u0001")', '(<http://ex.org/2> "a")', '(<http://ex.org/3> "b")']
    for order in (rows, rows[::-1]):
        query = ('CONSTRUCT { ?s <http://ex.org/p> ?o } WHERE { VALUES (?s ?o) { '
                 + " ".join(order) + " } }")
        resp = sparql(app, query, "rdfxml")
        if order is rows:
            assert_refused(resp, 'the literal "c\\u0001"')
        else:  # the cap leaves the third triple out
            assert resp.status_code == 200 and resp.headers["KG-Result-Capped"] == "2"
            assert {str(o) for o in rdflib.Graph().parse(data=resp.data, format="xml").objects()
                    } == {"a", "b"}


# JSON-LD --------------------------------------------------------------------------------

def test_jsonld_of_a_triple_term_is_406_not_500(app: Flask) -> None:
    text = assert_refused(sparql(app, construct(TRIPLE_TERM), "jsonld"), "JSON-LD cannot hold",
                          f"the triple term {TRIPLE_TERM}", GRAPH_FORMATS_BUT_JSONLD)
    assert "store failed" not in text
    assert sparql(app, construct(TRIPLE_TERM), "turtle").status_code == 200


@pytest.fixture
def odd_store(memory_store: KnowledgeStore) -> KnowledgeStore:  # noqa: F811
    """The sample store plus an entity whose description holds a triple term, one with a
    control character and one with a predicate RDF/XML cannot name."""
    memory_store.update(f"""INSERT DATA {{
      <https://w3id.org/scholarkg/id/thing/t> <http://ex.org/says> {TRIPLE_TERM} .
      <https://w3id.org/scholarkg/id/thing/c> <http://ex.org/p> "form\\u000Cfeed" .
      <https://w3id.org/scholarkg/id/thing/n> <http://ex.org/123> "x" .
      GRAPH <http://ex.org/g> {{ <http://ex.org/s> <http://ex.org/says> {TRIPLE_TERM} .
                                 <http://ex.org/s> <http://ex.org/p> "a\\u0001b" }}
    }}""")
    return memory_store


def test_describe_and_graph_store_reads_refuse_too(odd_store: KnowledgeStore,
                                                   make_app: Any) -> None:  # noqa: F811
    app = make_app()
    client = app.test_client()
    describe = "DESCRIBE <https://w3id.org/scholarkg/id/thing/t>"
    assert_refused(sparql(app, describe, "jsonld"), f"the triple term {TRIPLE_TERM}")
    graph = {"graph": "http://ex.org/g"}
    assert_refused(client.get("/store", query_string=graph,
                              headers={"Accept": "application/ld+json"}),
                   f"the triple term {TRIPLE_TERM}", GRAPH_FORMATS_BUT_JSONLD)
    assert_refused(client.get("/store", query_string=graph,
                              headers={"Accept": "application/rdf+xml"}),
                   'the literal "a\\u0001b"', "U+0001")
    turtle = client.get("/store", query_string=graph, headers={"Accept": "text/turtle"})
    assert turtle.status_code == 200 and len(list(ox.parse(turtle.data,
                                                           ox.RdfFormat.TURTLE))) == 2


def test_a_graph_holding_a_triple_term_is_stored_and_read_back(make_app: Any,  # noqa: F811
                                                              ) -> None:
    """Graph Store writes keep triple terms (they were sent to the store as invalid
    SPARQL, a 400); reads in JSON-LD are refused, in N-Triples they give them back."""
    client = make_app(update_token=TOKEN).test_client()
    data = f"<http://ex.org/s> <http://ex.org/says> {TRIPLE_TERM} .\n".encode()
    put = client.put("/store", query_string={"graph": "http://ex.org/t"}, data=data,
                     headers={"Content-Type": "application/n-triples",
                              "Authorization": f"Bearer {TOKEN}"})
    assert put.status_code == 201, put.data
    read = {"graph": "http://ex.org/t"}
    assert_refused(client.get("/store", query_string=read,
                              headers={"Accept": "application/ld+json"}),
                   f"the triple term {TRIPLE_TERM}")
    back = client.get("/store", query_string=read, headers={"Accept": "application/n-triples"})
    assert back.status_code == 200 and back.data == data


@pytest.mark.parametrize(("thing", "accept", "named"), [
    ("t", "application/ld+json", f"the triple term {TRIPLE_TERM}"),
    ("c", "application/rdf+xml", 'the literal "form\\ffeed"'),
    ("n", "application/rdf+xml", "the predicate <http://ex.org/123>"),
])
def test_entity_descriptions_refuse_what_the_format_cannot_hold(
        odd_store: KnowledgeStore, make_app: Any, thing: str, accept: str,  # noqa: F811
        named: str) -> None:
    client = make_app().test_client()
    path = f"/id/thing/{thing}"
    assert_refused(client.get(path, headers={"Accept": accept}), named)
    turtle = client.get(path, headers={"Accept": "text/turtle"})
    assert turtle.status_code == 200
    assert len(list(ox.parse(turtle.data, ox.RdfFormat.TURTLE))) >= 1
    page = client.get(path, headers={"Accept": "text/html"})
    assert page.status_code == 200
    # the page embeds its JSON-LD when JSON-LD can hold the description, and none else
    assert (b'<script type="application/ld+json">' in page.data) == (thing != "t")


# SPARQL results ---------------------------------------------------------------------------

@pytest.mark.parametrize("escape", ILLEGAL)
def test_sparql_xml_refuses_a_value_xml_cannot_hold(app: Flask, escape: str) -> None:
    query = f'SELECT ?v WHERE {{ BIND("a{escape}b" AS ?v) }}'
    shown = escape.upper().replace("\\U", "\\u")
    assert_refused(sparql(app, query, "xml"), "SPARQL XML cannot hold",
                   f'the literal "a{shown}b"', f"U+{escape[2:].upper()}",
                   "application/sparql-results+json, text/csv, text/tab-separated-values")
    value = "a" + chr(int(escape[2:], 16)) + "b"
    assert json.loads(sparql(app, query, "json").data)["results"]["bindings"][0]["v"][
        "value"] == value
    tsv = sparql(app, query, "tsv")
    assert next(iter(ox.parse_query_results(tsv.data, ox.QueryResultsFormat.TSV)))[
        "v"].value == value
    assert sparql(app, query, "csv").get_data(as_text=True).split("\r\n")[1] == value


DIRECTIONS = ('SELECT ?l ?t WHERE { VALUES (?l ?t) { ("abc"@en--rtl '
              '<<( <http://ex.org/a> <http://ex.org/b> "x"@ar--ltr )>>) } }')


def test_base_direction_reads_the_same_in_json_xml_and_tsv(make_app: Any) -> None:  # noqa: F811
    app = make_app()
    tsv = sparql(app, DIRECTIONS, "tsv").get_data(as_text=True)
    assert tsv.splitlines()[1] == '"abc"@en--rtl\t<<( <http://ex.org/a> <http://ex.org/b> ' \
        '"x"@ar--ltr )>>'
    root = ET.fromstring(sparql(app, DIRECTIONS, "xml").data)
    literals = root.iter(SRX + "literal")
    first, inner = next(literals), next(literals)
    assert (first.text, first.get(XML_LANG), first.get(ITS + "dir"),
            first.get(ITS + "version")) == ("abc", "en", "rtl", "2.0")
    assert (inner.text, inner.get(XML_LANG), inner.get(ITS + "dir")) == ("x", "ar", "ltr")
    expected = ox.Literal("abc", language="en", direction=ox.BaseDirection.RTL)
    for fmt, parser in (("xml", ox.QueryResultsFormat.XML), ("tsv", ox.QueryResultsFormat.TSV),
                        ("json", ox.QueryResultsFormat.JSON)):
        solution = next(iter(ox.parse_query_results(sparql(app, DIRECTIONS, fmt).data, parser)))
        assert solution["l"] == expected, fmt
        assert solution["t"].object.direction == ox.BaseDirection.LTR, fmt


def test_base_direction_survives_a_capped_json_answer(make_app: Any) -> None:  # noqa: F811
    """A capped SELECT is written row by row, not by the engine: the same JSON."""
    app = make_app(result_cap=1)
    query = 'SELECT ?l WHERE { VALUES ?l { "abc"@en--rtl "def"@en--rtl } }'
    resp = sparql(app, query, "json")
    assert resp.headers["KG-Result-Capped"] == "1"
    assert json.loads(resp.data)["results"]["bindings"][0]["l"]["its:dir"] == "rtl"


# a real server: the refusal crosses from the executor process as every error does ----------

def test_a_served_store_answers_406_not_500(tmp_path: Path) -> None:
    graph = (b"<http://ex.org/s> <http://ex.org/says> " + TRIPLE_TERM.encode() + b" .\n"
             b'<http://ex.org/s> <http://ex.org/p> "a\\u0001b" .\n')
    store = build_disk_store(tmp_path / "store", SAMPLE_TURTLE, {"http://ex.org/g": graph})
    with running_server(store, tmp_path, query_workers=1) as server:
        def get(params: dict[str, str], accept: str, path: str = "/sparql") -> HttpResponse:
            return server.request(path + "?" + urlencode(params), headers={"Accept": accept})

        refusals = [
            (get({"query": construct(TRIPLE_TERM)}, "application/ld+json"),
             f"the triple term {TRIPLE_TERM}"),
            (get({"query": construct('"a\\u0001b"')}, "application/rdf+xml"),
             'the literal "a\\u0001b"'),
            (get({"query": 'SELECT ?v { BIND("a\\u0001b" AS ?v) }'},
                 "application/sparql-results+xml"), 'the literal "a\\u0001b"'),
            (get({"graph": "http://ex.org/g"}, "application/ld+json", "/store"),
             f"the triple term {TRIPLE_TERM}"),
        ]
        for resp, named in refusals:
            assert resp.status == 406 and named in resp.text, (resp.status, resp.text)
        tsv = get({"query": 'SELECT ?l { BIND("abc"@en--rtl AS ?l) }'},
                  "text/tab-separated-values")
        assert tsv.status == 200 and tsv.text.splitlines()[1] == '"abc"@en--rtl'


def test_kg_query_writes_sparql_xml_as_the_server_does() -> None:
    """`kg query --format xml` (QueryResult.serialize): the engine's XML writer put the
    character in raw; now the project's writer refuses it, and writes base direction."""
    store = KnowledgeStore.open(None)
    with pytest.raises(UnwritableTerm, match='the literal "a\\\\u0001b"'):
        b"".join(store.query('SELECT ?v { BIND("a\\u0001b" AS ?v) }').serialize("xml"))
    data = b"".join(store.query('SELECT ?l { BIND("abc"@en--rtl AS ?l) }').serialize("xml"))
    literal = next(ET.fromstring(data).iter(SRX + "literal"))
    assert (literal.get(XML_LANG), literal.get(ITS + "dir")) == ("en", "rtl")
