"""One value per single-valued paper property in the default graph: the rules.

Several current documents may print one paper differently: a title in other case, a
first sentence of the abstract where another profile has the whole text, another
date or score. Each document's named graph keeps what it printed; the default graph
keeps one value per property below, chosen from the printings of the current
documents by a rule that depends only on what they printed, never on the order they
were ingested in (``docs/decisions/0007-single-values.md``).

Terms are in N-Triples syntax, as the store gives them.

>>> short = Printing({ABSTRACT: ('"First sentence."',)})
>>> full = Printing({ABSTRACT: ('"First sentence. And more."',)})
>>> choose([short, full])[ABSTRACT] == choose([full, short])[ABSTRACT]
True
>>> choose([short, full])[ABSTRACT]
'"First sentence. And more."'
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from kg.mapping.vocab import PREFIXES

_S = PREFIXES["schema"]
_SKG = PREFIXES["skg"]

NAME = f"<{_S}name>"
ABSTRACT = f"<{_S}abstract>"
DATE_PUBLISHED = f"<{_S}datePublished>"
DATE_AS_PRINTED = f"<{_SKG}dateAsPrinted>"
ABOUT = f"<{_S}about>"
PAPER_SCORE = f"<{_SKG}paperScore>"
CREDIT_TEXT = f"<{_S}creditText>"
BYLINE_COMPLETE = f"<{_SKG}bylineComplete>"

#: every single-valued paper property (IRI term) and its rule, as documented
RULES: dict[str, str] = {
    NAME: "the smallest title in code-point order; the others become schema:alternateName",
    ABSTRACT: "the longest (the fullest printing); of equal lengths, the smallest in "
              "code-point order",
    DATE_PUBLISHED: "the earliest date",
    DATE_AS_PRINTED: "the smallest in code-point order of the texts printed with the chosen "
                     "schema:datePublished (of all printed texts when no printing has a date)",
    ABOUT: "the category the most printings give; of equal counts, the smallest IRI",
    PAPER_SCORE: "the highest score; of equal numbers, the smallest lexical form",
    CREDIT_TEXT: "the longest byline (the fullest); of equal lengths, the smallest in "
                 "code-point order",
    BYLINE_COMPLETE: "true when any printing's byline is complete (the paper's authorships "
                     "then list every author), else false",
}

_ESCAPE = re.compile(r"\\(?:u([0-9A-Fa-f]{4})|U([0-9A-Fa-f]{8})|(.))")
_SIMPLE = {"t": "\t", "b": "\b", "n": "\n", "r": "\r", "f": "\f"}


@dataclass(frozen=True)
class Printing:
    """What one current document printed about a paper: property IRI term -> values.

    Only what was printed counts, not when: a rule that preferred the latest document
    would change its choice when a snapshot restates a paper unchanged.
    """

    values: Mapping[str, Sequence[str]]


def lexical(term: str) -> str:
    """The lexical form of a literal term, or the IRI of an IRI term.

    >>> lexical('"a \\\\"b\\\\"\\\\n"^^<http://www.w3.org/2001/XMLSchema#string>')
    'a "b"\\n'
    >>> lexical("<https://ex.org/x>")
    'https://ex.org/x'
    """
    if term.startswith("<"):
        return term[1:-1]
    # the lexical form ends at the last quote: neither a datatype IRI nor a language tag
    # holds one (a regular expression walking an abstract character by character took
    # most of the single-value pass of an ingest)
    end = term.rfind('"')
    if not term.startswith('"') or end <= 0:
        return term
    body = term[1:end]
    if "\\" not in body:
        return body

    def one(e: re.Match[str]) -> str:
        code = e.group(1) or e.group(2)
        return chr(int(code, 16)) if code else _SIMPLE.get(e.group(3), e.group(3))

    return _ESCAPE.sub(one, body)


def _smallest(terms: Sequence[str]) -> str:
    return min(terms, key=lambda t: (lexical(t), t))


def _longest(terms: Sequence[str]) -> str:
    def key(term: str) -> tuple[int, str, str]:
        form = lexical(term)  # once per term: abstracts are long
        return -len(form), form, term

    return min(terms, key=key)


def _number(term: str) -> Decimal:
    try:
        return Decimal(lexical(term))
    except InvalidOperation:
        return Decimal("-Infinity")


def choose(printings: Sequence[Printing]) -> dict[str, str]:
    """For each single-valued property a printing gives, the one value to keep.

    >>> a = Printing({DATE_PUBLISHED: ('"2025-03-02"^^<d>',), DATE_AS_PRINTED: ('"Mar 2"',),
    ...               ABOUT: ("<c/LG>",)})
    >>> b = Printing({DATE_PUBLISHED: ('"2025-03-01"^^<d>',), DATE_AS_PRINTED: ('"2025-03-01"',),
    ...               ABOUT: ("<c/CV>",)})
    >>> sorted(choose([a, b]).values())
    ['"2025-03-01"', '"2025-03-01"^^<d>', '<c/CV>']
    """
    def given(prop: str) -> list[str]:
        return [v for p in printings for v in p.values.get(prop, ())]

    out: dict[str, str] = {}
    for prop in (NAME, ABSTRACT, CREDIT_TEXT, DATE_PUBLISHED):
        values = given(prop)
        if values:
            out[prop] = (_smallest if prop in (NAME, DATE_PUBLISHED) else _longest)(values)
    texts = given(DATE_AS_PRINTED)
    if DATE_PUBLISHED in out:
        texts = [t for p in printings if out[DATE_PUBLISHED] in p.values.get(DATE_PUBLISHED, ())
                 for t in p.values.get(DATE_AS_PRINTED, ())] or texts
    if texts:
        out[DATE_AS_PRINTED] = _smallest(texts)
    categories = Counter(c for p in printings for c in set(p.values.get(ABOUT, ())))
    if categories:
        out[ABOUT] = min(categories, key=lambda c: (-categories[c], lexical(c), c))
    scores = given(PAPER_SCORE)
    if scores:
        out[PAPER_SCORE] = min(scores, key=lambda t: (-_number(t), lexical(t), t))
    flags = given(BYLINE_COMPLETE)
    if flags:
        complete = [f for f in flags if lexical(f) in ("true", "1")]
        out[BYLINE_COMPLETE] = _smallest(complete or flags)
    return out
