"""The ontology files: the OWL vocabulary, the SHACL shapes and the JSON-LD context.

They are public contract (docs/decisions/0001-vocabulary.md); these tests keep them in step
with kg.mapping.vocab and with each other.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyoxigraph
import pytest
from pyld import jsonld
from pyshacl import validate
from rdflib import RDF, RDFS, XSD, BNode, Graph, Literal, Namespace, URIRef
from rdflib.compare import isomorphic
from rdflib.namespace import FOAF, OWL, SH

from kg.mapping.vocab import PREFIXES, SKG, SKG_IRI, SKG_TERMS, Term, expand

ONTOLOGY_DIR = Path(__file__).resolve().parent.parent / "ontology"
ONTOLOGY = ONTOLOGY_DIR / "scholarkg.ttl"
SHAPES = ONTOLOGY_DIR / "shapes.ttl"
CONTEXT = ONTOLOGY_DIR / "context.jsonld"

ONTOLOGY_IRI = URIRef("https://w3id.org/scholarkg/ns")
SCHEMA = Namespace(PREFIXES["schema"])
PROV = Namespace(PREFIXES["prov"])
ID = Namespace("https://w3id.org/scholarkg/id/")


def _skg(name: str) -> URIRef:
    return URIRef(SKG_IRI + name)


KINDS = {
    "Class": OWL.Class,
    "ObjectProperty": OWL.ObjectProperty,
    "DatatypeProperty": OWL.DatatypeProperty,
}


@pytest.fixture(scope="module")
def ontology() -> Graph:
    return Graph().parse(ONTOLOGY, format="turtle")


@pytest.fixture(scope="module")
def shapes() -> Graph:
    return Graph().parse(SHAPES, format="turtle")


@pytest.fixture(scope="module")
def context() -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(CONTEXT.read_text(encoding="utf-8"))
    return doc


# --------------------------------------------------------------------------- (1) parsing


def test_ontology_parses_with_rdflib_and_pyoxigraph(ontology: Graph) -> None:
    quads = list(pyoxigraph.parse(path=str(ONTOLOGY), format=pyoxigraph.RdfFormat.TURTLE))
    assert len(quads) == len(ontology) > 0


def test_ontology_header(ontology: Graph) -> None:
    assert (ONTOLOGY_IRI, RDF.type, OWL.Ontology) in ontology
    assert ontology.value(ONTOLOGY_IRI, OWL.versionInfo) == Literal("0.1.0")
    assert ontology.value(ONTOLOGY_IRI, URIRef("http://purl.org/dc/terms/license")) == URIRef(
        "https://creativecommons.org/licenses/by/4.0/"
    )
    vann = Namespace("http://purl.org/vocab/vann/")
    assert ontology.value(ONTOLOGY_IRI, vann.preferredNamespacePrefix) == Literal("skg")
    for prop in ("title", "description"):
        value = ontology.value(ONTOLOGY_IRI, URIRef(f"http://purl.org/dc/terms/{prop}"))
        assert isinstance(value, Literal) and value.language == "en"


# --------------------------------------------------------------------------- (2) terms


def _skg_iris(graph: Graph) -> set[URIRef]:
    return {
        t
        for triple in graph
        for t in triple
        if isinstance(t, URIRef) and str(t).startswith(SKG_IRI)
    }


def test_ontology_defines_exactly_the_vocab_terms(ontology: Graph) -> None:
    defined = {
        str(s)[len(SKG_IRI) :]
        for s in ontology.subjects()
        if isinstance(s, URIRef) and str(s).startswith(SKG_IRI)
    }
    names = {t.name for t in SKG_TERMS}
    assert defined == names == set(SKG.__annotations__)
    # nothing else in the skg namespace is even mentioned
    assert {str(i)[len(SKG_IRI) :] for i in _skg_iris(ontology)} == names


@pytest.mark.parametrize("term", SKG_TERMS, ids=lambda t: t.name)
def test_term_is_described_as_in_vocab(ontology: Graph, term: Term) -> None:
    iri = _skg(term.name)
    assert set(ontology.objects(iri, RDF.type)) == {KINDS[term.kind]}
    assert list(ontology.objects(iri, RDFS.label)) == [Literal(term.label, lang="en")]
    assert list(ontology.objects(iri, RDFS.comment)) == [Literal(term.comment, lang="en")]
    assert list(ontology.objects(iri, RDFS.isDefinedBy)) == [ONTOLOGY_IRI]
    domains = {URIRef(expand(term.domain))} if term.domain else set()
    ranges = {URIRef(expand(term.range))} if term.range else set()
    assert set(ontology.objects(iri, RDFS.domain)) == domains
    assert set(ontology.objects(iri, RDFS.range)) == ranges
    assert list(ontology.objects(iri, RDFS.subPropertyOf)) == []


def test_class_hierarchy(ontology: Graph) -> None:
    assert set(ontology.objects(SKG.Authorship, RDFS.subClassOf)) == {SCHEMA.Role}
    assert set(ontology.objects(SKG.SourceDocument, RDFS.subClassOf)) == {PROV.Entity}


# --------------------------------------------------------------------------- (3) shapes

TITLE = 'Attention <is> "all" & you\\need: $\\mathcal{O}(n^2)$ \\textbf{bounds}'
SHA = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"

CONFORMING_TTL = r'''
@prefix skg: <https://w3id.org/scholarkg/ns#> .
@prefix schema: <https://schema.org/> .
@prefix foaf: <http://xmlns.com/foaf/0.1/> .
@prefix prov: <http://www.w3.org/ns/prov#> .
@prefix owl: <http://www.w3.org/2002/07/owl#> .
@prefix xsd: <http://www.w3.org/2001/XMLSchema#> .
@prefix id: <https://w3id.org/scholarkg/id/> .
@prefix doc: <https://w3id.org/scholarkg/id/document/> .

id:person\/zheng-zhang a schema:Person, foaf:Person ;
    schema:name "Zheng Zhang" ; foaf:name "Zheng Zhang" ;
    schema:alternateName "Zhang, Zheng", "Z. Zhang" ;
    schema:knowsAbout id:category\/LG ;
    skg:hIndex 12 ; skg:paperCount 40 ; skg:citationCount 1234 ;
    skg:noveltyScore 87.5 ; skg:aiScore 3.20 ;
    foaf:made id:paper\/c3681a29a493b371 ;
    schema:identifier id:person\/zheng-zhang\/identifier\/orcid ;
    owl:sameAs <https://orcid.org/0000-0002-1825-0097> ;
    schema:sameAs <https://orcid.org/0000-0002-1825-0097> .

id:person\/zheng-zhang\/identifier\/orcid a schema:PropertyValue ;
    schema:propertyID "orcid" ; schema:value "0000-0002-1825-0097" .

id:paper\/c3681a29a493b371 a schema:ScholarlyArticle ;
    schema:name """Attention <is> "all" & you\\need: $\\mathcal{O}(n^2)$ \\textbf{bounds}""" ;
    schema:abstract """Zoë's $O(n \\log n)$ bounds.
Code: https://github.com/example/attn.""" ;
    schema:datePublished "2025-03-13"^^xsd:date ;
    skg:dateAsPrinted "Mar 13" ;
    schema:about id:category\/LG ;
    schema:creditText "Zheng Zhang, Ada Lovelace et al." ;
    schema:author id:person\/zheng-zhang ;
    foaf:maker id:person\/zheng-zhang ;
    skg:authorship id:paper\/c3681a29a493b371\/authorship\/1-0a1b2c3d ,
                   id:paper\/c3681a29a493b371\/authorship\/2-4e5f6a7b ;
    skg:bylineComplete false ;
    schema:sourceOrganization id:organization\/mit ;
    schema:isPartOf id:source\/arxiv-org-artificial-intelligence ;
    skg:codeAvailable true ;
    schema:codeRepository <https://github.com/example/attn> ;
    skg:paperScore 9.1 .

id:paper\/c3681a29a493b371\/authorship\/1-0a1b2c3d a skg:Authorship ;
    skg:nameAsStated "Zheng Zhang" ; schema:position 1 ; skg:person id:person\/zheng-zhang .

id:paper\/c3681a29a493b371\/authorship\/2-4e5f6a7b a skg:Authorship ;
    skg:nameAsStated "Ada Lovelace" ; schema:position 2 .

id:category\/LG a schema:DefinedTerm ;
    schema:termCode "LG" ; skg:arxivCategory "cs.LG" ; schema:name "Machine Learning" .

id:organization\/mit a schema:Organization ; schema:name "MIT" .

id:source\/arxiv-org-artificial-intelligence a schema:Periodical ;
    schema:name "arXiv.org Artificial Intelligence" .

id:person\/zheng-zhang\/observation\/hIndex\/2025-03-20 a schema:Observation ;
    schema:observationAbout id:person\/zheng-zhang ;
    schema:measuredProperty skg:hIndex ;
    schema:value 12 ;
    schema:observationDate "2025-03-20"^^xsd:date ;
    prov:wasDerivedFrom doc:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08 .

id:person\/zheng-zhang\/observation\/noveltyScore\/2025-03-20 a schema:Observation ;
    schema:observationAbout id:person\/zheng-zhang ;
    schema:measuredProperty skg:noveltyScore ;
    schema:value 87.5 ;
    schema:observationDate "2025-03-20"^^xsd:date ;
    prov:wasDerivedFrom doc:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08 .

doc:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08
    a skg:SourceDocument, prov:Entity ;
    skg:sha256 "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08" ;
    skg:asOfDate "2025-03-20"^^xsd:date ;
    skg:fileName "zheng-zhang.txt" ;
    prov:generatedAtTime "2025-04-01T09:30:00Z"^^xsd:dateTime ;
    skg:documentLayout "scored-profile-page" ;
    skg:describes id:person\/zheng-zhang ;
    skg:listedPaperCount 15 .
'''

PERSON = ID["person/zheng-zhang"]
PAPER = ID["paper/c3681a29a493b371"]
AUTHORSHIP = ID["paper/c3681a29a493b371/authorship/1-0a1b2c3d"]
CATEGORY = ID["category/LG"]
OBSERVATION = ID["person/zheng-zhang/observation/hIndex/2025-03-20"]
DOCUMENT = ID[f"document/{SHA}"]


def conforming_graph() -> Graph:
    return Graph().parse(data=CONFORMING_TTL, format="turtle")


def shacl_results(data: Graph, shapes: Graph) -> tuple[bool, list[dict[str, Any]]]:
    conforms, report, _ = validate(data, shacl_graph=shapes, inference="none")
    assert isinstance(report, Graph)
    results = [
        {
            "focus": report.value(r, SH.focusNode),
            "path": report.value(r, SH.resultPath),
            "severity": report.value(r, SH.resultSeverity),
            "message": report.value(r, SH.resultMessage),
        }
        for r in report.subjects(RDF.type, SH.ValidationResult)
    ]
    return bool(conforms), results


def test_shapes_graph_is_valid_shacl(shapes: Graph) -> None:
    conforms, _, text = validate(Graph(), shacl_graph=shapes, inference="none", meta_shacl=True)
    assert conforms, text


def test_shapes_cover_every_entity_class(shapes: Graph) -> None:
    targets = set(shapes.objects(None, SH.targetClass))
    assert targets == {
        SCHEMA.Person,
        SCHEMA.ScholarlyArticle,
        SKG.Authorship,
        SCHEMA.DefinedTerm,
        SCHEMA.Organization,
        SCHEMA.Periodical,
        SCHEMA.PropertyValue,
        SCHEMA.Observation,
        SKG.SourceDocument,
    }
    for shape in shapes.subjects(SH.targetClass, None):
        assert (shape, RDF.type, SH.NodeShape) in shapes


def test_every_shape_has_message_and_violation_severity(shapes: Graph) -> None:
    node_shapes = set(shapes.subjects(RDF.type, SH.NodeShape))
    property_shapes = {ps for ns in node_shapes for ps in shapes.objects(ns, SH.property)}
    assert len(node_shapes) == 9 and len(property_shapes) > 40
    for shape in node_shapes | property_shapes:
        assert shapes.value(shape, SH.severity) == SH.Violation, shape
        message = shapes.value(shape, SH.message)
        assert isinstance(message, Literal) and message.language == "en", shape


def test_shapes_use_only_vocab_terms(shapes: Graph) -> None:
    assert _skg_iris(shapes) <= {_skg(t.name) for t in SKG_TERMS}


def test_conforming_graph_conforms(shapes: Graph) -> None:
    data = conforming_graph()
    assert str(data.value(PAPER, SCHEMA.name)) == TITLE
    conforms, results = shacl_results(data, shapes)
    assert conforms, results


def test_a_document_graph_may_point_to_what_it_does_not_describe(shapes: Graph) -> None:
    # a named graph holds one document's statements: a co-author resolved to a Person
    # profiled elsewhere, the category and the organisation are only pointed to
    data = conforming_graph()
    for node in (CATEGORY, ID["organization/mit"], ID["source/arxiv-org-artificial-intelligence"]):
        data.remove((node, None, None))
    coauthor = ID["person/ada-lovelace"]
    data.add((PAPER, SCHEMA.author, coauthor))
    data.add((PAPER, FOAF.maker, coauthor))
    conforms, results = shacl_results(data, shapes)
    assert conforms, results


Mutation = Callable[[Graph], object]


def _remove(s: URIRef, p: URIRef) -> Mutation:
    return lambda g: g.remove((s, p, None))


def _set(s: URIRef, p: URIRef, o: URIRef | Literal) -> Mutation:
    return lambda g: g.set((s, p, o))


def _add(s: URIRef, p: URIRef, o: URIRef | Literal) -> Mutation:
    return lambda g: g.add((s, p, o))


def _blank_paper(g: Graph) -> None:
    node = BNode()
    g.add((node, RDF.type, SCHEMA.ScholarlyArticle))
    g.add((node, SCHEMA.name, Literal("Anonymous")))
    g.add((node, SCHEMA.author, PERSON))
    g.add((node, FOAF.maker, PERSON))


VIOLATIONS: list[tuple[str, Mutation, URIRef | None, URIRef | None]] = [
    ("paper without title", _remove(PAPER, SCHEMA.name), PAPER, SCHEMA.name),
    ("paper title as integer", _set(PAPER, SCHEMA.name, Literal(1)), PAPER, SCHEMA.name),
    ("hIndex as string", _set(PERSON, SKG.hIndex, Literal("12")), PERSON, SKG.hIndex),
    (
        "negative citation count",
        _set(PERSON, SKG.citationCount, Literal(-1)),
        PERSON,
        SKG.citationCount,
    ),
    ("two names on a person", _add(PERSON, SCHEMA.name, Literal("Z. Zhang")), PERSON, SCHEMA.name),
    ("person without foaf:name", _remove(PERSON, FOAF.name), PERSON, FOAF.name),
    (
        "authorship position 0",
        _set(AUTHORSHIP, SCHEMA.position, Literal(0)),
        AUTHORSHIP,
        SCHEMA.position,
    ),
    (
        "authorship without stated name",
        _remove(AUTHORSHIP, SKG.nameAsStated),
        AUTHORSHIP,
        SKG.nameAsStated,
    ),
    (
        "authorship with schema:author (the model before 2026-12-07)",
        _add(AUTHORSHIP, SCHEMA.author, PERSON),
        AUTHORSHIP,
        SCHEMA.author,
    ),
    (
        "authorship's person is not a Person",
        _set(AUTHORSHIP, SKG.person, CATEGORY),
        AUTHORSHIP,
        SKG.person,
    ),
    ("maker missing for an author", _remove(PAPER, FOAF.maker), PAPER, FOAF.maker),
    (
        "observation without date",
        _remove(OBSERVATION, SCHEMA.observationDate),
        OBSERVATION,
        SCHEMA.observationDate,
    ),
    (
        "observation of a non-metric",
        _set(OBSERVATION, SCHEMA.measuredProperty, SCHEMA.name),
        OBSERVATION,
        SCHEMA.measuredProperty,
    ),
    (
        "sha256 not 64 hex",
        _set(DOCUMENT, SKG.sha256, Literal(SHA[:-1] + "G")),
        DOCUMENT,
        SKG.sha256,
    ),
    ("sha256 upper case", _set(DOCUMENT, SKG.sha256, Literal(SHA.upper())), DOCUMENT, SKG.sha256),
    (
        "unknown layout",
        _set(DOCUMENT, SKG.documentLayout, Literal("pdf")),
        DOCUMENT,
        SKG.documentLayout,
    ),
    (
        "bad arXiv category",
        _set(CATEGORY, SKG.arxivCategory, Literal("cs LG")),
        CATEGORY,
        SKG.arxivCategory,
    ),
    (
        "datePublished as string",
        _set(PAPER, SCHEMA.datePublished, Literal("2025-03-13")),
        PAPER,
        SCHEMA.datePublished,
    ),
    # node-level constraints report no path
    (
        "hIndex observation with a decimal",
        _set(OBSERVATION, SCHEMA.value, Literal("12.0", datatype=XSD.decimal)),
        OBSERVATION,
        None,
    ),
    ("paper as a blank node", _blank_paper, None, None),
]


@pytest.mark.parametrize(
    ("mutate", "focus", "path"), [v[1:] for v in VIOLATIONS], ids=[v[0] for v in VIOLATIONS]
)
def test_violation_names_the_path(
    shapes: Graph, mutate: Mutation, focus: URIRef | None, path: URIRef | None
) -> None:
    data = conforming_graph()
    mutate(data)
    conforms, results = shacl_results(data, shapes)
    assert not conforms
    assert {r["path"] for r in results} == {path}, results
    if focus is not None:
        assert {r["focus"] for r in results} == {focus}
    for result in results:
        assert result["severity"] == SH.Violation
        assert result["message"] is not None


# --------------------------------------------------------------------------- (4) JSON-LD
#
# RDF goes into pyld as pyld's own RDF dataset structure, built from rdflib terms, not as
# N-Quads text: pyld's N-Quads parser (pyld 3.3) unescapes literals naively, so the two
# characters `\n` (a backslash before an n, as in LaTeX `\newline`) come back as a backslash
# and a line break. Its N-Quads writer is correct, so the way back is pyld N-Quads, parsed by
# pyoxigraph (rdflib's Dataset parser warns about deprecations in rdflib 7.6).


def _pyld_term(term: Any) -> dict[str, str]:
    if isinstance(term, URIRef):
        return {"type": "IRI", "value": str(term)}
    if isinstance(term, BNode):
        return {"type": "blank node", "value": f"_:{term}"}
    assert isinstance(term, Literal)
    if term.language:
        return {
            "type": "literal",
            "value": str(term),
            "language": term.language,
            "datatype": str(RDF.langString),
        }
    return {"type": "literal", "value": str(term), "datatype": str(term.datatype or XSD.string)}


def _to_expanded(graphs: dict[str, Graph]) -> Any:
    """Expanded JSON-LD of named graphs ("@default" for the default graph)."""
    dataset = {
        name: [
            {"subject": _pyld_term(s), "predicate": _pyld_term(p), "object": _pyld_term(o)}
            for s, p, o in graph
        ]
        for name, graph in graphs.items()
    }
    return jsonld.from_rdf(dataset)


def _to_graphs(doc: Any) -> dict[str, Graph]:
    """The RDF of a JSON-LD document, graph by graph ("@default" for the default graph)."""
    nquads: str = jsonld.to_rdf(doc, {"format": "application/n-quads"})
    groups: dict[str, list[pyoxigraph.Triple]] = {}
    for quad in pyoxigraph.parse(nquads, format=pyoxigraph.RdfFormat.N_QUADS):
        name = (
            "@default"
            if isinstance(quad.graph_name, pyoxigraph.DefaultGraph)
            else quad.graph_name.value
        )
        groups.setdefault(name, []).append(quad.triple)
    return {
        name: Graph().parse(
            data=pyoxigraph.serialize(triples, format=pyoxigraph.RdfFormat.N_TRIPLES), format="nt"
        )
        for name, triples in groups.items()
    }


def _round_trip(graphs: dict[str, Graph], context: dict[str, Any]) -> tuple[Any, dict[str, Graph]]:
    compacted = jsonld.compact(_to_expanded(graphs), context)
    return compacted, _to_graphs(compacted)


def test_context_round_trips_the_conforming_graph(context: dict[str, Any]) -> None:
    graph = conforming_graph()
    compacted, back = _round_trip({"@default": graph}, context)
    assert back.keys() == {"@default"}
    assert isomorphic(graph, back["@default"])

    nodes = {n["id"]: n for n in compacted["@graph"]}
    person = nodes[str(PERSON)]
    assert sorted(person["type"]) == ["Person", "foaf:Person"]
    assert person["hIndex"] == "12" and person["noveltyScore"] == "87.5"
    assert person["knowsAbout"] == str(CATEGORY)
    paper = nodes[str(PAPER)]
    assert paper["name"] == TITLE
    assert paper["datePublished"] == "2025-03-13"
    assert paper["author"] == str(PERSON) and paper["bylineComplete"] == "false"
    observation = nodes[str(OBSERVATION)]
    assert observation["measuredProperty"] == "skg:hIndex"
    assert observation["observationDate"] == "2025-03-20"


def test_compacted_json_ld_reads_back_in_pyoxigraph(context: dict[str, Any]) -> None:
    graph = conforming_graph()
    compacted, _ = _round_trip({"@default": graph}, context)
    quads = pyoxigraph.parse(json.dumps(compacted), format=pyoxigraph.RdfFormat.JSON_LD)
    triples = [q.triple for q in quads]
    back = Graph().parse(
        data=pyoxigraph.serialize(triples, format=pyoxigraph.RdfFormat.N_TRIPLES), format="nt"
    )
    assert isomorphic(graph, back)


def test_context_falls_back_losslessly_on_unexpected_types(context: dict[str, Any]) -> None:
    graph = conforming_graph()
    graph.set((PERSON, SKG.hIndex, Literal("twelve")))
    graph.set((PAPER, SCHEMA.datePublished, Literal("March 2025", lang="en")))
    graph.set((PAPER, SCHEMA.author, Literal("Zheng Zhang")))
    graph.add((PAPER, SCHEMA.about, ID["category/AI"]))
    graph.add((PAPER, SKG.codeAvailable, Literal(True)))
    graph.add((PAPER, SKG.paperScore, Literal("9", datatype=XSD.integer)))
    _, back = _round_trip({"@default": graph}, context)
    assert isomorphic(graph, back["@default"])


def test_context_round_trips_named_graphs(context: dict[str, Any]) -> None:
    document_graph = conforming_graph()
    document_graph.remove((PERSON, SCHEMA.alternateName, Literal("Z. Zhang")))
    graphs = {"@default": conforming_graph(), str(DOCUMENT): document_graph}
    compacted, back = _round_trip(graphs, context)
    assert any(node.get("id") == str(DOCUMENT) and "@graph" in node for node in compacted["@graph"])
    assert back.keys() == graphs.keys()
    for name, graph in graphs.items():
        assert isomorphic(graph, back[name]), name


# --------------------------------------------------------------------------- (5) prefixes


def test_context_prefixes_are_the_vocab_prefixes(context: dict[str, Any]) -> None:
    ctx = context["@context"]
    assert ctx["@version"] == 1.1
    prefixes = {
        k: v for k, v in ctx.items() if isinstance(v, str) and v.endswith(("/", "#")) and ":" in v
    }
    assert prefixes == PREFIXES


def test_context_terms_expand_to_known_iris(context: dict[str, Any]) -> None:
    ctx = context["@context"]
    skg_terms = {_skg(t.name) for t in SKG_TERMS}
    for term, definition in ctx.items():
        if term.startswith("@") or term in PREFIXES:
            continue
        iri = definition if isinstance(definition, str) else definition["@id"]
        if iri.startswith("@"):
            continue
        full = URIRef(expand(iri))
        if full.startswith(SKG_IRI):
            assert full in skg_terms, term
        assert term == iri.partition(":")[2], term
