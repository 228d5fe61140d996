"""Dump downloads under /dumps/ and VoID at /.well-known/void.

- ``/dumps/`` lists the files of ``exports_dir`` (HTML for browsers, JSON when asked)
  with sizes, SHA-256 (from the ``SHA256SUMS`` file there) and media types (from
  :mod:`kg.formats` by extension; ``.gz`` files are ``application/gzip`` downloads).
- ``/dumps/<name>`` streams one file with Content-Length, ETag (its SHA-256),
  Last-Modified, Range (206/416) and conditional GET (304). Only regular, non-hidden
  files directly inside ``exports_dir`` are served; any other name is a 404.
- ``/.well-known/void`` is the VoID description: the export's ``void.ttl`` when there
  is one, else a minimal one from counts, and in both cases ``void:sparqlEndpoint``
  and ``void:dataDump`` links to this server.

>>> media_type_of("scholarkg-2026-11-21.ttl.gz")
('application/gzip', 'Turtle, gzip-compressed')
>>> media_type_of("scholarkg-2026-11-21-to-2026-12-01.added.nq.gz")[1]
'N-Quads, gzip-compressed: the quads added by a change set'
>>> media_type_of("void.ttl"), media_type_of("SHA256SUMS")
(('text/turtle', 'Turtle'), ('text/plain', 'SHA-256 checksums'))
>>> parse_checksums("ab12  a.nt.gz\\ncd34 *b.ttl\\nnot a line\\n")
{'a.nt.gz': 'ab12', 'b.ttl': 'cd34'}
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import mimetypes
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from urllib.parse import quote

from flask import Blueprint, Response, render_template, request, send_file, url_for
from rdflib import RDF, Graph, Literal, Namespace, URIRef
from werkzeug.exceptions import RequestedRangeNotSatisfiable

from kg.changes import CHANGES_SUFFIX, is_change_file
from kg.formats import by_extension as format_by_extension
from kg.iris import IriMinter
from kg.vocab import PREFIXES
from server.descriptions import PREFIX_DECLARATIONS, compact_iri, serialize_graph, settings
from server.errors import ApiError
from server.query_service import query_service
from server.representations import (
    Representation,
    answer,
    choose,
    install_read_headers,
    negotiate,
    rdf_representation,
)

bp = Blueprint("dumps", __name__)
install_read_headers(bp)

CHECKSUMS_FILE = "SHA256SUMS"
VOID_FILE = "void.ttl"
VOID = Namespace(PREFIXES["void"])
DCTERMS = Namespace(PREFIXES["dcterms"])

#: server preference: a client that accepts anything gets Turtle
VOID_REPRESENTATIONS: tuple[Representation, ...] = (
    rdf_representation("turtle"), rdf_representation("jsonld"), rdf_representation("ntriples"))

_CHECKSUM_LINE = re.compile(r"^([0-9a-fA-F]+) [ *](.+)$")


@dataclass(frozen=True)
class DumpFile:
    """One file of the exports folder as the listing shows it."""

    name: str
    href: str
    size: int
    sha256: str | None
    media_type: str
    description: str
    modified: str
    #: the RDF format inside, for data dumps ("turtle", "nquads", ...)
    rdf_format: str | None


def parse_checksums(text: str) -> dict[str, str]:
    """``sha256sum`` output (``<hex>  <name>`` or ``<hex> *<name>``) as name -> hex."""
    sums: dict[str, str] = {}
    for line in text.splitlines():
        match = _CHECKSUM_LINE.match(line.strip())
        if match:
            sums[match.group(2)] = match.group(1).lower()
    return sums


def media_type_of(name: str) -> tuple[str, str]:
    """(media type, description) of a dump file, by its extension."""
    if name == CHECKSUMS_FILE:
        return "text/plain", "SHA-256 checksums"
    if is_change_file(name):  # kg.changes: from one release to the next
        if name.endswith(CHANGES_SUFFIX):
            return "application/json", "change set: releases, checksums, counts"
        kind = "added" if name.endswith(".added.nq.gz") else "removed"
        return "application/gzip", f"N-Quads, gzip-compressed: the quads {kind} by a change set"
    if name.endswith(".gz"):
        inner = format_by_extension(name[:-3].rpartition(".")[2])
        label = inner.label if inner else "data"
        return "application/gzip", f"{label}, gzip-compressed"
    fmt = format_by_extension(name.rpartition(".")[2], "rdf") or format_by_extension(
        name.rpartition(".")[2])
    if fmt:
        return fmt.media_type, fmt.label
    guessed = mimetypes.guess_type(name)[0]
    return guessed or "application/octet-stream", "file"


def _rdf_format_of(name: str) -> str | None:
    stem = name[:-3] if name.endswith(".gz") else name
    fmt = format_by_extension(stem.rpartition(".")[2], "rdf")
    return fmt.name if fmt and name != VOID_FILE else None


def exports_dir() -> Path:
    return Path(settings().exports_dir)


def _inside(directory: Path, candidate: Path) -> bool:
    """True when ``candidate`` (symlinks resolved) is a regular file directly in ``directory``."""
    try:
        real = candidate.resolve(strict=True)
        root = directory.resolve(strict=True)
    except (OSError, RuntimeError):
        return False
    return real.parent == root and real.is_file()


def list_dumps() -> list[DumpFile]:
    """The files served under /dumps/, by name."""
    directory = exports_dir()
    if not directory.is_dir():
        return []
    sums_path = directory / CHECKSUMS_FILE
    sums = (parse_checksums(sums_path.read_text(encoding="utf-8", errors="replace"))
            if _inside(directory, sums_path) else {})
    files = []
    for path in sorted(directory.iterdir(), key=lambda p: p.name):
        if path.name.startswith(".") or not _inside(directory, path):
            continue
        stat = path.stat()
        media_type, description = media_type_of(path.name)
        files.append(DumpFile(
            name=path.name,
            href=url_for("dumps.dump", name=path.name),
            size=stat.st_size,
            sha256=sums.get(path.name),
            media_type=media_type,
            description=description,
            modified=dt.datetime.fromtimestamp(stat.st_mtime, dt.UTC).replace(microsecond=0)
            .isoformat().replace("+00:00", "Z"),
            rdf_format=_rdf_format_of(path.name),
        ))
    return files


def resolve_dump(name: str) -> DumpFile:
    """The listed file called ``name``; a 404 for anything else (traversal, hidden, links out)."""
    unsafe = (not name or "\x00" in name or "/" in name or "\\" in name
              or name.startswith(".") or ":" in name)
    if not unsafe:
        for entry in list_dumps():
            if entry.name == name:
                return entry
    raise ApiError(404, f"no dump file called {name!r} in the exports folder (KG_EXPORTS_DIR)")


@bp.get("/dumps/")
def listing() -> Response:
    """The dump files: an HTML table for browsers, JSON for programs."""
    files = list_dumps()
    kind = negotiate(["application/json", "text/html"])
    if kind == "application/json":
        body = json.dumps({"files": [asdict(f) for f in files]}, indent=2)
        response = Response(body + "\n", mimetype="application/json")
    else:
        response = Response(render_template("dumps.html", files=files, title="Dumps"),
                            mimetype="text/html")
    response.vary.add("Accept")
    return response


@bp.get("/dumps/<path:name>", merge_slashes=False)
def dump(name: str) -> Response:
    """One dump file, streamed, with validators and byte ranges."""
    entry = resolve_dump(name)
    path = exports_dir().resolve() / entry.name
    try:
        response = send_file(
            path,
            mimetype=entry.media_type,
            as_attachment=entry.name.endswith(".gz"),
            download_name=entry.name,
            conditional=True,
            etag=entry.sha256 or True,
        )
    except RequestedRangeNotSatisfiable as exc:
        raise ApiError(416, f"the requested range is outside {entry.name} ({entry.size} bytes)",
                       headers={"Content-Range": f"bytes */{entry.size}"}) from exc
    return response


# VoID -------------------------------------------------------------------------------


def _count(sparql: str) -> int:
    rows = query_service().select(PREFIX_DECLARATIONS + sparql)
    return int(rows[0]["n"][1]) if rows and "n" in rows[0] else 0


def _generated_void(dataset: URIRef) -> Graph:
    """A minimal VoID description from counts, for when no export wrote void.ttl."""
    base = settings().base_iri
    g = Graph()
    g.add((dataset, RDF.type, VOID.Dataset))
    g.add((dataset, DCTERMS.title, Literal("scholarkg: researcher profiles as linked data")))
    g.add((dataset, VOID.uriSpace, Literal(base)))
    g.add((dataset, VOID.triples, Literal(_count("SELECT (COUNT(*) AS ?n) WHERE { ?s ?p ?o }"))))
    g.add((dataset, VOID.distinctSubjects,
           Literal(_count("SELECT (COUNT(DISTINCT ?s) AS ?n) WHERE { ?s ?p ?o }"))))
    for vocabulary in ("schema", "foaf", "skg", "prov"):
        g.add((dataset, VOID.vocabulary, URIRef(PREFIXES[vocabulary])))
    rows = query_service().select(
        "SELECT ?c (COUNT(DISTINCT ?s) AS ?n) WHERE { ?s a ?c } GROUP BY ?c ORDER BY ?c")
    for row in rows:
        cls = row["c"][1]
        name = compact_iri(cls).replace(":", "-") if compact_iri(cls) != cls else _digest(cls)
        part = URIRef(f"{dataset}/class/{quote(name, safe='-._~')}")
        g.add((dataset, VOID.classPartition, part))
        g.add((part, VOID["class"], URIRef(cls)))
        g.add((part, VOID.entities, Literal(int(row["n"][1]))))
    return g


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def void_graph() -> Graph:
    """The dataset's VoID description, with this server's endpoint and dump URLs."""
    dataset = URIRef(IriMinter(settings().base_iri).dataset())
    void_path = exports_dir() / VOID_FILE
    if exports_dir().is_dir() and _inside(exports_dir(), void_path):
        g = Graph().parse(void_path, format="turtle")
    else:
        g = _generated_void(dataset)
    described = set(g.subjects(RDF.type, VOID.Dataset)) or {dataset}
    endpoint = URIRef(request.url_root + "sparql")
    dumps = [URIRef(url_for("dumps.dump", name=e.name, _external=True))
             for e in list_dumps() if e.rdf_format and not is_change_file(e.name)]
    for subject in described:
        g.add((subject, VOID.sparqlEndpoint, endpoint))
        for url in dumps:
            g.add((subject, VOID.dataDump, url))
    return g


@bp.get("/.well-known/void")
def void() -> Response:
    """The VoID description, negotiated among Turtle, JSON-LD and N-Triples."""
    rep = choose(VOID_REPRESENTATIONS)
    body = serialize_graph(void_graph(), rep.name)
    return answer(body, rep, "/.well-known/void", VOID_REPRESENTATIONS, negotiated=True,
                  alternate_paths=False)
