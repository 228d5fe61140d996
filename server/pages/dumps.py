"""Dump downloads under /dumps/ and VoID at /.well-known/void.

- ``/dumps/`` lists the files of ``exports_dir`` (HTML for browsers, JSON when asked)
  with sizes, SHA-256 (from the ``SHA256SUMS`` file there) and media types (from
  :mod:`kg.output.formats` by extension; ``.gz`` files are ``application/gzip`` downloads).
- ``/dumps/<name>`` streams one file with Content-Length, ETag (its SHA-256),
  Last-Modified, one byte range (206; 416 when it starts past the end; a Range of
  several ranges, another unit or bad syntax is ignored: 200 with the whole file, as
  RFC 9110 §14.2 allows) and conditional GET (304). Only regular, non-hidden
  files directly inside ``exports_dir`` are served; any other name is a 404.
- ``/dumps/<name>.sha256`` is one file's checksum line (``sha256sum -c`` reads it).
- ``/dumps/latest/<stable name>`` always serves the current release's file under a name
  without the release (``scholarkg.nq.gz`` for ``scholarkg-2026-11-21.nq.gz``), with its
  ``.sha256``; ``/dumps/latest/SHA256SUMS`` checks files saved under either name, and
  ``/dumps/latest/`` lists the stable names as JSON
  (``docs/decisions/0011-stable-dump-urls.md``).
- ``/.well-known/void`` is the VoID description: the export's ``void.ttl`` when there
  is one, else a minimal one from the figures published with the data, and in both
  cases ``void:sparqlEndpoint`` and ``void:dataDump`` links to this server.

>>> media_type_of("scholarkg-2026-11-21.ttl.gz")
('application/gzip', 'Turtle, gzip-compressed')
>>> media_type_of("scholarkg-2026-11-21-to-2026-12-01.added.nq.gz")[1]
'N-Quads, gzip-compressed: the quads added by a change set'
>>> media_type_of("void.ttl"), media_type_of("SHA256SUMS")
(('text/turtle', 'Turtle'), ('text/plain', 'SHA-256 checksums'))
>>> parse_checksums("ab12  a.nt.gz\\ncd34 *b.ttl\\nnot a line\\n")
{'a.nt.gz': 'ab12', 'b.ttl': 'cd34'}
>>> stable_name("scholarkg-2026-11-21.nq.gz")
('2026-11-21', 'scholarkg.nq.gz')
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import mimetypes
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from flask import Blueprint, Response, redirect, render_template, request, send_file, url_for
from rdflib import RDF, Graph, Literal, Namespace, URIRef
from werkzeug.exceptions import RequestedRangeNotSatisfiable
from werkzeug.http import parse_range_header
from werkzeug.wsgi import FileWrapper

from kg.mapping.iris import IriMinter
from kg.mapping.vocab import PREFIXES
from kg.output.changes import CHANGES_SUFFIX, is_change_file
from kg.output.export import DUMP_PREFIX
from kg.output.formats import by_extension as format_by_extension
from server.pages.descriptions import compact_iri, serialize_graph, settings
from server.pages.representations import (
    Representation,
    answer,
    choose,
    install_read_headers,
    negotiate,
    rdf_representation,
)
from server.pages.statistics import dataset_stats
from server.web.errors import ApiError

bp = Blueprint("dumps", __name__)
install_read_headers(bp)

CHECKSUMS_FILE = "SHA256SUMS"
VOID_FILE = "void.ttl"
VOID = Namespace(PREFIXES["void"])
DCTERMS = Namespace(PREFIXES["dcterms"])

#: server preference: a client that accepts anything gets Turtle
VOID_REPRESENTATIONS: tuple[Representation, ...] = (
    rdf_representation("turtle"), rdf_representation("jsonld"), rdf_representation("ntriples"),
    rdf_representation("rdfxml"))

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
    if is_change_file(name):  # kg.output.changes: from one release to the next
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


def size_label(size: int) -> str:
    """A size in one unit style: decimal units, short names, two or three digits.

    >>> [size_label(n) for n in (452, 4_812, 48_120, 1_234_567, 5_000_000_000)]
    ['452 B', '4.8 kB', '48 kB', '1.2 MB', '5.0 GB']
    """
    if size < 1000:
        return f"{size} B"
    value = float(size)
    for unit in ("kB", "MB", "GB", "TB"):
        value /= 1000
        if value < 999.5 or unit == "TB":
            return f"{value:.1f} {unit}" if value < 9.95 else f"{value:.0f} {unit}"
    raise AssertionError("unreachable")


@bp.get("/dumps/")
def listing() -> Response:
    """The dump files: an HTML table for browsers, JSON for programs."""
    files = list_dumps()
    kind = negotiate(["application/json", "text/html"])
    if kind == "application/json":
        body = json.dumps({"files": [asdict(f) for f in files]}, indent=2)
        response = Response(body + "\n", mimetype="application/json")
    else:
        latest = {entry.name: stable for stable, entry in latest_files().items()
                  if stable != entry.name}
        response = Response(render_template("dumps.html", files=files, title="Dumps",
                                            latest=latest, size_label=size_label),
                            mimetype="text/html")
    response.vary.add("Accept")
    return response


@bp.get("/dumps/<path:name>", merge_slashes=False)
def dump(name: str) -> Response:
    """One dump file, streamed, with validators and byte ranges."""
    if name.endswith(CHECKSUM_SUFFIX) and not any(e.name == name for e in list_dumps()):
        entry = resolve_dump(name[:-len(CHECKSUM_SUFFIX)])
        return _checksum_line(entry, entry.name)
    return _send(resolve_dump(name))


#: bytes per read when the WSGI server has no ``wsgi.file_wrapper`` of its own (granian):
#: werkzeug's fallback reads 8 KiB at a time, one Python call per 8 KiB of a dump
FILE_BLOCK = 128 * 1024


class _FileBlocks(FileWrapper):
    """werkzeug's file iterator, reading :data:`FILE_BLOCK` bytes at a time."""

    def __init__(self, file: Any, buffer_size: int = FILE_BLOCK) -> None:
        super().__init__(file, max(buffer_size, FILE_BLOCK))


def served_range(header: str | None) -> bool:
    """Whether a Range header is one this server answers (206 or 416): one range of
    bytes. Others (several ranges, another unit, bad syntax) are ignored, which RFC 9110
    §14.2 allows: the answer is 200 with the whole file.

    >>> [served_range(h) for h in ("bytes=0-9", "bytes=-5", "bytes=9999-", "bytes=0-9,20-29",
    ...                            "bytes=abc", "items=0-5", None)]
    [True, True, True, False, False, False, False]
    """
    if header is None:
        return False
    parsed = parse_range_header(header)
    return parsed is not None and parsed.units == "bytes" and len(parsed.ranges) == 1


def _send(entry: DumpFile, download_name: str | None = None) -> Response:
    path = exports_dir().resolve() / entry.name
    # gunicorn's own wrapper sends the file with sendfile; without one, read big blocks
    request.environ.setdefault("wsgi.file_wrapper", _FileBlocks)
    if not served_range(request.headers.get("Range")):
        request.environ.pop("HTTP_RANGE", None)  # werkzeug would answer 416
    try:
        response = send_file(
            path,
            mimetype=entry.media_type,
            as_attachment=entry.name.endswith(".gz"),
            download_name=download_name or entry.name,
            conditional=True,
            etag=entry.sha256 or True,
        )
    except RequestedRangeNotSatisfiable as exc:
        raise ApiError(416, f"the range {request.headers.get('Range')} starts past the end "
                       f"of {entry.name} ({entry.size} bytes)",
                       headers={"Content-Range": f"bytes */{entry.size}"}) from exc
    return response


# stable names of the current release ------------------------------------------------

CHECKSUM_SUFFIX = ".sha256"
LATEST = "latest"
_RELEASE_FILE = re.compile(re.escape(DUMP_PREFIX) + r"(?P<release>[^.]+)\.(?P<rest>[A-Za-z0-9.]+)")


def stable_name(name: str) -> tuple[str, str] | None:
    """(release, name without the release) of a release's file, None for other files."""
    match = _RELEASE_FILE.fullmatch(name)
    if match is None:
        return None
    return match.group("release"), DUMP_PREFIX.rstrip("-") + "." + match.group("rest")


def latest_files() -> dict[str, DumpFile]:
    """Stable name -> file of the current release: the latest release among the files
    the checksum list names (``kg export`` writes one release at a time; a folder
    holding several serves the greatest name, which for dated releases is the newest).
    ``void.ttl`` and ``SHA256SUMS`` describe the current release and keep their names."""
    files = list_dumps()
    named = {(f.name, *s) for f in files if (s := stable_name(f.name))}
    checked = {n for n, *_ in named if any(f.name == n and f.sha256 for f in files)}
    candidates = [(release, n, stable) for n, release, stable in named
                  if n in checked or not checked]
    if not candidates:
        return {}
    current = max(release for release, _, _ in candidates)
    by_name = {f.name: f for f in files}
    latest = {stable: by_name[n] for release, n, stable in candidates if release == current}
    if VOID_FILE in by_name:
        latest[VOID_FILE] = by_name[VOID_FILE]
    return latest


def _checksum_line(entry: DumpFile, as_name: str) -> Response:
    if not entry.sha256:
        raise ApiError(404, f"{entry.name} has no checksum in {CHECKSUMS_FILE}")
    response = Response(f"{entry.sha256}  {as_name}\n", mimetype="text/plain")
    response.headers["Cache-Control"] = "no-cache"
    return response


@bp.get("/dumps/latest/")
def latest_listing() -> Response:
    """The stable names and the files they stand for now: JSON (HTML goes to /dumps/)."""
    if negotiate(["application/json", "text/html"]) == "text/html":
        return redirect(url_for("dumps.listing"), 303)  # type: ignore[return-value]
    files = [{"name": stable, "href": url_for("dumps.latest", name=stable),
              "file": entry.name, "file_href": entry.href, "size": entry.size,
              "sha256": entry.sha256}
             for stable, entry in sorted(latest_files().items())]
    response = Response(json.dumps({"files": files}, indent=2) + "\n",
                        mimetype="application/json")
    response.headers["Cache-Control"] = "no-cache"
    response.vary.add("Accept")
    return response


@bp.get("/dumps/latest/<name>")
def latest(name: str) -> Response:
    """The current release's file under its stable name (the same bytes, ETag and ranges;
    Content-Location names the release's own file)."""
    current = latest_files()
    if name == CHECKSUMS_FILE:
        # both names of every file, so a download under either name checks out
        lines = [f"{e.sha256}  {n}\n" for n, e in sorted(current.items()) if e.sha256]
        lines += [f"{e.sha256}  {e.name}\n" for n, e in sorted(current.items())
                  if e.sha256 and e.name != n]
        response = Response("".join(lines), mimetype="text/plain")
        response.headers["Cache-Control"] = "no-cache"
        return response
    if name.endswith(CHECKSUM_SUFFIX) and name[:-len(CHECKSUM_SUFFIX)] in current:
        return _checksum_line(current[name[:-len(CHECKSUM_SUFFIX)]], name[:-len(CHECKSUM_SUFFIX)])
    entry = current.get(name)
    if entry is None:
        known = ", ".join(sorted(current)) or "none: run kg export"
        raise ApiError(404, f"no current dump is called {name!r} (stable names: {known})")
    response = _send(entry, download_name=name)
    response.headers["Content-Location"] = entry.href
    # the name stays, the file behind it changes with each release
    response.headers["Cache-Control"] = "no-cache"
    return response


# VoID -------------------------------------------------------------------------------


def _generated_void(dataset: URIRef) -> Graph:
    """A minimal VoID description from the published figures (:mod:`server.pages.statistics`),
    for when no export wrote void.ttl."""
    base = settings().base_iri
    figures = dataset_stats()
    g = Graph()
    g.add((dataset, RDF.type, VOID.Dataset))
    g.add((dataset, DCTERMS.title, Literal("scholarkg: researcher profiles as linked data")))
    g.add((dataset, VOID.uriSpace, Literal(base)))
    g.add((dataset, VOID.triples, Literal(figures["triples"])))
    g.add((dataset, VOID.distinctSubjects, Literal(figures["subjects"])))
    for vocabulary in ("schema", "foaf", "skg", "prov"):
        g.add((dataset, VOID.vocabulary, URIRef(PREFIXES[vocabulary])))
    for cls, count in figures["classes"]:
        name = compact_iri(cls).replace(":", "-") if compact_iri(cls) != cls else _digest(cls)
        part = URIRef(f"{dataset}/class/{quote(name, safe='-._~')}")
        g.add((dataset, VOID.classPartition, part))
        g.add((part, VOID["class"], URIRef(cls)))
        g.add((part, VOID.entities, Literal(int(count))))
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
    # the dataset alone: the other void:Datasets are the ones its link sets point into
    endpoint = URIRef(request.url_root + "sparql")
    dumps = [URIRef(url_for("dumps.dump", name=e.name, _external=True))
             for e in list_dumps() if e.rdf_format and not is_change_file(e.name)]
    g.add((dataset, VOID.sparqlEndpoint, endpoint))
    for url in dumps:
        g.add((dataset, VOID.dataDump, url))
    return g


@bp.get("/.well-known/void")
def void() -> Response:
    """The VoID description, negotiated among Turtle, JSON-LD and N-Triples."""
    rep = choose(VOID_REPRESENTATIONS)
    body = serialize_graph(void_graph(), rep.name)
    return answer(body, rep, "/.well-known/void", VOID_REPRESENTATIONS, negotiated=True,
                  alternate_paths=False)
