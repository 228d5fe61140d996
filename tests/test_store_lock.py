"""A served store never changes under its server: writers are refused while it is served.

``kg serve`` marks the store it serves (a shared flock on ``STORE/.in-use``, and
``STORE/.serving`` naming the server); every command that opens a store read-write
(``kg ingest``, ``kg link``, ``kg optimize``, ``kg release``) is refused meanwhile with a
message saying who serves it and what to do. A server that was killed leaves its files
behind, but no lock: writers go ahead.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote

import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks import served_store  # noqa: E402
from kg.storage.store import KnowledgeStore  # noqa: E402
from kg.storage.store_lock import IN_USE, SERVING, StoreInUseError  # noqa: E402
from tests.server_fixtures import ServerProcess, free_port, server_env  # noqa: E402

EXAMPLES = ROOT / "examples" / "profiles"
MEI = "https://w3id.org/scholarkg/id/person/mei-tanaka"
LINKS = f"SELECT (COUNT(*) AS ?n) {{ <{MEI}> <http://www.w3.org/2002/07/owl#sameAs> ?o }}"


@pytest.fixture
def store(tmp_path: Path) -> Path:
    served_store.kg("ingest", EXAMPLES, "--store", tmp_path / "store", "--as-of",
                    "2026-11-21", "--no-progress", "--jobs", "1")
    return tmp_path / "store"


@pytest.fixture
def links(tmp_path: Path) -> Path:
    path = tmp_path / "links.tsv"
    path.write_text(f"entity\ttarget\n{MEI}\torcid:0000-0002-1825-0097\n", encoding="utf-8")
    return path


def _count(server: ServerProcess) -> int:
    reply = server.request("/sparql?query=" + quote(LINKS),
                           headers={"Accept": "application/sparql-results+json"})
    assert reply.status == 200, reply.text
    return int(json.loads(reply.body)["results"]["bindings"][0]["n"]["value"])


def test_writers_are_refused_while_the_store_is_served(
        store: Path, links: Path, tmp_path: Path) -> None:
    server = served_store.start_kg_serve(store, tmp_path / "logs", workers=1, query_workers=1)
    try:
        before = _count(server)
        generation = json.loads(server.request("/healthz").body)["generation"]
        refused = {}
        for command in (["link", links], ["ingest", EXAMPLES, "--as-of", "2026-11-22",
                                          "--no-progress"], ["optimize"]):
            proc = served_store.kg(*command, "--store", store, check=False)
            refused[command[0]] = proc
        for name, proc in refused.items():
            assert proc.returncode == 1, (name, proc.stderr)
            assert f"'kg serve' (pid {server.proc.pid}, http://127.0.0.1:{server.port}/) " \
                   "serves it" in proc.stderr, proc.stderr
            assert "kg release" in proc.stderr and "Traceback" not in proc.stderr
        release = served_store.kg("release", "--store", store, "--releases",
                                  tmp_path / "releases", check=False)
        assert release.returncode == 1 and "serves it" in release.stderr
        assert _count(server) == before == 0  # the same answer, every time
        assert json.loads(server.request("/healthz").body)["generation"] == generation
    finally:
        server.stop()
    assert not (store / SERVING).exists()  # a server that stops takes its note away
    done = served_store.kg("link", links, "--store", store)
    assert "1 added" in done.stderr


def test_a_killed_server_does_not_block_writers(
        store: Path, links: Path, tmp_path: Path) -> None:
    port = free_port()
    log_path = tmp_path / "serve.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([*served_store.KG, "serve"], cwd=ROOT,
                                env=server_env(store, port, workers=1, query_workers=1),
                                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    server = ServerProcess(proc, port, log_path)
    try:
        server.wait_ready(timeout=60)
        assert served_store.kg("link", links, "--store", store, check=False).returncode == 1
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the server and its executors, at once
        proc.wait(timeout=30)
    assert (store / SERVING).is_file() and (store / IN_USE).is_file()  # left behind
    done = served_store.kg("link", links, "--store", store, check=False)
    assert done.returncode == 0, done.stderr
    assert "1 added" in done.stderr


def test_a_server_does_not_start_on_a_store_being_written(store: Path) -> None:
    writer = KnowledgeStore.open(store)  # like a running kg ingest
    try:
        proc = served_store.kg("serve", "--store", store, "--port", str(free_port()),
                               check=False, timeout=60)
    finally:
        writer.close()
    assert proc.returncode == 1
    assert "is being written by another process" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_readers_and_a_writer_exclude_each_other_in_every_order(store: Path) -> None:
    reader = KnowledgeStore.open(store, read_only=True)
    with pytest.raises(StoreInUseError, match="open read-only in this process already"):
        KnowledgeStore.open(store)
    second = KnowledgeStore.open(store, read_only=True)  # readers share
    reader.close()
    second.close()
    writer = KnowledgeStore.open(store)
    with pytest.raises(StoreInUseError, match="being written by another process"):
        KnowledgeStore.open(store, read_only=True)
    writer.close()
    KnowledgeStore.open(store, read_only=True).close()


def test_a_release_is_never_opened_for_writing_by_a_server(store: Path, tmp_path: Path) -> None:
    from kg.storage.release import publish_release
    from server.settings import Settings
    from server.sparql.executor import ProcessPoolQueryService
    from server.web.errors import ApiError

    publish_release(store, tmp_path / "releases")
    pool = ProcessPoolQueryService(Settings(store=str(tmp_path / "releases" / "current"),
                                            update_token="t"))
    try:
        with pytest.raises(ApiError) as refused:
            pool.select("SELECT * { ?s ?p ?o } LIMIT 1")
    finally:
        pool.close()
    assert refused.value.status == 503
    assert "a release is served read-only" in refused.value.message
