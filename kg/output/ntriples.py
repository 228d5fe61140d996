"""RDF terms written directly in N-Triples syntax.

The mapper emits terms as N-Triples strings: they are what the store loads, what
SPARQL DATA blocks accept, and they compare exactly (one canonical form per term).

>>> iri("https://schema.org/name")
'<https://schema.org/name>'
>>> literal('say "hi"\\\\ é')
'"say \\\\"hi\\\\"\\\\\\\\ é"'
>>> typed(3, XSD_INTEGER)
'"3"^^<http://www.w3.org/2001/XMLSchema#integer>'
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable

XSD = "http://www.w3.org/2001/XMLSchema#"
XSD_INTEGER = XSD + "integer"
XSD_DECIMAL = XSD + "decimal"
XSD_DATE = XSD + "date"
XSD_DATETIME = XSD + "dateTime"
XSD_BOOLEAN = XSD + "boolean"

Triple = tuple[str, str, str]
#: a triple and its graph (an IRI term, None for the default graph)
Quad = tuple[Triple, str | None]

_ESCAPES = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t",
            "\b": "\\b", "\f": "\\f"}
_NEEDS_ESCAPE = re.compile(r'["\\\x00-\x1f\x7f]')
#: the UTF-8 bytes of the control characters among _NEEDS_ESCAPE
_CONTROL_BYTES = bytes([*range(0x20), 0x7F])
# characters an IRI reference may not contain (RFC 3987 / N-Triples IRIREF)
_BAD_IRI = re.compile(r'[\x00-\x20<>"{}|^`\\]')
# RFC 3987 absolute IRIs (a "%" is checked by _BAD_PERCENT)
_UCSCHAR = ("\u00a0-\ud7ff\uf900-\ufdcf\ufdf0-\uffef"
            + "".join(f"{chr(plane << 16)}-{chr((plane << 16) + 0xFFFD)}" for plane in range(1, 14))
            + "\U000e1000-\U000efffd")
_IPRIVATE = "\ue000-\uf8ff\U000f0000-\U000ffffd\U00100000-\U0010fffd"
_UNRESERVED = "A-Za-z0-9._~\\-" + _UCSCHAR
_SUB_DELIMS = "!$&'()*+,;="
_PCHARS = _UNRESERVED + _SUB_DELIMS + ":@%"
_IRI = re.compile(
    r"[A-Za-z][A-Za-z0-9+.\-]*:"
    rf"(?://(?:[{_UNRESERVED}{_SUB_DELIMS}:%]*@)?"
    rf"(?P<host>\[[0-9A-Fa-f:.]+\]|[{_UNRESERVED}{_SUB_DELIMS}%]*)(?::[0-9]*)?"
    rf"(?:/[{_PCHARS}/]*)?"
    rf"|(?!//)[{_PCHARS}/]*)"
    rf"(?:\?[{_PCHARS}{_IPRIVATE}/?]*)?"
    rf"(?:#[{_PCHARS}/?]*)?"
)
_BAD_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")


def _escape_char(match: re.Match[str]) -> str:
    c = match.group(0)
    return _ESCAPES.get(c) or f"\\u{ord(c):04X}"


def iri(value: str) -> str:
    """An IRI term. Raises ValueError for characters no IRI may hold."""
    if _BAD_IRI.search(value):
        raise ValueError(f"not a valid IRI: {value!r}")
    return f"<{value}>"


def is_valid_iri(value: str) -> bool:
    """True when ``value`` is an absolute IRI (RFC 3987) we can write: the store refuses
    anything else, and one refused term fails a whole write.

    >>> is_valid_iri("https://github.com/a/b"), is_valid_iri("https://x/a b")
    (True, False)
    >>> is_valid_iri("https://github.com/a%zz"), is_valid_iri("https://github.com:abc/x")
    (False, False)
    """
    match = _IRI.fullmatch(value)
    if match is None or _BAD_PERCENT.search(value):
        return False
    host = match["host"]
    if host is not None and host.startswith("["):
        try:
            ipaddress.IPv6Address(host[1:-1])
        except ValueError:
            return False
    return True


def literal(value: str) -> str:
    """A plain string literal (xsd:string), kept exactly.

    >>> print(literal('$\\\\mathcal{A}$ "q" é'))
    "$\\\\mathcal{A}$ \\"q\\" é"
    >>> print(literal('a\\tb\\x01\\x7f\\n'))
    "a\\tb\\u0001\\u007F\\n"
    """
    # fast path: most literals hold no control character, which a delete-translate of the
    # UTF-8 bytes tells several times faster than a regular expression scan (in UTF-8 these
    # bytes stand only for themselves); then only quotes and backslashes are escaped
    encoded = value.encode("utf-8", "surrogatepass")
    if len(encoded.translate(None, _CONTROL_BYTES)) == len(encoded):
        if "\\" in value:
            value = value.replace("\\", "\\\\")
        if '"' in value:
            value = value.replace('"', '\\"')
        return f'"{value}"'
    return '"' + _NEEDS_ESCAPE.sub(_escape_char, value) + '"'


def typed(value: object, datatype: str) -> str:
    """A typed literal; booleans are written 'true'/'false'."""
    text = ("true" if value else "false") if isinstance(value, bool) else str(value)
    return f"{literal(text)}^^<{datatype}>"


def quad_line(triple: Triple, graph: str | None) -> str:
    """One N-Quads line (``graph`` an IRI term, None for the default graph)."""
    s, p, o = triple
    return f"{s} {p} {o} {graph} .\n" if graph else f"{s} {p} {o} .\n"


def data_block(quads: Iterable[Quad]) -> str:
    """Quads as the body of a SPARQL ``INSERT DATA``/``DELETE DATA`` block (GRAPH groups
    for named graphs).

    >>> print(data_block([(("<s>", "<p>", "1"), None), (("<s>", "<p>", "2"), "<g>")]), end="")
    <s> <p> 1 .
    GRAPH <g> {
    <s> <p> 2 .
    }
    """
    default: list[str] = []
    named: dict[str, list[str]] = {}
    for (s, p, o), graph in quads:
        (default if graph is None else named.setdefault(graph, [])).append(f"{s} {p} {o} .")
    out = "\n".join(default)
    for graph, triples in named.items():
        out += f"\nGRAPH {graph} {{\n" + "\n".join(triples) + "\n}"
    return out + "\n"
