"""The W3C SPARQL 1.1 evaluation tests: reading their manifests, running them, comparing.

A test is run by a :class:`Runner`: the engine in-process (:class:`EngineRunner`,
pyoxigraph directly) or a server over HTTP (in the test module). The same code asks
every SELECT in SPARQL XML, JSON, CSV and TSV, every ASK in XML and JSON, every
CONSTRUCT/DESCRIBE in Turtle, N-Triples and RDF/XML, and compares each answer with the
expected result the W3C way:

- solutions as multisets (sequences when the query has a top-level ORDER BY), blank
  nodes matched by a bijection, projected variables as sets;
- CSV keeps neither datatypes nor the kind of a term, so when the answer or the expected
  result is CSV both sides are compared as CSV text (IRIs and literals by their string,
  blank nodes still matched, empty for unbound);
- TSV numbers and booleans may be bare Turtle abbreviations;
- numeric (and boolean) literals by value within their datatype (``2.0`` and ``2`` as
  xsd:decimal are one value; an xsd:integer is never an xsd:decimal), other literals
  as written; :func:`exact_literals` compares numbers as written too;
- graphs by isomorphism (rdflib, no normalisation of its own);
- after an update, every graph of the dataset (a graph not there is an empty one).

Queries and updates are sent with their file's IRI as base IRI; named graphs of
``qt:graphData`` are named by their file's IRI, as the manifests say.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import re
import warnings
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Protocol
from urllib.parse import urlsplit

import pyoxigraph as ox
import rdflib
from rdflib.collection import Collection
from rdflib.compare import isomorphic
from rdflib.namespace import RDF, RDFS

from server.sparql.text import Token, external_refs, query_form, tokens

MF = rdflib.Namespace("http://www.w3.org/2001/sw/DataAccess/tests/test-manifest#")
QT = rdflib.Namespace("http://www.w3.org/2001/sw/DataAccess/tests/test-query#")
UT = rdflib.Namespace("http://www.w3.org/2009/sparql/tests/test-update#")
RS = rdflib.Namespace("http://www.w3.org/2001/sw/DataAccess/tests/result-set#")
SRX = "{http://www.w3.org/2005/sparql-results#}"
XSD = "http://www.w3.org/2001/XMLSchema#"
XSD_STRING = XSD + "string"
LANG_STRING = "http://www.w3.org/1999/02/22-rdf-syntax-ns#langString"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"

QUERY_TYPES = (MF.QueryEvaluationTest, MF.CSVResultFormatTest)
UPDATE_TYPES = (MF.UpdateEvaluationTest,)
RESULT_FORMATS = ("xml", "json", "csv", "tsv")
BOOLEAN_FORMATS = ("xml", "json")
GRAPH_FORMATS = ("turtle", "ntriples", "rdfxml")
RDF_FORMATS = {".ttl": ox.RdfFormat.TURTLE, ".nt": ox.RdfFormat.N_TRIPLES,
               ".rdf": ox.RdfFormat.RDF_XML}
RDFLIB_FORMATS = {"turtle": "turtle", "ntriples": "nt", "rdfxml": "xml"}

#: a term: ("uri", iri), ("bnode", label), ("literal", lexical form, datatype, language)
#: or, compared as CSV, ("text", string)
Term = tuple[str, ...]
Row = tuple[Term | None, ...]


# the manifests -----------------------------------------------------------------------------

@dataclass(frozen=True)
class Dataset:
    """Files for the default graph, and (graph IRI, file) pairs for named graphs."""

    default: tuple[Path, ...] = ()
    named: tuple[tuple[str, Path], ...] = ()


@dataclass(frozen=True)
class EvaluationTest:
    id: str  # "folder/name"
    kind: str  # "query" or "update"
    action: Path  # the .rq or .ru file
    dataset: Dataset
    result: Path | None = None  # queries: the expected result
    expected: Dataset | None = None  # updates: the dataset afterwards

    @property
    def text(self) -> str:
        return self.action.read_text(encoding="utf-8")

    @property
    def base_iri(self) -> str:
        return self.action.resolve().as_uri()


def _path(node: rdflib.term.Node | None) -> Path:
    assert node is not None, "a manifest entry names no file where one is needed"
    parts = urlsplit(str(node))
    assert parts.scheme == "file", f"not a local file: {node}"
    return Path(parts.path)


def _update_dataset(graph: rdflib.Graph, node: rdflib.term.Node | None) -> Dataset:
    named = []
    for item in graph.objects(node, UT.graphData):
        label = graph.value(item, RDFS.label)
        assert label is not None, f"ut:graphData without rdfs:label in {node}"
        named.append((str(label), _path(graph.value(item, UT.graph))))
    return Dataset(tuple(_path(f) for f in graph.objects(node, UT.data)), tuple(named))


def load_tests(root: Path) -> list[EvaluationTest]:
    """Every query- and update-evaluation test of the manifests under ``root``."""
    found = []
    for manifest in sorted(root.glob("*/manifest.ttl")):
        graph = rdflib.Graph().parse(manifest, format="turtle")
        folder = manifest.parent.name
        for entries in graph.objects(None, MF.entries):
            for entry in Collection(graph, entries):
                kind = graph.value(entry, RDF.type)
                action = graph.value(entry, MF.action)
                name = f"{folder}/{str(entry).rsplit('#', 1)[-1]}"
                if kind in QUERY_TYPES:
                    dataset = Dataset(
                        tuple(_path(f) for f in graph.objects(action, QT.data)),
                        tuple((str(g), _path(g)) for g in graph.objects(action, QT.graphData)))
                    found.append(EvaluationTest(
                        name, "query", _path(graph.value(action, QT.query)),
                        dataset, result=_path(graph.value(entry, MF.result))))
                elif kind in UPDATE_TYPES:
                    found.append(EvaluationTest(
                        name, "update", _path(graph.value(action, UT.request)),
                        _update_dataset(graph, action),
                        expected=_update_dataset(graph, graph.value(entry, MF.result))))
    return found


def ntriples(path: Path) -> bytes:
    """A data file as N-Triples, relative IRIs resolved against the file's IRI, blank
    nodes renamed (two files never share one)."""
    triples = ox.parse(path=str(path), format=RDF_FORMATS[path.suffix],
                       base_iri=path.resolve().as_uri(), rename_blank_nodes=True)
    data = ox.serialize(triples, None, ox.RdfFormat.N_TRIPLES)
    assert data is not None
    return data


def check_offline(text: str, base_iri: str) -> None:
    """Fail when a test would make the engine open a connection to another host."""
    for ref in external_refs(text, base_iri):
        host = urlsplit(ref.endpoint or "").hostname
        scheme = urlsplit(ref.endpoint or "").scheme
        assert scheme not in ("http", "https") or host in ("127.0.0.1", "localhost"), (
            f"{ref.keyword} <{ref.endpoint}> would leave this machine")


def _word(token: Token | None, keyword: str) -> bool:
    return token is not None and token.kind == "word" and token.text.upper() == keyword


def has_order_by(query: str) -> bool:
    """True when the outer query orders its solutions (ORDER BY outside every brace).

    >>> has_order_by("SELECT * { { SELECT * {} ORDER BY ?x } }"), has_order_by("SELECT * {} order by ?y")
    (False, True)
    """
    depth = 0
    previous: Token | None = None
    for tok in tokens(query):
        if tok.kind == "punct" and tok.text in "{}":
            depth += 1 if tok.text == "{" else -1
        elif depth == 0 and _word(previous, "ORDER") and _word(tok, "BY"):
            return True
        previous = tok
    return False


# terms and results ----------------------------------------------------------------------

_INTEGER_TYPES = {XSD + t for t in (
    "integer", "int", "long", "short", "byte", "nonNegativeInteger", "positiveInteger",
    "nonPositiveInteger", "negativeInteger", "unsignedLong", "unsignedInt", "unsignedShort",
    "unsignedByte")}
_INTEGER = re.compile(r"[+-]?\d+")
_DECIMAL = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)")
_DOUBLE = re.compile(r"[+-]?(?:(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?|INF)|NaN")


def _numeric_form(lexical: str, datatype: str) -> str:
    """One lexical form per numeric value (ill-typed forms stay as written): the
    expected results were written by engines that spell numbers differently."""
    if datatype in _INTEGER_TYPES and _INTEGER.fullmatch(lexical):
        return str(int(lexical))
    if datatype == XSD + "decimal" and _DECIMAL.fullmatch(lexical):
        return format(Decimal(lexical).normalize(), "f")
    if datatype in (XSD + "double", XSD + "float") and _DOUBLE.fullmatch(lexical):
        return repr(float(lexical))
    if datatype == XSD + "boolean" and lexical in ("0", "1"):
        return "true" if lexical == "1" else "false"
    return lexical


_EXACT = [False]


@contextlib.contextmanager
def exact_literals() -> Iterator[None]:
    """Literals compared as written, numbers too (for answers that must be the same
    terms, not only the same values)."""
    _EXACT[0] = True
    try:
        yield
    finally:
        _EXACT[0] = False


def literal(lexical: str, datatype: str | None = None, language: str | None = None) -> Term:
    """A literal term; numeric literals compare by value within their datatype.

    >>> literal("2.0", XSD + "decimal") == literal("2", XSD + "decimal")
    True
    >>> literal("2", XSD + "integer") == literal("2", XSD + "decimal")
    False
    """
    if language:
        return ("literal", lexical, LANG_STRING, language.lower())
    datatype = datatype or XSD_STRING
    if not _EXACT[0]:
        lexical = _numeric_form(lexical, datatype)
    return ("literal", lexical, datatype, "")


def _from_rdflib(node: rdflib.term.Node) -> Term:
    if isinstance(node, rdflib.URIRef):
        return ("uri", str(node))
    if isinstance(node, rdflib.BNode):
        return ("bnode", str(node))
    if isinstance(node, rdflib.Literal):
        return literal(str(node), str(node.datatype) if node.datatype else None, node.language)
    raise AssertionError(f"unexpected RDF term {node!r}")


def _to_rdflib(term: Term) -> rdflib.term.Identifier:
    if term[0] == "uri":
        return rdflib.URIRef(term[1])
    if term[0] == "bnode":
        return rdflib.BNode(term[1])
    if term[3]:
        return rdflib.Literal(term[1], lang=term[3])
    if term[2] == XSD_STRING:
        return rdflib.Literal(term[1])
    return rdflib.Literal(term[1], datatype=rdflib.URIRef(term[2]))


@contextlib.contextmanager
def verbatim_literals() -> Iterator[None]:
    """rdflib keeping every lexical form as written (the W3C data has ill-typed
    literals on purpose: no warning about them, no normalisation)."""
    saved = rdflib.NORMALIZE_LITERALS
    rdflib.NORMALIZE_LITERALS = False
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Failed to convert Literal lexical form")
            yield
    finally:
        rdflib.NORMALIZE_LITERALS = saved


@dataclass
class Results:
    """A SELECT or ASK result; ``csv`` when the terms are CSV text."""

    variables: tuple[str, ...] = ()
    rows: tuple[dict[str, Term], ...] = ()
    boolean: bool | None = None
    csv: bool = False


def _srx_term(node: ET.Element) -> Term:
    tag = node.tag.removeprefix(SRX)
    text = node.text or ""
    if tag == "uri":
        return ("uri", text)
    if tag == "bnode":
        return ("bnode", text)
    if tag == "literal":
        return literal(text, node.get("datatype"), node.get(XML_LANG))
    raise AssertionError(f"unexpected SPARQL XML term <{tag}>")


def read_xml(data: bytes) -> Results:
    root = ET.fromstring(data)
    variables = tuple(v.get("name", "") for v in root.iter(f"{SRX}variable"))
    boolean = root.find(f"{SRX}boolean")
    if boolean is not None:
        return Results(variables, boolean=(boolean.text or "").strip() == "true")
    rows = []
    for result in root.iter(f"{SRX}result"):
        rows.append({b.get("name", ""): _srx_term(b[0]) for b in result.findall(f"{SRX}binding")})
    return Results(variables, tuple(rows))


def _srj_term(value: Mapping[str, str]) -> Term:
    kind = value["type"]
    if kind == "uri":
        return ("uri", value["value"])
    if kind == "bnode":
        return ("bnode", value["value"])
    if kind in ("literal", "typed-literal"):
        return literal(value["value"], value.get("datatype"), value.get("xml:lang"))
    raise AssertionError(f"unexpected SPARQL JSON term type {kind!r}")


def read_json(data: bytes) -> Results:
    doc = json.loads(data)
    variables = tuple(doc.get("head", {}).get("vars", ()))
    if "boolean" in doc:
        return Results(variables, boolean=bool(doc["boolean"]))
    rows = tuple({name: _srj_term(v) for name, v in b.items()}
                 for b in doc["results"]["bindings"])
    return Results(variables, rows)


def read_csv(data: bytes) -> Results:
    table = list(csv.reader(io.StringIO(data.decode("utf-8"), newline="")))
    assert table, "a CSV result without a header row"
    variables = tuple(v for v in table[0] if v)
    rows: list[dict[str, Term]] = []
    for line in table[1:]:
        if not line and len(variables) == 1:
            line = [""]  # one variable, unbound: an empty line
        assert len(line) == len(variables), f"CSV row {line!r} has not {len(variables)} cells"
        rows.append({name: ("bnode", cell[2:]) if cell.startswith("_:") else ("text", cell)
                     for name, cell in zip(variables, line, strict=True) if cell})
    return Results(variables, tuple(rows), csv=True)


_UCHAR = re.compile(r"\\u([0-9A-Fa-f]{4})|\\U([0-9A-Fa-f]{8})")
_ECHAR = {"t": "\t", "b": "\b", "n": "\n", "r": "\r", "f": "\f", '"': '"', "'": "'", "\\": "\\"}
_ESCAPE = re.compile(r"\\(?:u([0-9A-Fa-f]{4})|U([0-9A-Fa-f]{8})|(.))", re.DOTALL)
_TSV_LITERAL = re.compile(r'"((?:[^"\\]|\\.)*)"(?:@([A-Za-z0-9\-]+)|\^\^<([^>]*)>)?', re.DOTALL)
_NUMBERS = [(re.compile(r"[+-]?\d+"), "integer"), (re.compile(r"[+-]?\d*\.\d+"), "decimal"),
            (re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)[eE][+-]?\d+"), "double"),
            (re.compile(r"true|false"), "boolean")]


def _unescape(text: str) -> str:
    def one(m: re.Match[str]) -> str:
        if m.group(3) is not None:
            assert m.group(3) in _ECHAR, f"bad escape \\{m.group(3)} in a TSV term"
            return _ECHAR[m.group(3)]
        return chr(int(m.group(1) or m.group(2), 16))
    return _ESCAPE.sub(one, text)


def tsv_term(cell: str) -> Term:
    r"""A TSV cell as a term.

    >>> tsv_term('"a\\tb"@EN'), tsv_term("-1.5")
    (('literal', 'a\tb', 'http://www.w3.org/1999/02/22-rdf-syntax-ns#langString', 'en'), ('literal', '-1.5', 'http://www.w3.org/2001/XMLSchema#decimal', ''))
    """
    if cell.startswith("<") and cell.endswith(">"):
        return ("uri", _UCHAR.sub(lambda m: chr(int(m.group(1) or m.group(2), 16)), cell[1:-1]))
    if cell.startswith("_:"):
        return ("bnode", cell[2:])
    m = _TSV_LITERAL.fullmatch(cell)
    if m:
        return literal(_unescape(m.group(1)), m.group(3), m.group(2))
    for pattern, datatype in _NUMBERS:
        if pattern.fullmatch(cell):
            return literal(cell, XSD + datatype)
    raise AssertionError(f"not a TSV term: {cell!r}")


def read_tsv(data: bytes) -> Results:
    lines = data.decode("utf-8").split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    lines = [line.removesuffix("\r") for line in lines]
    assert lines, "a TSV result without a header row"
    if lines[0] in ("true", "false") and len(lines) == 1:
        return Results(boolean=lines[0] == "true")
    variables = tuple(v.removeprefix("?").removeprefix("$") for v in lines[0].split("\t")
                      if v)
    rows = []
    for line in lines[1:]:
        cells = line.split("\t") if variables else []
        assert len(cells) == len(variables), f"TSV row {line!r} has not {len(variables)} cells"
        rows.append({name: tsv_term(cell) for name, cell in zip(variables, cells, strict=True)
                     if cell})
    return Results(variables, tuple(rows))


def read_rdf_results(graph: rdflib.Graph) -> Results:
    """A result set written in the DAWG result-set vocabulary (rs:ResultSet)."""
    result_set = graph.value(None, RDF.type, RS.ResultSet, any=False)
    assert result_set is not None
    variables = tuple(str(v) for v in graph.objects(result_set, RS.resultVariable))
    boolean = graph.value(result_set, RS.boolean)
    if boolean is not None:
        return Results(variables, boolean=str(boolean) == "true")
    solutions = []
    for solution in graph.objects(result_set, RS.solution):
        row = {}
        for binding in graph.objects(solution, RS.binding):
            value = graph.value(binding, RS.value)
            assert value is not None
            row[str(graph.value(binding, RS.variable))] = _from_rdflib(value)
        index = graph.value(solution, RS["index"])  # RS.index is str.index
        solutions.append((int(str(index)) if index is not None else 0, row))
    solutions.sort(key=lambda pair: pair[0])
    return Results(variables, tuple(row for _, row in solutions))


READERS = {"xml": read_xml, "json": read_json, "csv": read_csv, "tsv": read_tsv}


def read_graph(data: bytes, format_name: str, base_iri: str) -> set[tuple[Term, Term, Term]]:
    with verbatim_literals():
        graph = rdflib.Graph().parse(data=data, format=RDFLIB_FORMATS[format_name],
                                     publicID=base_iri)
    return {(_from_rdflib(s), _from_rdflib(p), _from_rdflib(o)) for s, p, o in graph}


def read_expected(path: Path) -> Results | set[tuple[Term, Term, Term]]:
    """The expected result of a query test: a result set, a boolean, or a graph."""
    suffix = path.suffix
    if suffix in (".srx", ".srj", ".csv", ".tsv"):
        reader = {".srx": "xml", ".srj": "json", ".csv": "csv", ".tsv": "tsv"}[suffix]
        return READERS[reader](path.read_bytes())
    with verbatim_literals():
        graph = rdflib.Graph().parse(path, format="xml" if suffix == ".rdf" else "turtle",
                                     publicID=path.resolve().as_uri())
    if (None, RDF.type, RS.ResultSet) in graph:
        return read_rdf_results(graph)
    return {(_from_rdflib(s), _from_rdflib(p), _from_rdflib(o)) for s, p, o in graph}


# comparing -------------------------------------------------------------------------------

_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")


def _as_csv(term: Term | None) -> Term | None:
    """A term as CSV shows it: its string, numbers by value (their type is lost)."""
    if term is None or term[0] == "bnode":
        return term
    text = term[1]
    if not text:
        return None
    if _NUMBER.fullmatch(text) and not _EXACT[0]:
        text = format(Decimal(text).normalize(), "f")
    return ("text", text)


def _blanked(row: Row) -> Row:
    return tuple(("bnode",) if t is not None and t[0] == "bnode" else t for t in row)


def _unify(expected: Row, actual: Row, forward: dict[str, str],
           backward: dict[str, str]) -> list[str] | None:
    """Extend the blank node bijection so the rows are equal; the labels added, or None
    (and the bijection as it was) when they cannot be."""
    added: list[str] = []
    for e, a in zip(expected, actual, strict=True):
        if e is not None and a is not None and e[0] == "bnode" and a[0] == "bnode":
            mapped = forward.get(e[1])
            if mapped is None and a[1] not in backward:
                forward[e[1]], backward[a[1]] = a[1], e[1]
                added.append(e[1])
            elif mapped != a[1]:
                break
        elif e != a:
            break
    else:
        return added
    for label in added:
        del backward[forward.pop(label)]
    return None


def rows_match(expected: Sequence[Row], actual: Sequence[Row], ordered: bool) -> bool:
    """True when a blank node bijection makes the rows equal (as sequences or multisets)."""
    if len(expected) != len(actual):
        return False
    forward: dict[str, str] = {}
    backward: dict[str, str] = {}
    if ordered:
        return all(_unify(e, a, forward, backward) is not None
                   for e, a in zip(expected, actual, strict=True))
    if Counter(map(_blanked, expected)) != Counter(map(_blanked, actual)):
        return False
    with_bnodes = [r for r in expected if _blanked(r) != r]
    candidates: dict[Row, list[int]] = {}
    for i, row in enumerate(actual):
        if _blanked(row) != row:
            candidates.setdefault(_blanked(row), []).append(i)
    used: set[int] = set()

    def search(i: int) -> bool:
        if i == len(with_bnodes):
            return True
        for j in candidates[_blanked(with_bnodes[i])]:
            if j in used:
                continue
            added = _unify(with_bnodes[i], actual[j], forward, backward)
            if added is None:
                continue
            used.add(j)
            if search(i + 1):
                return True
            used.discard(j)
            for label in added:
                del backward[forward.pop(label)]
        return False

    return search(0)


def compare_results(expected: Results, actual: Results, ordered: bool) -> str | None:
    """None when equal, else what differs."""
    if expected.boolean is not None or actual.boolean is not None:
        if expected.boolean != actual.boolean:
            return f"boolean {actual.boolean}, expected {expected.boolean}"
        return None
    if set(expected.variables) != set(actual.variables):
        return f"variables {sorted(actual.variables)}, expected {sorted(expected.variables)}"
    names = sorted(expected.variables)
    as_csv = expected.csv or actual.csv

    def rows(results: Results) -> list[Row]:
        out = []
        for row in results.rows:
            terms = tuple(row.get(n) for n in names)
            out.append(tuple(map(_as_csv, terms)) if as_csv else terms)
        return out

    want, got = rows(expected), rows(actual)
    if rows_match(want, got, ordered):
        return None
    return (f"{len(got)} solutions{' (in order)' if ordered else ''}, expected {len(want)}; "
            f"got {got[:5]}, expected {want[:5]}")


def compare_graphs(expected: set[tuple[Term, Term, Term]],
                   actual: set[tuple[Term, Term, Term]]) -> str | None:
    with verbatim_literals():
        want, got = rdflib.Graph(), rdflib.Graph()
        for triples, graph in ((expected, want), (actual, got)):
            for s, p, o in triples:
                graph.add((_to_rdflib(s), _to_rdflib(p), _to_rdflib(o)))
        if isomorphic(want, got):
            return None
    return (f"{len(actual)} triples, expected {len(expected)}; "
            f"got {sorted(actual - expected)[:5]}, expected {sorted(expected - actual)[:5]}")


# running ---------------------------------------------------------------------------------

class Runner(Protocol):
    """What runs a test: loads a dataset, answers a query in a format, runs an update,
    and gives every graph back as N-Triples."""

    def load(self, dataset: Dataset) -> None: ...

    def query(self, text: str, base_iri: str, format_name: str) -> bytes: ...

    def update(self, text: str, base_iri: str) -> None: ...

    def graphs(self) -> dict[str | None, bytes]: ...


Graph = set[tuple[Term, Term, Term]]


def run_test(test: EvaluationTest, runner: Runner, reference: Runner | None = None,
             ) -> list[str]:
    """What went wrong running ``test`` with ``runner`` (empty: it passed).

    The answers are compared with the test's expected results, or, with ``reference``,
    with the reference runner's own answers (does ``runner`` answer as it does?).
    """
    problems: list[str] = []
    text = test.text
    check_offline(text, test.base_iri)
    try:
        if test.kind == "update":
            expected_graphs = (_expected_dataset(test) if reference is None
                               else _graphs_after(test, reference))
            runner.load(test.dataset)
            runner.update(text, test.base_iri)
            return _compare_datasets(expected_graphs, _graphs_after(test, runner, run=False))
        if reference is None:
            assert test.result is not None
            expected = read_expected(test.result)
        else:
            reference.load(test.dataset)
            expected = _answer(test, reference, "ntriples" if query_form(text) in (
                "construct", "describe") else "xml")
        runner.load(test.dataset)
        if isinstance(expected, set):
            for fmt in GRAPH_FORMATS:
                got_graph = _answer(test, runner, fmt)
                assert isinstance(got_graph, set), f"{fmt}: a result set, not a graph"
                if (problem := compare_graphs(expected, got_graph)) is not None:
                    problems.append(f"{fmt}: {problem}")
            return problems
        formats = BOOLEAN_FORMATS if query_form(text) == "ask" else RESULT_FORMATS
        ordered = has_order_by(text)
        for fmt in formats:
            got = _answer(test, runner, fmt)
            assert isinstance(got, Results), f"{fmt}: a graph, not a result set"
            if (problem := compare_results(expected, got, ordered)) is not None:
                problems.append(f"{fmt}: {problem}")
    except Exception as exc:  # an error is this test's outcome
        problems.append(f"{type(exc).__name__}: {exc}")
    return problems


def _answer(test: EvaluationTest, runner: Runner, fmt: str) -> Results | Graph:
    data = runner.query(test.text, test.base_iri, fmt)
    if fmt in GRAPH_FORMATS:
        return read_graph(data, fmt, test.base_iri)
    return READERS[fmt](data)


def _expected_dataset(test: EvaluationTest) -> dict[str | None, Graph]:
    assert test.expected is not None
    expected: dict[str | None, Graph] = {}
    files = [(None, path) for path in test.expected.default] + list(test.expected.named)
    for name, path in files:
        expected.setdefault(name, set()).update(
            read_graph(ntriples(path), "ntriples", path.resolve().as_uri()))
    return expected


def _graphs_after(test: EvaluationTest, runner: Runner, run: bool = True,
                  ) -> dict[str | None, Graph]:
    """Every graph of ``runner``'s dataset (after running the update, when ``run``)."""
    if run:
        runner.load(test.dataset)
        runner.update(test.text, test.base_iri)
    return {name: read_graph(data, "ntriples", test.base_iri)
            for name, data in runner.graphs().items()}


def _compare_datasets(expected: dict[str | None, Graph],
                      actual: dict[str | None, Graph]) -> list[str]:
    """Graph by graph; a graph that is not there is an empty one."""
    problems = []
    for name in sorted(set(expected) | set(actual), key=lambda n: n or ""):
        problem = compare_graphs(expected.get(name, set()), actual.get(name, set()))
        if problem is not None:
            problems.append(f"{'default graph' if name is None else f'<{name}>'}: {problem}")
    return problems


@dataclass
class Tally:
    """What a run of the suite found, for the summary line."""

    run: int = 0
    endpoint_passed: int = 0
    engine_failed: list[str] = field(default_factory=list)

    def record(self, test: EvaluationTest, engine_ok: bool, endpoint_ok: bool) -> None:
        self.run += 1
        self.endpoint_passed += endpoint_ok
        if not engine_ok:
            self.engine_failed.append(test.id)

    def summary(self) -> str:
        failed = ", ".join(sorted(self.engine_failed)) or "none"
        return (f"W3C SPARQL 1.1 evaluation tests: {self.run} run, {self.endpoint_passed} "
                f"passed through the endpoint, {len(self.engine_failed)} failed in the engine "
                f"(pyoxigraph) itself: {failed}")


#: filled by tests/test_w3c_evaluation.py, printed at the end of the run (conftest.py)
TALLY = Tally()


class EngineRunner:
    """pyoxigraph in-process: the engine's own verdict on each test."""

    RESULTS = {"xml": ox.QueryResultsFormat.XML, "json": ox.QueryResultsFormat.JSON,
               "csv": ox.QueryResultsFormat.CSV, "tsv": ox.QueryResultsFormat.TSV}
    GRAPHS = {"turtle": ox.RdfFormat.TURTLE, "ntriples": ox.RdfFormat.N_TRIPLES,
              "rdfxml": ox.RdfFormat.RDF_XML}

    def __init__(self) -> None:
        self.store = ox.Store()

    def load(self, dataset: Dataset) -> None:
        self.store.clear()
        targets: list[tuple[ox.NamedNode | ox.DefaultGraph, Path]] = [
            (ox.DefaultGraph(), f) for f in dataset.default]
        targets += [(ox.NamedNode(name), f) for name, f in dataset.named]
        for graph, path in targets:
            if isinstance(graph, ox.NamedNode):
                self.store.add_graph(graph)
            self.store.extend(ox.Quad(t.subject, t.predicate, t.object, graph)
                              for t in ox.parse(ntriples(path), ox.RdfFormat.N_TRIPLES,
                                                rename_blank_nodes=True))

    def query(self, text: str, base_iri: str, format_name: str) -> bytes:
        result = self.store.query(text, base_iri=base_iri)
        if isinstance(result, ox.QueryTriples):
            data = ox.serialize(result, None, self.GRAPHS[format_name])
        else:
            data = result.serialize(None, self.RESULTS[format_name])
        assert data is not None
        return data

    def update(self, text: str, base_iri: str) -> None:
        self.store.update(text, base_iri=base_iri)

    def graphs(self) -> dict[str | None, bytes]:
        out: dict[str | None, bytes] = {}
        names: list[str | None] = [None]
        names += [g.value for g in self.store.named_graphs() if isinstance(g, ox.NamedNode)]
        for name in names:
            graph = ox.DefaultGraph() if name is None else ox.NamedNode(name)
            data = self.store.dump(format=ox.RdfFormat.N_TRIPLES, from_graph=graph)
            assert data is not None
            out[name] = data
        return out
