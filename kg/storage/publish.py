"""Publishing a release into a remote engine, blue/green (docs/decisions/0010, item 6 and
the addendum on the Graph Store Protocol).

Two engine instances ("slots") take turns: a release is loaded into the slot that does not
serve, checked, and only then named in the release pointer (``current.json``, replaced
atomically) that readers follow (``KG_ENGINE_RELEASE``). A failed or short load leaves the
pointer, and so the serving release, as it was.

The slots file (JSON) names each instance and how it is loaded (``kind``)::

    {"blue":  {"kind": "virtuoso", "isql": "127.0.0.1:1111",
               "query_url": "http://127.0.0.1:8890/sparql", "update_url": "...",
               "store_url": "...", "load_dir": "/srv/releases"},
     "green": {"kind": "gsp", "query_url": "http://127.0.0.1:7878/query",
               "update_url": "http://127.0.0.1:7878/update",
               "store_url": "http://127.0.0.1:7878/store"}}

- ``virtuoso`` (the kind when ``isql`` is given): Virtuoso's bulk loader through ``isql``.
  ``load_dir`` is a directory in the instance's ``DirsAllowed`` on its own machine: the
  bulk loader reads the release file from there.
- ``gsp``: any SPARQL 1.1 engine, loaded over the Graph Store Protocol: emptied with
  ``DROP ALL`` (through ``update_url``; without one, graph by graph with ``DELETE`` on
  ``store_url``), then every graph POSTed in N-Triples requests of bounded size.
  Optional: ``default_graph``, the graph that takes the release's default graph on an
  engine whose default graph is the union of all graphs (empty, the default: the
  engine's default graph is kg's, as on ``oxigraph serve`` and Fuseki's TDB2), and
  ``user`` (its password: ``KG_ENGINE_PASSWORD``).

>>> release_name(Path("exports/scholarkg-2026-11-21.nq.gz"))
'2026-11-21'
>>> split_quad(b'<http://s> <http://p> "a <b> ."@en <http://g> .')
(b'<http://g>', b'<http://s> <http://p> "a <b> ."@en .\\n')
>>> split_quad(b'<http://s> <http://p> <http://o> .')
(None, b'<http://s> <http://p> <http://o> .\\n')
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
import zlib
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from kg.errors import KgError, StoreError
from kg.output.sorting import LineSorter, line_blocks
from kg.storage.engine import DEFAULT_GRAPH_IRI, EngineSettings
from kg.storage.remote_engine import RemoteEngine, virtuoso_group

_RELEASE_FILE = re.compile(r"^scholarkg-(?P<release>[A-Za-z0-9._-]+)\.nq\.gz$")
_SLOT_KEYS = ("isql", "query_url", "update_url", "store_url", "load_dir")
_GSP_KEYS = ("query_url", "update_url", "store_url", "default_graph", "user")
#: the keys each kind of slot requires, and the ones it may have
_KINDS = {"virtuoso": (("isql", "query_url", "load_dir"), _SLOT_KEYS),
          "gsp": (("query_url", "store_url"), _GSP_KEYS)}
#: most bytes of N-Triples in one Graph Store Protocol request
CHUNK_BYTES = 8 << 20
#: bytes of lines the sort by graph holds in memory before it spills a run to disk
SORT_BUDGET = 128 << 20
#: seconds between two progress lines of a Graph Store Protocol load
PROGRESS_EVERY_S = 10.0

# one N-Quads statement: subject, predicate, object, optional graph (N-Quads 1.1 terms)
_TERM = (rb'<[^<>"\s]*>|_:[^\s<>"]+'
         rb'|"(?:[^"\\\n\r]|\\.)*"(?:@[A-Za-z]+(?:-[A-Za-z0-9]+)*|\^\^<[^<>"\s]*>)?')
_QUAD = re.compile(rb"(" + _TERM + rb")\s*(" + _TERM + rb")\s*(" + _TERM + rb")"
                   rb"(?:\s*(<[^<>\"\s]*>|_:[^\s<>\"]+))?\s*\.\s*(?:#.*)?")


class PublishError(KgError):
    """A release could not be published; the current release still serves."""


@dataclass(frozen=True)
class VirtuosoSlot:
    name: str
    isql: str
    query_url: str
    load_dir: str
    update_url: str = ""
    store_url: str = ""
    kind: str = "virtuoso"


@dataclass(frozen=True)
class GspSlot:
    """A SPARQL 1.1 engine loaded over the Graph Store Protocol."""

    name: str
    query_url: str
    store_url: str
    update_url: str = ""
    default_graph: str = ""
    user: str = ""
    kind: str = "gsp"


Slot = VirtuosoSlot | GspSlot


@dataclass(frozen=True)
class Published:
    release: str
    slot: str
    quads: int
    seconds: float
    quads_per_s: float
    requests: int = 0  # Graph Store Protocol requests that loaded it (gsp slots)


def release_name(path: Path) -> str:
    """The release of a ``scholarkg-<release>.nq.gz`` file, as ``kg export`` names it."""
    match = _RELEASE_FILE.match(path.name)
    if match is None:
        raise PublishError(f"{path}: expected a file named scholarkg-<release>.nq.gz, "
                           f"as 'kg export' writes")
    return match.group("release")


def read_slots(path: str | os.PathLike[str]) -> dict[str, Slot]:
    """The engine instances of a slots file (JSON), at least two.

    A slot's ``kind`` is ``virtuoso`` or ``gsp``; without one, a slot naming ``isql`` is
    a Virtuoso slot, and any other is refused (a forgotten ``isql`` must not turn a
    Virtuoso slot into one loaded request by request).
    """
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise PublishError(f"cannot read the slots file {path}: {exc}") from exc
    if not isinstance(data, dict) or len(data) < 2:
        raise PublishError(f"{path}: expected an object naming two slots (blue/green)")
    slots: dict[str, Slot] = {}
    for name, spec in data.items():
        if not isinstance(spec, dict):
            raise PublishError(f"{path}: slot {name!r} is not an object")
        kind = spec.get("kind", "virtuoso" if "isql" in spec else None)
        if kind not in _KINDS:
            raise PublishError(f"{path}: slot {name!r}: \"kind\" must be \"virtuoso\" or "
                               f"\"gsp\" (got {kind!r}; without it, \"isql\" names a "
                               f"Virtuoso slot)")
        required, allowed = _KINDS[kind]
        missing = [k for k in required if not isinstance(spec.get(k), str) or not spec[k]]
        if missing:
            raise PublishError(f"{path}: slot {name!r} ({kind}) lacks {', '.join(missing)}")
        unknown = sorted(set(spec) - set(allowed) - {"kind"})
        if unknown:
            raise PublishError(f"{path}: slot {name!r} ({kind}) has unknown keys "
                               f"{', '.join(unknown)} (known: {', '.join(allowed)})")
        wrong = [k for k in allowed if k in spec and not isinstance(spec[k], str)]
        if wrong:
            raise PublishError(f"{path}: slot {name!r}: {', '.join(wrong)} must be text")
        values = {k: spec[k] for k in allowed if k in spec}
        slots[name] = VirtuosoSlot(name, **values) if kind == "virtuoso" \
            else GspSlot(name, **values)
    return slots


def count_quads_in_file(path: Path) -> int:
    """The statements of a gzip'd N-Quads file (lines that are not blank or comments)."""
    count = 0
    with gzip.open(path, "rb") as lines:
        for line in lines:
            stripped = line.strip()
            if stripped and not stripped.startswith(b"#"):
                count += 1
    return count


def _isql(slot: VirtuosoSlot, user: str, password: str, script: str, *, isql: str,
          timeout_s: float) -> str:
    """Run SQL through Virtuoso's ``isql``; an error in any statement is a PublishError."""
    command = [isql, slot.isql, user, password, "VERBOSE=OFF", "BANNER=OFF", "PROMPT=OFF",
               "ECHO=OFF", "ERRORS=STDOUT"]
    try:
        done = subprocess.run(command, input=script, capture_output=True, text=True,
                              timeout=timeout_s, check=False)
    except FileNotFoundError as exc:
        raise PublishError(f"Virtuoso's isql ({isql}) is not installed") from exc
    except subprocess.TimeoutExpired as exc:
        raise PublishError(f"isql on {slot.isql} did not finish within {timeout_s:g} s") from exc
    output = done.stdout + done.stderr
    if done.returncode != 0 or "*** Error" in output:
        raise PublishError(f"isql on slot {slot.name} ({slot.isql}) failed: "
                           f"{output.strip()[-1000:]}")
    return output


def _sql_string(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _write_pointer(pointer: Path, content: Mapping[str, Any]) -> None:
    """Replace the pointer atomically: readers see the old file or the new one."""
    pointer.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=pointer.parent, prefix=".current-", suffix=".json")
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        json.dump(content, out, indent=2, sort_keys=True)
        out.write("\n")
        out.flush()
        os.fsync(out.fileno())
    os.replace(tmp, pointer)


def current_slot(pointer: Path) -> str | None:
    if not pointer.exists():
        return None
    try:
        return str(json.loads(pointer.read_text(encoding="utf-8"))["slot"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise PublishError(f"the release pointer {pointer} cannot be read: {exc}") from exc


def idle_slot(slots: Mapping[str, Slot], pointer: Path) -> Slot:
    """The slot a release is loaded into: the first one the pointer does not name."""
    serving = current_slot(pointer)
    idle = [name for name in slots if name != serving]
    if not idle:
        raise PublishError(f"no slot other than the serving one ({serving}) to load into")
    return slots[idle[0]]


def publish(release_file: Path, slots: Mapping[str, Slot], pointer: Path, *,
            user: str = "dba", password: str = "", isql: str = "isql-vt",
            progress: Callable[[str], None] | None = None) -> Published:
    """Publish into the slot that does not serve, as its kind loads: :func:`publish_virtuoso`
    (``user``/``password`` for isql) or :func:`publish_gsp` (the slot's ``user``,
    ``password``)."""
    slot = idle_slot(slots, pointer)
    if isinstance(slot, GspSlot):
        return publish_gsp(release_file, slots, pointer, password=password, progress=progress)
    return publish_virtuoso(release_file, slots, pointer, user=user, password=password,
                            isql=isql)


def publish_virtuoso(release_file: Path, slots: Mapping[str, Slot], pointer: Path, *,
                     user: str = "dba", password: str = "dba", isql: str = "isql-vt",
                     default_graph: str = DEFAULT_GRAPH_IRI, timeout_s: float = 3600.0,
                     query_timeout_s: float = 60.0) -> Published:
    """Load a release into the slot that does not serve, check it, then point readers at it.

    Load: the slot's quad store is emptied (``RDF_GLOBAL_RESET``), the file registered with
    ``ld_add`` (quads without a graph go to ``default_graph``), ``rdf_loader_run()``,
    ``checkpoint``. Check: the loader recorded no error, and the slot answers, over SPARQL
    as readers will ask, with exactly the file's number of quads.
    """
    release = release_name(release_file)
    slot = idle_slot(slots, pointer)
    if not isinstance(slot, VirtuosoSlot):
        raise PublishError(f"slot {slot.name} is a {slot.kind} slot, not a Virtuoso one")
    expected = count_quads_in_file(release_file)

    load_dir = Path(slot.load_dir)
    staged = load_dir / release_file.name
    if release_file.resolve() != staged.resolve():
        load_dir.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(release_file, staged)
    group = virtuoso_group(default_graph)
    script = "\n".join([
        "RDF_GLOBAL_RESET();",
        "DELETE FROM DB.DBA.load_list;",
        f"DB.DBA.RDF_GRAPH_GROUP_CREATE({_sql_string(group)}, 1);",
        f"DB.DBA.RDF_GRAPH_GROUP_INS({_sql_string(group)}, {_sql_string(default_graph)});",
        f"ld_add({_sql_string(str(staged.resolve()))}, {_sql_string(default_graph)});",
        "rdf_loader_run();",
        "checkpoint;",
        "SELECT 'LOADSTATE', ll_state, ll_error FROM DB.DBA.load_list;",
        "",
    ])
    started = time.monotonic()
    output = _isql(slot, user, password, script, isql=isql, timeout_s=timeout_s)
    seconds = time.monotonic() - started
    states = [line.split(None, 2) for line in output.splitlines()
              if line.startswith("LOADSTATE")]
    if len(states) != 1 or states[0][1] != "2" or states[0][2].strip() != "NULL":
        raise PublishError(f"the bulk loader of slot {slot.name} did not load "
                           f"{release_file.name}: {states or output.strip()[-500:]}")

    settings = EngineSettings(engine="remote", query_url=slot.query_url,
                              update_url=slot.update_url, store_url=slot.store_url,
                              timeout_s=query_timeout_s, dialect="virtuoso",
                              default_graph=default_graph, release=release)
    try:
        with RemoteEngine(settings) as engine:
            loaded = engine.count_quads(all_graphs=True)
    except StoreError as exc:
        raise PublishError(f"slot {slot.name} does not answer after the load: {exc}") from exc
    if loaded != expected:
        raise PublishError(f"slot {slot.name} holds {loaded} quads after the load, the "
                           f"release {expected}: not published")
    _write_pointer(pointer, {
        "release": release, "slot": slot.name, "quads": loaded,
        "query_url": slot.query_url, "update_url": slot.update_url,
        "store_url": slot.store_url, "dialect": "virtuoso", "default_graph": default_graph,
        "published_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    })
    return Published(release, slot.name, loaded, seconds,
                     loaded / seconds if seconds > 0 else 0.0)


def split_quad(line: bytes) -> tuple[bytes | None, bytes] | None:
    """An N-Quads statement (one line, stripped) as its graph term (None: the default
    graph) and its triple as an N-Triples line; None when it is not one."""
    match = _QUAD.fullmatch(line)
    if match is None:
        return None
    return match.group(4), line[:match.end(3)] + b" .\n"


#: the sort key of the default graph's lines (graph terms start with "<" or "_")
_DEFAULT_KEY = b"-"


def _sort_by_graph(release_file: Path, sorter: LineSorter) -> int:
    """Every statement of the file into ``sorter`` as ``<graph> <triple line>``, so that
    the sorted lines come graph by graph; the number of statements.

    ``kg export`` sorts its lines as bytes, subject first: a graph's statements are spread
    over the whole file, hence this external sort (memory: the sorter's budget).
    """
    count = number = 0
    try:
        with gzip.open(release_file, "rb") as lines:
            for block in line_blocks(lines):
                keyed = []
                for line in block:
                    number += 1
                    stripped = line.strip()
                    if not stripped or stripped.startswith(b"#"):
                        continue
                    match = _QUAD.fullmatch(stripped)
                    if match is None:
                        raise PublishError(f"{release_file.name}, line {number}: not an "
                                           f"N-Quads statement: {stripped[:200]!r}")
                    if any((match.group(i) or b"").startswith(b"_:") for i in (1, 3, 4)):
                        raise PublishError(
                            f"{release_file.name}, line {number}: a blank node; a Graph Store "
                            f"Protocol load sends a release in many requests, and a blank "
                            f"node label means one node within one request only")
                    graph, triple = match.group(4), stripped[:match.end(3)] + b" .\n"
                    keyed.append((graph or _DEFAULT_KEY) + b" " + triple)
                sorter.add(b"".join(keyed))
                count += len(keyed)
    except (OSError, EOFError, zlib.error) as exc:
        raise PublishError(f"cannot read {release_file}: {exc}") from exc
    return count


_UCHAR = re.compile(rb"\\u([0-9A-Fa-f]{4})|\\U([0-9A-Fa-f]{8})")


def iri_value(term: bytes) -> str:
    """The IRI an N-Quads IRI term (``<...>``) names, its ``\\u``/``\\U`` escapes undone.

    >>> iri_value(rb"<http://ex.org/caf\\u00E9>")
    'http://ex.org/café'
    """
    text = _UCHAR.sub(lambda m: chr(int(m.group(1) or m.group(2), 16)).encode("utf-8"),
                      term[1:-1])
    return text.decode("utf-8")


def _count(engine: RemoteEngine, where: str) -> int:
    rows = list(engine.query(f"SELECT (COUNT(*) AS ?n) WHERE {{ {where} }}").rows())
    return int(rows[0]["n"][1])


def _empty_slot(engine: RemoteEngine, slot: GspSlot) -> None:
    """``DROP ALL`` (SPARQL 1.1 Update), or without an update URL every graph deleted over
    the Graph Store Protocol, the default graph last."""
    if slot.update_url:
        engine.update("DROP ALL")
        return
    for graph in list(engine.named_graphs()):
        engine.drop_graph(graph)
    engine.drop_graph(None)


def _load_by_graph(engine: RemoteEngine, slot: GspSlot, sorter: LineSorter, chunk_bytes: int,
                   progress: Callable[[str], None] | None) -> int:
    """POST the sorted lines graph by graph, at most ``chunk_bytes`` of N-Triples a
    request (a longer single triple goes alone); the number of requests."""
    requests = graphs = 0
    key: bytes | None = None
    body: list[bytes] = []
    size = part = 0
    said = time.monotonic()

    def send() -> None:
        nonlocal requests, said
        assert key is not None
        graph = None if key == _DEFAULT_KEY else iri_value(key)
        target = graph if graph is not None else slot.default_graph or None
        name = f"<{graph}>" if graph is not None else "the default graph"
        try:
            engine.load_graph(b"".join(body), "ntriples", target, replace=False)
        except KgError as exc:
            raise PublishError(f"slot {slot.name}: request {part} of {name} ({len(body)} "
                               f"triples, {size:,} bytes) failed: {exc}") from exc
        requests += 1
        if progress is not None and time.monotonic() - said >= PROGRESS_EVERY_S:
            said = time.monotonic()
            progress(f"{requests:,} requests, {graphs:,} graphs sent")

    for block in sorter.blocks():
        for line in block:
            line_key, triple = line.split(b" ", 1)
            if line_key != key or body and size + len(triple) > chunk_bytes:
                if body:
                    send()
                if line_key != key:
                    key, part = line_key, 0
                    graphs += 1
                body, size = [], 0
                part += 1
            body.append(triple)
            size += len(triple)
    if body:
        send()
    return requests


def publish_gsp(release_file: Path, slots: Mapping[str, Slot], pointer: Path, *,
                password: str = "", chunk_bytes: int = CHUNK_BYTES,
                sort_budget: int = SORT_BUDGET, timeout_s: float = 600.0,
                tmp_dir: str | os.PathLike[str] | None = None,
                progress: Callable[[str], None] | None = None) -> Published:
    """Load a release into the idle slot over the Graph Store Protocol, check it, then
    point readers at it.

    The file is read (and checked) first, its statements sorted by graph on disk; only then
    the slot is emptied (:func:`_empty_slot`) and each graph POSTed in requests of at most
    ``chunk_bytes`` (the release's default graph to the engine's default graph, or to the
    slot's ``default_graph``). Check: the slot holds exactly the file's number of quads
    (its default graph plus its named graphs; with a ``default_graph``, its named graphs
    alone). ``timeout_s`` bounds each request.
    """
    release = release_name(release_file)
    slot = idle_slot(slots, pointer)
    if not isinstance(slot, GspSlot):
        raise PublishError(f"slot {slot.name} is a {slot.kind} slot, not a gsp one")
    say = progress or (lambda _message: None)
    settings = EngineSettings(engine="remote", query_url=slot.query_url,
                              update_url=slot.update_url, store_url=slot.store_url,
                              user=slot.user, password=password, timeout_s=timeout_s,
                              release=release)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="kg-publish-", dir=tmp_dir) as tmp, \
            RemoteEngine(settings) as engine:
        sorter = LineSorter(tmp, budget=sort_budget)
        expected = _sort_by_graph(release_file, sorter)
        say(f"read {expected:,} quads of {release_file.name}, sorted by graph")
        try:
            _empty_slot(engine, slot)
        except KgError as exc:
            raise PublishError(f"slot {slot.name} could not be emptied: {exc}") from exc
        say(f"emptied slot {slot.name}")
        requests = _load_by_graph(engine, slot, sorter, chunk_bytes, progress)
        seconds = time.monotonic() - started
        try:
            loaded = _count(engine, "GRAPH ?g { ?s ?p ?o }")
            if not slot.default_graph:
                loaded += _count(engine, "?s ?p ?o")
        except KgError as exc:
            raise PublishError(f"slot {slot.name} does not answer after the load: "
                               f"{exc}") from exc
    if loaded != expected:
        raise PublishError(f"slot {slot.name} holds {loaded} quads after the load, the "
                           f"release {expected}: not published")
    _write_pointer(pointer, {
        "release": release, "slot": slot.name, "quads": loaded,
        "query_url": slot.query_url, "update_url": slot.update_url,
        "store_url": slot.store_url, "dialect": "standard",
        "default_graph": slot.default_graph,
        "published_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    })
    return Published(release, slot.name, loaded, seconds,
                     loaded / seconds if seconds > 0 else 0.0, requests)


def slots_json(slots: Mapping[str, Slot]) -> str:
    """A slots file's text (the inverse of :func:`read_slots`)."""
    return json.dumps({name: {k: v for k, v in asdict(s).items() if k != "name"}
                       for name, s in slots.items()}, indent=2)
