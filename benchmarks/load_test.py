"""Load test: ``--clients`` concurrent clients for ``--seconds`` of mixed requests against
``kg serve`` on a store of more than a million triples.

The store is built from ``--profiles`` generated profiles (``kg ingest``, ``kg export`` for
the dumps; kept in ``--workdir`` for later runs). The server runs with
``--query-timeout-s`` (2 s by default) so that the deliberately hopeless queries (a cross
join, sorted) hit the timeout. Request kinds:

- ``point``: one person's name and metrics by IRI (SELECT);
- ``describe``: an entity's description as Turtle (its IRI, negotiated);
- ``page``: a person's or a paper's HTML page (several queries each);
- ``aggregation``: GROUP BY queries over papers, categories, authors;
- ``dump``: a dump file (the small ones, and now and then a whole gzip'd dump);
- ``timeout``: a cross join sorted, which must be answered 503 naming KG_QUERY_TIMEOUT_S.

Asserts zero unexpected answers (anything but 200 for the first five kinds; anything but
a 503 with the timeout message for the last), and reports, per kind, counts and latency
percentiles, and the peak RSS of the whole server process tree (sampled every 50 ms).
Writes ``benchmarks/out/load-test.json``; exit status 0 when nothing unexpected happened.

Usage::

    python benchmarks/load_test.py --profiles 2000 --clients 8 --seconds 60 --workdir /tmp/kg-load
"""

from __future__ import annotations

import argparse
import http.client
import json
import random
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import psutil

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks import served_store  # noqa: E402
from benchmarks.measure import MB, PeakRssSampler, tree_rss  # noqa: E402
from kg.store import KnowledgeStore  # noqa: E402
from tests.server_fixtures import ServerProcess  # noqa: E402

OUT_DIR = BENCH_DIR / "out"
BASE = "https://w3id.org/scholarkg/id/"
PREFIXES = ("PREFIX schema: <https://schema.org/>\n"
            "PREFIX skg: <https://w3id.org/scholarkg/ns#>\n")
KINDS = {"point": 30, "describe": 15, "page": 15, "aggregation": 15, "dump": 15, "timeout": 4}
AGGREGATIONS = (
    "SELECT ?c (COUNT(?x) AS ?n) WHERE { ?x a schema:ScholarlyArticle ; schema:about ?c } "
    "GROUP BY ?c ORDER BY DESC(?n)",
    "SELECT ?year (COUNT(?x) AS ?n) WHERE { ?x schema:datePublished ?d BIND(YEAR(?d) AS ?year) }"
    " GROUP BY ?year ORDER BY ?year",
    "SELECT ?p (COUNT(?x) AS ?n) WHERE { ?x schema:author ?p } GROUP BY ?p ORDER BY DESC(?n) "
    "LIMIT 20",
    "SELECT (AVG(?h) AS ?mean) (MAX(?h) AS ?max) (COUNT(?p) AS ?persons) WHERE { "
    "?p skg:hIndex ?h }",
    "SELECT ?org (COUNT(DISTINCT ?x) AS ?n) WHERE { ?x schema:sourceOrganization ?org } "
    "GROUP BY ?org ORDER BY DESC(?n) LIMIT 10",
)
HOPELESS = "SELECT * WHERE { ?a ?b ?c . ?d ?e ?f } ORDER BY ?c ?f"


@dataclass
class Sample:
    kind: str
    status: int | None
    seconds: float
    bytes: int
    detail: str = ""


def build(work: Path, profiles: int) -> tuple[Path, Path]:
    store, exports = work / "store", work / "exports"
    if not (store / "CURRENT").exists():
        corpus = served_store.write_corpus(work / "corpus", profiles, markup=False)
        served_store.build_store(store, [corpus])
    if not exports.is_dir():
        served_store.export(store, exports)
    return store, exports


class Client:
    def __init__(self, server: ServerProcess, entities: dict[str, list[str]],
                 dumps: list[tuple[str, int]], seed: int) -> None:
        self.server = server
        self.entities = entities
        self.small_dumps = [name for name, size in dumps if size < 2 * MB]
        self.big_dumps = [name for name, size in dumps if size >= 2 * MB]
        self.rng = random.Random(seed)

    def request(self, method: str, path: str, *, body: bytes | None = None,
                headers: dict[str, str] | None = None) -> tuple[int, int, bytes]:
        conn = http.client.HTTPConnection("127.0.0.1", self.server.port, timeout=120)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            resp = conn.getresponse()
            size, first = 0, b""
            while chunk := resp.read(256 * 1024):
                if not first:
                    first = chunk[:400]
                size += len(chunk)
            return resp.status, size, first
        finally:
            conn.close()

    def sparql(self, query: str, accept: str = "application/sparql-results+json",
               ) -> tuple[int, int, bytes]:
        return self.request("POST", "/sparql", body=(PREFIXES + query).encode(),
                            headers={"Content-Type": "application/sparql-query",
                                     "Accept": accept})

    def one(self, kind: str) -> Sample:
        rng = self.rng
        started = time.perf_counter()
        try:
            if kind == "point":
                person = rng.choice(self.entities["person"])
                result = self.sparql(f"SELECT ?n ?h ?c WHERE {{ <{person}> schema:name ?n . "
                                     f"OPTIONAL {{ <{person}> skg:hIndex ?h }} OPTIONAL {{ "
                                     f"<{person}> skg:citationCount ?c }} }}")
            elif kind == "describe":
                iri = rng.choice(self.entities[rng.choice(("person", "paper"))])
                result = self.request("GET", "/id/" + iri[len(BASE):],
                                      headers={"Accept": "text/turtle"})
            elif kind == "page":
                iri = rng.choice(self.entities[rng.choice(("person", "paper"))])
                result = self.request("GET", "/id/" + iri[len(BASE):],
                                      headers={"Accept": "text/html"})
            elif kind == "aggregation":
                result = self.sparql(rng.choice(AGGREGATIONS))
            elif kind == "dump":
                big = self.big_dumps and rng.random() < 0.2
                name = rng.choice(self.big_dumps if big else self.small_dumps or self.big_dumps)
                result = self.request("GET", "/dumps/" + quote(name))
            else:
                result = self.sparql(HOPELESS)
        except (OSError, http.client.HTTPException) as exc:
            return Sample(kind, None, time.perf_counter() - started, 0, repr(exc))
        status, size, first = result
        return Sample(kind, status, time.perf_counter() - started, size,
                      first.decode("utf-8", "replace") if status != 200 else "")


def expected(sample: Sample) -> bool:
    if sample.kind == "timeout":
        return sample.status == 503 and "took longer than KG_QUERY_TIMEOUT_S" in sample.detail
    return sample.status == 200


def entities(server: ServerProcess) -> dict[str, list[str]]:
    out = {}
    for kind, cls in (("person", "Person"), ("paper", "ScholarlyArticle")):
        query = f"SELECT ?x WHERE {{ ?x a schema:{cls} }} LIMIT 3000"
        reply = server.request("/sparql?query=" + quote(PREFIXES + query),
                               headers={"Accept": "application/sparql-results+json"},
                               timeout=60)
        out[kind] = [b["x"]["value"] for b in json.loads(reply.body)["results"]["bindings"]
                     if b["x"]["value"].startswith(BASE)]
    return out


def percentiles(values: list[float]) -> dict[str, float]:
    if not values:
        return {}
    ordered = sorted(values)

    def at(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000, 1)

    return {"p50_ms": at(0.5), "p90_ms": at(0.9), "p99_ms": at(0.99),
            "max_ms": round(ordered[-1] * 1000, 1),
            "mean_ms": round(statistics.fmean(ordered) * 1000, 1)}


def run(args: argparse.Namespace) -> dict[str, object]:
    work = Path(args.workdir or tempfile.mkdtemp(prefix="kg-load-"))
    work.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    store, exports = build(work, args.profiles)
    opened = KnowledgeStore.open(store, read_only=True)
    quads, triples = opened.count_quads(all_graphs=True), opened.count_quads(None)
    del opened
    dumps = [(p.name, p.stat().st_size) for p in sorted(exports.iterdir()) if p.is_file()]
    print(f"store: {quads} quads ({triples} in the default graph); {len(dumps)} dump files; "
          f"ready in {time.perf_counter() - started:.0f} s", flush=True)
    settings = {"workers": args.workers, "threads": args.threads,
                "query_workers": args.query_workers, "query_timeout_s": args.query_timeout_s,
                "exports_dir": str(exports)}
    server = served_store.start_kg_serve(store, work / "logs", **settings)
    samples: list[Sample] = []
    lock = threading.Lock()
    try:
        targets = entities(server)
        for _ in range(3):  # executors up and warm
            server.request("/healthz", timeout=60)
        rest = tree_rss(psutil.Process(server.proc.pid))
        deadline = time.monotonic() + args.seconds

        def client(number: int) -> None:
            c = Client(server, targets, dumps, seed=args.seed * 1000 + number)
            kinds, weights = zip(*KINDS.items(), strict=True)
            while time.monotonic() < deadline:
                sample = c.one(c.rng.choices(kinds, weights)[0])
                with lock:
                    samples.append(sample)

        with PeakRssSampler(server.proc.pid) as sampler:
            threads = [threading.Thread(target=client, args=(n,)) for n in range(args.clients)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(timeout=args.seconds + 180)
        after = server.request("/healthz", timeout=60).status
        alive = server.proc.poll() is None
    finally:
        server.stop()
    alarms = served_store.log_alarms(server)
    by_kind: dict[str, dict[str, object]] = {}
    groups: dict[str, list[Sample]] = defaultdict(list)
    for sample in samples:
        groups[sample.kind].append(sample)
    for kind, group in sorted(groups.items()):
        ok = [s.seconds for s in group if expected(s)]
        by_kind[kind] = {"requests": len(group),
                         "statuses": dict(Counter(str(s.status) for s in group)),
                         "unexpected": sum(not expected(s) for s in group),
                         "mb": round(sum(s.bytes for s in group) / MB, 1),
                         **percentiles(ok)}
    unexpected = [s for s in samples if not expected(s)]
    report: dict[str, object] = {
        "benchmark": "load_test",
        "profiles": args.profiles, "quads": quads, "default_graph_triples": triples,
        "clients": args.clients, "seconds": args.seconds, "settings": settings,
        "requests": len(samples),
        "requests_per_second": round(len(samples) / args.seconds, 1),
        "unexpected": len(unexpected),
        "unexpected_examples": [s.__dict__ for s in unexpected[:10]],
        "by_kind": by_kind,
        "server_rss_mb": {"at_rest": round(rest / MB), "peak": round(sampler.peak_bytes / MB),
                          "samples": sampler.samples},
        "healthz_after": after, "server_alive_after": alive, "log_alarms": alarms[:10],
        "workdir": str(work),
    }
    return report


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--profiles", type=int, default=2000)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--query-workers", type=int, default=4)
    parser.add_argument("--query-timeout-s", type=float, default=2)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workdir", type=Path, default=None,
                        help="keeps the store and dumps for later runs")
    args = parser.parse_args(argv)
    report = run(args)
    print(f"\n{report['requests']} requests in {args.seconds:g} s "
          f"({report['requests_per_second']}/s) from {args.clients} clients; "
          f"{report['unexpected']} unexpected")
    for kind, stats in report["by_kind"].items():  # type: ignore[attr-defined]
        print(f"  {kind:12s} {stats}")
    print("server RSS (MB):", report["server_rss_mb"], "| /healthz after:",
          report["healthz_after"], "| log alarms:", len(report["log_alarms"]))  # type: ignore[arg-type]
    for example in report["unexpected_examples"]:  # type: ignore[attr-defined]
        print("  UNEXPECTED", example)
    OUT_DIR.mkdir(exist_ok=True)
    out = OUT_DIR / "load-test.json"
    out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(f"report in {out}")
    ok = not report["unexpected"] and report["healthz_after"] == 200 and not report["log_alarms"]
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
