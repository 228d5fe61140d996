"""What the server says about a named graph of the store that is not an entity.

Source documents and link sets are described in the default graph (they are entities).
The graphs the ingest maintains (``graph/author-links``, ``graph/title-variants``) and
graphs created through the Graph Store are not: :func:`graph_kind` says what a graph
holds (the paper page uses it for link sets too), :func:`graph_rdf` describes it (what it
is, how many statements, where to query and download it), and :func:`graph_html` renders
that as a page.

>>> graph_kind("https://ex.org/id/", "https://ex.org/id/graph/author-links").label
'Author links'
>>> graph_kind("https://ex.org/id/", "https://ex.org/id/linkset/orcid-ids").label
'Link set orcid-ids'
>>> graph_kind("https://ex.org/id/", "https://ex.org/id/graph/5f0c").label
'Named graph graph/5f0c'
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

from flask import render_template, request, url_for
from rdflib import RDF, RDFS, Graph, Literal, URIRef
from rdflib.namespace import DCTERMS, XSD

from kg.mapping.iris import IriMinter
from kg.mapping.vocab import PREFIXES
from server.pages.descriptions import sparql_iri
from server.sparql.service import query_service

_VOID = PREFIXES["void"]
_SD = PREFIXES["sd"]


class GraphKind(NamedTuple):
    """What a named graph is, in words."""

    label: str
    description: str


@dataclass(frozen=True)
class NamedGraph:
    """A named graph of the store as its page shows it."""

    iri: str
    kind: GraphKind
    quads: int


def graph_kind(base_iri: str, iri: str) -> GraphKind:
    """The label and description of the named graph ``iri`` (minted under ``base_iri``)."""
    minter = IriMinter(base_iri)
    if iri == minter.author_links():
        return GraphKind("Author links", (
            "Byline names of papers resolved to the profiled person they name, across "
            "documents: the authorships' skg:person and the papers' schema:author links "
            "that no single document states. Maintained by every ingest."))
    if iri == minter.title_variants():
        return GraphKind("Title variants", (
            "Paper titles printed differently by different current documents, kept as "
            "schema:alternateName of the paper. Maintained by every ingest."))
    prefix = minter.linkset("")
    if iri.startswith(prefix) and len(iri) > len(prefix):
        return GraphKind(f"Link set {iri[len(prefix):]}", (
            "Curated links loaded from a table with kg link (owl:sameAs and other "
            "identifiers of the dataset's entities)."))
    name = minter.local_path(iri) or iri
    return GraphKind(f"Named graph {name}", "A named graph of the store.")


def names_graph_query(iri: str) -> str:
    """ASK whether the store has a named graph called ``iri`` that holds a statement."""
    return f"ASK {{ GRAPH {sparql_iri(iri)} {{ ?s ?p ?o }} }}"


def graph_size(iri: str) -> int:
    """How many statements (quads) the named graph ``iri`` holds."""
    rows = query_service().select(
        f"SELECT (COUNT(*) AS ?n) WHERE {{ GRAPH {sparql_iri(iri)} {{ ?s ?p ?o }} }}")
    return int(rows[0]["n"][1]) if rows else 0


def sample_query(iri: str) -> str:
    """The query the page offers to look into the graph."""
    return f"SELECT ?s ?p ?o WHERE {{\n  GRAPH {sparql_iri(iri)} {{ ?s ?p ?o }}\n}} LIMIT 100"


def _links(iri: str, external: bool) -> dict[str, str]:
    """This server's URLs to query the graph and to download it (a Graph Store read)."""
    root = request.url_root if external else request.script_root + "/"
    return {
        "endpoint": root + "sparql",
        "query": url_for("query_page.index", query=sample_query(iri), _external=external),
        "download": url_for("graph_store.graph_store", graph=iri, _external=external),
    }


def graph_rdf(graph: NamedGraph, dataset_iri: str) -> Graph:
    """The description of a named graph: an sd:Graph and void:Dataset with its size,
    the dataset it is part of, this server's endpoint and its Graph Store download."""
    g = Graph()
    node = URIRef(graph.iri)
    links = _links(graph.iri, external=True)
    g.add((node, RDF.type, URIRef(_SD + "Graph")))
    g.add((node, RDF.type, URIRef(_VOID + "Dataset")))
    g.add((node, RDFS.label, Literal(graph.kind.label)))
    g.add((node, DCTERMS.description, Literal(graph.kind.description)))
    g.add((node, URIRef(_VOID + "triples"), Literal(graph.quads, datatype=XSD.integer)))
    g.add((node, DCTERMS.isPartOf, URIRef(dataset_iri)))
    g.add((node, URIRef(_VOID + "sparqlEndpoint"), URIRef(links["endpoint"])))
    g.add((node, URIRef(_VOID + "dataDump"), URIRef(links["download"])))
    return g


def graph_html(graph: NamedGraph, jsonld: object, alternates: list[dict[str, str]]) -> str:
    """The page of a named graph: what it holds, its size, links to query and download it."""
    links = _links(graph.iri, external=False)
    return render_template(
        "graph.html", title=graph.kind.label, iri=graph.iri, kind=graph.kind,
        quads=graph.quads, query_href=links["query"], download_href=links["download"],
        endpoint_href=links["endpoint"], jsonld=jsonld, alternates=alternates)
