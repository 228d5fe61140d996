"""The storage boundary: the only module that touches pyoxigraph's Store.

Everything above this module (ingest, export, the server) speaks to a
:class:`KnowledgeStore`: SPARQL in, serialised bytes or plain Python values out.
A deployment on another SPARQL engine replaces this one class.

>>> store = KnowledgeStore.open(None)
>>> store.update('INSERT DATA { <http://ex.org/a> <http://ex.org/p> "x" }')
>>> result = store.query("SELECT ?o WHERE { ?s ?p ?o }")
>>> result.kind, result.variables
('select', ['o'])
>>> b"".join(result.serialize("csv"))
b'o\\r\\nx\\r\\n'
"""

from __future__ import annotations

import io
import itertools
import os
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Protocol

import pyoxigraph as ox

from kg.errors import KgError, RemoteServiceError, StoreError, UnwritableTerm
from kg.mapping.vocab import PREFIXES
from kg.output.formats import RDF_FORMATS, RESULT_FORMATS
from kg.output.term_limits import cannot_hold, rdfxml_predicate_fault, shown, xml_char_fault
from kg.sparql_errors import SyntaxProblem, explain
from kg.storage.store_lock import lock_store, release_lock

_RDF = {
    "turtle": ox.RdfFormat.TURTLE,
    "ntriples": ox.RdfFormat.N_TRIPLES,
    "nquads": ox.RdfFormat.N_QUADS,
    "trig": ox.RdfFormat.TRIG,
    "rdfxml": ox.RdfFormat.RDF_XML,
    "jsonld": ox.RdfFormat.JSON_LD,
}
#: the engine's term classes (IRI, literal, blank node) for writers that read solutions
#: directly (kg.output.results_io): nothing else needs to import the engine
TERM_CLASSES: tuple[type, type, type] = (ox.NamedNode, ox.Literal, ox.BlankNode)

_RESULTS = {
    "json": ox.QueryResultsFormat.JSON,
    "xml": ox.QueryResultsFormat.XML,
    "csv": ox.QueryResultsFormat.CSV,
    "tsv": ox.QueryResultsFormat.TSV,
}
assert set(_RDF) == set(RDF_FORMATS) and set(_RESULTS) == set(RESULT_FORMATS)

_CHUNK = 64 * 1024

#: a term as (type, value, datatype, language); type is uri, bnode, literal or triple
TermTuple = tuple[str, str, str | None, str | None]
#: one subject's triples: the subject and its (predicate IRI, object) pairs
SubjectGroup = tuple[TermTuple, list[tuple[str, TermTuple]]]


class Writable(Protocol):
    """A binary sink: an open file, a GzipFile, a BytesIO."""

    def write(self, data: bytes, /) -> int: ...


class QuerySyntaxError(KgError):
    """The query or update text is not valid SPARQL 1.1.

    ``problem`` holds the line, column and cause when the parser gave a position;
    the message is then the readable account of :func:`kg.sparql_errors.explain`.

    >>> try:
    ...     KnowledgeStore.open(None).query("SELECT ?s WHERE { ?s ex:p ?o }")
    ... except QuerySyntaxError as exc:
    ...     (exc.problem.line, exc.problem.column), exc.problem.cause.split(" (")[0]
    ((1, 22), 'prefix `ex:` is not declared')
    """

    def __init__(self, message: str, problem: SyntaxProblem | None = None) -> None:
        super().__init__(message)
        self.problem = problem

    @classmethod
    def from_parser(cls, text: str, exc: Exception, *, update: bool) -> QuerySyntaxError:
        problem = explain(text, str(exc), update=update)
        return cls(str(problem), problem)

    def __reduce__(self) -> tuple[type[QuerySyntaxError], tuple[str, SyntaxProblem | None]]:
        return type(self), (str(self), self.problem)


class DataSyntaxError(KgError):
    """RDF data handed to the store does not parse in the stated format."""


class _ChunkWriter(io.RawIOBase):
    """A write-only file object that collects bytes into chunks for streaming."""

    def __init__(self) -> None:
        self.chunks: list[bytes] = []

    def writable(self) -> bool:
        return True

    def write(self, b: Any) -> int:
        self.chunks.append(bytes(b))
        return len(b)


def _graph_term(iri: str | None) -> ox.NamedNode | ox.DefaultGraph:
    return ox.DefaultGraph() if iri is None else ox.NamedNode(iri)


@dataclass
class QueryResult:
    """The outcome of a SPARQL query: ``kind`` is "select", "ask" or "graph".

    ``_rerun`` evaluates the query again: a graph result that a format cannot hold is
    read a second time to name the term (the first reading went to the serialiser)."""

    kind: str
    _raw: Any
    _rerun: Callable[[], Any] | None = None

    @property
    def variables(self) -> list[str]:
        """The projected variable names of a SELECT result."""
        return [v.value for v in self._raw.variables] if self.kind == "select" else []

    @property
    def boolean(self) -> bool:
        return bool(self._raw)

    def solutions(self) -> Iterator[Any]:
        """The engine's own solutions of a SELECT result, for writers that read their terms
        directly (:func:`kg.output.results_io.write_json_solutions`); iterate once."""
        return iter(self._raw)

    def write_engine_results(self, out: Writable, format_name: str) -> None:
        """A SELECT or ASK result written by the engine's own serialiser into ``out``."""
        self._raw.serialize(out, _RESULTS[format_name])

    def rows(self) -> Iterator[dict[str, tuple[str, str, str | None, str | None]]]:
        """SELECT rows as {var: (type, value, datatype, language)}; type is uri/bnode/literal."""
        names = self.variables
        for solution in self._raw:
            row = {}
            for name in names:
                term = solution[name]
                if term is not None:
                    row[name] = _describe_term(term)
            yield row

    def term_rows(self) -> Iterator[dict[str, str]]:
        """SELECT rows as {var: term in N-Triples syntax}."""
        names = self.variables
        for solution in self._raw:
            yield {n: str(solution[n]) for n in names if solution[n] is not None}

    def triples(self) -> Iterator[tuple[str, str, str]]:
        """CONSTRUCT/DESCRIBE triples, each term in N-Triples syntax."""
        for triple in self._raw:
            yield str(triple.subject), str(triple.predicate), str(triple.object)

    def capped(self, limit: int) -> tuple[QueryResult, int, bool]:
        """A graph result cut to its first ``limit`` triples (0: all), materialised.

        Returns the cut result, its size and whether triples were left out; at most
        ``limit + 1`` triples are read.

        >>> store = KnowledgeStore.open(None)
        >>> store.update("INSERT DATA { <http://ex.org/a> <http://ex.org/p> 1, 2, 3 }")
        >>> cut, count, more = store.query("CONSTRUCT WHERE { ?s ?p ?o }").capped(2)
        >>> count, more, len(b"".join(cut.serialize("ntriples")).splitlines())
        (2, True, 2)
        """
        if self.kind != "graph":
            raise KgError("only CONSTRUCT/DESCRIBE results can be capped as triples")
        try:
            items = list(itertools.islice(self._raw, limit + 1) if limit else self._raw)
        except OSError as exc:
            raise read_error(exc) from exc
        more = bool(limit) and len(items) > limit
        if more:
            items = items[:limit]
        return QueryResult("graph", items), len(items), more

    def write(self, output: Writable, format_name: str, *, limit: int = 0) -> tuple[int, bool]:
        """Serialise a graph result into ``output`` as it is read, at most ``limit`` triples
        (0: all). Returns the number written and whether triples were left out; memory does
        not grow with the result.

        >>> store = KnowledgeStore.open(None)
        >>> store.update("INSERT DATA { <http://ex.org/a> <http://ex.org/p> 1, 2, 3 }")
        >>> out = io.BytesIO()
        >>> store.query("CONSTRUCT WHERE { ?s ?p ?o }").write(out, "ntriples", limit=2)
        (2, True)
        >>> len(out.getvalue().splitlines())
        2
        """
        if self.kind != "graph":
            raise KgError("only CONSTRUCT/DESCRIBE results are written as triples")
        if format_name not in _RDF:
            raise KgError(f"format {format_name!r} is not an RDF format")
        counted = _Counted(self._raw, limit)
        guard = _RdfXmlGuard(output) if format_name == "rdfxml" else None
        try:
            # pyoxigraph writes to any object with a binary write(); its stubs say IO[bytes]
            ox.serialize(counted, guard or output, _RDF[format_name],  # type: ignore[arg-type]
                         prefixes=PREFIXES)
        except _Malformed:
            raise self._unwritable(format_name, limit) from None
        except OSError as exc:
            raise self._unwritable(format_name, limit, exc) from exc
        return counted.count, counted.more

    def _unwritable(self, format_name: str, limit: int = 0,
                    exc: OSError | None = None) -> KgError:
        """The error for a graph result the serialiser could not write (``exc``) or wrote
        malformed (None): the term ``format_name`` cannot hold, found by reading the
        result again, or else the store's failure."""
        triples = self._raw if isinstance(self._raw, list) else (
            self._rerun() if self._rerun is not None else [])
        return _refusal(format_name, itertools.islice(triples, limit or None), exc, read_error)

    def serialize(self, format_name: str, *,
                  prefixes: Mapping[str, str] | None = None) -> Iterator[bytes]:
        """Serialise in a registered format (results formats for select/ask, RDF for graph).

        Turtle and TriG declare only the ``prefixes`` (default: the project's table) that
        their prefixed names use.

        >>> store = KnowledgeStore.open(None)
        >>> store.update("INSERT DATA { <https://ex.org/id/a> <https://schema.org/name> 'A' }")
        >>> text = b"".join(store.query("CONSTRUCT WHERE { ?s ?p ?o }").serialize(
        ...     "turtle", prefixes={**PREFIXES, "ex": "https://ex.org/id/"})).decode()
        >>> print(text.strip())
        @prefix schema: <https://schema.org/> .
        @prefix ex: <https://ex.org/id/> .
        ex:a schema:name "A" .
        """
        table = dict(PREFIXES if prefixes is None else prefixes)
        try:
            if self.kind == "graph":
                if format_name not in _RDF:
                    raise KgError(f"format {format_name!r} cannot hold an RDF graph (a "
                                  f"CONSTRUCT or DESCRIBE result); use one of: "
                                  f"{', '.join(_RDF)}")
                try:
                    data = ox.serialize(self._raw, None, _RDF[format_name], prefixes=table)
                except OSError as exc:
                    raise self._unwritable(format_name, 0, exc) from exc
                if format_name in ("turtle", "trig") and data is not None:
                    data = drop_unused_prefixes(_unescaped_names(data, table))
                elif format_name == "rdfxml" and data is not None:
                    data = _checked_rdfxml(data, lambda: self._unwritable(format_name))
            else:
                if format_name not in _RESULTS:
                    raise KgError(f"format {format_name!r} cannot hold a SELECT or ASK result; "
                                  f"use one of: {', '.join(_RESULTS)}")
                if format_name == "xml" and self.kind == "select":
                    # the project's writer: it refuses what XML 1.0 cannot hold, where the
                    # engine's writes it raw (a document no parser accepts)
                    from kg.output.results_io import write_results

                    data = b"".join(write_results(self.variables, self.rows(), "xml"))
                else:
                    data = self._raw.serialize(None, _RESULTS[format_name])
        except OSError as exc:
            raise read_error(exc) from exc
        assert data is not None  # no output file: the bytes are returned
        for start in range(0, len(data), _CHUNK):
            yield data[start : start + _CHUNK]


_PREFIX_LINE = re.compile(rb"@prefix ([A-Za-z][\w.\-]*)?: <[^>]*> \.\r?\n")


_ESCAPED_NAME = re.compile(
    rb"(?<![\w<\-.:\\])([A-Za-z][\w.\-]*):([\w.%\-]+(?:\\/[\w.%\-]+)+)")


def _unescaped_names(data: bytes, table: Mapping[str, str]) -> bytes:
    r"""Prefixed names whose local part needs ``\/`` escapes written as whole IRIs.

    >>> _unescaped_names(b"p:a\\/b p:c .", {"p": "http://ex.org/"})
    b'<http://ex.org/a/b> p:c .'
    """
    def whole(match: re.Match[bytes]) -> bytes:
        namespace = table.get(match.group(1).decode())
        if namespace is None:
            return match.group(0)
        return b"<" + namespace.encode() + match.group(2).replace(b"\\/", b"/") + b">"

    return _ESCAPED_NAME.sub(whole, data)


def drop_unused_prefixes(data: bytes) -> bytes:
    """Turtle or TriG without the ``@prefix`` lines that no prefixed name in it uses.

    >>> print(drop_unused_prefixes(b"@prefix a: <http://a/> .\\n@prefix b: <http://b/> .\\n"
    ...                            b"a:x a:y <http://b/z> .\\n").decode(), end="")
    @prefix a: <http://a/> .
    a:x a:y <http://b/z> .
    """
    header = _PREFIX_LINE.match(data)
    if header is None:
        return data
    end = 0
    names: list[tuple[bytes, bytes]] = []
    while (line := _PREFIX_LINE.match(data, end)) is not None:
        names.append((line.group(1) or b"", line.group(0)))
        end = line.end()
    body = data[end:]
    kept = [line for name, line in names
            if re.search(rb"(?<![\w<\-.:])" + re.escape(name) + rb":", body)]
    return b"".join(kept) + body


class _Malformed(Exception):
    """pyoxigraph's RDF/XML writer wrote something no XML parser accepts."""


#: every byte but the C0 controls XML 1.0 cannot hold: ``data.translate(None, _XML_LEGAL)``
#: keeps only those (a C-speed scan)
_XML_LEGAL = bytes(b for b in range(256) if b >= 0x20 or b in (0x09, 0x0A, 0x0D))
#: U+FFFE and U+FFFF in UTF-8
_XML_NONCHARACTER = re.compile(rb"\xef\xbf[\xbe\xbf]")
#: an element with an empty local name (``<oxprefix: xmlns:oxprefix="http://ex.org/p/">``
#: or ``<schema:>``), or one of the RDF/XML names the writer does not refuse but parsers
#: do (the grammar's oldTerms): ``<`` is escaped in text, so a raw one is always markup
_BAD_ELEMENT = re.compile(rb"<(?:[A-Za-z_][\w.\-]*:[\s/>]|rdf:(?:bagID|aboutEach))")


def _rdfxml_malformed(data: bytes) -> bool:
    r"""True when pyoxigraph's RDF/XML ``data`` holds what no parser accepts: a
    character XML 1.0 cannot hold (written raw), an element without a local name, or
    an RDF/XML name that is no property.

    >>> _rdfxml_malformed(b'<p xmlns="http://ex.org/">a\x0cb</p>')
    True
    >>> _rdfxml_malformed(b'<oxprefix: xmlns:oxprefix="http://ex.org/p/">x</oxprefix:>')
    True
    >>> _rdfxml_malformed(b'<p xmlns="http://ex.org/">a: b\tc</p>')
    False
    """
    return bool(data.translate(None, _XML_LEGAL) or _XML_NONCHARACTER.search(data)
                or _BAD_ELEMENT.search(data))


def _refusal(format_name: str, triples: Iterable[Any], exc: OSError | None,
             failure: Callable[[OSError], KgError]) -> KgError:
    """The error for a graph the writer could not write (``exc``) or wrote malformed
    (None): the first term of ``triples`` that ``format_name`` cannot hold, or else the
    writer's ``failure``."""
    found = first_unwritable(triples, format_name)
    if found is not None:
        return found
    if exc is not None:
        return failure(exc)
    return cannot_hold(format_name, "a term of this graph",
                       f"the writer made malformed {RDF_FORMATS[format_name].label} of it")


def _written(write: Callable[[], bytes | None], format_name: str,
             triples: Callable[[], Iterable[Any]], failure: str) -> bytes:
    """The bytes ``write()`` returns in ``format_name``, checked (RDF/XML): a term the
    format cannot hold raises :class:`UnwritableTerm`, found in ``triples()``; another
    failure of the writer is a :class:`StoreError` that starts with ``failure``."""
    def error(exc: OSError | None = None) -> KgError:
        return _refusal(format_name, triples(), exc,
                        lambda exc: StoreError(f"{failure}: {exc}"))

    try:
        data = write()
    except OSError as exc:
        raise error(exc) from exc
    assert data is not None  # no output file: the bytes are returned
    return _checked_rdfxml(data, error) if format_name == "rdfxml" else data


def _checked_rdfxml(data: bytes, error: Callable[[], KgError]) -> bytes:
    """pyoxigraph's RDF/XML checked (``error()`` is raised when it is malformed), with
    carriage returns written as references: a raw CR would be read back as a line feed."""
    if _rdfxml_malformed(data):
        raise error()
    return data.replace(b"\r", b"&#13;") if b"\r" in data else data


class _RdfXmlGuard:
    """A binary writer in front of ``out`` that checks pyoxigraph's RDF/XML as it comes
    (:func:`_rdfxml_malformed`, raising :class:`_Malformed`) and writes carriage returns
    as references. Each write is checked with the end of the one before, so a pattern
    cut by a write boundary is still seen."""

    def __init__(self, out: Writable) -> None:
        self._out = out
        self._tail = b""

    def write(self, data: bytes) -> int:
        size = len(data)
        data = bytes(data)
        if _rdfxml_malformed(self._tail + data):
            raise _Malformed
        self._tail = data[-32:]
        self._out.write(data.replace(b"\r", b"&#13;") if b"\r" in data else data)
        return size

    def flush(self) -> None:
        flush = getattr(self._out, "flush", None)
        if flush is not None:
            flush()


def first_unwritable(triples: Iterable[Any], format_name: str) -> UnwritableTerm | None:
    """The error for the first term of ``triples`` (pyoxigraph triples or quads) that
    ``format_name`` cannot hold, or None (every format but RDF/XML and JSON-LD holds
    every term).

    >>> t = ox.Triple(ox.NamedNode("http://ex.org/s"), ox.NamedNode("http://ex.org/p/"),
    ...               ox.Literal("x"))
    >>> str(first_unwritable([t], "rdfxml")).split(":")[0]
    'RDF/XML cannot hold the predicate <http'
    >>> first_unwritable([t], "turtle") is None
    True
    """
    if format_name not in ("rdfxml", "jsonld"):
        return None
    for triple in triples:
        found = _unwritable_in(triple, format_name, "")
        if found is not None:
            return found
    return None


def _nt(term: Any) -> str:
    """A term in N-Triples syntax, triple terms in RDF 1.2's ``<<( ... )>>``."""
    return f"<<( {term} )>>" if isinstance(term, ox.Triple) else str(term)


def _unwritable_in(triple: Any, format_name: str, where: str) -> UnwritableTerm | None:
    subject, predicate, obj = triple.subject, triple.predicate, triple.object
    at = where or f" (in the triple {shown(_nt(subject))} {shown(str(predicate))} …)"
    if format_name == "jsonld":
        for term in (subject, obj):
            if isinstance(term, ox.Triple):
                return cannot_hold("jsonld", f"the triple term {shown(_nt(term))}",
                                   "JSON-LD 1.1 has no RDF 1.2 triple terms",
                                   [n for n in RDF_FORMATS if n != "jsonld"])
        return None
    reason = rdfxml_predicate_fault(predicate.value)
    if reason is not None:
        return cannot_hold("rdfxml", f"the predicate {shown(str(predicate))}",
                           f"{reason}, and RDF/XML writes a predicate as an element name")
    for term in (subject, obj):
        if isinstance(term, ox.Literal):
            char = xml_char_fault(term.value)
            if char is not None:
                return cannot_hold("rdfxml", f"the literal {shown(str(term))}{at}",
                                   f"XML 1.0 has no character {char}")
        elif isinstance(term, ox.Triple):
            found = _unwritable_in(term, format_name, at)
            if found is not None:
                return found
    return None


class _Counted:
    """The items of an iterator, at most ``limit`` (0: all), counted; ``more`` tells
    whether there was one more."""

    def __init__(self, items: Iterable[Any], limit: int) -> None:
        self._items = iter(items)
        self._limit = limit
        self._full = False
        self.count = 0
        self.more = False

    def __iter__(self) -> Iterator[Any]:
        return self

    def __next__(self) -> Any:
        if self._limit and self.count >= self._limit:
            if not self._full:
                self._full = True
                self.more = next(self._items, None) is not None
            raise StopIteration
        item = next(self._items)
        self.count += 1
        return item


def parse_result(data: bytes, kind: str, format_name: str) -> QueryResult:
    """A query result read from bytes another engine wrote: ``kind`` "select" or "ask" in
    a results format, "graph" in an RDF format. Terms come out as pyoxigraph reads them
    (a plain literal is an ``xsd:string``, SPARQL JSON's legacy ``typed-literal`` a literal).

    >>> parse_result(b'{"head":{"vars":["x"]},"results":{"bindings":[{"x":'
    ...              b'{"type":"typed-literal","value":"5",'
    ...              b'"datatype":"http://www.w3.org/2001/XMLSchema#integer"}}]}}',
    ...              "select", "json").term_rows().__next__()
    {'x': '"5"^^<http://www.w3.org/2001/XMLSchema#integer>'}
    >>> [t for t in parse_result(b'<http://a> <http://p> "x" .', "graph", "ntriples").triples()]
    [('<http://a>', '<http://p>', '"x"')]
    """
    try:
        if kind == "graph":
            triples = [q.triple for q in ox.parse(data, _RDF[format_name])]
            return QueryResult("graph", triples)
        raw = ox.parse_query_results(data, _RESULTS[format_name])
    except SyntaxError as exc:
        raise StoreError(f"the engine's answer is not valid {format_name}: {exc}") from exc
    if isinstance(raw, ox.QueryBoolean):
        if kind != "ask":
            raise StoreError("the engine answered a boolean to a SELECT query")
        return QueryResult("ask", raw)
    if kind != "select":
        raise StoreError("the engine answered solutions to an ASK query")
    return QueryResult("select", raw)


def read_error(exc: OSError) -> KgError:
    """The error to raise for an OSError met while reading results: a broken connection
    is a federated SERVICE call failing (the store itself is local files), anything else
    the store failing."""
    if isinstance(exc, ConnectionError | TimeoutError):
        return RemoteServiceError(f"a SERVICE endpoint failed: {exc}")
    return StoreError(f"the store failed while reading results: {exc}")


def _by_subject(statements: Iterable[Any]) -> Iterator[SubjectGroup]:
    """Triples or quads, in subject order, as one group per subject."""
    current: Any = None
    pairs: list[tuple[str, TermTuple]] = []
    for q in statements:
        if current is None or q.subject != current:
            if current is not None:
                yield _describe_term(current), pairs
            current, pairs = q.subject, []
        pairs.append((q.predicate.value, _describe_term(q.object)))
    if current is not None:
        yield _describe_term(current), pairs


def _describe_term(term: Any) -> tuple[str, str, str | None, str | None]:
    if isinstance(term, ox.NamedNode):
        return ("uri", term.value, None, None)
    if isinstance(term, ox.BlankNode):
        return ("bnode", term.value, None, None)
    if isinstance(term, ox.Literal):
        language, direction = term.language, term.direction
        if language and direction is not None:  # RDF 1.2 base direction: "x"@ar--rtl
            language = f"{language}--{direction}"
        return ("literal", term.value, term.datatype.value, language)
    return ("triple", str(term), None, None)


class KnowledgeStore:
    """A scholarkg dataset in an Oxigraph store (on disk, or in memory when path is None)."""

    def __init__(self, store: ox.Store, path: Path | None, read_only: bool,
                 lock: int | None = None) -> None:
        self._store = store
        self.path = path
        self.read_only = read_only
        self._lock = lock

    # opening ------------------------------------------------------------
    @classmethod
    def open(cls, path: str | os.PathLike[str] | None, *,
             read_only: bool = False, lock: bool = True) -> KnowledgeStore:
        """Open (creating if needed) a store directory; ``read_only`` for serving.

        An on-disk store stays locked while it is open (:mod:`kg.storage.store_lock`): opening
        it read-write while another process has it open, or read-only while another
        process writes it, raises :class:`~kg.storage.store_lock.StoreInUseError`. ``lock``
        False opens read-only without the lock, even under a writer: a diagnostic peek
        (e.g. a test watching an ingest's progress) that may read anything meanwhile.
        """
        held: int | None = None
        try:
            if path is None:
                return cls(ox.Store(), None, False)
            p = Path(path)
            if read_only:
                if not p.is_dir():
                    raise StoreError(f"no store at {p}: run 'kg ingest' first")
                held = lock_store(p, exclusive=False) if lock else None
                return cls(ox.Store.read_only(str(p)), p, True, held)
            p.mkdir(parents=True, exist_ok=True)
            held = lock_store(p, exclusive=True)
            return cls(ox.Store(str(p)), p, False, held)
        except OSError as exc:
            release_lock(held)
            raise StoreError(f"cannot open the store at {path}: {exc}") from exc
        except BaseException:
            release_lock(held)
            raise

    def close(self) -> None:
        """Close the store and drop its lock (also done when the object is collected)."""
        if "_store" in self.__dict__:
            del self._store  # RocksDB closes when pyoxigraph's Store is dropped
        lock, self._lock = self.__dict__.get("_lock"), None
        release_lock(lock)

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # noqa: BLE001, S110 - at interpreter exit the kernel drops the lock
            pass

    # SPARQL ---------------------------------------------------------------
    def query(
        self,
        sparql: str,
        *,
        default_graph_uris: Iterable[str] | None = None,
        named_graph_uris: Iterable[str] | None = None,
        base_iri: str | None = None,
    ) -> QueryResult:
        """Run a SPARQL 1.1 query. The default graph is the store's merged current graph."""
        kwargs: dict[str, Any] = {"base_iri": base_iri}
        if default_graph_uris is not None:
            kwargs["default_graph"] = [ox.NamedNode(u) for u in default_graph_uris]
        if named_graph_uris is not None:
            kwargs["named_graphs"] = [ox.NamedNode(u) for u in named_graph_uris]
        try:
            raw = self._store.query(sparql, **kwargs)
        except SyntaxError as exc:
            raise QuerySyntaxError.from_parser(sparql, exc, update=False) from exc
        except ValueError as exc:
            raise QuerySyntaxError(str(exc)) from exc
        except OSError as exc:
            raise StoreError(f"the store failed while evaluating the query: {exc}") from exc
        if isinstance(raw, ox.QueryBoolean):
            return QueryResult("ask", raw)
        if isinstance(raw, ox.QuerySolutions):
            return QueryResult("select", raw)
        return QueryResult("graph", raw, lambda: self._store.query(sparql, **kwargs))

    def update(self, sparql: str, *, base_iri: str | None = None) -> None:
        """Run a SPARQL 1.1 update in one transaction."""
        try:
            self._store.update(sparql, base_iri=base_iri)
        except SyntaxError as exc:
            raise QuerySyntaxError.from_parser(sparql, exc, update=True) from exc
        except OSError as exc:
            raise StoreError(f"the store failed while applying the update: {exc}") from exc

    # graphs ---------------------------------------------------------------
    def is_empty(self) -> bool:
        """True when the store holds no quad in any graph (and no empty named graph)."""
        return (next(iter(self._store.quads_for_pattern(None, None, None, None)), None) is None
                and next(iter(self._store.named_graphs()), None) is None)

    def named_graphs(self) -> Iterator[str]:
        for g in self._store.named_graphs():
            if isinstance(g, ox.NamedNode):
                yield g.value

    def has_graph(self, iri: str | None) -> bool:
        if iri is None:
            return True
        return bool(self._store.contains_named_graph(ox.NamedNode(iri)))

    def count_quads(self, graph: str | None = None, *, all_graphs: bool = False) -> int:
        """Number of triples in one graph (default graph when None), or quads in all graphs."""
        if all_graphs:
            return len(self._store)
        return sum(1 for _ in self._store.quads_for_pattern(None, None, None, _graph_term(graph)))

    def load_graph(
        self, data: bytes, format_name: str, graph: str | None, *, replace: bool,
        base_iri: str | None = None,
    ) -> None:
        """Load triples into one graph atomically; ``replace`` clears the graph first.

        Blank nodes of the data are fresh: never merged with blank nodes already stored
        (CLEAR, not DELETE DATA, empties the graph: DELETE DATA cannot name blank nodes).

        >>> store = KnowledgeStore.open(None)
        >>> for _ in range(2):
        ...     store.load_graph(b"_:b <http://ex.org/p> 1 .", "turtle", "http://g", replace=False)
        >>> store.load_graph(b"_:b <http://ex.org/p> 2 .", "turtle", "http://g", replace=True)
        >>> store.count_quads("http://g")
        1
        """
        target = _graph_term(graph)
        try:
            parsed = list(ox.parse(data, _RDF[format_name], base_iri=base_iri,
                                   without_named_graphs=True))
        except SyntaxError as exc:
            raise DataSyntaxError(str(exc)) from exc
        quads = [ox.Quad(q.subject, q.predicate, q.object, target) for q in parsed]
        parts: list[str] = []
        if replace:
            parts.append("CLEAR SILENT DEFAULT" if graph is None
                         else f"CLEAR SILENT GRAPH <{graph}>")
        if graph is not None and not quads:
            parts.append(f"CREATE SILENT GRAPH <{graph}>")
        if quads:
            parts.append("INSERT DATA { " + _quads_block(quads) + " }")
        if parts:
            self.update(" ;\n".join(parts))

    def drop_graph(self, graph: str | None) -> bool:
        """Remove a named graph (or empty the default graph). False when it did not exist."""
        if graph is None:
            self._store.clear_graph(ox.DefaultGraph())
            return True
        node = ox.NamedNode(graph)
        if not self._store.contains_named_graph(node):
            return False
        self._store.remove_graph(node)
        return True

    def dump_graph(self, graph: str | None, format_name: str) -> bytes:
        """One graph serialised (default graph when None). :class:`UnwritableTerm` when
        the format cannot hold one of its terms.

        >>> store = KnowledgeStore.open(None)
        >>> store.update("INSERT DATA { <http://ex.org/s> <http://ex.org/p> "
        ...              '<<( <http://ex.org/a> <http://ex.org/b> "c" )>> }')
        >>> store.dump_graph(None, "jsonld")
        Traceback (most recent call last):
        ...
        kg.errors.UnwritableTerm: JSON-LD cannot hold the triple term <<( <http://ex.org/a> \
<http://ex.org/b> "c" )>>: JSON-LD 1.1 has no RDF 1.2 triple terms; formats that can: \
text/turtle, application/n-triples, application/n-quads, application/trig, application/rdf+xml
        """
        return _written(
            lambda: self._store.dump(format=_RDF[format_name], from_graph=_graph_term(graph),
                                     prefixes=PREFIXES),
            format_name,
            lambda: self._store.quads_for_pattern(None, None, None, _graph_term(graph)),
            "the store failed while reading the graph")

    def dump(self, output: IO[bytes] | str, format_name: str, *, graph: str | None = None,
             dataset: bool = False) -> None:
        """Stream a dump to a file: the whole dataset when ``dataset``, else one graph."""
        fmt = _RDF[format_name]
        kwargs: dict[str, Any] = {}
        if not dataset:
            kwargs["from_graph"] = _graph_term(graph)
        if format_name in ("turtle", "trig"):
            kwargs["prefixes"] = PREFIXES
        try:
            self._store.dump(output, fmt, **kwargs)
        except OSError as exc:
            raise StoreError(f"the store failed while dumping: {exc}") from exc

    # N-Triples-level access used by kg.ingest ------------------------------------
    def graph_triples(self, graph: str | None) -> Iterator[tuple[str, str, str]]:
        """Triples of one graph (default graph when None), terms in N-Triples syntax."""
        for q in self._store.quads_for_pattern(None, None, None, _graph_term(graph)):
            yield str(q.subject), str(q.predicate), str(q.object)

    def subjects(self, graph: str | None = None) -> Iterator[SubjectGroup]:
        """One graph's triples grouped by subject, in the store's (stable) index order."""
        yield from _by_subject(
            self._store.quads_for_pattern(None, None, None, _graph_term(graph)))

    def quad_lines(self, graph: str | None = None, *, all_graphs: bool = False) -> Iterator[str]:
        """N-Quads lines of one graph (N-Triples lines) or of every graph, store order."""
        pattern = None if all_graphs else _graph_term(graph)
        for q in self._store.quads_for_pattern(None, None, None, pattern):
            yield f"{q} .\n" if all_graphs else f"{q.triple} .\n"

    # sorted dumps (kg.output.export) -------------------------------------------------------
    def dump_default_graph(self, path: str | os.PathLike[str]) -> None:
        """Write the default graph as N-Triples to a file path (or a pipe's path), in the
        store's order. Oxigraph's own serialiser runs without the GIL, so other Python
        threads keep running meanwhile."""
        try:
            self._store.dump(os.fspath(path), ox.RdfFormat.N_TRIPLES, from_graph=ox.DefaultGraph())
        except OSError as exc:
            raise StoreError(f"the store failed while dumping: {exc}") from exc

    def graph_nquads(self, graph: str) -> bytes:
        """The N-Quads lines of one named graph, in the store's order (serialised by
        Oxigraph without the GIL).

        >>> store = KnowledgeStore.open(None)
        >>> store.load_graph(b'<http://ex.org/a> <http://ex.org/p> "x" .', "ntriples",
        ...                  "http://ex.org/g", replace=False)
        >>> store.graph_nquads("http://ex.org/g")
        b'<http://ex.org/a> <http://ex.org/p> "x" <http://ex.org/g> .\\n'
        """
        try:
            data = self._store.dump(None, ox.RdfFormat.N_TRIPLES, from_graph=ox.NamedNode(graph))
        except OSError as exc:
            raise StoreError(f"the store failed while dumping: {exc}") from exc
        assert data is not None  # no output file: the bytes are returned
        # N-Triples escapes line breaks inside terms: " .\n" ends a line and nothing else
        return data.replace(b" .\n", f" <{graph}> .\n".encode())

    @staticmethod
    def ntriples_to_turtle(blocks: Iterable[bytes], output: Writable,
                           on_subject: Callable[[SubjectGroup], None] | None = None) -> int:
        """Stream-convert subject-sorted N-Triples text (given in pieces of whole lines) to
        Turtle in ``output``, handing each subject's triples to ``on_subject`` on the way
        (one parse feeding both, e.g. the JSON-LD dump). Returns the number of triples."""
        count = 0
        current: Any = None
        pairs: list[tuple[str, TermTuple]] = []

        def triples() -> Iterator[ox.Triple]:
            nonlocal count, current, pairs
            for block in blocks:
                for q in ox.parse(block, ox.RdfFormat.N_TRIPLES):
                    count += 1
                    if on_subject is not None:
                        if current is None or q.subject != current:
                            if current is not None:
                                on_subject((_describe_term(current), pairs))
                            current, pairs = q.subject, []
                        pairs.append((q.predicate.value, _describe_term(q.object)))
                    yield q.triple
            if on_subject is not None and current is not None:
                on_subject((_describe_term(current), pairs))

        try:
            # pyoxigraph writes to any object with a binary write(); its stubs say IO[bytes]
            ox.serialize(triples(), output, ox.RdfFormat.TURTLE,  # type: ignore[arg-type]
                         prefixes=PREFIXES)
        except SyntaxError as exc:
            raise DataSyntaxError(str(exc)) from exc
        return count

    def remove_nquads(self, text: bytes) -> None:
        """Remove the quads of N-Quads text (absent ones are ignored), in one transaction."""
        try:
            quads = list(ox.parse(text, ox.RdfFormat.N_QUADS))
        except SyntaxError as exc:
            raise DataSyntaxError(str(exc)) from exc
        self._apply(quads, [])

    def __len__(self) -> int:
        """Quads in every graph (a scan of one index, without decoding terms)."""
        return len(self._store)

    @staticmethod
    def convert_file(source: str | os.PathLike[str], from_format: str, output: Writable,
                     to_format: str) -> None:
        """Stream-convert an RDF file (e.g. sorted N-Triples to Turtle) into ``output``."""
        try:
            triples = (q.triple for q in ox.parse(path=str(source), format=_RDF[from_format]))
            # pyoxigraph writes to any object with a binary write(); its stubs say IO[bytes]
            ox.serialize(triples, output, _RDF[to_format], prefixes=PREFIXES)  # type: ignore[arg-type]
        except SyntaxError as exc:
            raise DataSyntaxError(str(exc)) from exc

    @staticmethod
    def file_subjects(source: str | os.PathLike[str], from_format: str) -> Iterator[SubjectGroup]:
        """Triples of a subject-sorted RDF file grouped by subject (streaming)."""
        yield from _by_subject(ox.parse(path=str(source), format=_RDF[from_format]))

    def graphs_containing(self, triple: tuple[str, str, str]) -> list[str]:
        """IRIs of the named graphs holding a triple given in N-Triples syntax."""
        s, p, o = triple
        rows = self._store.query(f"SELECT ?g WHERE {{ GRAPH ?g {{ {s} {p} {o} }} }}")
        assert isinstance(rows, ox.QuerySolutions)
        return [r["g"].value for r in rows]

    def statements_about(self, subject: str, predicates: Iterable[str] | None = None,
                         ) -> Iterator[tuple[str, str, str | None]]:
        """(predicate, object, graph IRI or None for the default graph) of every quad whose
        subject is ``subject`` (an IRI term), in every graph: one index range, where a
        SPARQL pattern with a variable graph may scan far more. With ``predicates`` (IRI
        terms), only those: one narrower range each, and no term is built for the rest.

        >>> store = KnowledgeStore.open(None)
        >>> store.update('INSERT DATA { <http://ex.org/a> <http://ex.org/p> 1 . '
        ...              'GRAPH <http://ex.org/g> { <http://ex.org/a> <http://ex.org/p> 2 } }')
        >>> sorted(store.statements_about("<http://ex.org/a>"), key=str)
        [('<http://ex.org/p>', '"1"^^<http://www.w3.org/2001/XMLSchema#integer>', None), \
('<http://ex.org/p>', '"2"^^<http://www.w3.org/2001/XMLSchema#integer>', 'http://ex.org/g')]
        """
        node = ox.NamedNode(subject[1:-1])
        ranges = ([None] if predicates is None
                  else [ox.NamedNode(predicate[1:-1]) for predicate in predicates])
        for predicate in ranges:
            for q in self._store.quads_for_pattern(node, predicate, None, None):
                graph = q.graph_name
                yield (str(q.predicate), str(q.object),
                       graph.value if isinstance(graph, ox.NamedNode) else None)

    def objects(self, subject: str, predicate: str) -> Iterator[str]:
        """Objects (N-Triples syntax) of a subject and predicate in the default graph."""
        for q in self._store.quads_for_pattern(
            ox.NamedNode(subject[1:-1]), ox.NamedNode(predicate[1:-1]), None, ox.DefaultGraph()
        ):
            yield str(q.object)

    # low-level writes used by kg.ingest -----------------------------------------
    def load_nquads(self, text: str) -> None:
        """Add N-Quads atomically: all or nothing.

        Uses the bulk loader: pyoxigraph 0.5 sorts its input into SST files (one worker
        thread per batch of 1,000,000 quads) and ingests the files of every batch when
        the input ends, with one RocksDB ``IngestExternalFiles`` call across every index,
        an atomic operation (a load killed halfway leaves nothing). RocksDB's automatic
        compactions wait while a load runs and resume when it ends.
        """
        try:
            self._store.bulk_load(text.encode("utf-8"), ox.RdfFormat.N_QUADS)
        except SyntaxError as exc:
            raise DataSyntaxError(str(exc)) from exc
        except OSError as exc:
            raise StoreError(f"the store failed while writing: {exc}") from exc

    def load_nquads_file(self, path: str | os.PathLike[str]) -> None:
        """Add the N-Quads of a file atomically, as :meth:`load_nquads` does.

        The file is read by the loader itself, without the GIL: another thread keeps
        running meanwhile.
        """
        try:
            self._store.bulk_load(path=path, format=ox.RdfFormat.N_QUADS)
        except SyntaxError as exc:
            raise DataSyntaxError(str(exc)) from exc
        except OSError as exc:
            raise StoreError(f"the store failed while writing: {exc}") from exc

    def _apply(self, removals: list[ox.Quad], additions: list[ox.Quad],
               ensure_graph: str | None = None) -> None:
        """Remove then add quads in one transaction via a SPARQL update."""
        parts: list[str] = []
        if removals:
            parts.append("DELETE DATA { " + _quads_block(removals) + " }")
        if ensure_graph is not None and not additions:
            parts.append(f"CREATE SILENT GRAPH <{ensure_graph}>")
        if additions:
            parts.append("INSERT DATA { " + _quads_block(additions) + " }")
        if parts:
            self.update(" ;\n".join(parts))

    def lower_compaction_priority(self) -> int:
        """Run RocksDB's compactions at the lowest CPU priority from now on, as RocksDB's
        ``Env::LowerThreadPoolCPUPriority`` would (pyoxigraph does not expose it).

        A large ingest keeps every core busy, and compactions re-sorting what it has just
        loaded would take a third of them; at the lowest priority they use only the CPU
        the ingest leaves, and catch up when it ends (or at ``kg optimize``). Linux only;
        returns the number of compaction threads lowered (0 elsewhere, or for a store in
        memory, which has none).
        """
        lowered = 0
        tasks = Path("/proc/self/task")
        if self.path is None or not tasks.is_dir():
            return 0
        for task in tasks.iterdir():
            try:
                if not (task / "comm").read_text("utf-8").startswith("rocksdb:low"):
                    continue
                os.setpriority(os.PRIO_PROCESS, int(task.name), 19)
            except (OSError, ValueError):  # the thread ended, or not allowed: no matter
                continue
            lowered += 1
        return lowered

    def optimize(self) -> None:
        """Compact every index (RocksDB ``CompactRange``), e.g. before serving the store.

        A large ingest leaves recent data in many overlapping files (compactions wait
        while it runs, see :meth:`lower_compaction_priority`), which every scan of a
        read-only store goes through, and which a read-only store never compacts.
        """
        if self.read_only:
            raise StoreError("a store opened read-only cannot be compacted")
        try:
            self._store.optimize()
        except OSError as exc:
            raise StoreError(f"the store failed while compacting: {exc}") from exc

    def flush(self) -> None:
        if not self.read_only:
            self._store.flush()

    def backup(self, target: str | os.PathLike[str]) -> None:
        """A consistent copy of an on-disk store (hard links where possible)."""
        try:
            self._store.backup(str(target))
        except OSError as exc:
            raise StoreError(f"cannot back up the store to {target}: {exc}") from exc

    @staticmethod
    def convert(data: bytes, from_format: str, to_format: str,
                prefixes: dict[str, str] | None = None) -> bytes:
        """Re-serialise RDF data from one registered format to another."""
        try:
            return _written(
                lambda: ox.serialize((q.triple for q in ox.parse(data, _RDF[from_format])),
                                     None, _RDF[to_format], prefixes=prefixes or PREFIXES),
                to_format, lambda: ox.parse(data, _RDF[from_format]),
                f"cannot convert {from_format} to {to_format}")
        except SyntaxError as exc:
            raise DataSyntaxError(str(exc)) from exc

    @staticmethod
    def unwritable(data: bytes, from_format: str, to_format: str) -> UnwritableTerm | None:
        """The error for the first term of RDF ``data`` that ``to_format`` cannot hold,
        or None when it holds them all.

        >>> KnowledgeStore.unwritable(b'<http://ex.org/s> <http://ex.org/p> "a\\\\u000Cb" .',
        ...                           "ntriples", "rdfxml") is not None
        True
        """
        try:
            return first_unwritable(ox.parse(data, _RDF[from_format]), to_format)
        except SyntaxError as exc:
            raise DataSyntaxError(str(exc)) from exc

    @property
    def raw(self) -> ox.Store:
        """The pyoxigraph store, for kg's own modules (ingest, export) only."""
        return self._store


def _quads_block(quads: list[ox.Quad]) -> str:
    default: list[str] = []
    named: dict[str, list[str]] = {}
    for q in quads:
        line = f"{_nt(q.subject)} {q.predicate} {_nt(q.object)} ."
        if isinstance(q.graph_name, ox.DefaultGraph):
            default.append(line)
        else:
            named.setdefault(str(q.graph_name), []).append(line)
    blocks = default + [f"GRAPH {g} {{ {' '.join(lines)} }}" for g, lines in named.items()]
    return "\n".join(blocks)
