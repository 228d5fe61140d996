"""The query page at /: a SPARQL editor, example queries, results as a table.

The editor is CodeMirror 6, bundled into ``static/editor/editor.js`` by
``scripts/build-editor.sh`` (sources in ``editor/``); the page carries the prefixes and
the vocabulary's terms for completion, so it asks nothing of any other server. Its
script (static/query.js) POSTs the query to ``/sparql`` and renders the answer with
``textContent`` only. ``/?query=...`` fills the editor and runs the query (the endpoint
redirects browsers here).

>>> [e.title for e in EXAMPLES][:2]
['Persons with their h-index', "A person's papers and co-authors"]
>>> "<https://ex.org/p>" in EXAMPLES[1].text("https://ex.org/p")
True
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from flask import Blueprint, Response, render_template, request
from rdflib import OWL, RDF, RDFS, Graph, Namespace, URIRef

from kg.mapping.vocab import PREFIXES
from kg.output.formats import RDF_FORMATS, RESULT_FORMATS
from server.pages.descriptions import PREFIX_DECLARATIONS, local_paths, ontology_dir, settings
from server.pages.representations import install_read_headers
from server.sparql.service import query_service

bp = Blueprint("query_page", __name__)
install_read_headers(bp)

#: the person examples use when the store has none
PLACEHOLDER_PERSON = "person/yuzhen-huang"


def _prefixes(*names: str) -> str:
    return "".join(f"PREFIX {n}: <{PREFIXES[n]}>\n" for n in names)


@dataclass(frozen=True)
class Example:
    title: str
    query: str

    def text(self, person: str) -> str:
        """The query with ``{person}`` replaced by a person's IRI."""
        return self.query.replace("{person}", f"<{person}>")


EXAMPLES: tuple[Example, ...] = (
    Example("Persons with their h-index", _prefixes("schema", "skg") + """
SELECT ?person ?name ?hIndex ?citations WHERE {
  ?person a schema:Person ;
          schema:name ?name .
  OPTIONAL { ?person skg:hIndex ?hIndex }
  OPTIONAL { ?person skg:citationCount ?citations }
}
ORDER BY DESC(?hIndex) ?name
LIMIT 100
"""),
    Example("A person's papers and co-authors", _prefixes("schema", "skg") + """
SELECT ?paper ?title ?date
       (GROUP_CONCAT(DISTINCT ?printed; separator=", ") AS ?byline)
       (GROUP_CONCAT(DISTINCT ?coauthorName; separator=", ") AS ?profiledCoauthors)
WHERE {
  ?paper schema:author {person} ;
         schema:name ?title .
  OPTIONAL { ?paper schema:datePublished ?date }
  OPTIONAL { ?paper skg:authorship/skg:nameAsStated ?printed }
  OPTIONAL {
    ?paper schema:author ?coauthor .
    FILTER(?coauthor != {person})
    ?coauthor schema:name ?coauthorName
  }
}
GROUP BY ?paper ?title ?date
ORDER BY DESC(?date)
"""),
    Example("Papers by year", _prefixes("schema") + """
SELECT ?year (COUNT(DISTINCT ?paper) AS ?papers) WHERE {
  ?paper a schema:ScholarlyArticle ;
         schema:datePublished ?date .
  BIND(YEAR(?date) AS ?year)
}
GROUP BY ?year
ORDER BY ?year
"""),
    Example("Top authors by paper count", _prefixes("schema") + """
SELECT ?person ?name (COUNT(DISTINCT ?paper) AS ?papers) WHERE {
  ?paper schema:author ?person .
  ?person schema:name ?name .
}
GROUP BY ?person ?name
ORDER BY DESC(?papers) ?name
LIMIT 20
"""),
    Example("Metric history of a person", _prefixes("schema", "prov") + """
SELECT ?metric ?date ?value ?source WHERE {
  ?observation schema:observationAbout {person} ;
               schema:measuredProperty ?metric ;
               schema:value ?value ;
               schema:observationDate ?date .
  OPTIONAL { ?observation prov:wasDerivedFrom ?source }
}
ORDER BY ?metric ?date
"""),
    Example("Papers with code", _prefixes("schema", "skg") + """
# DISTINCT: a paper both flagged and with a repository matches both branches
SELECT DISTINCT ?paper ?title ?repository WHERE {
  { ?paper skg:codeAvailable true } UNION { ?paper schema:codeRepository ?any }
  ?paper schema:name ?title .
  OPTIONAL { ?paper schema:codeRepository ?repository }
}
ORDER BY ?title
"""),
    Example("Named graphs and their provenance", _prefixes("skg", "prov") + """
SELECT ?graph ?file ?asOf ?layout ?person ?ingested (COUNT(*) AS ?triples) WHERE {
  GRAPH ?graph { ?s ?p ?o }
  OPTIONAL { ?graph skg:fileName ?file }
  OPTIONAL { ?graph skg:asOfDate ?asOf }
  OPTIONAL { ?graph skg:documentLayout ?layout }
  OPTIONAL { ?graph skg:describes ?person }
  OPTIONAL { ?graph prov:generatedAtTime ?ingested }
}
GROUP BY ?graph ?file ?asOf ?layout ?person ?ingested
ORDER BY DESC(?asOf) ?file
"""),
    Example("Describe a person (CONSTRUCT)", _prefixes("schema") + """
CONSTRUCT { {person} ?p ?o } WHERE {
  {person} ?p ?o .
}
"""),
)


SH = Namespace("http://www.w3.org/ns/shacl#")
_SHIPPED_SHAPES = Path(__file__).resolve().parents[2] / "ontology" / "shapes.ttl"


@lru_cache(maxsize=4)
def _terms(vocabulary: str, shapes: str) -> tuple[dict[str, str], ...]:
    graph = Graph()
    for path in (vocabulary, shapes):
        if Path(path).is_file():
            graph.parse(path, format="turtle")
    kinds: dict[str, str] = {}
    for cls in (OWL.Class, RDFS.Class):
        for term in graph.subjects(RDF.type, cls):
            kinds[str(term)] = "class"
    for prop in (OWL.ObjectProperty, OWL.DatatypeProperty, RDF.Property):
        for term in graph.subjects(RDF.type, prop):
            kinds[str(term)] = "property"
    for predicate, kind in ((SH.targetClass, "class"), (SH["class"], "class"),
                            (SH.path, "property")):
        for term in graph.objects(None, predicate):
            if isinstance(term, URIRef):
                kinds.setdefault(str(term), kind)
    return tuple({"iri": iri, "kind": kind,
                  "comment": str(graph.value(URIRef(iri), RDFS.comment) or "")}
                 for iri, kind in sorted(kinds.items()))


def vocabulary_terms() -> list[dict[str, str]]:
    """Classes and properties of the data model, for the editor's completion: the
    ``skg`` vocabulary and every class and property the SHACL shapes name.

    >>> from server import create_app
    >>> from kg.storage.store import KnowledgeStore
    >>> with create_app(store=KnowledgeStore.open(None)).app_context():
    ...     terms = {t["iri"]: t["kind"] for t in vocabulary_terms()}
    >>> terms["https://schema.org/Person"], terms["https://w3id.org/scholarkg/ns#hIndex"]
    ('class', 'property')
    """
    return list(_terms(str(ontology_dir() / "scholarkg.ttl"), str(_SHIPPED_SHAPES)))


def _example_person() -> str:
    rows = query_service().select(PREFIX_DECLARATIONS + """SELECT ?p WHERE {
  ?p a schema:Person ; skg:hIndex ?h ; schema:name ?n } ORDER BY DESC(?h) ?n LIMIT 1""")
    if rows:
        return rows[0]["p"][1]
    return settings().base_iri + PLACEHOLDER_PERSON


@bp.get("/")
def index() -> Response:
    """The query page; ``?query=`` fills the editor and runs the query."""
    person = _example_person()
    examples = [{"title": e.title, "query": e.text(person).lstrip("\n")} for e in EXAMPLES]
    query = request.args.get("query")
    downloads = {
        "results": [{"name": f.name, "label": f.label, "extension": f.extension}
                    for f in RESULT_FORMATS.values()],
        "graph": [{"name": f.name, "label": f.label, "extension": f.extension}
                  for f in RDF_FORMATS.values()],
    }
    paths = local_paths()
    body = render_template(
        "query.html",
        title="Query",
        query=query if query is not None else examples[0]["query"],
        examples=examples,
        downloads=downloads,
        entity_path=(request.script_root + paths.base_path) if paths.base_path else "",
        prefixes=PREFIXES,
        terms=vocabulary_terms(),
        run=query is not None,
        endpoint=request.script_root + "/sparql",
        max_url_bytes=settings().max_url_bytes,
    )
    response = Response(body, mimetype="text/html")
    return response
