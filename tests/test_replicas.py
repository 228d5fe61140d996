"""Replicas: two ``kg serve`` fronts behind the shipped nginx configuration
(``deploy/nginx/scholarkg.conf``), both serving ``RELEASES/current``.

Eight clients, each from its own loopback address, read SPARQL (GET and POST) and entity
pages for 30 s while one front is killed (SIGKILL of its process group) and restarted, a
new release is published, and then the other front is killed and restarted. No request
may fail, and no client may see a release go backwards: neither in the ``KG-Release``
header nor in the data (a marker only the new release holds).
"""

from __future__ import annotations

import contextlib
import gzip
import http.client
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks import served_store  # noqa: E402
from kg.storage.release import RELEASE_NAME  # noqa: E402
from kg.storage.store import KnowledgeStore  # noqa: E402
from tests.server_fixtures import (  # noqa: E402
    ServerProcess,
    free_port,
    http_request,
    server_env,
)

NGINX = shutil.which("nginx") or next(
    (p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if Path(p).exists()), None)
CONFIG = ROOT / "deploy" / "nginx" / "scholarkg.conf"
CLIENTS = 8
READING_S = 36.0
#: the shipped config's fail_timeout
FAIL_TIMEOUT_S = 5.0
MARKER = "<urn:scholarkg-test:rolled>"
ASK = f"ASK {{ GRAPH {MARKER} {{ ?s ?p ?o }} }}"
PERSON = "/id/person/mei-tanaka"


def release_number(name: str) -> int:
    match = RELEASE_NAME.match(name)
    assert match, f"not a release name: {name!r}"
    return int(match["number"])


class Front:
    """One ``kg serve`` in a process group of its own (killed whole, as a crash would)."""

    def __init__(self, store: Path, port: int, log_dir: Path) -> None:
        self.store, self.port, self.log_dir = store, port, log_dir
        self.server: ServerProcess | None = None
        self.starts = 0

    def start(self) -> None:
        self.starts += 1
        env = server_env(self.store, self.port, workers=2, threads=4, query_workers=1,
                         query_timeout_s=10, trusted_proxies=1)
        log_path = self.log_dir / f"front-{self.port}-{self.starts}.log"
        with open(log_path, "wb") as log:
            proc = subprocess.Popen([*served_store.KG, "serve"], cwd=ROOT, env=env,
                                    stdout=log, stderr=subprocess.STDOUT,
                                    start_new_session=True)
        self.server = ServerProcess(proc, self.port, log_path, env)
        self.server.wait_ready(timeout=60)

    def kill(self) -> None:
        """SIGKILL to the whole process group: master, workers and query executors."""
        assert self.server is not None
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.server.proc.pid, signal.SIGKILL)
        self.server.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.server is None:
            return
        self.server.stop()
        with contextlib.suppress(ProcessLookupError):  # executors left behind, if any
            os.killpg(self.server.proc.pid, signal.SIGKILL)


def nginx_config(tmp: Path, listen: int, fronts: list[int]) -> Path:
    """The shipped configuration with this run's ports, inside a minimal nginx.conf."""
    site = CONFIG.read_text(encoding="utf-8")
    for default, port in zip(("127.0.0.1:8001", "127.0.0.1:8002"), fronts, strict=True):
        assert site.count(f"server {default} ") == 1, f"{CONFIG} lists no front {default}"
        site = site.replace(f"server {default} ", f"server 127.0.0.1:{port} ")
    assert site.count("listen 80;") == 1, f"{CONFIG} has no 'listen 80;'"
    site = site.replace("listen 80;", f"listen 127.0.0.1:{listen};")
    (tmp / "scholarkg.conf").write_text(site, encoding="utf-8")
    for name in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (tmp / name).mkdir(exist_ok=True)
    user = "user root;\n" if os.geteuid() == 0 else ""
    conf = tmp / "nginx.conf"
    conf.write_text(f"""{user}worker_processes 2;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log;
events {{ worker_connections 256; }}
http {{
  log_format upstreams '$remote_addr "$request" $status [$upstream_addr] [$upstream_status]';
  access_log {tmp}/access.log upstreams;
  client_body_temp_path {tmp}/client_body;
  proxy_temp_path {tmp}/proxy;
  fastcgi_temp_path {tmp}/fastcgi;
  uwsgi_temp_path {tmp}/uwsgi;
  scgi_temp_path {tmp}/scgi;
  include {tmp}/scholarkg.conf;
}}
""", encoding="utf-8")
    return conf


@contextlib.contextmanager
def running_nginx(tmp: Path, conf: Path, url: str) -> Iterator[None]:
    assert NGINX is not None
    with open(tmp / "nginx.out", "wb") as out:
        nginx = subprocess.Popen([NGINX, "-p", str(tmp), "-e", str(tmp / "error.log"),
                                  "-c", str(conf), "-g", "daemon off;"],
                                 stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 20
        while True:
            if nginx.poll() is not None:
                raise RuntimeError("nginx exited: "
                                   + (tmp / "nginx.out").read_text(errors="replace")
                                   + (tmp / "error.log").read_text(errors="replace"))
            with contextlib.suppress(OSError):
                if http_request(url + "/healthz", timeout=5).status == 200:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError("nginx did not answer within 20 s")
            time.sleep(0.1)
        yield
    finally:
        nginx.terminate()
        try:
            nginx.wait(timeout=10)
        except subprocess.TimeoutExpired:
            nginx.kill()
            nginx.wait(timeout=10)


@dataclass
class Answer:
    client: int
    kind: str
    status: int | None
    release: str = ""
    rolled: bool | None = None  # the marker of the new release, for SPARQL answers
    error: str = ""


def read_continuously(url: str, client: int, deadline: float, answers: list[Answer]) -> None:
    source = f"127.0.0.{client + 2}"
    sparql = {"Accept": "application/sparql-results+json"}
    n = client
    while time.monotonic() < deadline:
        kind = ("get", "post", "page")[n % 3]
        n += 1
        try:
            if kind == "get":
                reply = http_request(f"{url}/sparql?query={quote(ASK)}", headers=sparql,
                                     timeout=20, source=source)
            elif kind == "post":
                reply = http_request(f"{url}/sparql", "POST", body=ASK.encode(),
                                     headers={**sparql,
                                              "Content-Type": "application/sparql-query"},
                                     timeout=20, source=source)
            else:
                reply = http_request(url + PERSON, headers={"Accept": "text/html"},
                                     timeout=20, source=source)
        except Exception as exc:  # noqa: BLE001 - every failure counts
            answers.append(Answer(client, kind, None, error=repr(exc)))
            continue
        answer = Answer(client, kind, reply.status, reply.header("KG-Release") or "")
        if reply.status != 200 or not reply.complete:
            answer.error = reply.body[:300].decode("utf-8", "replace")
        elif kind == "page":
            if "Mei Tanaka" not in reply.text:
                answer.error = "the page does not name its person"
        else:
            answer.rolled = bool(json.loads(reply.body)["boolean"])
        answers.append(answer)


@pytest.fixture
def releases(tmp_path: Path) -> tuple[Path, Path]:
    """A working store holding the bundled sample, published once."""
    work, rel = tmp_path / "work", tmp_path / "releases"
    store = KnowledgeStore.open(work)
    dump = sorted((ROOT / "exports").glob("scholarkg-*.nq.gz"))[-1]
    store.load_nquads(gzip.decompress(dump.read_bytes()).decode("utf-8"))
    store.flush()
    del store
    served_store.kg("release", "--store", work, "--releases", rel)
    return work, rel


def roll(work: Path, rel: Path) -> str:
    """A new release: the working store gains the marker, then ``kg release``."""
    store = KnowledgeStore.open(work)
    try:
        store.update(f"INSERT DATA {{ GRAPH {MARKER} {{ {MARKER} {MARKER} 1 }} }}")
    finally:
        del store
    return served_store.kg("release", "--store", work, "--releases", rel).stdout.strip()


def test_a_front_killed_and_a_release_rolled_under_load_fail_no_request(
        tmp_path: Path, releases: tuple[Path, Path]) -> None:
    if NGINX is None:
        pytest.skip("nginx is not installed (apt-get install nginx-light); the replicas "
                    "test runs the shipped nginx configuration")
    work, rel = releases
    first = os.readlink(rel / "current")
    logs = tmp_path / "logs"
    logs.mkdir()
    fronts = [Front(rel / "current", free_port(), logs) for _ in range(2)]
    nginx_dir = tmp_path / "nginx"
    nginx_dir.mkdir()
    listen = free_port()
    url = f"http://127.0.0.1:{listen}"
    conf = nginx_config(nginx_dir, listen, [f.port for f in fronts])
    answers: list[Answer] = []
    events: dict[str, float] = {}
    second = ""
    try:
        starting = [threading.Thread(target=f.start) for f in fronts]  # both at once
        for thread in starting:
            thread.start()
        for thread in starting:
            thread.join(timeout=90)
        assert all(f.server is not None and f.server.proc.poll() is None for f in fronts)
        with running_nginx(nginx_dir, conf, url):
            started = time.monotonic()
            clients = [threading.Thread(target=read_continuously,
                                        args=(url, n, started + READING_S, answers))
                       for n in range(CLIENTS)]
            for client in clients:
                client.start()
            try:
                time.sleep(4)
                fronts[0].kill()
                events["killed first"] = time.monotonic() - started
                second = roll(work, rel)  # published while that front is down
                events["rolled"] = time.monotonic() - started
                fronts[0].start()  # its supervisor restarts it
                events["restarted first"] = time.monotonic() - started
                # nginx sends a front that failed no requests for fail_timeout (5 s): the
                # other front may go down only once this one takes requests again, or
                # nginx has no live front for a moment (as an operator waits, so does the
                # test)
                time.sleep(FAIL_TIMEOUT_S + 1)
                fronts[1].kill()
                events["killed second"] = time.monotonic() - started
                fronts[1].start()
                events["restarted second"] = time.monotonic() - started
            finally:
                for client in clients:
                    client.join(timeout=READING_S + 30)
    finally:
        for front in fronts:
            front.stop()
    # both kills under load (a restart takes 5-15 s on a busy 2-core machine)
    assert events["killed second"] < READING_S - 5, events
    assert release_number(second) == release_number(first) + 1
    failed = [a for a in answers if a.status != 200 or a.error]
    assert not failed, (len(failed), failed[:5], events)
    assert len(answers) > 100, (len(answers), events)
    for answer in answers:
        assert answer.release in (first, second), answer
        if answer.rolled:  # the answer came from the new release, and says so
            assert answer.release == second, answer
    for number in range(CLIENTS):
        mine = [a for a in answers if a.client == number]
        seen = [release_number(a.release) for a in mine]
        assert seen == sorted(seen), f"client {number} saw a release go back: {seen}"
        rolled = [a.rolled for a in mine if a.rolled is not None]
        assert rolled == sorted(rolled), f"client {number} saw the data go back: {rolled}"
        assert seen[0] == release_number(first) and seen[-1] == release_number(second), seen
        assert rolled[-1] is True, f"client {number} never read the new release"
    # both fronts answered, and requests sent to a killed front were retried on the other
    log = (nginx_dir / "access.log").read_text(encoding="utf-8")
    ports = [f.port for f in fronts]
    for port in ports:
        assert f"127.0.0.1:{port}" in log, f"front {port} never answered"
    retried = re.findall(r"\[127\.0\.0\.1:[0-9]+, 127\.0\.0\.1:[0-9]+\]", log)
    assert retried, "no request went to a killed front: the kill was not under load"
    assert served_store.log_alarms(fronts[0].server) == []  # type: ignore[arg-type]


def chunked_query(port: int, target: str) -> tuple[int, object]:
    """POST the ASK query with a chunked body: (status, the boolean or the error text)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("POST", target, body=iter([ASK[:5].encode(), ASK[5:].encode()]),
                     headers={"Content-Type": "application/sparql-query",
                              "Accept": "application/sparql-results+json"},
                     encode_chunked=True)
        response = conn.getresponse()
        body = response.read()
    finally:
        conn.close()
    if response.status == 200:
        return 200, json.loads(body)["boolean"]
    return response.status, body.decode("utf-8", "replace")


def test_writes_and_form_posts_reach_a_front_through_the_shipped_config(
        tmp_path: Path, releases: tuple[Path, Path]) -> None:
    """Updates and form POSTs take the location that never sends a request twice and
    still reach a front (the configured second front is down: connections refused)."""
    if NGINX is None:
        pytest.skip("nginx is not installed (apt-get install nginx-light); the replicas "
                    "test runs the shipped nginx configuration")
    _, rel = releases
    front = Front(rel / "current", free_port(), tmp_path)
    nginx_dir = tmp_path / "nginx"
    nginx_dir.mkdir()
    listen = free_port()
    url = f"http://127.0.0.1:{listen}"
    conf = nginx_config(nginx_dir, listen, [front.port, free_port()])
    form = {"Content-Type": "application/x-www-form-urlencoded",
            "Accept": "application/sparql-results+json"}
    try:
        front.start()
        with running_nginx(nginx_dir, conf, url):
            for _ in range(4):  # each front in turn, whatever least_conn picks
                asked = http_request(f"{url}/sparql", "POST", headers=form,
                                     body=b"query=" + quote(ASK).encode())
                assert asked.status == 200, asked.text[:300]
                assert json.loads(asked.body)["boolean"] is False
                assert asked.header("KG-Release") == os.readlink(rel / "current")
                update = http_request(f"{url}/sparql/", "POST", body=b"CLEAR ALL",
                                      headers={"Content-Type": "application/sparql-update"})
                assert update.status == 403, update.text[:300]  # the front's refusal
                assert "KG_UPDATE_TOKEN" in update.text
                by_form = http_request(f"{url}/sparql?x=1", "POST", headers=form,
                                       body=b"update=" + quote("CLEAR ALL").encode())
                assert by_form.status == 403 and "KG_UPDATE_TOKEN" in by_form.text
            # a chunked body: refused by the front itself (granian cannot check one),
            # answered through nginx, which reads the body whole and sends its length
            direct = chunked_query(front.port, "/sparql")
            assert direct[0] == 411, direct
            assert chunked_query(listen, "/sparql?chunked=1") == (200, False)
    finally:
        front.stop()
    log = (nginx_dir / "access.log").read_text(encoding="utf-8")
    assert log.count('"POST /sparql HTTP/1.1" 200') == 4
    assert log.count('"POST /sparql/ HTTP/1.1" 403') == 4
    assert log.count('"POST /sparql?x=1 HTTP/1.1" 403') == 4
