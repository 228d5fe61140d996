"""The SPARQL 1.1 Service Description answered by GET /sparql without a query.

>>> from server.settings import Settings
>>> lines = description_ntriples("http://localhost/sparql", Settings(), {"triples": 3,
...                              "default_triples": 2})
>>> '<http://localhost/sparql>' in lines and 'void#triples> "3"' in lines
True
"""

from __future__ import annotations

from kg.mapping.vocab import PREFIXES
from kg.output.formats import ALL_FORMATS
from server.settings import Settings

SD = PREFIXES["sd"]
VOID = PREFIXES["void"]
RDF_TYPE = "http://www.w3.org/1999/02/22-rdf-syntax-ns#type"
XSD_INTEGER = "http://www.w3.org/2001/XMLSchema#integer"
W3C_FORMATS = "http://www.w3.org/ns/formats/"

#: the W3C format IRI (http://www.w3.org/ns/formats/) of each registered format
FORMAT_IRIS = {
    "turtle": W3C_FORMATS + "Turtle",
    "ntriples": W3C_FORMATS + "N-Triples",
    "nquads": W3C_FORMATS + "N-Quads",
    "trig": W3C_FORMATS + "TriG",
    "rdfxml": W3C_FORMATS + "RDF_XML",
    "jsonld": W3C_FORMATS + "JSON-LD",
    "json": W3C_FORMATS + "SPARQL_Results_JSON",
    "xml": W3C_FORMATS + "SPARQL_Results_XML",
    "csv": W3C_FORMATS + "SPARQL_Results_CSV",
    "tsv": W3C_FORMATS + "SPARQL_Results_TSV",
}


def description_ntriples(endpoint: str, settings: Settings,
                         stats: dict[str, int] | None) -> str:
    """The description as N-Triples; ``stats`` adds void:triples counts when known."""
    service, dataset, graph = "_:service", "_:dataset", "_:defaultGraph"

    def iri(value: str) -> str:
        return f"<{value}>"

    triples = [
        (service, iri(RDF_TYPE), iri(SD + "Service")),
        (service, iri(SD + "endpoint"), iri(endpoint)),
        (service, iri(SD + "supportedLanguage"), iri(SD + "SPARQL11Query")),
        (service, iri(SD + "feature"), iri(SD + "EmptyGraphs")),
        (service, iri(SD + "defaultEntailmentRegime"),
         iri("http://www.w3.org/ns/entailment/Simple")),
        (service, iri(SD + "defaultDataset"), dataset),
        (dataset, iri(RDF_TYPE), iri(SD + "Dataset")),
        (dataset, iri(SD + "defaultGraph"), graph),
        (graph, iri(RDF_TYPE), iri(SD + "Graph")),
    ]
    if settings.updates_enabled:
        triples.append((service, iri(SD + "supportedLanguage"), iri(SD + "SPARQL11Update")))
    if settings.allowed_services:
        triples.append((service, iri(SD + "feature"), iri(SD + "BasicFederatedQuery")))
    for fmt in ALL_FORMATS:
        triples.append((service, iri(SD + "resultFormat"), iri(FORMAT_IRIS[fmt.name])))
    if stats:
        triples.append((dataset, iri(VOID + "triples"), f'"{stats["triples"]}"^^<{XSD_INTEGER}>'))
        triples.append((graph, iri(VOID + "triples"),
                        f'"{stats["default_triples"]}"^^<{XSD_INTEGER}>'))
    return "".join(f"{s} {p} {o} .\n" for s, p, o in triples)
