"""The vocabularies scholarkg speaks: one prefix table and closed namespaces.

Every prefix is bound from :data:`PREFIXES`. The project's own terms are a closed
namespace, so a typo is an error rather than a silent new IRI:

>>> str(SKG.hIndex)
'https://w3id.org/scholarkg/ns#hIndex'
>>> SKG.hIndexx
Traceback (most recent call last):
...
AttributeError: term 'hIndexx' not in namespace 'https://w3id.org/scholarkg/ns#'

:data:`SKG_TERMS` documents each term; ``ontology/scholarkg.ttl`` must define exactly
these (a test checks both ways).
"""

from __future__ import annotations

from typing import NamedTuple

from rdflib.namespace import DefinedNamespace, Namespace
from rdflib.term import URIRef

SKG_IRI = "https://w3id.org/scholarkg/ns#"
SCHEMA_IRI = "https://schema.org/"

#: every prefix the project binds, in the order serialisations list them
PREFIXES: dict[str, str] = {
    "skg": SKG_IRI,
    "schema": SCHEMA_IRI,
    "foaf": "http://xmlns.com/foaf/0.1/",
    "prov": "http://www.w3.org/ns/prov#",
    "dcterms": "http://purl.org/dc/terms/",
    "dcat": "http://www.w3.org/ns/dcat#",
    "void": "http://rdfs.org/ns/void#",
    "sd": "http://www.w3.org/ns/sparql-service-description#",
    "owl": "http://www.w3.org/2002/07/owl#",
    "rdf": "http://www.w3.org/1999/02/22-rdf-syntax-ns#",
    "rdfs": "http://www.w3.org/2000/01/rdf-schema#",
    "xsd": "http://www.w3.org/2001/XMLSchema#",
    "sh": "http://www.w3.org/ns/shacl#",
}


class Term(NamedTuple):
    name: str
    kind: str  # "Class", "ObjectProperty", "DatatypeProperty"
    label: str
    comment: str
    domain: str | None  # CURIE
    range: str | None  # CURIE


SKG_TERMS: tuple[Term, ...] = (
    Term("Authorship", "Class", "authorship",
         "One author name as printed in a paper's byline; a schema:Role between the paper and "
         "the author, carrying the stated name and 1-based position.", None, None),
    Term("SourceDocument", "Class", "source document",
         "One ingested profile document (a text file or one JSON Lines record); its IRI is the "
         "named graph holding what the document said.", None, None),
    Term("authorship", "ObjectProperty", "authorship",
         "Links a paper to one skg:Authorship per name printed in its byline.",
         "schema:ScholarlyArticle", "skg:Authorship"),
    Term("person", "ObjectProperty", "person",
         "The profiled researcher an authorship's printed name resolves to. Used on "
         "skg:Authorship nodes only, so that schema:author always links a paper to a person.",
         "skg:Authorship", "schema:Person"),
    Term("nameAsStated", "DatatypeProperty", "name as stated",
         "The author name exactly as the byline printed it.", "skg:Authorship", "xsd:string"),
    Term("bylineComplete", "DatatypeProperty", "byline complete",
         "False when the printed byline was truncated with 'et al.', true when it lists every "
         "author.", "schema:ScholarlyArticle", "xsd:boolean"),
    Term("arxivCategory", "DatatypeProperty", "arXiv category",
         "The arXiv category (e.g. 'cs.LG') a two-letter subject code maps to, where the mapping "
         "is unambiguous.", "schema:DefinedTerm", "xsd:string"),
    Term("codeAvailable", "DatatypeProperty", "code available",
         "True when the profile flags the paper as having code available.",
         "schema:ScholarlyArticle", "xsd:boolean"),
    Term("hIndex", "DatatypeProperty", "h-index",
         "The researcher's h-index as the latest profile snapshot states it.",
         "schema:Person", "xsd:integer"),
    Term("paperCount", "DatatypeProperty", "paper count",
         "The number of papers the latest profile snapshot credits the researcher with.",
         "schema:Person", "xsd:integer"),
    Term("citationCount", "DatatypeProperty", "citation count",
         "The number of citations the latest profile snapshot states.",
         "schema:Person", "xsd:integer"),
    Term("noveltyScore", "DatatypeProperty", "novelty score",
         "The profile's novelty score in percent, as printed.", "schema:Person", "xsd:decimal"),
    Term("aiScore", "DatatypeProperty", "AI score",
         "The profile's AI score in points, as printed.", "schema:Person", "xsd:decimal"),
    Term("paperScore", "DatatypeProperty", "paper score",
         "The score the profile page shows before a paper's category code.",
         "schema:ScholarlyArticle", "xsd:decimal"),
    Term("dateAsPrinted", "DatatypeProperty", "date as printed",
         "The publication date exactly as the profile printed it (e.g. 'Mar 13').",
         "schema:ScholarlyArticle", "xsd:string"),
    Term("listedPaperCount", "DatatypeProperty", "listed paper count",
         "The number of papers a profile page says it lists ('15 Papers').",
         "skg:SourceDocument", "xsd:integer"),
    Term("sha256", "DatatypeProperty", "SHA-256",
         "Lower-case hexadecimal SHA-256 of the document's bytes.", None, "xsd:string"),
    Term("asOfDate", "DatatypeProperty", "as-of date",
         "The date the document was captured; year-less dates in it resolve against this.",
         "skg:SourceDocument", "xsd:date"),
    Term("fileName", "DatatypeProperty", "file name",
         "The name of the file the document was read from.", None, "xsd:string"),
    Term("sourceLine", "DatatypeProperty", "source line",
         "The 1-based line of a JSON Lines record within its file.",
         "skg:SourceDocument", "xsd:integer"),
    Term("documentLayout", "DatatypeProperty", "document layout",
         "The input layout: 'scored-profile-page', 'collaborating-authors' or 'jsonl'.",
         "skg:SourceDocument", "xsd:string"),
    Term("describes", "ObjectProperty", "describes",
         "The researcher whose profile the document is.", "skg:SourceDocument", "schema:Person"),
    Term("supersededBy", "ObjectProperty", "superseded by",
         "A later snapshot of the same profile that replaced this document's current facts; "
         "this document's graph and observations stay as history.",
         "skg:SourceDocument", "skg:SourceDocument"),
)


class SKG(DefinedNamespace):
    """The scholarkg vocabulary, ``https://w3id.org/scholarkg/ns#``."""

    _NS = Namespace(SKG_IRI)
    _fail = True

    Authorship: URIRef
    SourceDocument: URIRef
    authorship: URIRef
    person: URIRef
    nameAsStated: URIRef
    bylineComplete: URIRef
    arxivCategory: URIRef
    codeAvailable: URIRef
    hIndex: URIRef
    paperCount: URIRef
    citationCount: URIRef
    noveltyScore: URIRef
    aiScore: URIRef
    paperScore: URIRef
    dateAsPrinted: URIRef
    listedPaperCount: URIRef
    sha256: URIRef
    asOfDate: URIRef
    fileName: URIRef
    sourceLine: URIRef
    documentLayout: URIRef
    describes: URIRef
    supersededBy: URIRef


#: the person metrics: record field -> skg property local name, in display order
PERSON_METRICS: dict[str, str] = {
    "h_index": "hIndex",
    "paper_count": "paperCount",
    "citation_count": "citationCount",
    "novelty_score": "noveltyScore",
    "ai_score": "aiScore",
}


def expand(curie: str) -> str:
    """The full IRI of a CURIE in :data:`PREFIXES`.

    >>> expand("schema:Person")
    'https://schema.org/Person'
    """
    prefix, _, local = curie.partition(":")
    return PREFIXES[prefix] + local
