"""One value of every single-valued property in the default graph, whatever the order.

Property-based: JSON Lines records this test writes (three researchers, a few papers
printed by several of them with shortened or whole abstracts, other dates, categories,
scores and bylines, each researcher in one to three snapshots), together with every
bundled sample profile, are ingested in random orders, split into random runs, with
re-ingests. Each time the store conforms to the SHACL shapes (every graph), holds no
authorship with ``schema:author``, keeps one value of each single-valued property,
keeps the value its rule names (docs/decisions/0007-single-values.md), and is the same
store whatever the order.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kg.errors import DocumentError
from kg.ingest import Ingestor
from kg.mapping.iris import IriMinter
from kg.mapping.migrations import old_model_authorships
from kg.mapping.single_values import RULES
from kg.parse.detect import iter_input_files, read_documents
from kg.parse.jsonl import parse_jsonl
from kg.parse.records import SourceDocument
from kg.storage.store import KnowledgeStore
from kg.validate import validate_store
from tests.sample_data import AS_OF, BASE, EXAMPLES, INGESTED_AT

PEOPLE = ("Ines Vantongeren", "Rafael Okonkwo-Lind", "Tova Haraldsen")
DATES = (dt.date(2026, 10, 1), dt.date(2026, 11, 1), dt.date(2026, 11, 21), dt.date(2026, 12, 1))
CATEGORIES = ("LG", "CV", "CL")
SCORES = ("1.5", "2.25", "9.1", "9.10")
PAPER_DATES = (("2025-03-13", "Mar 13"), ("2025-03-14", "2025-03-14"), ("2024-11-02", "Nov 2"))

#: the abstract written in full; printings shorten it (a first sentence, a cut excerpt)
FULL = ("We bound the regret of greedy matching on sparse graphs. The bound is tight for "
        "trees. Experiments on four benchmarks agree with it.")
ABSTRACTS = (None, FULL.split(". ")[0] + ".", FULL[:61] + "...", FULL,
             FULL.replace("trees", "TREES"))  # as long as FULL: the tie-break decides

#: single-valued person properties in the default graph (their rules: docs 0004, 0007)
PERSON_SINGLE = ("<https://schema.org/name>", "<http://xmlns.com/foaf/0.1/name>",
                 "<https://schema.org/knowsAbout>",
                 *(f"<https://w3id.org/scholarkg/ns#{m}>"
                   for m in ("hIndex", "paperCount", "citationCount", "noveltyScore",
                             "aiScore")))


def _sample_documents() -> list[SourceDocument]:
    docs = []
    for f in iter_input_files([EXAMPLES]):
        for d in read_documents(f, as_of=AS_OF):
            assert isinstance(d, SourceDocument), d
            docs.append(d)
    return docs


SAMPLE = _sample_documents()
#: a paper of the sample that generated profiles print too (identified by its title)
SHARED_TITLE = next(p.title for d in SAMPLE for p in d.profile.papers if not p.identifiers)
TITLES = ("Greedy Matching on Sparse Graphs", "Tight Regret for Online Assignment",
          SHARED_TITLE)


@dataclass(frozen=True)
class Record:
    """One generated JSON Lines record: a snapshot of one researcher's profile."""

    person: str
    as_of: dt.date
    data: dict[str, object]

    @property
    def line(self) -> bytes:
        return json.dumps(self.data, sort_keys=True).encode() + b"\n"

    @property
    def path(self) -> str:
        return f"{self.person.split()[0].lower()}-{self.as_of.isoformat()}.jsonl"


@st.composite
def printings(draw: st.DrawFn, owner: str) -> dict[str, object]:
    title = draw(st.sampled_from(TITLES))
    paper: dict[str, object] = {
        "title": draw(st.sampled_from((title, title.upper(), title.lower())))}
    abstract = draw(st.sampled_from(ABSTRACTS))
    if abstract is not None:
        paper["abstract"] = abstract
    date = draw(st.sampled_from((None, *PAPER_DATES)))
    if date is not None:
        paper["date"], paper["date_text"] = date
    category = draw(st.sampled_from((None, *CATEGORIES)))
    if category is not None:
        paper["category"] = category
    score = draw(st.sampled_from((None, *SCORES)))
    if score is not None:
        paper["score"] = score
    if draw(st.booleans()):
        others = draw(st.lists(st.sampled_from((*PEOPLE, "Zed Outsider")), unique=True,
                               max_size=2))
        byline = ", ".join([owner, *(o for o in others if o != owner)])
        paper["byline"] = byline + (" et al." if draw(st.booleans()) else "")
    if draw(st.booleans()):
        paper["code_available"] = True
    return paper


@st.composite
def corpora(draw: st.DrawFn) -> list[Record]:
    records = []
    for person in PEOPLE:
        dates = draw(st.lists(st.sampled_from(DATES), unique=True, min_size=1, max_size=3))
        by_title: dict[str, dict[str, object]] = {}
        for as_of in dates:
            # a further snapshot may restate the papers of the one before unchanged
            if not by_title or draw(st.booleans()):
                papers = draw(st.lists(printings(person), max_size=3))
                # one printing per paper and document (a profile lists a paper once)
                by_title = {}
                for p in papers:
                    by_title.setdefault(str(p["title"]).casefold(), p)
            data: dict[str, object] = {
                "name": person, "as_of": as_of.isoformat(),
                "category": draw(st.sampled_from(CATEGORIES)),
                "metrics": {"h_index": draw(st.integers(0, 40)),
                            "paper_count": draw(st.integers(0, 40))},
                "papers": list(by_title.values()),
            }
            records.append(Record(person, as_of, data))
    return records


def _documents(record: Record) -> list[SourceDocument]:
    docs = list(parse_jsonl(record.line, path=record.path, as_of=record.as_of))
    assert all(isinstance(d, SourceDocument) for d in docs), docs
    return [d for d in docs if isinstance(d, SourceDocument)]


def _ingest(runs: list[list[SourceDocument]]) -> KnowledgeStore:
    store = KnowledgeStore.open(None)
    for run in runs:
        report = Ingestor(store, IriMinter(BASE), ingested_at=INGESTED_AT).ingest(run)
        assert not [item for item in report.rejected if isinstance(item, DocumentError)]
    return store


def _runs(draw: st.DrawFn, records: list[Record]) -> list[list[SourceDocument]]:
    """Every sample profile and record in a random order, some twice, in random runs."""
    items = list(SAMPLE) + [d for r in records for d in _documents(r)]
    items += draw(st.lists(st.sampled_from(items), max_size=3))  # re-ingests
    order = draw(st.permutations(items))
    cuts = sorted(draw(st.lists(st.integers(1, max(1, len(order) - 1)), max_size=2)))
    bounds = [0, *cuts, len(order)]
    return [list(order[a:b]) for a, b in zip(bounds, bounds[1:], strict=False) if a < b]


def _all_quads(store: KnowledgeStore) -> list[str]:
    return sorted(store.quad_lines(all_graphs=True))


def _repeated(store: KnowledgeStore) -> list[dict[str, str]]:
    props = " ".join(sorted({*RULES, *PERSON_SINGLE}))
    return list(store.query(f"""
        SELECT ?x ?p (COUNT(?v) AS ?n) WHERE {{ VALUES ?p {{ {props} }} ?x ?p ?v }}
        GROUP BY ?x ?p HAVING (COUNT(?v) > 1)""").term_rows())


def _current_printings(records: list[Record]) -> Iterator[dict[str, object]]:
    """The paper printings of each person's latest snapshot."""
    for person in PEOPLE:
        latest = max((r for r in records if r.person == person), key=lambda r: r.as_of)
        papers = latest.data["papers"]
        assert isinstance(papers, list)
        yield from papers


def _value(store: KnowledgeStore, paper: str, prop: str) -> list[str]:
    return [r["v"][1] for r in store.query(
        f"SELECT ?v WHERE {{ <{paper}> <{prop}> ?v }}").rows()]


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(records=corpora(), data=st.data())
def test_single_values_whatever_the_profiles_and_their_order(
        records: list[Record], data: st.DataObject) -> None:
    first = _ingest(_runs(data.draw, records))

    reports = validate_store(first)
    assert all(r.conforms for r in reports), [r.text for r in reports if not r.conforms][:1]
    assert old_model_authorships(first) == 0
    assert _repeated(first) == []

    # the rules: the fullest abstract, the earliest date, the smallest title
    minter = IriMinter(BASE)
    for title in TITLES[:2]:  # the third one is printed by a sample profile as well
        printed = [p for p in _current_printings(records)
                   if str(p["title"]).casefold() == title.casefold()]
        paper = minter.paper(title)
        abstracts = [str(p["abstract"]) for p in printed if "abstract" in p]
        want = [min(abstracts, key=lambda a: (-len(a), a))] if abstracts else []
        assert _value(first, paper, "https://schema.org/abstract") == want
        dates = sorted(str(p["date"]) for p in printed if "date" in p)
        assert _value(first, paper, "https://schema.org/datePublished") == dates[:1]
        titles = sorted({str(p["title"]) for p in printed})
        assert _value(first, paper, "https://schema.org/name") == titles[:1]
        assert sorted(_value(first, paper, "https://schema.org/alternateName")) == titles[1:]

    # another order, other runs, other re-ingests: the same store
    second = _ingest(_runs(data.draw, records))
    one, other = set(_all_quads(first)), set(_all_quads(second))
    assert (sorted(one - other), sorted(other - one)) == ([], [])


def test_the_generated_profiles_overlap_the_sample() -> None:
    """The shared title is printed by a sample profile (so generated printings meet it)."""
    store = _ingest([list(SAMPLE)])
    paper = IriMinter(BASE).paper(SHARED_TITLE)
    assert _value(store, paper, "https://schema.org/name") == [SHARED_TITLE]
    assert Path(EXAMPLES).is_dir()
