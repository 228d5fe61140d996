"""Kill ``kg ingest`` with SIGKILL at random moments and check that nothing is lost or torn.

The corpus is ``--profiles`` generated profiles (phase 1, as of 2026-11-21) and a second
snapshot of ``--snapshot-share`` of them with changed metrics (phase 2, as of 2026-12-05),
so both write paths run: first documents of a person are bulk-loaded in batches (one
RocksDB ``IngestExternalFiles`` call per batch), later snapshots are one SPARQL update
transaction each, and every run ends with two run-level passes (author links, canonical
titles), each written in one transaction or, when it adds many quads, in bulk-loaded steps.

A reference store is built cleanly. Then the same ingest runs into a second store and is
killed (the whole process group: writer and mapping workers) ``--kills`` times, each time
resumed. After every kill the store must:

1. open;
2. hold only whole documents: every document graph present has exactly the quads of the
   same graph in the reference store;
3. describe exactly the document graphs present (``skg:SourceDocument`` descriptions in the
   default graph), and hold, per phase, a prefix of the documents in ingest order, apart
   from batches that were loading at the same time (``LOAD_THREADS`` batches load at
   once, each atomic, and may land in any order): nothing that completed is lost;
4. be *consistent*: once the run-level passes have run on it (as the next run does), it
   equals, quad for quad in every graph including the default graph, a store built cleanly
   from exactly the documents present. Between a kill and the next run only the results of
   the run-level passes may be stale: author links resolved across documents, and which
   printing of a paper's title is its ``schema:name``. Those passes read only the store, so
   any later run recomputes them.

Finally the ingest is completed and ``kg export`` of both stores must be byte-identical
(``SOURCE_DATE_EPOCH`` makes the ingest times match). Writes
``benchmarks/out/crash-ingest.json``; exit status 0 when every check passed.

Usage::

    python benchmarks/crash_ingest.py --profiles 3000 --kills 20
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import itertools
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.generate_corpus import generate  # noqa: E402
from kg.ingest import LOAD_THREADS, Ingestor  # noqa: E402
from kg.mapping.iris import IriMinter  # noqa: E402
from kg.parse.detect import iter_input_files  # noqa: E402
from kg.storage.store import KnowledgeStore  # noqa: E402

OUT_DIR = BENCH_DIR / "out"
EPOCH = "1795262400"  # 2026-11-21T12:00:00Z
PHASES = (("snapshot-1", dt.date(2026, 11, 21)), ("snapshot-2", dt.date(2026, 12, 5)))
MINTER = IriMinter()
_DESCRIBED = ("PREFIX skg: <https://w3id.org/scholarkg/ns#> "
              "SELECT ?g WHERE { ?g a skg:SourceDocument }")


# --------------------------------------------------------------------------- the corpus


@dataclass
class Corpus:
    root: Path
    #: per phase: files in ingest order, and the document graph IRI of each
    files: list[list[Path]] = field(default_factory=list)
    graphs: list[list[str]] = field(default_factory=list)

    def folder(self, phase: int) -> Path:
        return self.root / PHASES[phase][0]


def _bump_metrics(text: str, rng: random.Random) -> str:
    text = re.sub(r"^h-index([0-9]+)$", lambda m: f"h-index{int(m[1]) + rng.randint(1, 3)}",
                  text, count=1, flags=re.M)
    return re.sub(r"^([0-9,]+)citations?$",
                  lambda m: f"{int(m[1].replace(',', '')) + rng.randint(1, 500):,}citations",
                  text, count=1, flags=re.M)


def make_corpus(root: Path, profiles: int, *, seed: int, share: float) -> Corpus:
    """Phase 1: the generated profiles; phase 2: later snapshots of ``share`` of the scored
    profile pages, metrics changed."""
    first = root / PHASES[0][0]
    generate(profiles, first, seed=seed)
    rng = random.Random(f"{seed}:snapshots")
    second = root / PHASES[1][0]
    pages = [p for p in sorted(first.rglob("*.txt")) if not p.read_text("utf-8").startswith("Goto")]
    for path in sorted(rng.sample(pages, max(1, int(len(pages) * share)))):
        target = second / path.relative_to(first)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(_bump_metrics(path.read_text("utf-8"), rng), encoding="utf-8")
    corpus = Corpus(root)
    for phase in range(len(PHASES)):
        files = list(iter_input_files([corpus.folder(phase)]))
        corpus.files.append(files)
        corpus.graphs.append([MINTER.document(hashlib.sha256(p.read_bytes()).hexdigest())
                              for p in files])
    return corpus


# --------------------------------------------------------------------------- running ingest


def ingest_argv(folder: Path, store: Path, as_of: dt.date, *, jobs: int,
                batch_quads: int | None) -> list[str]:
    """``kg ingest``; with ``batch_quads``, the same through this script (smaller batches,
    so that small corpora have many batch boundaries to be killed at)."""
    if batch_quads is None:
        return [sys.executable, "-m", "kg.cli", "ingest", str(folder), "--store", str(store),
                "--as-of", as_of.isoformat(), "--jobs", str(jobs), "--no-progress"]
    return [sys.executable, str(Path(__file__).resolve()), "ingest-once", str(folder),
            "--store", str(store), "--as-of", as_of.isoformat(), "--jobs", str(jobs),
            "--batch-quads", str(batch_quads)]


def _env() -> dict[str, str]:
    return {**os.environ, "SOURCE_DATE_EPOCH": EPOCH, "PYTHONPATH": str(ROOT)}


def run_to_end(argv: list[str]) -> float:
    started = time.perf_counter()
    proc = subprocess.run(argv, cwd=ROOT, env=_env(), capture_output=True, text=True,
                          timeout=3600, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} exited {proc.returncode}:\n{proc.stderr[-3000:]}")
    return time.perf_counter() - started


def _documents(store: Path) -> int:
    """Document graphs the store holds now (0 while it cannot be opened)."""
    try:
        opened = KnowledgeStore.open(store, read_only=True, lock=False)  # under the writer
    except Exception:  # noqa: BLE001 - not created yet, or being created
        return 0
    try:
        return sum(1 for g in opened.named_graphs() if "/document/" in g)
    finally:
        del opened


def run_and_kill(argv: list[str], delay: float, *, store: Path | None = None,
                 documents: int = 0) -> bool:
    """Start ``argv`` in its own process group and SIGKILL the whole group after ``delay``
    seconds, or as soon as ``store`` holds ``documents`` document graphs (batches landed).
    True when it was killed, False when it had finished first."""
    proc = subprocess.Popen(argv, cwd=ROOT, env=_env(), stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, start_new_session=True)
    deadline = time.monotonic() + delay
    while proc.poll() is None and time.monotonic() < deadline:
        if store is not None and documents and _documents(store) >= documents:
            break
        time.sleep(0.005)
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:  # it finished just now
            pass
        proc.wait(timeout=60)
        proc.stderr.close()  # type: ignore[union-attr]
        return True
    err = proc.stderr.read().decode("utf-8", "replace")  # type: ignore[union-attr]
    proc.stderr.close()  # type: ignore[union-attr]
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} exited {proc.returncode}:\n{err[-3000:]}")
    return False


def ingest_once(folder: Path, store_dir: Path, as_of: dt.date, jobs: int,
                batch_quads: int) -> None:
    """What ``kg ingest`` does, with a given bulk-load batch size."""
    from kg.ingest import ingest_time
    from kg.parallel import map_files

    store = KnowledgeStore.open(store_dir)
    ingestor = Ingestor(store, MINTER, ingested_at=ingest_time(), batch_quads=batch_quads)
    files = list(iter_input_files([folder]))
    items = (item for results in map_files(files, as_of=as_of, base_iri=MINTER.base,
                                           ingested_at=ingestor.ingested_at, processes=jobs)
             for item in results)
    report = ingestor.ingest(items)
    if report.rejected:
        raise SystemExit(f"rejected: {report.rejected[:3]}")


# --------------------------------------------------------------------------- checking


def graph_digests(store: KnowledgeStore) -> dict[str, str]:
    """SHA-256 of every graph's sorted triples ("" is the default graph)."""
    out = {}
    for graph in [None, *store.named_graphs()]:
        lines = sorted(" ".join(t) for t in store.graph_triples(graph))
        out[graph or ""] = hashlib.sha256("\n".join(lines).encode("utf-8")).hexdigest()
    return out


def finished_copy(crashed: Path, copy: Path) -> dict[str, str]:
    """The crashed store after the run-level passes (what the next run does at its end),
    on a copy, as digests."""
    copy.parent.mkdir(parents=True, exist_ok=True)
    if copy.exists():
        shutil.rmtree(copy)
    store = KnowledgeStore.open(crashed)  # read-write, as the next ingest opens it
    store.backup(copy)
    del store
    finished = KnowledgeStore.open(copy)
    Ingestor(finished, MINTER).ingest([])
    digests = graph_digests(finished)
    del finished
    return digests


def replay(corpus: Corpus, present: set[str], work: Path, *, jobs: int,
           batch_quads: int | None, in_process: bool = False) -> dict[str, str]:
    """A store built cleanly from exactly the documents ``present``, as digests
    (``in_process``: ingested by this process, with ``batch_quads``)."""
    if work.exists():
        shutil.rmtree(work)
    store = work / "store"
    for phase, (name, as_of) in enumerate(PHASES):
        folder = work / name
        chosen = [(p, g) for p, g in zip(corpus.files[phase], corpus.graphs[phase], strict=True)
                  if g in present]
        for path, _ in chosen:
            target = folder / path.relative_to(corpus.folder(phase))
            target.parent.mkdir(parents=True, exist_ok=True)
            os.link(path, target)
        if chosen and in_process:
            ingest_once(folder, store, as_of, 1, batch_quads or 200_000)
        elif chosen:
            run_to_end(ingest_argv(folder, store, as_of, jobs=jobs, batch_quads=batch_quads))
    if not store.exists():
        return graph_digests(KnowledgeStore.open(None))
    opened = KnowledgeStore.open(store, read_only=True)
    digests = graph_digests(opened)
    del opened
    return digests


@dataclass
class KillCheck:
    kill: int
    phase: int
    delay_s: float
    killed: bool
    documents: int = 0
    #: documents of the running phase present / in the phase
    phase_progress: str = ""
    problems: list[str] = field(default_factory=list)
    check_s: float = 0.0


def check_after_kill(check: KillCheck, corpus: Corpus, crashed: Path, reference: dict[str, str],
                     work: Path, *, jobs: int, batch_quads: int | None,
                     in_process: bool = False,
                     replays: dict[frozenset[str], dict[str, str]] | None = None) -> None:
    started = time.perf_counter()
    try:
        store = KnowledgeStore.open(crashed, read_only=True)
    except Exception as exc:  # noqa: BLE001 - a store that does not open is the finding
        check.problems.append(f"the store does not open: {exc}")
        return
    try:
        digests = graph_digests(store)
        described = {row["g"][1] for row in store.query(_DESCRIBED).rows()}
    finally:
        del store
    present = {g for g in digests if "/document/" in g}
    check.documents = len(present)
    for graph in sorted(present):
        if digests[graph] != reference.get(graph):
            check.problems.append(f"document graph {graph} differs from the reference "
                                  "(a partial or foreign document)")
    if described != present:
        check.problems.append(f"{len(present - described)} document graphs without a "
                              f"description, {len(described - present)} descriptions without "
                              "a graph")
    for phase, graphs in enumerate(corpus.graphs):
        flags = [g in present for g in graphs]
        done = sum(flags)
        # batches load LOAD_THREADS at a time, each atomic, and may land in any order: a
        # later one before an earlier one still loading leaves a gap, at most one per
        # load in flight beside the oldest
        gaps = sum(1 for before, now in itertools.pairwise(flags) if now and not before)
        if gaps > LOAD_THREADS - 1:
            check.problems.append(f"phase {phase + 1}: the documents present are not a prefix "
                                  f"of the ingest order with at most {LOAD_THREADS - 1} "
                                  f"gaps (batches loaded at once), but {gaps}")
        if phase == check.phase:
            check.phase_progress = f"{done}/{len(graphs)}"
    finished = finished_copy(crashed, work / "finished")
    replays = {} if replays is None else replays
    key = frozenset(present)
    if key not in replays:  # the same documents present as after an earlier kill
        replays[key] = replay(corpus, present, work / "replay", jobs=jobs,
                              batch_quads=batch_quads, in_process=in_process)
    clean = replays[key]
    if finished != clean:
        differing = sorted(g or "(default graph)" for g in set(finished) | set(clean)
                           if finished.get(g) != clean.get(g))
        check.problems.append(f"not consistent: after the run-level passes, {len(differing)} "
                              f"graphs differ from a clean ingest of the same documents, e.g. "
                              f"{differing[:3]}")
    shutil.rmtree(work / "finished", ignore_errors=True)
    check.check_s = time.perf_counter() - started


def compare_exports(a: Path, b: Path) -> list[str]:
    names = sorted({p.name for p in a.iterdir()} | {p.name for p in b.iterdir()})
    return [name for name in names
            if not (a / name).is_file() or not (b / name).is_file()
            or (a / name).read_bytes() != (b / name).read_bytes()]


def converged(store: Path, work: Path) -> list[str]:
    """Dump files of a completed ingest that differ from the clean run's."""
    out = work / "exports-crashed"
    if out.exists():
        shutil.rmtree(out)
    export(store, out)
    return compare_exports(work / "exports-reference", out)


def export(store: Path, out: Path) -> None:
    run_to_end([sys.executable, "-m", "kg.cli", "export", "--store", str(store), "--out",
                str(out)])


# --------------------------------------------------------------------------- the run


def run(args: argparse.Namespace) -> dict[str, object]:
    work = Path(args.workdir or tempfile.mkdtemp(prefix="kg-crash-ingest-"))
    rng = random.Random(f"{args.seed}:kills")
    started = time.perf_counter()
    corpus = make_corpus(work / "corpus", args.profiles, seed=args.seed,
                         share=args.snapshot_share)
    opts = {"jobs": args.jobs, "batch_quads": args.batch_quads}
    reference_store = work / "reference"
    durations = [run_to_end(ingest_argv(corpus.folder(p), reference_store, as_of, **opts))
                 for p, (_, as_of) in enumerate(PHASES)]
    ref = KnowledgeStore.open(reference_store, read_only=True)
    reference = graph_digests(ref)
    quads = ref.count_quads(all_graphs=True)
    del ref
    export(reference_store, work / "exports-reference")
    print(f"corpus: {sum(map(len, corpus.files))} documents ({len(corpus.files[1])} later "
          f"snapshots), {quads} quads; clean ingest {durations[0]:.1f} s + "
          f"{durations[1]:.1f} s", flush=True)

    crashed = work / "crashed"
    checks: list[KillCheck] = []
    replays: dict[frozenset[str], dict[str, str]] = {}
    differing: list[str] = []
    chains = 0
    phase = 0
    while len([c for c in checks if c.killed]) < args.kills:
        _, as_of = PHASES[phase]
        delay = rng.uniform(0.05, 1.0) * durations[phase]
        argv = ingest_argv(corpus.folder(phase), crashed, as_of, **opts)
        check = KillCheck(len(checks) + 1, phase, round(delay, 2), run_and_kill(argv, delay))
        check_after_kill(check, corpus, crashed, reference, work / "check", replays=replays,
                         **opts)
        checks.append(check)
        print(f"kill {check.kill}: phase {phase + 1} after {delay:.1f} s, "
              f"{'killed' if check.killed else 'had finished'}; {check.documents} documents "
              f"(phase {check.phase_progress}); {len(check.problems)} problems "
              f"[check {check.check_s:.0f} s]", flush=True)
        for problem in check.problems:
            print("  PROBLEM", problem, flush=True)
        if not check.killed:
            phase = (phase + 1) % len(PHASES)
            if phase == 0:  # both phases done: compare the dumps, start again afresh
                differing += converged(crashed, work)
                chains += 1
                shutil.rmtree(crashed)
    for p in range(phase, len(PHASES)):  # let the ingest finish
        run_to_end(ingest_argv(corpus.folder(p), crashed, PHASES[p][1], **opts))
    differing += converged(crashed, work)
    chains += 1
    problems = sum(len(c.problems) for c in checks) + len(differing)
    report: dict[str, object] = {
        "benchmark": "crash_ingest",
        "profiles": args.profiles,
        "documents": sum(map(len, corpus.files)),
        "later_snapshots": len(corpus.files[1]),
        "quads": quads,
        "clean_ingest_s": [round(d, 1) for d in durations],
        "batch_quads": args.batch_quads or "kg ingest default",
        "kills": sum(c.killed for c in checks),
        "runs_that_finished_before_the_kill": sum(not c.killed for c in checks),
        "kills_mid_phase": sum(c.killed and 0 < int(c.phase_progress.split("/")[0])
                               < int(c.phase_progress.split("/")[1]) for c in checks),
        "checks": [c.__dict__ for c in checks],
        "completed_ingests_compared": chains,
        "exports_identical": not differing,
        "exports_differing": differing,
        "problems": problems,
        "total_s": round(time.perf_counter() - started, 1),
        "workdir": str(work),
    }
    if not args.keep and not args.workdir:
        shutil.rmtree(work, ignore_errors=True)
    return report


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["ingest-once"]:
        parser = argparse.ArgumentParser(prog="crash_ingest.py ingest-once")
        parser.add_argument("folder", type=Path)
        parser.add_argument("--store", type=Path, required=True)
        parser.add_argument("--as-of", type=dt.date.fromisoformat, required=True)
        parser.add_argument("--jobs", type=int, default=1)
        parser.add_argument("--batch-quads", type=int, required=True)
        a = parser.parse_args(argv[1:])
        ingest_once(a.folder, a.store, a.as_of, a.jobs, a.batch_quads)
        return 0
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--profiles", type=int, default=3000)
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--snapshot-share", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--batch-quads", type=int, default=None,
                        help="bulk-load batch size (default: kg ingest's own)")
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args(argv)
    report = run(args)
    print(f"\n{report['kills']} kills ({report['kills_mid_phase']} in the middle of a phase), "
          f"{report['runs_that_finished_before_the_kill']} runs finished first; exports "
          f"identical: {report['exports_identical']}; problems: {report['problems']}; "
          f"{report['total_s']} s")
    OUT_DIR.mkdir(exist_ok=True)
    out = OUT_DIR / "crash-ingest.json"
    out.write_text(json.dumps(report, indent=2, default=str) + "\n", encoding="utf-8")
    print(f"report in {out}")
    return 0 if not report["problems"] else 1


if __name__ == "__main__":
    sys.exit(main())
