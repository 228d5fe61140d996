"""Helpers for the web-page tests: the test graph in a fresh store, an app, an HTML reader.

The graph is tests/data/server/graph.trig (written for these tests); it is loaded into
a real in-memory store, under any base IRI the test asks for.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pyoxigraph as ox
from flask import Flask
from pyld import jsonld
from rdflib import Graph

from kg.storage.store import KnowledgeStore
from server import create_app

GRAPH = Path(__file__).parent / "data" / "server" / "graph.trig"
BASE = "https://w3id.org/scholarkg/id/"
#: shortcuts to the test graph's entities (relative to the base IRI)
YUZHEN = "person/yuzhen-huang"
ZHICHENG = "person/zhicheng-zhu"
SHARED_PAPER = "paper/f1b359cda9cba198"
SCRIPT_PAPER = "paper/4a1201ec4b73e190"
ARXIV_PAPER = "paper/arxiv-2503.14476"
SCRIPT_TITLE = '<script>alert("x")</script> & "quotes" \\ $^{2}$'


def load_store(base_iri: str = BASE) -> KnowledgeStore:
    """The test graph in a new in-memory store, its IRIs moved under ``base_iri``."""
    text = GRAPH.read_text(encoding="utf-8").replace(BASE, base_iri)
    quads = ox.parse(text.encode("utf-8"), ox.RdfFormat.TRIG)
    store = KnowledgeStore.open(None)
    store.load_nquads(ox.serialize(quads, None, ox.RdfFormat.N_QUADS).decode("utf-8"))
    return store


def make_app(exports_dir: Path, base_iri: str = BASE, store: KnowledgeStore | None = None,
             **overrides: Any) -> Flask:
    app = create_app(store=store or load_store(base_iri), exports_dir=str(exports_dir),
                     base_iri=base_iri, **overrides)
    app.config["TESTING"] = True
    return app


class Element:
    def __init__(self, tag: str, attrs: dict[str, str]) -> None:
        self.tag = tag
        self.attrs = attrs
        self.parts: list[str] = []

    @property
    def text(self) -> str:
        return "".join(self.parts)

    @property
    def classes(self) -> set[str]:
        return set(self.attrs.get("class", "").split())

    def __repr__(self) -> str:
        return f"<{self.tag} {self.attrs}>{self.text[:40]!r}"


_VOID_TAGS = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta",
              "source", "track", "wbr"}


class Page(HTMLParser):
    """Every element of an HTML page with its attributes and (unescaped) text."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[Element] = []
        self._open: list[Element] = []
        self.feed(html)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        element = Element(tag, {k: v or "" for k, v in attrs})
        self.elements.append(element)
        if tag not in _VOID_TAGS:
            self._open.append(element)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append(Element(tag, {k: v or "" for k, v in attrs}))

    def handle_endtag(self, tag: str) -> None:
        for i in range(len(self._open) - 1, -1, -1):
            if self._open[i].tag == tag:
                del self._open[i:]
                break

    def handle_data(self, data: str) -> None:
        for element in self._open:
            element.parts.append(data)

    def find_all(self, tag: str, **attrs: str) -> list[Element]:
        """Elements by tag; ``class_`` matches one class, other keywords exact attributes."""
        out = []
        for e in self.elements:
            if e.tag != tag:
                continue
            if "class_" in attrs and attrs["class_"] not in e.classes:
                continue
            if any(e.attrs.get(k.replace("_", "-")) != v for k, v in attrs.items()
                   if k != "class_"):
                continue
            out.append(e)
        return out

    def find(self, tag: str, **attrs: str) -> Element:
        found = self.find_all(tag, **attrs)
        assert found, f"no <{tag}> with {attrs}"
        return found[0]

    def links(self) -> list[str]:
        return [e.attrs["href"] for e in self.elements if "href" in e.attrs]


def _no_network(url: str, options: dict[str, Any] | None = None) -> Any:
    raise AssertionError(f"a JSON-LD document tried to load {url}")


def parse_jsonld(document: Any) -> Graph:
    """JSON-LD to an rdflib graph through pyld (rdflib's own parser warns), never online."""
    nquads = jsonld.to_rdf(document, {"format": "application/n-quads",
                                      "documentLoader": _no_network})
    return Graph().parse(data=nquads, format="nt")


def jsonld_blocks(html: str) -> list[str]:
    """The raw text of every <script type="application/ld+json"> block."""
    return re.findall(r'<script type="application/ld\+json">(.*?)</script>', html, re.S)
