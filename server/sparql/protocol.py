"""SPARQL 1.1 Protocol endpoint at /sparql (and /sparql/).

- queries: GET ``?query=``, POST form (``query=``), POST ``application/sparql-query``;
  ``default-graph-uri``/``named-graph-uri`` set the dataset;
- updates: POST form (``update=``) or ``application/sparql-update``, with the bearer
  token; ``using-graph-uri``/``using-named-graph-uri`` become USING clauses (400 when
  the update has its own USING/WITH);
- GET without a query: the SPARQL Service Description (browsers go to the query page);
- exactly one operation per request, strict UTF-8, 413/414/415 for oversized or
  mistyped requests, 405 for other methods;
- federated SERVICE (and LOAD) only towards KG_SERVICE_ALLOWLIST, checked before
  anything runs; a LOAD SILENT from elsewhere does nothing (the update succeeds);
- fair share of query time per client (:mod:`server.sparql.fair_share`): 429 over the budget;
- results as negotiated (:mod:`server.web.negotiation`), cut at KG_RESULT_CAP with a
  ``KG-Result-Capped`` header, weak ETags and 304 on GET, gzip; CORS headers come
  from :mod:`server.web.cors`, as for every route.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from flask import Blueprint, Flask, Response, current_app, redirect, request
from werkzeug.datastructures import MultiDict

from kg.output.results_io import compact_jsonld
from kg.stats import read_stats
from kg.storage.store import KnowledgeStore
from server.ops import metrics
from server.settings import Settings
from server.sparql.executor import (
    Job,
    JobStream,
    job_runner,
    jsonld_context,
    log_stop,
    run_job,
    served_directory,
)
from server.sparql.fair_share import fair_share
from server.sparql.response_cache import ARRIVED, CACHE_HEADER, CACHEABLE
from server.sparql.response_cache import EXTENSION as RESPONSE_CACHE
from server.sparql.service_description import description_ntriples
from server.sparql.text import (
    add_using,
    external_refs,
    has_dataset_clause,
    query_form,
    without_loads,
)
from server.sparql.write_access import require_write_token
from server.web.compression import gzip_response
from server.web.errors import ApiError
from server.web.negotiation import (
    Choice,
    FormatParam,
    add_vary,
    format_param,
    negotiate,
    negotiate_header,
    prefers_html,
    prefers_html_header,
)
from server.web.request_parsing import check_charset, check_iri, decode_utf8, parse_params

bp = Blueprint("sparql", __name__)

FORM = "application/x-www-form-urlencoded"
QUERY_TYPE = "application/sparql-query"
UPDATE_TYPE = "application/sparql-update"
METHODS = ["GET", "POST", "OPTIONS"]
DEFAULTS = {"results": "json", "rdf": "turtle"}


def _settings() -> Settings:
    return current_app.config["KG_SETTINGS"]  # type: ignore[no-any-return]


def endpoint_iri() -> str:
    """This endpoint's URL: sd:endpoint and the base IRI of queries and updates."""
    return request.base_url


# reading the request ------------------------------------------------------------

def read_operation() -> tuple[str | None, str | None, MultiDict[str, str]]:
    """(query, update, parameters) of the request; at most one of query and update."""
    params = parse_params(request.query_string, "the URL")
    if "update" in params:
        raise ApiError(400, "an update must be sent in the body of a POST request "
                       "(form field update= or Content-Type: application/sparql-update), "
                       "not in the URL")
    queries, updates = params.getlist("query"), []
    if request.method == "POST":
        mimetype = request.mimetype
        charset = request.mimetype_params.get("charset")
        if mimetype == FORM:
            check_charset(charset, FORM)
            body = parse_params(request.get_data(), "the request body")
            queries += body.getlist("query")
            updates += body.getlist("update")
            for name, value in body.items(multi=True):
                if name not in ("query", "update"):
                    params.add(name, value)
        elif mimetype in (QUERY_TYPE, UPDATE_TYPE):
            check_charset(charset, mimetype)
            text = decode_utf8(request.get_data(), f"the {mimetype} request body")
            (queries if mimetype == QUERY_TYPE else updates).append(text)
        else:
            got = f"Content-Type {mimetype}" if mimetype else "no Content-Type"
            raise ApiError(415, f"a SPARQL POST request needs Content-Type {FORM}, "
                           f"{QUERY_TYPE} or {UPDATE_TYPE}; got {got}")
    if queries and updates:
        raise ApiError(400, "a request holds either a query or an update, not both")
    if len(queries) > 1 or len(updates) > 1:
        what = "query" if len(queries) > 1 else "update"
        raise ApiError(400, f"exactly one {what} per request; got "
                       f"{max(len(queries), len(updates))}")
    return (queries[0] if queries else None), (updates[0] if updates else None), params


def _check_size(text: str, what: str, settings: Settings | None = None) -> None:
    size = len(text.encode("utf-8"))
    limit = (settings or _settings()).max_query_bytes
    if size > limit:
        raise ApiError(413, f"the {what} is {size} bytes; KG_MAX_QUERY_BYTES allows {limit}")


def refuse_external(text: str, settings: Settings, endpoint: str | None = None) -> str:
    """400 for SERVICE clauses (and LOAD) whose endpoint is not in the allowlist.

    A refused ``LOAD SILENT`` is no error: the text returned has that operation replaced
    by one that does nothing (SILENT: the update succeeds and changes nothing), and no
    connection is made. Otherwise the text is returned as it is. ``endpoint``: this
    endpoint's IRI (default: the current request's).
    """
    allowed = settings.allowed_services
    dropped = []
    for ref in external_refs(text, endpoint if endpoint is not None else endpoint_iri()):
        if (ref.keyword == "LOAD" and ref.silent and ref.span is not None
                and ref.endpoint not in allowed):
            dropped.append(ref)
            continue
        if ref.variable is not None:
            raise ApiError(400, f"{ref.keyword} ?{ref.variable} is refused: a variable "
                           "endpoint cannot be checked against KG_SERVICE_ALLOWLIST")
        if ref.endpoint is None:
            raise ApiError(400, f"{ref.keyword} is refused: its endpoint IRI could not be "
                           "read, so it cannot be checked against KG_SERVICE_ALLOWLIST")
        if ref.endpoint not in allowed:
            why = ("this server calls no other endpoints (KG_SERVICE_ALLOWLIST is empty)"
                   if not allowed else "it is not listed in KG_SERVICE_ALLOWLIST")
            raise ApiError(400, f"{ref.keyword} <{ref.endpoint}> is refused: {why}")
    return without_loads(text, dropped) if dropped else text


def _graphs(params: MultiDict[str, str], name: str) -> list[str]:
    return [check_iri(value, name) for value in params.getlist(name)]


# the route ------------------------------------------------------------------------

@bp.route("/sparql", methods=METHODS)
@bp.route("/sparql/", methods=METHODS)
def endpoint() -> Any:
    if request.method == "OPTIONS":
        # the CORS headers of the preflight come from server.web.cors
        return Response(status=204, headers={"Allow": ", ".join(METHODS)})
    query, update, params = read_operation()
    if update is not None:
        return answer_update(update, params)
    if query is not None:
        return answer_query(query, params)
    if request.method == "POST":
        raise ApiError(400, "the request holds no query or update")
    return answer_description(params)


@bp.after_request
def _finish(response: Response) -> Response:
    add_vary(response, "Accept")
    return gzip_response(response)  # CORS: server.web.cors, for every layer's answers


# queries -------------------------------------------------------------------------

def _choices(form: str | None, fmt_param: FormatParam | None, accept: str | None,
             ) -> tuple[dict[str, Choice | None], dict[str, str]]:
    """Negotiated formats per result kind; 406 at once when the query's kind is known."""
    kinds = (["results"] if form in ("select", "ask") else
             ["rdf"] if form in ("construct", "describe") else ["results", "rdf"])
    choices: dict[str, Choice | None] = {"results": None, "rdf": None}
    refusals: dict[str, str] = {}
    for kind in kinds:
        try:
            choices[kind] = negotiate_header(accept, kind, default=DEFAULTS[kind],
                                             param=fmt_param)
        except ApiError as exc:
            if len(kinds) == 1 or exc.status != 406:
                raise
            refusals[kind] = exc.message
    return choices, refusals


def _etag(*parts: Any) -> str:
    return hashlib.sha256(repr(parts).encode("utf-8")).hexdigest()[:32]


@dataclass
class PreparedQuery:
    """A checked query request, ready to run: what the ``/sparql`` route and the lean
    lane for ``GET /sparql`` (:mod:`server.sparql.lane`) share."""

    text: str
    form: str | None
    #: ``format=`` (or ``output=``, ``results=``), which overrides Accept
    format_param: FormatParam | None
    choices: dict[str, Choice | None]
    job: dict[str, Any]
    default_graphs: list[str]
    named_graphs: list[str]
    #: a browser asking for a page: the query page shows the query (nothing negotiated)
    wants_page: bool = False

    def etag(self, settings: Settings, generation: str) -> str:
        """The weak ETag of the answer on this generation of the data."""
        return _etag(self.text, self.default_graphs, self.named_graphs, settings.result_cap,
                     {k: c.media_type if c else None for k, c in self.choices.items()},
                     generation)


def prepare_query(text: str, params: MultiDict[str, str], *, endpoint: str,
                  accept: str | None, settings: Settings, page: bool = False,
                  ) -> PreparedQuery:
    """Check a query request (size, federation allowlist, dataset, formats) and build its
    executor job; an :class:`ApiError` says what is wrong. With ``page`` (a GET), a
    client that prefers HTML to every result format gets ``wants_page`` instead."""
    _check_size(text, "query", settings)
    refuse_external(text, settings, endpoint)
    if params.getlist("using-graph-uri") or params.getlist("using-named-graph-uri"):
        raise ApiError(400, "using-graph-uri and using-named-graph-uri apply to updates; "
                       "queries take default-graph-uri and named-graph-uri")
    default_graphs = _graphs(params, "default-graph-uri")
    named_graphs = _graphs(params, "named-graph-uri")
    form = query_form(text)
    fmt_param = format_param(params)
    if (page and not fmt_param and prefers_html_header(
            accept, "rdf" if form in ("construct", "describe") else "results")):
        return PreparedQuery(text, form, fmt_param, {}, {}, default_graphs, named_graphs,
                             wants_page=True)
    choices, refusals = _choices(form, fmt_param, accept)
    # a dataset given by the protocol is the whole dataset, as FROM / FROM NAMED give it
    # (Query 13.2): with only named graphs the default graph is empty, with only default
    # graphs there are no named ones; None leaves the query's own (or the store's)
    given = bool(default_graphs or named_graphs)
    job = {"op": "query", "sparql": text, "base_iri": endpoint,
           "default_graphs": default_graphs if given else None,
           "named_graphs": named_graphs if given else None,
           "results_format": choices["results"].format.name if choices["results"] else None,
           "rdf_format": choices["rdf"].format.name if choices["rdf"] else None,
           "not_acceptable": {"select": refusals.get("results"), "ask": refusals.get("results"),
                              "graph": refusals.get("rdf")},
           "cap": settings.result_cap, "ontology_dir": settings.ontology_dir}
    return PreparedQuery(text, form, fmt_param, choices, job, default_graphs, named_graphs)


@contextmanager
def _fair_share_logged(app: Flask, environ: Any, job: Job, arrived: float,
                       timeout: float | None) -> Iterator[float | None]:
    """The fair share's admission of a job (:meth:`FairShare.query`), its refusal (429)
    written to the server log as stopped jobs are: reason, duration, hash of the text.
    Yields the job's time limit: ``timeout`` (None: ``KG_QUERY_TIMEOUT_S``) less the time
    it waited for the client's own queries."""
    admitted = False
    try:
        with fair_share(app).query(environ, arrived) as waited:
            admitted = True
            if waited:
                settings: Settings = app.config["KG_SETTINGS"]
                timeout = (settings.query_timeout_s if timeout is None else timeout) - waited
            yield timeout
    except ApiError as exc:
        if not admitted and exc.status == 429:
            log_stop(job, "refused: fair share", arrived)
        raise


def run_prepared(app: Flask, query: PreparedQuery, environ: Any, *,
                 get_generation: str | None) -> tuple[JobStream, str, dict[str, str]]:
    """Run a prepared query under the client's fair share: (the answer's stream, its
    Content-Type, its result headers).

    ``get_generation``: for a GET, the generation of the data its ETag names. When the
    response cache (:mod:`server.sparql.response_cache`) is installed it keeps such an
    answer whole, so the job cache keeps no second copy, and a new answer that may be
    kept is marked for it (``environ[CACHEABLE]``)."""
    settings: Settings = app.config["KG_SETTINGS"]
    whole_response = get_generation is not None and RESPONSE_CACHE in app.extensions
    started = time.monotonic()
    timeout = None
    arrived = environ.get(ARRIVED)
    if arrived is not None:  # it waited for the same answer, which was not kept
        timeout = settings.query_timeout_s - (started - arrived)
        if timeout <= 0:  # no time left: no executor is taken (and killed) for it
            metrics(app).timeouts.inc()
            log_stop(query.job, "timeout: waited for the same query of another request",
                     arrived)
            raise ApiError(503, f"query took longer than KG_QUERY_TIMEOUT_S "
                           f"({settings.query_timeout_s:g} s): it waited for the same query "
                           "sent by another request, which was not answered in time",
                           headers={"Retry-After": "5"})
    with _fair_share_logged(app, environ, query.job, arrived if arrived is not None
                            else started, timeout) as timeout:
        stream = job_runner(app).start_job(query.job, keep=not whole_response,
                                           timeout=timeout)
    try:
        head = stream.head
        app_metrics = metrics(app)
        app_metrics.query_seconds.labels(operation="query").observe(time.monotonic() - started)
        choice = query.choices["rdf" if head["kind"] == "graph" else "results"]
        assert choice is not None  # the executor refused kinds without a format
        headers = {}
        if head["count"] is not None:
            headers["KG-Result-Count"] = str(head["count"])
        if head["capped"]:
            headers["KG-Result-Capped"] = str(settings.result_cap)
            app_metrics.capped.inc()
        if "cache" in head:
            headers[CACHE_HEADER] = head["cache"]
            if whole_response and head["cache"] == "miss":
                environ[CACHEABLE] = get_generation
    except BaseException:
        stream.close()
        raise
    return stream, choice.content_type, headers


def answer_query(text: str, params: MultiDict[str, str]) -> Response:
    settings = _settings()
    query = prepare_query(text, params, endpoint=endpoint_iri(),
                          accept=request.headers.get("Accept"), settings=settings,
                          page=request.method == "GET")
    if query.wants_page:
        return redirect(request.script_root + "/?" + urlencode({"query": text}), 303)  # type: ignore[return-value]
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    etag = None
    generation = None
    if request.method in ("GET", "HEAD"):
        generation = job_runner(app).generation()
        etag = query.etag(settings, generation)
        if request.if_none_match.contains_weak(etag):
            response = Response(status=304)
            response.set_etag(etag, weak=True)
            return response
    stream, content_type, headers = run_prepared(
        app, query, request.environ,
        get_generation=generation if request.method == "GET" else None)
    # the stream is the body (spooled); the server closes it, even if never read
    response = Response(stream, status=200, content_type=content_type, headers=headers)
    if etag is not None:
        response.set_etag(etag, weak=True)
    return response


# updates ------------------------------------------------------------------------

def answer_update(text: str, params: MultiDict[str, str]) -> Response:
    settings = _settings()
    require_write_token(settings, "SPARQL updates")
    _check_size(text, "update")
    if params.getlist("default-graph-uri") or params.getlist("named-graph-uri"):
        raise ApiError(400, "default-graph-uri and named-graph-uri apply to queries; "
                       "updates take using-graph-uri and using-named-graph-uri")
    using = _graphs(params, "using-graph-uri")
    using_named = _graphs(params, "using-named-graph-uri")
    if (using or using_named) and has_dataset_clause(text):
        raise ApiError(400, "the update names its dataset with USING or WITH, so "
                       "using-graph-uri/using-named-graph-uri cannot also be given")
    text = refuse_external(text, settings)
    started = time.monotonic()
    job = {"op": "update", "sparql": add_using(text, using, using_named),
           "base_iri": endpoint_iri()}
    with _fair_share_logged(current_app, request.environ, job, started, None) as timeout:
        run_job(job_runner(), job, timeout=timeout)
    metrics().query_seconds.labels(operation="update").observe(time.monotonic() - started)
    return Response(status=204)


# service description ------------------------------------------------------------

def _stats() -> dict[str, int] | None:
    """The counts the service description gives, once per generation of the data: those
    published with a release (``kg-stats.json``), else counted by an executor within 5 s;
    a store too big to count in that time is described without counts (and not counted
    again on every request: at 100,000 profiles each attempt took the whole 5 s)."""
    runner = job_runner()
    generation = runner.generation()
    cached = current_app.extensions.get("kg_sd_stats")
    if cached is not None and cached[0] == generation:
        return cached[1]  # type: ignore[no-any-return]
    stats: dict[str, int] | None
    figures = read_stats(served_directory(runner))
    if figures is not None:
        stats = {"triples": int(figures["quads"]), "default_triples": int(figures["triples"])}
    else:
        try:
            stats = run_job(runner, {"op": "stats"},
                            timeout=min(5.0, _settings().query_timeout_s))
        except ApiError:
            stats = None
    current_app.extensions["kg_sd_stats"] = (generation, stats)
    return stats


def serialize_ntriples(text: str, format_name: str, ontology_dir: str = "") -> bytes:
    """N-Triples re-serialised in a registered RDF format (compact JSON-LD when possible)."""
    store = KnowledgeStore.open(None)
    store.load_graph(text.encode("utf-8"), "ntriples", None, replace=False)
    data = store.dump_graph(None, format_name)
    if format_name == "jsonld":
        data = compact_jsonld(data, jsonld_context(ontology_dir))
    return data


def answer_description(params: MultiDict[str, str]) -> Response:
    fmt_param = format_param(params)
    if not fmt_param and prefers_html(request, "rdf"):
        return redirect(request.script_root + "/", 303)  # type: ignore[return-value]
    choice = negotiate(request, "rdf", default="turtle", param=fmt_param)
    settings = _settings()
    text = description_ntriples(endpoint_iri(), settings, _stats())
    body = serialize_ntriples(text, choice.format.name, settings.ontology_dir)
    return Response(body, status=200, content_type=choice.content_type)
