"""The mapper writes every literal in the form the engine keeps.

Oxigraph stores numbers, booleans and dates by value and language tags in lower case:
``"042"^^xsd:integer`` comes back as ``"42"``, ``"1"^^xsd:boolean`` as ``"true"``,
``@en-GB`` as ``@en-gb`` (docs/server.md, "Literals"). So a profile's values would be
rewritten on the way into the store if the mapper wrote them in another form. Each
literal of the mapped bundled profiles (and of the shared seeds, when present) is
stored and read back; none may change.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pyoxigraph as ox
import pytest

from kg.mapping.iris import IriMinter
from kg.mapping.mapper import map_document
from kg.parse.detect import read_documents
from kg.parse.records import SourceDocument
from tests.sample_data import EXAMPLES

AS_OF = dt.date(2026, 11, 21)
AT = dt.datetime(2026, 11, 21, tzinfo=dt.UTC)


def mapped_literals(folder: Path) -> list[str]:
    """Every literal term (N-Triples syntax) the mapper writes for the folder's profiles."""
    literals: list[str] = []
    for path in sorted(folder.glob("*")):
        for doc in read_documents(path, as_of=AS_OF):
            if not isinstance(doc, SourceDocument):
                continue
            m = map_document(doc, IriMinter("https://w3id.org/scholarkg/id/"), ingested_at=AT)
            triples = [*m.statements, *m.observations, *m.description]
            literals += [o for _, _, o in triples if o.startswith('"')]
            literals += [o for o in m.metrics.values() if o.startswith('"')]
    return literals


def changed_by_the_engine(literals: list[str]) -> list[tuple[str, str]]:
    """(written, read back) for each literal the engine keeps in another form."""
    store = ox.Store()
    data = "".join(f"<urn:literal:{i}> <urn:p> {lit} .\n" for i, lit in enumerate(literals))
    store.load(data.encode("utf-8"), ox.RdfFormat.N_TRIPLES)
    back = {q.subject.value: str(q.object) for q in store.quads_for_pattern(None, None, None)}
    return [(lit, back[f"urn:literal:{i}"]) for i, lit in enumerate(literals)
            if back[f"urn:literal:{i}"] != lit]


def test_the_engine_rewrites_non_canonical_literals() -> None:
    """The check can see a rewrite (the engine's behaviour the test guards against)."""
    written = ['"042"^^<http://www.w3.org/2001/XMLSchema#integer>', '"colour"@en-GB',
               '"61"^^<http://www.w3.org/2001/XMLSchema#integer>']
    assert [w for w, _ in changed_by_the_engine(written)] == written[:2]


def test_the_bundled_profiles_literals_are_kept_as_written() -> None:
    literals = mapped_literals(EXAMPLES)
    assert any("XMLSchema#integer" in lit for lit in literals)  # metrics are among them
    assert any("XMLSchema#date" in lit for lit in literals)
    assert changed_by_the_engine(literals) == []


def test_the_seeds_literals_are_kept_as_written(seeds_dir: Path) -> None:
    literals = mapped_literals(seeds_dir)
    assert len(literals) > 100
    assert changed_by_the_engine(literals) == []


@pytest.mark.parametrize("value", ["88.50", "007", "+1.5"])
def test_a_non_canonical_number_would_be_caught(value: str) -> None:
    written = f'"{value}"^^<http://www.w3.org/2001/XMLSchema#decimal>'
    assert changed_by_the_engine([written])
