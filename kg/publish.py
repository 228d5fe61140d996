"""Publishing a release into Virtuoso, blue/green (docs/decisions/0010, item 6).

Two Virtuoso instances ("slots") take turns: a release is bulk-loaded into the slot that
does not serve, checked, and only then named in the release pointer (``current.json``,
replaced atomically) that readers follow (``KG_ENGINE_RELEASE``). A failed or short load
leaves the pointer, and so the serving release, as it was.

The slots file (JSON) names each instance::

    {"blue":  {"isql": "127.0.0.1:1111", "query_url": "http://127.0.0.1:8890/sparql",
               "update_url": "...", "store_url": "...", "load_dir": "/srv/releases"},
     "green": {...}}

``load_dir`` is a directory in the instance's ``DirsAllowed`` on its own machine: the bulk
loader reads the release file from there.

>>> release_name(Path("exports/scholarkg-2026-11-21.nq.gz"))
'2026-11-21'
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
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from kg.engine import DEFAULT_GRAPH_IRI, EngineSettings
from kg.errors import KgError, StoreError
from kg.remote_engine import RemoteEngine, virtuoso_group

_RELEASE_FILE = re.compile(r"^scholarkg-(?P<release>[A-Za-z0-9._-]+)\.nq\.gz$")
_SLOT_KEYS = ("isql", "query_url", "update_url", "store_url", "load_dir")


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


@dataclass(frozen=True)
class Published:
    release: str
    slot: str
    quads: int
    seconds: float
    quads_per_s: float


def release_name(path: Path) -> str:
    """The release of a ``scholarkg-<release>.nq.gz`` file, as ``kg export`` names it."""
    match = _RELEASE_FILE.match(path.name)
    if match is None:
        raise PublishError(f"{path}: expected a file named scholarkg-<release>.nq.gz, "
                           f"as 'kg export' writes")
    return match.group("release")


def read_slots(path: str | os.PathLike[str]) -> dict[str, VirtuosoSlot]:
    """The Virtuoso instances of a slots file (JSON), at least two."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise PublishError(f"cannot read the slots file {path}: {exc}") from exc
    if not isinstance(data, dict) or len(data) < 2:
        raise PublishError(f"{path}: expected an object naming two slots (blue/green)")
    slots = {}
    for name, spec in data.items():
        missing = [k for k in ("isql", "query_url", "load_dir")
                   if not isinstance(spec, dict) or not isinstance(spec.get(k), str)]
        if missing:
            raise PublishError(f"{path}: slot {name!r} lacks {', '.join(missing)}")
        slots[name] = VirtuosoSlot(name, **{k: spec[k] for k in _SLOT_KEYS if k in spec})
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


def publish_virtuoso(release_file: Path, slots: Mapping[str, VirtuosoSlot], pointer: Path, *,
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
    serving = current_slot(pointer)
    idle = [name for name in slots if name != serving]
    if not idle:
        raise PublishError(f"no slot other than the serving one ({serving}) to load into")
    slot = slots[idle[0]]
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


def slots_json(slots: Mapping[str, VirtuosoSlot]) -> str:
    """A slots file's text (the inverse of :func:`read_slots`)."""
    return json.dumps({name: {k: v for k, v in asdict(s).items() if k != "name"}
                       for name, s in slots.items()}, indent=2)
