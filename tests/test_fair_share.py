"""Fair share of query time per client (server/sparql/fair_share.py): the shared budget table,
admission in an app on a real store, and, on a real ``kg serve`` with two workers, a
client flooding runaway queries while another client's point queries keep their
latency; and /metrics summed over the workers."""

from __future__ import annotations

import logging
import math
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest

from benchmarks import served_store
from server.settings import Settings
from server.shared_state import remove_stale
from server.sparql.fair_share import BudgetTable, FairShare, excuse_wait, fair_share
from server.web.errors import ApiError
from tests.server_app import make_app
from tests.server_fixtures import ROOT, ServerProcess, build_disk_store

ASK = "/sparql?query=" + quote("ASK { ?s ?p ?o }")


def test_the_table_is_shared_by_processes_and_loses_no_charge(tmp_path: Path) -> None:
    path = tmp_path / "table"
    script = ("import sys, time\nfrom server.sparql.fair_share import BudgetTable\n"
              "t = BudgetTable(sys.argv[1], budget=1000.0, window=1e9)\n"
              "for _ in range(300):\n    t.charge('flooder', 0.01, time.monotonic())\n")
    procs = [subprocess.Popen([sys.executable, "-c", script, str(path)], cwd=ROOT)
             for _ in range(3)]
    for proc in procs:
        assert proc.wait(timeout=60) == 0
    table = BudgetTable(str(path), budget=1000.0, window=1e9)
    # 3 processes x 300 charges of 0.01 s, none lost to a race (refill: 1e-6 s per s)
    assert table.balance("flooder", time.monotonic()) == pytest.approx(1000.0 - 9.0, abs=1e-3)
    assert table.balance("someone-else", time.monotonic()) == 1000.0


def test_a_full_table_forgets_the_client_with_most_budget_left() -> None:
    table = BudgetTable(None, budget=10.0, window=10.0)
    now = 100.0
    for n in range(5000):  # more clients than slots
        table.charge(f"c{n}", 1.0 if n else 50.0, now)
    assert table.balance("c0", now) == -40.0  # the one in debt is remembered


def _settings(**overrides: object) -> Settings:
    return Settings.from_sources(env={}, overrides=overrides)


def _hold(share: FairShare, environ: dict[str, str]) -> tuple[threading.Thread,
                                                              threading.Event, dict[str, object]]:
    """A query of ``environ``'s client in a thread of its own, held running until the
    event is set: (thread, release, outcome: "waited" seconds or the "refused" error)."""
    release, outcome = threading.Event(), {}

    def run() -> None:
        try:
            with share.query(environ) as waited:
                outcome["waited"] = waited
                release.wait(30)
        except ApiError as exc:
            outcome["refused"] = exc

    thread = threading.Thread(target=run)
    thread.start()
    return thread, release, outcome


def test_a_further_query_of_a_client_waits_for_its_own_and_others_are_not_held_up() -> None:
    share = FairShare(_settings(query_workers=3, client_query_budget_s=600.0))
    first, second = {"REMOTE_ADDR": "10.0.0.1"}, {"REMOTE_ADDR": "10.0.0.2"}
    held = [_hold(share, first) for _ in range(2)]  # query_workers - 1 = 2 at once
    time.sleep(0.2)
    assert all(outcome == {"waited": 0.0} for _, _, outcome in held)
    third = _hold(share, first)
    time.sleep(0.3)
    assert third[2] == {}, "it ran beside the two, over the limit"
    with share.query(second) as waited:  # another client is admitted at once
        assert waited == 0.0
    held[0][1].set()  # one of the client's queries ends: the waiting one runs
    held[0][0].join(5)
    deadline = time.monotonic() + 5
    while "waited" not in third[2] and time.monotonic() < deadline:
        time.sleep(0.01)
    assert float(third[2]["waited"]) >= 0.25  # type: ignore[arg-type]
    for thread, release, _ in (held[1], third):
        release.set()
        thread.join(5)


@pytest.mark.parametrize(("threads", "query_workers", "running", "waiting"), [
    (8, 2, 1, 3),  # the defaults: half of 8 threads, 1 of them running
    (8, 3, 2, 2),
    (2, 2, 1, 1),  # half the threads is 1: still as many wait as run
])
def test_a_client_holds_at_most_half_the_threads_waiting_and_running(
        threads: int, query_workers: int, running: int, waiting: int) -> None:
    share = FairShare(_settings(threads=threads, query_workers=query_workers,
                                client_query_budget_s=600.0))
    client = {"REMOTE_ADDR": "10.0.0.1"}
    queries = [_hold(share, client) for _ in range(running + waiting)]
    time.sleep(0.3)
    assert sum(outcome == {"waited": 0.0} for _, _, outcome in queries) == running
    started = time.monotonic()
    with pytest.raises(ApiError) as refused:
        with share.query(client):
            pass
    assert time.monotonic() - started < 0.2  # at once, not after a wait
    assert refused.value.status == 429 and refused.value.headers["Retry-After"] == "1"
    words = {1: "1 SPARQL query", 2: "2 SPARQL queries", 3: "3 SPARQL queries"}
    assert (f"{words[running]} running and {words[waiting]} waiting"
            in refused.value.message)
    assert "KG_QUERY_WORKERS - 1" in refused.value.message
    assert "half of KG_THREADS" in refused.value.message
    for _, release, _ in queries:  # all at once: a waiting one may have started first
        release.set()
    for thread, _, _ in queries:
        thread.join(5)
    assert all("waited" in outcome for _, _, outcome in queries)  # all of them ran


def test_a_wait_for_the_client_s_own_queries_ends_at_its_time_limit() -> None:
    share = FairShare(_settings(query_workers=2, client_query_budget_s=600.0,
                                query_timeout_s=0.5))
    client = {"REMOTE_ADDR": "10.0.0.1"}
    running = _hold(share, client)  # query_workers - 1 = 1 at once
    time.sleep(0.1)
    started = time.monotonic()
    with pytest.raises(ApiError) as refused:
        with share.query(client, arrived=started):
            pass
    assert 0.45 <= time.monotonic() - started < 2.0
    assert refused.value.status == 429
    assert "until its own time limit (KG_QUERY_TIMEOUT_S, 0.5 s) passed" in refused.value.message
    running[1].set()
    running[0].join(5)


def test_running_queries_count_against_the_budget() -> None:
    share = FairShare(_settings(client_query_budget_s=0.2, client_query_window_s=60.0))
    client = {"REMOTE_ADDR": "10.0.0.3"}
    with share.query(client):
        time.sleep(0.25)  # still running, and already over the budget
        with pytest.raises(ApiError) as refused:
            with share.query(client):
                pass
    assert refused.value.status == 429 and "KG_CLIENT_QUERY_BUDGET_S" in refused.value.message
    assert share.table is not None
    assert share.table.balance("10.0.0.3", time.monotonic()) < -0.04  # charged when it ended


def test_an_app_refuses_a_client_over_budget_and_serves_the_others(tmp_path: Path) -> None:
    # a budget well above what the first query (executor start included) can take on a
    # loaded machine, and a long window (slow refill), so the charge is still seen when
    # the balance is read
    app = make_app(tmp_path, client_query_budget_s=30.0, client_query_window_s=3600.0)
    client = app.test_client()
    assert client.get(ASK).status_code == 200
    share = fair_share(app)
    assert share.table is not None
    balance = share.table.balance("127.0.0.1", time.monotonic())
    assert 0.0 < balance < 30.0  # the query was charged its time
    share.table.charge("127.0.0.1", balance + 3.0, time.monotonic())  # 3 s in debt
    refused = client.get(ASK, headers={"X-Forwarded-For": "10.9.9.9"})  # not trusted
    assert refused.status_code == 429
    retry = int(refused.headers["Retry-After"])
    assert math.isclose(retry, 3.0 / (30.0 / 3600.0), abs_tol=2)  # seconds until it is back
    text = refused.get_data(as_text=True)
    assert "KG_CLIENT_QUERY_BUDGET_S allows 30 s of query time per 3600 s" in text
    assert f"try again in {retry} s" in text
    other = client.get(ASK, environ_base={"REMOTE_ADDR": "10.0.0.7"})
    assert other.status_code == 200
    exposition = client.get("/metrics").get_data(as_text=True)
    assert 'kg_fair_share_refusals_total{reason="budget"} 1.0' in exposition


def test_a_refused_query_is_written_to_the_server_log_as_stopped_ones_are(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    app = make_app(tmp_path, client_query_budget_s=30.0, client_query_window_s=3600.0)
    share = fair_share(app)
    assert share.table is not None
    share.table.charge("127.0.0.1", 40.0, time.monotonic())  # 10 s in debt
    with caplog.at_level(logging.WARNING):
        assert app.test_client().get(ASK).status_code == 429
    refused = [r.getMessage() for r in caplog.records if "fair share" in r.getMessage()]
    assert refused, [r.getMessage() for r in caplog.records]
    assert re.fullmatch(r"query refused: fair share after 0\.\d{3} s "
                        r"\(text sha256 [0-9a-f]{12}\)", refused[0]), refused
    assert "ASK" not in refused[0]  # a hash of the text, never the text


def test_time_waiting_for_an_executor_is_not_charged(tmp_path: Path) -> None:
    app = make_app(tmp_path, client_query_budget_s=30.0, client_query_window_s=3600.0)
    share = fair_share(app)
    assert share.table is not None
    env = {"REMOTE_ADDR": "10.1.2.3"}
    with share.query(env):
        time.sleep(0.4)
        excuse_wait(0.35)  # what the executor pool reports for a queued query
    waited = 30.0 - share.table.balance("10.1.2.3", time.monotonic())
    with share.query(env):
        time.sleep(0.4)  # no wait: the whole time is the query's
    ran = 30.0 - share.table.balance("10.1.2.3", time.monotonic()) - waited
    assert 0.0 <= waited < 0.2 and ran >= 0.39, (waited, ran)


def test_behind_trusted_proxies_the_forwarded_address_is_the_client(tmp_path: Path) -> None:
    app = make_app(tmp_path, client_query_budget_s=1.0, trusted_proxies=1)
    client = app.test_client()
    share = fair_share(app)
    assert share.table is not None
    share.table.charge("203.0.113.5", 10.0, time.monotonic())
    spoofed = {"X-Forwarded-For": "198.51.100.1, 203.0.113.5"}  # the proxy appended .5
    assert client.get(ASK, headers=spoofed).status_code == 429
    assert client.get(ASK, headers={"X-Forwarded-For": "203.0.113.6"}).status_code == 200
    assert client.get(ASK).status_code == 200  # no header: the connection's address


def test_zero_turns_fair_share_off(tmp_path: Path) -> None:
    app = make_app(tmp_path, client_query_budget_s=0)
    assert fair_share(app).table is None
    assert all(app.test_client().get(ASK).status_code == 200 for _ in range(3))


# a real server ----------------------------------------------------------------------------

RUNAWAY = "SELECT (COUNT(*) AS ?c) WHERE { ?a ?b ?c . ?d ?e ?f . ?g ?h ?i }"
TIMEOUT_S = 2.0
PEOPLE = 3000


def _people() -> str:
    return "".join(f"<http://example.org/person/{i}> <http://example.org/name> \"P{i}\" ;\n"
                   f"  <http://example.org/score> {i % 97} .\n" for i in range(PEOPLE))


_SENT = iter(range(10**9))


def _point(server: ServerProcess, person: int, who: str) -> tuple[int, float]:
    # a text never sent before (the comment): answered by an executor, not the cache
    query = (f"# {next(_SENT)}\nSELECT ?n ?s WHERE {{ <http://example.org/person/{person}> "
             "<http://example.org/name> ?n ; <http://example.org/score> ?s }")
    started = time.perf_counter()
    reply = server.request("/sparql?query=" + quote(query),
                           headers={"Accept": "application/sparql-results+json",
                                    "X-Forwarded-For": who}, timeout=30)
    seconds = time.perf_counter() - started
    assert reply.status == 200 and b'"P' in reply.body, reply.body[:300]
    return reply.status, seconds


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]


def _victim(server: ServerProcess, seconds: float, start: int) -> list[float]:
    latencies = []
    deadline = time.monotonic() + seconds
    person = start
    while time.monotonic() < deadline:
        latencies.append(_point(server, person % PEOPLE, "192.0.2.10")[1])
        person += 7919  # a different person each time: answers not from the cache
    return latencies


@pytest.fixture(scope="module")
def fair_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    tmp = tmp_path_factory.mktemp("fair")
    store = build_disk_store(tmp / "store", "@prefix ex: <http://example.org/> .\n" + _people())
    server = served_store.start_kg_serve(
        store, tmp / "logs", workers=2, threads=8, query_workers=2,
        query_timeout_s=TIMEOUT_S, client_query_budget_s=3, client_query_window_s=3,
        trusted_proxies=1)
    try:
        yield server
    finally:
        server.stop()


def test_a_flooding_client_gets_429_while_another_keeps_its_latency(
        fair_server: ServerProcess) -> None:
    server = fair_server
    _victim(server, 1.0, 1)  # executors of both workers started and warm
    baseline = _victim(server, 4.0, 2)
    answers: list[tuple[int, str, str]] = []
    stop = threading.Event()

    def flood() -> None:
        while not stop.is_set():
            reply = server.request("/sparql?query=" + quote(RUNAWAY),
                                   headers={"X-Forwarded-For": "198.51.100.66"}, timeout=30)
            answers.append((reply.status, reply.header("Retry-After") or "",
                            reply.body[:400].decode("utf-8", "replace")))
            if reply.status == 429:
                time.sleep(0.05)  # a flooder that ignores Retry-After, not a busy loop

    flooders = [threading.Thread(target=flood) for _ in range(4)]
    for thread in flooders:
        thread.start()
    try:
        during = _victim(server, 8.0, 3)
    finally:
        stop.set()
        for thread in flooders:
            thread.join(timeout=30)
    statuses = [status for status, _, _ in answers]
    budget = [a for a in answers if a[0] == 429 and "KG_CLIENT_QUERY_BUDGET_S allows" in a[2]]
    timeouts = [a for a in answers if a[0] == 503 and "KG_QUERY_TIMEOUT_S" in a[2]]
    assert set(statuses) <= {429, 503}, statuses
    assert timeouts, "the runaway queries were stopped at the timeout"
    assert budget, f"the flooder was never refused for its budget: {statuses}"
    # 3 s per 3 s: a client of one query at a time is never refused; the flooder runs
    # two runaways at once (one per worker) and owes up to 2 x 2 s when they are stopped
    assert all(1 <= int(retry) <= 5 for _, retry, _ in budget)
    base50, base95 = statistics.median(baseline), _p95(baseline)
    p50, p95 = statistics.median(during), _p95(during)
    print(f"victim point queries: baseline p50 {base50 * 1000:.1f} ms p95 {base95 * 1000:.1f}"
          f" ms ({len(baseline)}); during the flood p50 {p50 * 1000:.1f} ms p95 "
          f"{p95 * 1000:.1f} ms ({len(during)}); flooder answers {len(answers)}: "
          f"{len(timeouts)} timeouts, {statuses.count(429)} refused")
    # close to the baseline; the margin is for the runaways' CPU on a shared 2-core
    # machine (without fair share the victim waits for executors and gets 503 busy)
    assert p50 <= 2 * base50 + 0.02, (base50, p50)
    assert p95 <= 3 * base95 + 0.1, (base95, p95)


@pytest.mark.parametrize(("connections", "each", "who"), [(2, 30, "192.0.2.20"),
                                                          (4, 20, "192.0.2.40")])
def test_a_client_sending_queries_side_by_side_is_answered_not_refused(
        fair_server: ServerProcess, connections: int, each: int, who: str) -> None:
    """A client's connections may all land on one worker (the kernel spreads them), where
    it runs one query at once: the others wait for it, up to half the worker's 8 threads
    in all, instead of getting 429. Before 2026-12-07 every query over the cap was
    refused (about half of a two-connection client's); until 2026-12-08 only as many
    waited as ran, and a four-connection client had about a quarter refused in two runs
    of three."""
    statuses: list[int] = []
    failures: list[BaseException] = []

    def client(start: int) -> None:
        try:
            for n in range(each):
                statuses.append(_point(fair_server, (start + n * 7919) % PEOPLE, who)[0])
        except BaseException as exc:  # noqa: BLE001 - reported below
            failures.append(exc)

    threads = [threading.Thread(target=client, args=(k * 1000,)) for k in range(connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not failures, failures[:1]
    assert statuses == [200] * (connections * each)


def _requests_counted(text: str) -> float:
    match = re.search(r'^kg_http_requests_total\{endpoint="sparql.endpoint",status="200"\} '
                      r"(\S+)$", text, re.MULTILINE)
    return float(match.group(1)) if match else 0.0


def test_metrics_count_the_requests_of_every_worker(tmp_path: Path) -> None:
    store = build_disk_store(tmp_path / "store", "@prefix ex: <http://example.org/> .\n"
                             "ex:a ex:b ex:c .\n")
    server = served_store.start_kg_serve(store, tmp_path / "logs", workers=2, threads=2)
    try:
        for _ in range(40):  # a new connection each: both workers answer some
            assert server.request(ASK).status == 200
        counts = [_requests_counted(server.request("/metrics").text) for _ in range(8)]
        run_dirs = list(Path(tempfile.gettempdir()).glob(f"kg-serve-{server.proc.pid}-*"))
        assert len(run_dirs) == 1 and (run_dirs[0] / "metrics").is_dir()
    finally:
        server.stop()
    assert counts == [40.0] * 8
    assert not run_dirs[0].exists(), "the run directory is removed when the server stops"


def test_run_directories_of_stopped_servers_are_removed(tmp_path: Path) -> None:
    gone = tmp_path / "kg-serve-999999999-abc"  # above Linux's largest pid: not running
    running = tmp_path / f"kg-serve-{os.getpid()}-def"
    other = tmp_path / "unrelated-999999999"
    for folder in (gone, running, other):
        (folder / "metrics").mkdir(parents=True)
    remove_stale(tmp_path)
    assert not gone.exists() and running.is_dir() and other.is_dir()
