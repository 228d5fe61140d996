"""Reconciliation scoring: how well names and titles match a query, and when a match is certain.

Pure functions and a small in-memory name index; the web service
(``server/pages/reconcile.py``) feeds them rows it read with SPARQL.

Names are compared with the identity keys of :mod:`kg.mapping.names` (a person's key folds
case, accents, punctuation and "Last, First" order; a title's key folds case and
spacing), so a query with the same key as an entity's name is an *exact* match and
scores 100. Anything else scores by token overlap, below 100:

>>> similarity(person_key("Huang, Yuzhen"), person_key("Yuzhen Huang"))
100.0
>>> similarity(person_key("Yuzhen Haung"), person_key("Yuzhen Huang"))
90.0
>>> similarity(person_key("Y. Huang"), person_key("Yuzhen Huang"))
75.0
>>> similarity(person_key("Zhang"), person_key("Zheng Zhang"))
66.7

A candidate is a certain ``match`` only when it is the one candidate whose key equals
the query's (and no property the query gives contradicts it) and every other
candidate scores below :data:`CLOSE`.
"""

from __future__ import annotations

import bisect
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from difflib import SequenceMatcher
from typing import Any

from kg.mapping.identifiers import IdentifierError, canonical_iri, check, parse_target
from kg.mapping.names import person_key, title_key
from kg.mapping.vocab import SCHEMA_IRI

PERSON = "Person"
PAPER = "ScholarlyArticle"
#: a non-exact candidate scoring this or more makes an exact one uncertain
CLOSE = 80.0
#: the factor a contradicted property constraint multiplies a candidate's score by
CONTRADICTED = 0.5
#: queries are compared on their first characters only (a cell holding a whole abstract
#: would otherwise cost a word-by-word comparison with every candidate)
MAX_QUERY_CHARS = 500

_WORD = re.compile(r"\w+", re.UNICODE)


@dataclass(frozen=True)
class EntityType:
    id: str
    name: str
    iri: str
    description: str


#: the types the service reconciles against, by id
TYPES: dict[str, EntityType] = {
    PERSON: EntityType(PERSON, "Person", SCHEMA_IRI + "Person",
                       "A profiled researcher (schema:Person)"),
    PAPER: EntityType(PAPER, "Scholarly article", SCHEMA_IRI + "ScholarlyArticle",
                      "A paper listed on a profile (schema:ScholarlyArticle)"),
}


def type_id(text: str) -> str | None:
    """Our type id for ``Person``, ``schema:Person`` or the schema.org IRI (http or https).

    >>> type_id("schema:ScholarlyArticle"), type_id("http://schema.org/Person"), type_id("Q5")
    ('ScholarlyArticle', 'Person', None)
    """
    local = text.strip()
    for prefix in ("schema:", SCHEMA_IRI, "http://schema.org/"):
        if local.startswith(prefix):
            local = local[len(prefix):]
            break
    return local if local in TYPES else None


def name_key(kind: str, text: str) -> str:
    """The identity key of a name (Person) or title (ScholarlyArticle)."""
    return person_key(text) if kind == PERSON else title_key(text)


def tokens(key: str) -> list[str]:
    """The words of a key.

    >>> tokens(title_key("SWE-RM: Execution-free Feedback"))
    ['swe', 'rm', 'execution', 'free', 'feedback']
    """
    return _WORD.findall(key)


def token_similarity(a: str, b: str) -> float:
    """1 for equal words, 0.5 for an initial and a word it starts, the character
    similarity for near spellings (at least 0.8), else 0.

    >>> token_similarity("y", "yuzhen"), token_similarity("haung", "huang")
    (0.5, 0.8)
    """
    if a == b:
        return 1.0
    if len(a) == 1 or len(b) == 1:
        return 0.5 if a[0] == b[0] else 0.0
    if 2 * min(len(a), len(b)) < 0.8 * (len(a) + len(b)):
        return 0.0  # the lengths alone rule out a ratio of 0.8
    matcher = SequenceMatcher(None, a, b, autojunk=False)
    if matcher.quick_ratio() < 0.8:
        return 0.0
    ratio = matcher.ratio()
    return ratio if ratio >= 0.8 else 0.0


def similarity(query_key: str, candidate_key: str) -> float:
    """0-100: 100 for equal keys, else the soft Dice overlap of their words, at most 99.

    Each query word pairs with the most similar unused candidate word.

    >>> similarity("okafor tanaka", "mei tanaka"), similarity("a b", "c d")
    (50.0, 0.0)
    """
    if query_key == candidate_key:
        return 100.0
    query, candidate = tokens(query_key), tokens(candidate_key)
    if not query or not candidate:
        return 0.0
    unused = list(candidate)
    total = 0.0
    for word in query:
        best, best_index = 0.0, -1
        for index, other in enumerate(unused):
            score = token_similarity(word, other)
            if score > best:
                best, best_index = score, index
        if best_index >= 0:
            total += best
            del unused[best_index]
    dice = 2 * total / (len(query) + len(candidate))
    return round(min(99.0, 100 * dice), 1)


# --- the name index -----------------------------------------------------------------------

@dataclass(frozen=True)
class NameEntry:
    """One name of one entity: a person's name or alternate name, a paper's title."""

    entity: str
    kind: str
    name: str
    primary: bool


@dataclass
class Candidate:
    """An entity proposed for a query, with how it was scored."""

    entity: str
    kind: str
    #: the entity's display name (a person's schema:name, a paper's title)
    name: str
    name_score: float
    exact: bool
    #: property id -> True (satisfied), False (contradicted), None (nothing to compare)
    properties: dict[str, bool | None] = field(default_factory=dict)
    score: float = 0.0
    match: bool = False


class NameIndex:
    """Names by word, for retrieving and scoring candidates and for prefix suggestions.

    >>> index = NameIndex([
    ...     NameEntry("p/1", PERSON, "Yuzhen Huang", True),
    ...     NameEntry("p/2", PERSON, "Yu Huang", True),
    ...     NameEntry("x/1", PAPER, "Focal Reward", True)])
    >>> [(c.entity, c.name_score, c.exact) for c in index.search("huang, yuzhen", [PERSON])]
    [('p/1', 100.0, True), ('p/2', 50.0, False)]
    >>> [e.name for e in index.prefix("foc", [PERSON, PAPER])]
    ['Focal Reward']
    >>> [e.name for e in index.prefix("Huang", [PERSON])]
    ['Yu Huang', 'Yuzhen Huang']
    """

    def __init__(self, entries: Iterable[NameEntry]) -> None:
        self.display: dict[str, str] = {}
        self.kind: dict[str, str] = {}
        #: entity -> the identity keys of its names
        self.keys: dict[str, list[str]] = {}
        self._by_word: dict[tuple[str, str], set[str]] = {}
        for entry in sorted(set(entries), key=lambda e: (e.entity, not e.primary, e.name)):
            key = name_key(entry.kind, entry.name)
            self.display.setdefault(entry.entity, entry.name)
            self.kind[entry.entity] = entry.kind
            self.keys.setdefault(entry.entity, []).append(key)
            for word in tokens(key):
                self._by_word.setdefault((entry.kind, word), set()).add(entry.entity)
        self._words = sorted(self._by_word)

    def __len__(self) -> int:
        return len(self.display)

    def _scored(self, entity: str, query_key: str) -> Candidate:
        score = max(similarity(query_key, key) for key in self.keys[entity])
        return Candidate(entity, self.kind[entity], self.display[entity], score,
                         exact=score == 100.0)

    def search(self, query: str, kinds: Sequence[str], *, pool: int = 200) -> list[Candidate]:
        """Entities sharing a word with ``query``, best first.

        Per kind, the ``pool`` entities sharing the most words are scored.
        """
        out: list[Candidate] = []
        query = query[:MAX_QUERY_CHARS]
        for kind in kinds:
            query_key = name_key(kind, query)
            hits: Counter[str] = Counter()
            for word in set(tokens(query_key)):
                hits.update(self._by_word.get((kind, word), ()))
            for entity in sorted(hits, key=lambda e: (-hits[e], e))[:pool]:
                candidate = self._scored(entity, query_key)
                if candidate.name_score > 0:
                    out.append(candidate)
        out.sort(key=lambda c: (-c.name_score, c.name, c.entity))
        return out

    def candidate(self, entity: str, query: str | None) -> Candidate | None:
        """One entity as a candidate, scored against ``query`` (100 without a query)."""
        if entity not in self.kind:
            return None
        if not query:
            return Candidate(entity, self.kind[entity], self.display[entity], 100.0, exact=True)
        return self._scored(entity, name_key(self.kind[entity], query[:MAX_QUERY_CHARS]))

    def prefix(self, text: str, kinds: Sequence[str], *, limit: int = 10,
               offset: int = 0) -> list[NameEntry]:
        """Entities with a name that starts with ``text``, then those with a name holding
        its words, the last one as a word prefix; each entity once, by name."""
        found: dict[str, int] = {}
        for kind in kinds:
            key = name_key(kind, text)
            words = tokens(key)
            if not words:
                continue
            *whole, last = words
            start = bisect.bisect_left(self._words, (kind, last))
            for word_kind, word in self._words[start:]:
                if word_kind != kind or not word.startswith(last):
                    break
                for entity in self._by_word[(word_kind, word)]:
                    keys = self.keys[entity]
                    if any(k.startswith(key) for k in keys):
                        rank = 0
                    elif any(set(whole) <= set(tokens(k)) for k in keys):
                        rank = 1
                    else:
                        continue
                    found[entity] = min(rank, found.get(entity, rank))
        ordered = sorted(found, key=lambda e: (found[e], self.display[e].casefold(), e))
        return [NameEntry(e, self.kind[e], self.display[e], True)
                for e in ordered[offset : offset + limit]]


# --- identifiers in queries -----------------------------------------------------------------

_BARE_SCHEMES = ("orcid", "doi", "arxiv", "wikidata")


def identifier_iri(text: str) -> str | None:
    """The canonical IRI of an identifier given as a query, if the text is one.

    >>> identifier_iri("0000-0002-1825-0097"), identifier_iri("doi:10.1000/X")
    ('https://orcid.org/0000-0002-1825-0097', 'https://doi.org/10.1000/x')
    >>> identifier_iri("Yuzhen Huang") is None
    True
    """
    text = text.strip()
    try:
        target = parse_target(text)
    except IdentifierError:
        target = None
    if target is not None and target.scheme is not None:
        return target.iri
    for scheme in _BARE_SCHEMES:
        try:
            check(scheme, text)
        except IdentifierError:
            continue
        return canonical_iri(scheme, text)
    return None


# --- properties ---------------------------------------------------------------------------

@dataclass(frozen=True)
class PropertySpec:
    """A property the service can match on (``compare``) and fetch (data extension)."""

    id: str
    name: str
    types: tuple[str, ...]
    description: str
    #: how query values compare with the entity's: code, date, number, person, title,
    #: identifier:<scheme>, iri; None when the property cannot be matched on
    compare: str | None
    #: the type of the entities it has as values, when it has entities as values
    value_type: str | None = None


PROPERTIES: tuple[PropertySpec, ...] = (
    PropertySpec("alternateName", "alternate name", (PERSON,),
                 "Other spellings of the person's name", "person"),
    PropertySpec("category", "category", (PERSON, PAPER),
                 "Subject code (e.g. LG) or arXiv category (cs.LG): a person's primary "
                 "category, a paper's subject", "code"),
    PropertySpec("hIndex", "h-index", (PERSON,), "The latest profile's h-index", "number"),
    PropertySpec("paperCount", "paper count", (PERSON,),
                 "Papers the latest profile says it lists (stated; the papers in this "
                 "graph are the 'papers' property)", "number"),
    PropertySpec("citationCount", "citation count", (PERSON,),
                 "Citations the latest profile states", "number"),
    PropertySpec("noveltyScore", "novelty score", (PERSON,),
                 "The latest profile's novelty score (percent)", "number"),
    PropertySpec("aiScore", "AI score", (PERSON,), "The latest profile's AI score", "number"),
    PropertySpec("papers", "papers", (PERSON,), "Titles of the person's papers", "title",
                 value_type=PAPER),
    PropertySpec("coauthors", "co-authors", (PERSON,),
                 "Names of people who wrote a paper with the person", "person",
                 value_type=PERSON),
    PropertySpec("datePublished", "date published", (PAPER,),
                 "Publication date; a year (2025) or a month (2025-03) matches its dates",
                 "date"),
    PropertySpec("authors", "authors", (PAPER,),
                 "Author names in byline order (profiled people as entities)", "person",
                 value_type=PERSON),
    PropertySpec("abstract", "abstract", (PAPER,), "The paper's abstract", None),
    PropertySpec("paperScore", "paper score", (PAPER,), "The profile's score of the paper",
                 "number"),
    PropertySpec("codeRepository", "code repository", (PAPER,),
                 "Code repository URLs", "iri"),
    PropertySpec("orcid", "ORCID iD", (PERSON,), "ORCID iD, e.g. 0000-0002-1825-0097",
                 "identifier:orcid"),
    PropertySpec("dblp", "dblp person id", (PERSON,), "dblp person id, e.g. h/JohnDoe",
                 "identifier:dblp"),
    PropertySpec("wikidata", "Wikidata item", (PERSON, PAPER), "Wikidata item id, e.g. Q42",
                 "identifier:wikidata"),
    PropertySpec("arxiv", "arXiv id", (PAPER,), "arXiv id, e.g. 2503.14476",
                 "identifier:arxiv"),
    PropertySpec("doi", "DOI", (PAPER,), "DOI, e.g. 10.1000/xyz123", "identifier:doi"),
    PropertySpec("sameAs", "same as", (PERSON, PAPER),
                 "IRIs of the same entity in other datasets (owl:sameAs)", "iri"),
)
PROPERTY_BY_ID: dict[str, PropertySpec] = {p.id: p for p in PROPERTIES}


@dataclass(frozen=True)
class Value:
    """One value of a property on an entity: an entity (``id``) with its name, or text."""

    text: str
    id: str | None = None


def _wanted_text(value: Any) -> tuple[str | None, str | None]:
    """(id, text) of a query's property value (a string, number, boolean or {id, name})."""
    if isinstance(value, dict):
        return value.get("id"), value.get("name")
    if isinstance(value, bool):
        return None, "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return None, str(int(value))
    return None, str(value)


def _number(text: str) -> Decimal | None:
    try:
        return Decimal(text.strip())
    except (InvalidOperation, ValueError):
        return None


def _one_matches(compare: str, wanted: Any, have: Value) -> bool:
    wanted_id, text = _wanted_text(wanted)
    if wanted_id is not None and have.id is not None and wanted_id == have.id:
        return True
    if compare.startswith("identifier:") or compare == "iri":
        scheme = compare.partition(":")[2] or None
        candidates = [t for t in (wanted_id, text) if t]
        for candidate in candidates:
            try:
                target = parse_target(candidate, scheme).iri
            except IdentifierError:
                continue
            if target == (have.id or have.text):
                return True
        return False
    if text is None:
        return False
    if compare == "code":
        return text.strip().casefold() == have.text.casefold()
    if compare == "date":
        stem = text.strip()[:10]
        return bool(stem) and have.text.startswith(stem)
    if compare == "number":
        a, b = _number(text), _number(have.text)
        return a is not None and a == b
    if compare == "person":
        return person_key(text) == person_key(have.text)
    if compare == "title":
        return title_key(text) == title_key(have.text)
    return False


def property_satisfied(spec: PropertySpec, wanted: Sequence[Any],
                       have: Sequence[Value]) -> bool | None:
    """Whether one of the entity's values matches one of the wanted values.

    None when the entity has no value to compare with (nothing known is not a mismatch).

    >>> spec = PROPERTY_BY_ID["datePublished"]
    >>> property_satisfied(spec, [2025], [Value("2025-03-03")])
    True
    >>> property_satisfied(spec, ["2024"], [Value("2025-03-03")])
    False
    >>> property_satisfied(spec, ["2024"], []) is None
    True
    >>> property_satisfied(PROPERTY_BY_ID["coauthors"], ["okafor, amara"], [Value("Amara Okafor")])
    True
    >>> property_satisfied(PROPERTY_BY_ID["orcid"], ["https://orcid.org/0000-0002-1825-0097"],
    ...                    [Value("https://orcid.org/0000-0002-1825-0097",
    ...                           "https://orcid.org/0000-0002-1825-0097")])
    True
    """
    if spec.compare is None or not have:
        return None
    return any(_one_matches(spec.compare, w, h) for w in wanted for h in have)


def rank(candidates: list[Candidate], *, by_name: bool) -> list[Candidate]:
    """Score, sort and decide ``match`` for one query's candidates.

    The score is the name score (100 when the query gives no name), halved for each
    contradicted property; the *support* of a candidate is how many properties it
    satisfies. *Eligible* candidates are those no property contradicts whose name
    key equals the query's (or, without a name, that some property matched), and of
    these the ones with the most support. The best candidate is a match when it is
    the only eligible one and every other candidate with as much support scores
    below :data:`CLOSE`.

    >>> a = Candidate("p/1", PERSON, "Mei Tanaka", 100.0, True, {"category": True})
    >>> b = Candidate("p/2", PERSON, "Mei Tanaka", 100.0, True, {"category": False})
    >>> [(c.entity, c.score, c.match) for c in rank([b, a], by_name=True)]
    [('p/1', 100.0, True), ('p/2', 50.0, False)]
    >>> b.properties["category"] = None  # nothing known about b: a has more support
    >>> [(c.entity, c.score, c.match) for c in rank([b, a], by_name=True)]
    [('p/1', 100.0, True), ('p/2', 100.0, False)]
    >>> a.properties["category"] = None  # two namesakes, nothing to tell them apart
    >>> [(c.entity, c.score, c.match) for c in rank([b, a], by_name=True)]
    [('p/1', 100.0, False), ('p/2', 100.0, False)]
    """

    def support(c: Candidate) -> int:
        return sum(1 for r in c.properties.values() if r is True)

    for c in candidates:
        contradicted = sum(1 for r in c.properties.values() if r is False)
        c.score = round(c.name_score * CONTRADICTED ** contradicted, 1)
        c.match = False
    candidates.sort(key=lambda c: (-c.score, -support(c), c.name, c.entity))

    def eligible(c: Candidate) -> bool:
        if any(r is False for r in c.properties.values()):
            return False
        return c.exact if by_name else support(c) > 0

    chosen = [c for c in candidates if eligible(c)]
    if not chosen:
        return candidates
    most = max(support(c) for c in chosen)
    chosen = [c for c in chosen if support(c) == most]
    if len(chosen) == 1 and candidates[0] is chosen[0]:
        rivals = [c for c in candidates[1:] if support(c) >= most]
        if all(c.score < CLOSE for c in rivals):
            chosen[0].match = True
    return candidates
