"""Curated link sets: ``owl:sameAs`` links from our entities to other datasets, from a table.

A link file is TSV or CSV with a header row naming its columns:

- ``entity``: one of our entities, as its IRI (under the base IRI) or as an exact name
  or title (matched with the identity normalisation of :mod:`kg.mapping.names`);
- ``target``: the external entity, as an IRI or ``scheme:value`` (``orcid:0000-...``,
  ``wikidata:Q42``, ``doi:10....``), or as a bare identifier when a ``scheme`` column
  names its scheme.

Other columns (notes, say) are ignored and reported. Each file is one link set, the
named graph ``<base>linkset/<name>`` (name: the file stem, slugged); its links are
stated there and, as ``owl:sameAs`` plus ``schema:sameAs``, in the merged default
graph, where the link set is also described with PROV. A row that cannot be read,
whose name matches no entity or several, or whose target is not valid, is reported
with its line and left out.

Loading is one SPARQL update: the same file against the same store changes nothing;
a new version of the file replaces its link set atomically. A link leaves the default
graph only when no other current graph (a document or another link set) states it.

>>> table = read_link_table(b"entity,target\\nAda Lovelace,wikidata:Q7259\\n", path="a.csv")
>>> table.delimiter, table.rows
(',', [LinkRow(line=2, entity='Ada Lovelace', target='wikidata:Q7259', scheme=None)])
>>> linkset_name("Wikidata links (v2).tsv")
'wikidata-links-v2'
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

from kg.errors import DocumentError, KgError
from kg.ingest import ingest_time
from kg.mapping.identifiers import IdentifierError, parse_target
from kg.mapping.iris import IriMinter
from kg.mapping.names import person_key, title_key
from kg.mapping.vocab import PREFIXES
from kg.output.ntriples import (
    XSD_DATETIME,
    Quad,
    Triple,
    data_block,
    iri,
    is_valid_iri,
    literal,
    typed,
)
from kg.storage.store import KnowledgeStore

_OWL_SAME_AS = iri(PREFIXES["owl"] + "sameAs")
_SCHEMA_SAME_AS = iri(PREFIXES["schema"] + "sameAs")
_RDF_TYPE = iri(PREFIXES["rdf"] + "type")
_SKG = PREFIXES["skg"]
_PREFIX_DECL = "".join(f"PREFIX {k}: <{v}>\n" for k, v in PREFIXES.items())
_COLUMNS = ("entity", "target", "scheme")
_BOM = "\ufeff"
_VALUES_CHUNK = 500


class LinkFileError(DocumentError):
    """A link file that cannot be read at all (encoding, header, CSV syntax)."""


@dataclass(frozen=True)
class LinkRow:
    """One data row of a link file, values as written (trimmed)."""

    line: int
    entity: str
    target: str
    scheme: str | None


@dataclass
class LinkTable:
    rows: list[LinkRow]
    delimiter: str
    #: header columns other than entity, target and scheme
    ignored_columns: list[str]
    #: rows that could not be read (wrong number of fields, empty cells)
    rejected: list[DocumentError]


@dataclass
class LinksetReport:
    name: str
    graph: str
    #: "loaded" (new link set), "replaced" (new version) or "unchanged"
    outcome: str
    links: int
    added: int = 0
    removed: int = 0
    rejected: list[DocumentError] = field(default_factory=list)
    ignored_columns: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.rejected


# --- names --------------------------------------------------------------------------------

def linkset_name(file_name: str) -> str:
    """The link set's name: the file stem, folded to lower-case ASCII words joined by '-'.

    >>> linkset_name("ORCID für Personen.csv")
    'orcid-fur-personen'
    """
    stem = Path(file_name).stem
    folded = unicodedata.normalize("NFKD", stem)
    folded = "".join(c for c in folded if not unicodedata.combining(c)).lower()
    name = re.sub(r"[^a-z0-9]+", "-", folded).strip("-")
    if not name:
        raise KgError(f"cannot name a link set after {file_name!r}: its stem has no letters "
                      "or digits; rename the file")
    return name


def linkset_graph(minter: IriMinter, name: str) -> str:
    """The named graph of one link set, ``<base>linkset/<name>``."""
    return minter.linkset(name)


# --- reading the table -------------------------------------------------------------------

def _delimiter(header: str, path: str) -> str:
    suffix = Path(path).suffix.lower()
    if suffix in (".tsv", ".tab"):
        return "\t"
    if suffix == ".csv":
        return ";" if ";" in header and "," not in header else ","
    for candidate in ("\t", ",", ";"):
        if candidate in header:
            return candidate
    raise LinkFileError(path, 1, "cannot tell TSV from CSV: the header row has no tab, comma "
                        "or semicolon; name the file .tsv or .csv and give the columns "
                        "entity and target")


def read_link_table(data: bytes, *, path: str) -> LinkTable:
    """The rows of a TSV (by extension, or sniffed from the header) or CSV link file.

    TSV fields are not quoted (IANA text/tab-separated-values); CSV follows RFC 4180.

    >>> read_link_table(b"entity\\tnote\\n", path="x.tsv")
    Traceback (most recent call last):
    ...
    kg.mapping.linksets.LinkFileError: x.tsv:1: the header row needs the columns entity and target \
(and optionally scheme); found entity, note
    """
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise LinkFileError(path, line, f"not UTF-8: invalid byte 0x{data[exc.start]:02x} at "
                            f"byte offset {exc.start}") from exc
    text = text.removeprefix(_BOM)
    if not text.strip():
        raise LinkFileError(path, None, "empty file: expected a header row with the columns "
                            "entity and target")
    first_line = text.splitlines()[0]
    delimiter = _delimiter(first_line, path)
    if delimiter == "\t":
        reader = csv.reader(io.StringIO(text, newline=""), delimiter="\t",
                            quoting=csv.QUOTE_NONE)
    else:
        reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    rows: list[LinkRow] = []
    rejected: list[DocumentError] = []
    header: list[str] | None = None
    columns: dict[str, int] = {}
    ignored: list[str] = []
    previous_end = 0
    try:
        for fields in reader:
            line, previous_end = previous_end + 1, reader.line_num
            if not any(f.strip() for f in fields):
                continue
            if header is None:
                header = [f.strip().lower() for f in fields]
                columns, ignored = _columns(header, path, line)
                continue
            if len(fields) != len(header):
                rejected.append(DocumentError(
                    path, line, f"expected {len(header)} fields like the header, found "
                    f"{len(fields)}" + (" (TSV fields are separated by tabs)"
                                        if delimiter == "\t" else "")))
                continue
            entity = fields[columns["entity"]].strip()
            target = fields[columns["target"]].strip()
            scheme = fields[columns["scheme"]].strip() if "scheme" in columns else ""
            if not entity or not target:
                empty = "entity" if not entity else "target"
                rejected.append(DocumentError(path, line, f"the {empty} cell is empty"))
                continue
            rows.append(LinkRow(line, entity, target, scheme or None))
    except csv.Error as exc:
        raise LinkFileError(path, reader.line_num, f"not valid CSV: {exc}") from exc
    if header is None:  # pragma: no cover - text.strip() was not empty
        raise LinkFileError(path, None, "no header row")
    return LinkTable(rows, delimiter, ignored, rejected)


def _columns(header: list[str], path: str, line: int) -> tuple[dict[str, int], list[str]]:
    duplicates = sorted({h for h in header if header.count(h) > 1 and h})
    if duplicates:
        raise LinkFileError(path, line, f"the header row names {', '.join(duplicates)} twice")
    if "entity" not in header or "target" not in header:
        raise LinkFileError(path, line, "the header row needs the columns entity and target "
                            f"(and optionally scheme); found {', '.join(header)}")
    columns = {name: header.index(name) for name in _COLUMNS if name in header}
    return columns, [h for h in header if h not in _COLUMNS]


# --- resolving rows against the store ---------------------------------------------------

@dataclass
class _EntityIndex:
    persons: dict[str, set[str]]
    papers: dict[str, set[str]]

    def lookup(self, text: str) -> set[str]:
        return self.persons.get(person_key(text), set()) | self.papers.get(title_key(text), set())


def _entity_index(store: KnowledgeStore) -> _EntityIndex:
    index = _EntityIndex({}, {})
    rows = store.query(_PREFIX_DECL + """
        SELECT ?e ?name ?kind WHERE {
          { ?e a schema:Person . { ?e schema:name ?name } UNION { ?e schema:alternateName ?name }
            BIND("person" AS ?kind) }
          UNION
          { ?e a schema:ScholarlyArticle ; schema:name ?name . BIND("paper" AS ?kind) }
        }""").rows()
    for row in rows:
        name, entity = row["name"][1], row["e"][1]
        if row["kind"][1] == "person":
            index.persons.setdefault(person_key(name), set()).add(entity)
        else:
            index.papers.setdefault(title_key(name), set()).add(entity)
    return index


def _known_entities(store: KnowledgeStore, iris: list[str]) -> set[str]:
    known: set[str] = set()
    for start in range(0, len(iris), _VALUES_CHUNK):
        values = " ".join(iri(i) for i in iris[start : start + _VALUES_CHUNK])
        rows = store.query(f"SELECT DISTINCT ?e WHERE {{ VALUES ?e {{ {values} }} ?e a ?type }}")
        known.update(r["e"][1] for r in rows.rows())
    return known


def resolve_links(rows: list[LinkRow], store: KnowledgeStore, minter: IriMinter, *,
                  path: str) -> tuple[list[tuple[str, str]], list[DocumentError]]:
    """(entity IRI, target IRI) pairs for the rows that resolve; the others as errors."""
    links: list[tuple[str, str]] = []
    rejected: list[DocumentError] = []
    pending: list[tuple[LinkRow, str | None, str]] = []
    for row in rows:
        try:
            target = parse_target(row.target, row.scheme).iri
        except IdentifierError as exc:
            rejected.append(DocumentError(path, row.line, f"target: {exc}"))
            continue
        entity = row.entity
        if entity.startswith("<") and entity.endswith(">"):
            entity = entity[1:-1]
        if "://" in entity and is_valid_iri(entity):
            if minter.local_path(entity) is None:
                rejected.append(DocumentError(path, row.line, f"entity <{entity}> is not under "
                                              f"the base IRI {minter.base}"))
                continue
            pending.append((row, entity, target))
        else:
            pending.append((row, None, target))
    by_iri = [entity for _, entity, _ in pending if entity is not None]
    known = _known_entities(store, sorted(set(by_iri))) if by_iri else set()
    index = _entity_index(store) if any(e is None for _, e, _ in pending) else None
    for row, given, target in pending:
        if given is not None:
            if given not in known:
                rejected.append(DocumentError(path, row.line,
                                              f"entity <{given}> is not in the store"))
                continue
            subject = given
        else:
            assert index is not None
            matches = index.lookup(row.entity)
            if not matches:
                hint = (" (TSV fields are not quoted: remove the quotes)"
                        if row.entity.startswith('"') and row.entity.endswith('"') else "")
                rejected.append(DocumentError(path, row.line, f"entity {row.entity!r} matches "
                                              f"no person's name or paper's title{hint}"))
                continue
            if len(matches) > 1:
                listed = ", ".join(f"<{m}>" for m in sorted(matches))
                rejected.append(DocumentError(path, row.line, f"entity {row.entity!r} is "
                                              f"ambiguous: it matches {listed}; give the IRI"))
                continue
            (subject,) = matches
        if subject == target:
            rejected.append(DocumentError(path, row.line, f"<{subject}> would link to itself"))
            continue
        links.append((subject, target))
    return links, rejected


# --- loading -------------------------------------------------------------------------------

def load_linkset(store: KnowledgeStore, path: str | Path, minter: IriMinter, *,
                 data: bytes | None = None,
                 generated_at: dt.datetime | None = None) -> LinksetReport:
    """Load (or replace) the link set of one file in one atomic update."""
    path = Path(path)
    data = path.read_bytes() if data is None else data
    label = str(path)
    name = linkset_name(path.name)
    graph = linkset_graph(minter, name)
    table = read_link_table(data, path=label)
    links, rejected = resolve_links(table.rows, store, minter, path=label)
    rejected = sorted([*table.rejected, *rejected], key=lambda e: e.line or 0)
    sha = hashlib.sha256(data).hexdigest()
    wanted: set[Triple] = set()
    for subject, target in links:
        wanted.add((iri(subject), _OWL_SAME_AS, iri(target)))
        wanted.add((iri(subject), _SCHEMA_SAME_AS, iri(target)))
    existing = set(store.graph_triples(graph))
    old_description = _stored_description(store, graph)
    report = LinksetReport(name, graph, "loaded", len(wanted) // 2, rejected=rejected,
                           ignored_columns=table.ignored_columns)
    stored_sha = literal(sha) in {o for p, o in old_description
                                  if p == iri(_SKG + "sha256")}
    if stored_sha and existing == wanted:
        report.outcome = "unchanged"
        return report
    if old_description:
        report.outcome = "replaced"
    add, remove = wanted - existing, existing - wanted
    report.added, report.removed = len(add) // 2, len(remove) // 2
    description = set(_describe(graph, minter, path.name, sha,
                                generated_at or ingest_time()))
    g = iri(graph)
    old = {(g, p, o) for p, o in old_description}
    deletes: list[Quad] = [(t, g) for t in sorted(remove)]
    deletes += [(t, None) for t in sorted(remove) if not _supported_elsewhere(store, t, graph)]
    deletes += [(t, None) for t in sorted(old - description)]
    # every link into the default graph again: a no-op for those already there
    inserts: list[Quad] = [(t, g) for t in sorted(add)]
    inserts += [(t, None) for t in sorted(wanted)]
    inserts += [(t, None) for t in sorted(description - old)]
    parts: list[str] = []
    if deletes:
        parts.append("DELETE DATA {\n" + data_block(deletes) + "}")
    if not wanted:
        parts.append(f"CREATE SILENT GRAPH {g}")
    if inserts:
        parts.append("INSERT DATA {\n" + data_block(inserts) + "}")
    store.update(" ;\n".join(parts))
    store.flush()
    return report


def _stored_description(store: KnowledgeStore, graph: str) -> set[tuple[str, str]]:
    rows = store.query(f"SELECT ?p ?o WHERE {{ {iri(graph)} ?p ?o }}").term_rows()
    return {(r["p"], r["o"]) for r in rows}


def _describe(graph: str, minter: IriMinter, file_name: str, sha: str,
              generated_at: dt.datetime) -> list[Triple]:
    g = iri(graph)
    stamp = generated_at.astimezone(dt.UTC).replace(microsecond=0).isoformat()
    return [
        (g, _RDF_TYPE, iri(PREFIXES["prov"] + "Entity")),
        (g, iri(PREFIXES["dcterms"] + "title"), literal(f"Link set {file_name}")),
        (g, iri(PREFIXES["dcterms"] + "isPartOf"), iri(minter.dataset())),
        (g, iri(_SKG + "fileName"), literal(file_name)),
        (g, iri(_SKG + "sha256"), literal(sha)),
        (g, iri(PREFIXES["prov"] + "generatedAtTime"),
         typed(stamp.replace("+00:00", "Z"), XSD_DATETIME)),
    ]


def _supported_elsewhere(store: KnowledgeStore, triple: Triple, graph: str) -> bool:
    """Whether a current graph other than ``graph`` states the triple.

    Current: any named graph except superseded documents (``skg:supersededBy``).
    """
    for other in store.graphs_containing(triple):
        if other == graph:
            continue
        superseded = store.query(
            f"ASK {{ {iri(other)} {iri(_SKG + 'supersededBy')} ?later }}").boolean
        if not superseded:
            return True
    return False
