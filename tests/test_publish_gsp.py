"""``kg publish`` into engines loaded over the Graph Store Protocol: two ``oxigraph serve``.

Release A (the sample profiles and identified records, built as in
tests/test_remote_engine.py) is published into blue and served by ``kg serve
--engine-release``; release B (the sample profiles alone, a later as-of) is published into
green, and the pointer and the server follow. Each slot answers the data model contract's
queries exactly as the embedded store of its release. Loads that fail (a request the engine
refuses midway, a store URL answering 404, an engine that is down, a short count) leave
the pointer, and the slot it names, as they were.
"""

from __future__ import annotations

import gzip
import json
import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from click.testing import CliRunner

from kg.cli import main
from kg.storage.engine import EngineSettings
from kg.storage.publish import PublishError, publish_gsp, read_slots
from kg.storage.remote_engine import RemoteEngine
from kg.storage.store import KnowledgeStore
from tests.engine_fixtures import CLIENT_TIMEOUT_S, OXIGRAPH, OxigraphServe, start_oxigraph_serve
from tests.sample_data import EXAMPLES
from tests.server_fixtures import ServerProcess, free_port, start_server
from tests.test_remote_engine import (  # noqa: F401 - module fixtures shared with that module
    CONTRACT_QUERIES,
    PROLOGUE,
    Release,
    build_release,
    embedded,
    release,
)

#: small requests, so that the sample's graphs go in several requests each
CHUNK_BYTES = 4096


@pytest.fixture(scope="module")
def release_b(tmp_path_factory: pytest.TempPathFactory) -> Release:
    """The sample profiles alone, captured later: another release with other quads."""
    return build_release(tmp_path_factory.mktemp("release-b"), [EXAMPLES], "2026-12-01")


@pytest.fixture(scope="module")
def engines(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, OxigraphServe]]:
    """Two empty ``oxigraph serve``, blue and green."""
    if not OXIGRAPH.is_file():
        pytest.fail(f"the oxigraph server ({OXIGRAPH}) is not installed: pip install -e '.[test]'")
    tmp = tmp_path_factory.mktemp("gsp-slots")
    started: dict[str, OxigraphServe] = {}
    try:
        for name in ("blue", "green"):
            started[name] = start_oxigraph_serve(tmp / name, tmp)
        yield started
    finally:
        for server in started.values():
            server.process.stop()


def _slot(server: OxigraphServe, **changes: str) -> dict[str, str]:
    return {"kind": "gsp", "query_url": f"{server.base}/query",
            "update_url": f"{server.base}/update", "store_url": f"{server.base}/store",
            **changes}


def _slots_file(path: Path, blue: dict[str, str], green: dict[str, str]) -> Path:
    path.write_text(json.dumps({"blue": blue, "green": green}), encoding="utf-8")
    return path


def _reader(pointer: Path) -> RemoteEngine:
    return RemoteEngine(EngineSettings.from_sources(
        env={"KG_ENGINE_RELEASE": str(pointer), "KG_ENGINE_TIMEOUT_S": str(CLIENT_TIMEOUT_S)}))


def _answers_as_embedded(pointer: Path, store: KnowledgeStore) -> None:
    with _reader(pointer) as engine:
        assert engine.count_quads(all_graphs=True) == store.count_quads(all_graphs=True)
        assert engine.count_quads(None) == store.count_quads(None)
        assert sorted(engine.named_graphs()) == sorted(store.named_graphs())
        for name, query in CONTRACT_QUERIES.items():
            expected = list(store.query(PROLOGUE + query).rows())
            assert list(engine.query(PROLOGUE + query).rows()) == expected, name


def _served_release(server: ServerProcess) -> str:
    """The release the server answers from: each answer names it in KG-Release, as
    /healthz does."""
    answer = server.request("/sparql?query=" + quote("ASK { ?s ?p ?o }"),
                            headers={"Accept": "application/sparql-results+json"})
    assert answer.status == 200, answer.body[:300]
    assert json.loads(answer.body)["boolean"] is True
    name = str(json.loads(server.request("/healthz").body)["release"])
    assert answer.header("KG-Release") == name  # what a client behind a balancer reads
    return name


def test_blue_green_over_the_graph_store_protocol(
        release: Release, release_b: Release, embedded: KnowledgeStore,  # noqa: F811
        engines: dict[str, OxigraphServe], tmp_path: Path) -> None:
    slots = _slots_file(tmp_path / "slots.json", _slot(engines["blue"]), _slot(engines["green"]))
    pointer = tmp_path / "current.json"
    # the CLI, release A into blue (no password: the slots name no user)
    done = CliRunner().invoke(main, ["publish", str(release.nquads), "--slots", str(slots),
                                     "--pointer", str(pointer), "--engine", "gsp"],
                              env={"KG_ENGINE_PASSWORD": ""})
    assert done.exit_code == 0, done.output
    assert done.stdout.strip() == "blue"
    assert "requests" in done.stderr and "points at it" in done.stderr
    first = json.loads(pointer.read_text(encoding="utf-8"))
    assert (first["release"], first["slot"], first["dialect"], first["default_graph"]) == (
        "2026-11-21", "blue", "standard", "")
    assert first["quads"] == embedded.count_quads(all_graphs=True)
    _answers_as_embedded(pointer, embedded)

    server = start_server(tmp_path / "no-store", tmp_path, engine_release=pointer, workers=1,
                          threads=2, engine_timeout_s=CLIENT_TIMEOUT_S)
    try:
        assert _served_release(server) == "2026-11-21"
        # release B into green, in small requests and sorted in runs on disk: the pointer,
        # and the server, follow
        store_b = KnowledgeStore.open(release_b.store, read_only=True)
        made = publish_gsp(release_b.nquads, read_slots(slots), pointer, chunk_bytes=CHUNK_BYTES,
                           sort_budget=64 << 10)
        assert (made.release, made.slot) == ("2026-12-01", "green")
        graphs = len(list(store_b.named_graphs())) + 1
        assert made.requests > graphs, "the graphs were not sent in several requests"
        second = json.loads(pointer.read_text(encoding="utf-8"))
        assert (second["release"], second["slot"], second["query_url"]) == (
            "2026-12-01", "green", f"{engines['green'].base}/query")
        assert second["quads"] == made.quads == store_b.count_quads(all_graphs=True)
        assert made.quads != first["quads"], "the two releases must differ"
        _answers_as_embedded(pointer, store_b)
        assert _served_release(server) == "2026-12-01"
        # blue, no longer serving, still holds A; the next publish empties it and loads B
        blue = tmp_path / "blue.json"
        blue.write_text(json.dumps(first), encoding="utf-8")
        _answers_as_embedded(blue, embedded)
        again = publish_gsp(release_b.nquads, read_slots(slots), pointer)
        assert (again.slot, again.quads) == ("blue", made.quads)
        _answers_as_embedded(pointer, store_b)
        health = json.loads(server.request("/healthz").body)
        assert (health["release"], health["store"]) == ("2026-12-01", first["query_url"])
    finally:
        server.stop()


def _published_into_blue(release: Release, slots: Path, pointer: Path) -> bytes:  # noqa: F811
    publish_gsp(release.nquads, read_slots(slots), pointer)
    assert json.loads(pointer.read_text(encoding="utf-8"))["slot"] == "blue"
    return pointer.read_bytes()


def _still_serving(pointer: Path, before: bytes, store: KnowledgeStore) -> None:
    assert pointer.read_bytes() == before
    with _reader(pointer) as engine:
        assert engine.count_quads(all_graphs=True) == store.count_quads(all_graphs=True)


def test_a_request_refused_midway_leaves_the_current_release(
        release: Release, embedded: KnowledgeStore,  # noqa: F811
        engines: dict[str, OxigraphServe], tmp_path: Path) -> None:
    slots = _slots_file(tmp_path / "slots.json", _slot(engines["blue"]), _slot(engines["green"]))
    pointer = tmp_path / "current.json"
    before = _published_into_blue(release, slots, pointer)
    # a triple the engine refuses (a relative IRI), in a graph sorted after the others
    graph = "urn:zz:last-graph"
    bad = tmp_path / "scholarkg-2026-12-02.nq.gz"
    with gzip.open(release.nquads, "rb") as src:
        lines = src.read()
    bad.write_bytes(gzip.compress(lines + f'<relative> <http://ex.org/p> "x" <{graph}> .\n'.encode()))
    with pytest.raises(PublishError, match=f"request 1 of <{graph}>.*failed.*rejected") as failed:
        publish_gsp(bad, read_slots(slots), pointer, chunk_bytes=CHUNK_BYTES)
    assert "slot green" in str(failed.value)
    _still_serving(pointer, before, embedded)


def test_a_store_url_answering_404_leaves_the_current_release(
        release: Release, embedded: KnowledgeStore,  # noqa: F811
        engines: dict[str, OxigraphServe], tmp_path: Path) -> None:
    green = _slot(engines["green"], store_url=f"{engines['green'].base}/no-such-store")
    slots = _slots_file(tmp_path / "slots.json", _slot(engines["blue"]), green)
    pointer = tmp_path / "current.json"
    before = _published_into_blue(release, slots, pointer)
    renamed = tmp_path / "scholarkg-2026-12-03.nq.gz"
    renamed.write_bytes(release.nquads.read_bytes())
    result = CliRunner().invoke(main, ["publish", str(renamed), "--slots", str(slots),
                                       "--pointer", str(pointer)])
    assert result.exit_code == 1
    assert "slot green: request 1 of " in result.output and "(404)" in result.output
    assert "the current release still serves" in result.output
    _still_serving(pointer, before, embedded)


def test_an_engine_that_is_down_leaves_the_current_release(
        release: Release, embedded: KnowledgeStore,  # noqa: F811
        engines: dict[str, OxigraphServe], tmp_path: Path) -> None:
    down = f"http://127.0.0.1:{free_port()}"
    green = {"kind": "gsp", "query_url": f"{down}/query", "update_url": f"{down}/update",
             "store_url": f"{down}/store"}
    slots = _slots_file(tmp_path / "slots.json", _slot(engines["blue"]), green)
    pointer = tmp_path / "current.json"
    before = _published_into_blue(release, slots, pointer)
    renamed = tmp_path / "scholarkg-2026-12-04.nq.gz"
    renamed.write_bytes(release.nquads.read_bytes())
    with pytest.raises(PublishError, match="slot green could not be emptied.*cannot be reached"):
        publish_gsp(renamed, read_slots(slots), pointer)
    _still_serving(pointer, before, embedded)


def test_a_short_count_is_not_published(
        release: Release, embedded: KnowledgeStore,  # noqa: F811
        engines: dict[str, OxigraphServe], tmp_path: Path) -> None:
    slots = _slots_file(tmp_path / "slots.json", _slot(engines["blue"]), _slot(engines["green"]))
    pointer = tmp_path / "current.json"
    before = _published_into_blue(release, slots, pointer)
    # a statement twice: the file says one quad more than the engine can hold
    with gzip.open(release.nquads, "rb") as src:
        lines = src.read().splitlines(keepends=True)
    doubled = tmp_path / "scholarkg-2026-12-05.nq.gz"
    doubled.write_bytes(gzip.compress(b"".join([lines[0], *lines])))
    quads = embedded.count_quads(all_graphs=True)
    with pytest.raises(PublishError, match=f"holds {quads} quads after the load, the release "
                                           f"{quads + 1}: not published"):
        publish_gsp(doubled, read_slots(slots), pointer)
    _still_serving(pointer, before, embedded)


def test_a_release_the_engine_cannot_take_is_refused_before_anything_changes(
        release: Release, engines: dict[str, OxigraphServe], tmp_path: Path) -> None:  # noqa: F811
    slots = _slots_file(tmp_path / "slots.json", _slot(engines["blue"]), _slot(engines["green"]))
    pointer = tmp_path / "current.json"
    before = _published_into_blue(release, slots, pointer)
    green = {"kind": "gsp", "query_url": f"{engines['green'].base}/query"}
    with _reader_of(green) as engine:
        held = engine.count_quads(all_graphs=True)
    for number, text in ((2, b'<http://ex.org/a> <http://ex.org/p> _:b1 .\n'),
                         (2, b'<http://ex.org/a> <http://ex.org/p> .\n')):
        bad = tmp_path / "scholarkg-2026-12-06.nq.gz"
        bad.write_bytes(gzip.compress(b'<http://ex.org/a> <http://ex.org/p> "x" .\n' + text))
        with pytest.raises(PublishError, match=f"scholarkg-2026-12-06.nq.gz, line {number}: "):
            publish_gsp(bad, read_slots(slots), pointer)
        assert pointer.read_bytes() == before
        with _reader_of(green) as engine:  # the idle slot was not even emptied
            assert engine.count_quads(all_graphs=True) == held


def _reader_of(slot: dict[str, str]) -> RemoteEngine:
    return RemoteEngine(EngineSettings(engine="remote", query_url=slot["query_url"],
                                       timeout_s=CLIENT_TIMEOUT_S))


def test_slots_files_are_checked(tmp_path: Path) -> None:
    good = {"kind": "gsp", "query_url": "http://127.0.0.1:1/query",
            "store_url": "http://127.0.0.1:1/store"}
    cases = [
        ({"query_url": "http://127.0.0.1:1/query", "store_url": "x"}, '"kind" must be'),
        ({"kind": "gsp", "query_url": "http://127.0.0.1:1/query"}, "(gsp) lacks store_url"),
        ({**good, "store_uri": "x"}, "unknown keys store_uri"),
        ({**good, "user": 7}, "user must be text"),
        ({"kind": "qlever", "query_url": "x"}, "got 'qlever'"),
    ]
    for spec, message in cases:
        path = _slots_file(tmp_path / "slots.json", good, spec)
        with pytest.raises(PublishError, match=re.escape(message)):
            read_slots(path)
    # a Virtuoso slot is still one without a kind; the kinds mix
    virtuoso = {"isql": "127.0.0.1:1111", "query_url": "http://127.0.0.1:1/sparql",
                "load_dir": str(tmp_path)}
    slots = read_slots(_slots_file(tmp_path / "slots.json", virtuoso, good))
    assert (slots["blue"].kind, slots["green"].kind) == ("virtuoso", "gsp")
    # a gsp slot naming a user needs its password; --engine must match the idle slot
    path = _slots_file(tmp_path / "slots.json", {**good, "user": "kg"}, good)
    args = ["publish", str(tmp_path / "scholarkg-r1.nq.gz"), "--slots", str(path),
            "--pointer", str(tmp_path / "current.json")]
    (tmp_path / "scholarkg-r1.nq.gz").write_bytes(gzip.compress(b""))
    result = CliRunner().invoke(main, args, env={"KG_ENGINE_PASSWORD": ""})
    assert result.exit_code == 2 and "KG_ENGINE_PASSWORD" in result.output
    result = CliRunner().invoke(main, [*args, "--engine", "virtuoso"],
                                env={"KG_ENGINE_PASSWORD": "x"})
    assert result.exit_code == 2 and "is a gsp slot" in result.output


def test_a_slot_default_graph_takes_the_release_default_graph(
        release: Release, embedded: KnowledgeStore,  # noqa: F811
        engines: dict[str, OxigraphServe], tmp_path: Path) -> None:
    """For an engine whose default graph is the union of all: the release's default graph
    goes into a graph of its own, which the pointer names for readers."""
    graph = "urn:scholarkg:default-graph"
    green = _slot(engines["green"], default_graph=graph)
    slots = _slots_file(tmp_path / "slots.json", _slot(engines["blue"]), green)
    pointer = tmp_path / "current.json"
    _published_into_blue(release, slots, pointer)
    renamed = tmp_path / "scholarkg-2026-12-07.nq.gz"
    renamed.write_bytes(release.nquads.read_bytes())
    done = publish_gsp(renamed, read_slots(slots), pointer)
    assert (done.slot, done.quads) == ("green", embedded.count_quads(all_graphs=True))
    assert json.loads(pointer.read_text(encoding="utf-8"))["default_graph"] == graph
    with _reader_of(green) as engine:  # the engine as it is, without the pointer's mapping
        assert engine.count_quads(graph) == embedded.count_quads(None) > 0
        assert engine.count_quads(None) == 0


def test_without_an_update_url_the_slot_is_emptied_graph_by_graph(
        release: Release, release_b: Release,  # noqa: F811
        engines: dict[str, OxigraphServe], tmp_path: Path) -> None:
    green = {k: v for k, v in _slot(engines["green"]).items() if k != "update_url"}
    slots = _slots_file(tmp_path / "slots.json", _slot(engines["blue"]), green)
    pointer = tmp_path / "current.json"
    _published_into_blue(release, slots, pointer)
    with RemoteEngine(EngineSettings(engine="remote", query_url=green["query_url"],
                                     store_url=green["store_url"],
                                     timeout_s=CLIENT_TIMEOUT_S)) as engine:
        engine.load_graph(b"<http://ex.org/a> <http://ex.org/p> \"1\" .", "ntriples",
                          "http://ex.org/left-over", replace=True)
        engine.load_graph(b"<http://ex.org/a> <http://ex.org/p> \"2\" .", "ntriples", None,
                          replace=False)
    done = publish_gsp(release_b.nquads, read_slots(slots), pointer)
    assert done.slot == "green"
    _answers_as_embedded(pointer, KnowledgeStore.open(release_b.store, read_only=True))
