"""What the server says about one IRI, shared by the linked-data routes and the pages.

- :class:`LocalPaths` maps minted IRIs to paths on this server and back, so entity
  IRIs dereference (and pages link to each other) on whatever host and port.
- :func:`description_query` is the CONSTRUCT that describes an entity: its outgoing
  triples (one level into blank nodes), incoming links (limited) and the labels of
  the entities linked either way.
- :func:`compact_jsonld` compacts expanded JSON-LD with the project's ``@context``
  (``ontology/context.jsonld``), never touching the network.

>>> paths = LocalPaths("https://w3id.org/scholarkg/id/")
>>> paths.path_of("https://w3id.org/scholarkg/id/person/yuzhen-huang")
'/id/person/yuzhen-huang'
>>> paths.iri_for("person/a b")
'https://w3id.org/scholarkg/id/person/a%20b'
>>> paths.href("https://orcid.org/0000-0002-1825-0097")
'https://orcid.org/0000-0002-1825-0097'
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

from flask import current_app
from pyld import jsonld
from rdflib import Graph

from kg.errors import UnwritableTerm
from kg.mapping.vocab import PREFIXES
from kg.storage.store import KnowledgeStore
from server.settings import Settings
from server.sparql.service import query_service

#: the PREFIX lines every query of the web pages starts with
PREFIX_DECLARATIONS = "".join(f"PREFIX {k}: <{v}>\n" for k, v in PREFIXES.items())

#: properties whose values name a linked entity in a description
LABEL_PROPERTIES = ("schema:name", "rdfs:label", "foaf:name", "skg:nameAsStated",
                    "schema:termCode", "dcterms:title")
#: most incoming links one description lists
INCOMING_LIMIT = 500

_SHIPPED_ONTOLOGY = Path(__file__).resolve().parents[2] / "ontology"
# characters no IRI reference may hold (N-Triples IRIREF); never embedded in a query
_BAD_IRI = re.compile(r'[\x00-\x20<>"{}|^`\\]')


def settings() -> Settings:
    """The current app's settings."""
    return current_app.config["KG_SETTINGS"]  # type: ignore[no-any-return]


#: hosts whose redirect rules drop the first path segment (the registered namespace name)
REDIRECT_HOSTS = ("w3id.org", "purl.org")


def entity_path_for(base_iri: str) -> str | None:
    """The local path entities of ``base_iri`` are served under (None for a hash base).

    >>> entity_path_for("https://w3id.org/scholarkg/id/"), entity_path_for("http://h:8000/kg/")
    ('/id/', '/kg/')
    """
    if not base_iri.endswith("/"):
        return None
    parts = urlsplit(base_iri)
    path = parts.path or "/"
    if parts.hostname in REDIRECT_HOSTS:
        path = "/" + path.lstrip("/").partition("/")[2]
    return path


@dataclass(frozen=True)
class LocalPaths:
    """Minted IRIs <-> paths on this server: ``<base>rest`` is served at ``<entity path>rest``.

    >>> LocalPaths("http://localhost:8000/").path_of("http://localhost:8000/dataset")
    '/dataset'
    >>> LocalPaths("https://ex.org/id#").path_of("https://ex.org/id#x") is None
    True
    >>> LocalPaths("https://ex.org/id/", "/").path_of("https://ex.org/id/x")
    '/x'
    """

    base_iri: str
    #: overrides the derived entity path (setting ``entity_path``)
    entity_path: str = ""

    @property
    def base_path(self) -> str | None:
        """The path entities are served under, or None for a hash base (not dereferenceable)."""
        if not self.base_iri.endswith("/"):
            return None
        if self.entity_path:
            return "/" + self.entity_path.strip("/") + "/" if self.entity_path.strip("/") else "/"
        return entity_path_for(self.base_iri)

    def path_of(self, iri: str) -> str | None:
        """The local path of a minted IRI, None for any other IRI."""
        base_path = self.base_path
        if base_path is None or not iri.startswith(self.base_iri):
            return None
        return base_path + iri[len(self.base_iri):]

    def href(self, iri: str) -> str:
        """Where a link to ``iri`` goes: its local path when minted here, else the IRI."""
        return self.path_of(iri) or iri

    def iri_for(self, rest: str) -> str:
        """The IRI for a (percent-decoded) path below the base path.

        Minted IRIs keep only unreserved characters in their segments, so re-encoding
        everything else gives the IRI back.
        """
        return self.base_iri + quote(rest, safe="/-._~")

    def short(self, iri: str) -> str:
        """A short display form: ``person/x`` for minted IRIs, ``schema:name`` for vocabulary.

        >>> LocalPaths("https://ex.org/id/").short("https://schema.org/name")
        'schema:name'
        """
        if iri.startswith(self.base_iri):
            return iri[len(self.base_iri):] or iri
        return compact_iri(iri)


def local_paths() -> LocalPaths:
    s = settings()
    return LocalPaths(s.base_iri, s.entity_path)


def compact_iri(iri: str) -> str:
    """``prefix:local`` for IRIs in a known namespace (local part without '/' or '#').

    >>> compact_iri("http://xmlns.com/foaf/0.1/made"), compact_iri("https://ex.org/a/b")
    ('foaf:made', 'https://ex.org/a/b')
    """
    for prefix, ns in PREFIXES.items():
        if iri.startswith(ns):
            local = iri[len(ns):]
            if local and not re.search(r"[/#?:]", local):
                return f"{prefix}:{local}"
    return iri


def sparql_iri(iri: str) -> str:
    """``<iri>`` for embedding in a query; refuses text that could break out of it.

    >>> sparql_iri("https://ex.org/a")
    '<https://ex.org/a>'
    >>> sparql_iri("https://ex.org/a> } DROP ALL #")
    Traceback (most recent call last):
    ...
    ValueError: not an IRI: 'https://ex.org/a> } DROP ALL #'
    """
    if _BAD_IRI.search(iri):
        raise ValueError(f"not an IRI: {iri!r}")
    return f"<{iri}>"


def exists_query(iri: str) -> str:
    """ASK whether the merged graph mentions ``iri`` as subject or object."""
    e = sparql_iri(iri)
    return f"ASK {{ {{ {e} ?p ?o }} UNION {{ ?s ?p {e} }} }}"


def description_query(iri: str, incoming_limit: int = INCOMING_LIMIT) -> str:
    """CONSTRUCT the description of ``iri`` from the merged (default) graph.

    >>> "LIMIT 500" in description_query("https://ex.org/a")
    True
    """
    e = sparql_iri(iri)
    labels = " ".join(LABEL_PROPERTIES)
    return PREFIX_DECLARATIONS + f"""CONSTRUCT {{
  {e} ?p ?o . ?o ?lp ?olabel .
  ?b ?bp ?bo .
  ?s ?ip {e} . ?s ?slp ?slabel .
}} WHERE {{
  {{ {e} ?p ?o .
    OPTIONAL {{ VALUES ?lp {{ {labels} }} ?o ?lp ?olabel . FILTER(!sameTerm(?o, {e})) }} }}
  UNION
  {{ {e} ?bl ?b . FILTER(isBlank(?b)) ?b ?bp ?bo . }}
  UNION
  {{ {{ SELECT DISTINCT ?s ?ip WHERE {{ ?s ?ip {e} . FILTER(!sameTerm(?s, {e})) }}
       LIMIT {int(incoming_limit)} }}
    OPTIONAL {{ VALUES ?slp {{ {labels} }} ?s ?slp ?slabel . }} }}
}}"""


# the ontology and the JSON-LD context ---------------------------------------------------


def ontology_dir() -> Path:
    """Where scholarkg.ttl and context.jsonld are read from (setting ``ontology_dir``)."""
    configured = settings().ontology_dir
    return Path(configured) if configured else _SHIPPED_ONTOLOGY


@lru_cache(maxsize=4)
def _read_context(path: str, mtime_ns: int) -> dict[str, Any] | None:
    document = json.loads(Path(path).read_text(encoding="utf-8"))
    context = document.get("@context") if isinstance(document, dict) else None
    return context if isinstance(context, dict) else None


def jsonld_context() -> dict[str, Any] | None:
    """The ``@context`` object of ontology/context.jsonld, or None when it is missing."""
    path = ontology_dir() / "context.jsonld"
    try:
        mtime = path.stat().st_mtime_ns
    except OSError:
        return None
    return _read_context(str(path), mtime)


def _no_network(url: str, options: dict[str, Any] | None = None) -> Any:
    raise jsonld.JsonLdError(
        f"remote JSON-LD documents are never loaded ({url})", "jsonld.LoadDocumentError",
        code="loading document failed")


def compact_jsonld(expanded: Any) -> Any:
    """Compact JSON-LD with the project's context; expanded JSON-LD when there is none."""
    context = jsonld_context()
    if context is None:
        return expanded
    try:
        return jsonld.compact(expanded, context, {"documentLoader": _no_network})
    except jsonld.JsonLdError:
        current_app.logger.exception("JSON-LD compaction failed; answering expanded JSON-LD")
        return expanded


def sorted_ntriples(data: bytes, first: str | None = None) -> bytes:
    r"""N-Triples lines sorted, so serialisers group each subject; ``first``'s triples lead.

    >>> sorted_ntriples(b"<b> <p> <o> .\n<a> <p> <o> .\n<e> <p> <o> .\n", "e")
    b'<e> <p> <o> .\n<a> <p> <o> .\n<b> <p> <o> .\n'
    """
    lead = f"<{first}> ".encode() if first else None
    lines = sorted({line for line in data.splitlines() if line.strip()},
                   key=lambda line: (not (lead and line.startswith(lead)), line))
    return b"".join(line + b"\n" for line in lines)


def ntriples_as(data: bytes, format_name: str) -> bytes:
    """N-Triples re-serialised in a registered RDF format (JSON-LD compacted).

    :class:`~kg.errors.UnwritableTerm` (answered 406) when the format cannot hold one
    of its terms: a triple term in JSON-LD, a control character or a predicate without
    an XML name in RDF/XML."""
    if format_name == "ntriples":
        return data
    if format_name == "jsonld":
        found = KnowledgeStore.unwritable(data, "ntriples", "jsonld") if b"<<(" in data else None
        if found is not None:
            raise found
        expanded = jsonld.from_rdf(data.decode("utf-8"), {"format": "application/n-quads"})
        return (json.dumps(compact_jsonld(expanded), indent=2, ensure_ascii=False) + "\n").encode()
    return KnowledgeStore.convert(data, "ntriples", format_name)


def describe(iri: str, format_name: str) -> bytes:
    """The description of ``iri`` in a registered RDF format, grouped by subject."""
    data = query_service().construct(description_query(iri), "ntriples")
    return ntriples_as(sorted_ntriples(data, iri), format_name)


def describe_jsonld(iri: str) -> Any:
    """The description of ``iri`` as compact JSON-LD (expanded when there is no context),
    for a page to embed; None when JSON-LD cannot hold it (a triple term): the page
    then embeds none."""
    try:
        return json.loads(describe(iri, "jsonld"))
    except UnwritableTerm:
        return None


_RDFLIB_FORMATS = {"turtle": "turtle", "ntriples": "nt"}


def serialize_graph(graph: Graph, format_name: str) -> bytes:
    """An rdflib graph in a registered RDF format (JSON-LD compacted with our context).

    RDF/XML is written by the store's writer, which refuses (406) what RDF/XML cannot
    hold, as every other RDF/XML answer does."""
    for prefix, ns in PREFIXES.items():
        graph.bind(prefix, ns, override=True)
    if format_name in ("jsonld", "rdfxml"):
        return ntriples_as(sorted_ntriples(graph.serialize(format="nt", encoding="utf-8")),
                           format_name)
    return graph.serialize(format=_RDFLIB_FORMATS[format_name], encoding="utf-8")
