"""Readable SPARQL syntax errors: line, column, the line with a caret and one cause,
from the real parser, in the endpoint's plain-text and JSON error bodies."""

from __future__ import annotations

import json
from typing import Any

import pytest
from flask import Flask

from kg.sparql_errors import explain
from kg.storage.store import KnowledgeStore, QuerySyntaxError
from tests.server_fixtures import make_app, memory_store  # noqa: F401


def problem_of(text: str, *, update: bool = False) -> Any:
    store = KnowledgeStore.open(None)
    with pytest.raises(QuerySyntaxError) as caught:
        if update:
            store.update(text)
        else:
            store.query(text)
    assert caught.value.problem is not None
    return caught.value.problem


@pytest.mark.parametrize(("text", "line", "column", "cause"), [
    ("SELECT ?s WHERE { ?s ex:p ?o }", 1, 22, "prefix `ex:` is not declared"),
    ("PREFIX schema: <https://schema.org/>\nSELECT ?s WHERE {\n  ?s schema:name ?n .\n"
     "  ?s foaf:name ?n\n}", 4, 6, "prefix `foaf:` is not declared"),
    ("SELEC ?s WHERE { ?s ?p ?o }", 1, 1,
     "expected SELECT, CONSTRUCT, ASK or DESCRIBE, found `SELEC`"),
    ("PREFIX ex: <http://ex.org/>\n  { ?s ex:p ?o }", 2, 3,
     "expected SELECT, CONSTRUCT, ASK or DESCRIBE, found `{`"),
    ("ASK {\n  ?s ?p ?o", 1, 5, "`{` is never closed"),
    ("SELECT * { ?s ?p ?o } }", 1, 23, "`}` closes nothing"),
    ("SELECT * WHERE { ?s ?p 'abc }", 1, 24, "the string opened by `'` is never closed"),
    ("SELECT * WHERE { ?s <http://a b> ?o }", 1, 21, "this IRI is not valid"),
    ("SELECT ?x WHERE { ?x ?y }", 1, 25, "the query does not parse at `}`"),
    ("SELECT ?s WHERE { ?s ?p ?o } LIMIT x", 1, 36, "the query does not parse at `x`"),
    ("", 1, 1, "the text is empty"),
    # the opener a closer of another kind overtakes is the mistake, not the closer
    ('PREFIX ex: <http://e/>\nSELECT * WHERE {\n ?s ?p ?n .\n FILTER(?n = "x"\n}', 4, 8,
     "`(` is never closed: `}` at line 5, column 1 comes before its `)`"),
    ("SELECT ?s (COUNT(?o) AS ?n) WHERE { ?s ?p ?o }", 1, 8,
     "`?s` is neither grouped nor aggregated"),
    ("SELECT (SUM(?o) AS ?t) ?s WHERE { ?s ?p ?o } GROUP BY ?p", 1, 24,
     "`?s` is neither grouped nor aggregated"),
    ("SELECT * WHERE { ?s ?p ?o } LIMT 10", 1, 29,
     "`LIMT` is not a SPARQL keyword or function (did you mean `LIMIT`?)"),
    ('SELECT * WHERE { ?s ?p ?o FILTER(CONTAIN(?o, "x")) }', 1, 34,
     "`CONTAIN` is not a SPARQL keyword or function (did you mean `CONTAINS`?)"),
    ("SELECT * WHERE { ?s ?p ?o OPTIONL { ?s ?q ?r } }", 1, 27,
     "`OPTIONL` is not a SPARQL keyword or function (did you mean `OPTIONAL`?)"),
    ('SELECT * WHERE { ?s ?p "x"@en-GB . ?s ?q }', 1, 42,  # a language tag is no keyword
     "the query does not parse at `}`"),
    ("SELECT * WHERE { ?s ?p ?o } LIMIT 99999999999999999999999", 1, 58,
     "LIMIT and OFFSET take a non-negative whole number"),
    ("\ufeffASK {}", 1, 1,
     "expected SELECT, CONSTRUCT, ASK or DESCRIBE, found U+FEFF (a byte order mark"),
])
def test_causes_and_positions(text: str, line: int, column: int, cause: str) -> None:
    problem = problem_of(text)
    assert (problem.line, problem.column) == (line, column)
    assert problem.cause.startswith(cause), problem.cause
    assert len(str(problem)) < 400  # never the parser's list of character classes
    assert "u{00" not in str(problem)


def test_the_caret_stands_under_the_column() -> None:
    text = "PREFIX schema: <https://schema.org/>\nSELECT ?s WHERE {\n\t?s ex:p ?o\n}"
    problem = problem_of(text)
    number, quoted, caret = str(problem).split("\n")
    assert number == "line 3, column 5: prefix `ex:` is not declared " \
                     "(add PREFIX ex: <...> before the query)"
    assert quoted == "  3 | \t?s ex:p ?o"
    assert caret == "    | \t   ^"
    # the caret's column in the quoted line is the reported column
    assert caret.index("^") - caret.index("|") == quoted.index("ex:p") - quoted.index("|")


def test_a_long_line_is_cut_around_the_column() -> None:
    text = "SELECT * WHERE { " + " ".join(f"?s{i} ?p ?o ." for i in range(40)) + " ?s ex:q ?o }"
    problem = problem_of(text)
    quoted, caret = str(problem).split("\n")[1:]
    assert len(quoted) < 120 and quoted.endswith("...") is False
    assert quoted[caret.index("^"):].startswith("ex:q")


def test_updates_are_explained_too() -> None:
    problem = problem_of("INSERT DATA { <http://a> ex:p 1 }", update=True)
    assert (problem.line, problem.column, problem.cause.split(" (")[0]) == (
        1, 26, "prefix `ex:` is not declared")
    # a prefix declared between two operations counts from there on
    problem = problem_of("PREFIX a: <http://a/>\nINSERT DATA { a:x a:p 1 } ;\n"
                         "PREFIX b: <http://b/>\nINSERT DATA { b:x c:p 1 }", update=True)
    assert (problem.line, problem.cause.split(" (")[0]) == (4, "prefix `c:` is not declared")


def test_without_a_position_the_parser_text_is_kept() -> None:
    assert explain("SELECT * {}", "something odd").cause == "something odd"


@pytest.fixture
def app(make_app: Any) -> Flask:  # noqa: F811
    return make_app()  # type: ignore[no-any-return]


def test_endpoint_error_bodies_in_plain_text_and_json(app: Flask) -> None:
    query = "SELECT ?s WHERE {\n  ?s ex:p ?o\n}"
    client = app.test_client()
    resp = client.get("/sparql", query_string={"query": query})
    assert resp.status_code == 400
    assert resp.text == ("400 Bad Request: the query is not valid SPARQL: line 2, column 6: "
                         "prefix `ex:` is not declared (add PREFIX ex: <...> before the query)\n"
                         "  2 |   ?s ex:p ?o\n"
                         "    |      ^\n")
    resp = client.get("/sparql", query_string={"query": "SELEC ?s WHERE { ?s ?p ?o }"},
                      headers={"Accept": "application/json"})
    error = json.loads(resp.data)["error"]
    assert error["status"] == 400
    assert error["message"].startswith(
        "the query is not valid SPARQL: line 1, column 1: expected SELECT, CONSTRUCT, ASK or "
        "DESCRIBE, found `SELEC`\n  1 | SELEC")
    # a page keeps the caret under its column
    resp = client.post("/sparql", data={"query": query}, headers={"Accept": "text/html, */*;q=0.1"})
    assert "<pre>" in resp.text and "  2 |   ?s ex:p ?o\n    |      ^" in resp.text
