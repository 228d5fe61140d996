"""Exports: round trips through rdflib, pyoxigraph and pyld; determinism; SHACL."""

from __future__ import annotations

import gzip
import hashlib
import json
from pathlib import Path

import pyoxigraph as ox
import pytest
from pyld import jsonld
from rdflib import Dataset, Graph
from rdflib.compare import isomorphic

from kg.output.export import export_store
from kg.storage.store import KnowledgeStore
from kg.validate import validate_graph
from tests.sample_data import BASE, EXAMPLES, build_store

TRICKY_TITLE = 'Scaling Laws for $\\ell_1$-Regularised Policies: A Note on $O(\\sqrt{n})$ Regret'


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory, sample_store: KnowledgeStore):
    out = tmp_path_factory.mktemp("exports")
    result = export_store(sample_store, out, base_iri=BASE)
    return result, out


def _default_graph(store: KnowledgeStore) -> Graph:
    return Graph().parse(data=store.dump_graph(None, "ntriples"), format="nt")


def _file(out: Path, ext: str) -> bytes:
    (path,) = out.glob(f"scholarkg-*.{ext}.gz")
    return gzip.decompress(path.read_bytes())


@pytest.mark.parametrize("ext,fmt", [("ttl", "turtle"), ("nt", "nt")])
def test_default_graph_dumps_parse_back_isomorphic_with_rdflib(exported, sample_store, ext, fmt):
    _, out = exported
    g = Graph().parse(data=_file(out, ext), format=fmt)
    assert len(g) == sample_store.count_quads(None)
    assert isomorphic(g, _default_graph(sample_store))


@pytest.mark.parametrize("ext", ["ttl", "nt", "nq"])
def test_dumps_parse_back_identically_with_pyoxigraph(exported, sample_store, ext):
    _, out = exported
    fmt = {"ttl": ox.RdfFormat.TURTLE, "nt": ox.RdfFormat.N_TRIPLES, "nq": ox.RdfFormat.N_QUADS}[ext]
    parsed = set(ox.parse(_file(out, ext), fmt))
    if ext == "nq":
        expected = set(sample_store.raw.quads_for_pattern(None, None, None, None))
    else:
        expected = {q.triple for q in sample_store.raw.quads_for_pattern(None, None, None, ox.DefaultGraph())}
        parsed = {q.triple for q in parsed}
    assert parsed == expected


# rdflib's own N-Quads parser calls its deprecated Dataset.default_context internally
@pytest.mark.filterwarnings("ignore:Dataset.default_context is deprecated:DeprecationWarning")
def test_nquads_dump_holds_every_graph(exported, sample_store):
    _, out = exported
    ds = Dataset(default_union=False)
    ds.parse(data=_file(out, "nq"), format="nquads")
    quads = set(ds.quads((None, None, None, None)))
    names = {str(q[3]) for q in quads}
    assert set(sample_store.named_graphs()) <= names
    assert len(quads) == sample_store.count_quads(all_graphs=True)


def test_jsonld_dump_expands_to_the_same_graph(exported, sample_store):
    _, out = exported
    doc = json.loads(_file(out, "jsonld"))
    assert doc["@context"]["schema"] == "https://schema.org/"
    # pyld's own dataset (its N-Quads reader mangles backslash escapes; its writer is right)
    nquads = jsonld.to_rdf(doc, {"format": "application/n-quads"})
    g = Graph().parse(data=nquads, format="nt")
    assert isomorphic(g, _default_graph(sample_store))
    titles = {n.get("name") for n in doc["@graph"] if n.get("@type") == "ScholarlyArticle"}
    assert TRICKY_TITLE in titles


def test_literals_survive_byte_for_byte(exported):
    _, out = exported
    nt = _file(out, "nt").decode("utf-8")
    g = Graph().parse(data=nt, format="nt")
    names = {str(o) for o in g.objects(None, None)}
    assert TRICKY_TITLE in names
    assert 'Calibrated Uncertainty for Gradient-Boosted Trees via Conformal "Residual" Bands' in names
    assert "Über-Tokenisation: Byte-Level Models & Their Discontents" in names
    assert "Sequential Tests That Stop Early <and> Stay Valid: A Practitioner's Guide" in names
    assert any('annotators disagreed on the backslash-like stroke "\\"' in n or 'stroke "\\"' in n
               for n in names)


def test_export_is_deterministic_across_stores_and_ingest_orders(tmp_path):
    files = sorted(EXAMPLES.glob("*.txt"))
    a = build_store(files)
    b = build_store(list(reversed(files)))
    ra = export_store(a, tmp_path / "a", base_iri=BASE)
    rb = export_store(b, tmp_path / "b", base_iri=BASE)
    assert [d.sha256 for d in ra.dumps] == [d.sha256 for d in rb.dumps]
    assert (tmp_path / "a" / "SHA256SUMS").read_bytes() == (tmp_path / "b" / "SHA256SUMS").read_bytes()


def test_checksums_and_void_describe_every_file(exported):
    result, out = exported
    sums = dict(line.split("  ")[::-1] for line in (out / "SHA256SUMS").read_text().splitlines())
    for name, digest in sums.items():
        assert hashlib.sha256((out / name).read_bytes()).hexdigest() == digest
    assert set(sums) == {d.name for d in result.dumps} | {"void.ttl"}
    void = Graph().parse(out / "void.ttl", format="turtle")
    q = """PREFIX dcat: <http://www.w3.org/ns/dcat#> PREFIX void: <http://rdfs.org/ns/void#>
           PREFIX spdx: <http://spdx.org/rdf/terms#> PREFIX dct: <http://purl.org/dc/terms/>
           SELECT ?url ?size ?sum ?triples ?lic WHERE { ?ds dcat:distribution ?d .
           ?d dcat:downloadURL ?url ; dcat:byteSize ?size ; void:triples ?triples ;
              dct:license ?lic ; spdx:checksum [ spdx:checksumValue ?sum ] }"""
    rows = {str(r.url).rsplit("/", 1)[-1]: r for r in void.query(q)}
    assert set(rows) == {d.name for d in result.dumps}
    for d in result.dumps:
        row = rows[d.name]
        assert int(row.size) == (out / d.name).stat().st_size
        assert str(row.sum) == sums[d.name]
        assert int(row.triples) == d.triples
        assert str(row.lic) == "https://creativecommons.org/licenses/by/4.0/"


def test_export_passes_the_shacl_shapes(exported):
    _, out = exported
    g = Graph().parse(data=_file(out, "ttl"), format="turtle")
    report = validate_graph(g)
    assert report.conforms, report.text


def test_shapes_catch_a_broken_export(exported):
    _, out = exported
    g = Graph().parse(data=_file(out, "ttl"), format="turtle")
    from rdflib import Literal, URIRef

    person = next(g.subjects(URIRef("https://schema.org/name"), Literal("Mei Tanaka")))
    g.add((person, URIRef("https://w3id.org/scholarkg/ns#hIndex"), Literal("many")))
    assert not validate_graph(g).conforms


def test_void_class_partitions_keep_schema_and_foaf_apart(exported):
    _, out = exported
    void = Graph().parse(out / "void.ttl", format="turtle")
    q = """PREFIX void: <http://rdfs.org/ns/void#>
           SELECT ?part ?cls ?n WHERE { ?ds void:classPartition ?part . ?part void:class ?cls ; void:entities ?n }"""
    rows = list(void.query(q))
    parts = {str(r.part) for r in rows}
    assert len(parts) == len(rows)  # one partition per class, none merged
    by_class = {str(r.cls): int(r.n) for r in rows}
    assert by_class["https://schema.org/Person"] == by_class["http://xmlns.com/foaf/0.1/Person"] == 4


def test_a_small_sort_budget_gives_the_same_files(exported, sample_store, tmp_path):
    result, out = exported
    small = export_store(sample_store, tmp_path, base_iri=BASE, budget=8192)
    assert [d.sha256 for d in small.dumps] == [d.sha256 for d in result.dumps]
    assert (tmp_path / "SHA256SUMS").read_bytes() == (out / "SHA256SUMS").read_bytes()
