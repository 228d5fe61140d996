"""SPARQL 1.1 Graph Store HTTP Protocol at /store.

- indirect identification: ``/store?default`` and ``/store?graph=IRI`` (the IRI is
  percent-decoded once, like any query parameter);
- direct identification: ``/store/<path>`` is the graph whose IRI is the request URL;
- GET/HEAD (negotiated RDF formats, 404 for a missing graph), PUT (201 new / 204
  replaced), POST (merge: 201 new / 204 existing; to ``/store`` itself: a new graph
  with a minted IRI under ``<base_iri>graph/``, 201 with Location), DELETE (204 / 404);
- bodies in any registered RDF format, or multipart/form-data of such files, parsed
  strictly (400 with the parser's message); writes need the bearer token.
"""

from __future__ import annotations

import uuid
from typing import Any

from flask import Blueprint, Response, current_app, request
from werkzeug.datastructures import MultiDict

from kg.output.formats import Format, by_extension, by_media_type
from server.settings import Settings
from server.sparql.executor import job_runner, run_job
from server.sparql.write_access import require_write_token
from server.web.compression import gzip_response
from server.web.errors import ApiError
from server.web.negotiation import add_vary, format_param, negotiate, offered_media_types
from server.web.request_parsing import check_charset, check_iri, parse_params

bp = Blueprint("graph_store", __name__)

METHODS = ["GET", "HEAD", "PUT", "POST", "DELETE"]
_NEW = object()  # POST to /store without a graph: mint one


def _settings() -> Settings:
    return current_app.config["KG_SETTINGS"]  # type: ignore[no-any-return]


def _target(direct: bool) -> Any:
    """The graph IRI, None for the default graph, or _NEW (indirect, nothing named)."""
    if direct:
        return request.base_url
    params = parse_params(request.query_string, "the URL")
    graphs = params.getlist("graph")
    if "default" in params and graphs:
        raise ApiError(400, "name either ?default or ?graph=IRI, not both")
    if len(graphs) > 1:
        raise ApiError(400, f"name one graph per request; got {len(graphs)} graph parameters")
    if "default" in params:
        return None
    if graphs:
        return check_iri(graphs[0], "the graph parameter")
    return _NEW


def _label(graph: str | None) -> str:
    return "the default graph" if graph is None else f"graph <{graph}>"


def _part_format(content_type: str | None, filename: str | None) -> Format | None:
    fmt = by_media_type(content_type, "rdf") if content_type else None
    if fmt is None and filename and "." in filename:
        fmt = by_extension(filename.rsplit(".", 1)[1], "rdf")
    return fmt


def _body_parts() -> list[tuple[bytes, str]]:
    """The request body as (data, format name) parts: one, or one per multipart file."""
    accepted = ", ".join(offered_media_types("rdf") + ["multipart/form-data"])
    mimetype = request.mimetype
    if mimetype == "multipart/form-data":
        parts = []
        for _, storage in request.files.items(multi=True):
            fmt = _part_format(storage.mimetype, storage.filename)
            if fmt is None:
                raise ApiError(415, f"part {storage.name!r} ({storage.mimetype or 'no type'}) "
                               f"is not a registered RDF format; accepted: {accepted}")
            check_charset(storage.mimetype_params.get("charset"), storage.mimetype)
            parts.append((storage.read(), fmt.name))
        if not parts:
            raise ApiError(400, "the multipart/form-data body holds no files")
        return parts
    fmt = by_media_type(mimetype, "rdf") if mimetype else None
    if fmt is None:
        got = f"Content-Type {mimetype}" if mimetype else "no Content-Type"
        raise ApiError(415, f"the body must be RDF in a registered format; got {got}; "
                       f"accepted: {accepted}")
    check_charset(request.mimetype_params.get("charset"), mimetype)
    return [(request.get_data(), fmt.name)]


@bp.route("/store", methods=METHODS, defaults={"subpath": None})
@bp.route("/store/<path:subpath>", methods=METHODS)
def graph_store(subpath: str | None) -> Response:
    target = _target(direct=subpath is not None)
    settings = _settings()
    runner = job_runner()
    if request.method in ("GET", "HEAD"):
        if target is _NEW:
            raise ApiError(400, "name a graph with ?graph=IRI or ?default")
        params = (parse_params(request.query_string, "the URL") if subpath is None
                  else MultiDict())
        choice = negotiate(request, "rdf", default="turtle", param=format_param(params))
        if request.method == "HEAD":
            if not run_job(runner, {"op": "graph_exists", "graph": target})["exists"]:
                raise ApiError(404, f"no {_label(target)} in the store")
            return Response(status=200, content_type=choice.content_type)
        stream = runner.start_job({"op": "graph_get", "graph": target,
                                   "format": choice.format.name,
                                   "ontology_dir": settings.ontology_dir})
        return Response(stream.read(), status=200, content_type=choice.content_type)

    require_write_token(settings, "Graph Store writes")
    if request.method == "DELETE":
        if target is _NEW:
            raise ApiError(400, "name the graph to delete with ?graph=IRI or ?default")
        if not run_job(runner, {"op": "graph_delete", "graph": target})["existed"]:
            raise ApiError(404, f"no {_label(target)} in the store")
        return Response(status=204)

    minted = target is _NEW
    if minted:
        if request.method == "PUT":
            raise ApiError(400, "name the graph to replace with ?graph=IRI or ?default")
        # a fresh graph IRI (not an entity IRI, so not kg.mapping.iris): random, never reused
        target = f"{settings.base_iri}graph/{uuid.uuid4().hex}"
    parts = _body_parts()
    head = run_job(runner, {"op": "graph_load", "graph": target, "parts": parts,
                            "replace": request.method == "PUT",
                            "base_iri": target or request.base_url})
    if head["created"] and target is not None:
        response = Response(status=201)
        if minted:
            response.headers["Location"] = target
        return response
    return Response(status=204)


@bp.after_request
def _finish(response: Response) -> Response:
    if request.method in ("GET", "HEAD"):
        add_vary(response, "Accept")
    return gzip_response(response)
