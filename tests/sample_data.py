"""Test data locations and store builders shared by the test modules."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

from kg.ingest import Ingestor
from kg.mapping.iris import IriMinter
from kg.parse.detect import iter_input_files, read_documents
from kg.storage.store import KnowledgeStore

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples" / "profiles"
AS_OF = dt.date(2026, 11, 21)
BASE = "https://w3id.org/scholarkg/id/"
INGESTED_AT = dt.datetime(2026, 11, 21, 12, 0, tzinfo=dt.UTC)


def shared_dir() -> Path | None:
    """The shared reference folder (seeds, W3C cases), when present."""
    env = os.environ.get("SCHOLARKG_SHARED")
    candidates = [Path(env)] if env else []
    candidates.append(ROOT.parent / "shared")
    for c in candidates:
        if c.is_dir():
            return c
    return None


def build_store(paths: list[Path], store_path: Path | None = None) -> KnowledgeStore:
    store = KnowledgeStore.open(store_path)
    items = (d for f in iter_input_files(paths) for d in read_documents(f, as_of=AS_OF))
    report = Ingestor(store, IriMinter(BASE), ingested_at=INGESTED_AT).ingest(items)
    assert report.ok, report.rejected
    return store
