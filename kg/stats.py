"""Dataset statistics, shared by ``kg stats``, the export's VoID and the dataset page."""

from __future__ import annotations

from typing import Any

from kg.store import KnowledgeStore
from kg.vocab import PREFIXES

_PREFIX_DECL = "".join(f"PREFIX {k}: <{v}>\n" for k, v in PREFIXES.items())


def _count(store: KnowledgeStore, where: str) -> int:
    rows = list(store.query(_PREFIX_DECL + f"SELECT (COUNT(*) AS ?n) WHERE {{ {where} }}").rows())
    return int(rows[0]["n"][1])


def store_stats(store: KnowledgeStore) -> dict[str, Any]:
    """Counts over the merged default graph (and quads/graphs over the whole store)."""
    classes = {
        row["c"][1]: int(row["n"][1])
        for row in store.query(
            "SELECT ?c (COUNT(DISTINCT ?s) AS ?n) WHERE { ?s a ?c } GROUP BY ?c ORDER BY ?c"
        ).rows()
    }
    return {
        "persons": _count(store, "SELECT DISTINCT ?p WHERE { ?p a schema:Person }"),
        "papers": _count(store, "SELECT DISTINCT ?p WHERE { ?p a schema:ScholarlyArticle }"),
        "triples": store.count_quads(None),
        "quads": store.count_quads(all_graphs=True),
        "graphs": sum(1 for _ in store.named_graphs()),
        "documents": _count(store, "?d a skg:SourceDocument"),
        "classes": classes,
    }
