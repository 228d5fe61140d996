"""Versioned, checksummed, deterministic dumps of a store.

``export_store`` writes into a folder:

- ``scholarkg-<release>.nq.gz``: every graph (N-Quads);
- ``scholarkg-<release>.ttl.gz`` / ``.nt.gz``: the merged default graph;
- ``scholarkg-<release>.jsonld.gz``: the default graph as compact JSON-LD with the
  project's context;
- ``void.ttl``: a VoID + DCAT description of the dataset and of every file;
- ``SHA256SUMS``: checksums of every file above (``sha256sum -c`` format).

Lines are put in code-point order by an external merge sort (the store's own
order depends on its history), so memory stays bounded; gzip headers carry no
time or name, and files are written aside and moved into place only when all are
complete, so the same store always gives byte-identical files and a failed export
never leaves a half-written set.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import io
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from kg import __version__
from kg.formats import RDF_FORMATS
from kg.identifiers import TARGET_DATASETS
from kg.iris import IriMinter
from kg.jsonld import load_context, write_document
from kg.ntriples import XSD_DATE, XSD_INTEGER, Triple, iri, literal, typed
from kg.sorting import sorted_unique_lines
from kg.stats import class_counts, linkset_counts, read_stats, store_select
from kg.store import KnowledgeStore, Writable
from kg.vocab import PREFIXES

LICENSE_IRI = "https://creativecommons.org/licenses/by/4.0/"
DUMP_PREFIX = "scholarkg-"
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


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


@contextlib.contextmanager
def _gzip_writer(path: Path) -> Iterator[gzip.GzipFile]:
    # no file name and mtime 0 in the header: identical input, identical bytes
    with path.open("wb") as raw, gzip.GzipFile(
        filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=6
    ) as gz:
        yield gz


def _write_lines(out: Writable, lines: Iterable[str]) -> int:
    count = 0
    for line in lines:
        out.write(line.encode("utf-8"))
        count += 1
    return count


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


def export_store(
    store: KnowledgeStore,
    out_dir: str | os.PathLike[str],
    *,
    base_iri: str,
    release: str | None = None,
    progress: Callable[[str], None] | None = None,
) -> ExportResult:
    """Write the dump set for ``store`` into ``out_dir`` (replacing an earlier set)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    release = release or release_of(store)
    stem = f"{DUMP_PREFIX}{release}"
    with tempfile.TemporaryDirectory(prefix=".export-", dir=out) as tmp_name:
        tmp = Path(tmp_name)
        dumps = []

        def finish(name: str, format_name: str, dataset: bool, triples: int) -> None:
            path = tmp / name
            dumps.append(DumpFile(name, format_name, dataset, triples, path.stat().st_size,
                                  _sha256(path)))

        def gz_name(format_name: str) -> str:
            return f"{stem}.{RDF_FORMATS[format_name].extension}.gz"

        # N-Quads: every graph, lines in code-point order
        name = gz_name("nquads")
        if progress:
            progress(name)
        with _gzip_writer(tmp / name) as gz:
            quads = _write_lines(gz, sorted_unique_lines(store.quad_lines(all_graphs=True),
                                                         tmp_dir=tmp_name))
        finish(name, "nquads", True, quads)
        # the default graph, sorted once into a plain N-Triples file the others stream from
        sorted_nt = tmp / "default.sorted.nt"
        with sorted_nt.open("wb") as nt_out:
            triples = _write_lines(
                nt_out, sorted_unique_lines(store.quad_lines(None), tmp_dir=tmp_name))
        for format_name in ("ntriples", "turtle", "jsonld"):
            name = gz_name(format_name)
            if progress:
                progress(name)
            with _gzip_writer(tmp / name) as gz:
                if format_name == "ntriples":
                    with sorted_nt.open("rb") as nt_in:
                        shutil.copyfileobj(nt_in, gz)
                elif format_name == "turtle":
                    KnowledgeStore.convert_file(sorted_nt, "ntriples", gz, "turtle")
                else:
                    text = io.TextIOWrapper(gz, encoding="utf-8", newline="\n")
                    write_document(text, load_context(),
                                   KnowledgeStore.file_subjects(sorted_nt, "ntriples"))
                    text.flush()
                    text.detach()
            finish(name, format_name, False, triples)
        sorted_nt.unlink()
        void = tmp / "void.ttl"
        void.write_bytes(_void_description(store, dumps, base_iri, release))
        names = sorted([*(d.name for d in dumps), "void.ttl"])
        sums = "".join(f"{_sha256(tmp / n)}  {n}\n" for n in names)
        (tmp / "SHA256SUMS").write_text(sums, encoding="utf-8")
        # swap the new set in: remove the previous set, then move each complete file
        for old in out.iterdir():
            managed = old.name.startswith(DUMP_PREFIX) or old.name in ("void.ttl", "SHA256SUMS")
            if old.is_file() and managed:
                old.unlink()
        for done in sorted(tmp.iterdir()):
            shutil.move(str(done), out / done.name)
    return ExportResult(release, out, tuple(dumps))


def _void_description(store: KnowledgeStore, dumps: list[DumpFile], base_iri: str,
                      release: str) -> bytes:
    minter = IriMinter(base_iri)
    ds = iri(minter.dataset())
    # the figures published with the data (a release), else the few the VoID needs
    published = read_stats(store.path) if store.read_only else None
    select = store_select(store)
    triples = published["triples"] if published else store.count_quads(None)
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
        dist = iri(f"{minter.dataset()}/dump/{d.name}")
        checksum = iri(f"{minter.dataset()}/dump/{d.name}#sha256")
        t += [
            (ds, iri(_VOID + "dataDump"), dist),
            (ds, iri(_DCAT + "distribution"), dist),
            (dist, _RDF_TYPE, iri(_DCAT + "Distribution")),
            (dist, iri(_DCT + "title"), literal(
                f"{RDF_FORMATS[d.format_name].label} dump of "
                + ("every graph" if d.dataset else "the merged default graph"))),
            (dist, iri(_DCAT + "downloadURL"), iri(f"{base_iri}dumps/{d.name}")),
            (dist, iri(_DCAT + "mediaType"),
             iri(f"https://www.iana.org/assignments/media-types/{d.media_type}")),
            (dist, iri(_DCAT + "compressFormat"),
             iri("https://www.iana.org/assignments/media-types/application/gzip")),
            (dist, iri(_DCAT + "byteSize"), typed(d.size, XSD_INTEGER)),
            (dist, iri(_VOID + "triples"), typed(d.triples, XSD_INTEGER)),
            (dist, iri(_DCT + "license"), iri(LICENSE_IRI)),
            (dist, iri(_SPDX + "checksum"), checksum),
            (checksum, _RDF_TYPE, iri(_SPDX + "Checksum")),
            (checksum, iri(_SPDX + "algorithm"), iri(_SPDX + "checksumAlgorithm_sha256")),
            (checksum, iri(_SPDX + "checksumValue"), literal(d.sha256)),
        ]
    nt = "".join(f"{s} {p} {o} .\n" for s, p, o in t)
    return KnowledgeStore.convert(nt.encode("utf-8"), "ntriples", "turtle",
                                  prefixes={**PREFIXES, "spdx": _SPDX})


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
