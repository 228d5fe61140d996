"""Load test: ``--clients`` concurrent clients for ``--seconds`` of mixed requests against
``kg serve`` at its default settings, while one more client sends a query that can only
end by hitting the timeout every ``--runaway-every-s`` seconds.

The store is built from ``--profiles`` generated profiles (``kg ingest``), published as a
release (``kg release``, which computes the dataset page's figures into it) and served from
the release's ``current`` link, as ``scripts/serve-sample.sh`` and production serve it (``kg
export`` of the release for the dumps; all kept in ``--workdir`` for later runs). The server
runs with its defaults (2 workers x 8 threads, 2 query executors per worker, fair share of
60 s of query time per client per minute) and ``--query-timeout-s`` 5. Every client connects
from its own loopback address (127.0.0.2, 127.0.0.3, ...), so the server's fair share sees
separate clients, as it would on a network.

Request kinds of the mixed clients (weights in ``KINDS``):

- ``point``: one person's name and metrics by IRI (SELECT), over up to 3,000 persons;
- ``describe``: an entity's description as Turtle (its IRI, negotiated);
- ``page``: a person's or a paper's HTML page (several queries each);
- ``dataset``: the dataset page ``/dataset`` (counts, charts, top persons);
- ``aggregation``: GROUP BY queries over papers, categories, authors;
- ``dump``: a dump file (the small ones, and now and then a whole gzip'd dump).

The runaway client sends ``timeout`` queries that cannot finish: a cross join of the
default graph with itself (~2.6e11 solutions at 2,000 profiles), alternately sorted (the
engine holds its input: memory grows by several hundred MB per second until the executor
is killed) and counted (CPU only). They must be answered 503 "query took longer than
KG_QUERY_TIMEOUT_S", not before the deadline and at most 2 s after it, or (a sorted one
that reaches the executor's memory bound first) 503 "query used more than
KG_QUERY_MEMORY_MB", at most 2 s after the deadline too.

Strict classification: for the mixed kinds only a 200 with a complete, well-formed body is
expected (SPARQL JSON with rows, Turtle, an HTML page that ends, a dump of exactly the file's
size); anything else, a 503 "server busy", a 429 or a timeout included, is unexpected. For
``timeout`` anything but the timeout 503 within the deadline + 2 s (or the memory-bound
503 before that) is unexpected.

Reports, per kind, counts, statuses and latency percentiles (nearest rank, over every
answer of the kind); the time each runaway took to be stopped; requests per second; the
server process tree's RSS (gunicorn master, workers and executors) at rest, its peak
(sampled every 50 ms) against ``--rss-bound-mb`` when given, with the largest single
process and the web workers' share, and at rest again after the run; the CPU seconds
used by the server tree, by the load generator and by everything else on the (shared)
machine; and, after the run, whether the server is healthy, quiet (no query left running)
and has exactly its executors again. Writes ``benchmarks/out/load-test.json`` (``--out``);
exit status 0 when nothing unexpected happened and every after-run check passed.

Usage::

    python benchmarks/load_test.py --profiles 2000 --clients 8 --seconds 60 --workdir /tmp/kg-load
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
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
from types import TracebackType
from urllib.parse import quote

import psutil

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks import served_store  # noqa: E402
from benchmarks.measure import MB, percentile, tree_processes, tree_rss  # noqa: E402
from kg.storage.store import KnowledgeStore  # noqa: E402
from server.settings import Settings  # noqa: E402
from tests.server_fixtures import ServerProcess  # noqa: E402

OUT_DIR = BENCH_DIR / "out"
BASE = "https://w3id.org/scholarkg/id/"
PREFIXES = ("PREFIX schema: <https://schema.org/>\n"
            "PREFIX skg: <https://w3id.org/scholarkg/ns#>\n")
#: the mixed clients' request kinds and their weights
KINDS = {"point": 30, "describe": 15, "page": 15, "dataset": 5, "aggregation": 15, "dump": 15}
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
#: queries that cannot finish: the default graph joined with itself, sorted (memory grows
#: until the executor is killed) or counted (CPU only)
HOPELESS = {
    "sorted": "SELECT * WHERE { ?a ?b ?c . ?d ?e ?f } ORDER BY ?c ?f",
    "counted": "SELECT (COUNT(*) AS ?n) WHERE { ?a ?b ?c . ?d ?e ?f }",
}
TIMEOUT_MESSAGE = "took longer than KG_QUERY_TIMEOUT_S"
MEMORY_MESSAGE = "used more than KG_QUERY_MEMORY_MB"
#: longest a runaway may take to be answered past its deadline
STOP_MARGIN_S = 2.0
BUSY_MESSAGE = "server busy"
#: largest body kept to check it (SPARQL results, Turtle, pages); dumps are only counted
KEEP_BODY = 16 * MB


@dataclass
class Sample:
    kind: str
    status: int | None
    seconds: float
    bytes: int
    #: why the answer is unexpected ("" when it is what the kind must get)
    problem: str = ""
    #: start, in seconds since the load began
    at: float = 0.0
    variant: str = ""
    detail: str = ""


@dataclass
class Reply:
    status: int
    content_type: str
    size: int
    body: bytes  # the whole body when kept, else its first bytes


#: what the server logs when it must compute the dataset's figures (no release served)
STATS_COMPUTED = "no statistics published with"


def build(work: Path, profiles: int) -> tuple[Path, Path]:
    """The served release (built, published with its figures, exported) and the dumps."""
    store, exports, releases = work / "store", work / "exports", work / "releases"
    if not (store / "CURRENT").exists():
        corpus = served_store.write_corpus(work / "corpus", profiles, markup=False)
        served_store.build_store(store, [corpus])
    served = releases / "current"
    if not (served / "CURRENT").exists():
        served = served_store.release(store, releases)
    if not exports.is_dir():
        served_store.export(served, exports)
    return served, exports


class Client:
    def __init__(self, server: ServerProcess, entities: dict[str, list[str]],
                 dumps: dict[str, int], seed: int, timeout_s: float,
                 source: str | None = None) -> None:
        self.server = server
        #: the loopback address this client connects from (one fair-share client each)
        self.source = source
        self.entities = entities
        self.dumps = dumps
        self.small_dumps = [name for name, size in dumps.items() if size < 2 * MB]
        self.big_dumps = [name for name, size in dumps.items() if size >= 2 * MB]
        self.rng = random.Random(seed)
        self.timeout_s = timeout_s
        self.runaways = 0

    def request(self, method: str, path: str, *, body: bytes | None = None,
                headers: dict[str, str] | None = None, keep: bool = True) -> Reply:
        conn = http.client.HTTPConnection(
            "127.0.0.1", self.server.port, timeout=300,
            source_address=(self.source, 0) if self.source else None)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            resp = conn.getresponse()
            size, kept = 0, bytearray()
            while chunk := resp.read(256 * 1024):
                size += len(chunk)
                if len(kept) < (KEEP_BODY if keep else 400):
                    kept += chunk
            return Reply(resp.status, resp.getheader("Content-Type") or "", size, bytes(kept))
        finally:
            conn.close()

    def sparql(self, query: str, accept: str = "application/sparql-results+json") -> Reply:
        return self.request("POST", "/sparql", body=(PREFIXES + query).encode(),
                            headers={"Content-Type": "application/sparql-query",
                                     "Accept": accept})

    def one(self, kind: str) -> Sample:
        rng = self.rng
        variant = ""
        started = time.perf_counter()
        try:
            if kind == "point":
                person = rng.choice(self.entities["person"])
                reply = self.sparql(f"SELECT ?n ?h ?c WHERE {{ <{person}> schema:name ?n . "
                                    f"OPTIONAL {{ <{person}> skg:hIndex ?h }} OPTIONAL {{ "
                                    f"<{person}> skg:citationCount ?c }} }}")
            elif kind in ("describe", "page"):
                variant = rng.choice(("person", "paper"))
                iri = rng.choice(self.entities[variant])
                accept = "text/turtle" if kind == "describe" else "text/html"
                reply = self.request("GET", "/id/" + iri[len(BASE):],
                                     headers={"Accept": accept})
            elif kind == "dataset":
                reply = self.request("GET", "/dataset", headers={"Accept": "text/html"})
            elif kind == "aggregation":
                number = rng.randrange(len(AGGREGATIONS))
                variant = f"q{number + 1}"
                reply = self.sparql(AGGREGATIONS[number])
            elif kind == "dump":
                big = self.big_dumps and rng.random() < 0.2
                variant = rng.choice(self.big_dumps if big else self.small_dumps or self.big_dumps)
                reply = self.request("GET", "/dumps/" + quote(variant), keep=False)
            elif kind == "timeout":
                variant = ("sorted", "counted")[self.runaways % 2]
                self.runaways += 1
                reply = self.sparql(HOPELESS[variant])
            else:
                raise ValueError(kind)
        except (OSError, http.client.HTTPException) as exc:
            return Sample(kind, None, time.perf_counter() - started, 0,
                          f"no answer: {exc!r}", variant=variant)
        seconds = time.perf_counter() - started
        detail = "" if reply.status == 200 else reply.body[:400].decode("utf-8", "replace")
        return Sample(kind, reply.status, seconds, reply.size,
                      self.check(kind, variant, reply, seconds), variant=variant,
                      detail=detail)

    def check(self, kind: str, variant: str, reply: Reply, seconds: float) -> str:
        """What is wrong with the answer ("" when nothing)."""
        text = reply.body[:400].decode("utf-8", "replace")
        if kind == "timeout":
            memory = reply.status == 503 and MEMORY_MESSAGE in text
            if not memory and (reply.status != 503 or TIMEOUT_MESSAGE not in text):
                return f"expected the timeout 503, got {reply.status}: {text[:200]!r}"
            if seconds < self.timeout_s and not memory:
                return f"answered as timed out after {seconds:.2f} s, before the deadline"
            if seconds > self.timeout_s + STOP_MARGIN_S:
                return (f"stopped after {seconds:.2f} s, more than {STOP_MARGIN_S:g} s after "
                        f"the {self.timeout_s:g} s deadline")
            return ""
        if reply.status != 200:
            return f"{reply.status}: {text[:200]!r}"
        if kind == "dump":
            return "" if reply.size == self.dumps[variant] else (
                f"{reply.size} bytes of a {self.dumps[variant]}-byte dump")
        if kind in ("point", "aggregation"):
            try:
                rows = json.loads(reply.body)["results"]["bindings"]
            except (ValueError, KeyError, TypeError) as exc:
                return f"200 but not SPARQL JSON results: {exc!r}"
            return "" if rows else "200 with no rows"
        if kind == "describe":
            if not reply.content_type.startswith("text/turtle") or not reply.body.strip():
                return f"200 but {reply.content_type!r}, {reply.size} bytes"
            return ""
        if not reply.content_type.startswith("text/html") or \
                not reply.body.rstrip().endswith(b"</html>"):
            return f"200 but {reply.content_type!r} and no end of page ({reply.size} bytes)"
        return ""


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


def latency(values: list[float]) -> dict[str, float]:
    """Nearest-rank percentiles (benchmarks.measure.percentile), in ms."""
    if not values:
        return {}
    return {"p50_ms": round(percentile(values, 50) * 1000, 1),
            "p90_ms": round(percentile(values, 90) * 1000, 1),
            "p99_ms": round(percentile(values, 99) * 1000, 1),
            "max_ms": round(max(values) * 1000, 1),
            "mean_ms": round(statistics.fmean(values) * 1000, 1)}


def is_executor(process: psutil.Process) -> bool:
    try:
        return "multiprocessing.spawn" in " ".join(process.cmdline())
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return False


class ServerSampler:
    """Samples the server's process tree every ``interval`` seconds in a thread: total RSS
    (its peak), the largest single process, the web workers (gunicorn processes, without
    executors), and CPU seconds per process (processes killed between two samples lose
    their last fraction of a second)."""

    def __init__(self, pid: int, interval: float = 0.05) -> None:
        self.process = psutil.Process(pid)
        self.interval = interval
        self.peak = self.peak_single = self.peak_web = 0
        self.samples = 0
        self.timeline: list[tuple[float, int]] = []
        self._cpu_first: dict[int, float] = {}
        self._cpu_last: dict[int, float] = {}
        self._roles: dict[int, bool] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="server-sampler", daemon=True)
        self._t0 = time.perf_counter()

    def _run(self) -> None:
        while True:
            self.sample()
            if self._stop.wait(self.interval):
                return

    def sample(self) -> None:
        total = single = web = 0
        for member in tree_processes(self.process):
            try:
                rss = member.memory_info().rss
                times = member.cpu_times()
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                continue
            if member.pid not in self._roles:
                self._roles[member.pid] = is_executor(member)
            total += rss
            single = max(single, rss)
            if not self._roles[member.pid]:
                web += rss
            cpu = times.user + times.system
            self._cpu_first.setdefault(member.pid, 0.0 if self.samples else cpu)
            self._cpu_last[member.pid] = cpu
        self.samples += 1
        self.peak = max(self.peak, total)
        self.peak_single = max(self.peak_single, single)
        self.peak_web = max(self.peak_web, web)
        if self.samples % 20 == 1:
            self.timeline.append((round(time.perf_counter() - self._t0, 1), round(total / MB)))

    def cpu_seconds(self) -> float:
        """CPU used by the tree since the first sample (processes seen later from 0)."""
        return sum(self._cpu_last[pid] - self._cpu_first[pid] for pid in self._cpu_last)

    def __enter__(self) -> ServerSampler:
        self._thread.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self._stop.set()
        self._thread.join()
        self.sample()


def machine_busy_seconds() -> float:
    times = psutil.cpu_times()
    return float(sum(times) - times.idle - getattr(times, "iowait", 0.0))


def own_cpu_seconds() -> float:
    times = psutil.Process().cpu_times()
    return float(times.user + times.system)


def quiet_after(server: ServerProcess, wait_s: float = 3.0, window_s: float = 3.0,
                ) -> dict[str, object]:
    """Once the load has stopped: executors back to their number, CPU the tree uses over a
    quiet window (a runaway query left running would show as a whole core), RSS at rest."""
    time.sleep(wait_s)
    with ServerSampler(server.proc.pid, interval=0.1) as sampler:
        time.sleep(window_s)
    members = tree_processes(psutil.Process(server.proc.pid))
    executors = sum(is_executor(m) for m in members)
    return {"executors": executors, "cpu_seconds_in_window": round(sampler.cpu_seconds(), 2),
            "window_s": window_s, "rss_mb": round(tree_rss(psutil.Process(server.proc.pid)) / MB)}


def metric_sums(text: str) -> dict[str, float]:
    """Counters of a /metrics scrape summed over their labels (``kg_http_requests_total``
    over all endpoints and statuses, ...), and the requests by status.

    >>> metric_sums('kg_x_total{a="1"} 2.0\\nkg_x_total{a="2"} 3.0\\n# HELP kg_x_total x\\n')
    {'kg_x_total': 5.0}
    """
    sums: dict[str, float] = defaultdict(float)
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        name, _, value = line.rpartition(" ")
        base = name.split("{", 1)[0]
        if not base.endswith("_total"):
            continue
        sums[base] += float(value)
        if base == "kg_http_requests_total" and 'status="' in name:
            status = name.split('status="', 1)[1].split('"', 1)[0]
            sums[f"kg_http_requests_total[{status}]"] += float(value)
    return dict(sums)


def run(args: argparse.Namespace) -> dict[str, object]:
    work = Path(args.workdir or tempfile.mkdtemp(prefix="kg-load-"))
    work.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    store, exports = build(work, args.profiles)
    opened = KnowledgeStore.open(store, read_only=True)
    quads, triples = opened.count_quads(all_graphs=True), opened.count_quads(None)
    del opened
    dumps = {p.name: p.stat().st_size for p in sorted(exports.iterdir()) if p.is_file()}
    print(f"store: {quads} quads ({triples} in the default graph); {len(dumps)} dump files; "
          f"ready in {time.perf_counter() - started:.0f} s", flush=True)
    # kg serve's defaults, but for what was asked for on the command line
    settings: dict[str, object] = {"query_timeout_s": args.query_timeout_s,
                                   "exports_dir": str(exports)}
    for name in ("http_server", "workers", "threads", "query_workers", "client_query_budget_s"):
        if getattr(args, name) is not None:
            settings[name] = getattr(args, name)
    server = served_store.start_kg_serve(store, work / "logs", **settings)
    defaults = Settings()
    settings = {**{name: getattr(defaults, name) for name in (
        "workers", "threads", "query_workers", "client_query_budget_s",
        "client_query_window_s")}, **settings}
    samples: list[Sample] = []
    lock = threading.Lock()
    try:
        targets = entities(server)
        for _ in range(3):  # executors up and warm
            server.request("/healthz", timeout=60)
        time.sleep(2)
        rest = tree_rss(psutil.Process(server.proc.pid))
        executors_at_rest = sum(is_executor(m)
                                for m in tree_processes(psutil.Process(server.proc.pid)))

        def client(number: int, runaway: bool) -> None:
            c = Client(server, targets, dumps, seed=args.seed * 1000 + number,
                       timeout_s=args.query_timeout_s, source=f"127.0.0.{number + 2}")
            kinds, weights = zip(*KINDS.items(), strict=True)
            while time.monotonic() < deadline:
                kind = "timeout" if runaway else c.rng.choices(kinds, weights)[0]
                at = time.perf_counter() - load_started
                sample = c.one(kind)
                sample.at = round(at, 3)
                with lock:
                    samples.append(sample)
                if runaway:  # the next one every --runaway-every-s, start to start
                    pause = at + args.runaway_every_s - (time.perf_counter() - load_started)
                    if pause > 0 and time.monotonic() + pause < deadline:
                        time.sleep(pause)

        cpu_machine, cpu_own = machine_busy_seconds(), own_cpu_seconds()
        with ServerSampler(server.proc.pid) as sampler:
            load_started = time.perf_counter()
            deadline = time.monotonic() + args.seconds
            threads = [threading.Thread(target=client, args=(n, n >= args.clients))
                       for n in range(args.clients + args.runaway_clients)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(timeout=args.seconds + 600)
            wall = time.perf_counter() - load_started
        cpu_machine = machine_busy_seconds() - cpu_machine
        cpu_own = own_cpu_seconds() - cpu_own
        still_running = sum(t.is_alive() for t in threads)
        after = quiet_after(server)
        healthz = server.request("/healthz", timeout=60)
        scraped = metric_sums(server.request("/metrics", timeout=60).text)
        alive = server.proc.poll() is None
    finally:
        server.stop()
    alarms = served_store.log_alarms(server)
    by_kind: dict[str, dict[str, object]] = {}
    groups: dict[str, list[Sample]] = defaultdict(list)
    for sample in samples:
        groups[sample.kind].append(sample)
    for kind, group in sorted(groups.items()):
        by_kind[kind] = {"requests": len(group),
                         "statuses": dict(Counter(str(s.status) for s in group)),
                         "unexpected": sum(bool(s.problem) for s in group),
                         "mb": round(sum(s.bytes for s in group) / MB, 1),
                         **latency([s.seconds for s in group])}
        variants = Counter(s.variant for s in group if s.variant)
        if kind in ("aggregation", "timeout"):
            by_kind[kind]["variants"] = {
                v: {"requests": n, **latency([s.seconds for s in group if s.variant == v])}
                for v, n in sorted(variants.items())}
        if kind == "timeout":
            by_kind[kind]["answered_after_deadline_s"] = latency(
                [s.seconds - args.query_timeout_s for s in group if not s.problem])
    unexpected = [s for s in samples if s.problem]
    normal = [s for s in samples if s.kind != "timeout"]
    # the mixed clients stop at the deadline; a runaway query may end up to the timeout later
    mixed_wall = max((s.at + s.seconds for s in normal), default=wall)
    healthz_body = json.loads(healthz.body) if healthz.status == 200 else {}
    stops = [s.seconds for s in groups["timeout"]]
    checks = {
        "no_unexpected_answer": not unexpected,
        f"runaways stopped within the timeout + {STOP_MARGIN_S:g} s":
            bool(stops) and max(stops) <= args.query_timeout_s + STOP_MARGIN_S,
        "no_server_busy": not any(BUSY_MESSAGE in s.detail for s in samples),
        "no_client_left_waiting": still_running == 0,
        "healthz_after_200": healthz.status == 200,
        "server_alive_after": alive,
        "executors_back": after["executors"] == executors_at_rest,
        "quiet_after (< 0.5 CPU s in the window)":
            float(after["cpu_seconds_in_window"]) < 0.5,  # type: ignore[arg-type]
        "no_log_alarm": not alarms,
        # the release's own figures: /dataset ran no query (a plain store computes them)
        "dataset_figures_published": not served_store.log_lines(server, STATS_COMPUTED),
    }
    if args.rss_bound_mb:
        checks[f"peak server RSS <= {args.rss_bound_mb} MB"] = \
            sampler.peak / MB <= args.rss_bound_mb
    report: dict[str, object] = {
        "benchmark": "load_test",
        "date": time.strftime("%Y-%m-%d"),
        "machine": {"cpus": os.cpu_count(), "memory_mb": round(psutil.virtual_memory().total / MB),
                    "shared": "other benchmarks may run at the same time; see cpu_seconds"},
        "profiles": args.profiles, "quads": quads, "default_graph_triples": triples,
        "clients": args.clients, "runaway_clients": args.runaway_clients,
        "seconds": args.seconds, "wall_seconds": round(wall, 1), "settings": settings,
        "requests": len(samples),
        "mixed_wall_seconds": round(mixed_wall, 1),
        "requests_per_second": round(len(samples) / wall, 1),
        "mixed_requests_per_second": round(len(normal) / mixed_wall, 1),
        "timeout_share_percent": round(100 * len(groups["timeout"]) / max(1, len(samples)), 1),
        "unexpected": len(unexpected),
        "unexpected_examples": [s.__dict__ for s in unexpected[:20]],
        "checks": checks,
        "by_kind": by_kind,
        "mixed_latency": latency([s.seconds for s in normal]),
        # when each runaway was answered, and the slowest mixed requests: a slow request
        # that started just after a runaway was stopped waited for a new executor to start
        "timeouts": [{"at": s.at, "seconds": round(s.seconds, 2), "variant": s.variant,
                      "status": s.status} for s in groups["timeout"]],
        "slowest_mixed": [{"at": s.at, "seconds": round(s.seconds, 2), "kind": s.kind,
                           "variant": s.variant, "status": s.status}
                          for s in sorted(normal, key=lambda s: -s.seconds)[:15]],
        "runaway_stop_seconds": [round(x, 2) for x in stops],
        "metrics_after": scraped,
        "server_rss_mb": {"at_rest": round(rest / MB), "peak": round(sampler.peak / MB),
                          "bound": args.rss_bound_mb or None,
                          "peak_single_process": round(sampler.peak_single / MB),
                          "peak_web_workers": round(sampler.peak_web / MB),
                          "after": after["rss_mb"], "samples": sampler.samples,
                          "timeline_s_mb": sampler.timeline},
        "cpu_seconds": {"server_tree": round(sampler.cpu_seconds(), 1),
                        "load_generator": round(cpu_own, 1),
                        "machine_busy": round(cpu_machine, 1),
                        "other_processes": round(max(0.0, cpu_machine - cpu_own
                                                     - sampler.cpu_seconds()), 1),
                        "machine_capacity": round(wall * (os.cpu_count() or 1), 1)},
        "executors": {"at_rest": executors_at_rest, "after": after["executors"],
                      "restarts_seen_by_healthz_worker": healthz_body.get("restarts"),
                      "busy_after": healthz_body.get("busy")},
        "after": after,
        "healthz_after": healthz.status, "server_alive_after": alive,
        "log_alarms": alarms[:10],
        "workdir": str(work),
    }
    return report


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--profiles", type=int, default=2000)
    parser.add_argument("--clients", type=int, default=8, help="clients sending the mix")
    parser.add_argument("--runaway-clients", type=int, default=1,
                        help="clients sending queries that hit the timeout")
    parser.add_argument("--runaway-every-s", type=float, default=8,
                        help="a runaway client sends one every this many seconds (start to "
                        "start; back to back when a runaway takes longer)")
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--http-server", choices=("granian", "gunicorn"), default=None,
                        help="default: kg serve's (KG_HTTP_SERVER)")
    parser.add_argument("--workers", type=int, default=None,
                        help="default: kg serve's (KG_WORKERS)")
    parser.add_argument("--threads", type=int, default=None,
                        help="default: kg serve's (KG_THREADS)")
    parser.add_argument("--query-workers", type=int, default=None,
                        help="executors per WSGI worker (default: kg serve's)")
    parser.add_argument("--client-query-budget-s", type=float, default=None,
                        help="fair share (default: kg serve's)")
    parser.add_argument("--query-timeout-s", type=float, default=5)
    parser.add_argument("--rss-bound-mb", type=int, default=0,
                        help="check the peak RSS of the server tree against this bound")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workdir", type=Path, default=None,
                        help="keeps the store and dumps for later runs")
    parser.add_argument("--out", type=Path, default=OUT_DIR / "load-test.json")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    report = run(args)
    print(f"\n{report['requests']} requests in {report['wall_seconds']} s "
          f"({report['requests_per_second']}/s) from {args.clients} clients + "
          f"{args.runaway_clients} runaway; {report['unexpected']} unexpected")
    for kind, stats in report["by_kind"].items():  # type: ignore[attr-defined]
        print(f"  {kind:12s} {stats}")
    print("server RSS (MB):", {k: v for k, v in report["server_rss_mb"].items()  # type: ignore[attr-defined]
                                if k != "timeline_s_mb"})
    print("runaways stopped after (s):", report["runaway_stop_seconds"])
    print("CPU seconds:", report["cpu_seconds"], "| executors:", report["executors"])
    print("checks:", report["checks"])
    for example in report["unexpected_examples"]:  # type: ignore[attr-defined]
        print("  UNEXPECTED", example)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(f"report in {args.out}")
    return 0 if all(report["checks"].values()) else 1  # type: ignore[attr-defined]


if __name__ == "__main__":
    sys.exit(main())
