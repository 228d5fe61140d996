"""Ingest benchmark: ``kg ingest`` against ``oxigraph load`` on the same data.

One run:

a) ``kg ingest CORPUS --as-of DATE --store STORE_A``, measured (wall time, peak RSS of the
   process tree);
b) ``kg export --store STORE_A --out EXPORTS``, then the ``*.nq.gz`` dump is gunzipped to
   one N-Quads file (several dumps are concatenated) and its quads counted; or, with
   ``--nquads-from store``, the kg store dumped as N-Quads by pyoxigraph (the same quads,
   faster on large corpora, in the store's index order), or ``store-sorted``, that dump
   sorted in code-point order like the export, or ``store-both``: each order in turn;
c) ``oxigraph load --location STORE_B --file export.nq`` (the bulk loader), measured (with
   ``store-both`` once per order, each into a fresh store).

Oxigraph's bulk loader can be faster on sorted input (a subject's quads together), so
with two orders the ratio is taken against the faster load.

Both leave uncompacted files behind (Oxigraph's bulk loader holds compactions back, and
``kg ingest`` runs them at the lowest priority), so ``kg optimize`` of STORE_A (before the
dump of b) and ``oxigraph optimize`` of STORE_B are measured too, and the ratio up to a
compacted store is reported beside the target's (ingest against load).

The run is repeated ``--repeat`` times on fresh stores; the report gives medians and the
targets: kg quads/s at least 0.7 x oxigraph's, and kg peak RSS at most 2048 MB. A JSON
report goes to ``benchmarks/out/ingest-<N>.json``.

Exit status: 0 when both targets pass, 1 when one fails, 2 when the benchmark could not run.

Usage::

    python benchmarks/bench_ingest.py --profiles 10000
    python benchmarks/bench_ingest.py --corpus /data/corpus --repeat 5 --keep
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import gzip
import importlib.util
import json
import os
import platform
import shlex
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import psutil

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
for entry in (str(BENCH_DIR), str(ROOT)):
    if entry not in sys.path:
        sys.path.insert(0, entry)

import generate_corpus  # noqa: E402
from measure import MB, CommandFailed, Measurement, median, run_measured  # noqa: E402

OUT_DIR = BENCH_DIR / "out"
AS_OF = "2026-11-21"
#: kg quads/s divided by oxigraph load quads/s must reach this
TARGET_RATIO = 0.7
#: kg ingest peak RSS (process tree) must stay at or below this many MB
TARGET_RSS_MB = 2048


class BenchmarkError(Exception):
    """The benchmark cannot run (missing tool, failed command, unexpected output)."""


@dataclass(frozen=True, slots=True)
class RunResult:
    """One repetition: the commands measured and what the export held."""

    ingest: Measurement
    export: Measurement
    load: Measurement
    quads: int
    #: ``kg optimize`` of the kg store and ``oxigraph optimize`` of Oxigraph's, after
    #: loading: both leave uncompacted files behind (RocksDB does not compact during
    #: Oxigraph's bulk load, and kg ingest runs compactions at the lowest priority)
    kg_optimize: Measurement | None = None
    ox_optimize: Measurement | None = None
    #: with ``store-both``: oxigraph load (and optimize) of the same quads sorted in
    #: code-point order; ``load`` is then the store's order
    load_sorted: Measurement | None = None
    ox_optimize_sorted: Measurement | None = None

    def _fastest(self) -> tuple[Measurement, Measurement | None]:
        """Oxigraph's faster load, with its optimize."""
        if self.load_sorted is not None and (
                self.load_sorted.wall_seconds < self.load.wall_seconds):
            return self.load_sorted, self.ox_optimize_sorted
        return self.load, self.ox_optimize

    @property
    def ratio(self) -> float:
        """kg ingest quads/s divided by oxigraph load quads/s (its faster order)."""
        return self._fastest()[0].wall_seconds / self.ingest.wall_seconds

    @property
    def ratios_by_order(self) -> dict[str, float]:
        """The ratio against each order loaded."""
        found = {"store": self.load, "sorted": self.load_sorted}
        return {order: load.wall_seconds / self.ingest.wall_seconds
                for order, load in found.items() if load is not None}

    @property
    def compacted_ratio(self) -> float | None:
        """The same, each up to a compacted store (load + optimize)."""
        load, ox_optimize = self._fastest()
        if self.kg_optimize is None or ox_optimize is None:
            return None
        return ((load.wall_seconds + ox_optimize.wall_seconds)
                / (self.ingest.wall_seconds + self.kg_optimize.wall_seconds))


# --------------------------------------------------------------------------- tools


def kg_command(override: str | None) -> list[str]:
    """The project CLI: ``--kg-command``, else ``.venv/bin/kg``, else ``python -m kg.cli``."""
    if override:
        return shlex.split(override)
    script = Path(sys.executable).parent / "kg"
    if script.is_file():
        return [str(script)]
    try:
        found = importlib.util.find_spec("kg.cli") is not None
    except ImportError:
        found = False
    if not found:
        raise BenchmarkError(
            f"the kg CLI is not available: no {script} and 'kg.cli' is not importable from "
            f"{ROOT}. The benchmark needs 'kg ingest' and 'kg export'; install the project "
            "(pip install -e .) or pass --kg-command."
        )
    return [sys.executable, "-m", "kg.cli"]


def oxigraph_command() -> str:
    """The ``oxigraph`` binary of the virtual environment (pip package ``oxigraph``)."""
    beside = Path(sys.executable).parent / "oxigraph"
    found = str(beside) if beside.is_file() else shutil.which("oxigraph")
    if not found:
        raise BenchmarkError("the oxigraph CLI is not installed: pip install oxigraph==0.5.13")
    return found


def tool_version(command: Sequence[str]) -> str:
    """First line of ``command --version``, or "unknown"."""
    try:
        done = subprocess.run(
            [*command, "--version"], capture_output=True, text=True, timeout=30, check=False
        )
    except OSError:
        return "unknown"
    lines = (done.stdout or done.stderr).strip().splitlines()
    return lines[0] if done.returncode == 0 and lines else "unknown"


def kg_environment() -> dict[str, str]:
    """The environment for kg subprocesses: the project root importable."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return env


# --------------------------------------------------------------------------- corpus & dumps


def count_documents(corpus: Path) -> tuple[int, int]:
    """(files, bytes) under the corpus directory."""
    files = size = 0
    for path in corpus.rglob("*"):
        if path.is_file():
            files += 1
            size += path.stat().st_size
    return files, size


def find_dumps(exports: Path) -> list[Path]:
    """The ``*.nq.gz`` files the export wrote (searched recursively if none at the top)."""
    dumps = sorted(exports.glob("*.nq.gz")) or sorted(exports.rglob("*.nq.gz"))
    if not dumps:
        present = sorted(str(p.relative_to(exports)) for p in exports.rglob("*"))
        raise BenchmarkError(f"kg export wrote no *.nq.gz under {exports}; found {present}")
    return dumps


def gunzip_and_count(dumps: Iterable[Path], target: Path) -> int:
    """Concatenate the gunzipped dumps into ``target``; returns the number of quads."""
    quads = 0
    with target.open("wb") as out:
        for dump in dumps:
            with gzip.open(dump, "rb") as lines:
                for line in lines:
                    out.write(line if line.endswith(b"\n") else line + b"\n")
                    stripped = line.strip()
                    if stripped and not stripped.startswith(b"#"):
                        quads += 1
    return quads


# --------------------------------------------------------------------------- one run


_DUMP_STORE = (
    "import sys, pyoxigraph as ox\n"
    "store = ox.Store.read_only(sys.argv[1])\n"
    "with open(sys.argv[2], 'wb') as out:\n"
    "    store.dump(out, ox.RdfFormat.N_QUADS)\n"
)


def dump_store(store: Path, target: Path, log: Path) -> Measurement:
    """Every quad of the kg store as N-Quads, written by pyoxigraph (in a subprocess)."""
    return run_measured([sys.executable, "-c", _DUMP_STORE, store, target], log=log)


def count_lines(path: Path) -> int:
    """Lines of a file (one quad per line in an N-Quads dump)."""
    lines = 0
    with path.open("rb") as data:
        while chunk := data.read(1 << 24):
            lines += chunk.count(b"\n")
    return lines


def run_once(
    index: int, corpus: Path, workdir: Path, kg: list[str], oxigraph: str, as_of: str,
    nquads_from: str = "export",
) -> RunResult:
    """One repetition on fresh stores under ``workdir/run-<index>``."""
    run_dir = workdir / f"run-{index}"
    if run_dir.exists():
        shutil.rmtree(run_dir)
    run_dir.mkdir(parents=True)
    store_a, exports, store_b = run_dir / "store-kg", run_dir / "exports", run_dir / "store-ox"
    nquads = run_dir / "export.nq"
    env = kg_environment()
    ingest = run_measured(
        [*kg, "ingest", corpus, "--as-of", as_of, "--store", store_a],
        cwd=ROOT,
        env=env,
        log=run_dir / "kg-ingest.log",
    )
    kg_optimize = run_measured([*kg, "optimize", "--store", store_a], cwd=ROOT, env=env,
                               log=run_dir / "kg-optimize.log")
    if nquads_from in ("store", "store-sorted", "store-both"):
        export = dump_store(store_a, nquads, run_dir / "dump.log")
        if nquads_from == "store-sorted":  # the order of the published dump: code points
            sort_lines(nquads, run_dir)
        quads = count_lines(nquads)
    else:
        export = run_measured(
            [*kg, "export", "--store", store_a, "--out", exports],
            cwd=ROOT,
            env=env,
            log=run_dir / "kg-export.log",
        )
        quads = gunzip_and_count(find_dumps(exports), nquads)
    if quads == 0:
        raise BenchmarkError(f"the N-Quads from the kg store ({nquads_from}) hold no quads")
    load = run_measured(
        [oxigraph, "load", "--location", store_b, "--file", nquads],
        log=run_dir / "oxigraph-load.log",
    )
    ox_optimize = run_measured([oxigraph, "optimize", "--location", store_b],
                               log=run_dir / "oxigraph-optimize.log")
    result = RunResult(ingest, export, load, quads, kg_optimize, ox_optimize)
    if nquads_from != "store-both":
        return result
    shutil.rmtree(store_b)  # the disk a 100,000-profile run needs stays bounded
    sort_lines(nquads, run_dir)
    store_c = run_dir / "store-ox-sorted"
    load_sorted = run_measured(
        [oxigraph, "load", "--location", store_c, "--file", nquads],
        log=run_dir / "oxigraph-load-sorted.log",
    )
    ox_optimize_sorted = run_measured([oxigraph, "optimize", "--location", store_c],
                                      log=run_dir / "oxigraph-optimize-sorted.log")
    return dataclasses.replace(result, load_sorted=load_sorted,
                               ox_optimize_sorted=ox_optimize_sorted)


def sort_lines(path: Path, tmp: Path) -> None:
    """Sort a file's lines in code-point order in place (``LC_ALL=C sort``), as
    ``kg export`` orders its N-Quads dump."""
    env = {**os.environ, "LC_ALL": "C"}
    # sort reads all its input before it writes, so the output may replace the input
    # (a second copy of a 100,000-profile dump would need another 19 GB of disk)
    subprocess.run(["sort", "--buffer-size=2G", f"--temporary-directory={tmp}", "-o",
                    str(path), str(path)], env=env, check=True)


# --------------------------------------------------------------------------- report


def _row(measured: list[Measurement], documents: int, quads: int) -> dict[str, float]:
    """One row of the report: median wall time, its rates, median peak RSS."""
    wall = median(m.wall_seconds for m in measured)
    return {
        "wall_seconds": wall,
        "documents_per_second": documents / wall,
        "quads_per_second": quads / wall,
        "peak_rss_mb": median(m.peak_rss_bytes for m in measured) / MB,
    }


def summarise(runs: list[RunResult], documents: int) -> dict[str, object]:
    """Medians over the runs, the ratio and the target verdicts."""
    quads = int(median(r.quads for r in runs))
    kg_row = _row([r.ingest for r in runs], documents, quads)
    kg_rss = kg_row["peak_rss_mb"]
    ratio = median(r.ratio for r in runs)
    sorted_loads = [r.load_sorted for r in runs if r.load_sorted is not None]
    if len(sorted_loads) != len(runs):
        sorted_loads = []
    compacted = [r.compacted_ratio for r in runs if r.compacted_ratio is not None]
    optimize = {
        name: median(m.wall_seconds for m in found)
        for name, found in (("kg_optimize_seconds", [r.kg_optimize for r in runs
                                                      if r.kg_optimize is not None]),
                            ("oxigraph_optimize_seconds", [r.ox_optimize for r in runs
                                                            if r.ox_optimize is not None]))
        if found
    }
    return {
        **optimize,
        "ratio_up_to_compacted_store": median(compacted) if compacted else None,
        "documents": documents,
        "quads": quads,
        "kg_ingest": kg_row,
        "oxigraph_load": _row([r.load for r in runs], documents, quads),
        **({"oxigraph_load_sorted": _row(sorted_loads, documents, quads),
            "ratio_by_order": {order: median(r.ratios_by_order[order] for r in runs)
                               for order in ("store", "sorted")}} if sorted_loads else {}),
        "ratio_quads_per_second": ratio,
        "targets": {
            "ratio": {
                "target": f">= {TARGET_RATIO}",
                "value": ratio,
                "pass": ratio >= TARGET_RATIO,
            },
            "kg_peak_rss_mb": {
                "target": f"<= {TARGET_RSS_MB}",
                "value": kg_rss,
                "pass": kg_rss <= TARGET_RSS_MB,
            },
        },
    }


def _verdict(passed: object) -> str:
    """PASS or FAIL."""
    return "PASS" if passed else "FAIL"


def format_report(summary: dict[str, object], repeat: int) -> str:
    """The table printed at the end of the benchmark."""
    kg = summary["kg_ingest"]
    ox = summary["oxigraph_load"]
    targets = summary["targets"]
    assert isinstance(kg, dict) and isinstance(ox, dict) and isinstance(targets, dict)
    lines = [
        f"ingest benchmark: {summary['documents']:,} documents, {summary['quads']:,} quads, "
        f"median of {repeat} run(s)",
        "",
        f"{'':<16}{'wall s':>10}{'docs/s':>12}{'quads/s':>14}{'peak RSS MB':>14}",
    ]
    rows = [("kg ingest", kg), ("oxigraph load", ox)]
    sorted_load = summary.get("oxigraph_load_sorted")
    if isinstance(sorted_load, dict):
        rows = [("kg ingest", kg), ("oxigraph load, store order", ox),
                ("oxigraph load, sorted", sorted_load)]
    width = max(len(label) for label, _ in rows) + 2
    lines[-1] = " " * (width - 16) + lines[-1]
    for label, row in rows:
        lines.append(
            f"{label:<{width}}{row['wall_seconds']:>10.2f}{row['documents_per_second']:>12,.1f}"
            f"{row['quads_per_second']:>14,.0f}{row['peak_rss_mb']:>14,.1f}"
        )
    ratio, rss = targets["ratio"], targets["kg_peak_rss_mb"]
    if summary.get("ratio_up_to_compacted_store") is not None:
        lines += [
            "",
            f"then kg optimize {summary['kg_optimize_seconds']:.1f} s, oxigraph optimize "
            f"{summary['oxigraph_optimize_seconds']:.1f} s: up to a compacted store, "
            f"kg/oxigraph {summary['ratio_up_to_compacted_store']:.3f} (not a target)",
        ]
    lines += [
        "",
        f"kg/oxigraph quads/s (median)   {ratio['value']:>8.3f}   target {ratio['target']:<8}"
        f" {_verdict(ratio['pass'])}",
        f"kg ingest peak RSS MB          {rss['value']:>8.1f}   target {rss['target']:<8}"
        f" {_verdict(rss['pass'])}",
    ]
    by_order = summary.get("ratio_by_order")
    if isinstance(by_order, dict):
        lines.append("kg/oxigraph by order: " + ", ".join(
            f"{order} {value:.3f}" for order, value in by_order.items())
            + " (the target is taken against the faster load)")
    return "\n".join(lines)


def _git_commit() -> str:
    try:
        done = subprocess.run(
            ["git", "-C", str(ROOT), "describe", "--always", "--dirty"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except OSError:
        return "unknown"
    return done.stdout.strip() or "unknown"


def environment_facts(kg: list[str], oxigraph: str) -> dict[str, object]:
    """Where the numbers were measured."""
    return {
        "measured_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "git": _git_commit(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "memory_mb": psutil.virtual_memory().total / MB,
        "kg_command": kg,
        "oxigraph": oxigraph,
        "oxigraph_version": tool_version([oxigraph]),
    }


def write_report(path: Path, report: dict[str, object]) -> None:
    """Write the JSON report, creating its folder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2, default=str) + "\n", encoding="utf-8")


def _run_record(run: RunResult) -> dict[str, object]:
    return {
        "quads": run.quads,
        "ratio_quads_per_second": run.ratio,
        "ratio_by_order": run.ratios_by_order,
        "ratio_up_to_compacted_store": run.compacted_ratio,
        **{
            name: {**asdict(m), "peak_rss_mb": m.peak_rss_mb}
            for name, m in (
                ("kg_ingest", run.ingest),
                ("kg_optimize", run.kg_optimize),
                ("kg_export", run.export),
                ("oxigraph_load", run.load),
                ("oxigraph_optimize", run.ox_optimize),
                ("oxigraph_load_sorted", run.load_sorted),
                ("oxigraph_optimize_sorted", run.ox_optimize_sorted),
            )
            if m is not None
        },
    }


# --------------------------------------------------------------------------- main


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--profiles", type=int, help="generate a corpus of this many profiles")
    source.add_argument("--corpus", type=Path, help="reuse this corpus directory")
    parser.add_argument(
        "--workdir", type=Path, help="where corpus, stores and dumps go (default: a new temp dir)"
    )
    parser.add_argument(
        "--keep", action="store_true", help="keep the generated corpus, stores and dumps"
    )
    parser.add_argument("--repeat", type=int, default=3, help="repetitions (default 3)")
    parser.add_argument("--seed", type=int, default=1, help="corpus seed (default 1)")
    parser.add_argument("--as-of", default=AS_OF, help=f"ingest as-of date (default {AS_OF})")
    parser.add_argument(
        "--kg-command",
        help="command line that runs the kg CLI (default: .venv/bin/kg or 'python -m kg.cli')",
    )
    parser.add_argument(
        "--report", type=Path, help="JSON report path (default benchmarks/out/ingest-<N>.json)"
    )
    parser.add_argument(
        "--nquads-from", choices=("export", "store", "store-sorted", "store-both"),
        default="export",
        help="where the N-Quads for oxigraph load come from: the *.nq.gz of 'kg export' "
        "(default; checks the export too; lines in code-point order), a direct N-Quads "
        "dump of the kg store (the same quads, much faster on large corpora, in the "
        "store's index order), that dump sorted like the export (not measured), or "
        "both orders, each loaded into a fresh store (the ratio is against the faster)",
    )
    args = parser.parse_args(argv)
    if args.repeat < 1 or (args.profiles is not None and args.profiles < 1):
        parser.error("--repeat and --profiles must be at least 1")
    return args


def prepare_corpus(args: argparse.Namespace, workdir: Path) -> tuple[Path, dict[str, object]]:
    """The corpus to ingest: ``--corpus`` as given, or a freshly generated one."""
    if args.corpus is not None:
        if not args.corpus.is_dir():
            raise BenchmarkError(f"--corpus {args.corpus} is not a directory")
        return args.corpus.resolve(), {"generated": False}
    corpus = workdir / "corpus"
    if corpus.exists():
        raise BenchmarkError(f"{corpus} already exists; remove it or pass --corpus {corpus}")
    print(f"generating {args.profiles:,} profiles into {corpus} ...", flush=True)
    summary = generate_corpus.generate(
        args.profiles, corpus, seed=args.seed, as_of=dt.date.fromisoformat(args.as_of)
    )
    print(
        f"  {summary.documents:,} documents, {summary.bytes / 1e6:,.1f} MB in "
        f"{summary.seconds:.1f} s",
        flush=True,
    )
    return corpus, {"generated": True, "seed": args.seed, "generation_seconds": summary.seconds}


def benchmark(args: argparse.Namespace, workdir: Path, cleanup: list[Path]) -> int:
    """Generate or reuse the corpus, run the repetitions, print and write the report.

    Directories this run created and may remove afterwards are appended to ``cleanup``.
    """
    kg = kg_command(args.kg_command)
    oxigraph = oxigraph_command()
    if args.corpus is None:
        cleanup.append(workdir / "corpus")
    corpus, corpus_facts = prepare_corpus(args, workdir)
    documents, size = count_documents(corpus)
    if documents == 0:
        raise BenchmarkError(f"the corpus {corpus} holds no files")
    runs: list[RunResult] = []
    for index in range(1, args.repeat + 1):
        print(f"run {index}/{args.repeat} ...", flush=True)
        cleanup.append(workdir / f"run-{index}")
        run = run_once(index, corpus, workdir, kg, oxigraph, args.as_of, args.nquads_from)
        print(
            f"  kg ingest {run.ingest.wall_seconds:.2f} s, {run.ingest.peak_rss_mb:.0f} MB;"
            f" oxigraph load {run.load.wall_seconds:.2f} s, {run.load.peak_rss_mb:.0f} MB;"
            f" {run.quads:,} quads",
            flush=True,
        )
        runs.append(run)
        if not args.keep:
            shutil.rmtree(workdir / f"run-{index}")
    if len({run.quads for run in runs}) > 1:
        print(f"warning: the exports differ between runs: {[r.quads for r in runs]} quads")
    summary = summarise(runs, documents)
    print()
    print(format_report(summary, args.repeat))
    report_path = args.report or OUT_DIR / f"ingest-{args.profiles or documents}.json"
    write_report(
        report_path,
        {
            "benchmark": "ingest",
            "environment": environment_facts(kg, oxigraph),
            "corpus": {
                "path": str(corpus),
                "documents": documents,
                "bytes": size,
                "as_of": args.as_of,
                **corpus_facts,
            },
            "repeat": args.repeat,
            "summary": summary,
            "runs": [_run_record(run) for run in runs],
        },
    )
    print(f"\nreport written to {report_path}")
    targets = summary["targets"]
    assert isinstance(targets, dict)
    return 0 if all(t["pass"] for t in targets.values()) else 1


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point."""
    args = _parse_args(argv)
    temporary = args.workdir is None
    workdir = Path(tempfile.mkdtemp(prefix="kg-bench-ingest-")) if temporary else args.workdir
    workdir = workdir.resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    cleanup: list[Path] = []
    status = 2
    try:
        status = benchmark(args, workdir, cleanup)
    except (BenchmarkError, CommandFailed) as exc:
        print(f"bench_ingest: {exc}", file=sys.stderr)
    finally:
        if args.keep or (status == 2 and not temporary):
            print(f"kept {workdir}", file=sys.stderr)
        elif temporary:
            shutil.rmtree(workdir, ignore_errors=True)
        else:
            for path in cleanup:
                shutil.rmtree(path, ignore_errors=True)
    return status


if __name__ == "__main__":
    sys.exit(main())
