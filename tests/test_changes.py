"""Change sets between releases: written by kg export, applied by kg apply-changes."""

from __future__ import annotations

import datetime as dt
import gc
import gzip
import hashlib
import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from rdflib import Graph

from kg.cli import main
from kg.errors import KgError
from kg.ingest import Ingestor
from kg.mapping.iris import IriMinter
from kg.output.changes import ChangeSetError, apply_change_set, apply_to_lines
from kg.output.export import export_store, nquads_sha256
from kg.parse.detect import iter_input_files, read_documents
from kg.storage.store import KnowledgeStore
from tests.sample_data import BASE, EXAMPLES, INGESTED_AT, build_store

LATER = dt.date(2026, 12, 1)
NEW_PAPER = ("CVNov 2, 2026\nSegmenting Scanned Ledgers without Line Annotations\n\n"
             "Mei Tanaka, Ines Valdes\n\nWe segment scanned ledgers into lines with no line "
             "annotations at all, from page-level transcriptions alone.\n\n")
# a profile that was not in the first release
NEWCOMER = {"name": "Ines Valdes", "as_of": LATER.isoformat(), "category": "CV",
            "metrics": {"h_index": 3, "paper_count": 1, "citation_count": 12},
            "papers": [{"title": "Segmenting Scanned Ledgers without Line Annotations",
                        "date": "2026-11-02", "category": "CV",
                        "byline": "Mei Tanaka, Ines Valdes"}]}


def _later_snapshot() -> str:
    """A later snapshot of a bundled profile: other metrics, one paper gone, one new."""
    text = (EXAMPLES / "mei-tanaka.txt").read_text(encoding="utf-8")
    start = text.index("CLNov 2, 2024\n")
    end = text.index("91.2CVFeb 11, 2026Code")
    assert "h-index15" in text and "2,031citations" in text
    text = text[:start] + NEW_PAPER + text[end:]
    return text.replace("h-index15", "h-index16").replace("2,031citations", "2,240citations")


def _ingest_later(store: KnowledgeStore, folder: Path) -> None:
    (folder / "later").mkdir()
    (folder / "later" / "mei-tanaka.txt").write_text(_later_snapshot(), encoding="utf-8")
    (folder / "later" / "newcomer.jsonl").write_text(json.dumps(NEWCOMER) + "\n",
                                                     encoding="utf-8")
    items = (d for f in iter_input_files([folder / "later"])
             for d in read_documents(f, as_of=LATER))
    report = Ingestor(store, IriMinter(BASE), ingested_at=INGESTED_AT).ingest(items)
    assert report.ok, report.rejected
    assert report.superseded == 1  # Mei Tanaka's first snapshot is now history


def _lines(path: Path) -> list[bytes]:
    return gzip.decompress(path.read_bytes()).splitlines(keepends=True)


def _load_release(nq_gz: Path, store_dir: Path) -> None:
    plain = store_dir.parent / (nq_gz.name + ".plain")
    plain.write_bytes(gzip.decompress(nq_gz.read_bytes()))
    store = KnowledgeStore.open(store_dir)
    store.load_nquads_file(plain)
    store.flush()
    del store
    gc.collect()  # RocksDB's lock goes with the store


def _quads(store_dir: Path) -> list[str]:
    store = KnowledgeStore.open(store_dir, read_only=True)
    lines = sorted(store.quad_lines(all_graphs=True))
    del store
    gc.collect()
    return lines


@pytest.fixture(scope="module")
def releases(tmp_path_factory: pytest.TempPathFactory):
    """Two releases exported into one folder: the sample, then a later snapshot on top."""
    tmp = tmp_path_factory.mktemp("releases")
    out = tmp / "exports"
    store = build_store([EXAMPLES])
    first = export_store(store, out, base_iri=BASE)
    first_nq = tmp / "first.nq.gz"
    first_nq.write_bytes((out / first.dumps[0].name).read_bytes())
    _ingest_later(store, tmp)
    second = export_store(store, out, base_iri=BASE)
    return tmp, out, store, first, first_nq, second


def test_changes_applied_to_the_first_release_give_the_second_byte_for_byte(releases):
    _, out, _, first, first_nq, second = releases
    assert (first.release, second.release) == ("2026-11-21", "2026-12-01")
    changes = second.changes
    assert changes is not None and changes.removed.quads > 0 and changes.added.quads > 0
    removed, added = _lines(out / changes.removed.file), _lines(out / changes.added.file)
    assert removed == sorted(removed) and added == sorted(added)
    old, new = _lines(first_nq), _lines(out / second.dumps[0].name)
    assert set(removed) <= set(old) and not set(added) & set(old)
    assert b"".join(apply_to_lines(old, removed=removed, added=added)) == b"".join(new)
    # the metadata records both releases' N-Quads: the files and their decompressed text
    meta = json.loads((out / f"{changes.name}.changes.json").read_text(encoding="utf-8"))
    assert meta["base"]["nquads_sha256"] == hashlib.sha256(b"".join(old)).hexdigest()
    assert meta["result"]["nquads_sha256"] == hashlib.sha256(b"".join(new)).hexdigest()
    assert meta["base"]["sha256"] == hashlib.sha256(first_nq.read_bytes()).hexdigest()
    assert (meta["removed"]["quads"], meta["added"]["quads"]) == (len(removed), len(added))
    # the first release's dumps are gone; its change set stays
    assert not list(out.glob(f"scholarkg-{first.release}.*"))


def test_change_files_are_checksummed_and_described(releases):
    _, out, _, _, _, second = releases
    changes = second.changes
    assert changes is not None
    sums = dict(line.split("  ")[::-1] for line in (out / "SHA256SUMS").read_text().splitlines())
    for name in (changes.removed.file, changes.added.file, f"{changes.name}.changes.json"):
        assert sums[name] == hashlib.sha256((out / name).read_bytes()).hexdigest()
    assert set(sums) == {p.name for p in out.iterdir()} - {"SHA256SUMS"}
    void = Graph().parse(out / "void.ttl", format="turtle")
    rows = {str(r.url).rsplit("/", 1)[-1]: r for r in void.query(
        """PREFIX dcat: <http://www.w3.org/ns/dcat#> PREFIX void: <http://rdfs.org/ns/void#>
           PREFIX spdx: <http://spdx.org/rdf/terms#> PREFIX dct: <http://purl.org/dc/terms/>
           SELECT ?url ?size ?n ?sum WHERE { ?ds dct:relation ?c . ?c dcat:distribution ?d .
             ?d dcat:downloadURL ?url ; dcat:byteSize ?size ; void:triples ?n ;
                spdx:checksum [ spdx:checksumValue ?sum ] }""")}
    assert set(rows) == {changes.removed.file, changes.added.file}
    for part in (changes.removed, changes.added):
        assert int(rows[part.file].size) == (out / part.file).stat().st_size
        assert int(rows[part.file].n) == part.quads
        assert str(rows[part.file].sum) == sums[part.file]


def test_a_store_synced_by_the_change_set_equals_one_built_from_scratch(releases):
    tmp, out, store, _, first_nq, second = releases
    changes = second.changes
    assert changes is not None
    mirror = tmp / "mirror"
    _load_release(first_nq, mirror)
    runner = CliRunner()
    meta = str(out / f"{changes.name}.changes.json")
    result = runner.invoke(main, ["apply-changes", meta, "--store", str(mirror), "--no-progress"])
    assert result.exit_code == 0, result.output
    assert f"{changes.removed.quads} quads removed, {changes.added.quads} added" in result.output
    expected = sorted(store.quad_lines(all_graphs=True))
    assert _quads(mirror) == expected
    scratch = tmp / "scratch"
    _load_release(out / second.dumps[0].name, scratch)
    assert _quads(scratch) == expected
    # once more: the store already holds the result, nothing changes
    again = runner.invoke(main, ["apply-changes", meta, "--store", str(mirror), "--no-progress"])
    assert again.exit_code == 0 and "nothing to do" in again.output
    assert _quads(mirror) == expected


def test_a_change_set_for_another_base_is_refused(releases, tmp_path):
    _, out, _, _, first_nq, second = releases
    changes = second.changes
    assert changes is not None
    meta = out / f"{changes.name}.changes.json"
    # the same number of quads as the base release, one literal different
    lines = _lines(first_nq)
    index = next(i for i, line in enumerate(lines) if b'"Mei Tanaka"' in line)
    lines[index] = lines[index].replace(b'"Mei Tanaka"', b'"Mei Tanaka (edited)"')
    other = tmp_path / "other.nq.gz"
    other.write_bytes(gzip.compress(b"".join(lines)))
    _load_release(other, tmp_path / "other")
    before = _quads(tmp_path / "other")
    result = CliRunner().invoke(main, ["apply-changes", str(meta), "--store",
                                       str(tmp_path / "other"), "--no-progress"])
    assert result.exit_code == 1
    assert "refusing to apply" in result.output and changes.source in result.output
    assert _quads(tmp_path / "other") == before
    # a store of another size is refused before anything is read
    store = KnowledgeStore.open(None)
    with pytest.raises(ChangeSetError, match="holds 0 quads"):
        apply_change_set(store, meta)


def test_a_damaged_change_file_is_refused(releases, tmp_path):
    _, out, _, _, first_nq, second = releases
    changes = second.changes
    assert changes is not None
    copy = tmp_path / "copy"
    copy.mkdir()
    for name in (changes.removed.file, changes.added.file, f"{changes.name}.changes.json"):
        (copy / name).write_bytes((out / name).read_bytes())
    damaged = copy / changes.added.file
    damaged.write_bytes(damaged.read_bytes()[:-8])
    _load_release(first_nq, tmp_path / "mirror")
    store = KnowledgeStore.open(tmp_path / "mirror")
    with pytest.raises(ChangeSetError, match="does not match its SHA-256"):
        apply_change_set(store, copy / f"{changes.name}.changes.json")
    digest, quads = nquads_sha256(store)
    assert (digest, quads) == (changes.base.nquads_sha256, changes.base.quads)


def test_a_third_release_keeps_the_earlier_change_set(releases, tmp_path):
    _, out, store, _, _, second = releases
    folder = tmp_path / "exports"
    folder.mkdir()
    for path in out.iterdir():
        (folder / path.name).write_bytes(path.read_bytes())
    third = export_store(store, folder, base_iri=BASE, release="2026-12-02")
    assert third.changes is not None and second.changes is not None
    assert (third.changes.removed.quads, third.changes.added.quads) == (0, 0)
    names = {p.name for p in folder.iterdir()}
    assert f"{second.changes.name}.changes.json" in names
    assert f"{third.changes.name}.changes.json" in names
    sums = (folder / "SHA256SUMS").read_text()
    assert second.changes.added.file in sums and third.changes.added.file in sums


def test_previous_names_the_earlier_release_for_an_empty_folder(releases, tmp_path):
    _, out, store, _, first_nq, second = releases
    changes = second.changes
    assert changes is not None
    renamed = tmp_path / "old" / changes.base.file
    renamed.parent.mkdir()
    renamed.write_bytes(first_nq.read_bytes())
    fresh = tmp_path / "fresh"
    result = CliRunner().invoke(main, ["export", "--store", str(tmp_path / "none"), "--out",
                                       str(fresh), "--previous", str(renamed.parent)])
    assert result.exit_code == 1 and "no store" in result.output.lower()
    again = export_store(store, fresh, base_iri=BASE, previous=renamed)
    assert again.changes is not None
    for name in (changes.removed.file, changes.added.file):
        assert (fresh / name).read_bytes() == (out / name).read_bytes()


def test_a_damaged_earlier_release_is_a_clear_error(releases, tmp_path):
    _, _, store, _, first_nq, _ = releases
    damaged = tmp_path / "scholarkg-2026-11-21.nq.gz"
    damaged.write_bytes(first_nq.read_bytes()[:200])
    result_dir = tmp_path / "out"
    with pytest.raises(KgError, match="cannot read the earlier release"):
        export_store(store, result_dir, base_iri=BASE, previous=damaged)
    assert not [p for p in result_dir.iterdir() if not p.name.startswith(".")]
