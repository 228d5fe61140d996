"""Bulk load of a release: Virtuoso's bulk loader (``kg publish``) against ``oxigraph load``.

Both load the same ``scholarkg-<release>.nq.gz`` (what ``kg export`` writes) into an empty
database, ``--repeat`` times each, alternating; quads/s are the file's quads over the wall
time of the load (Virtuoso: ``RDF_GLOBAL_RESET``, ``ld_add``, ``rdf_loader_run``,
``checkpoint`` through isql; the count check that follows is timed apart). Each Virtuoso
run starts a fresh instance on loopback with a throwaway database (the tests' fixture).

    python benchmarks/bench_engine_load.py --nquads /tmp/out/scholarkg-2026-11-21.nq.gz --repeat 3

Prints medians and the ratio measured in the same run, writes benchmarks/out/engine_load.json.
Exit status 2 when an engine is missing.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.measure import median  # noqa: E402
from kg.storage.publish import VirtuosoSlot, count_quads_in_file, publish_virtuoso  # noqa: E402
from tests import engine_fixtures  # noqa: E402
from tests.engine_fixtures import ISQL, OXIGRAPH, VIRTUOSO, start_virtuosos  # noqa: E402


def oxigraph_load(nquads: Path, work: Path) -> float:
    location = work / "oxigraph"
    started = time.monotonic()
    subprocess.run([str(OXIGRAPH), "load", "--location", str(location), "--file", str(nquads)],
                   check=True, capture_output=True)
    seconds = time.monotonic() - started
    shutil.rmtree(location)
    return seconds


def virtuoso_load(nquads: Path, work: Path, buffers: int) -> tuple[float, float]:
    (instance,) = start_virtuosos(work, ["bench"], engine_timeout_s=600, buffers=buffers)
    try:
        slot = VirtuosoSlot("bench", **{k: v for k, v in instance.slot().items()
                                        if k in ("isql", "query_url", "load_dir")})
        started = time.monotonic()
        done = publish_virtuoso(nquads, {"bench": slot}, work / "current.json", isql=str(ISQL),
                                query_timeout_s=600)
        total = time.monotonic() - started
        return done.seconds, total - done.seconds
    finally:
        instance.process.stop()
        shutil.rmtree(work / "bench", ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--nquads", type=Path, required=True, help="scholarkg-<release>.nq.gz")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--buffers", type=int, default=100_000,
                        help="Virtuoso's NumberOfBuffers (8 KB pages): 100,000 (800 MB) is "
                             "its guide's size for 2 GB of memory, 680,000 for 8 GB")
    args = parser.parse_args()
    # the fixtures' watchdog ends an engine after LIFETIME_S (15 min, for tests): a large
    # release takes longer to load
    engine_fixtures.LIFETIME_S = 6 * 3600
    if VIRTUOSO is None or ISQL is None or not OXIGRAPH.is_file():
        print("needs virtuoso-t, isql-vt and the oxigraph CLI", file=sys.stderr)
        return 2
    quads = count_quads_in_file(args.nquads)
    runs: dict[str, list[float]] = {"oxigraph load": [], "virtuoso bulk load": [],
                                    "virtuoso count check": []}
    with tempfile.TemporaryDirectory(prefix="engine-load-") as tmp:
        for i in range(args.repeat):
            runs["oxigraph load"].append(oxigraph_load(args.nquads, Path(tmp)))
            load, check = virtuoso_load(args.nquads, Path(tmp) / f"v{i}", args.buffers)
            runs["virtuoso bulk load"].append(load)
            runs["virtuoso count check"].append(check)
    medians = {name: median(times) for name, times in runs.items()}
    print(f"{quads} quads, {args.repeat} runs each (shared machine: read the ratio)")
    for name, m in medians.items():
        rate = f"{quads / m:>12,.0f} quads/s" if name != "virtuoso count check" else ""
        print(f"{name:<22} median {m:7.2f} s {rate}")
    ratio = medians["virtuoso bulk load"] / medians["oxigraph load"]
    print(f"virtuoso / oxigraph load time: {ratio:.2f}x")
    out = ROOT / "benchmarks" / "out"
    out.mkdir(exist_ok=True)
    (out / "engine_load.json").write_text(json.dumps(
        {"quads": quads, "buffers": args.buffers, "runs": runs, "medians": medians,
         "ratio": ratio}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
