"""Shared fixtures: the shared reference folder and built stores."""

from __future__ import annotations

from pathlib import Path

import pytest

from kg.store import KnowledgeStore
from tests.sample_data import EXAMPLES, build_store, shared_dir


@pytest.fixture(scope="session")
def seeds_dir() -> Path:
    shared = shared_dir()
    if shared is None or not (shared / "seeds").is_dir():
        pytest.skip("the shared seeds folder (../shared/seeds) is not present on this machine")
    return shared / "seeds"


@pytest.fixture(scope="session")
def sample_store() -> KnowledgeStore:
    """The bundled sample profiles, ingested into an in-memory store."""
    return build_store([EXAMPLES])
