"""SPARQL syntax errors that a person can read: line, column, the line with a caret,
and one sentence saying what is wrong.

The engine's parser reports where it gave up and every alternative it tried
(``error at 1:27: expected one of ...``, hundreds of bytes of character classes).
:func:`explain` looks at the text itself for the usual mistakes (an undeclared prefix,
a misspelt query form, a bracket never closed, a string never ended) and otherwise
keeps the parser's position with a short list of what could come there.

>>> print(explain("SELECT ?s WHERE { ?s ex:p ?o }", "error at 1:27: expected OPTIONAL"))
line 1, column 22: prefix `ex:` is not declared (add PREFIX ex: <...> before the query)
  1 | SELECT ?s WHERE { ?s ex:p ?o }
    |                      ^
>>> explain("SELEC ?s WHERE { ?s ?p ?o }", "error at 1:10: expected CONSTRUCT").cause
'expected SELECT, CONSTRUCT, ASK or DESCRIBE, found `SELEC`'
"""

from __future__ import annotations

import re
from typing import NamedTuple

from kg.sparql_tokens import tokens

_POSITION = re.compile(r"error at (\d+):(\d+): ?(.*)", re.DOTALL)
_QUOTED = re.compile(r'"((?:[^"\\]|\\.)+)"')

QUERY_FORMS = ("SELECT", "CONSTRUCT", "ASK", "DESCRIBE")
UPDATE_OPERATIONS = ("INSERT", "DELETE", "LOAD", "CLEAR", "CREATE", "DROP", "COPY", "MOVE",
                     "ADD", "WITH")
_PAIRS = {"{": "}", "(": ")", "[": "]"}
_WIDTH = 100  # longest piece of a line quoted under the message


class SyntaxProblem(NamedTuple):
    """Where a SPARQL text stops being SPARQL (1-based line and column), and why."""

    line: int
    column: int
    cause: str
    excerpt: str  # the offending line and a caret under the column

    def __str__(self) -> str:
        return f"line {self.line}, column {self.column}: {self.cause}\n{self.excerpt}"


def _line_col(text: str, offset: int) -> tuple[int, int]:
    line = text.count("\n", 0, offset) + 1
    return line, offset - (text.rfind("\n", 0, offset) + 1) + 1


def excerpt(text: str, line: int, column: int) -> str:
    r"""The line ``line`` of ``text`` with a caret under ``column`` (long lines cut).

    >>> print(excerpt("ASK {\n  ?s ?p\n}", 2, 6))
      2 |   ?s ?p
        |      ^
    """
    lines = text.split("\n")
    content = lines[line - 1].rstrip("\r") if 0 < line <= len(lines) else ""
    index = max(column - 1, 0)
    start = max(0, index - _WIDTH // 2) if len(content) > _WIDTH else 0
    shown = content[start:start + _WIDTH]
    lead = "..." if start else ""
    tail = "..." if start + _WIDTH < len(content) else ""
    # the caret lines up under tabs as well as spaces
    pad = "".join("\t" if c == "\t" else " " for c in shown[:index - start])
    number = str(line)
    return (f"  {number} | {lead}{shown}{tail}\n"
            f"  {' ' * len(number)} | {' ' * len(lead)}{pad}^")


def _tokens(text: str) -> list[tuple[str, str, int]]:
    return [(t.kind, t.text, t.start) for t in tokens(text)]


def _problem(text: str, offset: int, cause: str) -> SyntaxProblem:
    line, column = _line_col(text, offset)
    return SyntaxProblem(line, column, cause, excerpt(text, line, column))


def _from_text(text: str, update: bool) -> SyntaxProblem | None:
    toks = _tokens(text)
    if not toks:
        what = "an update operation" if update else "SELECT, CONSTRUCT, ASK or DESCRIBE"
        return _problem(text, len(text), f"the text is empty; expected {what}")
    for kind, value, start in toks:
        if kind == "openstring":
            return _problem(text, start, f"the string opened by `{value}` is never closed")
    # the prologue, then the query form
    declared: set[str] = set()
    i = 0
    while i < len(toks) and toks[i][0] == "word" and toks[i][1].upper() in ("PREFIX", "BASE"):
        if toks[i][1].upper() == "PREFIX":
            if i + 1 < len(toks) and toks[i + 1][0] == "pname" and toks[i + 1][1].endswith(":"):
                declared.add(toks[i + 1][1][:-1])
            i += 3
        else:
            i += 2
    if not update and i < len(toks):
        kind, value, start = toks[i]
        if not (kind == "word" and value.upper() in QUERY_FORMS):
            return _problem(text, start,
                            f"expected SELECT, CONSTRUCT, ASK or DESCRIBE, found `{value}`")
    for j, (kind, value, start) in enumerate(toks):
        if kind != "pname":
            continue
        previous = toks[j - 1][1].upper() if j else ""
        if previous == "PREFIX":
            declared.add(value.partition(":")[0])  # later declarations (updates)
            continue
        prefix = value.partition(":")[0]
        if j and toks[j - 1][1] == "<" and toks[j - 1][2] == start - 1:
            continue  # inside an IRI with a space: the parser's message says so
        if prefix not in declared:
            return _problem(text, start, f"prefix `{prefix}:` is not declared "
                                         f"(add PREFIX {prefix}: <...> before the query)")
    opened: list[tuple[str, int]] = []
    for kind, value, start in toks:
        if kind != "punct":
            continue
        if value in _PAIRS:
            opened.append((value, start))
        elif value in _PAIRS.values():
            if not opened or _PAIRS[opened[-1][0]] != value:
                return _problem(text, start, f"`{value}` closes nothing that is open here")
            opened.pop()
    if opened:
        value, start = opened[-1]
        return _problem(text, start,
                        f"`{value}` is never closed (expected `{_PAIRS[value]}` later)")
    return None


_EXOTIC = frozenset({"{|", "~", "<<(", ")>>", "<<", ">>", "\\'", '\\"'})


def _expected(raw: str) -> str:
    """The punctuation among the parser's alternatives (its keyword and character-class
    alternatives say more about the parser than about the mistake).

    >>> _expected('expected one of ",", ".", "}", "~", [_]')
    '`,`, `.`, `}`'
    """
    quoted = [q for q in _QUOTED.findall(raw) if len(q) <= 3 and q not in _EXOTIC]
    return ", ".join(dict.fromkeys(f"`{q}`" for q in quoted))


def explain(text: str, raw: str, *, update: bool = False) -> SyntaxProblem:
    """A readable account of the parser error ``raw`` about ``text``.

    >>> print(explain("ASK { ?s ?p ?o", "error at 1:15: expected one of ..."))
    line 1, column 5: `{` is never closed (expected `}` later)
      1 | ASK { ?s ?p ?o
        |     ^
    >>> explain("ASK { ?s <http://a b> ?o }", "error at 1:18: expected IRI parsing failed").cause
    'this IRI is not valid (spaces and <>"{}|^` are not allowed in IRIs)'
    """
    found = _from_text(text, update)
    if found is not None:
        return found
    m = _POSITION.match(raw.strip())
    if m is None:
        return SyntaxProblem(1, 1, raw.strip() or "not valid SPARQL", excerpt(text, 1, 1))
    line, column = int(m.group(1)), int(m.group(2))
    detail = m.group(3)
    if "IRI parsing failed" in detail:
        iri_start = text.rfind("<", 0, _offset(text, line, column))
        if iri_start != -1:
            line, column = _line_col(text, iri_start)
        cause = 'this IRI is not valid (spaces and <>"{}|^` are not allowed in IRIs)'
    elif "unbound" in detail:
        cause = "the SELECT clause names a variable the query does not bind"
    else:
        offset = _offset(text, line, column)
        options = _expected(detail)
        expected = f"; expected {options}" if options and len(options) < 120 else ""
        following = _tokens(text[offset:])
        before = _tokens(text[:offset])
        if following:
            cause = f"the query does not parse at `{following[0][1]}`{expected}"
        elif expected or not before:
            cause = f"the query ends too early{expected}"
        else:
            # the parser read to the end: the last token is where it went wrong
            last = before[-1]
            line, column = _line_col(text, last[2])
            cause = f"the query does not parse at `{last[1]}`"
    return SyntaxProblem(line, column, cause, excerpt(text, line, column))


def _offset(text: str, line: int, column: int) -> int:
    starts = [0] + [m.end() for m in re.finditer("\n", text)]
    if line - 1 >= len(starts):
        return len(text)
    return min(starts[line - 1] + column - 1, len(text))
