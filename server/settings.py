"""Server settings, declared once as data.

Each setting has a name, a default, a type and help text. The same table feeds
``kg serve`` flags, ``KG_*`` environment variables, the README's settings table
and a test that every setting is documented.

The engine the server reads (``KG_ENGINE*``: embedded store or remote SPARQL engine) is
:class:`kg.storage.engine.EngineSettings`, declared in
:data:`kg.storage.engine.ENGINE_SETTINGS` and read by the same rules (the README's engine
table); it is ``Settings.engine``.

>>> s = Settings.from_sources(env={"KG_QUERY_TIMEOUT_S": "5"}, overrides={"port": 9000})
>>> s.query_timeout_s, s.port
(5.0, 9000)
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from kg.mapping.iris import DEFAULT_BASE_IRI
from kg.storage.engine import ENGINE_SETTINGS, EngineSettings


class Setting(NamedTuple):
    name: str
    default: Any
    type: type
    help: str

    @property
    def env(self) -> str:
        return "KG_" + self.name.upper()

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")


#: the HTTP servers ``kg serve`` can run the app under (server.run)
HTTP_SERVERS = ("granian", "gunicorn")

SETTINGS: tuple[Setting, ...] = (
    Setting("store", "store", str, "Directory of the Oxigraph store to serve."),
    Setting("host", "127.0.0.1", str, "Address to listen on."),
    Setting("port", 8000, int, "TCP port to listen on."),
    Setting("base_iri", DEFAULT_BASE_IRI, str,
            "Base IRI of the minted entity IRIs; entities are served at their path below it."),
    Setting("http_server", "granian", str,
            "HTTP server running the WSGI workers: granian (HTTP in Rust: less worker CPU per "
            "request, most of all for cached answers; chunked request bodies get 411, "
            "docs/server.md) or gunicorn (gthread workers tuned in server/worker.py)."),
    Setting("workers", 2, int, "WSGI worker processes."),
    Setting("threads", 8, int, "Request threads per worker process."),
    Setting("query_workers", 2, int,
            "Query executor processes per WSGI worker; a query that overruns is stopped by "
            "killing its executor."),
    Setting("query_timeout_s", 30.0, float,
            "Longest a SPARQL query may take from its arrival, waiting for an executor "
            "included, before it is stopped and answered with 503."),
    # the executor bounds: waiting queue and memory per query
    Setting("query_queue", 8, int,
            "Most queries waiting for a free query executor per WSGI worker; past that a "
            "query is answered 503 with Retry-After at once. 0 means none waits."),
    Setting("query_memory_mb", 4096, int,
            "Most private memory (RSS less file pages) one query executor may use; a query "
            "that passes it is stopped and answered with 503. 0 means no bound."),
    Setting("query_allocator", "auto", str,
            "Memory allocator the query executors of kg serve preload: auto (jemalloc when "
            "the system has it, else the C library's malloc), system (the C library's), or "
            "the path of a malloc library. With jemalloc a point query costs about a fifth "
            "less CPU."),
    Setting("result_cap", 100000, int,
            "Most rows (SELECT) or triples (CONSTRUCT/DESCRIBE) one response holds; a capped "
            "response says so in the KG-Result-Capped header. 0 means no cap."),
    Setting("result_cache_mb", 64, int,
            "Memory per WSGI worker for the answers of repeated read queries (each up to "
            "1 MB), kept while the served data is unchanged; under kg serve as much again, "
            "shared by the workers, for whole answers of GET queries; 0 turns the cache "
            "off."),
    Setting("page_cache_mb", 32, int,
            "Memory per WSGI worker for entity pages (HTML and RDF, each up to 1 MB), each "
            "computed once per version of the served data; 0 turns the cache off."),
    Setting("max_query_bytes", 100_000, int, "Largest query or update text accepted (413)."),
    Setting("max_body_bytes", 50_000_000, int, "Largest request body accepted (413)."),
    Setting("max_url_bytes", 16_384, int, "Longest request URL accepted (414)."),
    Setting("update_token", "", str,
            "Bearer token that enables SPARQL Update and Graph Store writes; empty disables them."),
    Setting("service_allowlist", "", str,
            "Comma-separated endpoint IRIs that federated SERVICE clauses may call; empty "
            "refuses every SERVICE clause."),
    Setting("access_log", False, bool,
            "Write one line per request to standard output (the HTTP server's access log); costs "
            "CPU on every request, so it is off unless asked for. Errors are always logged."),
    Setting("cors_origins", "*", str,
            "Origins whose scripts may read the answers (CORS): *, a comma-separated "
            "list, or empty for none."),
    Setting("exports_dir", "exports", str, "Directory of the dump files served under /dumps/."),
    Setting("entity_path", "", str,
            "Local path the entities of base_iri are served under; empty derives it from "
            "base_iri: its path, without the first segment on w3id.org and purl.org (their "
            "redirects drop the namespace name), e.g. /id/ for https://w3id.org/scholarkg/id/."),
    Setting("ontology_dir", "", str,
            "Directory holding scholarkg.ttl and context.jsonld, served at /ns and "
            "/ns/context.jsonld; empty means the ontology/ folder shipped with scholarkg."),
    # fair share of query time between clients (server/sparql/fair_share.py)
    Setting("client_query_budget_s", 60.0, float,
            "SPARQL query time one client may use per client_query_window_s, summed over "
            "its queries and all workers (time waiting for an executor is not counted; a "
            "stopped query counts its time up to the timeout); over it the client gets 429 "
            "with Retry-After. One client also runs at most query_workers - 1 (at least 1) "
            "queries at once per worker; more wait for them (within the query timeout), "
            "up to half the worker's threads in all and at least as many as run, and a "
            "further one gets 429. 0 turns fair share off."),
    Setting("client_query_window_s", 60.0, float,
            "Window of client_query_budget_s: a client's spent query time comes back at "
            "budget/window seconds per second."),
    # deployment behind reverse proxies
    Setting("trusted_proxies", 0, int,
            "Number of reverse proxies in front of the server whose X-Forwarded-For, -Proto, "
            "-Host, -Port and -Prefix headers are believed (werkzeug's ProxyFix); every URL "
            "the server writes then uses the public scheme, host and path prefix, and the "
            "fair share's client is the forwarded address. 0 ignores them (the right value "
            "when clients reach the server directly)."),
)

_BY_NAME = {s.name: s for s in SETTINGS}


def markdown_table() -> str:
    """The settings as the Markdown table the README carries (a test keeps them equal).

    >>> markdown_table().splitlines()[0]
    '| flag | environment variable | default | what it does |'
    """
    rows = ["| flag | environment variable | default | what it does |", "|---|---|---|---|"]
    for s in SETTINGS:
        default = ("(empty)" if s.default == "" else
                   f"`{str(s.default).lower()}`" if isinstance(s.default, bool) else
                   f"`{s.default}`")
        rows.append(f"| `{s.flag}` | `{s.env}` | {default} | {s.help} |")
    return "\n".join(rows)


_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off", ""})


def _coerce(setting: Setting, value: Any) -> Any:
    """A setting's value as its type; booleans from the usual words.

    >>> _coerce(_BY_NAME["access_log"], "off"), _coerce(_BY_NAME["access_log"], "1")
    (False, True)
    """
    if isinstance(value, setting.type):
        return value
    if setting.type is bool and isinstance(value, (str, int)):
        word = str(value).strip().lower()
        if word in _TRUE or word in _FALSE:
            return word in _TRUE
        raise ValueError(f"setting {setting.name} ({setting.env}) must be true or false, "
                         f"got {value!r}")
    try:
        return setting.type(value)
    except (TypeError, ValueError) as exc:
        raise ValueError(
            f"setting {setting.name} ({setting.env}) must be a {setting.type.__name__}, "
            f"got {value!r}"
        ) from exc


@dataclass(frozen=True)
class Settings:
    store: str = "store"
    host: str = "127.0.0.1"
    port: int = 8000
    base_iri: str = DEFAULT_BASE_IRI
    http_server: str = "granian"
    workers: int = 2
    threads: int = 8
    query_workers: int = 2
    query_timeout_s: float = 30.0
    query_queue: int = 8
    query_memory_mb: int = 4096
    query_allocator: str = "auto"
    result_cap: int = 100000
    result_cache_mb: int = 64
    page_cache_mb: int = 32
    max_query_bytes: int = 100_000
    max_body_bytes: int = 50_000_000
    max_url_bytes: int = 16_384
    update_token: str = ""
    service_allowlist: str = ""
    access_log: bool = False
    cors_origins: str = "*"
    exports_dir: str = "exports"
    entity_path: str = ""
    ontology_dir: str = ""
    client_query_budget_s: float = 60.0
    client_query_window_s: float = 60.0
    trusted_proxies: int = 0
    #: the engine holding the graph (KG_ENGINE*): the embedded store at ``store``, or remote
    engine: EngineSettings = field(default_factory=EngineSettings)
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        if self.http_server not in HTTP_SERVERS:
            raise ValueError(f"setting http_server (KG_HTTP_SERVER) must be one of "
                             f"{', '.join(HTTP_SERVERS)}, got {self.http_server!r}")
        for name in ("client_query_budget_s", "client_query_window_s", "trusted_proxies"):
            if getattr(self, name) < 0:
                raise ValueError(f"setting {name} ({_BY_NAME[name].env}) must not be "
                                 f"negative, got {getattr(self, name)!r}")
        if self.client_query_budget_s > 0 and self.client_query_window_s <= 0:
            raise ValueError("setting client_query_window_s (KG_CLIENT_QUERY_WINDOW_S) must "
                             "be positive while KG_CLIENT_QUERY_BUDGET_S is set")

    @classmethod
    def from_sources(
        cls,
        env: Mapping[str, str] | None = None,
        overrides: Mapping[str, Any] | None = None,
    ) -> Settings:
        """Defaults, then ``KG_*`` environment variables, then explicit overrides (flags)."""
        env = os.environ if env is None else env
        engine_names = {s.name for s in ENGINE_SETTINGS}
        engine_overrides = {k: v for k, v in (overrides or {}).items() if k in engine_names}
        overrides = {k: v for k, v in (overrides or {}).items() if k not in engine_names}
        values: dict[str, Any] = {"engine": EngineSettings.from_sources(env, engine_overrides)}
        for setting in SETTINGS:
            value: Any = setting.default
            if setting.env in env:
                value = env[setting.env]
            if overrides and overrides.get(setting.name) is not None:
                value = overrides[setting.name]
            values[setting.name] = _coerce(setting, value)
        unknown = set(overrides or {}) - set(_BY_NAME)
        if unknown:
            raise ValueError(f"unknown settings: {', '.join(sorted(unknown))}")
        return cls(**values)

    @property
    def allowed_services(self) -> frozenset[str]:
        return frozenset(s.strip() for s in self.service_allowlist.split(",") if s.strip())

    @property
    def updates_enabled(self) -> bool:
        return bool(self.update_token)

    @property
    def remote(self) -> bool:
        """True when a remote SPARQL engine holds the graph (not the store directory)."""
        return self.engine.engine == "remote"
