"""Fuzz a running ``kg serve`` with hostile requests (``benchmarks/hostile_requests.py``).

Builds a store (generated profiles, the bundled examples, and profiles whose names, titles
and bylines carry HTML and script), exports its dumps (plus a symlink to /etc/passwd and a
hidden file in the exports folder, which must never be served), starts ``kg serve`` on
127.0.0.1 and sends ``--requests`` generated and mutated requests from ``--clients``
threads, over raw sockets: random and mutated SPARQL, bad percent-encoding and invalid
UTF-8, huge bodies and URLs, odd methods and headers, Content-Length that lies, path
traversal, markup and script.

Asserts: no 5xx but a 503 that says why (timeout, busy); every well-formed request answered;
no file from outside the exports folder served (bodies compared with /etc/passwd and the
repository's own files); no unescaped markup in any HTML answer; /healthz answers after
every thousand requests and at the end; the server log shows no traceback and no killed
worker. Prints counts by status and by kind; writes ``benchmarks/out/fuzz-server.json``.

Usage::

    python benchmarks/fuzz_server.py --requests 12000
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import quote

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks import hostile_requests as hr  # noqa: E402
from benchmarks import served_store  # noqa: E402
from tests.server_fixtures import ServerProcess  # noqa: E402

OUT_DIR = BENCH_DIR / "out"
#: the settings the server runs with: small limits, so that limits are reached
SERVER_SETTINGS = {"workers": 2, "threads": 8, "query_workers": 2, "query_timeout_s": 5,
                   "max_body_bytes": 1_000_000, "max_query_bytes": 100_000}


def prepare(work: Path, profiles: int) -> tuple[Path, Path]:
    """A store and its exports folder, with traps in the exports folder."""
    corpus = served_store.write_corpus(work / "corpus", profiles)
    store, exports = work / "store", work / "exports"
    served_store.build_store(store, [corpus])
    served_store.export(store, exports)
    (exports / "leak").symlink_to("/etc/passwd")
    (exports / "passwd").symlink_to("/etc/passwd")
    (exports / "readme").symlink_to(ROOT / "README.md")
    (exports / ".hidden").write_text("secret\n")
    (exports / "sub").mkdir()
    (exports / "sub" / "x.ttl").write_text("<http://a> <http://b> <http://c> .\n")
    return store, exports


def targets(server: ServerProcess) -> hr.Context:
    """Entity paths to aim at, markup-laden ones apart, and the dump file names."""
    query = ("PREFIX schema: <https://schema.org/> SELECT DISTINCT ?e ?n WHERE { "
             "{ ?e a schema:Person } UNION { ?e a schema:ScholarlyArticle } "
             "?e schema:name ?n } ORDER BY ?e LIMIT 400")
    reply = server.request("/sparql?query=" + quote(query),
                           headers={"Accept": "application/sparql-results+json"})
    rows = json.loads(reply.body)["results"]["bindings"]
    base = "https://w3id.org/scholarkg/id/"
    paths, markup = [], []
    for row in rows:
        iri = row["e"]["value"]
        if not iri.startswith(base):
            continue
        path = "/id/" + iri[len(base):]
        (markup if any(s in row["n"]["value"] for s in ("<script", "<img", "<iframe", "<svg"))
         else paths).append(path)
    listing = json.loads(server.request("/dumps/", headers={"Accept": "application/json"}).body)
    dumps = [f["name"] for f in listing["files"]]
    return hr.Context(server.port, paths + markup, dumps, sorted(set(markup)))


def run(args: argparse.Namespace) -> dict[str, object]:
    work = Path(args.workdir or tempfile.mkdtemp(prefix="kg-fuzz-server-"))
    started = time.perf_counter()
    store, exports = prepare(work, args.profiles)
    prepared_s = time.perf_counter() - started
    forbidden = hr.forbidden_bodies(ROOT, [ROOT / "server" / "static", ROOT / "ontology",
                                           exports])
    server = served_store.start_kg_serve(store, work / "logs", exports_dir=str(exports),
                                         **SERVER_SETTINGS)
    by_status: Counter[str] = Counter()
    by_kind: dict[str, Counter[str]] = defaultdict(Counter)
    problems: list[dict[str, str]] = []
    health_failures = 0
    slowest = (0.0, "")
    try:
        ctx = targets(server)
        print(f"serving {store} on port {server.port}; {len(ctx.entity_paths)} entity paths "
              f"({len(ctx.markup_paths)} with markup), {len(ctx.dumps)} dump files; "
              f"prepared in {prepared_s:.0f} s", flush=True)
        sent = 0
        fuzz_started = time.perf_counter()
        with ThreadPoolExecutor(args.clients) as pool:
            for block in range(0, args.requests, 1000):
                numbers = range(block, min(args.requests, block + 1000))
                requests = [hr.make_request(n, args.seed, ctx) for n in numbers]
                replies = pool.map(lambda r: hr.send_raw(server.port, r.raw, timeout=r.timeout,
                                                         shut_write=r.shut_write), requests)
                for request, reply in zip(requests, replies, strict=True):
                    status = str(reply.status) if reply.status is not None else "closed"
                    by_status[status] += 1
                    by_kind[request.kind][status] += 1
                    slowest = max(slowest, (reply.seconds, request.kind))
                    for problem in hr.check_reply(request, reply, forbidden):
                        problems.append({"kind": request.kind, "problem": problem,
                                         "request": request.raw[:400].decode("latin-1")})
                sent += len(requests)
                health = hr.send_raw(server.port, hr.build("GET", "/healthz"), timeout=30)
                if health.status != 200:
                    health_failures += 1
                    problems.append({"kind": "healthz", "problem": f"/healthz answered "
                                     f"{health.status} after {sent} requests", "request": ""})
                print(f"{sent} requests, {len(problems)} problems, "
                      f"{sent / (time.perf_counter() - fuzz_started):.0f} requests/s",
                      flush=True)
        fuzz_s = time.perf_counter() - fuzz_started
        alive = server.proc.poll() is None
        final = hr.send_raw(server.port, hr.build("GET", "/healthz"), timeout=30)
    finally:
        server.stop()
    alarms = served_store.log_alarms(server)
    if not alive or final.status != 200:
        problems.append({"kind": "server", "problem": f"alive={alive}, final /healthz "
                         f"{final.status}", "request": ""})
    for line in alarms[:20]:
        problems.append({"kind": "log", "problem": line, "request": ""})
    report: dict[str, object] = {
        "benchmark": "fuzz_server",
        "requests": sum(by_status.values()),
        "clients": args.clients,
        "seconds": round(fuzz_s, 1),
        "requests_per_second": round(sum(by_status.values()) / fuzz_s, 1),
        "by_status": dict(sorted(by_status.items())),
        "by_kind": {k: dict(sorted(v.items())) for k, v in sorted(by_kind.items())},
        "problems": len(problems),
        "problem_list": problems[:60],
        "healthz_failures": health_failures,
        "server_alive_after": alive,
        "final_healthz": final.status,
        "log_alarms": len(alarms),
        "slowest_reply": {"seconds": round(slowest[0], 2), "kind": slowest[1]},
        "settings": SERVER_SETTINGS,
        "workdir": str(work),
    }
    if not args.keep and not args.workdir:
        shutil.rmtree(work, ignore_errors=True)
    return report


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=12_000)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--profiles", type=int, default=60,
                        help="generated profiles in the served store (besides the examples)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args(argv)
    report = run(args)
    print()
    print(f"{report['requests']} requests in {report['seconds']} s "
          f"({report['requests_per_second']}/s), {report['problems']} problems")
    print("by status:", report["by_status"])
    for kind, counts in report["by_kind"].items():  # type: ignore[attr-defined]
        print(f"  {kind:22s} {counts}")
    for item in report["problem_list"]:  # type: ignore[attr-defined]
        print(f"PROBLEM [{item['kind']}] {item['problem']}\n    {item['request'][:200]!r}")
    print("server alive:", report["server_alive_after"], "final /healthz:",
          report["final_healthz"], "log alarms:", report["log_alarms"])
    OUT_DIR.mkdir(exist_ok=True)
    out = OUT_DIR / "fuzz-server.json"
    out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(f"report in {out}")
    return 0 if not report["problems"] else 1


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    sys.exit(main())
