"""Dataset statistics, computed when data is published and kept with the store.

What the dataset page, the VoID description and ``kg stats`` show (counts, entities per
class, papers by year and by category, the persons with most papers, owl:sameAs links
per target dataset) takes whole-store aggregations (15 s at 10,000 profiles, growing with
the graph). They are computed once, when a release is made (``kg release``, see
:mod:`kg.storage.release`), and written next to the data as ``STORE/kg-stats.json``, stamped
with the store's *stamp*: the name, size and modification time of every RocksDB file
in the directory (:func:`store_stamp`). Any process that opens a store read-write
(even without writing) writes a new MANIFEST and OPTIONS file, so the stamp changes;
opening it read-only changes nothing. :func:`read_stats` returns the figures only while
the stamp still matches, so stale figures are never shown: a reader that finds them
stale (or missing) computes them from the store (:func:`compute_stats`) and says so.

>>> import tempfile
>>> with tempfile.TemporaryDirectory() as tmp:
...     store = KnowledgeStore.open(Path(tmp) / "s")
...     store.update('PREFIX schema: <https://schema.org/> '
...                  'INSERT DATA { <http://ex.org/p> a schema:Person }')
...     store.close()
...     store = KnowledgeStore.open(Path(tmp) / "s", read_only=True)
...     path = write_stats(store, compute_stats(store_select(store)))
...     store.close()
...     print(read_stats(Path(tmp) / "s")["persons"], stats_state(Path(tmp) / "s"))
...     KnowledgeStore.open(Path(tmp) / "s").close()   # opened for writing
...     print(read_stats(Path(tmp) / "s"), stats_state(Path(tmp) / "s"))
1 fresh
None stale
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kg.mapping.identifiers import TARGET_DATASETS
from kg.mapping.vocab import PREFIXES
from kg.output.ntriples import literal
from kg.storage.store import KnowledgeStore

#: the statistics file in a store (or release) directory
STATS_FILE = "kg-stats.json"
#: version of the file's layout; a file of another version counts as missing
STATS_VERSION = 1
#: how many persons the dataset page lists (most papers first)
TOP_PERSONS = 500

#: a SELECT query's rows as {var: (type, value, datatype, language)}
Row = dict[str, tuple[str, str, str | None, str | None]]
Select = Callable[[str], list[Row]]

_PREFIX_DECL = "".join(f"PREFIX {k}: <{v}>\n" for k, v in PREFIXES.items())


def store_select(store: KnowledgeStore) -> Select:
    """A :data:`Select` over a store (the server passes its query service instead)."""
    return lambda sparql: list(store.query(sparql).rows())


def _count(select: Select, sparql: str) -> int:
    rows = select(_PREFIX_DECL + sparql)
    return int(rows[0]["n"][1]) if rows and "n" in rows[0] else 0


def _text(row: Row, name: str) -> str | None:
    term = row.get(name)
    return term[1] if term else None


def class_counts(select: Select) -> list[tuple[str, int]]:
    """(class IRI, distinct instances) for every class in the default graph, by IRI."""
    return [(r["c"][1], int(r["n"][1])) for r in select(
        "SELECT ?c (COUNT(DISTINCT ?s) AS ?n) WHERE { ?s a ?c } GROUP BY ?c ORDER BY ?c")]


def linkset_counts(select: Select) -> dict[str, int]:
    """owl:sameAs links into each target dataset that has any (scheme -> links)."""
    same_as = PREFIXES["owl"] + "sameAs"
    counts = {}
    for scheme, target in TARGET_DATASETS.items():
        count = _count(select, f"SELECT (COUNT(*) AS ?n) WHERE {{ ?s <{same_as}> ?o "
                               f"FILTER(isIRI(?o) && STRSTARTS(STR(?o), "
                               f"{literal(target.uri_space)})) }}")
        if count:
            counts[scheme] = count
    return counts


def compute_stats(select: Select) -> dict[str, Any]:
    """Every figure, from the data (whole-store queries: run it when publishing).

    Keys: ``persons``, ``papers``, ``documents``, ``triples`` (default graph),
    ``named_quads`` (quads in named graphs), ``quads`` (in every graph), ``graphs``
    (named graphs holding quads), ``subjects`` (distinct subjects of the default graph),
    ``classes`` ([IRI, instances], by IRI), ``years`` ([year, papers]), ``undated``,
    ``categories`` ([IRI, code, papers], most papers first), ``top_persons`` ([IRI,
    name, h-index, papers], most papers first, at most :data:`TOP_PERSONS`), ``linksets``
    ({scheme: links}).
    """
    started = time.monotonic()
    triples = _count(select, "SELECT (COUNT(*) AS ?n) WHERE { ?s ?p ?o }")
    named_quads = _count(select, "SELECT (COUNT(*) AS ?n) WHERE { GRAPH ?g { ?s ?p ?o } }")
    years = [[r["y"][1], int(r["n"][1])] for r in select(_PREFIX_DECL + """
SELECT ?y (COUNT(DISTINCT ?p) AS ?n) WHERE {
  ?p a schema:ScholarlyArticle ; schema:datePublished ?d . BIND(STR(YEAR(?d)) AS ?y)
} GROUP BY ?y ORDER BY ?y""") if "y" in r]
    categories = [[r["c"][1], _text(r, "label"), int(r["n"][1])] for r in select(
        _PREFIX_DECL + """
SELECT ?c (SAMPLE(?code) AS ?label) (COUNT(DISTINCT ?p) AS ?n) WHERE {
  ?p a schema:ScholarlyArticle ; schema:about ?c . OPTIONAL { ?c schema:termCode ?code }
} GROUP BY ?c ORDER BY DESC(?n) ?label""")]
    persons = [[r["p"][1], _text(r, "n"), _text(r, "hIndex"), int(r["papers"][1])]
               for r in select(_PREFIX_DECL + f"""
SELECT ?p (SAMPLE(?name) AS ?n) (SAMPLE(?h) AS ?hIndex) (COUNT(DISTINCT ?paper) AS ?papers)
WHERE {{
  ?p a schema:Person . OPTIONAL {{ ?p schema:name ?name }} OPTIONAL {{ ?p skg:hIndex ?h }}
  OPTIONAL {{ ?paper schema:author ?p }}
}} GROUP BY ?p ORDER BY DESC(?papers) ?n LIMIT {TOP_PERSONS}""")]
    return {
        "persons": _count(select, "SELECT (COUNT(DISTINCT ?s) AS ?n) "
                                  "WHERE { ?s a schema:Person }"),
        "papers": _count(select, "SELECT (COUNT(DISTINCT ?s) AS ?n) "
                                 "WHERE { ?s a schema:ScholarlyArticle }"),
        "documents": _count(select, "SELECT (COUNT(*) AS ?n) WHERE { ?d a skg:SourceDocument }"),
        "triples": triples,
        "named_quads": named_quads,
        "quads": triples + named_quads,
        "graphs": _count(select, "SELECT (COUNT(DISTINCT ?g) AS ?n) "
                                 "WHERE { GRAPH ?g { ?s ?p ?o } }"),
        "subjects": _count(select, "SELECT (COUNT(DISTINCT ?s) AS ?n) WHERE { ?s ?p ?o }"),
        "classes": [[c, n] for c, n in class_counts(select)],
        "years": years,
        "undated": _count(select, """SELECT (COUNT(DISTINCT ?p) AS ?n) WHERE {
  ?p a schema:ScholarlyArticle . FILTER NOT EXISTS { ?p schema:datePublished ?d } }"""),
        "categories": categories,
        "top_persons": persons,
        "linksets": linkset_counts(select),
        "seconds": round(time.monotonic() - started, 3),
    }


# the file ---------------------------------------------------------------------------


def store_stamp(directory: Path) -> str:
    """What changes whenever the data of the store at ``directory`` may have changed:
    a digest of the name, size and modification time of its RocksDB files (not its
    LOG files, which read-only opens append to, nor the dot files and statistics kept
    next to the data)."""
    digest = hashlib.sha256()
    try:
        entries = sorted(os.scandir(directory), key=lambda e: e.name)
    except OSError:
        return ""
    for entry in entries:
        name = entry.name
        if name.startswith(("LOG", ".")) or name == STATS_FILE or not entry.is_file():
            continue
        st = entry.stat()
        digest.update(f"{name}:{st.st_size}:{st.st_mtime_ns};".encode())
    return digest.hexdigest()[:32]


def write_stats(store: KnowledgeStore, figures: dict[str, Any]) -> Path:
    """Write ``figures`` into the store's directory, stamped with its current stamp.

    The store must be open read-only (or closed): a store open for writing changes its
    files until it is closed, so no stamp taken meanwhile would hold.
    """
    if store.path is None or not store.read_only:
        raise ValueError("statistics are written for an on-disk store opened read-only")
    target = store.path / STATS_FILE
    document = {"version": STATS_VERSION, "stamp": store_stamp(store.path),
                "computed": dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat(),
                "figures": figures}
    partial = target.with_name(f".{STATS_FILE}.{os.getpid()}")
    partial.write_text(json.dumps(document, indent=1, ensure_ascii=False) + "\n",
                       encoding="utf-8")
    os.replace(partial, target)  # readers find the old file or the new, never half
    return target


def _document(directory: Path) -> dict[str, Any] | None:
    try:
        document = json.loads((directory / STATS_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(document, dict) or document.get("version") != STATS_VERSION \
            or not isinstance(document.get("figures"), dict):
        return None
    return document


def read_stats(directory: str | os.PathLike[str] | None) -> dict[str, Any] | None:
    """The published figures of the store at ``directory``, or None when there are none
    or they no longer match its data (see :func:`store_stamp`)."""
    if directory is None:
        return None
    document = _document(Path(directory))
    if document is None or document.get("stamp") != store_stamp(Path(directory)):
        return None
    figures: dict[str, Any] = document["figures"]
    return figures


def stats_state(directory: str | os.PathLike[str]) -> str:
    """"fresh", "stale" (the data changed since they were computed) or "missing"."""
    document = _document(Path(directory))
    if document is None:
        return "missing"
    return "fresh" if document.get("stamp") == store_stamp(Path(directory)) else "stale"


def store_stats(store: KnowledgeStore) -> dict[str, Any]:
    """The store's figures: the published ones while they hold, else computed now."""
    published = read_stats(store.path) if store.read_only else None
    return published if published is not None else compute_stats(store_select(store))
