"""Export benchmark: ``kg export`` against ``oxigraph dump --format nq | gzip -6``.

One store is built with ``kg ingest`` from a generated corpus (``--profiles``, default
2,000; or ``--corpus``), then each repetition measures, on that same store and in turns
(kg first in odd repetitions, Oxigraph first in even ones, so that a change in the
machine's load hits both alike):

a) ``kg export --store STORE --out EXPORTS`` into a fresh folder: every graph as N-Quads,
   the default graph as N-Triples, Turtle and JSON-LD, VoID/DCAT and SHA256SUMS, all
   sorted and gzip'd;
b) ``oxigraph dump --location STORE --format nq | gzip -6 > dump.nq.gz`` (under ``bash -o
   pipefail``): every graph as N-Quads in the store's order, one file.

Wall time and peak RSS (of the whole process tree, both sides of the pipe for b) are
taken by ``measure.run_measured``. Target: kg's wall time at most Oxigraph's (ratio
<= 1.0, median of the per-repetition ratios). The first repetition checks that both
dumps hold the same number of quads. ``--optimize`` compacts the store first (``kg
optimize``); by default the store is measured as ``kg ingest`` leaves it. A JSON report
goes to ``benchmarks/out/export-<N>.json``.

Exit status: 0 when the target passes, 1 when it fails, 2 when the benchmark could not run.

Usage::

    python benchmarks/bench_export.py                       # 2,000 profiles, 3 repetitions
    python benchmarks/bench_export.py --profiles 100000 --repeat 1
    python benchmarks/bench_export.py --store STORE --repeat 5   # an existing store
"""

from __future__ import annotations

import argparse
import datetime as dt
import gzip
import shlex
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
for entry in (str(BENCH_DIR), str(ROOT)):
    if entry not in sys.path:
        sys.path.insert(0, entry)

from bench_ingest import (  # noqa: E402
    AS_OF,
    BenchmarkError,
    environment_facts,
    kg_command,
    kg_environment,
    oxigraph_command,
    prepare_corpus,
    write_report,
)
from measure import CommandFailed, Measurement, median, run_measured  # noqa: E402

OUT_DIR = BENCH_DIR / "out"
#: kg export wall time divided by the Oxigraph pipeline's must stay at or below this
TARGET_RATIO = 1.0


@dataclass(frozen=True, slots=True)
class Round:
    """One repetition: both commands on the same store."""

    kg: Measurement
    oxigraph: Measurement
    kg_first: bool

    @property
    def ratio(self) -> float:
        return self.kg.wall_seconds / self.oxigraph.wall_seconds


def count_gz_lines(path: Path) -> int:
    lines = 0
    with gzip.open(path, "rb") as f:
        while chunk := f.read(1 << 24):
            lines += chunk.count(b"\n")
    return lines


def run_round(index: int, store: Path, workdir: Path, kg: list[str], oxigraph: str,
              check: bool) -> Round:
    run_dir = workdir / f"round-{index}"
    run_dir.mkdir(parents=True)
    exports = run_dir / "exports"
    dump = run_dir / "oxigraph.nq.gz"
    pipeline = (f"{shlex.quote(oxigraph)} dump --location {shlex.quote(str(store))} "
                f"--format nq | gzip -6 > {shlex.quote(str(dump))}")

    def kg_export() -> Measurement:
        return run_measured([*kg, "export", "--store", store, "--out", exports, "--no-progress"],
                            env=kg_environment(), log=run_dir / "kg-export.log")

    def ox_dump() -> Measurement:
        return run_measured(["bash", "-o", "pipefail", "-c", pipeline],
                            log=run_dir / "oxigraph-dump.log")

    kg_first = index % 2 == 1
    if kg_first:
        kg_m, ox_m = kg_export(), ox_dump()
    else:
        ox_m, kg_m = ox_dump(), kg_export()
    if check:
        (ours,) = exports.glob("scholarkg-*.nq.gz")
        mine, theirs = count_gz_lines(ours), count_gz_lines(dump)
        if mine != theirs:
            raise BenchmarkError(f"kg export wrote {mine} quads, oxigraph dump {theirs}")
        print(f"  both dumps hold {mine:,} quads", flush=True)
    return Round(kg_m, ox_m, kg_first)


def summarise(rounds: list[Round]) -> dict[str, object]:
    ratio = median(r.ratio for r in rounds)
    return {
        "kg_export_seconds": median(r.kg.wall_seconds for r in rounds),
        "oxigraph_dump_gzip_seconds": median(r.oxigraph.wall_seconds for r in rounds),
        "kg_export_peak_rss_mb": max(r.kg.peak_rss_mb for r in rounds),
        "oxigraph_dump_gzip_peak_rss_mb": max(r.oxigraph.peak_rss_mb for r in rounds),
        "ratios": [round(r.ratio, 3) for r in rounds],
        "target": {"ratio": ratio, "limit": TARGET_RATIO, "pass": ratio <= TARGET_RATIO},
    }


def format_report(summary: dict[str, object], quads: int) -> str:
    target = summary["target"]
    assert isinstance(target, dict)
    rows = [
        f"{'':32} {'wall (median)':>14} {'peak RSS':>10}",
        f"{'kg export (4 files + VoID)':32} {summary['kg_export_seconds']:>12.1f} s "
        f"{summary['kg_export_peak_rss_mb']:>7.0f} MB",
        f"{'oxigraph dump nq | gzip -6':32} {summary['oxigraph_dump_gzip_seconds']:>12.1f} s "
        f"{summary['oxigraph_dump_gzip_peak_rss_mb']:>7.0f} MB",
        f"{quads:,} quads; kg/oxigraph wall time per round: {summary['ratios']}",
        f"kg/oxigraph (median) {target['ratio']:.3f}   target <= {TARGET_RATIO}   "
        + ("PASS" if target["pass"] else "FAIL"),
    ]
    return "\n".join(rows)


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--profiles", type=int, default=None,
                        help="generate a corpus of this many profiles (default 2000)")
    source.add_argument("--corpus", type=Path, help="reuse this corpus directory")
    source.add_argument("--store", type=Path, help="measure this existing store (no ingest)")
    parser.add_argument("--workdir", type=Path,
                        help="where corpus, store and dumps go (default: a new temp dir)")
    parser.add_argument("--keep", action="store_true", help="keep corpus, store and dumps")
    parser.add_argument("--repeat", type=int, default=3, help="repetitions (default 3)")
    parser.add_argument("--seed", type=int, default=1, help="corpus seed (default 1)")
    parser.add_argument("--as-of", default=AS_OF, help=f"ingest as-of date (default {AS_OF})")
    parser.add_argument("--optimize", action="store_true",
                        help="compact the store (kg optimize) before measuring")
    parser.add_argument("--kg-command", help="command line that runs the kg CLI")
    parser.add_argument("--report", type=Path,
                        help="JSON report path (default benchmarks/out/export-<N>.json)")
    args = parser.parse_args(argv)
    if args.profiles is None and args.corpus is None and args.store is None:
        args.profiles = 2000
    if args.repeat < 1 or (args.profiles is not None and args.profiles < 1):
        parser.error("--repeat and --profiles must be at least 1")
    return args


def benchmark(args: argparse.Namespace, workdir: Path) -> int:
    kg = kg_command(args.kg_command)
    oxigraph = oxigraph_command()
    facts: dict[str, object] = {}
    if args.store is not None:
        store = args.store.resolve()
        if not store.is_dir():
            raise BenchmarkError(f"--store {store} is not a directory")
    else:
        corpus, facts = prepare_corpus(args, workdir)
        store = workdir / "store"
        print(f"kg ingest into {store} ...", flush=True)
        ingest = run_measured([*kg, "ingest", corpus, "--as-of", args.as_of, "--store", store,
                               "--no-progress"], env=kg_environment(),
                              log=workdir / "kg-ingest.log")
        facts["ingest_seconds"] = ingest.wall_seconds
        print(f"  {ingest.wall_seconds:.1f} s", flush=True)
    if args.optimize:
        run_measured([*kg, "optimize", "--store", store], env=kg_environment(),
                     log=workdir / "kg-optimize.log")
    rounds = []
    for index in range(1, args.repeat + 1):
        print(f"round {index}/{args.repeat} ...", flush=True)
        found = run_round(index, store, workdir, kg, oxigraph, check=index == 1)
        print(f"  kg export {found.kg.wall_seconds:.1f} s, {found.kg.peak_rss_mb:.0f} MB; "
              f"oxigraph dump | gzip -6 {found.oxigraph.wall_seconds:.1f} s, "
              f"{found.oxigraph.peak_rss_mb:.0f} MB; ratio {found.ratio:.3f}", flush=True)
        if index == 1:
            (nq,) = (workdir / "round-1" / "exports").glob("scholarkg-*.nq.gz")
            quads = count_gz_lines(nq)
        rounds.append(found)
        if not args.keep:
            shutil.rmtree(workdir / f"round-{index}")
    summary = summarise(rounds)
    print()
    print(format_report(summary, quads))
    size = args.profiles or (args.store.name if args.store else "corpus")
    report_path = args.report or OUT_DIR / f"export-{size}.json"
    write_report(report_path, {
        "benchmark": "export",
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "environment": environment_facts(kg, oxigraph),
        "store": {"path": str(store), "quads": quads, "optimized": args.optimize, **facts},
        "repeat": args.repeat,
        "summary": summary,
        "rounds": [{"kg_first": r.kg_first, "ratio": r.ratio,
                    "kg_export": {"wall_seconds": r.kg.wall_seconds,
                                  "peak_rss_mb": r.kg.peak_rss_mb},
                    "oxigraph_dump_gzip": {"wall_seconds": r.oxigraph.wall_seconds,
                                           "peak_rss_mb": r.oxigraph.peak_rss_mb}}
                   for r in rounds],
    })
    print(f"\nreport written to {report_path}")
    target = summary["target"]
    assert isinstance(target, dict)
    return 0 if target["pass"] else 1


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse_args(argv)
    temporary = args.workdir is None
    workdir = (Path(tempfile.mkdtemp(prefix="kg-bench-export-")) if temporary
               else args.workdir).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    status = 2
    try:
        status = benchmark(args, workdir)
    except (BenchmarkError, CommandFailed, subprocess.SubprocessError) as exc:
        print(f"bench_export: {exc}", file=sys.stderr)
    finally:
        if args.keep or not temporary:
            print(f"kept {workdir}", file=sys.stderr)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    return status


if __name__ == "__main__":
    sys.exit(main())
