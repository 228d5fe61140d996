"""The cost of writing a big answer in each format, as the query executor writes it.

A CONSTRUCT of ``--triples`` triples (default 100,000, the default result cap) in
RDF/XML, N-Triples and Turtle, and a SELECT of as many rows in SPARQL XML, JSON and TSV,
each run through :func:`server.sparql.executor.execute` (evaluation, the check of what
the format can hold, serialisation into the spool) on an in-memory store. With
``--before DIR`` the same runs use the code of another checkout (``git archive REV |
tar -x -C DIR``) too, alternating round by round, and the ratios after/before are
printed: read those, measured in the same run, not absolute times (the machine may be
shared).

    .venv/bin/python benchmarks/bench_answer_formats.py --before /tmp/before --rounds 5
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
CASES = {
    "construct rdfxml": ("CONSTRUCT WHERE { ?s ?p ?o }", "rdfxml"),
    "construct ntriples": ("CONSTRUCT WHERE { ?s ?p ?o }", "ntriples"),
    "construct turtle": ("CONSTRUCT WHERE { ?s ?p ?o }", "turtle"),
    "select xml": ("SELECT ?s ?p ?o WHERE { ?s ?p ?o }", "xml"),
    "select json": ("SELECT ?s ?p ?o WHERE { ?s ?p ?o }", "json"),
    "select tsv": ("SELECT ?s ?p ?o WHERE { ?s ?p ?o }", "tsv"),
}


def synthetic_ntriples(count: int) -> str:
    """Papers with titles (language-tagged), years and authors: ordinary data."""
    base = "https://w3id.org/scholarkg/id/"
    lines = []
    for i in range(count):
        subject = f"<{base}paper/{i // 10}>"
        kind = i % 10
        if kind < 4:
            lines.append(f'{subject} <https://schema.org/name> "Paper {i}: graphs & <things>"@en .')
        elif kind < 7:
            lines.append(f'{subject} <http://purl.org/dc/terms/date> "{2000 + kind}"'
                         "^^<http://www.w3.org/2001/XMLSchema#gYear> .")
        else:
            lines.append(f"{subject} <https://schema.org/author> <{base}person/{i}> .")
    return "\n".join(lines) + "\n"


def measure(triples: int, repeat: int) -> dict[str, list[float]]:
    """Seconds per case, ``repeat`` runs each, with the code on ``sys.path``."""
    from kg.storage.store import KnowledgeStore
    from server.sparql.executor import execute

    store = KnowledgeStore.open(None)
    store.load_nquads(synthetic_ntriples(triples))
    times: dict[str, list[float]] = {}
    for name, (query, fmt) in CASES.items():
        kind = "rdf_format" if query.startswith("CONSTRUCT") else "results_format"
        job: dict[str, Any] = {"op": "query", "sparql": query, "results_format": None,
                               "rdf_format": None, kind: fmt, "cap": triples,
                               "not_acceptable": {}}
        for _ in range(repeat):
            started = time.perf_counter()
            size = sum(len(payload) for message, payload in execute(store, job)
                       if message == "data")
            times.setdefault(name, []).append(time.perf_counter() - started)
            assert size > triples, (name, size)
    return times


def check_cost(triples: int, repeat: int) -> tuple[float, float]:
    """Median CPU seconds to write the CONSTRUCT's triples (read once into a list) as
    RDF/XML straight into memory, and through the check of what RDF/XML can hold,
    alternating: the check's own cost, with little of the machine's noise."""
    import io

    import pyoxigraph as ox

    from kg.mapping.vocab import PREFIXES
    from kg.storage.store import KnowledgeStore, _RdfXmlGuard

    store = KnowledgeStore.open(None)
    store.load_nquads(synthetic_ntriples(triples))
    items = list(store.query("CONSTRUCT WHERE { ?s ?p ?o }").capped(0)[0]._raw)
    plain: list[float] = []
    checked: list[float] = []
    for _ in range(repeat):
        for sink, out in ((plain, io.BytesIO()), (checked, None)):
            target = out if out is not None else _RdfXmlGuard(io.BytesIO())
            started = time.process_time()
            ox.serialize(items, target, ox.RdfFormat.RDF_XML,  # type: ignore[arg-type]
                         prefixes=PREFIXES)
            sink.append(time.process_time() - started)
    return statistics.median(plain), statistics.median(checked)


def _child(code: Path, triples: int, repeat: int) -> dict[str, list[float]]:
    env = {**os.environ, "PYTHONPATH": str(code)}
    out = subprocess.run([sys.executable, __file__, "--child", "--triples", str(triples),
                          "--repeat", str(repeat)], cwd=code, env=env, check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out)  # type: ignore[no-any-return]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--triples", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds")
    parser.add_argument("--repeat", type=int, default=3, help="runs per case per round")
    parser.add_argument("--before", type=Path, help="a checkout of the code to compare with")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(args.triples, args.repeat)))
        return 0
    plain, checked = check_cost(args.triples, 5 * args.rounds)
    print(f"RDF/XML writing alone, CPU median of {5 * args.rounds}: {plain:.3f} s, with the "
          f"check {checked:.3f} s, ratio {checked / plain:.3f}")
    codes = {"after": ROOT} | ({"before": args.before.resolve()} if args.before else {})
    samples: dict[str, dict[str, list[float]]] = {label: {} for label in codes}
    for _ in range(args.rounds):
        for label, code in codes.items():
            for name, times in _child(code, args.triples, args.repeat).items():
                samples[label].setdefault(name, []).extend(times)
    print(f"{args.triples} triples/rows, {args.rounds} rounds x {args.repeat} runs; "
          "median seconds")
    for name in CASES:
        after = statistics.median(samples["after"][name])
        line = f"{name:20} after {after:.3f} (min {min(samples['after'][name]):.3f})"
        if "before" in samples:
            before = statistics.median(samples["before"][name])
            line += (f"  before {before:.3f} (min {min(samples['before'][name]):.3f})"
                     f"  ratio of medians {after / before:.3f}")
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
