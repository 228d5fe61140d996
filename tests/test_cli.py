"""The kg command line: help, ingest reporting, idempotency, history, query, stats."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from kg.cli import main
from tests.sample_data import EXAMPLES

COMMANDS = ["ingest", "export", "apply-changes", "query", "validate", "stats", "serve", "link"]


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(runner: CliRunner, command: str) -> None:
    result = runner.invoke(main, [command, "--help"])
    assert result.exit_code == 0
    assert "Usage:" in result.output and "--store" in result.output


def _ingest(runner: CliRunner, store: Path, *paths: Path, as_of: str = "2026-11-21"):
    # one process in-process: CliRunner's captured streams cannot be handed to a process pool
    return runner.invoke(main, ["ingest", *map(str, paths), "--as-of", as_of, "--store", str(store),
                                "--jobs", "1"])


def _dump(runner: CliRunner, store: Path) -> str:
    result = runner.invoke(main, ["query", "SELECT ?s ?p ?o ?g { { ?s ?p ?o } UNION { GRAPH ?g { ?s ?p ?o } } }",
                                  "--store", str(store), "--format", "tsv"])
    assert result.exit_code == 0, result.output
    return "\n".join(sorted(result.output.splitlines()))


def test_bad_documents_are_reported_and_the_rest_ingested(runner, tmp_path) -> None:
    docs = tmp_path / "docs"
    shutil.copytree(EXAMPLES, docs)
    (docs / "broken.txt").write_text("Ann Example\n\nLG\nh-index seven\n", encoding="utf-8")
    (docs / "latin1.txt").write_bytes("Jos\xe9 Example\n\nLG\n".encode("latin-1"))
    (docs / "empty.txt").write_bytes(b"")
    result = _ingest(runner, tmp_path / "store", docs)
    assert result.exit_code == 1
    assert "broken.txt:4:" in result.output
    assert "latin1.txt:1:" in result.output
    assert "empty.txt" in result.output
    assert "4 ingested" in result.output and "3 rejected" in result.output
    stats = runner.invoke(main, ["stats", "--store", str(tmp_path / "store")])
    assert "persons\t4" in stats.output
    assert "documents\t4" in stats.output


def test_ingesting_the_same_folder_twice_changes_nothing(runner, tmp_path) -> None:
    store = tmp_path / "store"
    assert _ingest(runner, store, EXAMPLES).exit_code == 0
    before = _dump(runner, store)
    again = _ingest(runner, store, EXAMPLES)
    assert again.exit_code == 0 and "0 ingested, 4 unchanged" in again.output
    assert _dump(runner, store) == before


def test_later_snapshot_updates_current_metrics_and_keeps_both(runner, tmp_path) -> None:
    store = tmp_path / "store"
    first = tmp_path / "v1"
    second = tmp_path / "v2"
    first.mkdir()
    second.mkdir()
    text = (EXAMPLES / "mei-tanaka.txt").read_text(encoding="utf-8")
    (first / "mei.txt").write_text(text, encoding="utf-8")
    (second / "mei.txt").write_text(text.replace("h-index15", "h-index17")
                                    .replace("2,031citations", "2,348citations"), encoding="utf-8")
    assert _ingest(runner, store, first, as_of="2026-10-01").exit_code == 0
    assert _ingest(runner, store, second, as_of="2026-11-21").exit_code == 0
    q = """PREFIX skg: <https://w3id.org/scholarkg/ns#> PREFIX schema: <https://schema.org/>
    SELECT ?h ?c { ?p schema:name "Mei Tanaka" ; skg:hIndex ?h ; skg:citationCount ?c }"""
    out = runner.invoke(main, ["query", q, "--store", str(store), "--format", "csv"]).output
    assert out.splitlines()[1:] == ["17,2348"]
    q = """PREFIX skg: <https://w3id.org/scholarkg/ns#> PREFIX schema: <https://schema.org/>
    SELECT ?d ?v { ?o schema:measuredProperty skg:hIndex ; schema:observationDate ?d ;
    schema:value ?v } ORDER BY ?d"""
    out = runner.invoke(main, ["query", q, "--store", str(store), "--format", "csv"]).output
    assert out.splitlines()[1:] == ["2026-10-01,15", "2026-11-21,17"]


def test_query_errors_are_clear(runner, tmp_path) -> None:
    store = tmp_path / "store"
    assert _ingest(runner, store, EXAMPLES).exit_code == 0
    result = runner.invoke(main, ["query", "SELECT ?x WHERE {", "--store", str(store)])
    assert result.exit_code != 0
    assert "Error" in result.output


def test_missing_store_is_a_clear_error(runner, tmp_path) -> None:
    result = runner.invoke(main, ["stats", "--store", str(tmp_path / "nothing")])
    assert result.exit_code != 0 and "kg ingest" in result.output


def test_validate_and_export_on_the_sample(runner, tmp_path) -> None:
    store = tmp_path / "store"
    assert _ingest(runner, store, EXAMPLES).exit_code == 0
    result = runner.invoke(main, ["validate", "--store", str(store)])
    assert result.exit_code == 0, result.output
    out = tmp_path / "exports"
    result = runner.invoke(main, ["export", "--store", str(store), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert (out / "SHA256SUMS").is_file() and (out / "void.ttl").is_file()
    assert len(list(out.glob("scholarkg-*.gz"))) == 4


def test_parallel_ingest_gives_the_same_dataset(runner, tmp_path) -> None:
    """Two worker processes (a real `kg` process) give what one in-process run gives."""
    serial, parallel = tmp_path / "serial", tmp_path / "parallel"
    assert _ingest(runner, serial, EXAMPLES).exit_code == 0
    env = {**os.environ, "SOURCE_DATE_EPOCH": ""}
    done = subprocess.run(
        [sys.executable, "-m", "kg.cli", "ingest", str(EXAMPLES), "--as-of", "2026-11-21",
         "--store", str(parallel), "--jobs", "2"],
        capture_output=True, text=True, timeout=120, env=env, check=False)
    assert done.returncode == 0, done.stderr
    strip_time = [line for line in _dump(runner, serial).splitlines() if "generatedAtTime" not in line]
    strip_time2 = [line for line in _dump(runner, parallel).splitlines() if "generatedAtTime" not in line]
    assert strip_time == strip_time2


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="thread priorities: Linux")
def test_ingest_runs_compactions_at_the_lowest_priority(runner, tmp_path, monkeypatch) -> None:
    """``kg ingest`` lowers RocksDB's compaction threads (and only those) to nice 19.

    Compared with the level the test runs at, not with 0: under ``nice -n 19`` every thread
    starts at 19 (a process may not raise its priority again), and the other threads must
    simply stay where they were.
    """
    from kg.storage.store import KnowledgeStore

    level = os.getpriority(os.PRIO_PROCESS, 0)

    seen: list[dict[str, set[int]]] = []
    lower = KnowledgeStore.lower_compaction_priority

    def lowered(self: KnowledgeStore) -> int:
        count = lower(self)
        priorities: dict[str, set[int]] = {}
        for task in Path("/proc/self/task").iterdir():
            name = (task / "comm").read_text("utf-8").strip()
            kind = name if name.startswith("rocksdb") else "other"
            priorities.setdefault(kind, set()).add(os.getpriority(os.PRIO_PROCESS, int(task.name)))
        seen.append(priorities)
        assert count == len([t for t in Path("/proc/self/task").iterdir()
                             if (t / "comm").read_text("utf-8").startswith("rocksdb:low")])
        return count

    monkeypatch.setattr(KnowledgeStore, "lower_compaction_priority", lowered)
    result = runner.invoke(main, ["ingest", str(EXAMPLES), "--as-of", "2026-11-21",
                                  "--store", str(tmp_path / "s"), "--jobs", "1"])
    assert result.exit_code == 0, result.output
    [priorities] = seen
    assert priorities["rocksdb:low"] == {19}
    assert priorities["other"] == {level}
    assert priorities.get("rocksdb:high", {level}) == {level}


def test_ingest_reports_the_time_of_each_phase(runner, tmp_path) -> None:
    result = runner.invoke(main, ["ingest", str(EXAMPLES), "--as-of", "2026-11-21",
                                  "--store", str(tmp_path / "s"), "--jobs", "1"])
    assert result.exit_code == 0, result.output
    [line] = [x for x in result.output.splitlines() if x.startswith("time: ")]
    phases = dict(part.rsplit(" ", 2)[0:2] for part in line[len("time: "):].split(", "))
    assert list(phases) == ["documents", "author links", "single values"]
    assert all(float(seconds) >= 0 for seconds in phases.values())


def _nquads(store_dir: Path) -> list[str]:
    from kg.storage.store import KnowledgeStore

    store = KnowledgeStore.open(store_dir, read_only=True)
    try:
        return sorted(store.quad_lines(all_graphs=True))
    finally:
        del store


def test_optimize_compacts_without_changing_a_quad(runner, tmp_path) -> None:
    store = tmp_path / "s"
    assert runner.invoke(main, ["ingest", str(EXAMPLES), "--as-of", "2026-11-21",
                                "--store", str(store), "--jobs", "1"]).exit_code == 0
    before = _nquads(store)
    result = runner.invoke(main, ["optimize", "--store", str(store)])
    assert result.exit_code == 0, result.output
    assert "compacted" in result.output
    assert _nquads(store) == before and len(before) > 100


def test_optimize_without_a_store_is_a_clear_error(runner, tmp_path) -> None:
    result = runner.invoke(main, ["optimize", "--store", str(tmp_path / "none")])
    assert result.exit_code == 1
    assert "no store at" in result.output
    assert not (tmp_path / "none").exists()


@pytest.mark.parametrize("flag, compacted", [("--optimize", 1), ("--no-optimize", 0), (None, 0)])
def test_release_compacts_the_working_store_when_asked(runner, tmp_path, monkeypatch,
                                                       flag, compacted) -> None:
    from kg.storage.store import KnowledgeStore

    calls: list[Path | None] = []
    optimize = KnowledgeStore.optimize

    def counted(self: KnowledgeStore) -> None:
        calls.append(self.path)
        optimize(self)

    monkeypatch.setattr(KnowledgeStore, "optimize", counted)
    work = tmp_path / "work"
    assert runner.invoke(main, ["ingest", str(EXAMPLES), "--as-of", "2026-11-21",
                                "--store", str(work), "--jobs", "1"]).exit_code == 0
    args = ["release", "--store", str(work), "--releases", str(tmp_path / "rel")]
    result = runner.invoke(main, args + ([flag] if flag else []))
    assert result.exit_code == 0, result.output
    assert calls == [work] * compacted
    assert _nquads(tmp_path / "rel" / "current") == _nquads(work)


def test_export_counts_quads_in_the_nquads_dump_and_triples_elsewhere(runner, tmp_path) -> None:
    store = tmp_path / "store"
    assert _ingest(runner, store, EXAMPLES).exit_code == 0
    result = runner.invoke(main, ["export", "--store", str(store), "--out", str(tmp_path / "x")])
    assert result.exit_code == 0, result.output
    units = {line.split("\t")[0].split(".", 1)[1]: line.split("\t")[1].split(" ")[1]
             for line in result.output.splitlines() if line.startswith("scholarkg-")}
    assert units == {"nq.gz": "quads", "ttl.gz": "triples", "nt.gz": "triples",
                     "jsonld.gz": "triples"}


def test_validate_and_stats_count_the_same_named_graphs(runner, tmp_path) -> None:
    store = tmp_path / "store"
    assert _ingest(runner, store, EXAMPLES).exit_code == 0
    stats = runner.invoke(main, ["stats", "--store", str(store)])
    named = dict(line.split("\t", 1) for line in stats.output.splitlines()
                 if "\t" in line and not line.startswith("class\t"))["named graphs"]
    # four documents and the author links
    assert named == "5"
    result = runner.invoke(main, ["validate", "--store", str(store)])
    assert result.exit_code == 0, result.output
    assert f"validated the default graph and {named} named graphs: 0 with violations" in result.output
    result = runner.invoke(main, ["validate", "--store", str(store), "--default-graph-only"])
    assert "validated the default graph: 0 with violations" in result.output


# the authorship model of 2026-12-07 ----------------------------------------------------

#: turns a store of the current model into one of the model before 2026-12-07
_TO_OLD_MODEL = """
PREFIX schema: <https://schema.org/>
PREFIX skg: <https://w3id.org/scholarkg/ns#>
DELETE { GRAPH ?g { ?a skg:person ?p } } INSERT { GRAPH ?g { ?a schema:author ?p } }
WHERE { GRAPH ?g { ?a skg:person ?p } } ;
DELETE { ?a skg:person ?p } INSERT { ?a schema:author ?p } WHERE { ?a skg:person ?p }
"""


def _update(store: Path, sparql: str) -> None:
    from kg.storage.store import KnowledgeStore

    opened = KnowledgeStore.open(store)
    opened.update(sparql)
    opened.flush()
    del opened


def test_a_store_of_the_old_authorship_model_is_reported_and_migrates(runner, tmp_path) -> None:
    from kg.mapping.migrations import MIGRATE_AUTHORSHIPS

    store = tmp_path / "store"
    assert _ingest(runner, store, EXAMPLES).exit_code == 0
    current = _dump(runner, store)
    _update(store, _TO_OLD_MODEL)
    assert any(line.split("\t")[0].rsplit("/", 2)[1] == "authorship"
               and "<https://schema.org/author>" in line
               for line in _dump(runner, store).splitlines())

    result = runner.invoke(main, ["validate", "--store", str(store)])
    assert result.exit_code == 1
    assert "built before 2026-12-07" in result.output and "Re-ingest" in result.output
    # an ingest would mix both models: refused, the store unchanged
    old = _dump(runner, store)
    result = _ingest(runner, store, EXAMPLES, as_of="2026-12-01")
    assert result.exit_code == 1 and "built before 2026-12-07" in result.output
    assert _dump(runner, store) == old

    # the documented update migrates it to exactly what an ingest builds today
    docs = (Path(__file__).resolve().parents[1] / "docs" / "operations.md").read_text("utf-8")
    assert MIGRATE_AUTHORSHIPS in docs
    _update(store, MIGRATE_AUTHORSHIPS)
    assert _dump(runner, store) == current
    assert runner.invoke(main, ["validate", "--store", str(store)]).exit_code == 0


def test_kg_export_turtle_conforms_with_two_printings_of_a_paper(runner, tmp_path) -> None:
    """Two profiles print one paper, one with the first sentence of its abstract: the
    exported Turtle keeps the whole text once and passes pyshacl with the shapes."""
    import gzip
    import json

    import pyshacl
    from rdflib import Graph, URIRef

    whole = "A first sentence. A second one that the short printing leaves out."
    records = [{"name": name, "as_of": "2026-11-21", "papers": [
        {"title": "Shared Printing", "abstract": text, "byline": "Ann Lee, Bo Tan"}]}
        for name, text in (("Ann Lee", whole), ("Bo Tan", whole.split(". ")[0] + "."))]
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "two.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records), "utf-8")
    store = tmp_path / "store"
    assert _ingest(runner, store, EXAMPLES, docs).exit_code == 0
    out = tmp_path / "x"
    assert runner.invoke(main, ["export", "--store", str(store), "--out", str(out)]).exit_code == 0
    [ttl] = out.glob("scholarkg-*.ttl.gz")
    data = Graph().parse(data=gzip.decompress(ttl.read_bytes()), format="turtle")
    shapes = Graph().parse(Path(__file__).resolve().parents[1] / "ontology" / "shapes.ttl")
    conforms, _, text = pyshacl.validate(data, shacl_graph=shapes)
    assert conforms, text
    abstracts = {str(o) for o in data.objects(None, URIRef("https://schema.org/abstract"))
                 if "second one" in str(o) or str(o) == "A first sentence."}
    assert abstracts == {whole}
