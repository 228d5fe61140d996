"""exports/ holds exactly what `kg export` produces from the bundled sample."""

from __future__ import annotations

from pathlib import Path

from kg.output.export import export_store
from kg.storage.store import KnowledgeStore
from tests.sample_data import BASE, ROOT


def test_bundled_exports_are_current(sample_store: KnowledgeStore, tmp_path: Path) -> None:
    export_store(sample_store, tmp_path, base_iri=BASE)
    committed = (ROOT / "exports" / "SHA256SUMS").read_text(encoding="utf-8")
    assert (tmp_path / "SHA256SUMS").read_text(encoding="utf-8") == committed, (
        "exports/ is stale: rebuild it with scripts/build-exports.sh")
    for line in committed.splitlines():
        _digest, name = line.split("  ")
        assert (ROOT / "exports" / name).read_bytes() == (tmp_path / name).read_bytes()
