"""What the server needs to know about a SPARQL text before it runs it.

The project's SPARQL tokenizer (:mod:`kg.sparql_tokens`) is enough to answer, without
executing anything: which query form it is, which SERVICE endpoints and LOAD sources it
names, whether an update has USING/WITH clauses, and to add protocol-given USING clauses.
Keywords inside strings, comments or IRIs are never mistaken for keywords. Codepoint escapes
(``\\u0053``) are decoded first, as the SPARQL grammar prescribes; when the scanner
and the engine could disagree, the scanner errs towards seeing a keyword (refusal).

>>> query_form("PREFIX ex: <http://ex.org/> # SELECT\\nASK { ?s ex:p 'SELECT' }")
'ask'
>>> [(r.endpoint, r.silent) for r in service_refs(
...     'SELECT * { "SERVICE <a>" . SERVICE SILENT <http://ex.org/sparql> { ?s ?p ?o } }')]
[('http://ex.org/sparql', True)]
>>> service_refs("SELECT * { SERVICE ?ep { ?s ?p ?o } }")[0].variable
'ep'
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import NamedTuple
from urllib.parse import urljoin

from kg.sparql_tokens import Token, decode_codepoints, tokens

QUERY_FORMS = ("SELECT", "ASK", "CONSTRUCT", "DESCRIBE")


def _is(token: Token, *keywords: str) -> bool:
    return token.kind == "word" and token.text.upper() in keywords


# The usual prologue (whitespace, comments, PREFIX/BASE, IRIs, "ex:" prefixes) and then
# the form keyword, each piece exactly one token of :data:`_TOKEN` (possessive: no
# backtracking into a comment or a name). When it matches, the token walk of
# query_form would give the same answer; anything else takes the token walk.
_PLAIN_FORM = re.compile(r"""
    (?:\s++ | \#[^\n\r]*+ | (?ai:PREFIX|BASE)(?=\s) | <[^<>"{}|^`\\\x00-\x20]*+>
      | (?:[A-Za-z][A-Za-z0-9_\-]*+)?:(?=\s) )*+
    (?ai:(SELECT|ASK|CONSTRUCT|DESCRIBE))(?![\w.\-:\u00b7])
""", re.VERBOSE)


def query_form(text: str) -> str | None:
    """"select", "ask", "construct" or "describe"; None when the text shows none.

    >>> query_form("PREFIX : <http://ex.org/>\\nselect * {}"), query_form("# SELECT\\nINSERT {}")
    ('select', None)
    """
    text = decode_codepoints(text)
    plain = _PLAIN_FORM.match(text)
    if plain is not None:
        return plain.group(1).lower()
    for token in tokens(text):
        if _is(token, *QUERY_FORMS):
            return token.text.lower()
        if not (_is(token, "PREFIX", "BASE") or token.kind in ("iri", "pname")):
            return None
    return None


class ExternalRef(NamedTuple):
    """A SERVICE clause or LOAD operation: where it would connect to."""

    keyword: str  # "SERVICE" or "LOAD"
    endpoint: str | None  # absolute IRI, None when unknown
    silent: bool
    variable: str | None = None  # SERVICE ?var
    #: where a LOAD operation (with its INTO GRAPH) lies in the decoded text
    span: tuple[int, int] | None = None


def _external_refs(text: str, keywords: Sequence[str], base_iri: str | None,
                   ) -> list[ExternalRef]:
    text = decode_codepoints(text)
    # A keyword token is a piece of the text, and str.upper() maps character by
    # character, so a text whose upper case holds none of the keywords has no such
    # token: most queries are answered here without being tokenised.
    upper = text.upper()
    if not any(keyword in upper for keyword in keywords):
        return []
    toks = list(tokens(text))
    prefixes: dict[str, str] = {}
    base = base_iri or ""
    refs: list[ExternalRef] = []
    for i, tok in enumerate(toks):
        nxt = toks[i + 1] if i + 1 < len(toks) else None
        if _is(tok, "BASE") and nxt is not None and nxt.kind == "iri":
            base = urljoin(base, nxt.text[1:-1])
        elif (_is(tok, "PREFIX") and nxt is not None and nxt.kind == "pname"
              and i + 2 < len(toks) and toks[i + 2].kind == "iri"):
            prefixes[nxt.text[:-1]] = urljoin(base, toks[i + 2].text[1:-1])
        elif _is(tok, *keywords):
            j = i + 1
            silent = j < len(toks) and _is(toks[j], "SILENT")
            if silent:
                j += 1
            target = toks[j] if j < len(toks) else None
            endpoint = variable = None
            if target is not None and target.kind == "iri":
                endpoint = urljoin(base, target.text[1:-1])
            elif target is not None and target.kind == "pname":
                prefix, _, local = target.text.partition(":")
                if prefix in prefixes:
                    endpoint = prefixes[prefix] + re.sub(r"\\(.)", r"\1", local)
            elif target is not None and target.kind == "var":
                variable = target.text[1:]
            span = None
            if _is(tok, "LOAD") and endpoint is not None:
                span = _load_span(toks, i, j)
            refs.append(ExternalRef(tok.text.upper(), endpoint, silent, variable, span))
    return refs


def _load_span(toks: Sequence[Token], load: int, source: int) -> tuple[int, int] | None:
    """Where ``LOAD [SILENT] <source> [INTO GRAPH <g>]`` lies; None when malformed."""
    if source + 1 < len(toks) and _is(toks[source + 1], "INTO"):
        into = toks[source + 1 : source + 4]
        if len(into) < 3 or not _is(into[1], "GRAPH") or into[2].kind not in ("iri", "pname"):
            return None
        return toks[load].start, into[2].end
    return toks[load].start, toks[source].end


def service_refs(text: str, base_iri: str | None = None) -> list[ExternalRef]:
    """Every SERVICE clause of a query or update, with its endpoint resolved.

    >>> service_refs("PREFIX e: <http://ex.org/> SELECT * { service e:sparql {} }")[0].endpoint
    'http://ex.org/sparql'
    >>> service_refs("SELECT * { ?s <http://ex.org/SERVICE> ?o } # SERVICE <http://x/>")
    []
    """
    return _external_refs(text, ("SERVICE",), base_iri)


def external_refs(text: str, base_iri: str | None = None) -> list[ExternalRef]:
    """SERVICE clauses and LOAD operations: everything that would open a connection.

    >>> [(r.keyword, r.endpoint) for r in external_refs("LOAD <http://ex.org/d.ttl>")]
    [('LOAD', 'http://ex.org/d.ttl')]
    """
    return _external_refs(text, ("SERVICE", "LOAD"), base_iri)


def without_loads(update: str, loads: Sequence[ExternalRef]) -> str:
    """The update with each of these LOAD operations replaced by one that does nothing.

    ``loads`` come from :func:`external_refs` of the same text; the separators stay, so
    the other operations run as written.

    >>> text = "LOAD SILENT <http://ex.org/d> INTO GRAPH <http://g> ; CLEAR ALL"
    >>> without_loads(text, external_refs(text))
    'INSERT DATA {} ; CLEAR ALL'
    """
    text = decode_codepoints(update)
    out: list[str] = []
    pos = 0
    for start, end in sorted(ref.span for ref in loads if ref.span is not None):
        out.append(text[pos:start] + "INSERT DATA {}")
        pos = end
    out.append(text[pos:])
    return "".join(out)


def has_dataset_clause(update: str) -> bool:
    """True when an update names its own dataset with USING, USING NAMED or WITH.

    >>> has_dataset_clause("WITH <http://g> DELETE { ?s ?p ?o } WHERE { ?s ?p ?o }")
    True
    >>> has_dataset_clause("INSERT DATA { <http://a> <http://b> 'USING' }")
    False
    """
    return any(_is(t, "USING", "WITH") for t in tokens(decode_codepoints(update)))


def add_using(update: str, using: Sequence[str], using_named: Sequence[str]) -> str:
    """Add USING/USING NAMED clauses to every DELETE/INSERT ... WHERE operation.

    This is how the protocol's ``using-graph-uri``/``using-named-graph-uri`` apply.

    >>> add_using("INSERT { ?s a <http://C> } WHERE { ?s ?p ?o }", ["http://g"], [])
    'INSERT { ?s a <http://C> } USING <http://g> WHERE { ?s ?p ?o }'
    >>> add_using("DELETE WHERE { ?s ?p ?o }", ["http://g"], [])
    'DELETE WHERE { ?s ?p ?o }'
    """
    clause = " ".join([f"USING <{g}>" for g in using]
                      + [f"USING NAMED <{g}>" for g in using_named])
    if not clause:
        return update
    text = decode_codepoints(update)
    out: list[str] = []
    pos = depth = 0
    previous: Token | None = None
    for tok in tokens(text):
        if tok.kind == "punct" and tok.text == "{":
            depth += 1
        elif tok.kind == "punct" and tok.text == "}":
            depth -= 1
        elif depth == 0 and _is(tok, "WHERE") and not (previous and _is(previous, "DELETE")):
            out.append(text[pos:tok.start] + clause + " ")
            pos = tok.start
        previous = tok
    out.append(text[pos:])
    return "".join(out)
