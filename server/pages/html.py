"""HTML pages: person, paper, generic entity, vocabulary and dataset pages.

Entity pages are served at the entity's own path by :mod:`server.pages.linked_data` (HTML
is one of its representations); this module renders them and serves ``/dataset``.
Every page reads the graph only through SPARQL (:func:`server.sparql.service.query_service`)
or, for the dataset page, the figures published with it (:mod:`server.pages.statistics`), and
every piece of data reaches the HTML through Jinja's autoescaping.

>>> segments("See https://github.com/a/b. Or <x>")
[('text', 'See '), ('link', 'https://github.com/a/b'), ('text', '. Or <x>')]
"""

from __future__ import annotations

import datetime as dt
import re
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from flask import Blueprint, Response, render_template, request
from rdflib import RDF, RDFS, Graph, URIRef
from rdflib.namespace import DCTERMS, OWL

from kg.mapping.iris import IriMinter
from kg.mapping.vocab import PERSON_METRICS, PREFIXES, SKG_TERMS
from server.pages import charts
from server.pages.descriptions import (
    LABEL_PROPERTIES,
    PREFIX_DECLARATIONS,
    describe_jsonld,
    local_paths,
    settings,
    sparql_iri,
)
from server.pages.dumps import list_dumps
from server.pages.named_graphs import NamedGraph, graph_kind
from server.pages.representations import ENTITY_REPRESENTATIONS, alternates, install_read_headers
from server.pages.statistics import dataset_stats
from server.sparql.service import Term, query_service

bp = Blueprint("pages", __name__)
install_read_headers(bp)

_S = PREFIXES["schema"]
_SKG = PREFIXES["skg"]
_FOAF = PREFIXES["foaf"]
_PROV = PREFIXES["prov"]
_XSD = PREFIXES["xsd"]
_METRIC_LABELS = {t.name: t.label[:1].upper() + t.label[1:] for t in SKG_TERMS}
# the profile's own figure, not the papers this graph holds (the "Papers in this graph" list)
_METRIC_LABELS["paperCount"] = "Papers listed on the profile (stated)"
_METRIC_UNITS = {"noveltyScore": "%"}
#: what the generic entity page calls things of these classes
KIND_LABELS = {
    _S + "DefinedTerm": "Category",
    _S + "Organization": "Organisation",
    _S + "Observation": "Metric observation",
    _S + "Periodical": "Source feed",
    _S + "PropertyValue": "Identifier",
    _SKG + "Authorship": "Authorship",
    _SKG + "SourceDocument": "Source document",
}
_URL = re.compile(r"https?://[^\s<>\"'()\[\]{}]+[^\s<>\"'()\[\]{}.,;:!?]")


# values shown on pages --------------------------------------------------------------


@dataclass(frozen=True)
class Value:
    """One RDF term as a page shows it: a link (IRIs) or text (literals)."""

    kind: str
    text: str
    datatype: str | None = None
    language: str | None = None
    label: str | None = None

    @property
    def is_iri(self) -> bool:
        return self.kind == "uri"


def _value(term: Term, label: Term | None = None) -> Value:
    kind, text, datatype, language = term
    return Value(kind, text, datatype, language, label[1] if label else None)


def _rows(sparql: str) -> list[dict[str, Term]]:
    return query_service().select(PREFIX_DECLARATIONS + sparql)


def _text(row: dict[str, Term], name: str) -> str | None:
    term = row.get(name)
    return term[1] if term else None


def segments(text: str) -> list[tuple[str, str]]:
    """Text split into plain runs and URLs, for templates to link URLs (escaped as text)."""
    out: list[tuple[str, str]] = []
    last = 0
    for match in _URL.finditer(text):
        if match.start() > last:
            out.append(("text", text[last:match.start()]))
        out.append(("link", match.group(0)))
        last = match.end()
    if last < len(text):
        out.append(("text", text[last:]))
    return out


def _number(lexical: str) -> float | None:
    try:
        return float(Decimal(lexical))
    except (InvalidOperation, ValueError):
        return None


def _date(lexical: str | None) -> dt.date | None:
    try:
        return dt.date.fromisoformat(lexical[:10]) if lexical else None
    except ValueError:
        return None


@bp.app_context_processor
def _page_helpers() -> dict[str, Any]:
    paths = local_paths()
    root = request.script_root

    def href(iri: str) -> str:
        """Local path for minted IRIs and vocabulary terms, else the IRI itself."""
        path = paths.path_of(iri)
        if path:
            return root + path
        if iri.startswith(_SKG) and len(iri) > len(_SKG):
            return f"{root}/ns#{iri[len(_SKG):]}"
        return iri

    return {"href": href, "short": paths.short, "segments": segments,
            "base_iri": settings().base_iri}


def _page(template: str, **context: Any) -> str:
    context.setdefault("alternates", [])
    return render_template(template, **context)


# one entity -------------------------------------------------------------------------


def _outgoing(iri: str) -> dict[str, list[Value]]:
    """Predicate IRI -> values (sorted, labels of linked entities included)."""
    e = sparql_iri(iri)
    rows = _rows(f"""SELECT ?p ?o (SAMPLE(?l) AS ?label) WHERE {{
  {e} ?p ?o .
  OPTIONAL {{ VALUES ?lp {{ {" ".join(LABEL_PROPERTIES)} }} ?o ?lp ?l }}
}} GROUP BY ?p ?o""")
    out: dict[str, list[Value]] = defaultdict(list)
    for row in rows:
        out[row["p"][1]].append(_value(row["o"], row.get("label")))
    for values in out.values():
        values.sort(key=lambda v: (v.kind, v.text))
    return out


def _first(out: dict[str, list[Value]], *predicates: str) -> str | None:
    for predicate in predicates:
        for value in out.get(predicate, []):
            return value.text
    return None


def _title(iri: str, out: dict[str, list[Value]]) -> str:
    return _first(out, _S + "name", PREFIXES["rdfs"] + "label", _FOAF + "name",
                  _SKG + "nameAsStated", _S + "termCode", PREFIXES["dcterms"] + "title") \
        or local_paths().short(iri)


def entity_html(iri: str, links: list[dict[str, str]]) -> str:
    """The HTML page of an entity: person and paper pages, else a generic one."""
    out = _outgoing(iri)
    types = {v.text for v in out.get(PREFIXES["rdf"] + "type", [])}
    if _S + "Person" in types:
        return person_html(iri, out, links)
    if _S + "ScholarlyArticle" in types:
        return paper_html(iri, out, links)
    return resource_html(iri, out, links)


# persons ----------------------------------------------------------------------------


@dataclass
class MetricHistory:
    name: str
    label: str
    unit: str
    chart: charts.LineChart
    observations: list[dict[str, str | None]] = field(default_factory=list)


def _metric_history(iri: str) -> list[MetricHistory]:
    rows = _rows(f"""SELECT ?metric ?date ?value ?doc WHERE {{
  ?obs schema:observationAbout {sparql_iri(iri)} ; schema:measuredProperty ?metric ;
       schema:value ?value ; schema:observationDate ?date .
  OPTIONAL {{ ?obs prov:wasDerivedFrom ?doc }}
}} ORDER BY ?metric ?date""")
    series: dict[str, list[tuple[dt.date, float, str, str | None]]] = defaultdict(list)
    for row in rows:
        metric = row["metric"][1].rpartition("#")[2] or row["metric"][1]
        day, number = _date(_text(row, "date")), _number(row["value"][1])
        if day is None or number is None:
            continue
        series[metric].append((day, number, row["value"][1], _text(row, "doc")))
    order = [*PERSON_METRICS.values(), *sorted(set(series) - set(PERSON_METRICS.values()))]
    out = []
    for metric in order:
        points = sorted(series.get(metric, []), key=lambda p: p[0])
        # one value per date: the store may hold one per document of that date
        by_day = {p[0]: p for p in points}
        points = [by_day[d] for d in sorted(by_day)]
        if not points:
            continue
        chart = charts.line_chart([(d, n, text) for d, n, text, _ in points])
        out.append(MetricHistory(
            metric, _METRIC_LABELS.get(metric, metric), _METRIC_UNITS.get(metric, ""), chart,
            [{"date": d.isoformat(), "value": text, "doc": doc} for d, _, text, doc in points]))
    return out


def _papers_of(iri: str) -> list[dict[str, Any]]:
    rows = _rows(f"""SELECT ?paper ?title ?date ?dateText ?code ?byline ?complete ?cat ?code_
WHERE {{
  ?paper schema:author {sparql_iri(iri)} ; a schema:ScholarlyArticle .
  OPTIONAL {{ ?paper schema:name ?title }}
  OPTIONAL {{ ?paper schema:datePublished ?date }}
  OPTIONAL {{ ?paper skg:dateAsPrinted ?dateText }}
  OPTIONAL {{ ?paper skg:codeAvailable ?code }}
  OPTIONAL {{ ?paper schema:creditText ?byline }}
  OPTIONAL {{ ?paper skg:bylineComplete ?complete }}
  OPTIONAL {{ ?paper schema:about ?cat . OPTIONAL {{ ?cat schema:termCode ?code_ }} }}
}} ORDER BY DESC(?date) ?title""")
    papers: dict[str, dict[str, Any]] = {}
    for row in rows:
        key = row["paper"][1]
        if key in papers:
            continue
        papers[key] = {
            "iri": key,
            "title": _text(row, "title") or local_paths().short(key),
            "date": _text(row, "date"),
            "date_text": _text(row, "dateText"),
            "code": _text(row, "code") in ("true", "1"),
            "byline": _text(row, "byline"),
            "complete": _text(row, "complete"),
            "category": _text(row, "cat"),
            "category_code": _text(row, "code_"),
        }
    return list(papers.values())


def _coauthors(iri: str) -> list[dict[str, Any]]:
    e = sparql_iri(iri)
    rows = _rows(f"""SELECT ?person (SAMPLE(?n) AS ?name) (COUNT(DISTINCT ?paper) AS ?shared)
WHERE {{
  ?paper schema:author {e}, ?person .
  FILTER(!sameTerm(?person, {e}))
  OPTIONAL {{ ?person schema:name ?n }}
}} GROUP BY ?person ORDER BY DESC(?shared) ?name LIMIT 200""")
    return [{"iri": r["person"][1], "name": _text(r, "name") or local_paths().short(r["person"][1]),
             "shared": int(r["shared"][1])} for r in rows]


def _documents_describing(iri: str) -> list[dict[str, Any]]:
    e = sparql_iri(iri)
    rows = _rows(f"""SELECT DISTINCT ?doc ?asOf ?file ?layout ?generated ?superseded WHERE {{
  {{ ?doc skg:describes {e} }}
  UNION {{ ?obs schema:observationAbout {e} ; prov:wasDerivedFrom ?doc }}
  OPTIONAL {{ ?doc skg:asOfDate ?asOf }}
  OPTIONAL {{ ?doc skg:fileName ?file }}
  OPTIONAL {{ ?doc skg:documentLayout ?layout }}
  OPTIONAL {{ ?doc prov:generatedAtTime ?generated }}
  OPTIONAL {{ ?doc skg:supersededBy ?superseded }}
}} ORDER BY DESC(?asOf) ?file""")
    return _documents(rows)


def _documents(rows: list[dict[str, Term]]) -> list[dict[str, Any]]:
    docs: dict[str, dict[str, Any]] = {}
    for row in rows:
        docs.setdefault(row["doc"][1], {
            "iri": row["doc"][1], "as_of": _text(row, "asOf"), "file": _text(row, "file"),
            "layout": _text(row, "layout"), "generated": _text(row, "generated"),
            "superseded": _text(row, "superseded"),
        })
    return list(docs.values())


def person_html(iri: str, out: dict[str, list[Value]], links: list[dict[str, str]]) -> str:
    metrics = []
    for name in PERSON_METRICS.values():
        value = _first(out, _SKG + name)
        if value is not None:
            metrics.append({"name": name, "label": _METRIC_LABELS[name], "value": value,
                            "unit": _METRIC_UNITS.get(name, "")})
    same_as = sorted({v.text for p in (_S + "sameAs", PREFIXES["owl"] + "sameAs")
                      for v in out.get(p, []) if v.is_iri})
    return _page(
        "person.html",
        iri=iri,
        title=_title(iri, out),
        alternate_names=[v.text for v in out.get(_S + "alternateName", [])],
        categories=out.get(_S + "knowsAbout", []),
        metrics=metrics,
        history=_metric_history(iri),
        papers=_papers_of(iri),
        coauthors=_coauthors(iri),
        documents=_documents_describing(iri),
        same_as=same_as,
        jsonld=describe_jsonld(iri),
        alternates=links,
    )


# papers -----------------------------------------------------------------------------


def _authorships(iri: str) -> list[dict[str, Any]]:
    rows = _rows(f"""SELECT ?a ?name ?pos ?person ?pname WHERE {{
  {sparql_iri(iri)} skg:authorship ?a .
  OPTIONAL {{ ?a skg:nameAsStated ?name }}
  OPTIONAL {{ ?a schema:position ?pos }}
  OPTIONAL {{ ?a skg:person ?person . OPTIONAL {{ ?person schema:name ?pname }} }}
}}""")
    found: dict[str, dict[str, Any]] = {}
    for row in rows:
        found.setdefault(row["a"][1], {
            "iri": row["a"][1], "name": _text(row, "name"), "position": _text(row, "pos"),
            "person": _text(row, "person"), "person_name": _text(row, "pname"),
        })

    def order(a: dict[str, Any]) -> tuple[int, int, str]:
        pos = a["position"]
        return (0, int(pos), a["name"] or "") if pos and pos.isdigit() else (1, 0, a["name"] or "")

    return sorted(found.values(), key=order)


def _graphs_mentioning(iri: str) -> tuple[list[dict[str, Any]], list[NamedGraph]]:
    """(source documents, other named graphs) that state something about ``iri``."""
    rows = _rows(f"""SELECT DISTINCT ?doc ?source ?asOf ?file ?layout ?generated ?superseded
WHERE {{
  GRAPH ?doc {{ {sparql_iri(iri)} ?p ?o }}
  BIND(EXISTS {{ ?doc a skg:SourceDocument }} AS ?source)
  OPTIONAL {{ ?doc skg:asOfDate ?asOf }}
  OPTIONAL {{ ?doc skg:fileName ?file }}
  OPTIONAL {{ ?doc skg:documentLayout ?layout }}
  OPTIONAL {{ ?doc prov:generatedAtTime ?generated }}
  OPTIONAL {{ ?doc skg:supersededBy ?superseded }}
}} ORDER BY DESC(?asOf) ?file LIMIT 200""")
    documents = _documents([r for r in rows if _text(r, "source") in ("true", "1")])
    base = settings().base_iri
    graphs = [NamedGraph(r["doc"][1], graph_kind(base, r["doc"][1]), 0) for r in rows
              if _text(r, "source") not in ("true", "1")]
    return documents, sorted(graphs, key=lambda g: g.kind.label)


def paper_html(iri: str, out: dict[str, list[Value]], links: list[dict[str, str]]) -> str:
    authors = [v for v in out.get(_S + "author", []) if v.is_iri]
    complete = _first(out, _SKG + "bylineComplete")
    documents, graphs = _graphs_mentioning(iri)
    return _page(
        "paper.html",
        iri=iri,
        title=_title(iri, out),
        date=_first(out, _S + "datePublished"),
        date_text=_first(out, _SKG + "dateAsPrinted"),
        categories=out.get(_S + "about", []),
        score=_first(out, _SKG + "paperScore"),
        abstract=_first(out, _S + "abstract"),
        byline=_first(out, _S + "creditText"),
        byline_complete=None if complete is None else complete in ("true", "1"),
        authorships=_authorships(iri),
        authors=authors,
        organisations=out.get(_S + "sourceOrganization", []),
        code_available=_first(out, _SKG + "codeAvailable") in ("true", "1"),
        repositories=[v.text for v in out.get(_S + "codeRepository", [])],
        feeds=out.get(_S + "isPartOf", []),
        same_as=sorted({v.text for p in (_S + "sameAs", PREFIXES["owl"] + "sameAs")
                        for v in out.get(p, []) if v.is_iri}),
        documents=documents,
        graphs=graphs,
        jsonld=describe_jsonld(iri),
        alternates=links,
    )


# any other entity -------------------------------------------------------------------


def _incoming(iri: str, limit: int = 500) -> list[dict[str, Any]]:
    e = sparql_iri(iri)
    rows = _rows(f"""SELECT ?s ?p (SAMPLE(?l) AS ?label) WHERE {{
  {{ SELECT DISTINCT ?s ?p WHERE {{ ?s ?p {e} }} ORDER BY ?p ?s LIMIT {int(limit)} }}
  OPTIONAL {{ VALUES ?lp {{ {" ".join(LABEL_PROPERTIES)} }} ?s ?lp ?l }}
}} GROUP BY ?s ?p ORDER BY ?p ?s""")
    return [{"subject": _value(r["s"], r.get("label")), "predicate": r["p"][1]} for r in rows]


def resource_html(iri: str, out: dict[str, list[Value]], links: list[dict[str, str]]) -> str:
    types = out.get(PREFIXES["rdf"] + "type", [])
    graph_size = None
    if any(v.text == _SKG + "SourceDocument" for v in types):
        rows = _rows(f"SELECT (COUNT(*) AS ?n) WHERE {{ GRAPH {sparql_iri(iri)} {{ ?s ?p ?o }} }}")
        graph_size = int(rows[0]["n"][1]) if rows else 0
    properties = sorted(
        ((p, values) for p, values in out.items() if p != PREFIXES["rdf"] + "type"),
        key=lambda item: local_paths().short(item[0]))
    incoming = _incoming(iri)
    kinds = [KIND_LABELS[v.text] for v in types if v.text in KIND_LABELS]
    return _page(
        "resource.html",
        iri=iri,
        title=_title(iri, out),
        kind=", ".join(kinds) if kinds else None,
        types=types,
        properties=properties,
        incoming=incoming,
        incoming_limit=500,
        graph_size=graph_size,
        jsonld=describe_jsonld(iri),
        alternates=links,
    )


# the vocabulary ---------------------------------------------------------------------


def vocabulary_html(graph: Graph, links: list[dict[str, str]]) -> str:
    """The vocabulary page: every class and property with label, comment, domain, range."""
    ns = PREFIXES["skg"]
    ontology = next(graph.subjects(RDF.type, OWL.Ontology), None)

    def one(subject: Any, predicate: Any) -> str | None:
        value = graph.value(subject, predicate)
        return str(value) if value is not None else None

    sections = []
    for kind, title in ((OWL.Class, "Classes"), (OWL.ObjectProperty, "Object properties"),
                        (OWL.DatatypeProperty, "Datatype properties")):
        terms = []
        for term in sorted(set(graph.subjects(RDF.type, kind)), key=str):
            if not isinstance(term, URIRef) or not str(term).startswith(ns):
                continue
            terms.append({
                "name": str(term)[len(ns):], "iri": str(term),
                "label": one(term, RDFS.label), "comment": one(term, RDFS.comment),
                "domain": one(term, RDFS.domain), "range": one(term, RDFS.range),
                "superclass": one(term, RDFS.subClassOf),
            })
        sections.append({"title": title, "terms": terms})
    return _page(
        "vocabulary.html",
        title=one(ontology, DCTERMS.title) if ontology else "scholarkg vocabulary",
        description=one(ontology, DCTERMS.description) if ontology else None,
        version=one(ontology, OWL.versionInfo) if ontology else None,
        namespace=ns,
        sections=sections,
        alternates=links,
    )


# the dataset ------------------------------------------------------------------------


def dataset_counts() -> dict[str, int]:
    """The headline counts of the dataset page (published with the data, see
    :mod:`server.pages.statistics`)."""
    figures = dataset_stats()
    return {"persons": figures["persons"], "papers": figures["papers"],
            "triples": figures["triples"], "graphs": figures["graphs"],
            "quads": figures["named_quads"]}


def dataset_html(links: list[dict[str, str]]) -> str:
    """The dataset page: counts, papers by year and by category, persons, dumps, links.

    Every figure was computed when the data was published: the page runs no query.
    """
    figures = dataset_stats()
    classes = [{"iri": iri, "count": n}
               for iri, n in sorted(figures["classes"], key=lambda c: (-c[1], c[0]))]
    paths = local_paths()
    category_bars = [(label or paths.short(iri), n, paths.path_of(iri))
                     for iri, label, n in figures["categories"]]
    dataset = IriMinter(settings().base_iri).dataset()
    return _page(
        "dataset.html",
        title="Dataset",
        iri=dataset,
        counts=dataset_counts(),
        classes=classes,
        years_chart=charts.column_chart([(y, n) for y, n in figures["years"]]),
        undated=figures["undated"],
        category_chart=charts.row_chart(category_bars),
        persons=[{"iri": iri, "name": name or paths.short(iri), "h_index": h_index,
                  "papers": papers} for iri, name, h_index, papers in figures["top_persons"]],
        dumps=list_dumps(),
        alternates=links,
    )


@bp.get("/dataset")
def dataset() -> Response:
    """The dataset page (also the HTML representation of the dataset IRI)."""
    path = local_paths().path_of(IriMinter(settings().base_iri).dataset())
    links = alternates(path, ENTITY_REPRESENTATIONS) if path else []
    return Response(dataset_html(links), mimetype="text/html")
