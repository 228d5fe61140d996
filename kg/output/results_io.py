"""Streaming writers for SPARQL 1.1 query results: JSON, XML, CSV and TSV.

Pure functions over rows of terms, so a capped list of solutions (or rows from any
source) can be written without the engine. A term is ``(type, value, datatype, lang)``
with type ``"uri"``, ``"bnode"``, ``"literal"`` or ``"triple"`` (an RDF 1.2 triple
term, ``value`` in N-Triples syntax: ``<s> <p> "o"``); a row maps variable names to
terms and leaves unbound variables out.

>>> rows = [{"s": ("uri", "http://ex.org/a", None, None),
...          "o": ("literal", "chat", RDF_LANG_STRING, "fr")},
...         {"s": ("bnode", "b0", None, None), "o": ("literal", "7", XSD + "integer", None)}]
>>> print(b"".join(write_results(["s", "o"], rows, "json")).decode())
{"head":{"vars":["s","o"]},"results":{"bindings":[
{"s":{"type":"uri","value":"http://ex.org/a"},"o":{"type":"literal","value":"chat","xml:lang":"fr"}},
{"s":{"type":"bnode","value":"b0"},"o":{"type":"literal","value":"7","datatype":"http://www.w3.org/2001/XMLSchema#integer"}}
]}}
>>> b"".join(write_results(["s", "o"], rows, "csv"))
b's,o\\r\\nhttp://ex.org/a,chat\\r\\n_:b0,7\\r\\n'
>>> b"".join(write_results(["s", "o"], rows, "tsv"))
b'?s\\t?o\\n<http://ex.org/a>\\t"chat"@fr\\n_:b0\\t7\\n'
>>> b"".join(write_boolean(True, "json"))
b'{"head":{},"boolean":true}'
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from json.encoder import encode_basestring
from pathlib import Path
from typing import Any

from kg.output.term_limits import cannot_hold, shown, xml_char_fault

Term = tuple[str, str, "str | None", "str | None"]
Row = Mapping[str, Term]

XSD = "http://www.w3.org/2001/XMLSchema#"
XSD_STRING = XSD + "string"
RDF_LANG_STRING = "http://www.w3.org/1999/02/22-rdf-syntax-ns#langString"
RDF_DIR_LANG_STRING = "http://www.w3.org/1999/02/22-rdf-syntax-ns#dirLangString"
RESULTS_NS = "http://www.w3.org/2005/sparql-results#"

FORMATS = ("json", "xml", "csv", "tsv")
_CHUNK = 64 * 1024


def write_results(variables: Sequence[str], rows: Iterable[Row], format_name: str,
                  ) -> Iterator[bytes]:
    """A SELECT result in ``format_name`` ("json", "xml", "csv" or "tsv"), in chunks."""
    writer = {"json": _json_rows, "xml": _xml_rows, "csv": _csv_rows, "tsv": _tsv_rows}.get(
        format_name)
    if writer is None:
        raise ValueError(f"not a query results format: {format_name!r}")
    return _chunked(writer(list(variables), rows))


def write_boolean(value: bool, format_name: str) -> Iterator[bytes]:
    """An ASK result. CSV and TSV, which define no boolean form, hold ``true``/``false``.

    >>> b"".join(write_boolean(False, "xml")).decode()
    '<?xml version="1.0"?>\\n<sparql xmlns="http://www.w3.org/2005/sparql-results#"><head/><boolean>false</boolean></sparql>\\n'
    >>> b"".join(write_boolean(True, "tsv"))
    b'true\\n'
    """
    word = "true" if value else "false"
    if format_name == "json":
        text = '{"head":{},"boolean":' + word + "}"
    elif format_name == "xml":
        text = (f'<?xml version="1.0"?>\n<sparql xmlns="{RESULTS_NS}"><head/>'
                f"<boolean>{word}</boolean></sparql>\n")
    elif format_name == "csv":
        text = word + "\r\n"
    elif format_name == "tsv":
        text = word + "\n"
    else:
        raise ValueError(f"not a query results format: {format_name!r}")
    yield text.encode("utf-8")


def _chunked(pieces: Iterable[str]) -> Iterator[bytes]:
    buffer: list[str] = []
    size = 0
    for piece in pieces:
        buffer.append(piece)
        size += len(piece)
        if size >= _CHUNK:
            yield "".join(buffer).encode("utf-8")
            buffer, size = [], 0
    if buffer:
        yield "".join(buffer).encode("utf-8")


# JSON -----------------------------------------------------------------------

def _json_term(term: Term) -> dict[str, object]:
    kind, value, datatype, lang = term
    if kind == "literal":
        out: dict[str, object] = {"type": "literal", "value": value}
        if lang:
            language, _, direction = lang.partition("--")
            out["xml:lang"] = language
            if direction:
                out["its:dir"] = direction
        elif datatype and datatype != XSD_STRING:
            out["datatype"] = datatype
        return out
    if kind == "triple":
        s, p, o = parse_triple_term(value)
        return {"type": "triple", "value": {"subject": _json_term(s), "predicate": _json_term(p),
                                            "object": _json_term(o)}}
    return {"type": kind, "value": value}


def _json_term_text(term: Term) -> str:
    """``_dumps(_json_term(term))``, written directly: the hot path of SELECT results.

    >>> all(_json_term_text(t) == _dumps(_json_term(t)) for t in [
    ...     ("uri", "http://ex.org/\\u00e9", None, None), ("bnode", "b0", None, None),
    ...     ("literal", 'a "q"\\n\\u2028\\x01', XSD_STRING, None),
    ...     ("literal", "1", XSD + "integer", None), ("literal", "x", None, None),
    ...     ("literal", "chat", RDF_LANG_STRING, "fr"),
    ...     ("literal", "x", RDF_DIR_LANG_STRING, "ar--rtl"),
    ...     ("triple", '<http://s> <http://p> "o"', None, None)])
    True
    """
    kind, value, datatype, lang = term
    if kind == "literal":
        text = '{"type":"literal","value":' + _json_string(value)
        if lang:
            language, _, direction = lang.partition("--")
            text += ',"xml:lang":' + _json_string(language)
            if direction:
                text += ',"its:dir":' + _json_string(direction)
        elif datatype and datatype != XSD_STRING:
            text += ',"datatype":' + _json_string(datatype)
        return text + "}"
    if kind == "triple":
        return _dumps(_json_term(term))
    return '{"type":' + _json_string(kind) + ',"value":' + _json_string(value) + "}"


def _json_rows(variables: list[str], rows: Iterable[Row]) -> Iterator[str]:
    yield '{"head":{"vars":' + _dumps(variables) + '},"results":{"bindings":['
    keys = [(name, _json_string(name) + ":") for name in dict.fromkeys(variables)]
    separator = "\n"
    for row in rows:
        yield separator + "{" + ",".join(
            [key + _json_term_text(row[name]) for name, key in keys if name in row]) + "}"
        separator = ",\n"
    yield "]}}" if separator == "\n" else "\n]}}"


def write_json_solutions(variables: Sequence[str], solutions: Iterable[Any]) -> Iterator[bytes]:
    """SPARQL JSON of pyoxigraph solutions (``QuerySolution``), written from the terms
    directly: the same bytes as ``write_results(variables, rows, "json")`` over the rows
    :meth:`kg.storage.store.QueryResult.rows` makes of them, without building those rows (the
    hot path of the server's SELECT answers).

    >>> from kg.storage.store import KnowledgeStore
    >>> store = KnowledgeStore.open(None)
    >>> store.update('INSERT DATA { <http://ex.org/a> <http://ex.org/p> "chat"@fr }')
    >>> result = store.query("SELECT ?s ?o ?none { ?s ?p ?o }")
    >>> print(b"".join(write_json_solutions(result.variables, result.solutions())).decode())
    {"head":{"vars":["s","o","none"]},"results":{"bindings":[
    {"s":{"type":"uri","value":"http://ex.org/a"},"o":{"type":"literal","value":"chat","xml:lang":"fr"}}
    ]}}
    """
    return _chunked(_json_solutions(list(variables), solutions))


def _json_solutions(variables: list[str], solutions: Iterable[Any]) -> Iterator[str]:
    from kg.storage.store import TERM_CLASSES  # the store imports this module's package

    named, literal, blank = TERM_CLASSES
    string = _json_string
    yield '{"head":{"vars":' + _dumps(variables) + '},"results":{"bindings":['
    keys = [(index, string(name) + ":") for index, name in enumerate(variables)
            if name not in variables[:index]]
    separator = "\n"
    for solution in solutions:
        fields = []
        for index, key in keys:
            term = solution[index]
            if term is None:
                continue
            kind = type(term)
            if kind is named:
                fields.append(key + '{"type":"uri","value":' + string(term.value) + "}")
            elif kind is literal:
                language = term.language
                if language and term.direction is not None:  # RDF 1.2: "x"@ar--rtl
                    language = f"{language}--{term.direction}"
                fields.append(key + _json_term_text(
                    ("literal", term.value, term.datatype.value, language)))
            elif kind is blank:
                fields.append(key + '{"type":"bnode","value":' + string(term.value) + "}")
            else:  # an RDF 1.2 triple term
                fields.append(key + _json_term_text(("triple", str(term), None, None)))
        yield separator + "{" + ",".join(fields) + "}"
        separator = ",\n"
    yield "]}}" if separator == "\n" else "\n]}}"


def _dumps(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


#: a JSON string literal, escaped exactly as ``_dumps`` escapes strings (C-accelerated)
_json_string = encode_basestring


# XML ------------------------------------------------------------------------

ITS_NS = "http://www.w3.org/2005/11/its"


def _xml_text(text: str) -> str:
    """Escape character data. Leading and trailing whitespace become character
    references, which parsers that trim text (oxigraph's among them) keep. A literal
    holding a character XML 1.0 cannot hold never gets here (:func:`_xml_term`).

    >>> _xml_text('a<b & "c"')
    'a&lt;b &amp; &quot;c&quot;'
    >>> _xml_text(" a ")
    '&#32;a&#32;'
    """
    text = (text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace('"', "&quot;").replace("\r", "&#13;"))
    core = text.strip(" \t\n")
    if core == text:
        return text
    start = text.index(core) if core else len(text)
    lead, trail = text[:start], text[start + len(core):]
    return _char_refs(lead) + core + _char_refs(trail)


def _char_refs(text: str) -> str:
    return "".join(f"&#{ord(c)};" for c in text)


def _xml_term(term: Term) -> str:
    """A term as SPARQL 1.2 XML results write it; a base direction is ``its:dir``, with
    the ITS namespace and ``its:version`` on the literal itself.

    >>> _xml_term(("literal", "abc", RDF_DIR_LANG_STRING, "ar--rtl"))
    '<literal xml:lang="ar" xmlns:its="http://www.w3.org/2005/11/its" its:version="2.0" \
its:dir="rtl">abc</literal>'
    >>> _xml_term(("literal", "a\\x01b", XSD_STRING, None))
    Traceback (most recent call last):
    ...
    kg.errors.UnwritableTerm: SPARQL XML cannot hold the literal "a\\u0001b": XML 1.0 \
has no character U+0001; formats that can: application/sparql-results+json, text/csv, \
text/tab-separated-values
    """
    kind, value, datatype, lang = term
    if kind == "uri":
        return f"<uri>{_xml_text(value)}</uri>"
    if kind == "bnode":
        return f"<bnode>{_xml_text(value)}</bnode>"
    if kind == "triple":
        s, p, o = parse_triple_term(value)
        return (f"<triple><subject>{_xml_term(s)}</subject><predicate>{_xml_term(p)}"
                f"</predicate><object>{_xml_term(o)}</object></triple>")
    char = xml_char_fault(value)
    if char is not None:
        raise cannot_hold("xml", "the literal " + shown(nt_term(term)),
                          f"XML 1.0 has no character {char}")
    if lang:
        language, _, direction = lang.partition("--")
        extra = (f' xmlns:its="{ITS_NS}" its:version="2.0" its:dir="{_xml_text(direction)}"'
                 if direction else "")
        return f'<literal xml:lang="{_xml_text(language)}"{extra}>{_xml_text(value)}</literal>'
    if datatype and datatype != XSD_STRING:
        return f'<literal datatype="{_xml_text(datatype)}">{_xml_text(value)}</literal>'
    return f"<literal>{_xml_text(value)}</literal>"


def _xml_rows(variables: list[str], rows: Iterable[Row]) -> Iterator[str]:
    yield f'<?xml version="1.0"?>\n<sparql xmlns="{RESULTS_NS}"><head>'
    yield "".join(f'<variable name="{_xml_text(v)}"/>' for v in variables)
    yield "</head><results>"
    for row in rows:
        yield "\n<result>" + "".join(
            f'<binding name="{_xml_text(name)}">{_xml_term(row[name])}</binding>'
            for name in variables if name in row) + "</result>"
    yield "\n</results></sparql>\n"


# CSV ------------------------------------------------------------------------

def _csv_field(text: str) -> str:
    """A CSV field (RFC 4180): quoted when it holds a quote, comma, CR or LF.

    >>> _csv_field('say "hi", then go')
    '"say ""hi"", then go"'
    """
    if any(c in text for c in '",\r\n'):
        return '"' + text.replace('"', '""') + '"'
    return text


def _csv_value(term: Term) -> str:
    kind, value, _, _ = term
    if kind == "bnode":
        return "_:" + value
    if kind == "triple":
        return _nt_triple(parse_triple_term(value))
    return value


def _csv_rows(variables: list[str], rows: Iterable[Row]) -> Iterator[str]:
    yield ",".join(_csv_field(v) for v in variables) + "\r\n"
    for row in rows:
        yield ",".join(_csv_field(_csv_value(row[v])) if v in row else "" for v in variables)
        yield "\r\n"


# TSV and N-Triples terms ------------------------------------------------------

_TSV_BARE = {XSD + "integer": re.compile(r"[+-]?[0-9]+\Z"),
             XSD + "decimal": re.compile(r"[+-]?[0-9]*\.[0-9]+\Z"),
             XSD + "boolean": re.compile(r"(true|false)\Z")}


def _nt_string(text: str) -> str:
    return '"' + (text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
                  .replace("\r", "\\r").replace("\t", "\\t")) + '"'


def nt_term(term: Term) -> str:
    """A term in N-Triples syntax (tabs and newlines escaped, so it fits a TSV cell).

    >>> nt_term(("literal", 'a\\tb "c"', "http://www.w3.org/2001/XMLSchema#string", None))
    '"a\\\\tb \\\\"c\\\\""'
    >>> nt_term(("literal", "1", "http://www.w3.org/2001/XMLSchema#double", None))
    '"1"^^<http://www.w3.org/2001/XMLSchema#double>'
    """
    kind, value, datatype, lang = term
    if kind == "uri":
        return "<" + value + ">"
    if kind == "bnode":
        return "_:" + value
    if kind == "triple":
        return "<<( " + _nt_triple(parse_triple_term(value)) + " )>>"
    if lang:
        return _nt_string(value) + "@" + lang
    if datatype and datatype != XSD_STRING:
        return _nt_string(value) + "^^<" + datatype + ">"
    return _nt_string(value)


def _nt_triple(terms: tuple[Term, Term, Term]) -> str:
    return " ".join(nt_term(t) for t in terms)


def _tsv_value(term: Term) -> str:
    kind, value, datatype, _ = term
    if kind == "literal" and datatype in _TSV_BARE and _TSV_BARE[datatype].match(value):
        return value
    return nt_term(term)


def _tsv_rows(variables: list[str], rows: Iterable[Row]) -> Iterator[str]:
    yield "\t".join("?" + v for v in variables) + "\n"
    for row in rows:
        yield "\t".join(_tsv_value(row[v]) if v in row else "" for v in variables) + "\n"


_NT_TOKEN = re.compile(r"""
    \s*(?:
      (?P<open><<\()
    | (?P<close>\)>>)
    | <(?P<iri>[^>]*)>
    | _:(?P<bnode>\S+?)(?=\s|\)>>|$)
    | "(?P<lit>(?:[^"\\]|\\.)*)"(?:@(?P<lang>[A-Za-z0-9-]+)|\^\^<(?P<dt>[^>]*)>)?
    )""", re.VERBOSE)
_NT_ESCAPES = re.compile(r"\\(?:u([0-9A-Fa-f]{4})|U([0-9A-Fa-f]{8})|(.))")
_NT_SIMPLE = {"t": "\t", "b": "\b", "n": "\n", "r": "\r", "f": "\f", '"': '"', "'": "'",
              "\\": "\\"}


def _unescape(text: str) -> str:
    def one(m: re.Match[str]) -> str:
        code = m.group(1) or m.group(2)
        return chr(int(code, 16)) if code else _NT_SIMPLE.get(m.group(3), m.group(3))
    return _NT_ESCAPES.sub(one, text)


def parse_triple_term(text: str) -> tuple[Term, Term, Term]:
    """Split a triple term in N-Triples syntax into its three terms.

    >>> parse_triple_term('<http://s> <http://p> <<( _:b <http://q> "x"@en )>>')[2]
    ('triple', '_:b <http://q> "x"@en', None, None)
    """
    terms: list[Term] = []
    pos = 0
    while len(terms) < 3:
        m = _NT_TOKEN.match(text, pos)
        if m is None or m.group("close"):
            raise ValueError(f"not a triple term: {text!r}")
        pos = m.end()
        if m.group("open"):
            depth, start = 1, pos
            while depth:
                inner = _NT_TOKEN.match(text, pos)
                if inner is None:
                    raise ValueError(f"not a triple term: {text!r}")
                pos = inner.end()
                depth += 1 if inner.group("open") else -1 if inner.group("close") else 0
            terms.append(("triple", text[start:pos - 3].strip(), None, None))
        elif m.group("iri") is not None:
            terms.append(("uri", m.group("iri"), None, None))
        elif m.group("bnode") is not None:
            terms.append(("bnode", m.group("bnode"), None, None))
        else:
            lang = m.group("lang")
            datatype = m.group("dt") or (RDF_LANG_STRING if lang else XSD_STRING)
            terms.append(("literal", _unescape(m.group("lit")), datatype, lang))
    return terms[0], terms[1], terms[2]


# JSON-LD ----------------------------------------------------------------------

#: the project's JSON-LD context (written alongside the ontology)
CONTEXT_PATH = Path(__file__).resolve().parents[2] / "ontology" / "context.jsonld"


def load_context(path: Path = CONTEXT_PATH) -> dict[str, Any] | None:
    """The JSON-LD context document, or None when the file does not exist (yet)."""
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
    except FileNotFoundError:
        return None
    return data if isinstance(data, dict) and "@context" in data else {"@context": data}


def _no_remote_documents(url: str, options: Any = None) -> Any:
    from pyld import jsonld

    raise jsonld.JsonLdError(f"remote JSON-LD documents are not fetched ({url})",
                             "jsonld.LoadDocumentError", code="loading document failed")


def compact_jsonld(expanded: bytes, context: Mapping[str, Any] | None) -> bytes:
    """Compact expanded JSON-LD with ``context``; expanded JSON-LD as is when None
    (or when the context cannot be applied). Remote contexts are never fetched.

    >>> doc = b'[{"@id": "http://ex.org/a", "http://xmlns.com/foaf/0.1/name": [{"@value": "A"}]}]'
    >>> ctx = {"@context": {"name": "http://xmlns.com/foaf/0.1/name"}}
    >>> json.loads(compact_jsonld(doc, ctx))["name"]
    'A'
    >>> compact_jsonld(doc, None) == doc
    True
    """
    if context is None:
        return expanded
    from pyld import jsonld

    try:
        compacted = jsonld.compact(json.loads(expanded), dict(context),
                                   {"documentLoader": _no_remote_documents})
    except jsonld.JsonLdError:
        return expanded  # a context that cannot be applied: expanded JSON-LD is still valid
    return _dumps(compacted).encode("utf-8")
