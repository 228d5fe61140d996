"""One registry of formats: name, file extension, media types.

It drives the CLI's ``--format`` choices, the server's content negotiation and the
dump file names. The first media type of each format is its canonical one.

>>> RDF_FORMATS["turtle"].extension, RDF_FORMATS["turtle"].media_type
('ttl', 'text/turtle')
>>> by_media_type("application/sparql-results+json").name
'json'
>>> by_extension("nq").name
'nquads'
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Format:
    name: str
    extension: str
    media_types: tuple[str, ...]
    #: "rdf" for graph/dataset serialisations, "results" for SPARQL SELECT/ASK results
    kind: str
    #: True when the format can hold named graphs
    dataset: bool = False
    label: str = ""

    @property
    def media_type(self) -> str:
        return self.media_types[0]


RDF_FORMATS: dict[str, Format] = {
    f.name: f
    for f in (
        Format("turtle", "ttl", ("text/turtle", "application/x-turtle"), "rdf", label="Turtle"),
        Format("ntriples", "nt", ("application/n-triples", "text/plain"), "rdf",
               label="N-Triples"),
        Format("nquads", "nq", ("application/n-quads", "text/x-nquads"), "rdf", dataset=True,
               label="N-Quads"),
        Format("trig", "trig", ("application/trig",), "rdf", dataset=True, label="TriG"),
        Format("rdfxml", "rdf", ("application/rdf+xml", "application/xml"), "rdf",
               label="RDF/XML"),
        Format("jsonld", "jsonld", ("application/ld+json",), "rdf", dataset=True,
               label="JSON-LD (compact)"),
    )
}

RESULT_FORMATS: dict[str, Format] = {
    f.name: f
    for f in (
        Format("json", "srj", ("application/sparql-results+json", "application/json"),
               "results", label="SPARQL JSON"),
        Format("xml", "srx", ("application/sparql-results+xml", "application/xml"),
               "results", label="SPARQL XML"),
        Format("csv", "csv", ("text/csv",), "results", label="CSV"),
        Format("tsv", "tsv", ("text/tab-separated-values",), "results", label="TSV"),
    )
}

ALL_FORMATS: tuple[Format, ...] = (*RDF_FORMATS.values(), *RESULT_FORMATS.values())


def by_media_type(media_type: str, kind: str | None = None) -> Format | None:
    """The format with this media type (parameters ignored), optionally of one kind."""
    wanted = media_type.split(";", 1)[0].strip().lower()
    for fmt in ALL_FORMATS:
        if (kind is None or fmt.kind == kind) and wanted in fmt.media_types:
            return fmt
    return None


def by_extension(extension: str, kind: str | None = None) -> Format | None:
    """The format with this file extension (without the dot)."""
    wanted = extension.lower().lstrip(".")
    for fmt in ALL_FORMATS:
        if (kind is None or fmt.kind == kind) and fmt.extension == wanted:
            return fmt
    return None
