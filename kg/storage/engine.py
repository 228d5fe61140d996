"""The engine boundary: what queries or updates the graph, and how to open one.

Two implementations: :class:`kg.storage.store.KnowledgeStore` (embedded Oxigraph, the default) and
:class:`kg.storage.remote_engine.RemoteEngine` (any SPARQL 1.1 Protocol / Graph Store Protocol
engine). See ``docs/decisions/0010-engine-boundary.md``.

>>> s = EngineSettings.from_sources(env={"KG_ENGINE": "remote",
...     "KG_ENGINE_QUERY_URL": "http://127.0.0.1:8890/sparql", "KG_ENGINE_TIMEOUT_S": "5"})
>>> s.engine, s.query_url, s.timeout_s, s.dialect
('remote', 'http://127.0.0.1:8890/sparql', 5.0, 'standard')
>>> EngineSettings.from_sources(env={"KG_ENGINE": "cloud"})
Traceback (most recent call last):
...
ValueError: KG_ENGINE: expected one of embedded, remote, got 'cloud'
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Protocol

from kg.errors import StoreError

#: the graph a published release's default graph is loaded into, on engines whose default
#: graph is the union of every graph (Virtuoso, QLever)
DEFAULT_GRAPH_IRI = "urn:scholarkg:default-graph"


class EngineResult(Protocol):
    """A query result: ``kind`` is "select", "ask" or "graph" (see kg.storage.store.QueryResult)."""

    kind: str

    @property
    def variables(self) -> list[str]: ...

    @property
    def boolean(self) -> bool: ...

    def rows(self) -> Iterator[dict[str, tuple[str, str, str | None, str | None]]]: ...

    def serialize(self, format_name: str) -> Iterator[bytes]: ...


class GraphEngine(Protocol):
    """Everything that queries or updates the graph goes through these operations."""

    def query(self, sparql: str, *, default_graph_uris: Iterable[str] | None = None,
              named_graph_uris: Iterable[str] | None = None,
              base_iri: str | None = None) -> Any: ...

    def update(self, sparql: str, *, base_iri: str | None = None) -> None: ...

    def has_graph(self, iri: str | None) -> bool: ...

    def dump_graph(self, graph: str | None, format_name: str) -> bytes: ...

    def load_graph(self, data: bytes, format_name: str, graph: str | None, *, replace: bool,
                   base_iri: str | None = None) -> None: ...

    def drop_graph(self, graph: str | None) -> bool: ...

    def named_graphs(self) -> Iterator[str]: ...

    def count_quads(self, graph: str | None = None, *, all_graphs: bool = False) -> int: ...


@dataclass(frozen=True)
class EngineSetting:
    name: str
    flag: str
    type: type
    default: Any
    help: str
    choices: tuple[str, ...] = ()
    secret: bool = False  # variable only, never a flag (it would show in `ps`)

    @property
    def env(self) -> str:
        return "KG_" + self.name.upper()


ENGINE_SETTINGS: tuple[EngineSetting, ...] = (
    EngineSetting("engine", "--engine", str, "embedded",
                  "The engine holding the graph: the embedded Oxigraph store or a remote "
                  "SPARQL 1.1 engine.", ("embedded", "remote")),
    EngineSetting("engine_query_url", "--engine-query-url", str, "",
                  "SPARQL 1.1 query endpoint of the remote engine."),
    EngineSetting("engine_update_url", "--engine-update-url", str, "",
                  "SPARQL 1.1 update endpoint of the remote engine (empty: read-only)."),
    EngineSetting("engine_store_url", "--engine-store-url", str, "",
                  "Graph Store Protocol endpoint of the remote engine, for graph writes "
                  "(empty: refused; graphs are read by query)."),
    EngineSetting("engine_user", "--engine-user", str, "",
                  "User name for the remote engine (basic or digest, as it asks)."),
    EngineSetting("engine_password", "", str, "",
                  "Password for the remote engine.", secret=True),
    EngineSetting("engine_timeout_s", "--engine-timeout-s", float, 30.0,
                  "Seconds a request to the remote engine may take; set the engine's own "
                  "limit below it."),
    EngineSetting("engine_dialect", "--engine-dialect", str, "standard",
                  "Compensations for an engine's behaviour: standard or virtuoso.",
                  ("standard", "virtuoso")),
    EngineSetting("engine_default_graph", "--engine-default-graph", str, "",
                  "The engine's graph holding kg's merged default graph (empty: the "
                  "engine's default graph is kg's)."),
    EngineSetting("engine_release", "--engine-release", str, "",
                  "A release pointer written by 'kg publish' (JSON): the engine URLs, "
                  "default graph and release are read from it."),
)


@dataclass(frozen=True)
class EngineSettings:
    engine: str = "embedded"
    query_url: str = ""
    update_url: str = ""
    store_url: str = ""
    user: str = ""
    password: str = ""
    timeout_s: float = 30.0
    dialect: str = "standard"
    default_graph: str = ""
    release_pointer: str = ""
    release: str = ""  # read from the pointer, never set directly

    @classmethod
    def from_sources(cls, env: Mapping[str, str] | None = None,
                     overrides: Mapping[str, Any] | None = None) -> EngineSettings:
        """Defaults, then ``KG_ENGINE*`` variables, then explicit values (flags; None: unset);
        a release pointer, when named, supplies the engine's URLs."""
        env = os.environ if env is None else env
        values: dict[str, Any] = {}
        for s in ENGINE_SETTINGS:
            raw: Any = (overrides or {}).get(s.name)
            if raw is None:
                raw = env.get(s.env)
            if raw is None or raw == "":
                values[s.name] = s.default
                continue
            try:
                value = s.type(raw)
            except ValueError as exc:
                raise ValueError(f"{s.env}: expected a {s.type.__name__}, got {raw!r}") from exc
            if s.choices and value not in s.choices:
                raise ValueError(f"{s.env}: expected one of {', '.join(s.choices)}, got {raw!r}")
            if s.type is float and value <= 0:
                raise ValueError(f"{s.env}: must be positive, got {raw!r}")
            values[s.name] = value
        settings = cls(
            engine=values["engine"], query_url=values["engine_query_url"],
            update_url=values["engine_update_url"], store_url=values["engine_store_url"],
            user=values["engine_user"], password=values["engine_password"],
            timeout_s=values["engine_timeout_s"], dialect=values["engine_dialect"],
            default_graph=values["engine_default_graph"],
            release_pointer=values["engine_release"])
        if settings.release_pointer:
            settings = settings.with_pointer(read_pointer(settings.release_pointer))
        if settings.engine == "remote" and not settings.query_url:
            raise ValueError("KG_ENGINE=remote needs KG_ENGINE_QUERY_URL or KG_ENGINE_RELEASE")
        return settings

    def with_pointer(self, pointer: Mapping[str, Any]) -> EngineSettings:
        """These settings pointed at a published release (see kg.storage.publish)."""
        return replace(self, engine="remote", query_url=pointer["query_url"],
                       update_url=pointer.get("update_url", ""),
                       store_url=pointer.get("store_url", ""),
                       dialect=pointer.get("dialect", self.dialect),
                       default_graph=pointer.get("default_graph", ""),
                       release=pointer.get("release", ""))


def read_pointer(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The release pointer ``kg publish`` writes: which engine serves the current release."""
    try:
        pointer = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise StoreError(f"cannot read the release pointer {path}: {exc}") from exc
    if not isinstance(pointer, dict) or not isinstance(pointer.get("query_url"), str):
        raise StoreError(f"the release pointer {path} names no query_url")
    return pointer


def open_engine(settings: EngineSettings, store_dir: str | os.PathLike[str] | None, *,
                read_only: bool = True) -> Any:
    """The engine the settings name: the store at ``store_dir``, or a remote engine."""
    if settings.engine == "remote":
        from kg.storage.remote_engine import RemoteEngine

        return RemoteEngine(settings)
    from kg.storage.store import KnowledgeStore

    return KnowledgeStore.open(store_dir, read_only=read_only)


def release_id(engine: Any) -> str:
    """Which release an engine serves: the release directory's name (embedded, e.g.
    ``RELEASES/current`` resolved), the published release (remote), else ""."""
    release = getattr(engine, "release", None)
    if isinstance(release, str):
        return release
    path = getattr(engine, "path", None)
    return Path(path).resolve().name if path is not None else ""


def markdown_table() -> str:
    """The README's table of engine settings, generated from :data:`ENGINE_SETTINGS`."""
    lines = ["| Flag | Variable | Default | Meaning |", "|---|---|---|---|"]
    for s in ENGINE_SETTINGS:
        flag = f"`{s.flag}`" if s.flag else "(variable only)"
        default = f"`{s.default}`" if s.default != "" else "(empty)"
        lines.append(f"| {flag} | `{s.env}` | {default} | {s.help} |")
    return "\n".join(lines)
