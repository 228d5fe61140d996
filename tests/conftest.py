"""Shared fixtures: the shared reference folder and built stores."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from kg.storage.store import KnowledgeStore
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


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """The W3C evaluation suite's counts, when it ran (tests/test_w3c_evaluation.py)."""
    module = sys.modules.get("tests.w3c_evaluation")
    tally = getattr(module, "TALLY", None)
    if tally is not None and tally.run:
        terminalreporter.write_sep("-", "W3C SPARQL 1.1 evaluation")
        terminalreporter.write_line(tally.summary())
