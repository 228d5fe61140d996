"""Versioned, checksummed, deterministic dumps of a store, and the changes between releases.

``export_store`` writes into a folder:

- ``scholarkg-<release>.nq.gz``: every graph (N-Quads);
- ``scholarkg-<release>.ttl.gz`` / ``.nt.gz``: the merged default graph;
- ``scholarkg-<release>.jsonld.gz``: the default graph as compact JSON-LD with the
  project's context;
- when the folder (or ``previous``) holds an earlier release's N-Quads: the change set
  from it, ``scholarkg-<old>-to-<release>.removed.nq.gz`` / ``.added.nq.gz`` and
  ``.changes.json`` (see :mod:`kg.output.changes`); earlier change sets are kept;
- ``void.ttl``: a VoID + DCAT description of the dataset and of every file;
- ``SHA256SUMS``: checksums of every file above (``sha256sum -c`` format).

Lines are in code-point order (the store's own order depends on its history); gzip
headers carry no time or name, and files are written aside and moved into place only
when all are complete, so the same store always gives byte-identical files and a failed
export never leaves a half-written set.

How it is fast, on two cores: the store is read once, by Oxigraph's own serialiser
without the GIL, the default graph in one thread (through a pipe) and the named graphs
graph by graph in another; lines are sorted as bytes (UTF-8 byte order is code-point
order) in large runs merged by list sorts (:class:`kg.output.sorting.LineSorter`); the default
graph's files are written while the named graphs are still being read; each file is
compressed in a thread of its own (:mod:`kg.output.gzip_writer`). Memory stays bounded by the
sort budget (``budget`` bytes of lines held at once, 512 MB by default).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from kg import __version__
from kg.errors import KgError
from kg.mapping.identifiers import TARGET_DATASETS
from kg.mapping.iris import IriMinter
from kg.mapping.vocab import PREFIXES
from kg.output.changes import (
    CHANGES_SUFFIX,
    ChangeSet,
    ChangeWriter,
    is_change_file,
    read_change_set,
    release_name,
)
from kg.output.formats import RDF_FORMATS
from kg.output.gzip_writer import GzipWriter
from kg.output.jsonld import DocumentWriter, load_context
from kg.output.ntriples import XSD_DATE, XSD_INTEGER, Triple, iri, literal, typed
from kg.output.sorting import LineSorter, line_chunks, merge_sorted_blocks, read_line_blocks
from kg.stats import class_counts, linkset_counts, read_stats, store_select
from kg.storage.store import KnowledgeStore, Writable

LICENSE_IRI = "https://creativecommons.org/licenses/by/4.0/"
DUMP_PREFIX = "scholarkg-"
#: bytes of lines the sort holds in memory at once (two sorters share it)
DEFAULT_BUDGET = 512 << 20
_S = PREFIXES["schema"]
_VOID = PREFIXES["void"]
_DCAT = PREFIXES["dcat"]
_DCT = PREFIXES["dcterms"]
_SPDX = "http://spdx.org/rdf/terms#"
_RDF_TYPE = iri(PREFIXES["rdf"] + "type")


@dataclass(frozen=True)
class DumpFile:
    name: str
    format_name: str
    dataset: bool
    triples: int
    size: int
    sha256: str

    @property
    def media_type(self) -> str:
        return RDF_FORMATS[self.format_name].media_type


@dataclass(frozen=True)
class ExportResult:
    release: str
    directory: Path
    dumps: tuple[DumpFile, ...]
    #: the change set from the previous release written by this export, if any
    changes: ChangeSet | None = None


#: called with what is being done and the number of quads done since the last call
Progress = Callable[[str, int], None]


def _no_progress(_stage: str, _quads: int) -> None:
    return None


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _partition_name(class_iri: str) -> str:
    """A class partition's IRI segment, "prefix-Local" (schema:Person and foaf:Person differ).

    >>> _partition_name("https://schema.org/Person"), _partition_name("http://xmlns.com/foaf/0.1/Person")
    ('schema-Person', 'foaf-Person')
    """
    for prefix, ns in PREFIXES.items():
        if class_iri.startswith(ns) and class_iri[len(ns):].isidentifier():
            return f"{prefix}-{class_iri[len(ns):]}"
    return "iri-" + hashlib.sha256(class_iri.encode("utf-8")).hexdigest()[:16]


def release_of(store: KnowledgeStore) -> str:
    """The dataset release: the latest as-of date of any ingested document."""
    rows = list(store.query(
        f"SELECT (MAX(?d) AS ?latest) WHERE {{ ?g <{PREFIXES['skg']}asOfDate> ?d }}").rows())
    latest = rows[0].get("latest") if rows else None
    return latest[1] if latest else "empty"


# reading the store ----------------------------------------------------------------------


class _Failure:
    """The first exception of a helper thread, raised again in the exporting thread."""

    def __init__(self) -> None:
        self.error: BaseException | None = None

    def run(self, target: Callable[[], None]) -> Callable[[], None]:
        def guarded() -> None:
            try:
                target()
            except BaseException as exc:
                self.error = self.error or exc
        return guarded

    def check(self) -> None:
        if self.error is not None:
            raise self.error


def _start(failure: _Failure, target: Callable[[], None], name: str) -> threading.Thread:
    thread = threading.Thread(target=failure.run(target), name=name, daemon=True)
    thread.start()
    return thread


def _read_default_graph(store: KnowledgeStore, sorter: LineSorter, tmp: Path,
                        progress: Progress) -> None:
    """Feed the default graph's N-Triples lines into ``sorter`` as Oxigraph dumps them in
    a thread, to a file read while it grows."""
    failure = _Failure()
    path = tmp / "default.nt"
    path.touch()
    done = threading.Event()

    def dump() -> None:
        try:
            store.dump_default_graph(path)
        finally:
            done.set()

    thread = _start(failure, dump, "dump-default-graph")
    with path.open("rb") as f:
        for chunk in line_chunks(_Growing(f, done)):
            sorter.add(chunk)
            progress("reading the store", chunk.count(b"\n"))
    thread.join()
    failure.check()
    path.unlink()


class _Growing:
    """Reads a file another thread is writing, until that thread is done."""

    def __init__(self, f: BinaryIO, done: threading.Event) -> None:
        self._f = f
        self._done = done

    def read(self, size: int = -1, /) -> bytes:
        while True:
            finished = self._done.is_set()
            data = self._f.read(1 << 20 if size < 0 else size)
            if data or finished:
                return data
            self._done.wait(0.02)


def _read_named_graphs(store: KnowledgeStore, sorter: LineSorter, progress: Progress) -> None:
    for graph in sorted(store.named_graphs()):
        data = store.graph_nquads(graph)
        sorter.add(data)
        progress("reading the store", data.count(b"\n"))


class _Read:
    """The store read once: the default graph's lines and the named graphs' lines, each
    in a sorter; the named graphs are read in a thread of their own (``join`` waits)."""

    def __init__(self, store: KnowledgeStore, tmp: Path, budget: int,
                 progress: Progress) -> None:
        self.default = LineSorter(tmp, budget=budget // 2)
        self.named = LineSorter(tmp, budget=budget // 2)
        self._failure = _Failure()
        self._thread = _start(self._failure,
                              lambda: _read_named_graphs(store, self.named, progress),
                              "read-named-graphs")
        try:
            _read_default_graph(store, self.default, tmp, progress)
        except BaseException:
            self._thread.join()
            raise

    def join(self) -> None:
        self._thread.join()
        self._failure.check()

    def __enter__(self) -> _Read:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *_: object) -> None:
        if exc_type is not None:  # the named graphs' thread ends before the folder goes
            self._thread.join()


class _TextSink:
    """Text written as UTF-8 into a binary sink."""

    def __init__(self, out: Writable) -> None:
        self._out = out

    def write(self, text: str) -> int:
        self._out.write(text.encode("utf-8"))
        return len(text)


def nquads_sha256(store: KnowledgeStore, *, tmp_dir: str | os.PathLike[str] | None = None,
                  budget: int = DEFAULT_BUDGET) -> tuple[str, int]:
    """SHA-256 and line count of the store's N-Quads in code-point order: the bytes of an
    export's ``.nq.gz`` once decompressed, without writing them."""
    digest = hashlib.sha256()
    lines = 0
    with tempfile.TemporaryDirectory(prefix="kg-digest-", dir=tmp_dir) as tmp_name:
        read = _Read(store, Path(tmp_name), budget, _no_progress)
        read.join()
        for block in merge_sorted_blocks([*read.default.sources(), *read.named.sources()]):
            digest.update(b"".join(block))
            lines += len(block)
    return digest.hexdigest(), lines


# writing --------------------------------------------------------------------------------


def _is_release_dump(name: str) -> bool:
    return (name.startswith(DUMP_PREFIX) and name.endswith(".nq.gz")
            and not is_change_file(name))


def find_previous(out: Path, previous: str | os.PathLike[str] | None) -> Path | None:
    """The earlier release's N-Quads dump: ``previous`` (a ``.nq.gz`` file or a folder
    holding one), else the one in ``out``; None when there is none."""
    where = Path(previous) if previous is not None else out
    if where.is_file():
        return where
    if not where.is_dir():
        if previous is not None:
            raise KgError(f"no earlier release at {where}: give a scholarkg-<release>.nq.gz "
                          "file or the folder of an export")
        return None
    found = sorted(p for p in where.iterdir() if p.is_file() and _is_release_dump(p.name))
    if len(found) > 1:
        listed = ", ".join(p.name for p in found)
        raise KgError(f"{where} holds several releases' N-Quads ({listed}): "
                      "give the earlier release with --previous")
    if not found and previous is not None:
        raise KgError(f"no scholarkg-<release>.nq.gz in {where}")
    return found[0] if found else None


def export_store(
    store: KnowledgeStore,
    out_dir: str | os.PathLike[str],
    *,
    base_iri: str,
    release: str | None = None,
    previous: str | os.PathLike[str] | None = None,
    progress: Progress | None = None,
    budget: int = DEFAULT_BUDGET,
) -> ExportResult:
    """Write the dump set for ``store`` into ``out_dir`` (replacing an earlier set), with
    the change set from the earlier release found there (or at ``previous``)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    release = release or release_of(store)
    stem = f"{DUMP_PREFIX}{release}"
    report = progress or _no_progress
    base = find_previous(out, previous)
    base_release = release_name(base.name) if base is not None else None
    if base_release == release:
        base = None  # the same release again: nothing to describe as a change
    with tempfile.TemporaryDirectory(prefix=".export-", dir=out) as tmp_name:
        tmp = Path(tmp_name)

        def gz_name(format_name: str) -> str:
            return f"{stem}.{RDF_FORMATS[format_name].extension}.gz"

        read = _Read(store, tmp, budget, report)
        # the default graph's files, while the named graphs are still being read
        names = {f: gz_name(f) for f in ("nquads", "ntriples", "turtle", "jsonld")}
        sorted_default = tmp / "default.sorted.nt"
        with (read,
              GzipWriter(tmp / names["ntriples"], digest=False) as nt_out,
              GzipWriter(tmp / names["turtle"], digest=False) as ttl_out,
              GzipWriter(tmp / names["jsonld"], digest=False) as jsonld_out,
              sorted_default.open("wb") as plain):
            document = DocumentWriter(_TextSink(jsonld_out), load_context())

            def default_text() -> Iterator[bytes]:
                for block in read.default.blocks():
                    data = b"".join(block)
                    nt_out.write(data)
                    plain.write(data)
                    report(f"writing {names['ntriples']}, .ttl.gz, .jsonld.gz", len(block))
                    yield data

            triples = KnowledgeStore.ntriples_to_turtle(default_text(), ttl_out,
                                                        on_subject=document.add)
            document.close()
        read.join()
        # every graph: the sorted default graph merged with the named graphs' runs
        changes = None
        # the decompressed text's digest is recorded in a change set only
        with GzipWriter(tmp / names["nquads"], digest=base is not None) as nq_out:
            diff = (ChangeWriter(base, tmp, stem_from=base_release, release=release)
                    if base is not None else None)
            quads = 0
            for block in merge_sorted_blocks([read_line_blocks(sorted_default),
                                              *read.named.sources()]):
                nq_out.write(b"".join(block))
                quads += len(block)
                if diff is not None:
                    diff.feed(block)
                report(f"writing {names['nquads']}", len(block))
        read.named.remove_runs()
        sorted_default.unlink()
        dumps = []
        for format_name in ("nquads", "ntriples", "turtle", "jsonld"):
            path = tmp / names[format_name]
            dataset = format_name == "nquads"
            dumps.append(DumpFile(path.name, format_name, dataset, quads if dataset else triples,
                                  path.stat().st_size, _sha256(path)))
        if diff is not None:
            report("writing the change set", 0)
            changes = diff.close(target=names["nquads"], target_size=dumps[0].size,
                                 target_sha256=dumps[0].sha256,
                                 target_nquads_sha256=nq_out.raw_sha256, target_quads=quads)
        kept = [p for p in sorted(out.iterdir())
                if p.is_file() and is_change_file(p.name) and not (tmp / p.name).exists()]
        change_sets = [read_change_set(p) for p in kept if p.name.endswith(CHANGES_SUFFIX)]
        if changes is not None:
            change_sets.append(changes)
        void = tmp / "void.ttl"
        void.write_bytes(_void_description(store, dumps, base_iri, release, triples,
                                           change_sets))
        old_sums = _read_sums(out / "SHA256SUMS")
        sums = {n.name: _sha256(n) for n in tmp.iterdir() if n.is_file()}
        for p in kept:
            sums[p.name] = old_sums.get(p.name) or _sha256(p)
        (tmp / "SHA256SUMS").write_text(
            "".join(f"{sums[n]}  {n}\n" for n in sorted(sums)), encoding="utf-8")
        # swap the new set in: remove the previous set, then move each complete file
        for old in out.iterdir():
            managed = ((old.name.startswith(DUMP_PREFIX) and not is_change_file(old.name))
                       or old.name in ("void.ttl", "SHA256SUMS"))
            if old.is_file() and managed:
                old.unlink()
        for done in sorted(tmp.iterdir()):
            if done.is_file():
                shutil.move(str(done), out / done.name)
    return ExportResult(release, out, tuple(dumps), changes)


def _read_sums(path: Path) -> dict[str, str]:
    if not path.is_file():
        return {}
    sums = {}
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        digest, sep, name = line.partition("  ")
        if sep:
            sums[name] = digest
    return sums


def _void_description(store: KnowledgeStore, dumps: list[DumpFile], base_iri: str,
                      release: str, triples: int, change_sets: list[ChangeSet]) -> bytes:
    minter = IriMinter(base_iri)
    ds = iri(minter.dataset())
    # the figures published with the data (a release), else the few the VoID needs
    published = read_stats(store.path) if store.read_only else None
    select = store_select(store)
    classes = [(c, n) for c, n in published["classes"]] if published else class_counts(select)
    linksets = published["linksets"] if published else linkset_counts(select)
    t: list[Triple] = [
        (ds, _RDF_TYPE, iri(_VOID + "Dataset")),
        (ds, _RDF_TYPE, iri(_DCAT + "Dataset")),
        (ds, iri(_DCT + "title"), literal("scholarkg: researcher profiles as linked data")),
        (ds, iri(_DCT + "description"), literal(
            "Researchers, their metrics with dated history, and their papers, mapped to "
            "schema.org and FOAF with provenance per source document.")),
        (ds, iri(_DCT + "license"), iri(LICENSE_IRI)),
        (ds, iri(_DCT + "conformsTo"), iri(PREFIXES["skg"].rstrip("#"))),
        (ds, iri(_DCAT + "version"), literal(release)),
        (ds, iri(_DCT + "hasVersion"), literal(f"scholarkg {__version__}")),
        (ds, iri(_VOID + "uriSpace"), literal(base_iri)),
        (ds, iri(_VOID + "triples"), typed(triples, XSD_INTEGER)),
        (ds, iri(_VOID + "vocabulary"), iri(PREFIXES["schema"])),
        (ds, iri(_VOID + "vocabulary"), iri(PREFIXES["foaf"])),
        (ds, iri(_VOID + "vocabulary"), iri(PREFIXES["skg"])),
    ]
    if release != "empty":
        t.append((ds, iri(_DCT + "modified"), typed(release, XSD_DATE)))
    for cls, count in classes:
        part = iri(f"{minter.dataset()}/class/{_partition_name(cls)}")
        t += [(ds, iri(_VOID + "classPartition"), part),
              (part, iri(_VOID + "class"), iri(cls)),
              (part, iri(_VOID + "entities"), typed(count, XSD_INTEGER))]
    t += _void_linksets(linksets, minter)
    for d in dumps:
        title = (f"{RDF_FORMATS[d.format_name].label} dump of "
                 + ("every graph" if d.dataset else "the merged default graph"))
        t += _distribution(ds, minter, base_iri, d.name, title, d.media_type, d.size,
                           d.triples, d.sha256)
    nquads = RDF_FORMATS["nquads"].media_type
    for c in sorted(change_sets, key=lambda c: c.name):
        changes = iri(f"{minter.dataset()}/changes/{c.source}-to-{c.target}")
        t += [
            (ds, iri(_DCT + "relation"), changes),
            (changes, _RDF_TYPE, iri(_DCAT + "Dataset")),
            (changes, iri(_DCT + "title"), literal(
                f"Changes from release {c.source} to release {c.target}")),
            (changes, iri(_DCT + "description"), literal(
                f"Quads removed and added between {c.base.file} and {c.result.file}; "
                f"metadata and checksums of both releases in {c.name}{CHANGES_SUFFIX}.")),
            (changes, iri(_DCT + "license"), iri(LICENSE_IRI)),
        ]
        for kind, change in (("removed from", c.removed), ("added to", c.added)):
            t += _distribution(changes, minter, base_iri, change.file,
                               f"N-Quads of the quads {kind} release {c.source} "
                               f"to make release {c.target}",
                               nquads, change.size, change.quads, change.sha256)
    nt = "".join(f"{s} {p} {o} .\n" for s, p, o in t)
    return KnowledgeStore.convert(nt.encode("utf-8"), "ntriples", "turtle",
                                  prefixes={**PREFIXES, "spdx": _SPDX})


def _distribution(owner: str, minter: IriMinter, base_iri: str, name: str, title: str,
                  media_type: str, size: int, triples: int, sha256: str) -> list[Triple]:
    """A gzip'd file as a dcat:Distribution of ``owner``, and its download URL as a
    void:dataDump of ``owner``.

    The download URL ``<base>dumps/<name>`` dereferences to the file (the server
    redirects ``<entity path>dumps/<name>`` to ``/dumps/<name>``); the distribution and
    checksum nodes dereference to the dataset description (decision 0011).
    """
    dist = iri(f"{minter.dataset()}/dump/{name}")
    checksum = iri(f"{minter.dataset()}/dump/{name}#sha256")
    download = iri(f"{base_iri}dumps/{name}")
    return [
        (owner, iri(_VOID + "dataDump"), download),
        (owner, iri(_DCAT + "distribution"), dist),
        (dist, _RDF_TYPE, iri(_DCAT + "Distribution")),
        (dist, iri(_DCT + "title"), literal(title)),
        (dist, iri(_DCAT + "downloadURL"), download),
        (dist, iri(_DCAT + "mediaType"),
         iri(f"https://www.iana.org/assignments/media-types/{media_type}")),
        (dist, iri(_DCAT + "compressFormat"),
         iri("https://www.iana.org/assignments/media-types/application/gzip")),
        (dist, iri(_DCAT + "byteSize"), typed(size, XSD_INTEGER)),
        (dist, iri(_VOID + "triples"), typed(triples, XSD_INTEGER)),
        (dist, iri(_DCT + "license"), iri(LICENSE_IRI)),
        (dist, iri(_SPDX + "checksum"), checksum),
        (checksum, _RDF_TYPE, iri(_SPDX + "Checksum")),
        (checksum, iri(_SPDX + "algorithm"), iri(_SPDX + "checksumAlgorithm_sha256")),
        (checksum, iri(_SPDX + "checksumValue"), literal(sha256)),
    ]



def _void_linksets(linksets: dict[str, int], minter: IriMinter) -> list[Triple]:
    """One void:Linkset per external dataset our owl:sameAs links point into
    (``linksets``: scheme -> links, see :func:`kg.stats.linkset_counts`)."""
    ds = iri(minter.dataset())
    same_as = PREFIXES["owl"] + "sameAs"
    t: list[Triple] = []
    for scheme, target in TARGET_DATASETS.items():
        count = linksets.get(scheme, 0)
        if not count:
            continue
        linkset = iri(f"{minter.dataset()}/linkset/{scheme}")
        other = iri(f"{minter.dataset()}/target/{scheme}")
        t += [
            (ds, iri(_VOID + "subset"), linkset),
            (linkset, _RDF_TYPE, iri(_VOID + "Linkset")),
            (linkset, iri(_DCT + "title"), literal(f"owl:sameAs links to {target.title}")),
            (linkset, iri(_VOID + "subjectsTarget"), ds),
            (linkset, iri(_VOID + "objectsTarget"), other),
            (linkset, iri(_VOID + "linkPredicate"), iri(same_as)),
            (linkset, iri(_VOID + "triples"), typed(count, XSD_INTEGER)),
            (other, _RDF_TYPE, iri(_VOID + "Dataset")),
            (other, iri(_DCT + "title"), literal(target.title)),
            (other, iri(_VOID + "uriSpace"), literal(target.uri_space)),
            (other, iri(PREFIXES["foaf"] + "homepage"), iri(target.homepage)),
        ]
    return t
