"""Figures computed when data is published, and entity answers computed once per release.

A release carries its statistics (``kg-stats.json``); ``/dataset`` and the generated VoID
answer from them without running a query, figures that no longer match the data are
never shown, and each representation of an entity is computed once per generation of
the served data, then dropped when a new release is served.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from flask import Flask
from rdflib import Graph, URIRef

from kg.cli import main
from kg.mapping.vocab import PREFIXES
from kg.stats import compute_stats, read_stats, stats_state, store_select, write_stats
from kg.storage.release import publish_release
from kg.storage.store import KnowledgeStore
from server import create_app
from server.pages.linked_data import entity_cache
from server.settings import Settings
from server.sparql.executor import Job, JobStream, ProcessPoolQueryService
from server.sparql.service import InProcessQueryService, Row
from tests.sample_data import ROOT
from tests.server_app import Page

EXAMPLES = ROOT / "examples" / "profiles"
MEI = "person/mei-tanaka"
PERSON = "PREFIX schema: <https://schema.org/> "


class CountingService(InProcessQueryService):
    """Queries in-process, counted (every page query goes through select/ask/construct)."""

    def __init__(self, store: KnowledgeStore) -> None:
        super().__init__(store)
        self.queries: list[str] = []

    def select(self, sparql: str, *, timeout: float | None = None) -> list[Row]:
        self.queries.append(sparql)
        return super().select(sparql, timeout=timeout)

    def ask(self, sparql: str, *, timeout: float | None = None) -> bool:
        self.queries.append(sparql)
        return super().ask(sparql, timeout=timeout)

    def construct(self, sparql: str, format_name: str, *, timeout: float | None = None) -> bytes:
        self.queries.append(sparql)
        return super().construct(sparql, format_name, timeout=timeout)


class CountingPool(ProcessPoolQueryService):
    """The real executor pool, counting the jobs it hands to executors."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self.jobs = 0

    def _run_job(self, job: Job, timeout: float | None) -> JobStream:
        self.jobs += 1
        return super()._run_job(job, timeout)


def _ingest(store: Path, *paths: Path) -> None:
    result = CliRunner().invoke(main, ["ingest", *map(str, paths), "--as-of", "2026-11-21",
                                       "--store", str(store), "--no-progress", "--jobs", "1"])
    assert result.exit_code == 0, result.output


def _count(store: KnowledgeStore, sparql: str) -> int:
    return int(next(iter(store.query(sparql).rows()))["n"][1])


@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The working store of the examples, published once: RELEASES/current."""
    base = tmp_path_factory.mktemp("published")
    _ingest(base / "work", EXAMPLES)
    publish_release(base / "work", base / "releases")
    return base / "releases" / "current"


def _without_time(figures: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in figures.items() if k != "seconds"}


# ------------------------------------------------------------------ computed at publish


def test_a_release_carries_figures_that_equal_the_data(published: Path) -> None:
    figures = read_stats(published)
    assert figures is not None and stats_state(published) == "fresh"
    store = KnowledgeStore.open(published, read_only=True)
    try:
        assert _without_time(figures) == _without_time(compute_stats(store_select(store)))
        assert figures["persons"] == _count(
            store, PERSON + "SELECT (COUNT(DISTINCT ?s) AS ?n) { ?s a schema:Person }") == 4
        assert figures["triples"] == store.count_quads(None)
        assert figures["quads"] == store.count_quads(all_graphs=True)
        assert figures["graphs"] == len(list(store.named_graphs()))
    finally:
        store.close()
    assert [row[0] for row in figures["top_persons"]][:1] == [
        max(figures["top_persons"], key=lambda r: r[3])[0]]


def test_figures_of_changed_data_are_never_shown(tmp_path: Path, published: Path) -> None:
    store_dir = tmp_path / "store"
    _ingest(store_dir, EXAMPLES)
    assert stats_state(store_dir) == "missing"
    reader = KnowledgeStore.open(store_dir, read_only=True)
    write_stats(reader, compute_stats(store_select(reader)))
    reader.close()
    assert stats_state(store_dir) == "fresh" and read_stats(store_dir) is not None
    writer = KnowledgeStore.open(store_dir)  # e.g. a kg ingest into it
    writer.update(PERSON + "INSERT DATA { <http://example.org/new> a schema:Person }")
    writer.close()
    assert read_stats(store_dir) is None and stats_state(store_dir) == "stale"
    result = CliRunner().invoke(main, ["stats", "--store", str(store_dir)])
    assert result.exit_code == 0
    assert "persons\t5" in result.output  # computed from the data, not the file's 4
    assert "computed now (published figures stale)" in result.output
    published_run = CliRunner().invoke(main, ["stats", "--store", str(published)])
    assert "persons\t4" in published_run.output
    assert "published with the data" in published_run.output


def test_the_dataset_page_and_void_run_no_query(published: Path, tmp_path: Path) -> None:
    service = CountingService(KnowledgeStore.open(published, read_only=True))
    app = create_app(service=service, exports_dir=str(tmp_path / "no-exports"))
    client = app.test_client()
    figures = read_stats(published)
    assert figures is not None
    for _ in range(3):
        page = client.get("/dataset")
        assert page.status_code == 200
        doc = Page(page.get_data(as_text=True))
        shown = {e.attrs["data-count"]: int(e.text) for e in doc.find_all("dd")
                 if "data-count" in e.attrs}
        assert shown == {"persons": 4, "papers": figures["papers"],
                         "triples": figures["triples"], "graphs": figures["graphs"],
                         "quads": figures["named_quads"]}
        void = client.get("/.well-known/void", headers={"Accept": "text/turtle"})
        assert void.status_code == 200
    assert service.queries == []
    graph = Graph().parse(data=void.get_data(as_text=True), format="turtle")
    triples = {int(o) for o in graph.objects(None, URIRef(PREFIXES["void"] + "triples"))}
    assert triples == {figures["triples"]}


def test_without_published_figures_the_page_computes_them(tmp_path: Path) -> None:
    _ingest(tmp_path / "work", EXAMPLES)  # a working store: no figures with it
    service = CountingService(KnowledgeStore.open(tmp_path / "work", read_only=True))
    client = create_app(service=service, exports_dir=str(tmp_path)).test_client()
    assert client.get("/dataset").status_code == 200
    assert len(service.queries) >= 10  # the whole-store aggregations


# ----------------------------------------------------------------- the pool, per generation


@pytest.fixture
def pool_app(published: Path) -> Iterator[tuple[Flask, CountingPool]]:
    settings = Settings(store=str(published), query_workers=1, exports_dir="/nonexistent",
                        result_cache_mb=0)  # every query reaches an executor
    pool = CountingPool(settings)
    app = create_app(settings, service=pool)
    try:
        yield app, pool
    finally:
        pool.close()


def test_dataset_requests_cost_no_executor_job(pool_app: tuple[Flask, CountingPool]) -> None:
    app, pool = pool_app
    client = app.test_client()
    timings = []
    for _ in range(5):
        started = time.perf_counter()
        assert client.get("/dataset").status_code == 200
        timings.append(time.perf_counter() - started)
    assert pool.jobs == 0, "the dataset page ran queries"
    assert sorted(timings)[2] < 0.5  # the median; the target (50 ms) is measured elsewhere


def test_the_service_description_counts_come_from_the_release(
        pool_app: tuple[Flask, CountingPool], published: Path) -> None:
    """GET /sparql without a query: the void:triples of a release are its published
    figures, and describing it runs no executor job (at 100,000 profiles counting the
    quads took longer than the 5 s the description allows, on every request)."""
    app, pool = pool_app
    client = app.test_client()
    figures = read_stats(published)
    assert figures is not None
    for _ in range(3):
        answer = client.get("/sparql", headers={"Accept": "text/turtle"})
        assert answer.status_code == 200
    assert pool.jobs == 0, "the service description ran a job"
    graph = Graph().parse(data=answer.get_data(as_text=True), format="turtle")
    counts = {int(o) for o in graph.objects(None, URIRef(PREFIXES["void"] + "triples"))}
    assert counts == {figures["quads"], figures["triples"]}


def test_a_store_too_big_to_count_is_described_without_counts_once(tmp_path: Path) -> None:
    _ingest(tmp_path / "work", EXAMPLES)  # no published figures: counted by an executor
    settings = Settings(store=str(tmp_path / "work"), query_workers=1, query_timeout_s=0.001,
                        exports_dir=str(tmp_path), result_cache_mb=0)
    pool = CountingPool(settings)
    try:
        client = create_app(settings, service=pool).test_client()
        for _ in range(3):
            answer = client.get("/sparql", headers={"Accept": "text/turtle"})
            assert answer.status_code == 200
            assert "void#triples" not in answer.get_data(as_text=True)
        assert pool.jobs == 1, "the count was tried again"
    finally:
        pool.close()


def test_entity_answers_are_computed_once_per_generation(
        pool_app: tuple[Flask, CountingPool]) -> None:
    app, pool = pool_app
    client = app.test_client()
    first = {}
    for extension in ("html", "ttl", "jsonld"):
        before = pool.jobs
        answer = client.get(f"/id/{MEI}.{extension}")
        assert answer.status_code == 200
        assert pool.jobs > before  # computed: the pool ran its queries
        first[extension] = answer.get_data()
    negotiated = client.get(f"/id/{MEI}", headers={"Accept": "text/html"})
    assert negotiated.status_code == 200
    jobs = pool.jobs
    for _ in range(3):
        for extension, body in first.items():
            assert client.get(f"/id/{MEI}.{extension}").get_data() == body
    assert client.get(f"/id/{MEI}", headers={"Accept": "text/turtle"}).get_data() == first["ttl"]
    assert pool.jobs == jobs, "a repeated entity answer ran queries again"
    cache = entity_cache(app)
    assert cache is not None and len(cache) >= 4


def test_a_new_release_drops_the_entity_answers(tmp_path: Path) -> None:
    work, releases = tmp_path / "work", tmp_path / "releases"
    _ingest(work, EXAMPLES)
    publish_release(work, releases)
    settings = Settings(store=str(releases / "current"), query_workers=1, result_cache_mb=0)
    pool = CountingPool(settings)
    app = create_app(settings, service=pool)
    client = app.test_client()
    rename = (f'PREFIX schema: <https://schema.org/> INSERT DATA {{ '
              f'<https://w3id.org/scholarkg/id/{MEI}> schema:alternateName "Renamed In Test" }}')
    try:
        before = client.get(f"/id/{MEI}.ttl").get_data()
        assert b"Renamed In Test" not in before
        writer = KnowledgeStore.open(work)
        writer.update(rename)
        writer.close()
        publish_release(work, releases)
        jobs = pool.jobs
        after = client.get(f"/id/{MEI}.ttl").get_data()
        assert b"Renamed In Test" in after and pool.jobs > jobs
        html = client.get(f"/id/{MEI}.html").get_data(as_text=True)
        assert "Renamed In Test" in html
        figures = read_stats(os.path.realpath(releases / "current"))
        assert figures is not None and figures["triples"] == int(
            pool.select("SELECT (COUNT(*) AS ?n) { ?s ?p ?o }")[0]["n"][1])
    finally:
        pool.close()


def test_the_entity_cache_stays_within_its_budget(
        pool_app: tuple[Flask, CountingPool]) -> None:
    app, pool = pool_app
    client = app.test_client()
    base = "https://w3id.org/scholarkg/id/"
    paths = ["/id/" + row["s"][1].removeprefix(base) + ".nt" for row in pool.select(
        f"SELECT DISTINCT ?s {{ ?s ?p ?o FILTER(STRSTARTS(STR(?s), '{base}')) }} ORDER BY ?s")]
    assert len(paths) > 40
    cache = entity_cache(app)
    assert cache is not None
    cache.max_bytes = 20_000  # room for a few answers only
    for path in paths:
        assert client.get(path).status_code == 200
        assert cache.size <= cache.max_bytes
    assert 0 < len(cache) < len(paths)
    jobs = pool.jobs
    client.get(paths[-1])  # recently used: still kept
    assert pool.jobs == jobs
    client.get(paths[0])  # least recently used: gone, computed again
    assert pool.jobs > jobs


def test_an_update_drops_the_entity_answers(tmp_path: Path) -> None:
    _ingest(tmp_path / "work", EXAMPLES)
    settings = Settings(store=str(tmp_path / "work"), update_token="t", result_cache_mb=0)
    pool = CountingPool(settings)
    client = create_app(settings, service=pool).test_client()
    def triples() -> int:
        doc = Page(client.get("/dataset").get_data(as_text=True))
        return next(int(e.text) for e in doc.find_all("dd")
                    if e.attrs.get("data-count") == "triples")

    try:
        before = client.get(f"/id/{MEI}.ttl").get_data()
        assert client.get(f"/id/{MEI}.ttl").get_data() == before
        triples_before = triples()
        update = client.post("/sparql", headers={"Authorization": "Bearer t"}, data={
            "update": f'INSERT DATA {{ <https://w3id.org/scholarkg/id/{MEI}> '
                      f'<https://schema.org/alternateName> "Updated In Test" }}'})
        assert update.status_code in (200, 204), update.get_data(as_text=True)
        after = client.get(f"/id/{MEI}.ttl").get_data()
        assert b"Updated In Test" in after and b"Updated In Test" not in before
        assert triples() == triples_before + 1  # figures of the new generation
    finally:
        pool.close()
