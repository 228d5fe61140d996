"""The SPARQL scanner agrees with a real SPARQL parser (rdflib's) on SERVICE clauses."""

from __future__ import annotations

from typing import Any

import pytest
from pyparsing import ParseResults
from rdflib.plugins.sparql.parser import parseQuery, parseUpdate
from rdflib.plugins.sparql.parserutils import CompValue

from server.sparql.text import (
    add_using,
    external_refs,
    has_dataset_clause,
    query_form,
    service_refs,
    without_loads,
)

QUERIES = [
    "SELECT * { ?s ?p ?o }",
    "SELECT * { SERVICE <http://a.example/sparql> { ?s ?p ?o } }",
    "select * { service silent <http://a.example/sparql> { ?s ?p ?o } }",
    "PREFIX e: <http://a.example/> SELECT * { SERVICE e:q { ?s ?p ?o } SERVICE ?x { } }",
    "SELECT * { ?s ?p 'SERVICE <http://x.example/> {}' }",
    'SELECT * { ?s ?p """SERVICE\n<http://x.example/> {}""" } # SERVICE <http://y.example/>',
    "SELECT * { ?s <http://x.example/SERVICE> ?o FILTER(?o < 3 && ?o > 1) }",
    "SELECT * { { SELECT * { SERVICE <http://a.example/s> { ?a ?b ?c } } } "
    "OPTIONAL { SERVICE <http://b.example/s> { ?d ?e ?f } } }",
    "ASK { ?s ?p ?o MINUS { SERVICE SILENT <http://a.example/s> { ?s ?p ?o } } }",
    "PREFIX : <http://a.example/> SELECT * { ?s :SERVICE ?o . ?service ?p :x }",
]


def _count_services(node: Any) -> int:
    if isinstance(node, CompValue):
        own = 1 if node.name == "ServiceGraphPattern" else 0
        return own + sum(_count_services(v) for v in node.values())
    if isinstance(node, (list, tuple, ParseResults)):
        return sum(_count_services(v) for v in node)
    return 0


@pytest.mark.parametrize("query", QUERIES)
def test_service_clauses_match_rdflibs_parse_tree(query: str) -> None:
    assert len(service_refs(query)) == _count_services(parseQuery(query))


def test_update_dataset_clauses_and_using() -> None:
    update = ("PREFIX foaf: <http://xmlns.com/foaf/0.1/> DELETE { ?p foaf:name 'x' } "
              "INSERT { ?p foaf:name 'y' } WHERE { ?p foaf:name 'x' } ; "
              "DELETE WHERE { ?a ?b 'WHERE' } ; INSERT DATA { <http://a> <http://b> 1 }")
    assert not has_dataset_clause(update)
    rewritten = add_using(update, ["http://g.example/1"], ["http://g.example/2"])
    assert rewritten.count("USING <http://g.example/1> USING NAMED <http://g.example/2>") == 1
    parsed = parseUpdate(rewritten)
    assert parsed is not None
    assert has_dataset_clause("INSERT { ?s ?p ?o } USING <http://g> WHERE { ?s ?p ?o }")


@pytest.mark.parametrize(("text", "form"), [
    ("SELECT * {}", "select"), ("prefix a: <http://a/> BASE <http://b/> construct {} where {}",
                                "construct"),
    ("# SELECT\nDESCRIBE <http://a>", "describe"), ("INSERT DATA {}", None), ("", None),
])
def test_query_form(text: str, form: str | None) -> None:
    assert query_form(text) == form


UPDATES_WITH_LOAD = [
    "LOAD <http://a.example/d.ttl>",
    "load silent <http://a.example/d.ttl> into graph <http://g.example/1>",
    "LOAD <http://a.example/SILENT> ; LOAD SILENT <http://b.example/d>",
    "PREFIX e: <http://a.example/> LOAD # SILENT\n e:d INTO GRAPH e:g ; LOAD\nSILENT e:x",
    "INSERT DATA { <http://a> <http://b> 'LOAD SILENT <http://c>' } ; LOAD <http://d.example/>",
    'INSERT DATA { <http://a> <http://b> """LOAD\nSILENT <http://c>""" } # LOAD SILENT <x>',
    "CLEAR SILENT ALL ; LOAD SILENT <http://a.example/> ; DROP SILENT GRAPH <http://g>",
]


def _load_silent_flags(node: Any) -> list[bool]:
    return [("silent" in op) for op in node.request if op.name == "Load"]


@pytest.mark.parametrize("update", UPDATES_WITH_LOAD)
def test_load_silent_matches_rdflibs_parse_tree(update: str) -> None:
    refs = [r for r in external_refs(update) if r.keyword == "LOAD"]
    assert [r.silent for r in refs] == _load_silent_flags(parseUpdate(update))


@pytest.mark.parametrize("update", UPDATES_WITH_LOAD)
def test_without_loads_replaces_only_those_loads(update: str) -> None:
    silent = [r for r in external_refs(update) if r.keyword == "LOAD" and r.silent]
    rewritten = parseUpdate(without_loads(update, silent)).request
    nothing = str(parseUpdate("INSERT DATA {}").request[0])
    original = parseUpdate(update).request
    assert len(rewritten) == len(original)
    for before, after in zip(original, rewritten, strict=True):
        if before.name == "Load" and "silent" in before:
            assert str(after) == nothing
        else:
            assert str(after) == str(before)
