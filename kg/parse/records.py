"""Typed records: what a parser read from one profile document.

Records are plain, immutable values. Every literal is kept exactly as written
(no cleaning); derived keys live in :mod:`kg.mapping.names`.

>>> p = Paper(title="A & <B>", line=12)
>>> p.title, p.code_available, p.authors
('A & <B>', False, ())
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Literal

Layout = Literal["scored-profile-page", "collaborating-authors", "jsonl"]

#: identifier schemes a person may carry
PERSON_ID_SCHEMES = ("orcid", "dblp", "wikidata", "profile")
#: identifier schemes a paper may carry
PAPER_ID_SCHEMES = ("arxiv", "doi")


@dataclass(frozen=True, slots=True)
class Identifier:
    """An external identifier as given in the input, e.g. ``Identifier("orcid", "0000-...")``."""

    scheme: str
    value: str


@dataclass(frozen=True, slots=True)
class Metrics:
    """Profile metrics as printed. ``None`` means the document did not state it."""

    h_index: int | None = None
    paper_count: int | None = None
    citation_count: int | None = None
    novelty_score: Decimal | None = None
    ai_score: Decimal | None = None


@dataclass(frozen=True, slots=True)
class Paper:
    """One paper as listed on a profile."""

    title: str
    line: int
    abstract: str | None = None
    category_code: str | None = None
    #: resolved publication date (year-less dates resolved against the as-of date)
    date: dt.date | None = None
    #: the date exactly as printed, e.g. "Mar 13"
    date_text: str | None = None
    score: Decimal | None = None
    code_available: bool = False
    #: the byline exactly as printed, without the " · org, org" part
    byline: str | None = None
    #: author names in byline order, exactly as printed ("et al." is never an author)
    authors: tuple[str, ...] = ()
    #: False when the byline ends in "et al.", True when complete, None when there is no byline
    byline_complete: bool | None = None
    #: organisation slugs shown after " · "
    organisations: tuple[str, ...] = ()
    #: layout B: the feed the paper was listed from, e.g. "arXiv.org Artificial Intelligence"
    source_feed: str | None = None
    #: repository URLs found in the abstract (trailing sentence punctuation removed)
    code_repositories: tuple[str, ...] = ()
    identifiers: tuple[Identifier, ...] = ()


@dataclass(frozen=True, slots=True)
class Profile:
    """A researcher profile: the owner, their metrics and their papers."""

    #: display form "First Last"
    name: str
    layout: Layout
    #: the name exactly as printed when it differs from ``name`` (e.g. "Zhang, Zheng")
    name_as_printed: str | None = None
    alternate_names: tuple[str, ...] = ()
    category_code: str | None = None
    metrics: Metrics = field(default_factory=Metrics)
    #: the "<n> Papers" count the page states for its list
    listed_paper_count: int | None = None
    papers: tuple[Paper, ...] = ()
    identifiers: tuple[Identifier, ...] = ()


@dataclass(frozen=True, slots=True)
class SourceDocument:
    """One ingestible unit: a text file, or one record of a JSON Lines file.

    Identity is the SHA-256 of ``raw`` bytes: the same bytes are the same document.
    """

    path: str
    sha256: str
    as_of: dt.date
    profile: Profile
    #: 1-based line of the record in a JSON Lines file, None for a whole text file
    line: int | None = None
