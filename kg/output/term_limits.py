"""Terms a format cannot hold, and the error that says so.

XML 1.0 has no way to write the C0 controls other than tab, LF and CR (not even as
character references), nor U+FFFE and U+FFFF, so RDF/XML and SPARQL XML results
cannot hold a literal with one. RDF/XML writes a predicate as an element name, a
namespace and an XML local name (an NCName), so a predicate IRI without an NCName at
its end (``http://ex.org/p/``, ``http://ex.org/123``), or one of RDF/XML's own syntax
names, cannot be written at all. JSON-LD 1.1 has no RDF 1.2 triple terms. Unpaired
surrogates never reach a writer: the engine's strings are Unicode scalar values.

Rather than write a body no parser accepts, or change the value, a writer raises
:class:`UnwritableTerm`, which names the term and the formats that can hold it (the
server answers 406).

>>> xml_char_fault("a\\x0cb"), xml_char_fault("tab\\tok")
('U+000C', None)
>>> rdfxml_predicate_fault("http://ex.org/p/"), rdfxml_predicate_fault("http://ex.org/p1")
('it does not end in an XML name (a letter or _ followed by name characters)', None)
>>> str(cannot_hold("xml", "the literal " + shown('"a\\x01b"'), "XML 1.0 has no character U+0001"))
'SPARQL XML cannot hold the literal "a\\\\u0001b": XML 1.0 has no character U+0001; \
formats that can: application/sparql-results+json, text/csv, text/tab-separated-values'
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from kg.errors import UnwritableTerm
from kg.output.formats import RDF_FORMATS, RESULT_FORMATS

#: characters XML 1.0 cannot hold, even as character references
XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
RDF_NS = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
#: RDF/XML's syntax names, which its grammar does not allow as property elements
#: (coreSyntaxTerms, rdf:Description, rdf:li and the oldTerms)
RDFXML_RESERVED = frozenset(RDF_NS + name for name in (
    "RDF", "ID", "about", "parseType", "resource", "nodeID", "datatype", "Description",
    "li", "aboutEach", "aboutEachPrefix", "bagID"))

_NAME_START = ("A-Z_a-z\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u02ff\u0370-\u037d\u037f-\u1fff"
               "\u200c\u200d\u2070-\u218f\u2c00-\u2fef\u3001-\ud7ff\uf900-\ufdcf\ufdf0-\ufffd"
               "\U00010000-\U000effff")
_NAME_CHAR = _NAME_START + "\\-.0-9\u00b7\u0300-\u036f\u203f\u2040"
#: the XML local name RDF/XML can split off the end of an IRI
_LOCAL_NAME = re.compile(f"[{_NAME_START}][{_NAME_CHAR}]*\\Z")
_NAME_CHARS_AT_END = re.compile(f"[{_NAME_CHAR}]*\\Z")
_SHOWN = 120


def xml_char_fault(text: str) -> str | None:
    """The first character of ``text`` XML 1.0 cannot hold, as ``U+XXXX``, or None."""
    found = XML_ILLEGAL.search(text)
    return None if found is None else f"U+{ord(found.group()):04X}"


def rdfxml_predicate_fault(iri: str) -> str | None:
    """Why RDF/XML cannot write ``iri`` as a predicate, or None when it can.

    The local name is the longest NCName at the end of the IRI (what Oxigraph's and
    rdflib's writers split off).

    >>> rdfxml_predicate_fault("http://ex.org/123") is not None
    True
    >>> rdfxml_predicate_fault("http://ex.org/-a"), rdfxml_predicate_fault("urn:x")
    (None, None)
    >>> rdfxml_predicate_fault(RDF_NS + "li")
    'it is one of the syntax names of RDF/XML'
    """
    if iri in RDFXML_RESERVED:
        return "it is one of the syntax names of RDF/XML"
    tail = _NAME_CHARS_AT_END.search(iri)
    run = tail.group() if tail else ""
    if not any(_LOCAL_NAME.match(run, i) for i in range(len(run))):
        return "it does not end in an XML name (a letter or _ followed by name characters)"
    return None


def shown(text: str) -> str:
    r"""``text`` (a term in N-Triples syntax) fit for a message: control characters
    escaped, long values shortened.

    >>> shown('"a\x0cb"'), shown('"' + "x" * 200 + '"')[-4:]
    ('"a\\u000Cb"', 'xx…"')
    """
    text = re.sub("[\x00-\x1f\x7f\ufffe\uffff]", lambda m: f"\\u{ord(m.group()):04X}", text)
    if len(text) > _SHOWN:
        text = text[:_SHOWN - 2] + "…" + text[-1]
    return text


def cannot_hold(format_name: str, what: str, reason: str,
                can: Iterable[str] | None = None) -> UnwritableTerm:
    """The error for a term (``what`` names it, e.g. ``the literal "x"``) that the
    format ``format_name`` cannot hold; ``can`` names the formats that can (default:
    every other format of the same kind)."""
    formats = RDF_FORMATS if format_name in RDF_FORMATS else RESULT_FORMATS
    names = [name for name in formats if name != format_name] if can is None else list(can)
    media = ", ".join(formats[name].media_type for name in names)
    label = formats[format_name].label.split(" (")[0]
    return UnwritableTerm(f"{label} cannot hold {what}: {reason}; "
                          f"formats that can: {media}", format_name)
