"""The five reference seeds, end to end: parse, map, store, query."""

from __future__ import annotations

from pathlib import Path

import pytest

from kg.storage.store import KnowledgeStore
from tests.sample_data import build_store

PREFIX = """PREFIX schema: <https://schema.org/> PREFIX foaf: <http://xmlns.com/foaf/0.1/>
PREFIX skg: <https://w3id.org/scholarkg/ns#> PREFIX xsd: <http://www.w3.org/2001/XMLSchema#> """


@pytest.fixture(scope="module")
def seed_store(seeds_dir: Path) -> KnowledgeStore:
    return build_store([seeds_dir])


def scalar(store: KnowledgeStore, query: str) -> str:
    rows = list(store.query(PREFIX + query).rows())
    assert len(rows) == 1, rows
    (value,) = rows[0].values()
    return value[1]


def test_five_persons_and_46_papers(seed_store: KnowledgeStore) -> None:
    assert scalar(seed_store, "SELECT (COUNT(DISTINCT ?p) AS ?n) { ?p a schema:Person }") == "5"
    assert scalar(seed_store, "SELECT (COUNT(DISTINCT ?p) AS ?n) { ?p a schema:ScholarlyArticle }") == "46"


@pytest.mark.parametrize("name,papers", [
    ("Zhicheng Zhu", 3), ("Yuzhen Huang", 15), ("Zhaoxin Huan", 11), ("Zishi Zhang", 7),
    ("Zheng Zhang", 10),
])
def test_the_owner_is_an_author_of_every_paper(seed_store, name, papers) -> None:
    q = f'SELECT (COUNT(DISTINCT ?x) AS ?n) {{ ?p schema:name "{name}" . ?x schema:author ?p ; foaf:maker ?p . ?p foaf:made ?x }}'
    assert scalar(seed_store, q) == str(papers)


def test_current_metrics_are_typed_values(seed_store) -> None:
    q = """SELECT ?h ?c ?n ?a ?pc { ?p schema:name "Yuzhen Huang" ; skg:hIndex ?h ;
           skg:citationCount ?c ; skg:noveltyScore ?n ; skg:aiScore ?a ; skg:paperCount ?pc }"""
    (row,) = list(seed_store.query(PREFIX + q).rows())
    assert row["h"][1:3] == ("20", "http://www.w3.org/2001/XMLSchema#integer")
    assert row["c"][1] == "1679" and row["pc"][1] == "15"
    assert row["n"][1:3] == ("54", "http://www.w3.org/2001/XMLSchema#decimal")
    assert row["a"][1] == "62"


def test_byline_spelling_of_the_owner_resolves_and_is_kept(seed_store) -> None:
    q = """SELECT (COUNT(*) AS ?n) { ?a skg:nameAsStated "ZhaoXin Huan" ; skg:person ?p .
           ?p schema:name "Zhaoxin Huan" ; schema:alternateName "ZhaoXin Huan" }"""
    assert scalar(seed_store, q) == "1"


def test_layout_b_name_is_displayed_first_last(seed_store) -> None:
    q = """SELECT ?alt { ?p schema:name "Zheng Zhang" ; foaf:name "Zheng Zhang" ;
           schema:alternateName ?alt }"""
    assert scalar(seed_store, q) == "Zhang, Zheng"
    q = """SELECT (COUNT(DISTINCT ?x) AS ?n) { ?x schema:isPartOf ?f .
           ?f schema:name "arXiv.org Artificial Intelligence" }"""
    assert scalar(seed_store, q) == "10"


def test_dates_codes_and_bylines(seed_store) -> None:
    def date(title_start: str) -> str:
        return scalar(seed_store, f"""SELECT ?d {{ ?x schema:name ?t ; schema:datePublished ?d
                      FILTER(STRSTARTS(?t, "{title_start}")) }}""")
    assert date("Aromatic and clumped") == "2026-03-13"
    assert date("Scaling Reinforcement Learning for Content") == "2025-12-23"
    assert date("LoopFM") == "2026-05-28"
    code = """SELECT (COUNT(DISTINCT ?x) AS ?n) { ?p schema:name "Yuzhen Huang" .
              ?x schema:author ?p ; skg:codeAvailable true }"""
    assert scalar(seed_store, code) == "7"
    assert scalar(seed_store, """SELECT ?s { ?x skg:paperScore ?s }""") == "92.3"
    complete = """SELECT ?c { ?x schema:name ?t ; skg:bylineComplete ?c
                  FILTER(STRSTARTS(?t, "Aromatic")) }"""
    assert scalar(seed_store, complete) == "true"
    orgs = """SELECT (GROUP_CONCAT(?n; separator=",") AS ?all) {
              SELECT ?n { ?o a schema:Organization ; schema:name ?n } ORDER BY ?n }"""
    assert scalar(seed_store, orgs) == "baidu,cmu,pku,tencent-ai"


def test_et_al_is_never_an_author(seed_store) -> None:
    q = """SELECT (COUNT(*) AS ?n) { ?a skg:nameAsStated ?s FILTER(CONTAINS(?s, "et al")) }"""
    assert scalar(seed_store, q) == "0"


def test_categories_map_to_arxiv_where_unambiguous(seed_store) -> None:
    q = """SELECT ?code ?arxiv { ?c schema:termCode ?code OPTIONAL { ?c skg:arxivCategory ?arxiv } }"""
    got = {r["code"][1]: r.get("arxiv", (None, None))[1] for r in seed_store.query(PREFIX + q).rows()}
    assert got["LG"] == "cs.LG" and got["ME"] == "stat.ME" and got["CL"] == "cs.CL"
    assert got["CO"] is None and got["CV"] is None


def test_repository_urls_lose_sentence_punctuation(seed_store) -> None:
    q = "SELECT ?r { ?x schema:codeRepository ?r } ORDER BY ?r"
    repos = [r["r"][1] for r in seed_store.query(PREFIX + q).rows()]
    assert "https://github.com/hkust-nlp/Laser" in repos
    assert "https://github.com/daochenzha/neuroshard" in repos
    assert all(not r.endswith(".") for r in repos)
