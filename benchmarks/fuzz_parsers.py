"""Fuzz the parsers and the ingest with generated and mutated profile documents.

1. Writes ``--documents`` cases (``benchmarks/hostile_documents.py``): valid pages of both
   layouts and JSON Lines records, mutated with random bytes, truncations, huge fields (up
   to a 5 MB line), invalid dates, bad UTF-8, NUL bytes, CR-only line ends, control
   characters, numbers too long to convert, URLs that are no IRIs, lone surrogates, deeply
   nested JSON, wrong types...
2. Reads, maps and writes every file as ``kg ingest`` does (in ``--jobs`` processes): the
   only acceptable outcomes are a valid document, written identically by the bulk loader
   and by a SPARQL update, or a ``DocumentError`` that names the file and a line (an empty
   document has no line to name). Anything else is a bug and is listed.
3. Runs ``kg ingest`` on the whole mix, and on a copy holding only the documents step 2
   accepted (JSON Lines files keep their line numbers: rejected records become blank
   lines), and checks that the two stores hold exactly the same quads: no rejected
   document leaves anything behind, and every valid one is there.

Prints counts, a histogram of rejection reasons, timings, and writes
``benchmarks/out/fuzz-parsers.json``. Exit status 0 when nothing is wrong, 1 otherwise.

Usage::

    python benchmarks/fuzz_parsers.py --documents 12000 --seed 1
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks import hostile_documents as hd  # noqa: E402
from kg.storage.store import KnowledgeStore  # noqa: E402

OUT_DIR = BENCH_DIR / "out"
KG = [sys.executable, "-m", "kg.cli"]
EPOCH = "1795262400"  # 2026-11-21T12:00:00Z, the ingest time of both stores


def _shard(root: Path, number: int) -> Path:
    folder = root / f"{number // 1000:03d}"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _check(args: tuple[str, str]) -> hd.Outcome:
    path, mutation = args
    return hd.check_file(Path(path), mutation=mutation)


def write_cases(count: int, seed: int, mixed: Path) -> list[tuple[str, str]]:
    bases = hd.base_documents(max(40, min(400, count // 25)), seed)
    cases = []
    for number in range(count):
        case = hd.make_case(number, bases, seed)
        path = _shard(mixed, number) / case.name
        path.write_bytes(case.data)
        cases.append((str(path), case.mutation))
    return cases


def write_valid_copy(outcomes: list[hd.Outcome], paths: list[str], mixed: Path,
                     valid: Path) -> int:
    """Copy what was accepted; JSON Lines files keep line numbers (rejected lines blank)."""
    documents = 0
    for outcome, path_text in zip(outcomes, paths, strict=True):
        path = Path(path_text)
        if not outcome.accepted:
            continue
        target = valid / path.relative_to(mixed)
        target.parent.mkdir(parents=True, exist_ok=True)
        documents += len(outcome.accepted)
        if path.suffix == ".jsonl":
            keep = set(outcome.accepted)
            lines = path.read_bytes().split(b"\n")
            target.write_bytes(b"\n".join(line if number in keep else b""
                                          for number, line in enumerate(lines, start=1)))
        else:
            shutil.copyfile(path, target)
    return documents


def kg_ingest(folder: Path, store: Path, jobs: int) -> tuple[int, str, float]:
    env = {**os.environ, "SOURCE_DATE_EPOCH": EPOCH, "PYTHONPATH": str(ROOT)}
    started = time.perf_counter()
    proc = subprocess.run([*KG, "ingest", str(folder), "--store", str(store), "--as-of",
                           hd.AS_OF.isoformat(), "--jobs", str(jobs), "--no-progress"],
                          cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    return proc.returncode, proc.stderr, time.perf_counter() - started


def store_contents(path: Path) -> tuple[list[str], int]:
    """A store's quads (sorted N-Quads lines) and how many document graphs it has."""
    store = KnowledgeStore.open(path, read_only=True)
    try:
        graphs = sum(1 for g in store.named_graphs() if "/document/" in g)
        return sorted(store.quad_lines(all_graphs=True)), graphs
    finally:
        del store


def run(args: argparse.Namespace) -> dict[str, object]:
    work = Path(args.workdir or tempfile.mkdtemp(prefix="kg-fuzz-parsers-"))
    mixed, valid = work / "mixed", work / "valid"
    timings: dict[str, float] = {}
    started = time.perf_counter()
    cases = write_cases(args.documents, args.seed, mixed)
    timings["generate_s"] = time.perf_counter() - started
    total_bytes = sum(Path(p).stat().st_size for p, _ in cases)
    print(f"wrote {len(cases)} files, {total_bytes / hd.MB:.0f} MB, to {mixed} "
          f"in {timings['generate_s']:.1f} s", flush=True)

    started = time.perf_counter()
    with multiprocessing.get_context("forkserver").Pool(args.jobs) as pool:
        outcomes = pool.map(_check, cases, chunksize=8)
    timings["check_s"] = time.perf_counter() - started
    problems = [(o.name, o.mutation, p) for o in outcomes for p in o.problems]
    accepted = sum(len(o.accepted) for o in outcomes)
    rejected = sum(len(o.rejections) for o in outcomes)
    reasons = Counter(hd.reason_kind(r) for o in outcomes for _, r in o.rejections)
    mutations = Counter(o.mutation.split(":")[0].split("+")[0] for o in outcomes)
    per_mb = max(((o.seconds / max(o.size / hd.MB, 0.05), o.name, o.size)
                  for o in outcomes), default=(0.0, "", 0))
    slowest = max(outcomes, key=lambda o: o.seconds)
    largest = max(outcomes, key=lambda o: o.size)
    print(f"checked {len(outcomes)} files in {timings['check_s']:.1f} s: {accepted} documents "
          f"accepted, {rejected} rejected, {len(problems)} problems", flush=True)

    valid_documents = write_valid_copy(outcomes, [p for p, _ in cases], mixed, valid)
    store_mixed, store_valid = work / "store-mixed", work / "store-valid"
    code_mixed, err_mixed, timings["ingest_mixed_s"] = kg_ingest(mixed, store_mixed, args.jobs)
    code_valid, err_valid, timings["ingest_valid_s"] = kg_ingest(valid, store_valid, args.jobs)
    cli_rejections = sum(1 for line in err_mixed.splitlines() if line.startswith("rejected: "))
    if code_mixed not in (0, 1) or "Traceback" in err_mixed:
        problems.append(("kg ingest (mixed)", "", f"exit {code_mixed}:\n{err_mixed[-3000:]}"))
    if code_valid != 0 or "Traceback" in err_valid:
        problems.append(("kg ingest (valid)", "", f"exit {code_valid}:\n{err_valid[-3000:]}"))
    if cli_rejections != rejected:
        problems.append(("kg ingest (mixed)", "", f"reported {cli_rejections} rejections, "
                         f"the check found {rejected}"))
    started = time.perf_counter()
    lines_mixed, _ = store_contents(store_mixed)
    lines_valid, graphs = store_contents(store_valid)
    timings["compare_s"] = time.perf_counter() - started
    only_mixed = sorted(set(lines_mixed) - set(lines_valid))
    only_valid = sorted(set(lines_valid) - set(lines_mixed))
    same = not only_mixed and not only_valid
    if not same:
        problems.append(("stores", "", f"{len(only_mixed)} quads only in the mixed store, e.g. "
                         f"{only_mixed[:3]}; {len(only_valid)} only in the valid one, e.g. "
                         f"{only_valid[:3]}"))

    documents = sum(1 if Path(p).suffix == ".txt" else max(1, len(o.accepted) + len(o.rejections))
                    for (p, _), o in zip(cases, outcomes, strict=True))
    report: dict[str, object] = {
        "benchmark": "fuzz_parsers",
        "seed": args.seed,
        "files": len(cases),
        "documents": documents,
        "bytes": total_bytes,
        "largest_file": {"name": largest.name, "bytes": largest.size},
        "accepted": accepted,
        "rejected": rejected,
        "problems": len(problems),
        "problem_list": [{"file": f, "mutation": m, "problem": p[-2000:]}
                         for f, m, p in problems[:50]],
        "rejection_reasons": dict(reasons.most_common()),
        "cases_by_mutation": dict(sorted(mutations.items())),
        "slowest_file": {"name": slowest.name, "bytes": slowest.size,
                         "seconds": round(slowest.seconds, 3)},
        "worst_seconds_per_mb": {"name": per_mb[1], "bytes": per_mb[2],
                                 "seconds_per_mb": round(per_mb[0], 3)},
        "store": {"valid_documents": valid_documents, "document_graphs": graphs,
                  "quads_mixed": len(lines_mixed), "quads_valid_only": len(lines_valid),
                  "identical": same, "cli_rejections": cli_rejections},
        "timings_s": {k: round(v, 1) for k, v in timings.items()},
        "workdir": str(work),
    }
    if not args.keep and not args.workdir:
        shutil.rmtree(work, ignore_errors=True)
    return report


def print_report(report: dict[str, object]) -> None:
    print()
    print(f"files {report['files']}, documents {report['documents']} "
          f"({int(report['bytes']) / hd.MB:.0f} MB; largest "  # type: ignore[call-overload]
          f"{report['largest_file']})")
    print(f"accepted {report['accepted']}, rejected {report['rejected']}, "
          f"problems {report['problems']}")
    for item in report["problem_list"]:  # type: ignore[attr-defined]
        print(f"  PROBLEM {item['file']} [{item['mutation']}]\n{item['problem']}")
    print("rejection reasons:")
    for reason, count in list(report["rejection_reasons"].items())[:45]:  # type: ignore[attr-defined]
        print(f"  {count:6d}  {reason}")
    print("cases by mutation:", report["cases_by_mutation"])
    print("slowest file:", report["slowest_file"])
    print("worst seconds per MB:", report["worst_seconds_per_mb"])
    print("store check:", report["store"])
    print("timings (s):", report["timings_s"])


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--documents", type=int, default=12_000,
                        help="files to generate (JSON Lines files hold 1-4 records)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--workdir", type=Path, default=None,
                        help="keep everything here (default: a temporary folder, removed)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    report = run(args)
    report["total_s"] = round(time.perf_counter() - started, 1)
    print_report(report)
    OUT_DIR.mkdir(exist_ok=True)
    out = OUT_DIR / "fuzz-parsers.json"
    out.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"total {report['total_s']} s; report in {out}")
    return 0 if not report["problems"] else 1


if __name__ == "__main__":
    sys.exit(main())
