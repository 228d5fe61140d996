"""Records to RDF, exactly per the data-model contract. Pure functions, no store.

:func:`map_document` turns one :class:`~kg.parse.records.SourceDocument` into a
:class:`MappedDocument`: what the document said (its named graph), split into the
parts the store treats differently in the merged default graph.

>>> import datetime as dt
>>> from kg.parse.records import Paper, Profile, SourceDocument
>>> doc = SourceDocument("a.txt", "ab" * 32, dt.date(2026, 11, 21), Profile(
...     name="Ada Lovelace", layout="scored-profile-page",
...     papers=(Paper(title="Notes", line=5, authors=("A. Lovelace", "Ada  Lovelace")),)))
>>> m = map_document(doc, IriMinter("https://ex.org/id/"))
>>> m.person
'https://ex.org/id/person/ada-lovelace'
>>> paper = "<https://ex.org/id/paper/ab5aa97074c454a0>"
>>> ada = "<https://ex.org/id/person/ada-lovelace>"
>>> (paper, "<https://schema.org/author>", ada) in m.statements
True
>>> sorted({p for s, p, o in m.statements if "/authorship/" in s and o == ada})
['<https://w3id.org/scholarkg/ns#person>']
>>> sorted(o for s, p, o in m.statements if p == "<https://schema.org/alternateName>")
['"Ada  Lovelace"']
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cache, lru_cache

from kg.mapping.categories import arxiv_category
from kg.mapping.identifiers import canonical_iri
from kg.mapping.iris import IriMinter
from kg.mapping.names import person_key
from kg.mapping.vocab import PERSON_METRICS, PREFIXES
from kg.output.ntriples import (
    XSD_BOOLEAN,
    XSD_DATE,
    XSD_DATETIME,
    XSD_DECIMAL,
    XSD_INTEGER,
    Triple,
    iri,
    is_valid_iri,
    literal,
    typed,
)
from kg.parse.records import Identifier, Paper, Profile, SourceDocument

_S = PREFIXES["schema"]
_FOAF = PREFIXES["foaf"]
_SKG = PREFIXES["skg"]
_PROV = PREFIXES["prov"]
_OWL = PREFIXES["owl"]

A = iri(PREFIXES["rdf"] + "type")


@cache
def _s(local: str) -> str:
    return iri(_S + local)


@cache
def _skg(local: str) -> str:
    return iri(_SKG + local)


@cache
def _foaf(local: str) -> str:
    return iri(_FOAF + local)


def _minted(value: str) -> str:
    """An IRI term for an IRI from :class:`IriMinter` (safe by construction: the base IRI
    is checked once and every path segment is percent-encoded)."""
    return f"<{value}>"


# terms written for every paper and byline name: looked up once, not at each use
_ARTICLE = _s("ScholarlyArticle")
_NAME = _s("name")
_ABSTRACT = _s("abstract")
_DATE_PUBLISHED = _s("datePublished")
_DATE_AS_PRINTED = _skg("dateAsPrinted")
_ABOUT = _s("about")
_PAPER_SCORE = _skg("paperScore")
_CODE_AVAILABLE = _skg("codeAvailable")
_CODE_REPOSITORY = _s("codeRepository")
_CREDIT_TEXT = _s("creditText")
_BYLINE_COMPLETE = _skg("bylineComplete")
_SOURCE_ORGANIZATION = _s("sourceOrganization")
_ORGANIZATION = _s("Organization")
_IS_PART_OF = _s("isPartOf")
_PERIODICAL = _s("Periodical")
_AUTHOR = _s("author")
_MAKER = _foaf("maker")
_MADE = _foaf("made")
_AUTHORSHIP = _skg("authorship")
_AUTHORSHIP_CLASS = _skg("Authorship")
_PERSON = _skg("person")
_NAME_AS_STATED = _skg("nameAsStated")
_POSITION = _s("position")
_TRUE = typed(True, XSD_BOOLEAN)
_FALSE = typed(False, XSD_BOOLEAN)


def _boolean_term(flag: bool) -> str:
    # "is", not a dict lookup: a stray 1 or 0 is still written as typed() writes it
    return _TRUE if flag is True else _FALSE if flag is False else typed(flag, XSD_BOOLEAN)


@lru_cache(maxsize=1024)
def _position_term(position: int) -> str:
    """The literal of a byline position (the same few numbers on every paper)."""
    return typed(position, XSD_INTEGER)


METRIC_DATATYPES: dict[str, str] = {
    "hIndex": XSD_INTEGER,
    "paperCount": XSD_INTEGER,
    "citationCount": XSD_INTEGER,
    "noveltyScore": XSD_DECIMAL,
    "aiScore": XSD_DECIMAL,
}


@dataclass
class MappedDocument:
    """One document as RDF, every term in N-Triples syntax.

    - ``statements``: the document's facts about persons and papers; in the default
      graph while the document is its profile's current snapshot.
    - ``metrics``: the owner's metric values (property IRI term -> literal term); the
      default graph carries only the latest observation of each.
    - ``observations``: metric history; always in the default graph.
    - ``description``: the PROV description of the document's named graph; default graph.
    """

    graph: str
    person: str
    person_key: str
    layout: str
    as_of: dt.date
    sha256: str
    #: where the document came from, "file" or "file:line" for a JSON Lines record
    label: str = ""
    statements: list[Triple] = field(default_factory=list)
    metrics: dict[str, str] = field(default_factory=dict)
    observations: list[Triple] = field(default_factory=list)
    description: list[Triple] = field(default_factory=list)
    #: every byline name: (authorship term, paper term, identity key of the name, whether
    #: this document resolves it to its owner), for the run-level author-link pass
    bylines: list[tuple[str, str, str, bool]] = field(default_factory=list)
    #: the owner's ``schema:name`` and ``schema:alternateName`` values, for the same pass
    names: tuple[str, ...] = ()
    #: set by :meth:`pack`: :meth:`nquads`, the bylines as :func:`bylines_tsv` lines, and
    #: the numbers of statements, metrics, observations and description triples
    first_snapshot_nquads: bytes = b""
    packed_bylines: str = ""
    packed: tuple[int, int, int, int] | None = None

    def pack(self) -> None:
        """Ready the document to go to another process: its triples as the N-Quads of
        :meth:`nquads` and its bylines as lines of text, instead of thousands of tuples
        of strings that cost the sender and the receiver an object each.

        The writer needs the triples themselves only for a further document of a person
        already in the store; :meth:`unpack` rebuilds them from the N-Quads then.
        """
        if self.packed is not None:
            return
        self.first_snapshot_nquads = self.nquads()
        self.packed_bylines = bylines_tsv(self.bylines)
        self.packed = (len(self.statements), len(self.metrics), len(self.observations),
                       len(self.description))
        self.statements, self.metrics, self.observations, self.description = [], {}, [], []
        self.bylines = []

    def unpack(self) -> None:
        """Rebuild what :meth:`pack` let go (nothing to do if it never ran).

        Each line of :meth:`nquads` is its triple's terms joined by spaces, then the graph
        and " ."; a subject or predicate (an IRI or a blank node) holds no space, so
        splitting at the first two gives the terms back as they were.
        """
        if self.packed is None:
            return
        n_s, n_m, n_o, n_d = self.packed
        lines = self.first_snapshot_nquads.decode("utf-8").split("\n")
        named = n_s + n_m + n_o
        if len(lines) != 2 * named + n_d + 1:
            raise ValueError(f"packed document {self.label}: {len(lines) - 1} N-Quads lines "
                             f"for {2 * named + n_d} quads")
        in_graph = len(f" {iri(self.graph)} .")

        def triples(start: int, count: int, end: int) -> list[Triple]:
            out: list[Triple] = []
            for line in lines[start:start + count]:
                s, p, o = line[:-end].split(" ", 2)
                out.append((s, p, o))
            return out

        self.statements = triples(0, n_s, in_graph)
        self.metrics = {p: o for _, p, o in triples(n_s, n_m, in_graph)}
        self.observations = triples(n_s + n_m, n_o, in_graph)
        self.description = triples(named + n_s + n_o, n_d, len(" ."))
        self.bylines = []
        for line in self.packed_bylines.split("\n")[:-1]:
            a, x, key, own = line.split("\t")
            self.bylines.append((a, x, key, own == "1"))
        self.packed = None
        self.first_snapshot_nquads, self.packed_bylines = b"", ""

    def first_snapshot_quads(self) -> int:
        """The number of quads :meth:`nquads` writes."""
        n_s, n_m, n_o, n_d = self.packed or (len(self.statements), len(self.metrics),
                                             len(self.observations), len(self.description))
        return 2 * (n_s + n_m + n_o) + n_d

    def named_graph_triples(self) -> list[Triple]:
        """Everything the document said: its named graph."""
        person = iri(self.person)
        metric_triples = [(person, p, v) for p, v in self.metrics.items()]
        return [*self.statements, *metric_triples, *self.observations]

    def nquads(self) -> bytes:
        """What the first document of a person adds, as UTF-8 N-Quads: its named graph
        (:meth:`named_graph_triples`), then its default-graph part (statements,
        observations, description, latest metrics).

        Each triple is written and encoded once, though most are in both graphs, and the
        lines are joined as bytes (one non-ASCII character would make a joined str of the
        whole document wide, and its encoding slow).
        """
        in_graph = f" {iri(self.graph)} .\n".encode()
        person = iri(self.person)
        statements = _encoded(self.statements)
        metrics = _encoded([(person, p, v) for p, v in self.metrics.items()])
        observations = _encoded(self.observations)
        # a trailing b"" ends the last line too (and an empty list writes nothing)
        named = in_graph.join([*statements, *metrics, *observations, b""])
        default = b" .\n".join(
            [*statements, *observations, *_encoded(self.description), *metrics, b""])
        return named + default


def bylines_tsv(bylines: Iterable[tuple[str, str, str, bool]]) -> str:
    """Bylines as lines of text: authorship, paper, name key and 1 or 0 (resolved to the
    owner), tab-separated (terms and keys hold no tab or line feed)."""
    return "".join(f"{a}\t{x}\t{key}\t{int(own)}\n" for a, x, key, own in bylines)


def _encoded(triples: Iterable[Triple]) -> list[bytes]:
    """Each triple as UTF-8 "subject predicate object", without the end of its line."""
    return list(map(str.encode, map(" ".join, triples)))


def _identifier_id(profile_ids: Iterable[Identifier], scheme: str) -> str | None:
    for ident in profile_ids:
        if ident.scheme == scheme:
            return ident.value
    return None


def person_iri(profile: Profile, minter: IriMinter) -> str:
    """The owner's IRI: an explicit identifier wins over the name."""
    return minter.person(
        profile.name,
        orcid=_identifier_id(profile.identifiers, "orcid"),
        profile_url=_identifier_id(profile.identifiers, "profile"),
    )


def paper_iri(paper: Paper, minter: IriMinter) -> str:
    return minter.paper(
        paper.title,
        arxiv=_identifier_id(paper.identifiers, "arxiv"),
        doi=_identifier_id(paper.identifiers, "doi"),
    )


def _identifier_triples(subject_iri: str, identifiers: Iterable[Identifier]) -> list[Triple]:
    out: list[Triple] = []
    subject = iri(subject_iri)
    for ident in identifiers:
        node = iri(f"{subject_iri}/identifier/{ident.scheme}")
        out += [
            (subject, _s("identifier"), node),
            (node, A, _s("PropertyValue")),
            (node, _s("propertyID"), literal(ident.scheme)),
            (node, _s("value"), literal(ident.value)),
        ]
        target = canonical_iri(ident.scheme, ident.value)
        if target and is_valid_iri(target):
            out += [(subject, iri(_OWL + "sameAs"), iri(target)),
                    (subject, _s("sameAs"), iri(target))]
    return out


def map_document(
    doc: SourceDocument, minter: IriMinter, *, ingested_at: dt.datetime | None = None
) -> MappedDocument:
    """Map one document. ``ingested_at`` is recorded in its PROV description."""
    profile = doc.profile
    owner_iri = person_iri(profile, minter)
    owner_key = person_key(profile.name)
    m = MappedDocument(
        graph=minter.document(doc.sha256), person=owner_iri, person_key=owner_key,
        layout=profile.layout, as_of=doc.as_of, sha256=doc.sha256,
        label=f"{doc.path}:{doc.line}" if doc.line is not None else doc.path,
    )
    st = m.statements
    owner = _minted(owner_iri)
    # the owner ---------------------------------------------------------
    st += [
        (owner, A, _s("Person")),
        (owner, A, _foaf("Person")),
        (owner, _s("name"), literal(profile.name)),
        (owner, _foaf("name"), literal(profile.name)),
    ]
    spellings = {n for n in (profile.name_as_printed, *profile.alternate_names) if n}
    # byline spellings of the owner ("ZhaoXin Huan" on Zhaoxin Huan's profile)
    for paper in profile.papers:
        spellings.update(a for a in paper.authors if person_key(a) == owner_key)
    alternates = sorted(spellings - {profile.name})
    for name in alternates:
        st.append((owner, _s("alternateName"), literal(name)))
    m.names = (profile.name, *alternates)
    # shared terms (categories, organisations, feeds) whose own triples are already written:
    # a document describes each once, however many papers name it
    described: set[tuple[str, str]] = set()
    if profile.category_code:
        st.append((owner, _s("knowsAbout"), _minted(minter.category(profile.category_code))))
        described.add(("category", profile.category_code))
        st += _category_triples(profile.category_code, minter)
    st += _identifier_triples(owner_iri, profile.identifiers)
    # metrics and their history ---------------------------------------------
    for field_name, prop in PERSON_METRICS.items():
        value = getattr(profile.metrics, field_name)
        if value is None:
            continue
        prop_iri = _SKG + prop
        value_term = typed(value, METRIC_DATATYPES[prop])
        m.metrics[iri(prop_iri)] = value_term
        obs = _minted(minter.observation(owner_iri, prop, doc.as_of))
        m.observations += [
            (obs, A, _s("Observation")),
            (obs, _s("observationAbout"), owner),
            (obs, _s("measuredProperty"), iri(prop_iri)),
            (obs, _s("value"), value_term),
            (obs, _s("observationDate"), typed(doc.as_of.isoformat(), XSD_DATE)),
            (obs, iri(_PROV + "wasDerivedFrom"), _minted(m.graph)),
        ]
    # papers ------------------------------------------------------------------
    for paper in profile.papers:
        _map_paper(paper, owner, owner_key, minter, m, described)
    # provenance --------------------------------------------------------------
    m.description = _describe_document(doc, m, ingested_at)
    # set semantics inside one document, order kept for readable dumps
    m.statements = list(dict.fromkeys(st))
    return m


def _category_triples(code: str, minter: IriMinter) -> list[Triple]:
    cat = _minted(minter.category(code))
    out = [(cat, A, _s("DefinedTerm")), (cat, _s("termCode"), literal(code))]
    arxiv = arxiv_category(code)
    if arxiv:
        out.append((cat, _skg("arxivCategory"), literal(arxiv)))
    return out


def _first_time(described: set[tuple[str, str]], kind: str, key: str) -> bool:
    """True the first time a shared term is met in a document (and remembers it)."""
    if (kind, key) in described:
        return False
    described.add((kind, key))
    return True


def _map_paper(paper: Paper, owner: str, owner_key: str, minter: IriMinter,
               m: MappedDocument, described: set[tuple[str, str]]) -> None:
    p_iri = paper_iri(paper, minter)
    x = _minted(p_iri)
    st = m.statements
    add = st.append
    st += [(x, A, _ARTICLE), (x, _NAME, literal(paper.title))]
    if paper.abstract is not None:
        add((x, _ABSTRACT, literal(paper.abstract)))
    if paper.date is not None:
        add((x, _DATE_PUBLISHED, typed(paper.date.isoformat(), XSD_DATE)))
    if paper.date_text is not None:
        add((x, _DATE_AS_PRINTED, literal(paper.date_text)))
    if paper.category_code:
        add((x, _ABOUT, _minted(minter.category(paper.category_code))))
        if _first_time(described, "category", paper.category_code):
            st += _category_triples(paper.category_code, minter)
    if paper.score is not None:
        add((x, _PAPER_SCORE, typed(paper.score, XSD_DECIMAL)))
    if paper.code_available:
        add((x, _CODE_AVAILABLE, _TRUE))
    for url in paper.code_repositories:
        if is_valid_iri(url):
            add((x, _CODE_REPOSITORY, iri(url)))
    if paper.byline is not None:
        add((x, _CREDIT_TEXT, literal(paper.byline)))
    if paper.byline_complete is not None:
        add((x, _BYLINE_COMPLETE, _boolean_term(paper.byline_complete)))
    for org in paper.organisations:
        o = _minted(minter.organization(org))
        add((x, _SOURCE_ORGANIZATION, o))
        if _first_time(described, "organization", org):
            st += [(o, A, _ORGANIZATION), (o, _NAME, literal(org))]
    if paper.source_feed:
        feed = _minted(minter.source_feed(paper.source_feed))
        add((x, _IS_PART_OF, feed))
        # keyed by the name: two spellings of one feed each state their name
        if _first_time(described, "feed", paper.source_feed):
            st += [(feed, A, _PERIODICAL), (feed, _NAME, literal(paper.source_feed))]
    if paper.identifiers:
        st += _identifier_triples(p_iri, paper.identifiers)
    # authorship: the owner always, printed names as stated ----------------------
    st += [(x, _AUTHOR, owner), (x, _MAKER, owner), (owner, _MADE, x)]
    bylines = m.bylines
    for position, name in enumerate(paper.authors, start=1):
        a = _minted(minter.authorship(p_iri, position, name))
        st += [
            (x, _AUTHORSHIP, a),
            (a, A, _AUTHORSHIP_CLASS),
            (a, _NAME_AS_STATED, literal(name)),
            (a, _POSITION, _position_term(position)),
        ]
        key = person_key(name)
        is_owner = key == owner_key
        bylines.append((a, x, key, is_owner))
        if is_owner:
            add((a, _PERSON, owner))


def _describe_document(doc: SourceDocument, m: MappedDocument,
                       ingested_at: dt.datetime | None) -> list[Triple]:
    g = _minted(m.graph)
    out = [
        (g, A, _skg("SourceDocument")),
        (g, A, iri(_PROV + "Entity")),
        (g, _skg("sha256"), literal(doc.sha256)),
        (g, _skg("asOfDate"), typed(doc.as_of.isoformat(), XSD_DATE)),
        (g, _skg("fileName"), literal(doc.path.replace("\\", "/").rsplit("/", 1)[-1])),
        (g, _skg("documentLayout"), literal(doc.profile.layout)),
        (g, _skg("describes"), iri(m.person)),
    ]
    if doc.line is not None:
        out.append((g, _skg("sourceLine"), typed(doc.line, XSD_INTEGER)))
    if doc.profile.listed_paper_count is not None:
        listed = doc.profile.listed_paper_count
        out.append((g, _skg("listedPaperCount"), typed(listed, XSD_INTEGER)))
    if ingested_at is not None:
        utc = ingested_at.astimezone(dt.UTC).replace(microsecond=0)
        stamp = utc.isoformat().replace("+00:00", "Z")
        out.append((g, iri(_PROV + "generatedAtTime"), typed(stamp, XSD_DATETIME)))
    return out
