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

import difflib
import re
import unicodedata
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
                            f"expected SELECT, CONSTRUCT, ASK or DESCRIBE, found {_shown(value)}")
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
            if not opened:
                return _problem(text, start, f"`{value}` closes nothing that is open here")
            opener, at = opened[-1]
            if _PAIRS[opener] != value:  # e.g. FILTER( ... } : the `(` is the mistake
                line, column = _line_col(text, start)
                return _problem(text, at, f"`{opener}` is never closed: `{value}` at line "
                                          f"{line}, column {column} comes before its "
                                          f"`{_PAIRS[opener]}`")
            opened.pop()
    if opened:
        value, start = opened[-1]
        return _problem(text, start,
                        f"`{value}` is never closed (expected `{_PAIRS[value]}` later)")
    return None


def _shown(value: str) -> str:
    """A token as a message quotes it; invisible characters by their code point.

    >>> _shown("SELEC"), _shown("\ufeff")
    ('`SELEC`', 'U+FEFF (a byte order mark: remove it)')
    """
    if value and all(unicodedata.category(c) in ("Cf", "Cc", "Zs", "Co", "Cn") for c in value):
        names = ", ".join(f"U+{ord(c):04X}" for c in value)
        return names + (" (a byte order mark: remove it)" if value == "\ufeff" else
                        " (an invisible character)")
    return f"`{value}`"


#: SPARQL 1.1 and 1.2 keywords and built-in function names (upper case)
KEYWORDS = frozenset("""
    BASE PREFIX VERSION SELECT CONSTRUCT DESCRIBE ASK DISTINCT REDUCED AS FROM NAMED WHERE
    GROUP BY HAVING ORDER ASC DESC LIMIT OFFSET VALUES UNDEF OPTIONAL UNION MINUS GRAPH
    SERVICE SILENT BIND FILTER EXISTS NOT IN A TRUE FALSE LATERAL LOAD CLEAR DROP CREATE
    ADD MOVE COPY TO INSERT DELETE DATA WITH USING DEFAULT ALL INTO SEPARATOR
    STR LANG LANGMATCHES DATATYPE BOUND IRI URI BNODE RAND ABS CEIL FLOOR ROUND CONCAT
    STRLEN UCASE LCASE ENCODE_FOR_URI CONTAINS STRSTARTS STRENDS STRBEFORE STRAFTER YEAR
    MONTH DAY HOURS MINUTES SECONDS TIMEZONE TZ NOW UUID STRUUID MD5 SHA1 SHA256 SHA384
    SHA512 COALESCE IF STRLANG STRDT SAMETERM ISIRI ISURI ISBLANK ISLITERAL ISNUMERIC
    REGEX SUBSTR REPLACE COUNT SUM MIN MAX AVG SAMPLE GROUP_CONCAT TRIPLE SUBJECT
    PREDICATE OBJECT ISTRIPLE LANGDIR STRLANGDIR HASLANG HASLANGDIR ADJUST
""".split())
AGGREGATES = ("COUNT", "SUM", "MIN", "MAX", "AVG", "SAMPLE", "GROUP_CONCAT")


def _unknown_word(text: str, offset: int) -> SyntaxProblem | None:
    """The last bare word before where the parser stopped, when it is no SPARQL keyword
    or function (a misspelt LIMIT, OPTIONAL, CONTAINS...), with the nearest one.

    >>> _unknown_word("SELECT * WHERE { ?s ?p ?o } LIMT 10", 34).cause
    '`LIMT` is not a SPARQL keyword or function (did you mean `LIMIT`?)'
    """
    before = [t for t in tokens(text) if t.end <= offset]  # whole tokens: no cut strings
    words = [i for i, t in enumerate(before) if t.kind == "word"]
    if not words:
        return None
    token = before[words[-1]]
    if words[-1] and before[words[-1] - 1].text == "@":
        return None  # a language tag
    if token.text.upper() in KEYWORDS:
        return None
    near = difflib.get_close_matches(token.text.upper(), sorted(KEYWORDS), n=1, cutoff=0.75)
    hint = f" (did you mean `{near[0]}`?)" if near else ""
    return _problem(text, token.start,
                    f"`{token.text}` is not a SPARQL keyword or function{hint}")


def _ungrouped(text: str) -> SyntaxProblem | None:
    """A variable the SELECT clause projects beside an aggregate (or with GROUP BY)
    that GROUP BY does not name: the engine's "unbound variable" in a grouped query.

    >>> _ungrouped("SELECT ?s (COUNT(?o) AS ?n) WHERE { ?s ?p ?o }").cause.split(":")[0]
    '`?s` is neither grouped nor aggregated'
    """
    toks = list(tokens(text))
    upper = [t.text.upper() if t.kind == "word" else t.text for t in toks]
    if "SELECT" not in upper:
        return None
    start = upper.index("SELECT") + 1
    depth, projected, aggregate = 0, [], False
    for token, word in zip(toks[start:], upper[start:], strict=True):
        if word in ("WHERE", "{", "FROM") and depth == 0:
            break
        if word == "(":
            depth += 1
        elif word == ")":
            depth -= 1
        elif word in AGGREGATES:
            aggregate = True
        elif token.kind == "var" and depth == 0:
            projected.append(token)
    grouped: set[str] = set()
    for i, word in enumerate(upper):
        if word == "GROUP" and i + 1 < len(upper) and upper[i + 1] == "BY":
            for token, after in zip(toks[i + 2:], upper[i + 2:], strict=False):
                if after in ("HAVING", "ORDER", "LIMIT", "OFFSET", "VALUES", "}"):
                    break
                if token.kind == "var":
                    grouped.add(token.text[1:])
    if not aggregate and not grouped:
        return None
    for token in projected:
        if token.text[1:] not in grouped:
            return _problem(text, token.start, (
                f"`{token.text}` is neither grouped nor aggregated: beside an aggregate "
                f"(or with GROUP BY) every variable the SELECT clause names must be in "
                f"GROUP BY (add GROUP BY {token.text}) or inside an aggregate"))
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
        grouping = _ungrouped(text)
        if grouping is not None:
            return grouping
        cause = "the SELECT clause names a variable the query does not bind"
    elif "limit should be a non negative integer" in detail:
        cause = ("LIMIT and OFFSET take a non-negative whole number small enough for the "
                 "engine (at most 18446744073709551615)")
    else:
        offset = _offset(text, line, column)
        misspelt = _unknown_word(text, offset)
        if misspelt is not None:
            return misspelt
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
