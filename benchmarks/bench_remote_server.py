"""Server benchmark over a remote engine: one ``kg serve`` front over Virtuoso against the
embedded default, on the same data and in the same run.

One run builds (or reuses) a store and its ``kg export`` folder as ``bench_server.py``
does (``--profiles N``, or ``--store S --exports E``), publishes the release's N-Quads
(``scholarkg-<release>.nq.gz``) into a fresh Virtuoso 7 on loopback with ``kg publish``'s
bulk load (the tests' instance, ``tests/engine_fixtures.py``: 8 HTTP threads, 2 threads
per query, ``--virtuoso-buffers`` pages of 8 kB, ``MaxQueryExecutionTime`` of
``--engine-timeout`` seconds), then measures, in ``--repeat`` rounds that alternate which
goes first:

1. **embedded**: ``kg serve --store S --exports-dir E``;
2. **remote**: ``kg serve --engine-release current.json --exports-dir E`` (the pointer
   ``kg publish`` wrote), its executors querying Virtuoso;

both with default settings and the result cache off (``KG_RESULT_CACHE_MB=0``), so that
every query is evaluated. Both fronts are up in a round; one is loaded at a time (the
other idles). Before each round's loads the answers of every point query for
``--check-persons`` persons are read from both fronts and compared row by row, as RDF
terms; a difference stops the benchmark (status 1) before anything is measured.

The load is ``bench_server.py``'s (imported, not copied): the point-query mix
(``POINT_TEMPLATES``) over ``--persons`` random profile owners, ``--clients`` keep-alive
connections in ``--client-processes`` processes, ``--warmup`` seconds unmeasured, then
``--duration`` seconds. Per front and round: requests/s, p50/p99 latency, errors, the
CPU of the ``kg serve`` process tree per request (the front) and the CPU of the Virtuoso
process per request (taken around the measured load: it includes the load processes'
start-up, when Virtuoso idles). The ratios remote/embedded are computed within each
round (median and worst round), and the front's CPU per request is turned into what
operators size fronts with: requests/s per core of front CPU, and the engine cores one
front core keeps busy.

No throughput target: the only checks are 0 errors on both fronts and equal answers.
Exit status: 0 when both hold, 1 when one fails, 2 when the benchmark could not run
(Virtuoso, ``isql`` or the kg CLI missing, a failed build or publish). A JSON report goes
to ``benchmarks/out/remote-server-<N>.json`` (N: profile owners). Every server, the
engine and the load processes are stopped at the end, on errors and on SIGTERM too.

Usage::

    python benchmarks/bench_remote_server.py                        # 2000 profiles, 3 rounds
    python benchmarks/bench_remote_server.py --profiles 300 --duration 3 --repeat 1
    python benchmarks/bench_remote_server.py --store STORE --exports EXPORTS

>>> requests_per_core(0.5), requests_per_core(None)
(2000.0, nan)
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import psutil

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
for entry in (str(BENCH_DIR), str(ROOT)):
    if entry not in sys.path:
        sys.path.insert(0, entry)

import bench_server  # noqa: E402
from bench_ingest import (  # noqa: E402
    BenchmarkError,
    environment_facts,
    kg_command,
    kg_environment,
    write_report,
)
from bench_server import (  # noqa: E402
    HOST,
    JSON_RESULTS,
    POINT_TEMPLATES,
    Dataset,
    ServerProcess,
    Tools,
    build_dataset,
    free_port,
    http_get,
    point_query,
    point_requests,
    run_load,
    scholarkg_server,
    stop_all_servers,
)
from measure import MB, CommandFailed, cpu_delta, median, tree_cpu_seconds, tree_rss  # noqa: E402

from kg.storage.publish import Published, PublishError, VirtuosoSlot, publish_virtuoso  # noqa: E402
from tests import engine_fixtures  # noqa: E402

OUT_DIR = BENCH_DIR / "out"
EMBEDDED = "embedded"
REMOTE = "remote (Virtuoso)"
MODES = (EMBEDDED, REMOTE)
XSD_STRING = "http://www.w3.org/2001/XMLSchema#string"
RDF_LANG_STRING = "http://www.w3.org/1999/02/22-rdf-syntax-ns#langString"

#: a point query's rows: each row a sorted tuple of (variable, term), terms as tuples
Rows = list[tuple[tuple[str, tuple[str, str, str, str]], ...]]


# --------------------------------------------------------------------------- answers


def term_key(term: Mapping[str, str]) -> tuple[str, str, str, str]:
    """A SPARQL JSON term as an RDF term: (kind, value, datatype, language). A plain
    literal is an ``xsd:string``, Virtuoso's ``typed-literal`` a literal, a blank node
    label is not compared (labels are local to an answer).

    >>> term_key({"type": "literal", "value": "x"})
    ('literal', 'x', 'http://www.w3.org/2001/XMLSchema#string', '')
    >>> term_key({"type": "typed-literal", "value": "x",
    ...           "datatype": "http://www.w3.org/2001/XMLSchema#string"})
    ('literal', 'x', 'http://www.w3.org/2001/XMLSchema#string', '')
    >>> term_key({"type": "literal", "value": "x", "xml:lang": "EN"})[2:]
    ('http://www.w3.org/1999/02/22-rdf-syntax-ns#langString', 'en')
    >>> term_key({"type": "bnode", "value": "b7"})
    ('bnode', '', '', '')
    """
    kind = term.get("type", "")
    if kind == "bnode":
        return ("bnode", "", "", "")
    if kind in ("literal", "typed-literal"):
        lang = term.get("xml:lang", "").lower()
        datatype = term.get("datatype") or (RDF_LANG_STRING if lang else XSD_STRING)
        return ("literal", term.get("value", ""), datatype, lang)
    return (kind, term.get("value", ""), "", "")


def answer_rows(body: bytes) -> Rows:
    """The rows of a SPARQL JSON answer, in a canonical order (a row is a multiset member).

    >>> answer = {"head": {"vars": ["a"]}, "results": {"bindings": [
    ...     {"a": {"type": "uri", "value": "http://ex.org/2"}},
    ...     {"a": {"type": "uri", "value": "http://ex.org/1"}}, {}]}}
    >>> [row[0][1][1] if row else None for row in answer_rows(json.dumps(answer).encode())]
    [None, 'http://ex.org/1', 'http://ex.org/2']
    """
    bindings = json.loads(body)["results"]["bindings"]
    return sorted(tuple(sorted((var, term_key(term)) for var, term in b.items()))
                  for b in bindings)


def answer_differences(reference: Mapping[str, Rows], other: Mapping[str, Rows],
                       limit: int = 5) -> list[str]:
    """What ``other`` answered differently, query by query (at most ``limit`` lines).

    >>> row = (("a", ("uri", "http://ex.org/1", "", "")),)
    >>> answer_differences({"q": [row]}, {"q": [row]})
    []
    >>> print(*answer_differences({"q": [row, row]}, {"q": [row]}))
    q: 2 rows against 1; missing (('a', ('uri', 'http://ex.org/1', '', '')),)
    """
    lines = []
    for key, rows in reference.items():
        theirs = other.get(key)
        if theirs == rows:
            continue
        if theirs is None:
            lines.append(f"{key}: no answer")
            continue
        missing = list(rows)
        for row in theirs:
            if row in missing:
                missing.remove(row)
        extra = list(theirs)
        for row in rows:
            if row in extra:
                extra.remove(row)
        detail = f"missing {missing[0]}" if missing else f"extra {extra[0]}"
        lines.append(f"{key}: {len(rows)} rows against {len(theirs)}; {detail}")
    return lines[:limit] + ([f"... and {len(lines) - limit} more"] if len(lines) > limit
                            else [])


def fetch_answers(server: ServerProcess, persons: Sequence[str], timeout: float,
                  ) -> dict[str, Rows]:
    """The rows of every distinct point query for ``persons``; a refused, capped or
    compressed answer stops the benchmark."""
    answers: dict[str, Rows] = {}
    for person in persons:
        for name, template in dict(POINT_TEMPLATES).items():
            status, headers, body = http_get(
                server.port, server.target(point_query(template, person)), JSON_RESULTS,
                timeout=timeout)
            if status != 200:
                raise BenchmarkError(f"{server.name} answered {status} to a point query: "
                                     f"{body[:300]!r}")
            if "kg-result-capped" in headers:
                raise BenchmarkError(f"{server.name} capped a point query result")
            if "gzip" in headers.get("content-encoding", ""):
                raise BenchmarkError(f"{server.name} compressed a response it was told not to")
            answers[f"{name} {person}"] = answer_rows(body)
    return answers


class AnswersDiffer(Exception):
    """The remote front answered a point query differently from the embedded one."""

    def __init__(self, differences: list[str]) -> None:
        self.differences = differences
        super().__init__("the remote front answers differently from the embedded one:\n  "
                         + "\n  ".join(differences))


# --------------------------------------------------------------------------- the engine


def start_engine(args: argparse.Namespace, root: Path) -> engine_fixtures.Virtuoso:
    """A fresh Virtuoso on loopback (the tests' configuration), ready."""
    # the fixture's watchdog ends the engine after LIFETIME_S even if we die: give it
    # room for the publish and every round, not the tests' 15 minutes
    per_round = 2 * (args.warmup + args.duration + 2 * args.timeout + 180)
    engine_fixtures.LIFETIME_S = int(args.publish_timeout + args.repeat * per_round + 900)
    (instance,) = engine_fixtures.start_virtuosos(
        root, ["engine"], engine_timeout_s=args.engine_timeout,
        buffers=args.virtuoso_buffers)
    return instance


def publish(instance: engine_fixtures.Virtuoso, data: Dataset, pointer: Path,
            args: argparse.Namespace) -> Published:
    """``kg publish``'s bulk load of the release into the engine (read-only slot: no
    update or store URL), then the pointer ``current.json``."""
    spec = instance.slot()
    slot = VirtuosoSlot("engine", isql=spec["isql"], query_url=spec["query_url"],
                        load_dir=spec["load_dir"])
    assert engine_fixtures.ISQL is not None
    try:
        return publish_virtuoso(data.nquads_dump, {"engine": slot}, pointer,
                                isql=engine_fixtures.ISQL, timeout_s=args.publish_timeout,
                                query_timeout_s=args.engine_timeout + 10)
    except PublishError as exc:
        raise BenchmarkError(f"kg publish failed: {exc}\nend of the engine's log:\n"
                             f"{instance.process.log()[-2000:]}") from exc


def virtuoso_version(virtuoso: str) -> str:
    """The ``Version ...`` line of ``virtuoso-t +help``, or "unknown"."""
    try:
        done = subprocess.run([virtuoso, "+help"], capture_output=True, text=True, timeout=30,
                              check=False)
    except OSError:
        return "unknown"
    found = [line for line in (done.stdout + done.stderr).splitlines()
             if line.startswith("Version")]
    return found[0] if found else "unknown"


def engine_process(instance: engine_fixtures.Virtuoso) -> psutil.Process:
    """The engine's process (under its watchdog: the tree is the watchdog and
    ``virtuoso-t``)."""
    return psutil.Process(instance.process.proc.pid)


# --------------------------------------------------------------------------- fronts


def remote_front(tools: Tools, data: Dataset, logs: Path, pointer: Path) -> ServerProcess:
    """``kg serve --engine-release`` with default settings and the result cache off."""
    port = free_port()
    env = kg_environment()
    env["KG_RESULT_CACHE_MB"] = "0"
    return ServerProcess(
        REMOTE,
        [*tools.kg, "serve", "--engine-release", str(pointer), "--exports-dir",
         str(data.exports), "--host", HOST, "--port", str(port)],
        port=port, ready_target="/healthz", query_path="/sparql",
        log=logs / "scholarkg-remote.log", cwd=ROOT, env=env)


def embedded_front(tools: Tools, data: Dataset, logs: Path) -> ServerProcess:
    """``kg serve --store`` with default settings and the result cache off."""
    server = scholarkg_server(tools, data, logs, cache=False)
    server.name = EMBEDDED
    return server


def measure_front(server: ServerProcess, engine: psutil.Process, data: Dataset,
                  args: argparse.Namespace) -> dict[str, Any]:
    """Warm-up, then the measured point-query load; the engine's CPU around the latter."""
    requests = point_requests(server, data.persons)
    print(f"  {server.name}: warm-up {args.warmup:g} s, load {args.duration:g} s ...",
          flush=True)
    run_load(server, requests, clients=args.clients, processes=args.client_processes,
             duration=args.warmup, timeout=args.timeout)
    engine_before = tree_cpu_seconds(engine)
    load = run_load(server, requests, clients=args.clients, processes=args.client_processes,
                    duration=args.duration, timeout=args.timeout)
    engine_seconds = cpu_delta(engine_before, tree_cpu_seconds(engine))
    point = load.summary(args.clients, args.client_processes)
    ok = point["requests_ok"]
    point["engine_cpu_seconds"] = engine_seconds
    point["engine_cpu_ms_per_request"] = 1000 * engine_seconds / ok if ok else None
    point["engine_cores"] = engine_seconds / point["seconds"]
    point["engine_rss_mb"] = tree_rss(engine) / MB
    # the machine's other work: what neither the front, the client nor the engine used
    point["other_cores_without_engine"] = max(0.0, point["other_cores"] - point["engine_cores"])
    print(f"    {point['requests_per_second']:,.0f} req/s, p50 {point['p50_ms']:.1f} ms, "
          f"p99 {point['p99_ms']:.1f} ms, errors {point['errors']}, front "
          f"{_ms(point['server_cpu_ms_per_request'])} ms/req, engine "
          f"{_ms(point['engine_cpu_ms_per_request'])} ms/req", flush=True)
    return {"startup_seconds": server.startup_seconds, "idle_rss_mb": server.rss_mb(),
            "point": point}


def run_round(index: int, tools: Tools, data: Dataset, args: argparse.Namespace, logs: Path,
              pointer: Path, engine: psutil.Process) -> dict[str, Any]:
    """Both fronts up; their answers compared; then each loaded in turn (embedded first
    in odd rounds, remote first in even ones)."""
    order = list(MODES) if index % 2 else list(reversed(MODES))
    this: dict[str, Any] = {"order": order}
    with contextlib.ExitStack() as stack:
        servers: dict[str, ServerProcess] = {}
        for mode in order:
            front = (embedded_front(tools, data, logs) if mode == EMBEDDED
                     else remote_front(tools, data, logs, pointer))
            servers[mode] = stack.enter_context(front)
        persons = data.persons[: args.check_persons]
        answers = {mode: fetch_answers(servers[mode], persons, args.timeout) for mode in MODES}
        differences = answer_differences(answers[EMBEDDED], answers[REMOTE])
        if differences:
            raise AnswersDiffer(differences)
        this["answers_compared"] = len(answers[EMBEDDED])
        print(f"  answers: {len(answers[EMBEDDED])} point queries, the same rows from both",
              flush=True)
        for mode in order:
            this[mode] = measure_front(servers[mode], engine, data, args)
    return this


# --------------------------------------------------------------------------- summary


def requests_per_core(ms_per_request: float | None) -> float:
    """Requests/s one core carries at this CPU cost per request (ms)."""
    if not ms_per_request or math.isnan(ms_per_request):
        return float("nan")
    return 1000.0 / ms_per_request


def _ratio(a: float | None, b: float | None) -> float:
    if a is None or b is None or not b or math.isnan(a) or math.isnan(b):
        return float("nan")
    return a / b


def _ms(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def summarise(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """Medians per front, the per-round ratios remote/embedded and the checks."""
    keys = ("requests_per_second", "p50_ms", "p95_ms", "p99_ms", "server_cpu_ms_per_request",
            "server_cores", "engine_cpu_ms_per_request", "engine_cores", "client_cores",
            "other_cores_without_engine", "server_peak_rss_mb", "engine_rss_mb")
    fronts: dict[str, Any] = {}
    for mode in MODES:
        points = [r[mode]["point"] for r in rounds]
        entry: dict[str, Any] = {k: median(p[k] for p in points if p[k] is not None)
                 if any(p[k] is not None for p in points) else None for k in keys}
        entry["errors"] = sum(p["errors"] for p in points)
        entry["error_kinds"] = [p["error_kinds"] for p in points]
        fronts[mode] = entry

    def spread(key: str, *, higher_is_better: bool, total: bool = False) -> dict[str, Any]:
        values = []
        for r in rounds:
            mine, theirs = r[REMOTE]["point"], r[EMBEDDED]["point"]
            a, b = mine[key], theirs[key]
            if total and a is not None and mine["engine_cpu_ms_per_request"] is not None:
                a += mine["engine_cpu_ms_per_request"]
            values.append(_ratio(a, b))
        worst = min(values) if higher_is_better else max(values)
        return {"median": median(values), "worst": worst, "per_round": values}

    remote = fronts[REMOTE]
    front_ms, engine_ms = remote["server_cpu_ms_per_request"], remote["engine_cpu_ms_per_request"]
    errors = sum(f["errors"] for f in fronts.values())
    return {
        "fronts": fronts,
        "ratios": {
            "requests_per_second": spread("requests_per_second", higher_is_better=True),
            "p50_latency": spread("p50_ms", higher_is_better=False),
            "p99_latency": spread("p99_ms", higher_is_better=False),
            "front_cpu_per_request": spread("server_cpu_ms_per_request",
                                            higher_is_better=False),
            "front_plus_engine_cpu_per_request": spread("server_cpu_ms_per_request",
                                                        higher_is_better=False, total=True),
        },
        "sizing": {
            "front_requests_per_second_per_core": requests_per_core(front_ms),
            "engine_requests_per_second_per_core": requests_per_core(engine_ms),
            "engine_cores_per_front_core": _ratio(engine_ms, front_ms),
            "embedded_requests_per_second_per_core": requests_per_core(
                fronts[EMBEDDED]["server_cpu_ms_per_request"]),
        },
        "checks": {
            "point_query_errors": {"target": "== 0", "value": errors, "pass": errors == 0},
            # a difference stops the run before any load (AnswersDiffer): here all were equal
            "answers_equal": {"target": "same rows",
                              "value": sum(r["answers_compared"] for r in rounds),
                              "pass": True},
        },
    }


def format_report(summary: dict[str, Any], data: Dataset, args: argparse.Namespace,
                  published: Published) -> str:
    """The tables printed at the end."""
    lines = [
        f"remote-engine server benchmark: {data.profiles:,} profiles, {data.quads:,} quads, "
        f"{args.clients} clients x {args.duration:g} s, median of {args.repeat} round(s); "
        f"result cache off",
        f"published into Virtuoso: {published.quads:,} quads in {published.seconds:.1f} s "
        f"({published.quads_per_s:,.0f} quads/s)",
        "",
        f"{'':<19}{'req/s':>8}{'p50 ms':>9}{'p99 ms':>9}{'errors':>8}{'front ms/req':>14}"
        f"{'engine ms/req':>15}{'front cores':>13}{'engine cores':>14}{'cli cores':>11}"
        f"{'other':>7}",
    ]
    for mode, f in summary["fronts"].items():
        lines.append(
            f"{mode:<19}{f['requests_per_second']:>8,.0f}{f['p50_ms']:>9.2f}{f['p99_ms']:>9.2f}"
            f"{f['errors']:>8}{_ms(f['server_cpu_ms_per_request']):>14}"
            f"{_ms(f['engine_cpu_ms_per_request']):>15}{f['server_cores']:>13.2f}"
            f"{f['engine_cores']:>14.2f}{f['client_cores']:>11.2f}"
            f"{f['other_cores_without_engine']:>7.2f}")
    labels = {
        "requests_per_second": "requests/s",
        "p50_latency": "p50 latency",
        "p99_latency": "p99 latency",
        "front_cpu_per_request": "front CPU per request",
        "front_plus_engine_cpu_per_request": "front + engine CPU per request",
    }
    lines += ["", "remote / embedded (per round, then their median and the worst round)"]
    for key, label in labels.items():
        r = summary["ratios"][key]
        lines.append(f"  {label:<32} median {r['median']:.3f}, worst {r['worst']:.3f} "
                     f"(rounds: {', '.join(f'{v:.3f}' for v in r['per_round'])})")
    s = summary["sizing"]
    front, engine = (s["front_requests_per_second_per_core"],
                     s["engine_requests_per_second_per_core"])
    embedded, per_front = (s["embedded_requests_per_second_per_core"],
                           s["engine_cores_per_front_core"])
    lines += [
        "",
        "sizing (CPU per request, medians):",
        f"  one core of front CPU carries {front:,.0f} point requests/s over Virtuoso "
        f"(the embedded front, engine inside: {embedded:,.0f} per core)",
        f"  one core of Virtuoso carries {engine:,.0f} requests/s: each busy front core "
        f"needs {per_front:.2f} Virtuoso cores",
        f"  N fronts of C cores: about N x C x {front:,.0f} requests/s, with "
        f"N x C x {per_front:.2f} Virtuoso cores behind them",
        "",
        "checks",
    ]
    for key, check in summary["checks"].items():
        lines.append(f"  {key:<24}{check['value']!s:>8}   {check['target']:<10} "
                     f"{'PASS' if check['pass'] else 'FAIL'}")
    return "\n".join(lines)


# --------------------------------------------------------------------------- main


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--profiles", type=int, default=2000,
                        help="generate a corpus of this many profiles (default 2000)")
    parser.add_argument("--store", type=Path, help="reuse this store (with --exports)")
    parser.add_argument("--exports", type=Path, help="the 'kg export' folder of --store")
    parser.add_argument("--duration", type=float, default=20.0,
                        help="seconds of point-query load per front and round (default 20)")
    parser.add_argument("--warmup", type=float, default=3.0,
                        help="seconds of unmeasured load first (default 3)")
    parser.add_argument("--clients", type=int, default=8, help="concurrent clients (default 8)")
    parser.add_argument("--client-processes", type=int, default=2,
                        help="processes the clients are spread over (default 2)")
    parser.add_argument("--repeat", type=int, default=3, help="rounds (default 3)")
    parser.add_argument("--persons", type=int, default=2000,
                        help="persons queried (default 2000)")
    parser.add_argument("--check-persons", type=int, default=20,
                        help="persons whose answers are compared between fronts (default 20)")
    parser.add_argument("--timeout", type=float, default=120.0,
                        help="per-request timeout of the load generator, s (default 120)")
    parser.add_argument("--virtuoso-buffers", type=int, default=100_000,
                        help="Virtuoso NumberOfBuffers, 8 kB each (default 100000: 800 MB)")
    parser.add_argument("--engine-timeout", type=int, default=20,
                        help="Virtuoso's MaxQueryExecutionTime, s; below the front's "
                             "KG_ENGINE_TIMEOUT_S (default 20)")
    parser.add_argument("--publish-timeout", type=float, default=7200.0,
                        help="bound of the bulk load, s (default 7200)")
    parser.add_argument("--seed", type=int, default=1, help="corpus and sampling seed")
    parser.add_argument("--workdir", type=Path, help="where store, engine and logs go")
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    parser.add_argument("--kg-command", help="command line that runs the kg CLI")
    parser.add_argument("--report", type=Path,
                        help="JSON report path (default benchmarks/out/remote-server-<N>.json)")
    args = parser.parse_args(argv)
    if (args.store is None) != (args.exports is None):
        parser.error("--store and --exports go together")
    for name in ("profiles", "clients", "client_processes", "repeat", "persons",
                 "check_persons", "virtuoso_buffers", "engine_timeout"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    if args.duration <= 0 or args.timeout <= 0 or args.warmup < 0:
        parser.error("--duration and --timeout must be positive, --warmup not negative")
    return args


def benchmark(args: argparse.Namespace, workdir: Path) -> int:
    if engine_fixtures.VIRTUOSO is None or engine_fixtures.ISQL is None:
        raise BenchmarkError("needs Virtuoso 7: virtuoso-t and isql-vt (apt-get install "
                             "virtuoso-opensource)")
    kg = kg_command(args.kg_command)
    tools = Tools(kg, "", [])
    logs = workdir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    data = build_dataset(args, tools, workdir)
    print(f"store {data.store}: {data.quads:,} quads, {data.profiles:,} profile owners; "
          f"{len(data.persons)} persons queried", flush=True)
    pointer = workdir / "current.json"
    instance: engine_fixtures.Virtuoso | None = None
    rounds: list[dict[str, Any]] = []
    differences: list[str] = []
    report: dict[str, Any] = {
        "benchmark": "remote-server",
        "environment": {**environment_facts(kg, ""), "oxigraph": None,
                        "oxigraph_version": None,
                        "virtuoso": engine_fixtures.VIRTUOSO,
                        "virtuoso_version": virtuoso_version(engine_fixtures.VIRTUOSO)},
        "dataset": {"store": str(data.store), "exports": str(data.exports),
                    "release_file": str(data.nquads_dump), "quads": data.quads,
                    "profiles": data.profiles, "persons_queried": len(data.persons),
                    **data.build},
        "settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "queries": {"point": [t for _, t in POINT_TEMPLATES],
                    "prefixes": bench_server.PREFIXES},
    }
    try:
        print(f"starting Virtuoso ({args.virtuoso_buffers:,} buffers) and publishing "
              f"{data.nquads_dump.name} ...", flush=True)
        instance = start_engine(args, workdir / "virtuoso")
        published = publish(instance, data, pointer, args)
        print(f"  {published.quads:,} quads in {published.seconds:.1f} s "
              f"({published.quads_per_s:,.0f} quads/s)", flush=True)
        if published.quads != data.quads:
            raise BenchmarkError(f"Virtuoso holds {published.quads} quads, the store "
                                 f"{data.quads}")
        report["publish"] = {"release": published.release, "quads": published.quads,
                             "seconds": published.seconds,
                             "quads_per_second": published.quads_per_s}
        engine = engine_process(instance)
        for index in range(1, args.repeat + 1):
            print(f"round {index}/{args.repeat}", flush=True)
            rounds.append(run_round(index, tools, data, args, logs, pointer, engine))
    except AnswersDiffer as exc:
        differences = exc.differences
    finally:
        stop_all_servers()
        if instance is not None:
            instance.process.stop()
    report_path = args.report or OUT_DIR / f"remote-server-{data.profiles}.json"
    if differences:
        print("\nFAIL: the remote front answers differently from the embedded one "
              "(nothing measured):\n  " + "\n  ".join(differences))
        write_report(report_path, {**report, "answer_differences": differences})
        print(f"\nreport written to {report_path}")
        return 1
    summary = summarise(rounds)
    print()
    print(format_report(summary, data, args, published))
    print("\nread the ratios and the CPU per request: the machine may be shared "
          "('other' cores)")
    write_report(report_path, {**report, "summary": summary, "rounds": rounds})
    print(f"\nreport written to {report_path}")
    return 0 if all(c["pass"] for c in summary["checks"].values()) else 1


def _on_signal(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point."""
    args = _parse_args(argv)
    temporary = args.workdir is None
    workdir = (Path(tempfile.mkdtemp(prefix="kg-bench-remote-")) if temporary
               else args.workdir).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    previous = signal.signal(signal.SIGTERM, _on_signal)
    status = 2
    started = time.monotonic()
    try:
        status = benchmark(args, workdir)
    except (BenchmarkError, CommandFailed) as exc:
        print(f"bench_remote_server: {exc}", file=sys.stderr)
    finally:
        stop_all_servers()
        signal.signal(signal.SIGTERM, previous)
        print(f"({time.monotonic() - started:.0f} s)", file=sys.stderr)
        if args.keep or status != 0:
            print(f"kept {workdir} (logs in {workdir / 'logs'})", file=sys.stderr)
        elif temporary:
            shutil.rmtree(workdir, ignore_errors=True)
    return status


if __name__ == "__main__":
    sys.exit(main())
