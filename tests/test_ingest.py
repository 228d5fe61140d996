"""Ingest semantics: merged default graph, snapshots, history, idempotency."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import time
from decimal import Decimal

import pytest

from kg.ingest import Ingestor
from kg.mapping.iris import IriMinter
from kg.mapping.mapper import MappedDocument
from kg.parse.records import Metrics, Paper, Profile, SourceDocument
from kg.storage.store import KnowledgeStore

BASE = "https://example.org/id/"
SHARED = "Learning to Share: A Paper on Two Profiles"
PREFIX = "PREFIX schema: <https://schema.org/> PREFIX skg: <https://w3id.org/scholarkg/ns#> "


def doc(name: str, as_of: str, papers: tuple[Paper, ...], h: int = 3, salt: str = "",
        layout: str = "scored-profile-page") -> SourceDocument:
    sha = hashlib.sha256(f"{name}|{as_of}|{h}|{salt}|{[p.title for p in papers]}".encode()).hexdigest()
    metrics = Metrics(h_index=h, paper_count=len(papers), citation_count=10 * h,
                      novelty_score=Decimal("50"), ai_score=Decimal("40"))
    profile = Profile(name=name, layout=layout, category_code="LG", metrics=metrics,  # type: ignore[arg-type]
                      listed_paper_count=len(papers), papers=papers)
    return SourceDocument(f"{name}.txt", sha, dt.date.fromisoformat(as_of), profile)


def paper(title: str, *authors: str, complete: bool = False) -> Paper:
    return Paper(title=title, line=1, abstract="An abstract with \"quotes\" \\ and é.",
                 category_code="LG", date=dt.date(2025, 3, 1), date_text="Mar 1, 2025",
                 byline=", ".join(authors) + ("" if complete else " et al."),
                 authors=authors, byline_complete=complete)


def count(store: KnowledgeStore, where: str) -> int:
    rows = list(store.query(PREFIX + f"SELECT (COUNT(*) AS ?n) WHERE {{ {where} }}").rows())
    return int(rows[0]["n"][1])


def dataset(store: KnowledgeStore) -> set[tuple[str, str, str, str]]:
    rows = store.query("SELECT ?s ?p ?o ?g WHERE { { ?s ?p ?o } UNION { GRAPH ?g { ?s ?p ?o } } }")
    return {(r["s"], r["p"], r["o"], r.get("g", "")) for r in rows.term_rows()}


@pytest.fixture
def store() -> KnowledgeStore:
    return KnowledgeStore.open(None)


def ingest(store: KnowledgeStore, *docs: SourceDocument):
    return Ingestor(store, IriMinter(BASE), ingested_at=dt.datetime(2026, 11, 21, tzinfo=dt.UTC)).ingest(docs)


def test_shared_paper_is_one_paper_with_both_authors(store: KnowledgeStore) -> None:
    a = doc("Ada Byron", "2026-11-01", (paper(SHARED, "Ada Byron", "Carl Gauss"), paper("Solo A", "X Y")))
    c = doc("Carl Gauss", "2026-11-01", (paper(SHARED, "Ada Byron", "Carl Gauss"),))
    report = ingest(store, a, c)
    assert report.ok and len(report.ingested) == 2
    assert count(store, "?p a schema:ScholarlyArticle") == 2
    assert count(store, "?p a schema:Person") == 2
    assert count(store, f'?p schema:name "{SHARED}" ; schema:author ?a') == 2
    # the same triple stated by both documents is in the default graph once
    assert count(store, f'?p schema:name "{SHARED}"') == 1
    assert count(store, "GRAPH ?g { ?d a skg:SourceDocument }") == 0
    assert len(list(store.named_graphs())) == 2  # one per document; no cross links needed


def test_reingest_same_bytes_changes_nothing(store: KnowledgeStore) -> None:
    a = doc("Ada Byron", "2026-11-01", (paper(SHARED, "Ada Byron"),))
    ingest(store, a)
    before = dataset(store)
    report = ingest(store, a)
    assert report.unchanged == ["Ada Byron.txt"] and not report.ingested
    assert dataset(store) == before


def test_later_snapshot_replaces_current_values_and_keeps_history(store: KnowledgeStore) -> None:
    old = doc("Ada Byron", "2026-10-01", (paper("Old Paper", "Ada Byron"), paper(SHARED, "Q R")), h=3)
    new = doc("Ada Byron", "2026-11-01", (paper("New Paper", "Ada Byron"), paper(SHARED, "Q R")), h=5)
    ingest(store, old)
    report = ingest(store, new)
    assert report.superseded == 1
    assert count(store, "?p skg:hIndex ?h") == 1
    assert count(store, "?p skg:hIndex 5") == 1
    assert count(store, "?o a schema:Observation ; schema:measuredProperty skg:hIndex") == 2
    # the old snapshot's paper list is no longer current, but its graph stays
    assert count(store, '?p schema:name "Old Paper"') == 0
    assert count(store, '?p schema:name "New Paper"') == 1
    assert count(store, f'?p schema:name "{SHARED}"') == 1
    assert count(store, 'GRAPH ?g { ?p schema:name "Old Paper" }') == 1
    assert count(store, "?old skg:supersededBy ?new") == 1


def test_older_snapshot_after_newer_only_adds_history(store: KnowledgeStore) -> None:
    old = doc("Ada Byron", "2026-10-01", (paper("Old Paper", "Ada Byron"),), h=3)
    new = doc("Ada Byron", "2026-11-01", (paper("New Paper", "Ada Byron"),), h=5)
    ingest(store, new)
    report = ingest(store, old)
    assert report.historical == 1
    assert count(store, "?p skg:hIndex 5") == 1 and count(store, "?p skg:hIndex ?h") == 1
    assert count(store, '?p schema:name "Old Paper"') == 0
    assert count(store, "?o schema:measuredProperty skg:hIndex") == 2


def test_ingest_order_does_not_change_the_dataset() -> None:
    a = doc("Ada Byron", "2026-11-01", (paper(SHARED, "Ada Byron", "Carl Gauss"),))
    a2 = doc("Ada Byron", "2026-11-05", (paper(SHARED, "Ada Byron", "Carl Gauss"),), h=4)
    c = doc("Carl Gauss", "2026-11-01", (paper("Gauss Alone", "Carl Gauss", "Ada Byron"),))
    s1, s2 = KnowledgeStore.open(None), KnowledgeStore.open(None)
    ingest(s1, a, a2, c)
    ingest(s2, c)
    ingest(s2, a2)
    ingest(s2, a)
    d1, d2 = dataset(s1), dataset(s2)
    # only the supersededBy direction may differ by order? no: it must not
    assert d1 == d2


def test_byline_names_resolve_to_profiled_people(store: KnowledgeStore) -> None:
    a = doc("Ada Byron", "2026-11-01", (paper("Joint Work", "ADA BYRON", "Carl  Gauss"),))
    c = doc("Carl Gauss", "2026-11-01", (paper("Other Work", "Carl Gauss"),))
    ingest(store, a)
    ingest(store, c)
    q = '?x schema:name "Joint Work" ; skg:authorship ?a . ?a skg:nameAsStated "Carl  Gauss" ; skg:person ?p . ?p schema:name "Carl Gauss"'
    assert count(store, q) == 1
    assert count(store, '?x schema:name "Joint Work" ; schema:author ?p') == 2
    assert count(store, '?p schema:name "Ada Byron" ; schema:alternateName "ADA BYRON"') == 1


def test_rerun_after_a_crash_before_the_link_pass_restores_links(store: KnowledgeStore) -> None:
    a = doc("Ada Byron", "2026-11-01", (paper("Joint Work", "Ada Byron", "Carl Gauss"),))
    c = doc("Carl Gauss", "2026-11-01", (paper("Other Work", "Carl Gauss"),))
    ingest(store, a, c)
    complete = dataset(store)
    links = IriMinter(BASE).author_links()
    # what a run killed between its last batch and the link pass leaves behind
    for s, p, o, _g in [q for q in complete if q[3] == f"<{links}>"]:
        store.update(f"DELETE DATA {{ GRAPH <{links}> {{ {s} {p} {o} }} }}")
        store.update(f"DELETE DATA {{ {s} {p} {o} }}")
    assert dataset(store) != complete
    report = ingest(store, a, c)
    assert not report.ingested and len(report.unchanged) == 2
    assert dataset(store) == complete


def test_one_title_per_paper_when_profiles_print_it_differently(store: KnowledgeStore) -> None:
    a = doc("Ada Byron", "2026-11-01", (paper("Muon Is Scalable", "Ada Byron"),))
    c = doc("Carl Gauss", "2026-11-01", (paper("Muon is scalable", "Carl Gauss"),))
    ingest(store, a, c)
    names = "SELECT ?n { ?x a schema:ScholarlyArticle ; schema:name ?n }"
    assert [r["n"][1] for r in store.query(PREFIX + names).rows()] == ["Muon Is Scalable"]
    alts = "SELECT ?n { ?x a schema:ScholarlyArticle ; schema:alternateName ?n }"
    assert [r["n"][1] for r in store.query(PREFIX + alts).rows()] == ["Muon is scalable"]
    assert count(store, '?x a schema:ScholarlyArticle ; schema:author ?p') == 2  # one paper, two authors
    # the other order gives the same dataset
    other = KnowledgeStore.open(None)
    ingest(other, c)
    ingest(other, a)
    assert dataset(other) == dataset(store)


def test_withdrawn_title_variant_leaves_the_default_graph(store: KnowledgeStore) -> None:
    a = doc("Ada Byron", "2026-11-01", (paper("Muon Is Scalable", "Ada Byron"),))
    c = doc("Carl Gauss", "2026-11-01", (paper("Muon is scalable", "Carl Gauss"),))
    c2 = doc("Carl Gauss", "2026-11-05", (paper("Something Else", "Carl Gauss"),))
    ingest(store, a, c)
    ingest(store, c2)
    assert count(store, "?x schema:alternateName ?n") == 0
    assert count(store, '?x schema:name "Muon Is Scalable"') == 1


def _three_docs() -> list[SourceDocument]:
    return [doc("Ada Byron", "2026-11-01", (paper(SHARED, "Ada Byron", "Carl Gauss"),
                                           paper("Solo A", "X Y"))),
            doc("Carl Gauss", "2026-11-01", (paper(SHARED, "Ada Byron", "Carl Gauss"),)),
            doc("Ada Byron", "2026-11-10", (paper(SHARED, "Ada Byron", "Carl Gauss"),), h=4)]


def test_batches_of_any_size_give_the_same_dataset() -> None:
    """Bulk-loaded batches of one document each, of several, and all documents at once."""
    datasets = []
    for batch_quads in (1, 40, 999_999):
        store = KnowledgeStore.open(None)
        ingestor = Ingestor(store, IriMinter(BASE), batch_quads=batch_quads,
                            ingested_at=dt.datetime(2026, 11, 21, tzinfo=dt.UTC))
        assert ingestor.ingest(_three_docs()).ok
        datasets.append(dataset(store))
    assert datasets[0] == datasets[1] == datasets[2]
    assert len(datasets[0]) > 50


def _four_docs() -> list[SourceDocument]:
    """Three documents, and one whose byline names Ada Byron on a paper she does not list."""
    return [*_three_docs(),
            doc("Emmy Noether", "2026-11-01", (paper("Rings", "Emmy Noether", "Ada Byron"),))]


def test_packed_documents_give_the_same_dataset() -> None:
    """Documents as worker processes send them (packed: N-Quads and text, not tuples) give
    what the documents themselves give, further snapshots of a person included (newer,
    older, and in a second run into a store that holds the person)."""
    from kg.mapping.mapper import map_document

    at = dt.datetime(2026, 11, 21, tzinfo=dt.UTC)
    first = [*_four_docs(), doc("Ada Byron", "2026-10-01", (paper("Early", "Ada Byron"),))]
    second = [doc("Carl Gauss", "2026-11-20", (paper("Late", "Carl Gauss", "Ada Byron"),))]

    def packed(docs: list[SourceDocument]) -> list[MappedDocument]:
        out = []
        for d in docs:
            m = map_document(d, IriMinter(BASE), ingested_at=at)
            m.pack()
            out.append(m)
        return out

    reference, store = KnowledgeStore.open(None), KnowledgeStore.open(None)
    for docs in (first, second):
        assert Ingestor(reference, IriMinter(BASE), ingested_at=at).ingest(docs).ok
        report = Ingestor(store, IriMinter(BASE), ingested_at=at).ingest(packed(docs))
        assert report.ok
        assert dataset(store) == dataset(reference)
    assert report.superseded == 1
    assert count(store, "?g skg:supersededBy ?h") == 3


def test_batches_loaded_at_the_same_time_give_the_same_dataset() -> None:
    """One batch per document, loaded one, two or four at a time."""
    datasets = []
    for load_threads in (1, 2, 4):
        store = KnowledgeStore.open(None)
        ingestor = Ingestor(store, IriMinter(BASE), batch_quads=1, load_threads=load_threads,
                            ingested_at=dt.datetime(2026, 11, 21, tzinfo=dt.UTC))
        assert ingestor.ingest(_four_docs()).ok
        datasets.append(dataset(store))
    assert datasets[0] == datasets[1] == datasets[2]
    with pytest.raises(ValueError, match="load_threads"):
        Ingestor(KnowledgeStore.open(None), IriMinter(BASE), load_threads=0)


def test_run_level_passes_write_the_same_through_the_bulk_loader(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Large insert-only writes of the run-level passes go through the bulk loader, in
    steps of ``batch_quads``; the dataset is the one SPARQL INSERT DATA gives."""
    import kg.ingest

    reference = KnowledgeStore.open(None)
    ingest(reference, *_four_docs())
    monkeypatch.setattr(kg.ingest, "BULK_INSERT_MIN", 1)
    bulk: list[int] = []
    original = KnowledgeStore.load_nquads

    def load_nquads(self: KnowledgeStore, text: str) -> None:
        bulk.append(text.count("\n"))
        original(self, text)

    monkeypatch.setattr(KnowledgeStore, "load_nquads", load_nquads)
    store = KnowledgeStore.open(None)
    assert Ingestor(store, IriMinter(BASE), batch_quads=3,
                    ingested_at=dt.datetime(2026, 11, 21, tzinfo=dt.UTC)).ingest(_four_docs()).ok
    assert len(bulk) > 1 and all(0 < n <= 3 for n in bulk)  # the passes, in steps
    assert dataset(store) == dataset(reference)
    links = f"<{IriMinter(BASE).author_links()}>"
    assert count(store, f"GRAPH {links} {{ ?x schema:author ?p }}") > 0


@pytest.mark.parametrize("load_threads", [1, 2])
def test_run_level_steps_are_loaded_load_threads_at_a_time(
        monkeypatch: pytest.MonkeyPatch, load_threads: int) -> None:
    """The steps of the run-level passes are bulk-loaded ``load_threads`` at a time (the
    link pass of a large first run loads millions of quads), each of ``batch_quads /
    load_threads`` quads so that the loads in flight hold no more memory than one."""
    import threading

    import kg.ingest

    reference = KnowledgeStore.open(None)
    ingest(reference, *_four_docs())
    monkeypatch.setattr(kg.ingest, "BULK_INSERT_MIN", 1)
    steps: list[int] = []
    active = [0, 0]  # loads running now, most at once
    lock = threading.Lock()
    original = KnowledgeStore.load_nquads

    def load_nquads(self: KnowledgeStore, text: str) -> None:
        with lock:
            steps.append(text.count("\n"))
            active[0] += 1
            active[1] = max(active)
        time.sleep(0.05)  # long enough for the next step to start beside this one
        original(self, text)
        with lock:
            active[0] -= 1

    monkeypatch.setattr(KnowledgeStore, "load_nquads", load_nquads)
    store = KnowledgeStore.open(None)
    assert Ingestor(store, IriMinter(BASE), batch_quads=2, load_threads=load_threads,
                    ingested_at=dt.datetime(2026, 11, 21, tzinfo=dt.UTC)).ingest(_four_docs()).ok
    assert len(steps) > 2 and max(steps) == 2 // load_threads
    assert active == [0, load_threads]
    assert dataset(store) == dataset(reference)


def test_a_first_document_too_big_for_one_bulk_step_is_one_transaction(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A first snapshot the loader would split into separately atomic steps is written as
    a transaction instead, with the same result as the bulk path."""
    import kg.ingest

    reference = KnowledgeStore.open(None)
    ingest(reference, *_three_docs())
    monkeypatch.setattr(kg.ingest, "LOADER_BATCH", 10)
    store = KnowledgeStore.open(None)
    loads: list[str] = []
    monkeypatch.setattr(KnowledgeStore, "load_nquads_file",
                        lambda self, path: loads.append(path))  # would lose data if called
    assert Ingestor(store, IriMinter(BASE), batch_quads=5,
                    ingested_at=dt.datetime(2026, 11, 21, tzinfo=dt.UTC)).ingest(_three_docs()).ok
    assert loads == []
    assert dataset(store) == dataset(reference)


def test_batch_size_must_stay_below_the_loader_step() -> None:
    with pytest.raises(ValueError, match="batch_quads"):
        Ingestor(KnowledgeStore.open(None), IriMinter(BASE), batch_quads=1_000_000)


def _generated_dataset(folder, monkeypatch: pytest.MonkeyPatch, *, from_store: bool):
    """A generated corpus ingested into an empty store; ``from_store`` makes the author-link
    pass read the store (as for a store that held documents) instead of the run's file."""
    from kg.parallel import map_files
    from kg.parse.detect import iter_input_files

    with monkeypatch.context() as patch:
        if from_store:
            patch.setattr(Ingestor, "_link_run_authors", None)  # fails if called
            patch.setattr(KnowledgeStore, "is_empty", lambda self: False)
        else:
            patch.setattr(Ingestor, "_links_from_store", None)
        store = KnowledgeStore.open(None)
        ingestor = Ingestor(store, IriMinter(BASE), batch_quads=5000,
                            ingested_at=dt.datetime(2026, 11, 21, tzinfo=dt.UTC))
        items = [item for results in map_files(
            list(iter_input_files([folder])), as_of=dt.date(2026, 11, 21), base_iri=BASE,
            ingested_at=ingestor.ingested_at, processes=1) for item in results]
        report = ingestor.ingest(items)
    assert report.ok
    return dataset(store), report.links_added


def test_author_links_of_a_first_run_read_from_the_run_equal_those_read_from_the_store(
        tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Shared papers and co-authors across 80 generated profiles: the links computed from
    the run's bylines are exactly those the store query finds."""
    from benchmarks.generate_corpus import generate

    generate(80, tmp_path / "corpus", seed=11)
    from_run, links_run = _generated_dataset(tmp_path / "corpus", monkeypatch, from_store=False)
    from_store, links_store = _generated_dataset(tmp_path / "corpus", monkeypatch,
                                                 from_store=True)
    assert links_run == links_store > 0
    assert from_run == from_store


def test_a_later_snapshot_in_a_first_run_makes_the_link_pass_read_the_store(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A superseded snapshot's bylines may leave the default graph: the run's file no
    longer tells what the store holds."""
    monkeypatch.setattr(Ingestor, "_link_run_authors", None)  # fails if called
    store = KnowledgeStore.open(None)
    assert ingest(store, *_four_docs()).ok
    links = f"<{IriMinter(BASE).author_links()}>"
    assert count(store, f"GRAPH {links} {{ ?x schema:author ?p }}") > 0


def _ambiguous_docs() -> list[SourceDocument]:
    """Two persons named Ada Byron (told apart by ORCID), a Carl Gauss whose profile prints
    his name two ways, and bylines naming each of them on someone else's paper."""
    from kg.parse.records import Identifier

    def with_orcid(d: SourceDocument, orcid: str) -> SourceDocument:
        profile = dataclasses.replace(d.profile, identifiers=(Identifier("orcid", orcid),))
        return dataclasses.replace(d, profile=profile)

    return [with_orcid(doc("Ada Byron", "2026-11-01", (paper("A1", "Ada Byron"),)),
                       "0000-0002-1825-0097"),
            with_orcid(doc("Ada Byron", "2026-11-01", (paper("A2", "Ada Byron"),), salt="2"),
                       "0000-0001-5109-3700"),
            doc("Carl Gauss", "2026-11-01", (paper("C1", "CARL GAUSS"), paper("C2", "Carl Gauss"))),
            doc("Emmy Noether", "2026-11-01", (paper("E1", "Emmy Noether", "Ada Byron",
                                                    "Carl Gauss", "CARL GAUSS"),))]


@pytest.mark.parametrize("from_store", [False, True])
def test_a_name_two_persons_share_is_never_linked(monkeypatch: pytest.MonkeyPatch,
                                                  from_store: bool) -> None:
    """Read from the run or from the store: a byline name that names two profiled persons
    links to neither, one that names one person (by any of his names) links to him."""
    with monkeypatch.context() as patch:
        if from_store:
            patch.setattr(Ingestor, "_link_run_authors", None)  # fails if called
            patch.setattr(KnowledgeStore, "is_empty", lambda self: False)
        store = KnowledgeStore.open(None)
        report = Ingestor(store, IriMinter(BASE)).ingest(_ambiguous_docs())
    assert report.ok and report.links_added == 2 + 3  # two bylines, one (paper, person)
    links = f"<{IriMinter(BASE).author_links()}>"
    linked = {row["p"][1].rsplit("/", 1)[-1] for row in store.query(
        f"SELECT DISTINCT ?p WHERE {{ GRAPH {links} {{ ?x <https://schema.org/author> ?p }} }}"
    ).rows()}
    assert linked == {"carl-gauss"}


def test_the_store_is_flushed_only_after_transactions(monkeypatch: pytest.MonkeyPatch) -> None:
    """Bulk loads leave nothing in memory to flush, and RocksDB holds a flush back until
    compactions catch up with them: a run of first documents alone does not flush; a run
    with a later snapshot (a transaction) does."""
    flushes: list[int] = []
    monkeypatch.setattr(KnowledgeStore, "flush", lambda self: flushes.append(1))
    first = _three_docs()[:2]  # two persons' first documents, nothing for the passes to add
    assert ingest(KnowledgeStore.open(None), *first).ok and flushes == []
    assert ingest(KnowledgeStore.open(None), *_four_docs()).ok and flushes == [1]
