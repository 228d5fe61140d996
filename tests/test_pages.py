"""The HTML pages: person, paper, other entities, dataset and the query page.

Checks what a reader sees (names, metrics, charts, papers, co-authors, provenance),
that data is always escaped, that links stay on this server, and that the dataset
page's numbers are the SPARQL counts.
"""

from __future__ import annotations

import gzip
import json
import re
from pathlib import Path
from urllib.parse import urlencode

import pytest
from flask.testing import FlaskClient
from pyshacl import validate
from rdflib import Graph

from kg.storage.store import KnowledgeStore
from server.pages.query_page import EXAMPLES
from tests.server_app import (
    ARXIV_PAPER,
    BASE,
    SCRIPT_PAPER,
    SCRIPT_TITLE,
    SHARED_PAPER,
    YUZHEN,
    ZHICHENG,
    Page,
    jsonld_blocks,
    load_store,
    make_app,
)

ROOT = Path(__file__).resolve().parent.parent
TEMPLATES = ROOT / "server" / "templates"
HTML = {"Accept": "text/html"}


@pytest.fixture
def store() -> KnowledgeStore:
    return load_store()


@pytest.fixture
def client(tmp_path: Path, store: KnowledgeStore) -> FlaskClient:
    return make_app(tmp_path / "exports", store=store).test_client()


def page(client: FlaskClient, path: str) -> tuple[str, Page]:
    r = client.get(path, headers=HTML)
    assert r.status_code == 200, r.data
    assert r.mimetype == "text/html"
    text = r.get_data(as_text=True)
    return text, Page(text)


def count(store: KnowledgeStore, sparql: str) -> int:
    [row] = list(store.query(sparql).rows())
    return int(row["n"][1])


def test_the_test_graph_follows_the_data_model_shapes(store: KnowledgeStore) -> None:
    graph = Graph().parse(data=store.dump_graph(None, "ntriples"), format="nt")
    conforms, _, report = validate(graph, shacl_graph=Graph().parse(ROOT / "ontology/shapes.ttl"))
    assert conforms, report


# the person page --------------------------------------------------------------------

def test_person_page_shows_the_profile(client: FlaskClient) -> None:
    html, doc = page(client, f"/id/{YUZHEN}")
    assert doc.find("h1").text == "Yuzhen Huang"
    assert {e.text for e in doc.find_all("span", class_="alt-name")} == {
        "Huang, Yuzhen", "YuZhen Huang"}
    assert any(e.text == "LG" and e.attrs["href"] == "/id/category/LG"
               for e in doc.find_all("a", class_="chip"))
    metrics = {e.attrs["data-metric"]: e.text for e in doc.find_all("div", class_="card")}
    assert "9" in metrics["hIndex"] and "1679" in metrics["citationCount"]
    assert "42%" in metrics["noveltyScore"] and "41" in metrics["aiScore"]
    assert "https://orcid.org/0000-0002-1825-0097" in doc.links()


def test_person_page_charts_every_metric_with_its_points(client: FlaskClient) -> None:
    _, doc = page(client, f"/id/{YUZHEN}")
    charts = doc.find_all("svg", class_="line-chart")
    assert len(charts) == 4  # h-index, papers, citations, novelty: the AI score has one value
    points = [e for e in doc.elements if e.tag == "circle" and "point" in e.classes]
    by_metric: dict[str, list[tuple[str, str]]] = {}
    metric = None
    for e in doc.elements:
        if e.tag == "figure" and "chart" in e.classes:
            metric = e.attrs["data-metric"]
        if e.tag == "circle" and "point" in e.classes:
            assert metric is not None
            by_metric.setdefault(metric, []).append((e.attrs["data-date"], e.attrs["data-value"]))
    assert len(points) == 8
    assert by_metric["hIndex"] == [("2026-10-01", "7"), ("2026-11-21", "9")]
    assert by_metric["citationCount"] == [("2026-10-01", "1490"), ("2026-11-21", "1679")]
    # one observation is no chart: a value with its date
    assert "aiScore" not in by_metric
    single = doc.find("dl", class_="observed-once")
    assert single is not None and "AI score" in single.text
    assert "41" in single.text and "as of 2026-11-21" in single.text
    assert [c.attrs["data-points"] for c in charts] == ["2", "2", "2", "2"]
    assert len(doc.find_all("polyline", class_="line")) == 4


def test_integer_metrics_get_whole_number_ticks(client: FlaskClient) -> None:
    _, doc = page(client, f"/id/{YUZHEN}")
    ticks: dict[str, list[str]] = {}
    metric = None
    for e in doc.elements:
        if e.tag == "figure" and "chart" in e.classes:
            metric = e.attrs["data-metric"]
        if e.tag == "text" and "tick" in e.classes and e.attrs.get("text-anchor") == "end" \
                and not re.fullmatch(r"\d{4}-\d\d-\d\d", e.text):
            assert metric is not None
            ticks.setdefault(metric, []).append(e.text)
    assert ticks["hIndex"] == ["0", "2", "4", "6", "8", "10"]
    for metric in ("hIndex", "paperCount", "citationCount"):
        assert all(re.fullmatch(r"[\d,]+", t) for t in ticks[metric]), ticks[metric]


def test_a_person_with_single_observations_has_no_charts(tmp_path: Path) -> None:
    # the bundled sample: one snapshot, so one observation of every metric
    store = KnowledgeStore.open(None)
    dump = sorted((Path(__file__).parent.parent / "exports").glob("scholarkg-*.nq.gz"))[-1]
    store.load_nquads(gzip.decompress(dump.read_bytes()).decode("utf-8"))
    client = make_app(tmp_path, store=store).test_client()
    html, doc = page(client, "/id/person/mei-tanaka")
    assert doc.find_all("svg", class_="line-chart") == []
    values = doc.find("dl", class_="observed-once")
    assert "H-index" in values.text and "as of 2026-11-21" in values.text
    assert "charts appear when a later snapshot adds a value" in html


def test_person_page_lists_papers_coauthors_and_provenance(client: FlaskClient) -> None:
    html, doc = page(client, f"/id/{YUZHEN}")
    titles = [(e.text, e.attrs["href"]) for e in doc.find_all("a", class_="paper-title")]
    assert len(titles) == 4
    assert titles[0] == ("Scaling Reinforcement Learning for Content Moderation with Large "
                         "Language Models", f"/id/{SHARED_PAPER}")
    assert (SCRIPT_TITLE, f"/id/{SCRIPT_PAPER}") in titles
    assert any(e.text.startswith("Hamed Firooz, Rui Liu, Yuchen Lu et al.")
               for e in doc.find_all("div", class_="byline"))
    assert "2025-12-23" in html and "truncated" in html
    assert [e.text for e in doc.find_all("span", class_="badge") if e.text == "code"] == ["code"]
    coauthors = doc.find("ul", class_="coauthors")
    assert "Zhicheng Zhu" in coauthors.text and "1 shared paper" in coauthors.text
    assert f'href="/id/{ZHICHENG}"' in html
    for name in ("yuzhen-2026-10-01.txt", "yuzhen-2026-11-21.txt", "collaborating-authors.txt"):
        assert name in html
    assert "superseded" in html and "2026-10-01" in html


def test_person_without_coauthor_profiles(client: FlaskClient) -> None:
    _, doc = page(client, f"/id/{ZHICHENG}")
    assert doc.find("h1").text == "Zhicheng Zhu"
    assert "Yuzhen Huang" in doc.find("ul", class_="coauthors").text
    assert len(doc.find_all("svg", class_="line-chart")) == 2


# the paper page ---------------------------------------------------------------------

def test_paper_title_is_exact_and_escaped_everywhere(client: FlaskClient) -> None:
    for path in (f"/id/{SCRIPT_PAPER}", f"/id/{YUZHEN}", "/id/category/LG",
                 f"/id/{SCRIPT_PAPER}/authorship/1-32631679"):
        html, doc = page(client, path)
        assert "<script>alert" not in html, path
        assert "&lt;script&gt;alert(" in html, path
        for block in jsonld_blocks(html):
            assert "<" not in block
    _, doc = page(client, f"/id/{SCRIPT_PAPER}")
    assert doc.find("h1").text == SCRIPT_TITLE
    assert doc.find("title").text.startswith(SCRIPT_TITLE)
    assert [e.text for e in doc.elements if e.tag == "script" and not e.attrs] == []


def test_paper_page_shows_byline_authorships_and_code(client: FlaskClient) -> None:
    html, doc = page(client, f"/id/{SCRIPT_PAPER}")
    assert doc.find("p", class_="byline-printed").text == "Yuzhen Huang, Wei Chen"
    assert "complete" in html
    cells = [e.text.strip() for e in doc.find_all("td")]
    assert cells[:2] == ["1", "Yuzhen Huang"] and cells[3:5] == ["2", "Wei Chen"]
    assert f'<a href="/id/{YUZHEN}">Yuzhen Huang</a>' in html
    assert "Wei Chen" in html and "no profile" in html
    assert "code available" in html
    assert "https://github.com/example/repo" in doc.links()
    assert "/id/organization/tencent-ai" in doc.links()
    assert "Jun 10, 2024" in html and "2024-06-10" in html
    abstract = doc.find("p", class_="abstract")
    assert abstract.text == ("We release code at https://github.com/example/repo. Results use "
                             "$O(n^{2})$ time & <b>no</b> tricks.")
    assert "<b>no</b>" not in html


def test_paper_page_with_truncated_byline_and_unresolved_author(client: FlaskClient) -> None:
    html, doc = page(client, f"/id/{SHARED_PAPER}")
    assert "truncated" in html
    table = doc.find("table", class_="authorships").text
    for name in ("Hamed Firooz", "Rui Liu", "Yuchen Lu"):
        assert name in table
    assert "no profile" in table
    assert {f"/id/{YUZHEN}", f"/id/{ZHICHENG}"} <= set(doc.links())
    assert "/id/organization/baidu" in doc.links()


def test_paper_page_without_date_names_its_source_feed(client: FlaskClient) -> None:
    html, doc = page(client, f"/id/{ARXIV_PAPER}")
    assert "arXiv.org Artificial Intelligence" in html
    assert "/id/source/arxiv-org-artificial-intelligence" in doc.links()
    assert "https://arxiv.org/abs/2503.14476" in doc.links()
    assert "collaborating-authors.txt" in html


# other entities -----------------------------------------------------------------------

def test_category_page_lists_what_links_to_it(client: FlaskClient) -> None:
    html, doc = page(client, "/id/category/LG")
    assert doc.find("h1").text == "LG"
    assert "cs.LG" in html
    assert f"/id/{SCRIPT_PAPER}" in doc.links() and f"/id/{YUZHEN}" in doc.links()


def test_document_page_counts_its_graph(client: FlaskClient) -> None:
    html, _ = page(client, "/id/document/"
                   "d0f631ca1ddba8db3bcfcb9e057cdc98d0379f1bee00e75a545147a27dadd982")
    assert "collaborating-authors.txt" in html
    assert re.search(r"named graph holds <strong>5</strong> statements", html)


def test_percent_encoded_iri_page(client: FlaskClient) -> None:
    html, doc = page(client, "/id/organization/mila%20quebec")
    assert doc.find("h1").text == "mila quebec"


# the dataset page -----------------------------------------------------------------------

def test_dataset_counts_equal_sparql_counts(client: FlaskClient, store: KnowledgeStore) -> None:
    _, doc = page(client, "/dataset")
    shown = {e.attrs["data-count"]: int(e.text) for e in doc.find_all("dd")
             if "data-count" in e.attrs}
    p = "PREFIX schema: <https://schema.org/> "
    assert shown == {
        "persons": count(store, p + "SELECT (COUNT(DISTINCT ?s) AS ?n) { ?s a schema:Person }"),
        "papers": count(store, p + "SELECT (COUNT(DISTINCT ?s) AS ?n) "
                                   "{ ?s a schema:ScholarlyArticle }"),
        "triples": count(store, "SELECT (COUNT(*) AS ?n) { ?s ?p ?o }"),
        "graphs": len(list(store.named_graphs())),
        "quads": store.count_quads(all_graphs=True) - store.count_quads(None),
    }
    assert shown["persons"] == 2 and shown["papers"] == 5 and shown["graphs"] == 5
    per_class = {e.attrs["data-class"]: int(e.text) for e in doc.find_all("td")
                 if "data-class" in e.attrs}
    for cls, n in per_class.items():
        assert n == count(store, f"SELECT (COUNT(DISTINCT ?s) AS ?n) {{ ?s a <{cls}> }}")
    assert per_class["https://schema.org/Observation"] == 13


def test_dataset_charts(client: FlaskClient) -> None:
    html, doc = page(client, "/dataset")
    bars = [(e.attrs["data-label"], e.attrs["data-count"]) for e in doc.find_all("g", class_="bar")]
    assert bars[:3] == [("2024", "1"), ("2025", "2"), ("2026", "1")]
    assert ("LG", "2") in bars and ("AI", "1") in bars and ("CO", "1") in bars
    assert "1 paper without a known date" in html
    assert "/id/category/LG" in doc.links()
    for link in ("/sparql", "/.well-known/void", "/dumps/"):
        assert link in doc.links()
    assert f"/id/{YUZHEN}" in doc.links()


def test_dataset_page_links_the_dumps(tmp_path: Path) -> None:
    exports = tmp_path / "exports"
    exports.mkdir()
    (exports / "scholarkg-2026-11-21.ttl.gz").write_bytes(b"\x1f\x8b not really")
    client = make_app(exports).test_client()
    _, doc = page(client, "/dataset")
    assert "/dumps/scholarkg-2026-11-21.ttl.gz" in doc.links()


# every page ----------------------------------------------------------------------------

PAGES = ["/", "/dataset", f"/id/{YUZHEN}", f"/id/{SCRIPT_PAPER}", "/id/category/AI", "/ns",
         "/dumps/", f"/id/{YUZHEN}/observation/hIndex/2026-10-01"]


@pytest.mark.parametrize("path", PAGES)
def test_pages_load_nothing_from_elsewhere(client: FlaskClient, path: str) -> None:
    html, doc = page(client, path)
    for e in doc.elements:
        for attr in ("src", "href"):
            if attr in e.attrs and e.tag in ("script", "link", "img", "iframe", "source"):
                assert e.attrs[attr].startswith("/"), (path, e)
    assert "@import" not in html and "url(http" not in html
    header = doc.find("header", class_="site")
    assert header and doc.find("footer", class_="site")
    nav = {e.attrs["href"] for e in doc.find_all("a") if e.attrs.get("href", "").startswith("/")}
    assert {"/", "/dataset", "/dumps/", "/sparql"} <= nav


@pytest.mark.parametrize("path", PAGES)
def test_pages_link_locally_not_to_the_base_iri(client: FlaskClient, path: str) -> None:
    _, doc = page(client, path)
    assert not [link for link in doc.links() if link.startswith(BASE)]


@pytest.mark.parametrize("path", PAGES)
def test_pages_have_etags_and_cors(client: FlaskClient, path: str) -> None:
    r = client.get(path, headers=HTML)
    assert r.headers["Access-Control-Allow-Origin"] == "*"
    etag = r.headers["ETag"]
    again = client.get(path, headers={**HTML, "If-None-Match": etag})
    assert again.status_code == 304


def test_templates_never_mark_data_safe() -> None:
    for template in TEMPLATES.glob("*.html"):
        text = template.read_text()
        assert "|safe" not in text.replace(" ", ""), template
        assert "autoescape false" not in text, template
        assert "Markup(" not in text, template


def test_unknown_page_is_404_in_the_error_shape(client: FlaskClient) -> None:
    r = client.get("/no/such/page", headers=HTML)
    assert r.status_code == 404 and r.mimetype == "text/html"
    assert "404" in r.get_data(as_text=True)


# the query page -----------------------------------------------------------------------

def test_query_page_prefills_and_escapes_the_query(client: FlaskClient) -> None:
    query = 'SELECT * WHERE { ?s ?p "</textarea><script>alert(1)</script>" }'
    html, doc = page(client, "/?" + urlencode({"query": query}))
    assert doc.find("textarea", id="query").text == query
    assert "<script>alert(1)" not in html


def test_query_page_offers_the_examples(client: FlaskClient) -> None:
    html, doc = page(client, "/")
    examples = json.loads(doc.find("script", id="kg-examples").text)
    titles = [e["title"] for e in examples]
    assert len(titles) == len(EXAMPLES) >= 7
    options = [e.text for e in doc.find_all("option") if e.attrs.get("value")]
    assert options == titles
    # the person examples name a person of this graph
    assert f"<{BASE}{YUZHEN}>" in examples[1]["query"]
    form = doc.find("form", id="query-form")
    assert form.attrs["data-endpoint"] == "/sparql"
    assert form.attrs["data-entity-path"] == "/id/"
    downloads = json.loads(doc.find("script", id="kg-downloads").text)
    assert [f["name"] for f in downloads["results"]] == ["json", "xml", "csv", "tsv"]
    assert {"turtle", "ntriples", "jsonld"} <= {f["name"] for f in downloads["graph"]}
    assert "/static/query.js" in [e.attrs.get("src") for e in doc.find_all("script")]


def test_query_page_carries_the_editor_and_its_vocabulary(client: FlaskClient) -> None:
    _, doc = page(client, "/")
    scripts = [e.attrs.get("src") for e in doc.find_all("script")]
    assert "/static/editor/editor.js" in scripts
    assert doc.find("form", id="query-form").attrs["data-run"] == ""
    terms = {t["iri"]: t["kind"] for t in json.loads(doc.find("script", id="kg-terms").text)}
    assert terms["https://schema.org/ScholarlyArticle"] == "class"
    assert terms["https://schema.org/observationAbout"] == "property"
    assert terms["https://w3id.org/scholarkg/ns#Authorship"] == "class"
    assert terms["https://w3id.org/scholarkg/ns#hIndex"] == "property"
    # the bundle is served from here, with the licences of what it holds
    bundle = client.get("/static/editor/editor.js")
    assert bundle.status_code == 200 and b"cm-editor" in bundle.data
    bundle.close()
    licences = (Path(__file__).parent.parent / "server" / "static" / "editor"
                / "THIRD_PARTY_LICENSES").read_text(encoding="utf-8")
    for package in ("@codemirror/view", "codemirror-lang-sparql", "@lezer/lr"):
        assert f"\n{package} " in licences, package
    # a ?query= link asks the page to run it
    _, doc = page(client, "/?query=ASK%20%7B%7D")
    assert doc.find("form", id="query-form").attrs["data-run"] == "yes"


def test_every_example_query_answers_on_the_test_graph(client: FlaskClient,
                                                       store: KnowledgeStore) -> None:
    _, doc = page(client, "/")
    for example in json.loads(doc.find("script", id="kg-examples").text):
        result = store.query(example["query"])
        found = list(result.rows()) if result.kind == "select" else list(result.triples())
        assert found, example["title"]


def test_the_paper_score_is_explained(client: FlaskClient) -> None:
    html, doc = page(client, f"/id/{SCRIPT_PAPER}")
    badge = doc.find("span", class_="score")
    assert badge.text == "score 92.3" and "source profile" in badge.attrs["title"]
    note = doc.find("p", class_="score-note")
    assert "prints beside this paper" in note.text and "does not compute" in note.text
    assert 'href="/ns#paperScore"' in html
    # a paper without a score says nothing about one
    other, _ = page(client, f"/id/{SHARED_PAPER}")
    assert "score-note" not in other
