"""Ingest: mapped documents into the store, one atomic write per document or batch.

The store holds one named graph per document (what it said) and a default graph
that is the merged, current knowledge graph:

- the statements of every *current* document (the latest snapshot of each profile,
  per layout); a superseded document's statements leave the default graph unless
  another current document states them too;
- every metric observation of every snapshot (history), and for each person only
  the latest value of each metric;
- the PROV description of every document graph;
- byline names resolved to profiled persons across documents (kept also in the
  named graph :meth:`IriMinter.author_links`).
- one value of each single-valued paper property (title, abstract, date, category,
  score, byline), chosen from the current documents' printings by
  :mod:`kg.mapping.single_values`, whatever the ingest order.

Re-ingesting identical bytes changes nothing. Each document is written in one
transaction, so a reader or a crash never sees half of one.
"""

from __future__ import annotations

import datetime as dt
import itertools
import os
import tempfile
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import IO

from kg.errors import DocumentError
from kg.mapping.iris import IriMinter
from kg.mapping.mapper import MappedDocument, bylines_tsv, map_document
from kg.mapping.migrations import check_authorship_model
from kg.mapping.names import person_key
from kg.mapping.single_values import NAME, RULES, Printing, choose
from kg.mapping.vocab import PERSON_METRICS, PREFIXES
from kg.output.ntriples import XSD_DATE, Quad, Triple, data_block, iri, quad_line, typed
from kg.output.results_io import nt_term
from kg.parse.records import SourceDocument
from kg.storage.store import KnowledgeStore

_S = PREFIXES["schema"]
_SKG = PREFIXES["skg"]
_FOAF = PREFIXES["foaf"]
_METRIC_PROPS = {iri(_SKG + p) for p in PERSON_METRICS.values()}
_SUPERSEDED_BY = iri(_SKG + "supersededBy")
_SINGLE_VALUED = " ".join(RULES)
_SINGLE_VALUED_SET = frozenset(RULES)
_SINGLE_VALUED_TERMS = tuple(sorted(RULES))

_PREFIX_DECL = "".join(f"PREFIX {k}: <{v}>\n" for k, v in PREFIXES.items())

#: the bulk loader sorts its input on one worker thread per batch of this many quads, and
#: holds about 1 KB of memory per quad of a batch; a smaller load stays on one thread
LOADER_BATCH = 1_000_000
#: quads per bulk-loaded batch: small enough that LOAD_THREADS loads fit in memory together
BATCH_QUADS = 450_000
#: batches bulk-loaded at the same time (a load keeps about one core busy)
LOAD_THREADS = 2
#: an insert-only write of at least this many quads goes through the bulk loader (fewer
#: would leave many tiny files in the store)
BULK_INSERT_MIN = 10_000


def ingest_time() -> dt.datetime:
    """Now, or SOURCE_DATE_EPOCH when set (reproducible builds)."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    if epoch:
        return dt.datetime.fromtimestamp(int(epoch), dt.UTC)
    return dt.datetime.now(dt.UTC)


@dataclass
class IngestReport:
    ingested: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    rejected: list[DocumentError] = field(default_factory=list)
    superseded: int = 0
    historical: int = 0
    links_added: int = 0
    links_removed: int = 0
    #: seconds spent per phase of the run: documents, author links, single values
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.rejected


@dataclass
class _Current:
    graph: str
    as_of: dt.date


def _label(doc: SourceDocument) -> str:
    return f"{doc.path}:{doc.line}" if doc.line is not None else doc.path


#: where an open file can be opened again by path (Linux)
_OWN_FDS = "/proc/self/fd"


class _BatchFile:
    """N-Quads of whole documents gathered on disk (memory stays flat however big a batch).

    Where the system allows it the file has no name (``tempfile.TemporaryFile``) and the
    store's loader reads it through ``/proc/self/fd``: an ingest that is killed leaves
    no batch behind in the temporary folder (a batch can be a gigabyte).

    >>> batch = _BatchFile()
    >>> batch.add(b"<http://a> <http://b> <http://c> .\\n", 1)
    >>> batch.file.flush()
    >>> with open(batch.path, "rb") as again:
    ...     again.read(10), batch.quads
    (b'<http://a>', 1)
    >>> batch.close()
    """

    def __init__(self) -> None:
        #: opened by the first :meth:`add`: an ingest that stops before (a refused store)
        #: leaves no file open
        self._file: IO[bytes] | None = None
        self.path = ""
        self.quads = 0

    @property
    def file(self) -> IO[bytes]:
        if self._file is None:
            if os.path.isdir(_OWN_FDS):
                self._file = tempfile.TemporaryFile(prefix="kg-batch-", suffix=".nq")  # noqa: SIM115
                self.path = f"{_OWN_FDS}/{self._file.fileno()}"
            else:
                self._file = tempfile.NamedTemporaryFile(  # noqa: SIM115
                    prefix="kg-batch-", suffix=".nq")
                self.path = self._file.name
        return self._file

    def add(self, nquads: bytes, quads: int) -> None:
        self.file.write(nquads)
        self.quads += quads

    def close(self) -> None:
        if self._file is not None:
            self._file.close()


class Ingestor:
    """Writes documents into a :class:`KnowledgeStore`; one instance per ingest run."""

    def __init__(self, store: KnowledgeStore, minter: IriMinter, *,
                 ingested_at: dt.datetime | None = None,
                 batch_quads: int = BATCH_QUADS, load_threads: int = LOAD_THREADS) -> None:
        if not 0 < batch_quads < LOADER_BATCH:
            raise ValueError(f"batch_quads must be between 1 and {LOADER_BATCH - 1}")
        if load_threads < 1:
            raise ValueError("load_threads must be at least 1")
        self.store = store
        self.minter = minter
        self.ingested_at = ingested_at or ingest_time()
        #: a batch is loaded once it holds this many quads; it stays below LOADER_BATCH,
        #: so that ``load_threads`` loads (each on one thread) bound the memory
        self.batch_quads = batch_quads
        self.load_threads = load_threads
        #: SPARQL updates this run made (bulk loads aside)
        self._transactions = 0
        self._known: set[str] = set()
        self._current: dict[tuple[str, str], _Current] = {}
        #: every document of each profile, for the chain of skg:supersededBy
        self._snapshots: dict[tuple[str, str], list[_Current]] = {}
        self._persons_with_docs: set[str] = set()
        #: papers a further snapshot in this run printed otherwise than the one it replaced
        self._touched_papers: set[str] = set()
        # one batch file gathers documents while up to ``load_threads`` earlier batches are
        # bulk-loaded by threads (the loader releases the GIL), so mapping and loading
        # overlap and the loads use every core; each load is atomic on its own
        self._batch = _BatchFile()
        self._loader = ThreadPoolExecutor(load_threads, thread_name_prefix="kg-bulk-load")
        self._pending: deque[tuple[Future[None], _BatchFile]] = deque()
        # a run into an empty store that writes only first snapshots sees every byline and
        # every person's names the store will hold: the author-link pass reads them from
        # this file and this table (name key -> persons), not from the store
        self._run_bylines: IO[str] | None = None
        self._run_persons: dict[str, set[str]] = {}
        if store.is_empty():
            self._run_bylines = tempfile.TemporaryFile(  # noqa: SIM115
                "w+", encoding="utf-8", newline="\n", prefix="kg-bylines-")
        else:  # never mix two authorship models in one store
            check_authorship_model(store)
        self._load_state()

    # state -----------------------------------------------------------------
    def _load_state(self) -> None:
        rows = self.store.query(_PREFIX_DECL + """
            SELECT ?g ?sha ?p ?layout ?asof ?next WHERE {
              ?g a skg:SourceDocument ; skg:sha256 ?sha ; skg:describes ?p ;
                 skg:documentLayout ?layout ; skg:asOfDate ?asof .
              OPTIONAL { ?g skg:supersededBy ?next }
            }""").rows()
        for row in rows:
            self._known.add(row["sha"][1])
            person = row["p"][1]
            self._persons_with_docs.add(person)
            doc = _Current(row["g"][1], dt.date.fromisoformat(row["asof"][1]))
            self._snapshots.setdefault((person, row["layout"][1]), []).append(doc)
            if "next" not in row:
                self._current[(person, row["layout"][1])] = doc


    # public ------------------------------------------------------------------
    def ingest(self, items: Iterable[SourceDocument | MappedDocument | DocumentError],
               on_item: Callable[[str, str], None] | None = None) -> IngestReport:
        """Ingest documents; rejected ones are reported, never written.

        ``on_item(label, outcome)`` is called per item (outcome: ingested, unchanged, rejected).
        """
        report = IngestReport()
        started = time.perf_counter()
        try:
            for item in items:
                if isinstance(item, DocumentError):
                    report.rejected.append(item)
                    outcome, label = "rejected", item.path
                elif isinstance(item, MappedDocument):
                    label = item.label
                    outcome = self._ingest_mapped(item, report)
                else:
                    label = _label(item)
                    outcome = self._ingest_one(item, report)
                if on_item:
                    on_item(label, outcome)
            self._flush()
            self._wait_loaded()
        finally:
            # never leave a load running behind the caller's back (it owns the store)
            while self._pending:
                future, batch = self._pending.popleft()
                future.exception()
                batch.close()
            self._loader.shutdown()
            self._batch.close()
        report.seconds["documents"] = time.perf_counter() - started
        # always, not only when something was ingested: a run killed after its last batch
        # but before this pass must still converge when it is run again
        started = time.perf_counter()
        try:
            self._link_authors(report)
        finally:
            self._forget_run_bylines()
        report.seconds["author links"] = time.perf_counter() - started
        started = time.perf_counter()
        self._single_values()
        report.seconds["single values"] = time.perf_counter() - started
        if self._transactions:
            # write what transactions left in memory to files. Not after bulk loads
            # alone: they leave nothing in memory, and RocksDB makes a flush wait until
            # compactions have caught up with them (over a minute after a large run)
            self.store.flush()
        return report

    # one document --------------------------------------------------------------
    def _ingest_one(self, doc: SourceDocument, report: IngestReport) -> str:
        if doc.sha256 in self._known:
            report.unchanged.append(_label(doc))
            return "unchanged"
        return self._ingest_mapped(
            map_document(doc, self.minter, ingested_at=self.ingested_at), report)

    def _ingest_mapped(self, m: MappedDocument, report: IngestReport) -> str:
        """Write one mapped document (mapped here or by a worker process)."""
        if m.sha256 in self._known:
            report.unchanged.append(m.label)
            return "unchanged"
        if m.person not in self._persons_with_docs and m.first_snapshot_quads() < LOADER_BATCH:
            self._add_to_batch(m)
        else:
            self._flush()
            self._wait_loaded()
            self._write_snapshot(m, report)
        self._known.add(m.sha256)
        self._persons_with_docs.add(m.person)
        report.ingested.append(m.label)
        return "ingested"

    def _add_to_batch(self, m: MappedDocument) -> None:
        """The first document of a person: nothing to supersede, append only."""
        size = m.first_snapshot_quads()
        if self._batch.quads + size >= LOADER_BATCH:
            self._flush()
        self._batch.add(m.first_snapshot_nquads or m.nquads(), size)
        if self._run_bylines is not None:
            self._run_bylines.write(m.packed_bylines or bylines_tsv(m.bylines))
            for name in m.names:
                self._run_persons.setdefault(person_key(name), set()).add(m.person)
        self._current[(m.person, m.layout)] = _Current(m.graph, m.as_of)
        self._snapshots[(m.person, m.layout)] = [self._current[(m.person, m.layout)]]
        if self._batch.quads >= self.batch_quads:
            self._flush()

    def _flush(self) -> None:
        """Start loading the gathered batch, once fewer than ``load_threads`` are loading."""
        if not self._batch.quads:
            return
        while len(self._pending) >= self.load_threads:
            self._wait_oldest()
        batch, self._batch = self._batch, _BatchFile()
        batch.file.flush()
        self._pending.append((self._loader.submit(self.store.load_nquads_file, batch.path),
                              batch))

    def _wait_oldest(self) -> None:
        """Wait for the oldest load in progress; its error, if any, is raised here."""
        future, batch = self._pending.popleft()
        try:
            future.result()
        finally:
            batch.close()

    def _wait_loaded(self) -> None:
        """Wait for every load in progress; the first error is raised here."""
        while self._pending:
            self._wait_oldest()

    def _write_snapshot(self, m: MappedDocument, report: IngestReport) -> None:
        """A further document of a known person: supersede or add history, atomically."""
        m.unpack()
        self._forget_run_bylines()  # the default graph may lose this person's old bylines
        key = (m.person, m.layout)
        cur = self._current.get(key)
        g = iri(m.graph)
        inserts: list[Quad] = [(t, g) for t in m.named_graph_triples()]
        deletes: list[Quad] = []
        default_add: list[Triple] = [*m.observations, *m.description]
        # skg:supersededBy links each snapshot to the next one by as-of date, whatever
        # order they came in: m goes between the latest before it and the first after it
        history = self._snapshots.setdefault(key, [])
        before = max((c for c in history if c.as_of <= m.as_of), key=lambda c: c.as_of,
                     default=None)
        after = min((c for c in history if c.as_of > m.as_of), key=lambda c: c.as_of,
                    default=None)
        if before is not None:
            default_add.append((iri(before.graph), _SUPERSEDED_BY, g))
        if after is not None:
            default_add.append((g, _SUPERSEDED_BY, iri(after.graph)))
            if before is not None:
                deletes.append(((iri(before.graph), _SUPERSEDED_BY, iri(after.graph)), None))
        history.append(_Current(m.graph, m.as_of))
        if cur is None or m.as_of >= cur.as_of:
            default_add += m.statements
            if cur is not None:
                report.superseded += 1
                old = self._statements_of(cur.graph, m.person)
                new = set(m.statements)
                # papers printed otherwise than before, or no more: the pass looks at them
                self._touched_papers.update(
                    t[0] for t in old ^ new if t[1] in _SINGLE_VALUED_SET)
                # a statement the author-link pass wrote stays: the pass, which runs
                # next, withdraws it itself if no byline calls for it any more
                others = {c.graph for k, c in self._current.items() if k != key}
                others.add(self.minter.author_links())
                for t in old - new:
                    if not self._supported(t, others):
                        deletes.append((t, None))
            self._current[key] = _Current(m.graph, m.as_of)
        else:
            report.historical += 1
        inserts += [(t, None) for t in default_add]
        d_metrics, i_metrics = self._metric_changes(m)
        deletes += d_metrics
        inserts += i_metrics
        self._apply(deletes, inserts)

    def _statements_of(self, graph: str, person: str) -> set[Triple]:
        """A stored document's statements: its graph minus metrics and observations."""
        obs_prefix = f"<{person}/observation/"
        person_term = iri(person)
        out: set[Triple] = set()
        for s, p, o in self.store.graph_triples(graph):
            if s.startswith(obs_prefix) or (s == person_term and p in _METRIC_PROPS):
                continue
            out.add((s, p, o))
        return out

    def _supported(self, t: Triple, current_graphs: set[str]) -> bool:
        """True when a current document or a curated link set states ``t``."""
        linksets = self.minter.linkset("")
        return any(g in current_graphs or g.startswith(linksets)
                   for g in self.store.graphs_containing(t))

    def _metric_changes(self, m: MappedDocument) -> tuple[list[Quad], list[Quad]]:
        """Default-graph metric values: for each metric, the latest observation's value."""
        person = iri(m.person)
        latest: dict[str, tuple[str, str]] = {}
        rows = self.store.query(_PREFIX_DECL + f"""
            SELECT ?prop ?value ?date WHERE {{
              ?o schema:observationAbout {person} ; schema:measuredProperty ?prop ;
                 schema:value ?value ; schema:observationDate ?date .
            }}""").term_rows()
        for row in rows:
            prop = row["prop"]
            date = row["date"]
            value = row["value"]
            if prop not in latest or date > latest[prop][0]:
                latest[prop] = (date, value)
        for prop, value in m.metrics.items():  # this document wins ties: ingested last
            date = typed(m.as_of.isoformat(), XSD_DATE)
            if prop not in latest or date >= latest[prop][0]:
                latest[prop] = (date, value)
        deletes: list[Quad] = []
        inserts: list[Quad] = []
        for prop in sorted(_METRIC_PROPS):
            existing = set(self.store.objects(person, prop))
            want = {latest[prop][1]} if prop in latest else set()
            deletes += [((person, prop, o), None) for o in existing - want]
            inserts += [((person, prop, o), None) for o in want - existing]
        return deletes, inserts

    def _apply(self, deletes: list[Quad], inserts: list[Quad], *,
               in_steps: bool = False) -> None:
        """Delete then insert, in one transaction; with ``in_steps`` (the run-level
        passes), many additions may be written in several steps, each atomic."""
        if not deletes and len(inserts) >= BULK_INSERT_MIN and (
                in_steps or len(inserts) < LOADER_BATCH):
            # additions only, and many: the bulk loader writes them far faster than
            # INSERT DATA is parsed, in one load or, for the run-level passes, in steps,
            # each atomic: a kill between two leaves their results stale, as a kill
            # before them does, for the next run to complete
            if in_steps:
                self._load_in_steps(quad_line(t, g) for t, g in inserts)
            else:
                self.store.load_nquads("".join(quad_line(t, g) for t, g in inserts))
            return
        parts = []
        if deletes:
            parts.append("DELETE DATA {\n" + data_block(deletes) + "}")
        if inserts:
            parts.append("INSERT DATA {\n" + data_block(inserts) + "}")
        if parts:
            self.store.update(" ;\n".join(parts))
            self._transactions += 1

    def _load_in_steps(self, lines: Iterable[str]) -> None:
        """Bulk-load N-Quads lines in steps, each atomic, ``load_threads`` at a time.

        A load keeps one core busy and holds memory in proportion to its quads, so the
        steps are ``batch_quads / load_threads`` quads: the loads in flight together hold
        what one ``batch_quads`` load would, in a fraction of its time.
        """
        lines = iter(lines)
        step = max(1, self.batch_quads // self.load_threads)
        pending: deque[Future[None]] = deque()
        with ThreadPoolExecutor(self.load_threads,
                                thread_name_prefix="kg-bulk-load") as loader:
            try:
                while chunk := "".join(itertools.islice(lines, step)):
                    while len(pending) >= self.load_threads:
                        pending.popleft().result()
                    pending.append(loader.submit(self.store.load_nquads, chunk))
                    del chunk
                while pending:
                    pending.popleft().result()
            finally:  # an error: the loads already started still finish (each is whole)
                for future in pending:
                    future.exception()

    # one value per single-valued paper property ------------------------------------
    def _single_values(self) -> None:
        """One value of each single-valued paper property in the default graph
        (:data:`kg.mapping.single_values.RULES`), whatever documents were ingested in what order.

        Two current documents may print one paper differently (a title in other case, a
        shortened abstract, another date). The rule of each property picks one value from
        what the current documents printed; other printed titles become
        ``schema:alternateName``, kept also in the named graph ``graph/title-variants``
        so they can be withdrawn when no current document prints them any more. Every
        printing stays in its document's graph.

        The papers looked at: those with two values of such a property in the default
        graph (a new printing of a value not kept adds one), those a further snapshot of
        this run prints otherwise or no more, and those with title variants; each read
        with one index range of its statements in every graph.
        """
        variants_graph = self.minter.title_variants()
        alt = iri(_S + "alternateName")
        existing = set(self.store.graph_triples(variants_graph))
        candidates = {s for s, _, _ in existing} | self._touched_papers
        # papers with more than one value: grouped first (one scan of an index per
        # property), then typed (a few lookups); a lookup per paper takes 10x longer
        for row in self.store.query(_PREFIX_DECL + f"""
            SELECT DISTINCT ?x WHERE {{
              {{ SELECT ?x ?p WHERE {{ VALUES ?p {{ {_SINGLE_VALUED} }} ?x ?p ?v }}
                 GROUP BY ?x ?p HAVING (COUNT(?v) > 1) }}
              ?x a schema:ScholarlyArticle
            }}""").term_rows():
            candidates.add(row["x"])
        if not candidates:
            return
        current = {c.graph for c in self._current.values()}
        wanted: set[Triple] = set()
        deletes: list[Quad] = []
        inserts: list[Quad] = []
        for x in sorted(candidates):
            # what each current document printed, and what the default graph holds
            printed: dict[str, dict[str, list[str]]] = {}
            now: dict[str, set[str]] = {}
            for prop, value, graph in self.store.statements_about(x, _SINGLE_VALUED_TERMS):
                if graph is None:
                    now.setdefault(prop, set()).add(value)
                elif graph in current:
                    printed.setdefault(graph, {}).setdefault(prop, []).append(value)
            if not printed:
                continue
            chosen = choose([Printing(values) for values in printed.values()])
            titles = {t for values in printed.values() for t in values.get(NAME, ())}
            wanted.update((x, alt, t) for t in titles - {chosen.get(NAME)})
            for prop in RULES:
                want = {chosen[prop]} if prop in chosen else set()
                have = now.get(prop, set())
                deletes += [((x, prop, o), None) for o in sorted(have - want)]
                inserts += [((x, prop, o), None) for o in sorted(want - have)]
        vg = iri(variants_graph)
        for t in sorted(wanted - existing):
            inserts += [(t, vg), (t, None)]
        for t in sorted(existing - wanted):
            deletes += [(t, vg), (t, None)]
        self._apply(deletes, inserts, in_steps=True)

    # cross-document author resolution --------------------------------------------
    def _link_authors(self, report: IngestReport) -> None:
        """Resolve byline names to the one profiled person they name, if exactly one."""
        links = self.minter.author_links()
        if self._run_bylines is not None:
            self._link_run_authors(report, iri(links))
            return
        by_key: dict[str, set[str]] = {}
        for row in self.store.query(_PREFIX_DECL + """
            SELECT ?p ?name WHERE {
              { ?p schema:name ?name } UNION { ?p schema:alternateName ?name }
              ?p a schema:Person .
            }""").rows():
            by_key.setdefault(person_key(row["name"][1]), set()).add(row["p"][1])
        wanted = self._links_from_store(by_key, links)
        existing = set(self.store.graph_triples(links))
        current_graphs = {c.graph for c in self._current.values()}
        remove = existing - wanted
        wanted -= existing  # in place: a new corpus calls for millions of links
        add = sorted(wanted)
        del wanted
        lg = iri(links)
        deletes: list[Quad] = [(t, lg) for t in sorted(remove)]
        deletes += [(t, None) for t in sorted(remove) if not self._supported(t, current_graphs)]
        self._write_links(deletes, add, len(add), lg)
        report.links_added, report.links_removed = len(add), len(remove)

    def _write_links(self, deletes: list[Quad], add: Iterable[Triple], count: int,
                     graph: str) -> None:
        """Delete, then add ``count`` links in the link graph and in the default graph.

        Many additions and nothing to delete: written in steps straight from ``add``,
        without a list of quads as long as both graphs.
        """
        if not deletes and 2 * count >= BULK_INSERT_MIN:
            self._load_in_steps(line for t in add for line in (quad_line(t, graph),
                                                               quad_line(t, None)))
        else:
            self._apply(deletes, [(t, g) for t in add for g in (graph, None)], in_steps=True)

    def _link_run_authors(self, report: IngestReport, graph: str) -> None:
        """The author links of a run into an empty store that wrote only first
        snapshots: what :meth:`_links_from_store` finds, read from the run's bylines file
        and names (two passes over the file, so memory holds only the bylines that can be
        linked). Nothing to remove: no link existed before the run."""
        assert self._run_bylines is not None
        unique = {key: iri(next(iter(people))) for key, people in self._run_persons.items()
                  if len(people) == 1}
        bylines = self._run_bylines
        bylines.flush()
        bylines.seek(0)
        candidates: dict[str, tuple[str, str]] = {}  # authorship -> (paper, person)
        for line in bylines:
            a, x, key, own = line.rstrip("\n").split("\t")
            if own == "0" and key in unique:
                candidates[a] = (x, unique[key])
        bylines.seek(0)
        for line in bylines:  # resolved by a document (the same byline in another one)
            a, _, _, own = line.rstrip("\n").split("\t")
            if own == "1":
                candidates.pop(a, None)
        papers = set(candidates.values())  # (paper, person): the paper-level links, once

        def links() -> Iterator[Triple]:
            for a, (_, person) in candidates.items():
                yield a, _PERSON, person
            for x, person in papers:
                yield from _paper_links(x, person)

        added = len(candidates) + 3 * len(papers)
        self._write_links([], links(), added, graph)
        report.links_added = added

    def _links_from_store(self, by_key: dict[str, set[str]], links: str) -> set[Triple]:
        """The author links the store's bylines call for."""
        # the stated names that name exactly one person (term -> person IRI term): distinct
        # names are far fewer than bylines, and only bylines with one of these are read
        resolvable: dict[str, str] = {}
        for row in self.store.query(_PREFIX_DECL + """
            SELECT DISTINCT ?name WHERE { ?a skg:nameAsStated ?name }""").rows():
            people = by_key.get(person_key(row["name"][1]))
            if people and len(people) == 1:
                resolvable[nt_term(row["name"])] = iri(next(iter(people)))
        wanted: set[Triple] = set()
        if resolvable:
            # bylines no current document resolved itself (owners resolve their own
            # bylines; a superseded snapshot's resolution left the default graph with it)
            rows = self.store.query(_PREFIX_DECL + f"""
                SELECT ?a ?x ?name WHERE {{
                  VALUES ?name {{ {" ".join(resolvable)} }}
                  ?a skg:nameAsStated ?name . ?x skg:authorship ?a .
                  MINUS {{ GRAPH ?g {{ ?a skg:person ?someone }} FILTER(?g != <{links}>)
                           FILTER NOT EXISTS {{ ?g skg:supersededBy ?later }} }}
                }}""").rows()
            for row in rows:
                _add_link(wanted, iri(row["a"][1]), iri(row["x"][1]),
                          resolvable[nt_term(row["name"])])
        return wanted

    def _forget_run_bylines(self) -> None:
        if self._run_bylines is not None:
            self._run_bylines.close()
            self._run_bylines = None
        self._run_persons.clear()




_AUTHOR, _MAKER, _MADE = iri(_S + "author"), iri(_FOAF + "maker"), iri(_FOAF + "made")
#: an authorship's resolved person (never schema:author, which links papers only)
_PERSON = iri(_SKG + "person")


def _paper_links(x: str, person: str) -> tuple[Triple, Triple, Triple]:
    """The triples that link paper ``x`` to ``person``, its author."""
    return (x, _AUTHOR, person), (x, _MAKER, person), (person, _MADE, x)


def _add_link(wanted: set[Triple], a: str, x: str, person: str) -> None:
    """The four triples that link byline ``a`` (``skg:person``) of paper ``x`` to ``person``."""
    wanted.add((a, _PERSON, person))
    wanted.update(_paper_links(x, person))
