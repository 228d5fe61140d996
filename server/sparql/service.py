"""How the web layer runs SPARQL: one small interface, two implementations.

- :class:`InProcessQueryService` runs queries in the calling thread on a
  :class:`~kg.storage.store.KnowledgeStore` (tests, development, small stores).
- ``ProcessPoolQueryService`` (server/sparql/executor.py) runs them in executor
  processes that are killed when a query overruns its time limit (production).

Routes call :func:`query_service` and never open a store themselves.

>>> from kg.storage.store import KnowledgeStore
>>> store = KnowledgeStore.open(None)
>>> store.update('INSERT DATA { <http://ex.org/a> <http://ex.org/p> "x" }')
>>> svc = InProcessQueryService(store)
>>> svc.select("SELECT ?o WHERE { ?s ?p ?o }")
[{'o': ('literal', 'x', 'http://www.w3.org/2001/XMLSchema#string', None)}]
>>> svc.ask("ASK { ?s ?p 'x' }")
True
"""

from __future__ import annotations

from typing import Protocol

from flask import Flask, current_app

from kg.storage.store import KnowledgeStore

#: a term as (type, value, datatype, language); type is "uri", "bnode", "literal" or "triple"
Term = tuple[str, str, str | None, str | None]
Row = dict[str, Term]


class QueryService(Protocol):
    def select(self, sparql: str, *, timeout: float | None = None) -> list[Row]:
        """All rows of a SELECT query (callers bound the size with LIMIT)."""
        ...

    def ask(self, sparql: str, *, timeout: float | None = None) -> bool: ...

    def construct(self, sparql: str, format_name: str, *, timeout: float | None = None) -> bytes:
        """A CONSTRUCT/DESCRIBE result serialised in a registered RDF format."""
        ...

    def close(self) -> None: ...


class InProcessQueryService:
    """Runs queries in the calling thread. No time limit can be enforced."""

    def __init__(self, store: KnowledgeStore) -> None:
        self.store = store

    def select(self, sparql: str, *, timeout: float | None = None) -> list[Row]:
        return list(self.store.query(sparql).rows())

    def ask(self, sparql: str, *, timeout: float | None = None) -> bool:
        return self.store.query(sparql).boolean

    def construct(self, sparql: str, format_name: str, *, timeout: float | None = None) -> bytes:
        return b"".join(self.store.query(sparql).serialize(format_name))

    def close(self) -> None:
        pass


def query_service(app: Flask | None = None) -> QueryService:
    """The app's query service (``app.extensions["kg_query_service"]``)."""
    app = app or current_app
    return app.extensions["kg_query_service"]  # type: ignore[no-any-return]
