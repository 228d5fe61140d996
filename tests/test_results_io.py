"""The SPARQL results writers read back through oxigraph's and rdflib's parsers."""

from __future__ import annotations

import io

import pyoxigraph as ox
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rdflib.query import Result

from kg.errors import UnwritableTerm
from kg.output.results_io import (
    RDF_DIR_LANG_STRING,
    RDF_LANG_STRING,
    XSD,
    XSD_STRING,
    write_boolean,
    write_json_solutions,
    write_results,
)
from kg.storage.store import QueryResult

_FORMATS = {"json": ox.QueryResultsFormat.JSON, "xml": ox.QueryResultsFormat.XML,
            "tsv": ox.QueryResultsFormat.TSV}
# XML 1.0 cannot carry most C0 controls; the XML writer refuses them (tested separately)
_TEXT = st.text(st.characters(blacklist_categories=("Cs",), min_codepoint=0x20) | st.sampled_from(
    ["\t", "\n", "\r", '"', "'", "\\", ",", "<", "&", "é", "😀"]), max_size=30)
_IRIS = st.sampled_from(["http://ex.org/a", "http://ex.org/b#x", "urn:isbn:0-1", "http://ex.org/é"])
_TERMS = st.one_of(
    _IRIS.map(lambda v: ("uri", v, None, None)),
    st.from_regex(r"[A-Za-z][A-Za-z0-9]{0,8}", fullmatch=True).map(
        lambda v: ("bnode", v, None, None)),
    _TEXT.map(lambda v: ("literal", v, XSD_STRING, None)),
    st.tuples(_TEXT, st.sampled_from(["en", "en-gb", "de"])).map(
        lambda t: ("literal", t[0], RDF_LANG_STRING, t[1])),
    # RDF 1.2 base direction, written language--direction as Turtle spells it
    st.tuples(_TEXT, st.sampled_from(["ar--rtl", "en--ltr"])).map(
        lambda t: ("literal", t[0], RDF_DIR_LANG_STRING, t[1])),
    st.integers(-10**6, 10**6).map(lambda v: ("literal", str(v), XSD + "integer", None)),
    _TEXT.map(lambda v: ("literal", v, "http://ex.org/dt", None)),
)
_ROWS = st.lists(st.dictionaries(st.sampled_from(["a", "b", "c"]), _TERMS), max_size=6)


def _to_ox(term: tuple[str, str, str | None, str | None]) -> object:
    kind, value, datatype, lang = term
    if kind == "uri":
        return ox.NamedNode(value)
    if kind == "bnode":
        return ox.BlankNode(value)
    if lang:
        language, _, direction = lang.partition("--")
        if direction:
            return ox.Literal(value, language=language, direction=ox.BaseDirection(direction))
        return ox.Literal(value, language=lang)
    return ox.Literal(value, datatype=ox.NamedNode(datatype or XSD_STRING))


@settings(max_examples=60, deadline=None)
@given(_ROWS)
def test_rows_read_back_identically(rows: list[dict[str, tuple[str, str, str | None, str | None]]],
                                    ) -> None:
    variables = ["a", "b", "c"]
    expected = [{v: _to_ox(row[v]) for v in variables if v in row} for row in rows]
    for name, fmt in _FORMATS.items():
        data = b"".join(write_results(variables, rows, name))
        parsed = ox.parse_query_results(data, fmt)
        assert [v.value for v in parsed.variables] == variables
        got = [{v: s[v] for v in variables if s[v] is not None} for s in parsed]
        assert got == expected, (name, data)


@settings(max_examples=60, deadline=None)
@given(_ROWS)
def test_json_from_solutions_is_the_json_of_their_rows(
        rows: list[dict[str, tuple[str, str, str | None, str | None]]]) -> None:
    """The server's SPARQL JSON fast path (written from the engine's solutions) gives
    exactly the bytes of the generic writer over QueryResult.rows()."""
    variables = ["a", "b", "c"]
    data = b"".join(write_results(variables, rows, "json"))

    def solutions() -> ox.QuerySolutions:
        return ox.parse_query_results(data, ox.QueryResultsFormat.JSON)  # type: ignore[return-value]

    assert b"".join(write_json_solutions(variables, solutions())) == data
    assert list(QueryResult("select", solutions()).rows()) == rows


def test_json_from_solutions_writes_triple_terms_like_the_rows() -> None:
    store = ox.Store()
    query = 'SELECT ?t { BIND(<<( <http://s> <http://p> "o" )>> AS ?t) }'
    rows = list(QueryResult("select", store.query(query)).rows())
    assert b"".join(write_json_solutions(["t"], store.query(query))) == b"".join(
        write_results(["t"], rows, "json"))


def test_csv_reads_back_with_rdflib() -> None:
    rows = [{"x": ("literal", 'a "quoted", comma\nline', XSD_STRING, None),
             "y": ("bnode", "b1", None, None)}, {"x": ("uri", "http://ex.org/a", None, None)}]
    result = Result.parse(io.BytesIO(b"".join(write_results(["x", "y"], rows, "csv"))),
                          format="csv")
    values = [[str(v) if v is not None else None for v in row] for row in result]
    assert values[0][0] == 'a "quoted", comma\nline' and values[1] == ["http://ex.org/a", None]


@pytest.mark.parametrize("char", ["\x00", "\x01", "\x08", "\x0b", "\x0c", "\x0e", "\x1f",
                                  "\ufffe", "\uffff"])
def test_xml_refuses_characters_xml_cannot_hold(char: str) -> None:
    """Never a changed value (it was U+FFFD once): an error naming the value and the
    formats that keep it, which do."""
    row = {"x": ("literal", f"a{char}b", XSD_STRING, None)}
    with pytest.raises(UnwritableTerm) as caught:
        b"".join(write_results(["x"], [row], "xml"))
    message = str(caught.value)
    assert f'the literal "a\\u{ord(char):04X}b"' in message
    assert f"U+{ord(char):04X}" in message
    assert "application/sparql-results+json, text/csv, text/tab-separated-values" in message
    for name in ("json", "tsv"):
        data = b"".join(write_results(["x"], [row], name))
        assert next(iter(ox.parse_query_results(data, _FORMATS[name])))["x"].value == f"a{char}b"


def test_xml_keeps_the_characters_xml_can_hold() -> None:
    value = "tab\t lf\n cr\r del\x7f nel\x85 \ufffd \U0010ffff"
    data = b"".join(write_results(["x"], [{"x": ("literal", value, XSD_STRING, None)}], "xml"))
    assert next(iter(ox.parse_query_results(data, _FORMATS["xml"])))["x"].value == value


def test_triple_terms() -> None:
    term = ("triple", '<http://s> <http://p> "o \\"q\\""@en', None, None)
    for name, fmt in _FORMATS.items():
        data = b"".join(write_results(["t"], [{"t": term}], name))
        value = next(iter(ox.parse_query_results(data, fmt)))["t"]
        assert isinstance(value, ox.Triple), name
        assert value.object == ox.Literal('o "q"', language="en")


def test_booleans_read_back() -> None:
    for name in ("json", "xml"):
        for value in (True, False):
            data = b"".join(write_boolean(value, name))
            assert bool(ox.parse_query_results(data, _FORMATS[name])) is value
