"""The only place instance IRIs are minted.

IRIs are deterministic functions of identity keys under a configurable base IRI:
never ingest order, never blank nodes. Changing any function here changes the
public contract (see docs/decisions/).

>>> m = IriMinter("https://w3id.org/scholarkg/id/")
>>> m.person("Zhang, Zheng")
'https://w3id.org/scholarkg/id/person/zheng-zhang'
>>> m.person("Zheng Zhang", orcid="0000-0002-1825-0097")
'https://w3id.org/scholarkg/id/person/orcid-0000-0002-1825-0097'
>>> m.paper("Muon is Scalable for LLM Training")
'https://w3id.org/scholarkg/id/paper/c3681a29a493b371'
>>> m.category("LG")
'https://w3id.org/scholarkg/id/category/LG'
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from functools import lru_cache
from urllib.parse import quote

from kg.mapping.names import person_key, slug, title_key
from kg.output.ntriples import is_valid_iri

DEFAULT_BASE_IRI = "https://w3id.org/scholarkg/id/"

_DOI_SAFE = re.compile(r"[^A-Za-z0-9._-]")


def _digest(text: str, length: int = 16) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:length]


@lru_cache(maxsize=1 << 16)
def _name_digest(name: str) -> str:
    """The digest of a printed author name (cached: co-authors recur on paper after paper)."""
    return _digest(name, 8)


@lru_cache(maxsize=1 << 16)
def _segment(text: str) -> str:
    """An IRI path segment: unreserved characters kept, anything else percent-encoded.

    Cached: the same category codes and organisation slugs are minted on every paper.
    """
    return quote(text, safe="-._~")


#: the first path segment of every kind of minted IRI (its prefix name in Turtle output)
ENTITY_KINDS = ("person", "paper", "category", "organization", "source", "document", "graph",
                "linkset")


class IriMinter:
    """Mints every instance IRI under one base IRI (which must end in '/' or '#')."""

    def __init__(self, base_iri: str = DEFAULT_BASE_IRI) -> None:
        if not base_iri.endswith(("/", "#")):
            raise ValueError(f"base IRI must end with '/' or '#': {base_iri!r}")
        if not is_valid_iri(base_iri):
            raise ValueError(f"base IRI is not a valid absolute IRI: {base_iri!r}")
        self.base = base_iri

    # people -------------------------------------------------------------
    def person(self, name: str, *, orcid: str | None = None, profile_url: str | None = None) -> str:
        """A person: by ORCID, else by profile URL, else by normalised name."""
        if orcid:
            return f"{self.base}person/orcid-{_segment(orcid)}"
        if profile_url:
            return f"{self.base}person/url-{_digest(profile_url)}"
        return f"{self.base}person/{_segment(slug(person_key(name)))}"

    def observation(self, person_iri: str, metric: str, date: dt.date) -> str:
        """One metric observation of a person at an as-of date."""
        return f"{person_iri}/observation/{metric}/{date.isoformat()}"

    # papers -------------------------------------------------------------
    def paper(self, title: str, *, arxiv: str | None = None, doi: str | None = None) -> str:
        """A paper: by arXiv id, else by DOI, else by normalised title."""
        if arxiv:
            return f"{self.base}paper/arxiv-{_segment(arxiv)}"
        if doi:
            key = doi.lower()
            return f"{self.base}paper/doi-{_DOI_SAFE.sub('_', key)}-{_digest(key, 8)}"
        return f"{self.base}paper/{_digest(title_key(title))}"

    def authorship(self, paper_iri: str, position: int | None, name_as_stated: str) -> str:
        """One printed author name on one paper (position and exact spelling)."""
        pos = str(position) if position is not None else "x"
        return f"{paper_iri}/authorship/{pos}-{_name_digest(name_as_stated)}"

    # shared terms -------------------------------------------------------
    def category(self, code: str) -> str:
        return f"{self.base}category/{_segment(code)}"

    def organization(self, org_slug: str) -> str:
        return f"{self.base}organization/{_segment(org_slug)}"

    def source_feed(self, name: str) -> str:
        return f"{self.base}source/{_segment(slug(person_key(name)))}"

    # documents and the dataset ----------------------------------------
    def document(self, sha256: str) -> str:
        """The named graph of one ingested document, keyed by the SHA-256 of its bytes."""
        return f"{self.base}document/{sha256}"

    def author_links(self) -> str:
        """The named graph of byline names resolved to profiled persons across documents."""
        return f"{self.base}graph/author-links"

    def title_variants(self) -> str:
        """The named graph of paper titles printed differently by different documents."""
        return f"{self.base}graph/title-variants"

    def linkset(self, name: str) -> str:
        """The named graph of one curated link set (``kg link``), by its slugged name."""
        return f"{self.base}linkset/{name}"

    def dataset(self) -> str:
        return f"{self.base}dataset"

    def prefixes(self) -> dict[str, str]:
        """A prefix per kind of minted IRI, for serialisations that write prefixed names.

        >>> IriMinter("https://ex.org/id/").prefixes()["person"]
        'https://ex.org/id/person/'
        """
        return {kind: f"{self.base}{kind}/" for kind in ENTITY_KINDS}

    def local_path(self, iri: str) -> str | None:
        """The path of an IRI relative to the base, or None when it is not ours.

        >>> IriMinter("https://ex.org/id/").local_path("https://ex.org/id/person/a-b")
        'person/a-b'
        """
        return iri[len(self.base):] if iri.startswith(self.base) else None
