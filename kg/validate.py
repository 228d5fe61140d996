"""SHACL validation of the store against ``ontology/shapes.ttl`` (pyshacl)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pyshacl
from rdflib import Graph

from kg.storage.store import KnowledgeStore

SHAPES_PATH = Path(__file__).resolve().parent.parent / "ontology" / "shapes.ttl"
ONTOLOGY_PATH = Path(__file__).resolve().parent.parent / "ontology" / "scholarkg.ttl"


@dataclass(frozen=True)
class ValidationReport:
    graph: str | None
    conforms: bool
    text: str
    violations: int


def graph_of(store: KnowledgeStore, graph: str | None) -> Graph:
    """One store graph as an rdflib Graph."""
    g = Graph()
    g.parse(data=store.dump_graph(graph, "ntriples"), format="nt")
    return g


def validate_graph(data: Graph, graph_name: str | None = None) -> ValidationReport:
    shapes = Graph().parse(SHAPES_PATH, format="turtle")
    conforms, results, text = pyshacl.validate(
        data, shacl_graph=shapes, ont_graph=None, inference="none", advanced=False,
        allow_warnings=True,
    )
    from rdflib.namespace import SH

    violations = sum(1 for _ in results.subjects(predicate=SH.resultSeverity, object=SH.Violation))
    return ValidationReport(graph_name, bool(conforms), str(text), violations)


def validate_store(store: KnowledgeStore, *, named_graphs: bool = True) -> list[ValidationReport]:
    """Validate the default graph and, optionally, each named graph on its own."""
    reports = [validate_graph(graph_of(store, None), None)]
    if named_graphs:
        for name in sorted(store.named_graphs()):
            reports.append(validate_graph(graph_of(store, name), name))
    return reports
