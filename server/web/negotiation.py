"""Content negotiation over the one format registry (:mod:`kg.output.formats`).

``Accept`` is read from werkzeug's parsed header with its q-values and wildcards; the
most specific matching range decides a media type's quality (RFC 9110 §12.5.1), so
``application/sparql-results+json;q=0, */*`` really excludes SPARQL JSON. A
``format=`` parameter (a format name, file extension or media type) overrides Accept;
``output=`` and ``results=``, the names Jena Fuseki also reads, are the same parameter.
Nothing acceptable is a 406 that lists what is offered. Every negotiated response
carries ``Vary: Accept``.

>>> from werkzeug.test import EnvironBuilder
>>> req = EnvironBuilder(headers={"Accept": "text/csv;q=0.5, text/*;q=0.1"}).get_request()
>>> negotiate(req, "results", default="json").format.name
'csv'
>>> negotiate(EnvironBuilder().get_request(), "rdf", default="turtle").media_type
'text/turtle'
>>> negotiate(req, "rdf", default="turtle", param=FormatParam("format", "nt")).content_type
'application/n-triples'
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import NamedTuple

from flask import Request, Response
from werkzeug.datastructures import MIMEAccept, MultiDict
from werkzeug.http import parse_accept_header

from kg.output.formats import RDF_FORMATS, RESULT_FORMATS, Format, by_extension, by_media_type
from server.web.errors import ApiError

KINDS = {"results": RESULT_FORMATS, "rdf": RDF_FORMATS}
KIND_LABELS = {"results": "a SELECT/ASK result", "rdf": "an RDF graph"}
#: other names clients use in format= (SPARQLWrapper sends its return format there)
FORMAT_ALIASES = {"rdf": {"xml": "rdfxml", "rdf+xml": "rdfxml", "json": "jsonld",
                          "json-ld": "jsonld", "n3": "turtle"}}


#: the query parameters that name the answer's format: ``format=``, and ``output=`` and
#: ``results=``, which Jena Fuseki reads as well (scripts written for it send them)
FORMAT_PARAMETERS = ("format", "output", "results")


class FormatParam(NamedTuple):
    """A format asked for in the request's parameters: the parameter's name and value."""

    name: str
    value: str


def format_param(params: MultiDict[str, str]) -> FormatParam | None:
    """The format the parameters ask for (:data:`FORMAT_PARAMETERS`), None when they ask
    for none (empty values are none); a 400 when two of them ask for different ones.

    >>> format_param(MultiDict([("query", "ASK {}"), ("output", "xml")]))
    FormatParam(name='output', value='xml')
    >>> format_param(MultiDict([("format", "CSV"), ("results", "csv")])).name
    'format'
    >>> format_param(MultiDict([("format", "json"), ("output", "xml")]))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    server.web.errors.ApiError: format=json and output=xml ask for different formats: ...
    """
    given = [FormatParam(name, value) for name in FORMAT_PARAMETERS
             if (value := (params.get(name) or "").strip())]
    if not given:
        return None
    first = given[0]
    for other in given[1:]:
        if other.value.lower() != first.value.lower():
            raise ApiError(400, f"{first.name}={first.value} and {other.name}={other.value} "
                           "ask for different formats: output= and results= are other "
                           "names of format=, give one of them")
    return first


@dataclass(frozen=True)
class Choice:
    """The negotiated format and the media type to answer with."""

    format: Format
    media_type: str

    @property
    def content_type(self) -> str:
        """The Content-Type header: UTF-8 spelled out for text/* types."""
        if self.media_type.startswith("text/"):
            return self.media_type + "; charset=utf-8"
        return self.media_type


def offered(kind: str, default: str | None = None) -> list[Format]:
    """The formats of a kind, the default first (the server's preference order)."""
    formats = list(KINDS[kind].values())
    if default is not None:
        formats.sort(key=lambda f: f.name != default)
    return formats


def offered_media_types(kind: str) -> list[str]:
    return [mt for f in offered(kind) for mt in f.media_types]


def not_acceptable_message(kind: str) -> str:
    return (f"none of the media types in Accept can hold {KIND_LABELS[kind]}; offered: "
            + ", ".join(offered_media_types(kind)))


def format_from_param(value: str, kind: str, name: str = "format") -> Format:
    """The format a ``format=`` value names: name, extension or media type (``name``:
    the parameter that gave it, for the error messages).

    >>> format_from_param("srj", "results").name, format_from_param("text/turtle", "rdf").name
    ('json', 'turtle')
    >>> format_from_param("xml", "rdf").name
    'rdfxml'
    """
    value = value.strip()
    fmt = (KINDS[kind].get(value.lower()) or by_extension(value, kind)
           or by_media_type(value, kind))
    if fmt is None and value.lower() in FORMAT_ALIASES.get(kind, {}):
        fmt = KINDS[kind][FORMAT_ALIASES[kind][value.lower()]]
    if fmt is not None:
        return fmt
    other = next((k for k in KINDS if k != kind and (
        KINDS[k].get(value.lower()) or by_extension(value, k) or by_media_type(value, k))), None)
    if other is not None:
        raise ApiError(406, f"{name}={value} cannot hold {KIND_LABELS[kind]}; offered: "
                       + ", ".join(f.name for f in offered(kind)))
    raise ApiError(400, f"unknown {name}={value}; known formats: "
                   + ", ".join(f.name for f in offered(kind)))


def _accept(req: Request) -> str | None:
    """The raw Accept header: what every decision here depends on (and is cached by)."""
    return req.headers.get("Accept")


@lru_cache(maxsize=256)
def _ranges(accept: str | None) -> tuple[tuple[str, str, float], ...]:
    """The media ranges of an Accept header, parsed as ``request.accept_mimetypes`` is.

    Clients send few distinct headers, so parsed headers (and the decisions below) are
    kept, at most 256 of each (a client sending many distinct ones only evicts).
    """
    ranges = []
    for value, quality in parse_accept_header(accept, MIMEAccept):
        media = value.split(";", 1)[0].strip().lower()
        main, _, sub = media.partition("/")
        ranges.append((main, sub or "*", float(quality)))
    return tuple(ranges)


def _quality(ranges: Sequence[tuple[str, str, float]], media_type: str) -> tuple[int, float]:
    """(specificity, quality) of the most specific range matching a media type."""
    main, _, sub = media_type.partition("/")
    best: tuple[int, float] = (-1, 0.0)
    for rmain, rsub, q in ranges:
        if rmain == main and rsub == sub:
            spec = 2
        elif rmain == main and rsub == "*":
            spec = 1
        elif rmain == "*":
            spec = 0
        else:
            continue
        if spec > best[0] or (spec == best[0] and q > best[1]):
            best = (spec, q)
    return best


def negotiate(req: Request, kind: str, *, default: str,
              param: FormatParam | None = None) -> Choice:
    """The format to answer with, from ``param`` (:func:`format_param`) or else Accept;
    406 if none."""
    return negotiate_header(_accept(req), kind, default=default, param=param)


def negotiate_header(accept: str | None, kind: str, *, default: str,
                     param: FormatParam | None = None) -> Choice:
    """:func:`negotiate` from the raw Accept header (no request object needed)."""
    if param:
        fmt = format_from_param(param.value, kind, param.name)
        return Choice(fmt, fmt.media_type)
    return _negotiate_accept(accept, kind, default)


@lru_cache(maxsize=256)
def _negotiate_accept(accept: str | None, kind: str, default: str) -> Choice:
    ranges = _ranges(accept)
    formats = offered(kind, default)
    if not ranges:
        fmt = formats[0]
        return Choice(fmt, fmt.media_type)
    best: tuple[float, int] = (0.0, -1)
    choice: Choice | None = None
    for fmt in formats:
        per_type = [(_quality(ranges, mt), mt) for mt in fmt.media_types]
        (spec, q), media = max(per_type, key=lambda item: item[0])
        if spec < 0 or q <= 0:
            continue
        if spec < 2:
            media = fmt.media_type
        if (q, spec) > best:
            best, choice = (q, spec), Choice(fmt, media)
    if choice is None:
        raise ApiError(406, not_acceptable_message(kind))
    return choice


def prefers_html(req: Request, kind: str) -> bool:
    """True when the client names text/html and likes it at least as much as any format.

    Browsers do; SPARQL clients and ``*/*`` do not.

    >>> from werkzeug.test import EnvironBuilder
    >>> browser = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
    >>> prefers_html(EnvironBuilder(headers={"Accept": browser}).get_request(), "results")
    True
    >>> prefers_html(EnvironBuilder(headers={"Accept": "*/*"}).get_request(), "results")
    False
    """
    return prefers_html_header(_accept(req), kind)


@lru_cache(maxsize=256)
def prefers_html_header(accept: str | None, kind: str) -> bool:
    """:func:`prefers_html` from the raw Accept header."""
    ranges = _ranges(accept)
    spec, q_html = _quality(ranges, "text/html")
    if spec < 2 or q_html <= 0:
        return False
    return all(_quality(ranges, mt)[1] <= q_html or _quality(ranges, mt)[0] < 2
               for mt in offered_media_types(kind))


def add_vary(response: Response, *fields: str) -> Response:
    """Add fields to Vary without repeating any (names compare case-insensitively).

    >>> r = Response(headers={"Vary": "Origin"})
    >>> add_vary(add_vary(r, "Accept", "origin"), "Accept", "Accept-Encoding").headers["Vary"]
    'Origin, Accept, Accept-Encoding'
    """
    current = response.headers.get("Vary", "")
    present = {v.strip().lower() for v in current.split(",") if v.strip()}
    added = []
    for name in fields:
        if name.lower() not in present:
            added.append(name)
            present.add(name.lower())
    if added:
        response.headers["Vary"] = ", ".join([current.strip()] + added if current.strip()
                                             else added)
    return response
