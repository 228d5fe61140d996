"""The reconciliation service at /reconcile: Reconciliation Service API 0.2 (OpenRefine's).

- ``GET /reconcile``: the service manifest (JSON; JSONP with ``callback``);
- ``queries=<batch>`` (POST form, GET, or a JSON body): a reconciliation query batch;
  ``query=<text or query>``: one query (answered as ``{"result": [...]}``);
- ``extend=<query>`` (POST form, GET, or a JSON body): data extension;
- ``/reconcile/preview?id=``, ``/reconcile/view?id=``, ``/reconcile/flyout/entity?id=``;
- ``/reconcile/suggest/entity|type|property?prefix=``, ``/reconcile/propose_properties?type=``.

Types are ``Person`` and ``ScholarlyArticle`` (schema.org); candidate ids are entity IRIs.
Candidates come from the names and titles in the merged graph (read with SPARQL into
a word index, rebuilt when the data changes) and are scored by :mod:`kg.reconciliation`.
Requests are checked in code against the protocol's rules: malformed JSON or a
query the protocol does not allow is a 400 naming what was wrong; a batch of more
than :data:`MAX_BATCH` queries is a 413 (the manifest announces ``batchSize``);
parameters over KG_MAX_QUERY_BYTES are a 413. Every answer carries CORS headers
(:mod:`server.web.cors`).
"""

from __future__ import annotations

import html
import json
import math
import re
import threading
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from flask import Blueprint, Response, current_app, redirect, request

from kg import __version__
from kg.errors import KgError
from kg.mapping.identifiers import TARGET_DATASETS, IdentifierError, parse_target
from kg.mapping.names import person_key
from kg.mapping.vocab import PREFIXES, SCHEMA_IRI
from kg.reconciliation import (
    PAPER,
    PERSON,
    PROPERTIES,
    PROPERTY_BY_ID,
    TYPES,
    Candidate,
    NameEntry,
    NameIndex,
    PropertySpec,
    Value,
    identifier_iri,
    property_satisfied,
    rank,
    type_id,
)
from server.pages.descriptions import local_paths
from server.settings import Settings
from server.sparql.executor import job_runner
from server.sparql.service import query_service
from server.web.errors import ApiError
from server.web.request_parsing import decode_utf8, parse_params

bp = Blueprint("reconcile", __name__)

#: most queries answered per batch (announced as the manifest's batchSize)
MAX_BATCH = 100
#: candidates per query when the query sets no limit, and the most it may ask for
DEFAULT_LIMIT, MAX_LIMIT = 10, 100
#: most entities and properties per data extension request
MAX_EXTEND_IDS, MAX_EXTEND_PROPERTIES = 500, 50
#: the name index is rebuilt at least this often, and whenever the data changes
INDEX_MAX_AGE_S = 300.0
METHODS = ["GET", "POST", "OPTIONS"]
FORM = "application/x-www-form-urlencoded"
JSON = "application/json"
PREVIEW_WIDTH, PREVIEW_HEIGHT = 430, 150

_QUERY_FIELDS = ("query", "type", "limit", "properties", "type_strict")
_CALLBACK = re.compile(r"[A-Za-z_$][\w$]*(?:\.[A-Za-z_$][\w$]*)*\Z")
_PREFIXES = "".join(f"PREFIX {k}: <{v}>\n" for k, v in PREFIXES.items())
_OPERATIONS = ("queries", "query", "extend")


def _settings() -> Settings:
    return current_app.config["KG_SETTINGS"]  # type: ignore[no-any-return]


def _local_href(iri: str) -> str:
    """Where this server shows ``iri`` (under a proxy's path prefix), else the IRI."""
    path = local_paths().path_of(iri)
    return request.script_root + path if path else iri


def _service_url() -> str:
    return request.url_root + "reconcile"


# --- responses ---------------------------------------------------------------------------

def _json(body: Any, status: int = 200) -> Response:
    """JSON, or JSONP when a GET names a ``callback``."""
    text = json.dumps(body, ensure_ascii=False)
    callback = request.args.get("callback") if request.method == "GET" else None
    if callback is None:
        return Response(text, status=status, mimetype=JSON)
    if not _CALLBACK.match(callback) or len(callback) > 100:
        raise ApiError(400, "callback must be a JavaScript identifier such as jsonp_1 or "
                       "a.b (letters, digits, _ and $, dotted)")
    response = Response(f"/**/{callback}({text});", status=status,
                        mimetype="application/javascript")
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


def _preflight() -> Response:
    return Response(status=204, headers={"Allow": ", ".join(METHODS)})


# --- reading requests ---------------------------------------------------------------------

def _check_size(text: str, what: str) -> None:
    size = len(text.encode("utf-8"))
    limit = _settings().max_query_bytes
    if size > limit:
        raise ApiError(413, f"{what} is {size} bytes; KG_MAX_QUERY_BYTES allows {limit}")


def _load_json(text: str, what: str) -> Any:
    _check_size(text, what)
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise ApiError(400, f"{what} is not valid JSON: {exc.msg} at line {exc.lineno} "
                       f"column {exc.colno}") from exc
    except (ValueError, RecursionError) as exc:
        reason = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)
        raise ApiError(400, f"{what} is not valid JSON: {reason}") from exc


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _read_operation() -> tuple[str | None, Any]:
    """The request's operation (queries, query or extend, or None) and its JSON document."""
    params = parse_params(request.query_string, "the URL")
    found: list[tuple[str, Any]] = []
    if request.method == "POST":
        mimetype = request.mimetype
        if mimetype == FORM:
            for name, value in parse_params(request.get_data(), "the request body").items(
                    multi=True):
                params.add(name, value)
        elif mimetype == JSON:
            text = decode_utf8(request.get_data(), "the JSON request body")
            found.append(_json_operation(_load_json(text, "the JSON request body")))
        elif request.content_length:
            got = f"Content-Type {mimetype}" if mimetype else "no Content-Type"
            raise ApiError(415, f"a reconciliation POST needs Content-Type {FORM} (fields "
                           f"queries=, query= or extend=) or {JSON}; got {got}")
    for name in _OPERATIONS:
        values = params.getlist(name)
        if len(values) > 1:
            raise ApiError(400, f"the {name} parameter is given {len(values)} times; give it once")
        if values:
            text = values[0]
            if name == "query" and not text.lstrip().startswith("{"):
                _check_size(text, "the query parameter")
                found.append((name, {"query": text}))
            else:
                found.append((name, _load_json(text, f"the {name} parameter")))
    if len(found) > 1:
        raise ApiError(400, "a request holds one of queries, query or extend; got "
                       + ", ".join(name for name, _ in found))
    return found[0] if found else (None, None)


def _json_operation(doc: Any) -> tuple[str, Any]:
    """What a JSON body holds: a batch, ``{"queries": batch}``, a data extension query
    (``{"ids": ..., "properties": ...}``) or ``{"extend": query}``."""
    if isinstance(doc, dict):
        wrapped = doc.get("queries")
        if set(doc) == {"queries"} and isinstance(wrapped, dict) and not (
                set(wrapped) & set(_QUERY_FIELDS)):
            return "queries", wrapped
        if set(doc) == {"extend"}:
            return "extend", doc["extend"]
        if isinstance(doc.get("ids"), list):
            return "extend", doc
    return "queries", doc


# --- query validation ----------------------------------------------------------------------

@dataclass
class ReconQuery:
    key: str
    text: str | None
    kinds: list[str]
    limit: int
    properties: list[tuple[str, list[Any]]] = field(default_factory=list)


def _kind_name(value: Any) -> str:
    return {dict: "an object", list: "an array", str: "a string", bool: "a boolean",
            type(None): "null", int: "a number", float: "a number"}.get(type(value), "a value")


def _positive_int(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float) or (
            isinstance(value, float) and not value.is_integer()) or value < 1:
        raise ApiError(400, f"{where} must be a positive integer, got {json.dumps(value)}")
    return int(value)


def _property_value_ok(value: Any) -> bool:
    if isinstance(value, str | bool | int):
        return True
    if isinstance(value, float):
        return math.isfinite(value)
    return isinstance(value, dict) and isinstance(value.get("id"), str) and isinstance(
        value.get("name", ""), str)


def parse_query(doc: Any, key: str) -> ReconQuery:
    """One reconciliation query, checked against the protocol (a 400 says what is wrong)."""
    where = f"query {key!r}"
    if not isinstance(doc, dict):
        raise ApiError(400, f"{where} must be a JSON object, got {_kind_name(doc)}")
    unknown = sorted(set(doc) - set(_QUERY_FIELDS))
    if unknown:
        raise ApiError(400, f"{where} has the unknown field {unknown[0]!r} (a query has "
                       f"{', '.join(_QUERY_FIELDS)})")
    text = doc.get("query")
    if text is not None and not isinstance(text, str):
        raise ApiError(400, f"{where}: query must be a string, got {_kind_name(text)}")
    types = doc.get("type", [])
    if isinstance(types, str):
        types = [types]
    if not isinstance(types, list) or not all(isinstance(t, str) for t in types):
        raise ApiError(400, f"{where}: type must be a type id or an array of type ids")
    limit = _positive_int(doc["limit"], f"{where}: limit") if "limit" in doc else DEFAULT_LIMIT
    strict = doc.get("type_strict")
    if strict is not None and strict not in ("any", "should", "all"):
        raise ApiError(400, f"{where}: type_strict must be any, should or all")
    properties = doc.get("properties", [])
    if not isinstance(properties, list):
        raise ApiError(400, f"{where}: properties must be an array of {{pid, v}} objects")
    parsed: list[tuple[str, list[Any]]] = []
    for index, prop in enumerate(properties):
        at = f"{where}: properties[{index}]"
        if not isinstance(prop, dict) or "pid" not in prop or "v" not in prop:
            raise ApiError(400, f"{at} must be an object with pid and v")
        if not isinstance(prop["pid"], str):
            raise ApiError(400, f"{at}.pid must be a string")
        values = prop["v"] if isinstance(prop["v"], list) else [prop["v"]]
        if not all(_property_value_ok(v) for v in values):
            raise ApiError(400, f"{at}.v must be a string, number, boolean or an object with "
                           "an id, or an array of these")
        parsed.append((prop["pid"], values))
    if not (text and text.strip()) and not parsed:
        raise ApiError(400, f"{where} needs a non-empty query string or a non-empty "
                       "properties array")
    kinds = list(TYPES) if not types else [k for k in map(type_id, types) if k]
    kinds = list(dict.fromkeys(kinds))
    text = text.strip() if text and text.strip() else None
    return ReconQuery(key, text, kinds, min(limit, MAX_LIMIT), parsed)


def parse_batch(doc: Any) -> list[ReconQuery]:
    if not isinstance(doc, dict):
        raise ApiError(400, "a query batch must be a JSON object mapping query ids to "
                       f"queries, got {_kind_name(doc)}")
    if len(doc) > MAX_BATCH:
        raise ApiError(413, f"the batch holds {len(doc)} queries; at most {MAX_BATCH} are "
                       "answered per request (the manifest's batchSize)")
    return [parse_query(query, str(key)) for key, query in doc.items()]


# --- the name index -------------------------------------------------------------------------

_NAMES = _PREFIXES + """
SELECT ?e ?kind ?name ?primary WHERE {
  { ?e a schema:Person ; schema:name ?name . BIND("Person" AS ?kind) BIND(true AS ?primary) }
  UNION
  { ?e a schema:Person ; schema:alternateName ?name . BIND("Person" AS ?kind)
    BIND(false AS ?primary) }
  UNION
  { ?e a schema:ScholarlyArticle ; schema:name ?name . BIND("ScholarlyArticle" AS ?kind)
    BIND(true AS ?primary) }
}"""


@dataclass
class _IndexCache:
    lock: threading.Lock = field(default_factory=threading.Lock)
    index: NameIndex | None = None
    generation: str | None = None
    built: float = 0.0


def _generation() -> str | None:
    try:
        return job_runner().generation()
    except KgError:  # a query service that runs no jobs: rebuild by age only
        return None


def name_index() -> NameIndex:
    """The names and titles of the merged graph, rebuilt when the data changes."""
    cache: _IndexCache = current_app.extensions.setdefault("kg_reconcile_index", _IndexCache())
    generation = _generation()
    with cache.lock:
        stale = (cache.index is None or cache.generation != generation
                 or time.monotonic() - cache.built > INDEX_MAX_AGE_S)
        if stale:
            rows = query_service().select(_NAMES)
            cache.index = NameIndex(
                NameEntry(r["e"][1], r["kind"][1], r["name"][1], r["primary"][1] == "true")
                for r in rows if r["e"][0] == "uri")
            cache.generation, cache.built = generation, time.monotonic()
        assert cache.index is not None
        return cache.index


# --- values of properties ------------------------------------------------------------------

#: SPARQL patterns binding ?text (and ?id for entity values, ?order, ?alt) for ?e
_PATTERNS: dict[str, str] = {
    "alternateName": "?e schema:alternateName ?text .",
    "category": "{ ?e schema:knowsAbout ?c } UNION { ?e schema:about ?c } "
                "?c schema:termCode ?text . OPTIONAL { ?c skg:arxivCategory ?alt }",
    "hIndex": "?e skg:hIndex ?text .",
    "paperCount": "?e skg:paperCount ?text .",
    "citationCount": "?e skg:citationCount ?text .",
    "noveltyScore": "?e skg:noveltyScore ?text .",
    "aiScore": "?e skg:aiScore ?text .",
    "papers": "?e foaf:made ?id . ?id schema:name ?text . "
              "OPTIONAL { ?id schema:datePublished ?order }",
    "coauthors": "{ ?p schema:author ?e , ?id . FILTER(?id != ?e) ?id schema:name ?text } "
                 "UNION { ?p schema:author ?e ; skg:authorship ?a . "
                 "?a skg:nameAsStated ?text . FILTER NOT EXISTS { ?a skg:person ?x } }",
    "datePublished": "?e schema:datePublished ?text .",
    "authors": "{ ?e skg:authorship ?a . ?a skg:nameAsStated ?stated . "
               "OPTIONAL { ?a schema:position ?order } "
               "OPTIONAL { ?a skg:person ?id . ?id schema:name ?name } "
               "BIND(COALESCE(?name, ?stated) AS ?text) } "
               "UNION { ?e schema:author ?id . ?id schema:name ?text . "
               "FILTER NOT EXISTS { ?e skg:authorship ?b . ?b skg:person ?id } "
               "BIND(1000000 AS ?order) }",
    "abstract": "?e schema:abstract ?text .",
    "paperScore": "?e skg:paperScore ?text .",
    "codeRepository": "?e schema:codeRepository ?r . BIND(STR(?r) AS ?text)",
    "sameAs": "?e owl:sameAs ?r . FILTER(isIRI(?r)) BIND(STR(?r) AS ?text)",
}
for _scheme in ("orcid", "dblp", "wikidata", "arxiv", "doi"):
    _PATTERNS[_scheme] = (
        "?e owl:sameAs ?r . FILTER(isIRI(?r) && STRSTARTS(STR(?r), "
        f"{json.dumps(TARGET_DATASETS[_scheme].uri_space)})) BIND(STR(?r) AS ?text)")
_ENTITY_VALUED = {"papers", "coauthors", "authors"}
_IRI_VALUED = {"sameAs", "codeRepository", "orcid", "dblp", "wikidata", "arxiv", "doi"}


@dataclass(frozen=True)
class _Row:
    text: str
    id: str | None
    order: str
    alt: str | None


def _iri_list(entities: list[str]) -> str:
    return " ".join(f"<{e}>" for e in entities)


def fetch_values(pid: str, entities: list[str]) -> dict[str, list[_Row]]:
    """One property's values on some entities, in a stable order, without repeats."""
    out: dict[str, list[_Row]] = {e: [] for e in entities}
    if not entities:
        return out
    rows = query_service().select(
        _PREFIXES + f"SELECT ?e ?text ?id ?order ?alt WHERE {{ VALUES ?e {{ "
        f"{_iri_list(entities)} }} {_PATTERNS[pid]} }}")
    seen: set[tuple[str, str, str | None]] = set()
    for row in rows:
        entity = row["e"][1]
        text = row["text"][1] if "text" in row else ""
        ident = row["id"][1] if "id" in row and row["id"][0] == "uri" else None
        if pid in _IRI_VALUED:
            ident = text
        if (entity, text, ident) in seen:
            continue
        seen.add((entity, text, ident))
        order = row["order"][1] if "order" in row else ""
        alt = row["alt"][1] if "alt" in row else None
        out.setdefault(entity, []).append(_Row(text, ident, order, alt))
    for entity, values in out.items():
        if pid == "authors":
            values.sort(key=lambda r: (_int(r.order), r.text))
        elif pid == "papers":
            values.sort(key=lambda r: (r.order == "", _reverse(r.order), r.text.casefold()))
        else:
            values.sort(key=lambda r: (r.text.casefold(), r.text))
        if pid in ("coauthors", "authors"):
            out[entity] = _dedupe_people(values)
    return out


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        return 1_000_000


def _reverse(text: str) -> str:
    return "".join(chr(0x10FFFF - ord(c)) for c in text)


def _dedupe_people(values: list[_Row]) -> list[_Row]:
    kept: list[_Row] = []
    ids: set[str] = set()
    keys: set[str] = set()
    for value in values:
        if value.id is not None:
            if value.id in ids:
                continue
            ids.add(value.id)
        elif person_key(value.text) in keys:
            continue
        keys.add(person_key(value.text))
        kept.append(value)
    return kept


def _comparable(rows: list[_Row]) -> list[Value]:
    out = []
    for row in rows:
        out.append(Value(row.text, row.id))
        if row.alt:
            out.append(Value(row.alt))
    return out


# --- reconciling ---------------------------------------------------------------------------

def _property_targets(q: ReconQuery) -> list[str]:
    """IRIs that identifier properties of a query (orcid, doi, sameAs, ...) name."""
    out: list[str] = []
    for pid, values in q.properties:
        spec = PROPERTY_BY_ID.get(pid)
        if spec is None or spec.compare is None:
            continue
        if not (spec.compare.startswith("identifier:") or pid == "sameAs"):
            continue
        scheme = spec.compare.partition(":")[2] or None
        for value in values:
            text = value.get("id") if isinstance(value, dict) else str(value)
            try:
                out.append(parse_target(str(text), scheme).iri)
            except IdentifierError:
                continue
    return out


def _query_target(text: str, index: NameIndex) -> str | None:
    """The IRI a query string names: one of our entities, or an identifier's IRI."""
    if text.startswith(_settings().base_iri):
        return text if text in index.kind else None
    return identifier_iri(text)


def _direct_hits(targets: list[str], index: NameIndex) -> dict[str, set[str]]:
    """Entities by IRI: ours as they are, others by the entities linking to them (owl:sameAs)."""
    hits: dict[str, set[str]] = {t: ({t} if t in index.kind else set()) for t in targets}
    external = sorted(t for t in hits if t not in index.kind)
    if external:
        rows = query_service().select(
            f"SELECT ?e ?t WHERE {{ VALUES ?t {{ {_iri_list(external)} }} "
            f"?e <{PREFIXES['owl']}sameAs> ?t }}")
        for row in rows:
            if row["e"][1] in index.kind:
                hits[row["t"][1]].add(row["e"][1])
    return hits


def reconcile(queries: list[ReconQuery]) -> dict[str, dict[str, Any]]:
    """The result batch of a query batch."""
    index = name_index()
    named = {q.key: _query_target(q.text, index) if q.text else None for q in queries}
    by_property = {q.key: _property_targets(q) for q in queries}
    direct = _direct_hits(sorted({t for t in named.values() if t}
                                 | {t for ts in by_property.values() for t in ts}), index)
    pools: dict[str, list[Candidate]] = {}
    for q in queries:
        found: dict[str, Candidate] = {}
        if any(pid not in PROPERTY_BY_ID for pid, _ in q.properties):
            pools[q.key] = []  # a property the service does not know matches nothing
            continue
        if q.text:
            for c in index.search(q.text, q.kinds):
                found.setdefault(c.entity, c)
        target = named[q.key]
        for entity in sorted(direct.get(target, ())) if target else ():
            hit = index.candidate(entity, None)  # the query names it: exact
            if hit is not None and hit.kind in q.kinds:
                found[entity] = hit
        for entity in sorted({e for t in by_property[q.key] for e in direct.get(t, ())}):
            hit = index.candidate(entity, q.text)
            if hit is not None and hit.kind in q.kinds and entity not in found:
                found[entity] = hit
        ranked = sorted(found.values(), key=lambda c: (-c.name_score, c.name, c.entity))
        pools[q.key] = ranked[: max(3 * q.limit, 30)]
    _check_properties(queries, pools)
    shown = {q.key: rank(pools[q.key], by_name=q.text is not None)[: q.limit]
             for q in queries}
    descriptions = describe([c.entity for cs in shown.values() for c in cs])
    return {q.key: {"result": [_candidate_json(c, descriptions) for c in shown[q.key]]}
            for q in queries}


def _check_properties(queries: list[ReconQuery], pools: dict[str, list[Candidate]]) -> None:
    needed: dict[str, set[str]] = {}
    for q in queries:
        for pid, _ in q.properties:
            spec = PROPERTY_BY_ID[pid] if pid in PROPERTY_BY_ID else None
            if spec is None or spec.compare is None:
                continue
            needed.setdefault(pid, set()).update(
                c.entity for c in pools[q.key] if c.kind in spec.types)
    values = {pid: fetch_values(pid, sorted(entities)) for pid, entities in needed.items()}
    for q in queries:
        for candidate in pools[q.key]:
            for pid, wanted in q.properties:
                spec = PROPERTY_BY_ID[pid]
                if spec.compare is None or candidate.kind not in spec.types:
                    result = None
                else:
                    have = _comparable(values[pid].get(candidate.entity, []))
                    result = property_satisfied(spec, wanted, have)
                if pid in candidate.properties:  # the same property twice: both must hold
                    previous = candidate.properties[pid]
                    if previous is None or result is None:
                        result = previous if result is None else result
                    else:
                        result = previous and result
                candidate.properties[pid] = result


def _type_json(kind: str) -> dict[str, str]:
    return {"id": kind, "name": TYPES[kind].name}


def _candidate_json(c: Candidate, descriptions: dict[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {"id": c.entity, "name": c.name}
    if descriptions.get(c.entity):
        out["description"] = descriptions[c.entity]
    out["type"] = [_type_json(c.kind)]
    out["score"] = c.score
    out["match"] = c.match
    features: list[dict[str, Any]] = [{"id": "name", "value": c.name_score}]
    features += [{"id": pid, "value": result} for pid, result in c.properties.items()
                 if result is not None]
    out["features"] = features
    return out


_DESCRIBE = _PREFIXES + """
SELECT ?e ?p ?o WHERE {{
  VALUES ?e {{ {entities} }}
  {{ VALUES ?p {{ skg:hIndex skg:paperCount schema:datePublished schema:creditText }}
    ?e ?p ?o }}
  UNION {{ ?e schema:knowsAbout|schema:about ?c . ?c schema:termCode ?o .
          BIND(schema:termCode AS ?p) }}
}}"""


def describe(entities: list[str]) -> dict[str, str]:
    """A one-line description per entity: category and metrics, or date and byline."""
    if not entities:
        return {}
    facts: dict[str, dict[str, list[str]]] = {}
    for row in query_service().select(_DESCRIBE.format(entities=_iri_list(sorted(set(
            entities))))):
        facts.setdefault(row["e"][1], {}).setdefault(row["p"][1].rsplit("/", 1)[-1].rsplit(
            "#", 1)[-1], []).append(row["o"][1])
    index = name_index()
    out: dict[str, str] = {}
    for entity, f in facts.items():
        parts: list[str] = []
        if "termCode" in f:
            parts.append(", ".join(sorted(set(f["termCode"]))))
        if index.kind.get(entity) == PERSON:
            if "hIndex" in f:
                parts.append(f"h-index {f['hIndex'][0]}")
            if "paperCount" in f:
                count = f["paperCount"][0]
                parts.append(f"{count} paper" + ("" if count == "1" else "s"))
        else:
            if "datePublished" in f:
                parts.append(min(f["datePublished"]))
            if "creditText" in f:
                parts.append(max(f["creditText"], key=lambda b: (len(b), b)))
        out[entity] = " · ".join(parts)
    return out


# --- data extension --------------------------------------------------------------------------

def parse_extend(doc: Any) -> tuple[list[str], list[tuple[str, int]]]:
    """(ids, [(property id, value limit)]) of a data extension query."""
    if not isinstance(doc, dict):
        raise ApiError(400, "a data extension query must be a JSON object with ids and "
                       f"properties, got {_kind_name(doc)}")
    ids, props = doc.get("ids"), doc.get("properties")
    if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
        raise ApiError(400, "extend: ids must be an array of entity ids (strings)")
    if not isinstance(props, list):
        raise ApiError(400, "extend: properties must be an array of {id, settings} objects")
    if len(ids) > MAX_EXTEND_IDS or len(props) > MAX_EXTEND_PROPERTIES:
        raise ApiError(413, f"extend: at most {MAX_EXTEND_IDS} ids and "
                       f"{MAX_EXTEND_PROPERTIES} properties per request; got {len(ids)} and "
                       f"{len(props)}")
    parsed: list[tuple[str, int]] = []
    for index, prop in enumerate(props):
        at = f"extend: properties[{index}]"
        if not isinstance(prop, dict) or not isinstance(prop.get("id"), str):
            raise ApiError(400, f"{at} must be an object with a string id")
        settings = prop.get("settings", {})
        if not isinstance(settings, dict):
            raise ApiError(400, f"{at}.settings must be an object")
        limit = 0
        if "limit" in settings:
            raw = settings["limit"]
            try:
                limit = int(raw) if not isinstance(raw, bool) else -1
            except (TypeError, ValueError):
                limit = -1
            if limit < 0 or (isinstance(raw, float) and not raw.is_integer()):
                raise ApiError(400, f"{at}.settings.limit must be a whole number of values, "
                               f"0 for all; got {json.dumps(raw)}")
        parsed.append((prop["id"], limit))
    return ids, parsed


def _cell(pid: str, row: _Row) -> dict[str, Any]:
    spec = PROPERTY_BY_ID[pid]
    if pid in _ENTITY_VALUED and row.id is not None:
        return {"id": row.id, "name": row.text}
    if spec.compare == "number":
        number = float(row.text)
        return {"int": int(number)} if pid in ("hIndex", "paperCount", "citationCount") \
            else {"float": number}
    if pid == "datePublished":
        return {"date": f"{row.text}T00:00:00Z"}
    if pid in TARGET_DATASETS:
        return {"str": _unprefixed(row.text, TARGET_DATASETS[pid].uri_space)}
    return {"str": row.text}


def _unprefixed(iri: str, space: str) -> str:
    return unquote(iri[len(space):]) if iri.startswith(space) else iri


def extend(ids: list[str], props: list[tuple[str, int]]) -> dict[str, Any]:
    meta: list[dict[str, Any]] = []
    rows: dict[str, dict[str, list[dict[str, Any]]]] = {i: {} for i in ids}
    index = name_index()
    for pid, limit in props:
        spec = PROPERTY_BY_ID.get(pid)
        entry: dict[str, Any] = {"id": pid, "name": spec.name if spec else pid}
        if spec is not None and spec.value_type is not None:
            entry["type"] = _type_json(spec.value_type)
        meta.append(entry)
        known = [i for i in dict.fromkeys(ids)
                 if spec is not None and index.kind.get(i) in spec.types]
        values = fetch_values(pid, known) if spec is not None and known else {}
        for i in ids:
            cells = [_cell(pid, row) for row in values.get(i, [])]
            rows[i][pid] = cells[:limit] if limit else cells
    return {"meta": meta, "rows": rows}


# --- the manifest ----------------------------------------------------------------------------

def manifest() -> dict[str, Any]:
    url = _service_url()
    return {
        "versions": ["0.2"],
        "name": "scholarkg",
        "identifierSpace": _settings().base_iri,
        "schemaSpace": SCHEMA_IRI,
        "serviceVersion": __version__,
        "batchSize": MAX_BATCH,
        "defaultTypes": [_type_json(PERSON), _type_json(PAPER)],
        "view": {"url": url + "/view?id={{id}}"},
        "preview": {"url": url + "/preview?id={{id}}", "width": PREVIEW_WIDTH,
                    "height": PREVIEW_HEIGHT},
        "suggest": {
            "entity": {"service_url": url, "service_path": "/suggest/entity",
                       "flyout_service_path": "/flyout/entity?id=${id}"},
            "type": {"service_url": url, "service_path": "/suggest/type"},
            "property": {"service_url": url, "service_path": "/suggest/property"},
        },
        "extend": {
            "propose_properties": {"service_url": url, "service_path": "/propose_properties"},
            "property_settings": [{
                "name": "limit", "label": "Limit", "type": "number", "default": 0,
                "help_text": "Most values per cell (0 for all)"}],
        },
    }


# --- routes ---------------------------------------------------------------------------------

@bp.route("/reconcile", methods=METHODS, strict_slashes=False)
def endpoint() -> Response:
    if request.method == "OPTIONS":
        return _preflight()
    operation, doc = _read_operation()
    if operation is None:
        if request.method == "POST":
            raise ApiError(400, "the request holds no queries, query or extend parameter")
        return _json(manifest())
    if operation == "queries":
        return _json(reconcile(parse_batch(doc)))
    if operation == "query":
        (result,) = reconcile([parse_query(doc, "query")]).values()
        return _json(result)
    ids, props = parse_extend(doc)
    return _json(extend(ids, props))


def _required(name: str) -> str:
    value = request.args.get(name)
    if value is None or not value.strip():
        raise ApiError(400, f"the {name} parameter is required")
    return value.strip()


def _known_entity() -> tuple[str, str]:
    entity = _required("id")
    kind = name_index().kind.get(entity)
    if kind is None:
        raise ApiError(404, f"no person or paper has the id <{entity}>")
    return entity, kind


@bp.route("/reconcile/view", methods=["GET", "OPTIONS"])
def view() -> Response:
    if request.method == "OPTIONS":
        return _preflight()
    entity, _ = _known_entity()
    return redirect(_local_href(entity), 303)  # type: ignore[return-value]


def _summary(entity: str, kind: str) -> tuple[str, str, list[str]]:
    """(name, description, detail lines) shown by previews and flyouts."""
    index = name_index()
    description = describe([entity]).get(entity, "")
    if kind == PERSON:
        papers = fetch_values("papers", [entity])[entity]
        details = [row.text for row in papers[:3]]
    else:
        abstract = fetch_values("abstract", [entity])[entity]
        details = [a.text[:280] + ("\u2026" if len(a.text) > 280 else "") for a in abstract[:1]]
    return index.display[entity], description, details


@bp.route("/reconcile/preview", methods=["GET", "OPTIONS"])
def preview() -> Response:
    if request.method == "OPTIONS":
        return _preflight()
    entity, kind = _known_entity()
    name, description, details = _summary(entity, kind)
    e = html.escape
    items = "".join(f"<li>{e(d)}</li>" for d in details)
    body = (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        f"<title>{e(name)}</title><style>body{{font:13px/1.35 system-ui,sans-serif;"
        "margin:6px;color:#222}h1{font-size:15px;margin:0 0 2px}p{margin:2px 0;color:#555}"
        "ul{margin:4px 0;padding-left:18px}a{color:#1a55a6}</style></head><body>"
        f"<h1><a href=\"{e(_local_href(entity))}\" target=_blank rel=noopener>"
        f"{e(name)}</a></h1><p>{e(TYPES[kind].name)}"
        + (f" · {e(description)}" if description else "") + "</p>"
        + (f"<ul>{items}</ul>" if items else "") + "</body></html>")
    response = Response(body, mimetype="text/html")
    response.headers["Content-Security-Policy"] = (
        "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors *")
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


@bp.route("/reconcile/flyout/entity", methods=["GET", "OPTIONS"])
def flyout() -> Response:
    if request.method == "OPTIONS":
        return _preflight()
    entity, kind = _known_entity()
    name, description, _ = _summary(entity, kind)
    e = html.escape
    snippet = (f"<p><strong>{e(name)}</strong><br>{e(TYPES[kind].name)}"
               + (f" · {e(description)}" if description else "") + "</p>")
    return _json({"id": entity, "html": snippet})


def _paging() -> tuple[int, int]:
    def number(name: str, default: int, low: int) -> int:
        raw = request.args.get(name)
        if raw is None or raw == "":
            return default
        if not raw.isdigit() or int(raw) < low:
            raise ApiError(400, f"the {name} parameter must be an integer of at least {low}")
        return int(raw)

    return number("cursor", 0, 0), min(number("limit", DEFAULT_LIMIT, 1), MAX_LIMIT)


def _kinds_param() -> list[str]:
    raw = request.args.get("type")
    if not raw:
        return list(TYPES)
    kind = type_id(raw)
    return [kind] if kind else []


@bp.route("/reconcile/suggest/entity", methods=["GET", "OPTIONS"])
def suggest_entity() -> Response:
    if request.method == "OPTIONS":
        return _preflight()
    prefix = _required("prefix")
    cursor, limit = _paging()
    kinds = _kinds_param()
    index = name_index()
    found = [e.entity for e in index.prefix(prefix, kinds, limit=limit + cursor)]
    target = _query_target(prefix, index)
    if target is not None:
        hits = _direct_hits([target], index)[target]
        found = sorted(h for h in hits if index.kind[h] in kinds) + [
            f for f in found if f not in hits]
    page = found[cursor : cursor + limit]
    descriptions = describe(page)
    result = []
    for entity in page:
        item: dict[str, Any] = {"id": entity, "name": index.display[entity]}
        if descriptions.get(entity):
            item["description"] = descriptions[entity]
        item["notable"] = [_type_json(index.kind[entity])]
        result.append(item)
    return _json({"result": result})


def _matches(prefix: str, *texts: str) -> bool:
    wanted = prefix.strip().casefold()
    return not wanted or any(
        t.casefold().startswith(wanted) or any(w.startswith(wanted)
                                               for w in re.split(r"\W+", t.casefold()))
        for t in texts)


@bp.route("/reconcile/suggest/type", methods=["GET", "OPTIONS"])
def suggest_type() -> Response:
    if request.method == "OPTIONS":
        return _preflight()
    prefix = request.args.get("prefix", "")
    cursor, limit = _paging()
    types = [t for t in TYPES.values() if _matches(prefix, t.id, t.name)]
    return _json({"result": [{"id": t.id, "name": t.name, "description": t.description}
                             for t in types[cursor : cursor + limit]]})


def _property_json(spec: PropertySpec) -> dict[str, str]:
    return {"id": spec.id, "name": spec.name, "description": spec.description}


@bp.route("/reconcile/suggest/property", methods=["GET", "OPTIONS"])
def suggest_property() -> Response:
    if request.method == "OPTIONS":
        return _preflight()
    prefix = request.args.get("prefix", "")
    cursor, limit = _paging()
    kinds = set(_kinds_param())
    specs = [p for p in PROPERTIES if kinds & set(p.types) and _matches(prefix, p.id, p.name)]
    return _json({"result": [_property_json(p) for p in specs[cursor : cursor + limit]]})


@bp.route("/reconcile/propose_properties", methods=["GET", "OPTIONS"])
def propose_properties() -> Response:
    if request.method == "OPTIONS":
        return _preflight()
    raw = _required("type")
    kind = type_id(raw)
    if kind is None:
        raise ApiError(400, f"unknown type {raw!r}; the types are {', '.join(TYPES)}")
    limit_raw = request.args.get("limit")
    specs = [p for p in PROPERTIES if kind in p.types]
    body: dict[str, Any] = {"type": raw}
    if limit_raw:
        if not limit_raw.isdigit() or int(limit_raw) < 1:
            raise ApiError(400, "the limit parameter must be a positive integer")
        body["limit"] = int(limit_raw)
        specs = specs[: int(limit_raw)]
    body["properties"] = [_property_json(p) for p in specs]
    return _json(body)

