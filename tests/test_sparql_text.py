"""The SPARQL scanner agrees with a real SPARQL parser (rdflib's) on SERVICE clauses."""

from __future__ import annotations

from typing import Any

import pytest
from pyparsing import ParseResults
from rdflib.plugins.sparql.parser import parseQuery, parseUpdate
from rdflib.plugins.sparql.parserutils import CompValue

from server.sparql_text import add_using, has_dataset_clause, query_form, service_refs

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
