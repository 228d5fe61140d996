"""SPARQL text as tokens: the one tokenizer for what reads a query before the engine does.

It follows SPARQL's lexical rules (strings and long strings, IRIs, comments, prefixed
names with their escapes, variables, blank nodes, numbers, RDF-star brackets), enough
for the server's checks (query form, SERVICE and LOAD references, what may be cached,
USING clauses: :mod:`server.sparql.text`) and for readable syntax errors
(:mod:`kg.sparql_errors`). A quote that opens a string never closed is a token of its
own (``openstring``), so that both can point at it.

>>> [(t.kind, t.text) for t in tokens('ASK { <a#b> ex:p "x # y" } # note')]
[('word', 'ASK'), ('punct', '{'), ('iri', '<a#b>'), ('pname', 'ex:p'), ('string', '"x # y"'), \
('punct', '}')]
>>> [(t.kind, t.text) for t in tokens('SELECT * { ?s ?p "open')][-2:]
[('openstring', '"'), ('word', 'open')]
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import NamedTuple


class Token(NamedTuple):
    kind: str  # iri, pname, var, string, openstring, bnode, number, word, punct
    text: str
    start: int
    end: int


_TOKEN = re.compile(r"""
      (?P<space>\s+)
    | (?P<comment>\#[^\n\r]*)
    | (?P<string>\"\"\"(?:[^"\\]|\\.|"(?!""))*\"\"\"
                | '''(?:[^'\\]|\\.|'(?!''))*'''
                | "(?:[^"\\\n\r]|\\.)*"
                | '(?:[^'\\\n\r]|\\.)*')
    | (?P<openstring>\"\"\"|'''|["'])
    | (?P<iri><[^<>"{}|^`\\\x00-\x20]*>)
    | (?P<var>[?$][\w\u00b7\u0300-\u036f\u203f-\u2040]+)
    | (?P<bnode>_:[\w.\-\u00b7]*)
    | (?P<pname>(?:[^\W\d_][\w.\-]*)?:
                (?:[\w.:\-\u00b7]|%[0-9A-Fa-f]{2}|\\[_~.\-!$&'()*+,;=/?\#@%])*)
    | (?P<number>\d+(?:\.\d*)?(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?)
    | (?P<word>[^\W\d][\w\-]*)
    | (?P<punct><<\(|\)>>|\^\^|<<|>>|.)
""", re.VERBOSE | re.DOTALL)

_CODEPOINT = re.compile(r"\\u([0-9A-Fa-f]{4})|\\U([0-9A-Fa-f]{8})")


def decode_codepoints(text: str) -> str:
    r"""Decode ``\uXXXX``/``\UXXXXXXXX`` escapes, which SPARQL allows anywhere.

    >>> decode_codepoints(r"\u0053ERVICE")
    'SERVICE'
    """
    def one(m: re.Match[str]) -> str:
        code = int(m.group(1) or m.group(2), 16)
        return chr(code) if code <= 0x10FFFF else m.group(0)
    if "\\" not in text:
        return text
    return _CODEPOINT.sub(one, text)


def tokens(text: str) -> Iterator[Token]:
    """Significant tokens (no whitespace or comments) of a SPARQL text."""
    for m in _TOKEN.finditer(text):
        kind = m.lastgroup or "punct"
        if kind in ("space", "comment"):
            continue
        value = m.group()
        if kind == "pname" and value.endswith("."):
            # a local name never ends with '.'; the dot ends the triple
            stripped = value.rstrip(".")
            yield Token(kind, stripped, m.start(), m.start() + len(stripped))
            for i in range(m.start() + len(stripped), m.end()):
                yield Token("punct", ".", i, i + 1)
            continue
        yield Token(kind, value, m.start(), m.end())
