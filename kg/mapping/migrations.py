"""Stores built under an earlier data model: how to tell, and the update that migrates them.

Until 2026-12-07 an authorship named its resolved person with ``schema:author``, so
``?x schema:author ?p`` matched authorships as well as papers. Now it is ``skg:person``
(``docs/decisions/0007-single-values.md``). A store holding both models would answer
queries of either kind wrongly, so ``kg validate`` reports an old store and ``kg ingest``
refuses to add to one; :data:`MIGRATE_AUTHORSHIPS` migrates it in place (re-ingesting
the documents into a new store gives the same result).

>>> from kg.storage.store import KnowledgeStore
>>> store = KnowledgeStore.open(None)
>>> store.update('''INSERT DATA { <https://ex.org/a> a <https://w3id.org/scholarkg/ns#Authorship> ;
...     <https://schema.org/author> <https://ex.org/p> }''')
>>> old_model_authorships(store)
1
>>> store.update(MIGRATE_AUTHORSHIPS)
>>> old_model_authorships(store)
0
"""

from __future__ import annotations

from kg.errors import KgError
from kg.storage.store import KnowledgeStore

#: the SPARQL update that moves every authorship's person from schema:author to
#: skg:person, in every graph (an authorship is typed in some graph, not in all)
MIGRATE_AUTHORSHIPS = """\
PREFIX schema: <https://schema.org/>
PREFIX skg: <https://w3id.org/scholarkg/ns#>
DELETE { GRAPH ?g { ?a schema:author ?p } }
INSERT { GRAPH ?g { ?a skg:person ?p } }
WHERE {
  GRAPH ?g { ?a schema:author ?p }
  FILTER EXISTS { { ?a a skg:Authorship } UNION { GRAPH ?t { ?a a skg:Authorship } } }
} ;
DELETE { ?a schema:author ?p }
INSERT { ?a skg:person ?p }
WHERE { ?a a skg:Authorship ; schema:author ?p }
"""

OLD_MODEL_MESSAGE = (
    "this store was built before 2026-12-07: {count} authorships name their person with "
    "schema:author, which now links papers only (skg:person on authorships). Re-ingest the "
    "documents into a new store, or migrate this one with the SPARQL update in "
    "docs/operations.md (\"Stores built before 2026-12-07\")")


class OldModelStore(KgError):
    """The store uses the authorship model from before 2026-12-07."""


def old_model_authorships(store: KnowledgeStore) -> int:
    """How many authorship statements (in any graph) still use ``schema:author``."""
    rows = list(store.query("""
        PREFIX schema: <https://schema.org/>
        PREFIX skg: <https://w3id.org/scholarkg/ns#>
        SELECT (COUNT(*) AS ?n) WHERE {
          { ?a schema:author ?p } UNION { GRAPH ?g { ?a schema:author ?p } }
          FILTER EXISTS { { ?a a skg:Authorship } UNION { GRAPH ?t { ?a a skg:Authorship } } }
        }""").rows())
    return int(rows[0]["n"][1])


def check_authorship_model(store: KnowledgeStore) -> None:
    """Raise :class:`OldModelStore` when the store's default graph has an authorship with
    ``schema:author`` (a store of the earlier model has one for every owner's byline)."""
    found = store.query("""
        PREFIX schema: <https://schema.org/>
        PREFIX skg: <https://w3id.org/scholarkg/ns#>
        ASK { ?a a skg:Authorship ; schema:author ?p }""").boolean
    if found:
        raise OldModelStore(OLD_MODEL_MESSAGE.format(count=old_model_authorships(store)))
