"""Releases (``kg release``) and a server switching to each new one while it answers queries.

The server serves ``RELEASES/current``; the test ingests new documents into the working
store and publishes three releases while four clients query without pause. No request may
fail, every answer must be one whole release (as many document graphs as document
descriptions, one h-index per profiled person, and a count some release had), no client may
see the data go back in time, and the clients must end up seeing the last release.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks import served_store  # noqa: E402
from benchmarks.generate_corpus import generate  # noqa: E402
from kg.ingest import Ingestor  # noqa: E402
from kg.mapping.iris import IriMinter  # noqa: E402
from kg.parse.detect import iter_input_files, read_documents  # noqa: E402
from kg.storage.release import (  # noqa: E402
    IN_USE,
    current_release,
    hold_release,
    publish_release,
    releases,
)
from kg.storage.store import KnowledgeStore  # noqa: E402
from tests.server_fixtures import http_request  # noqa: E402

CLIENTS = 4
AS_OF = dt.date(2026, 11, 21)
#: longest the clients read; they stop as soon as every one has seen the last release.
#: Three ingests and three releases (each reads its copy once for its figures) must fit,
#: with new executors started after each switch, on a shared 2-core machine.
READING_LIMIT_S = 30.0
CONSISTENCY = """
PREFIX skg: <https://w3id.org/scholarkg/ns#>
SELECT ?graphs ?described ?bad WHERE {
  { SELECT (COUNT(DISTINCT ?g) AS ?graphs) WHERE {
      GRAPH ?g {} FILTER(CONTAINS(STR(?g), "/document/")) } }
  { SELECT (COUNT(DISTINCT ?d) AS ?described) WHERE { ?d a skg:SourceDocument } }
  { SELECT (COUNT(?p) AS ?bad) WHERE {
      { SELECT ?p (COUNT(DISTINCT ?h) AS ?n) WHERE {
          ?d skg:describes ?p ; skg:documentLayout "scored-profile-page" .
          OPTIONAL { ?p skg:hIndex ?h } } GROUP BY ?p }
      FILTER(?n != 1) } }
}"""


def document_graphs(store_dir: Path) -> int:
    store = KnowledgeStore.open(store_dir, read_only=True)
    try:
        return sum(1 for g in store.named_graphs() if "/document/" in g)
    finally:
        del store


def batches(tmp_path: Path) -> list[Path]:
    """The first corpus, two batches of new profiles, and later snapshots of some."""
    corpus = tmp_path / "generated"
    generate(36, corpus, seed=3)
    files = sorted(corpus.rglob("*.txt"))
    out = []
    for number, chunk in enumerate((files[:20], files[20:28], files[28:])):
        folder = tmp_path / f"batch{number}"
        folder.mkdir()
        for path in chunk:
            (folder / path.name).write_bytes(path.read_bytes())
        out.append(folder)
    later = tmp_path / "batch3"
    later.mkdir()
    for path in files[:20]:
        text = path.read_text(encoding="utf-8")
        if "h-index" in text:
            bumped = re.sub(r"^h-index([0-9]+)$", lambda m: f"h-index{int(m[1]) + 1}", text,
                            count=1, flags=re.M)
            (later / path.name).write_text(bumped, encoding="utf-8")
    out.append(later)
    return out


def ingest(work: Path, folder: Path) -> None:
    """What ``kg ingest`` does, in this process (no interpreter to start)."""
    store = KnowledgeStore.open(work)
    try:
        items = (item for path in iter_input_files([folder])
                 for item in read_documents(path, as_of=AS_OF))
        assert Ingestor(store, IriMinter()).ingest(items).ok
    finally:
        del store


def release(work: Path, rel: Path, keep: int = 3) -> str:
    return served_store.kg("release", "--store", work, "--releases", rel, "--keep",
                           str(keep)).stdout.strip()


# --- kg release ---------------------------------------------------------------------------------


def test_releases_are_copies_and_only_unused_old_ones_are_pruned(tmp_path: Path) -> None:
    work, rel = tmp_path / "work", tmp_path / "releases"
    first, second, *_ = batches(tmp_path)
    served_store.build_store(work, [first], jobs=1)
    names = [release(work, rel, keep=2)]
    assert (rel / "current").is_symlink() and os.readlink(rel / "current") == names[0]
    assert document_graphs(rel / "current") == document_graphs(work)
    with hold_release(rel / names[0]):  # a server still has the first release open
        served_store.build_store(work, [second], jobs=1)
        names += [release(work, rel, keep=2), release(work, rel, keep=2)]
        assert [p.name for _, p in releases(rel)] == names  # the first is in use: kept
    names.append(release(work, rel, keep=2))
    assert [p.name for _, p in releases(rel)] == names[-2:]
    assert current_release(rel) == (rel / names[-1]).resolve()
    assert (rel / names[-1] / IN_USE).is_file()
    assert document_graphs(rel / "current") == document_graphs(work)
    assert not [p for p in rel.iterdir() if p.name.startswith(".")]  # no staging left


def test_a_release_is_refused_while_the_working_store_is_written(tmp_path: Path) -> None:
    work = tmp_path / "work"
    writer = KnowledgeStore.open(work)  # like a running kg ingest
    try:
        proc = served_store.kg("release", "--store", work, "--releases", tmp_path / "rel",
                               check=False)
    finally:
        del writer
    assert proc.returncode == 1
    assert "is an ingest running?" in proc.stderr
    assert not (tmp_path / "rel" / "current").exists()


# --- switching while serving -------------------------------------------------------------------


@dataclass
class Answer:
    client: int
    at: float
    status: int | None
    graphs: int = -1
    described: int = -1
    bad: int = -1
    error: str = ""


def read_continuously(url: str, client: int, stop: threading.Event, answers: list[Answer],
                      deadline: float) -> None:
    target = f"{url}/sparql?query={quote(CONSISTENCY)}"
    headers = {"Accept": "application/sparql-results+json"}
    while not stop.is_set() and time.monotonic() < deadline:
        try:
            # each reader its own loopback address: one client of the fair share each
            reply = http_request(target, headers=headers, timeout=20,
                                 source=f"127.0.0.{client + 2}")
        except Exception as exc:  # noqa: BLE001 - every failure counts
            answers.append(Answer(client, time.monotonic(), None, error=repr(exc)))
            continue
        if reply.status != 200:
            answers.append(Answer(client, time.monotonic(), reply.status,
                                  error=reply.body[:300].decode("utf-8", "replace")))
            continue
        (row,) = json.loads(reply.body)["results"]["bindings"]
        answers.append(Answer(client, time.monotonic(), 200, int(row["graphs"]["value"]),
                              int(row["described"]["value"]), int(row["bad"]["value"])))


def test_new_releases_are_served_without_a_failed_request_or_a_half_release(
        tmp_path: Path) -> None:
    work, rel = tmp_path / "work", tmp_path / "releases"
    first, *later = batches(tmp_path)
    served_store.build_store(work, [first], jobs=1)
    release(work, rel)
    counts = [document_graphs(rel / "current")]
    server = served_store.start_kg_serve(rel / "current", tmp_path / "logs", workers=2,
                                         threads=8, query_workers=2, query_timeout_s=10)
    answers: list[Answer] = []
    stop = threading.Event()
    started = time.monotonic()
    readers = [threading.Thread(target=read_continuously,
                                args=(server.url, n, stop, answers, started + READING_LIMIT_S))
               for n in range(CLIENTS)]
    try:
        for reader in readers:
            reader.start()
        for batch in later:  # ingest into the working store, then publish
            ingest(work, batch)
            publish_release(work, rel)
            counts.append(document_graphs(rel / "current"))
        while time.monotonic() < started + READING_LIMIT_S:  # until every client saw the last
            final = {a.client for a in answers[-40:] if a.graphs == counts[-1]}
            if len(final) == CLIENTS:
                break
            time.sleep(0.2)
    finally:
        stop.set()
        for reader in readers:
            reader.join(timeout=30)
        health = server.request("/healthz")
        server.stop()
    assert len(set(counts)) == 4, counts  # every release added documents
    failed = [a for a in answers if a.status != 200]
    assert not failed, failed[:5]
    assert len(answers) > 20
    for answer in answers:
        assert answer.graphs == answer.described and answer.bad == 0, answer
        assert answer.graphs in counts, (answer, counts)
    for client in range(CLIENTS):
        seen = [a.graphs for a in answers if a.client == client]
        assert seen == sorted(seen), f"client {client} saw the data go back: {seen}"
        assert seen[-1] == counts[-1], f"client {client} never saw the last release: {seen}"
    assert health.status == 200
    assert served_store.log_alarms(server) == []


@pytest.mark.parametrize("keep", [1])
def test_a_served_release_is_never_pruned(tmp_path: Path, keep: int) -> None:
    """Executors hold their release: pruning keeps it until they have moved on."""
    work, rel = tmp_path / "work", tmp_path / "releases"
    first, second, *_ = batches(tmp_path)
    served_store.build_store(work, [first], jobs=1)
    served_name = release(work, rel, keep=keep)
    server = served_store.start_kg_serve(rel / "current", tmp_path / "logs", workers=1,
                                         query_workers=1)
    try:
        served_store.build_store(work, [second], jobs=1)
        proc = served_store.kg("release", "--store", work, "--releases", rel, "--keep",
                               str(keep))
        assert f"kept old release {served_name}: a process still has it open" in proc.stderr
        assert (rel / served_name).is_dir()
        assert server.request("/healthz").status == 200  # a job: executors move on
        status = json.loads(server.request("/healthz").body)
        assert status["serving"] == str((rel / proc.stdout.strip()).resolve())
        assert status["release_switches"] == 1
    finally:
        server.stop()
    release(work, rel, keep=keep)
    assert not (rel / served_name).exists()
