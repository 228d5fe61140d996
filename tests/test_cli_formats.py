"""kg query: a format that cannot hold the result names the ones that can, and Turtle
declares only the prefixes it uses and writes prefixed names (rdflib reads it back)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import rdflib
from click.testing import CliRunner
from rdflib.compare import isomorphic

from kg.cli import main
from tests.sample_data import EXAMPLES

PAPERS = ("CONSTRUCT { ?s ?p ?o } WHERE { ?s a <https://schema.org/ScholarlyArticle> ; ?p ?o }")


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("cli") / "store"
    result = CliRunner().invoke(main, ["ingest", str(EXAMPLES), "--as-of", "2026-11-21",
                                       "--store", str(path), "--jobs", "1"])
    assert result.exit_code == 0, result.output
    return path


def run(store: Path, query: str, *options: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["query", query, "--store", str(store), *options])
    return result.exit_code, result.output


@pytest.mark.parametrize(("query", "fmt", "what", "valid"), [
    ("SELECT * { ?s ?p ?o } LIMIT 1", "turtle", "a SELECT", "json, xml, csv, tsv"),
    ("ASK { ?s ?p ?o }", "nquads", "an ASK", "json, xml, csv, tsv"),
    (PAPERS, "csv", "a CONSTRUCT or DESCRIBE",
     "turtle, ntriples, nquads, trig, rdfxml, jsonld"),
])
def test_a_wrong_format_lists_the_valid_ones(store: Path, query: str, fmt: str, what: str,
                                             valid: str) -> None:
    code, output = run(store, query, "--format", fmt)
    assert code == 2
    assert (f"Error: --format {fmt} cannot hold the result of {what} query; "
            f"valid formats: {valid}") in output


def test_turtle_declares_only_used_prefixes_and_writes_prefixed_names(store: Path) -> None:
    code, turtle = run(store, PAPERS)
    assert code == 0, turtle
    header = re.findall(r"^@prefix ([\w-]*): <([^>]*)> \.$", turtle, re.MULTILINE)
    body = "\n".join(line for line in turtle.splitlines() if not line.startswith("@prefix"))
    declared = dict(header)
    assert {"schema", "skg", "person", "paper"} <= set(declared)
    for name in declared:  # every declaration is used by a prefixed name
        assert re.search(rf"(?<![\w<\-.:]){re.escape(name)}:", body), name
    for unused in ("sd", "void", "dcat", "sh", "owl", "prov", "dcterms"):
        assert unused not in declared
    assert declared["person"] == "https://w3id.org/scholarkg/id/person/"
    assert re.search(r"^paper:[0-9a-f]{16} ", body, re.MULTILINE)
    assert "person:mei-tanaka" in body
    assert "\\/" not in body  # nested IRIs are written whole, not with escaped slashes
    # the same graph as N-Triples
    code, ntriples = run(store, PAPERS, "--format", "ntriples")
    assert code == 0
    assert isomorphic(rdflib.Graph().parse(data=turtle, format="turtle"),
                      rdflib.Graph().parse(data=ntriples, format="nt"))


def test_a_base_iri_names_the_entity_prefixes(store: Path) -> None:
    code, turtle = run(store, PAPERS, "--base-iri", "https://example.org/other/")
    assert code == 0
    assert "@prefix person:" not in turtle  # the store's IRIs are not under that base
    assert "<https://w3id.org/scholarkg/id/person/mei-tanaka>" in turtle
