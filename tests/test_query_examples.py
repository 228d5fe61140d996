"""Every example query users are shown, run on the bundled sample.

The query page's examples, the README's example query and the dataset page must give
each sample researcher their real number of papers: the papers their own profile lists
plus those whose byline names them (computed here from the parsed documents, not from
the graph). Each query-page example has its expected row count on the sample, and no
example returns a row twice unless the table below says why.
"""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

import pytest
from flask.testing import FlaskClient

from kg.mapping.names import person_key, title_key
from kg.parse.detect import iter_input_files, read_documents
from kg.parse.records import SourceDocument
from kg.storage.store import KnowledgeStore
from tests.sample_data import AS_OF, BASE, EXAMPLES
from tests.server_app import make_app

ROOT = Path(__file__).resolve().parents[1]

#: query-page example title -> (rows on the bundled sample, why a row may repeat or None)
EXPECTED: dict[str, tuple[int, str | None]] = {
    "Persons with their h-index": (4, None),
    "A person's papers and co-authors": (4, None),
    "Papers by year": (4, None),
    "Top authors by paper count": (4, None),
    "Metric history of a person": (5, None),
    "Papers with code": (3, None),
    "Named graphs and their provenance": (5, None),
    "Describe a person (CONSTRUCT)": (14, None),
}


def _real_paper_counts() -> dict[str, int]:
    """Name -> papers of each sample researcher, from the parsed documents alone."""
    docs = [d for f in iter_input_files([EXAMPLES]) for d in read_documents(f, as_of=AS_OF)
            if isinstance(d, SourceDocument)]
    papers: dict[str, set[str]] = {d.profile.name: set() for d in docs}
    keys = {person_key(name): name for name in papers}
    for d in docs:
        for paper in d.profile.papers:
            papers[d.profile.name].add(title_key(paper.title))
            for author in paper.authors:
                if person_key(author) in keys:
                    papers[keys[person_key(author)]].add(title_key(paper.title))
    return {name: len(found) for name, found in papers.items()}


REAL = _real_paper_counts()


def test_the_real_counts_are_the_sample_researchers() -> None:
    assert len(REAL) == 4 and REAL["Mei Tanaka"] == 4


@pytest.fixture
def client(tmp_path: Path, sample_store: KnowledgeStore) -> FlaskClient:
    return make_app(tmp_path / "exports", store=sample_store).test_client()


def _page(client: FlaskClient, path: str) -> str:
    r = client.get(path, headers={"Accept": "text/html"})
    assert r.status_code == 200
    return r.get_data(as_text=True)


def _shown_examples(client: FlaskClient) -> dict[str, str]:
    text = _page(client, "/")
    block = re.search(r'<script type="application/json" id="kg-examples">(.*?)</script>',
                      text, re.S)
    assert block is not None
    return {e["title"]: e["query"] for e in json.loads(block.group(1))}


def test_every_example_is_in_the_table(client: FlaskClient) -> None:
    assert set(_shown_examples(client)) == set(EXPECTED)


@pytest.mark.parametrize("title", sorted(EXPECTED))
def test_example_on_the_sample(client: FlaskClient, sample_store: KnowledgeStore,
                               title: str) -> None:
    rows, why = EXPECTED[title]
    result = sample_store.query(_shown_examples(client)[title])
    if result.kind == "select":
        answer = [tuple(sorted(r.items())) for r in result.term_rows()]
    else:
        answer = list(result.triples())
    assert len(answer) == rows
    if why is None:
        assert len(set(answer)) == len(answer), f"{title} repeats rows"


def test_top_authors_example_counts_each_papers_once(client: FlaskClient,
                                                     sample_store: KnowledgeStore) -> None:
    query = _shown_examples(client)["Top authors by paper count"]
    got = {r["name"][1]: int(r["papers"][1]) for r in sample_store.query(query).rows()}
    assert got == REAL and got["Mei Tanaka"] == 4


def test_readme_example_counts_each_persons_papers(sample_store: KnowledgeStore) -> None:
    readme = (ROOT / "README.md").read_text("utf-8")
    section = readme.split("## The data model", 1)[1].split("\n## ", 1)[0]
    [query] = re.findall(r"```sparql\n(.*?)```", section, re.S)
    got = {r["name"][1]: int(r["papers"][1]) for r in sample_store.query(query).rows()}
    assert got == REAL and got["Mei Tanaka"] == 4


def test_dataset_page_shows_each_persons_papers(client: FlaskClient) -> None:
    text = _page(client, "/dataset")
    rows = re.findall(r'<tr><td><a href="[^"]*">([^<]*)</a></td><td class="num">[^<]*</td>'
                      r'<td class="num">(\d+)</td></tr>', text)
    assert {html.unescape(name): int(n) for name, n in rows} == REAL


def test_person_page_tells_the_stated_count_from_the_papers_here(client: FlaskClient) -> None:
    text = _page(client, "/id/person/mei-tanaka")
    assert re.search(r'Papers in this graph <span class="count">4</span>', text)
    card = re.search(r'data-metric="paperCount"><dt>([^<]*)</dt><dd>(\d+)</dd>', text)
    assert card is not None and card.group(1) == "Papers listed on the profile (stated)"
    assert BASE  # the sample's IRIs live under the default base
