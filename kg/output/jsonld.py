"""Streaming compact JSON-LD, driven by the project's ``@context``.

pyld compacts a whole document in memory; a dump of any size must stream, so
nodes are compacted one subject at a time using the context's term definitions.
Values keep their exact lexical forms (typed strings, never JSON numbers), and
anything no term fits falls back to a compact IRI key with an explicit value
object, so expansion always gives back the same RDF (tests check with pyld).

>>> c = Compactor({"schema": "https://schema.org/", "name": "schema:name",
...                "position": {"@id": "schema:position", "@type": "xsd:integer"},
...                "xsd": "http://www.w3.org/2001/XMLSchema#"})
>>> XSD = "http://www.w3.org/2001/XMLSchema#"
>>> node = c.node(("uri", "https://ex.org/a", None, None), [
...     ("https://schema.org/name", ("literal", "A & B", XSD + "string", None)),
...     ("https://schema.org/position", ("literal", "2", XSD + "integer", None)),
...     ("https://schema.org/position", ("literal", "x", None, "en"))])
>>> node["name"], node["position"]
('A & B', '2')
>>> node["schema:position"]
{'@value': 'x', '@language': 'en'}
>>> c.node(("uri", "https://ex.org/b", None, None), [("https://ex.org/p",
...        ("literal", "x", None, "ar--rtl"))])["https://ex.org/p"]  # RDF 1.2 base direction
{'@value': 'x', '@language': 'ar', '@direction': 'rtl'}
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Protocol

RDF_TYPE = "http://www.w3.org/1999/02/22-rdf-syntax-ns#type"
XSD_STRING = "http://www.w3.org/2001/XMLSchema#string"
RDF_LANG_STRING = "http://www.w3.org/1999/02/22-rdf-syntax-ns#langString"

#: (type, value, datatype, language) as produced by kg.storage.store
Term = tuple[str, str, str | None, str | None]

CONTEXT_PATH = Path(__file__).resolve().parents[2] / "ontology" / "context.jsonld"


def load_context(path: Path = CONTEXT_PATH) -> dict[str, Any]:
    """The ``@context`` object of a JSON-LD context file."""
    ctx = json.loads(path.read_text(encoding="utf-8"))["@context"]
    assert isinstance(ctx, dict)
    return ctx


class Compactor:
    def __init__(self, context: dict[str, Any]) -> None:
        self.context = context
        self.prefixes: dict[str, str] = {
            k: v for k, v in context.items()
            if isinstance(v, str) and not k.startswith("@") and v.endswith(("/", "#"))
        }
        # (predicate IRI, value kind) -> term, kind: "@id" or a datatype IRI or "string"
        self.terms: dict[tuple[str, str], str] = {}
        self.type_terms: dict[str, str] = {}
        for term, definition in context.items():
            if term.startswith("@") or term in self.prefixes:
                continue
            if isinstance(definition, str):
                if definition.startswith("@"):
                    continue
                iri = self.expand(definition)
                self.terms.setdefault((iri, "string"), term)
                self.type_terms.setdefault(iri, term)
            elif isinstance(definition, dict) and "@id" in definition:
                if set(definition) - {"@id", "@type"}:
                    continue  # containers, language maps: not used by this writer
                iri = self.expand(definition["@id"])
                kind = definition.get("@type")
                kind = "string" if kind is None else ("@id" if kind == "@id" else self.expand(kind))
                self.terms.setdefault((iri, kind), term)

    def expand(self, value: str) -> str:
        prefix, sep, local = value.partition(":")
        if sep and prefix in self.prefixes and not local.startswith("//"):
            return self.prefixes[prefix] + local
        return value

    def compact_iri(self, iri: str) -> str:
        """A compact IRI (prefix:local) when a prefix fits, else the IRI itself."""
        for prefix, ns in self.prefixes.items():
            if iri.startswith(ns) and len(iri) > len(ns):
                local = iri[len(ns):]
                if not local.startswith("//") and ":" not in local:
                    return f"{prefix}:{local}"
        return iri

    def _id(self, term: Term) -> str:
        return f"_:{term[1]}" if term[0] == "bnode" else term[1]

    def node(self, subject: Term, pairs: Iterable[tuple[str, Term]]) -> dict[str, Any]:
        """One subject's triples as a compact node object."""
        out: dict[str, Any] = {"@id": self._id(subject)}
        types: list[str] = []
        for predicate, obj in pairs:
            if predicate == RDF_TYPE and obj[0] == "uri":
                types.append(self.type_terms.get(obj[1]) or self.compact_iri(obj[1]))
                continue
            key, value = self._entry(predicate, obj)
            if key in out:
                existing = out[key]
                if isinstance(existing, list):
                    existing.append(value)
                else:
                    out[key] = [existing, value]
            else:
                out[key] = value
        if types:
            out["@type"] = types[0] if len(types) == 1 else types
            out = {"@id": out.pop("@id"), "@type": out.pop("@type"), **out}
        return out

    def _entry(self, predicate: str, obj: Term) -> tuple[str, Any]:
        kind, value, datatype, language = obj
        if kind in ("uri", "bnode"):
            term = self.terms.get((predicate, "@id"))
            ident = self._id(obj)
            return (term, ident) if term else (self.compact_iri(predicate), {"@id": ident})
        if language:
            language, _, direction = language.partition("--")  # RDF 1.2: "x"@ar--rtl
            entry = {"@value": value, "@language": language}
            if direction:
                entry["@direction"] = direction
            return self.compact_iri(predicate), entry
        if datatype in (None, XSD_STRING):
            term = self.terms.get((predicate, "string"))
            return (term, value) if term else (self.compact_iri(predicate), {"@value": value})
        term = self.terms.get((predicate, datatype))
        if term:
            return term, value
        return self.compact_iri(predicate), {"@value": value, "@type": datatype}


class TextWritable(Protocol):
    """A text sink: an open text file, a StringIO."""

    def write(self, text: str, /) -> int: ...


class DocumentWriter:
    """Writes one compact JSON-LD document ``{"@context": ..., "@graph": [...]}`` node by
    node: ``add`` one subject's triples, then ``close``."""

    def __init__(self, out: TextWritable, context: dict[str, Any]) -> None:
        self._out = out
        self._compactor = Compactor(context)
        self.count = 0
        out.write('{"@context": ')
        out.write(json.dumps(context, ensure_ascii=False, sort_keys=False))
        out.write(',\n"@graph": [')

    def add(self, node: tuple[Term, list[tuple[str, Term]]]) -> None:
        subject, pairs = node
        self._out.write(",\n" if self.count else "\n")
        self._out.write(json.dumps(self._compactor.node(subject, pairs), ensure_ascii=False))
        self.count += 1

    def close(self) -> int:
        """End the document; returns the number of nodes."""
        self._out.write("\n]}\n")
        return self.count


def write_document(out: TextWritable, context: dict[str, Any],
                   nodes: Iterable[tuple[Term, list[tuple[str, Term]]]]) -> int:
    """Write one compact JSON-LD document ``{"@context": ..., "@graph": [...]}``; returns nodes."""
    writer = DocumentWriter(out, context)
    for node in nodes:
        writer.add(node)
    return writer.close()
