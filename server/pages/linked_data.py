"""Dereferenceable entity IRIs, the vocabulary and the JSON-LD context.

Every IRI minted under ``base_iri`` is served at its path below the entity path
(``https://w3id.org/scholarkg/id/person/x`` at ``/id/person/x``), whatever host and
port the server runs on. One URL answers with every representation (see
docs/decisions/0002-dereferencing.md):

- by ``Accept`` (q-values, wildcards): Turtle, HTML, JSON-LD, N-Triples, RDF/XML,
  with ``Vary: Accept`` and ``Content-Location`` naming the representation served;
- by extension: ``/id/person/x.ttl``, ``.html``, ``.jsonld``, ``.nt``, ``.rdf``.

Every answer lists all representations in ``Link: <...>; rel="alternate"``. An IRI
the merged graph does not mention is a 404; an ``Accept`` no representation meets is
a 406 listing the offers. Besides the entities of the merged graph:

- a named graph of the store that is not an entity (``graph/author-links``) is
  described the same way: what it holds, its size, where to query and download it
  (:mod:`server.pages.named_graphs`);
- ``<base>dumps/<file>``, the download URL of a dump in the dataset description, is a
  302 to ``/dumps/<file>`` for a file of the exports folder, else a 404;
- the nodes the dataset description mints below the dataset IRI (distributions,
  class partitions, link sets) are a 303 to the dataset IRI's path, which describes them
  (docs/decisions/0011-stable-dump-urls.md).

Each representation of an entity is computed once per generation of the served data
(its queries run once per release) and kept, up to ``KG_PAGE_CACHE_MB`` per worker,
least recently used out first; a new release or an update drops them all.

The vocabulary is served at ``/ns`` (Turtle, HTML, JSON-LD, N-Triples, RDF/XML; also
``/ns.ttl``, ``/ns.rdf`` etc.) and the JSON-LD context at ``/ns/context.jsonld``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path

from flask import Blueprint, Flask, Response, current_app, redirect, request, url_for
from flask.blueprints import BlueprintSetupState
from rdflib import Graph, URIRef

from kg.mapping.iris import IriMinter
from server.pages import html as pages
from server.pages.descriptions import (
    LocalPaths,
    describe,
    description_query,
    exists_query,
    local_paths,
    ontology_dir,
    serialize_graph,
    settings,
)
from server.pages.dumps import resolve_dump, void_graph
from server.pages.named_graphs import (
    NamedGraph,
    graph_html,
    graph_kind,
    graph_rdf,
    graph_size,
    names_graph_query,
)
from server.pages.representations import (
    ENTITY_REPRESENTATIONS,
    HTML,
    Representation,
    alternates,
    answer,
    by_extension,
    choose,
    install_read_headers,
    rdf_representation,
)
from server.sparql.executor import ProcessPoolQueryService, job_runner
from server.sparql.result_cache import ResultCache
from server.sparql.service import query_service
from server.web.errors import ApiError

bp = Blueprint("linked_data", __name__)
install_read_headers(bp)

VOCABULARY_REPRESENTATIONS: tuple[Representation, ...] = (
    rdf_representation("turtle"), HTML, rdf_representation("jsonld"),
    rdf_representation("ntriples"), rdf_representation("rdfxml"))


# entities ---------------------------------------------------------------------------


@bp.record_once
def _register_entity_routes(state: BlueprintSetupState) -> None:
    """Serve the entity path of this app's base IRI (known only once settings are)."""
    app_settings = state.app.config["KG_SETTINGS"]
    base_path = LocalPaths(app_settings.base_iri, app_settings.entity_path).base_path
    if base_path is None:
        return  # a hash base IRI: its entities live in one document, not served here
    state.add_url_rule(base_path + "<path:rest>", endpoint="entity", view_func=entity)


def _dataset_iri() -> str:
    return IriMinter(settings().base_iri).dataset()


def entity_cache(app: Flask | None = None) -> ResultCache | None:
    """The app's cache of entity answers (``KG_PAGE_CACHE_MB``), or None when answers are
    not kept: cache off, or queries run in-process (tests, development), where the
    store may be written without the generation changing."""
    app = app or current_app
    cache: ResultCache | None = app.extensions.get("kg_entity_cache")
    if cache is None:
        cache = ResultCache(app.config["KG_SETTINGS"].page_cache_mb * 1024 * 1024)
        app.extensions["kg_entity_cache"] = cache
    if not cache.enabled or not isinstance(job_runner(app), ProcessPoolQueryService):
        return None
    return cache


def _cached(parts: tuple[str, ...], compute: Callable[[], str | bytes]) -> bytes:
    """``compute()`` as bytes, computed once per generation of the served data.

    Entries live in :func:`entity_cache` (least recently used out first, bounded in
    bytes); a new generation (a new release, an update) drops every entry at once.
    """
    cache = entity_cache()
    key = (job_runner().generation(), repr(parts)) if cache is not None else None
    if cache is not None and key is not None:
        hit = cache.get(key)
        if hit is not None:
            return hit[1]
    value = compute()
    body = value.encode("utf-8") if isinstance(value, str) else value
    if cache is not None:
        cache.put(key, {}, body)
    return body


def _known(iri: str) -> bool:
    """True when the merged graph mentions ``iri`` (the dataset IRI always is)."""
    if iri == _dataset_iri():
        return True
    try:
        query = exists_query(iri)
    except ValueError:  # not an IRI at all
        return False
    return _cached(("known", iri), lambda: b"1" if query_service().ask(query) else b"") == b"1"


#: what a path below the entity path names (see :func:`_kind`)
_ENTITY, _GRAPH, _DESCRIBED = "entity", "graph", "described"
#: the segment below the base IRI of dump download URLs (``<base>dumps/<file>``)
DUMPS_SEGMENT = "dumps/"


def _names_graph(iri: str) -> bool:
    """True when the store has a named graph ``iri`` that holds a statement."""
    try:
        query = names_graph_query(iri)
    except ValueError:
        return False
    return _cached(("graph", iri), lambda: b"1" if query_service().ask(query) else b"") == b"1"


def _in_dataset_description(iri: str) -> bool:
    """True for a node the dataset description mints below the dataset IRI: a
    distribution (and so its ``#sha256`` checksum node), a class partition, a link set."""
    if not iri.startswith(_dataset_iri() + "/"):
        return False
    node = URIRef(iri)
    graph = void_graph()
    return (node, None, None) in graph or (None, None, node) in graph


def _kind(iri: str) -> str | None:
    """What ``iri`` is to this server: an entity of the merged graph, a named graph that is
    not one, a node of the dataset description, or None (nothing is known about it)."""
    if _known(iri):
        return _ENTITY
    if _names_graph(iri):
        return _GRAPH
    if _in_dataset_description(iri):
        return _DESCRIBED
    return None


def _dump_download(name: str) -> Response:
    """``<base>dumps/<file>`` is the download URL of a dump file: a redirect to the file
    under /dumps/ for a file of the exports folder, else a 404 (no other target)."""
    entry = resolve_dump(name)  # 404 for any name that is not a listed file
    return redirect(url_for("dumps.dump", name=entry.name), 302)  # type: ignore[return-value]


def entity(rest: str) -> Response:
    """One entity, in the representation asked for by extension or by Accept."""
    if rest.startswith(DUMPS_SEGMENT):
        return _dump_download(rest[len(DUMPS_SEGMENT):])
    paths = local_paths()
    iri = paths.iri_for(rest)
    rep: Representation | None = None
    kind = _kind(iri)
    if kind is None:
        stem, dot, extension = rest.rpartition(".")
        rep = by_extension(ENTITY_REPRESENTATIONS, extension) if dot else None
        kind = _kind(paths.iri_for(stem)) if rep is not None else None
        if kind is None:
            raise ApiError(404, f"nothing is known about <{iri}>")
        iri = paths.iri_for(stem)
    if kind == _DESCRIBED:  # the dataset description describes it: See Other
        dataset_path = paths.path_of(_dataset_iri()) or ""
        target = dataset_path + (f".{rep.extension}" if rep is not None else "")
        return redirect(request.script_root + target, 303)  # type: ignore[return-value]
    negotiated = rep is None
    if rep is None:
        rep = choose(ENTITY_REPRESENTATIONS)
    path = paths.path_of(iri) or ""
    if kind == _GRAPH:
        body = _graph_body(iri, rep, path)
    else:
        body = _entity_body(iri, rep, path)
    return answer(body, rep, path, ENTITY_REPRESENTATIONS, negotiated=negotiated)


def _graph_body(iri: str, rep: Representation, path: str) -> str | bytes:
    """A named graph that is not an entity: what it holds, its size, where to get it."""
    quads = int(_cached(("graph-size", iri), lambda: str(graph_size(iri))))
    graph = NamedGraph(iri, graph_kind(settings().base_iri, iri), quads)
    description = graph_rdf(graph, _dataset_iri())
    if rep.name == "html":
        jsonld = json.loads(serialize_graph(description, "jsonld"))
        return graph_html(graph, jsonld, alternates(path, ENTITY_REPRESENTATIONS))
    return serialize_graph(description, rep.name)


def _entity_body(iri: str, rep: Representation, path: str) -> str | bytes:
    links = alternates(path, ENTITY_REPRESENTATIONS)
    if iri == _dataset_iri():  # lists the dumps and this server's URLs: built each time
        if rep.name == "html":
            return pages.dataset_html(links)
        graph = void_graph()
        graph.parse(data=query_service().construct(description_query(iri), "ntriples"),
                    format="nt")
        return serialize_graph(graph, rep.name)
    if rep.name == "html":
        return _cached(("html", iri, request.script_root),
                       lambda: pages.entity_html(iri, links))
    return _cached((rep.name, iri), lambda: describe(iri, rep.name))


# the vocabulary ---------------------------------------------------------------------


def _vocabulary_file(name: str) -> Path:
    path = ontology_dir() / name
    if not path.is_file():
        raise ApiError(404, f"{path} is missing; set KG_ONTOLOGY_DIR to the ontology folder")
    return path


@lru_cache(maxsize=4)
def _vocabulary_graph(path: str, mtime_ns: int) -> Graph:
    return Graph().parse(path, format="turtle")


def _vocabulary(rep: Representation, negotiated: bool) -> Response:
    path = _vocabulary_file("scholarkg.ttl")
    body: str | bytes
    if rep.name == "turtle":
        body = path.read_bytes()
    else:
        graph = _vocabulary_graph(str(path), path.stat().st_mtime_ns)
        if rep.name == "html":
            body = pages.vocabulary_html(graph, alternates("/ns", VOCABULARY_REPRESENTATIONS))
        else:
            copy = Graph()
            for triple in graph:
                copy.add(triple)
            body = serialize_graph(copy, rep.name)
    return answer(body, rep, "/ns", VOCABULARY_REPRESENTATIONS, negotiated=negotiated)


@bp.get("/ns")
def vocabulary() -> Response:
    """The scholarkg vocabulary, negotiated."""
    _vocabulary_file("scholarkg.ttl")  # a missing file is a 404 whatever Accept says
    return _vocabulary(choose(VOCABULARY_REPRESENTATIONS), negotiated=True)


@bp.get("/ns.<extension>")
def vocabulary_as(extension: str) -> Response:
    """The vocabulary in the representation named by ``extension``."""
    rep = by_extension(VOCABULARY_REPRESENTATIONS, extension)
    if rep is None:
        raise ApiError(404, f"no representation of the vocabulary has extension .{extension}")
    return _vocabulary(rep, negotiated=False)


@bp.get("/ns/context.jsonld")
def context() -> Response:
    """The JSON-LD context of compact scholarkg JSON-LD."""
    path = _vocabulary_file("context.jsonld")
    return Response(path.read_bytes(), mimetype="application/ld+json")
