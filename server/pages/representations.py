"""How the read-only, human- and linked-data-facing routes answer.

- :func:`negotiate`: the best of a route's offered media types for the request's
  ``Accept`` header (q-values, wildcards; a missing header means ``*/*``), or a 406
  :class:`~server.web.errors.ApiError` that lists the offers.
- :class:`Representation` and :func:`choose`: one resource written as HTML or a
  registered RDF format, picked by ``Accept``; :func:`answer` adds ``Link`` headers
  to every alternative and, when negotiated, ``Vary: Accept`` and ``Content-Location``.
- :func:`install_read_headers`: on a blueprint, adds an ETag (a hash of the body) with
  ``304 Not Modified`` on a matching ``If-None-Match`` to complete 200 answers that
  carry none yet, and compresses text for clients that accept gzip. (CORS headers come
  from :mod:`server.web.cors`, for every route.)

>>> from flask import Flask
>>> app = Flask(__name__)
>>> with app.test_request_context(headers={"Accept": "text/html;q=0.5, text/turtle"}):
...     negotiate(["text/html", "text/turtle"])
'text/turtle'
>>> with app.test_request_context():
...     negotiate(["text/turtle", "text/html"])
'text/turtle'
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from flask import Blueprint, Response, has_request_context, request

from kg.output.formats import RDF_FORMATS
from server.web.compression import compressible, gzip_response, wants_gzip
from server.web.errors import ApiError


def negotiate(offers: Sequence[str]) -> str:
    """The offer the request prefers; ties go to the earlier offer (server preference).

    Raises a 406 :class:`ApiError` naming every offer when none is acceptable.
    """
    accept = request.accept_mimetypes
    if not accept:  # no Accept header: anything goes
        return offers[0]
    best = accept.best_match(offers)
    if best is None:
        raise ApiError(
            406,
            f"no representation matches Accept: {request.headers.get('Accept', '')}; "
            f"available: {', '.join(offers)}",
        )
    return best


@dataclass(frozen=True)
class Representation:
    """One way to write a resource: HTML or a registered RDF format."""

    name: str
    extension: str
    media_types: tuple[str, ...]
    label: str

    @property
    def media_type(self) -> str:
        return self.media_types[0]


def rdf_representation(name: str) -> Representation:
    """The representation of a format of :data:`kg.output.formats.RDF_FORMATS`."""
    fmt = RDF_FORMATS[name]
    return Representation(fmt.name, fmt.extension, fmt.media_types, fmt.label)


HTML = Representation("html", "html", ("text/html", "application/xhtml+xml"), "HTML")
#: JSON-LD, also for clients that ask for plain JSON (``Accept: application/json``): what
#: they get is JSON, written as JSON-LD with the project's context (application/ld+json)
JSONLD_FOR_JSON = Representation(
    "jsonld", "jsonld", (*rdf_representation("jsonld").media_types, "application/json"),
    rdf_representation("jsonld").label)
#: an entity's representations in server preference order: ``*/*`` gets Turtle
ENTITY_REPRESENTATIONS: tuple[Representation, ...] = (
    rdf_representation("turtle"), HTML, JSONLD_FOR_JSON,
    rdf_representation("ntriples"), rdf_representation("rdfxml"))


def _offers(reps: Sequence[Representation]) -> dict[str, Representation]:
    """Media type -> representation: canonical types first (in preference order), then aliases."""
    offers: dict[str, Representation] = {r.media_type: r for r in reps}
    for rep in reps:
        for media_type in rep.media_types[1:]:
            offers.setdefault(media_type, rep)
    return offers


def by_extension(reps: Sequence[Representation], extension: str) -> Representation | None:
    """The representation written at ``<path>.<extension>``, if any."""
    return next((r for r in reps if r.extension == extension), None)


def choose(reps: Sequence[Representation]) -> Representation:
    """The representation the request's Accept header prefers (406 when none)."""
    offers = _offers(reps)
    return offers[negotiate(list(offers))]


def _rooted(path: str) -> str:
    """An app-relative path as the client addresses it (below a proxy's path prefix)."""
    return request.script_root + path if has_request_context() else path


def alternates(path: str, reps: Sequence[Representation]) -> list[dict[str, str]]:
    """Every representation of the resource at ``path`` as a link (href, type, label)."""
    root = _rooted(path)
    return [{"href": f"{root}.{r.extension}", "media_type": r.media_type, "label": r.label,
             "extension": r.extension} for r in reps]


def answer(body: str | bytes, rep: Representation, path: str,
           reps: Sequence[Representation], *, negotiated: bool,
           alternate_paths: bool = True) -> Response:
    """A 200 with ``rep``'s media type and Link headers to ``path``'s other representations.

    ``alternate_paths`` False: the alternatives have no URLs of their own (only Accept).
    """
    response = Response(body, mimetype=rep.media_type)
    links = [f'<{_rooted(path)}>; rel="canonical"']
    if alternate_paths:
        links += [f'<{a["href"]}>; rel="alternate"; type="{a["media_type"]}"'
                  for a in alternates(path, reps)]
    response.headers["Link"] = ", ".join(links)
    if negotiated:
        response.vary.add("Accept")
        if alternate_paths:
            response.headers["Content-Location"] = f"{_rooted(path)}.{rep.extension}"
    return response


def add_body_etag(response: Response) -> Response:
    """An ETag from the body's SHA-256, and 304 when the client already has it; text
    (pages, RDF) is then compressed for a client that accepts gzip.

    The ETag is strong for the body as it is, weak when it is sent compressed (the same
    representation in other bytes); If-None-Match compares weakly, so either revalidates.
    """
    if (
        request.method not in ("GET", "HEAD")
        or response.status_code != 200
        or response.direct_passthrough  # streamed files bring their own validators
        or "ETag" in response.headers
    ):
        return response
    digest = hashlib.sha256(response.get_data()).hexdigest()[:32]
    compress = compressible(response)
    response.set_etag(digest, weak=compress and wants_gzip())
    response.make_conditional(request)  # 304 in place when If-None-Match matches
    return gzip_response(response) if compress else response


def install_read_headers(bp: Blueprint) -> None:
    """Give every answer of ``bp`` body ETags (CORS headers: :mod:`server.web.cors`)."""

    @bp.after_request
    def _read_headers(response: Response) -> Response:
        return add_body_etag(response)
