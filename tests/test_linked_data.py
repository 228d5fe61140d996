"""Entity IRIs dereference: negotiation, extensions, 404/406, every RDF form parses back.

Also the vocabulary at /ns and the JSON-LD context at /ns/context.jsonld.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from rdflib import Graph, Literal, URIRef
from rdflib.compare import isomorphic

from kg.mapping.vocab import PREFIXES
from tests.server_app import (
    ARXIV_PAPER,
    BASE,
    SCRIPT_PAPER,
    SCRIPT_TITLE,
    SHARED_PAPER,
    YUZHEN,
    ZHICHENG,
    jsonld_blocks,
    load_store,
    make_app,
    parse_jsonld,
)

ONTOLOGY_DIR = Path(__file__).resolve().parent.parent / "ontology"
SCHEMA = PREFIXES["schema"]
RDFLIB_FORMATS = {
    "text/turtle": "turtle",
    "application/ld+json": "json-ld",
    "application/n-triples": "nt",
    "application/rdf+xml": "xml",
}
BROWSER = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,*/*;q=0.8"


@pytest.fixture
def client(tmp_path: Path) -> FlaskClient:
    return make_app(tmp_path / "exports").test_client()


def own_triples(iri: str) -> Graph:
    """The entity's outgoing triples, straight from the store."""
    data = load_store().query(f"CONSTRUCT {{ <{iri}> ?p ?o }} WHERE {{ <{iri}> ?p ?o }}")
    return Graph().parse(data=b"".join(data.serialize("ntriples")), format="nt")


def parse(body: bytes, media_type: str) -> Graph:
    """RDF in any served format as an rdflib graph (JSON-LD read by pyld, offline)."""
    if media_type == "application/ld+json":
        return parse_jsonld(json.loads(body))
    return Graph().parse(data=body, format=RDFLIB_FORMATS[media_type])


# negotiation ------------------------------------------------------------------------

@pytest.mark.parametrize(("accept", "expected"), [
    ("text/turtle", "text/turtle"),
    ("application/ld+json", "application/ld+json"),
    ("application/n-triples", "application/n-triples"),
    ("application/rdf+xml", "application/rdf+xml"),
    ("text/html", "text/html"),
    (BROWSER, "text/html"),
    ("*/*", "text/turtle"),
    (None, "text/turtle"),
    ("application/*", "application/ld+json"),
    ("application/x-turtle", "text/turtle"),
    ("text/*;q=0.5, text/turtle;q=0.1", "text/html"),
    ("application/ld+json;q=0.5, text/turtle;q=0.4", "application/ld+json"),
    ("text/turtle;q=0, */*;q=0.1", "text/html"),
    ("application/rdf+xml;q=0.9, application/n-triples", "application/n-triples"),
    ("image/png, text/turtle;q=0.2", "text/turtle"),
])
def test_accept_header_picks_the_representation(client: FlaskClient, accept: str | None,
                                                 expected: str) -> None:
    headers = {"Accept": accept} if accept is not None else {}
    r = client.get(f"/id/{YUZHEN}", headers=headers)
    assert r.status_code == 200
    assert r.mimetype == expected
    assert "Accept" in r.headers["Vary"]
    extension = {"text/turtle": "ttl", "application/ld+json": "jsonld", "text/html": "html",
                 "application/n-triples": "nt", "application/rdf+xml": "rdf"}[expected]
    assert r.headers["Content-Location"] == f"/id/{YUZHEN}.{extension}"


def test_every_answer_links_every_representation(client: FlaskClient) -> None:
    r = client.get(f"/id/{YUZHEN}", headers={"Accept": "text/turtle"})
    link = r.headers["Link"]
    assert f'</id/{YUZHEN}>; rel="canonical"' in link
    for ext, media_type in (("ttl", "text/turtle"), ("html", "text/html"),
                            ("jsonld", "application/ld+json"), ("nt", "application/n-triples"),
                            ("rdf", "application/rdf+xml")):
        assert f'</id/{YUZHEN}.{ext}>; rel="alternate"; type="{media_type}"' in link


@pytest.mark.parametrize(("extension", "media_type"), [
    ("ttl", "text/turtle"), ("jsonld", "application/ld+json"), ("nt", "application/n-triples"),
    ("rdf", "application/rdf+xml"), ("html", "text/html"),
])
def test_extension_picks_the_representation_whatever_accept_says(
        client: FlaskClient, extension: str, media_type: str) -> None:
    r = client.get(f"/id/{YUZHEN}.{extension}", headers={"Accept": "image/png"})
    assert r.status_code == 200
    assert r.mimetype == media_type
    assert "Content-Location" not in r.headers
    assert "accept" not in r.vary  # the extension decides (Accept-Encoding may vary)


def test_iri_with_a_dot_resolves_and_takes_extensions(client: FlaskClient) -> None:
    r = client.get(f"/id/{ARXIV_PAPER}", headers={"Accept": "text/turtle"})
    assert r.status_code == 200
    assert URIRef(BASE + ARXIV_PAPER) in set(parse(r.data, "text/turtle").subjects())
    r = client.get(f"/id/{ARXIV_PAPER}.nt")
    assert r.mimetype == "application/n-triples"
    assert (URIRef(BASE + ARXIV_PAPER), URIRef(SCHEMA + "name"),
            Literal("DAPO: An Open-Source LLM Reinforcement Learning System at Scale")) \
        in parse(r.data, "application/n-triples")


def test_unacceptable_accept_is_406_listing_the_offers(client: FlaskClient) -> None:
    r = client.get(f"/id/{YUZHEN}", headers={"Accept": "image/png"})
    assert r.status_code == 406
    text = r.get_data(as_text=True)
    for media_type in ("text/turtle", "text/html", "application/ld+json",
                       "application/n-triples", "application/rdf+xml"):
        assert media_type in text


def test_406_has_the_one_error_shape(client: FlaskClient) -> None:
    r = client.get(f"/id/{YUZHEN}", headers={"Accept": "image/png"})
    assert r.status_code == 406
    assert r.get_data(as_text=True).startswith("406 Not Acceptable: ")


@pytest.mark.parametrize("accept", ["application/json",
                                    "application/json, text/plain;q=0.5",
                                    "application/json;q=0.9, image/png"])
def test_plain_json_is_answered_with_json_ld(client: FlaskClient, accept: str) -> None:
    r = client.get(f"/id/{YUZHEN}", headers={"Accept": accept})
    assert r.status_code == 200, r.get_data(as_text=True)
    assert r.mimetype == "application/ld+json"
    assert r.headers["Content-Location"] == f"/id/{YUZHEN}.jsonld"
    assert "Accept" in r.headers["Vary"]
    document = r.get_json()
    assert "@context" in document
    graph = parse(r.data, "application/ld+json")
    assert (URIRef(BASE + YUZHEN), URIRef(SCHEMA + "name"), Literal("Yuzhen Huang")) in graph
    # a client that prefers Turtle or a page still gets it
    assert client.get(f"/id/{YUZHEN}", headers={
        "Accept": "text/turtle, application/json;q=0.5"}).mimetype == "text/turtle"


@pytest.mark.parametrize("path", [
    "/id/person/nobody", "/id/person/nobody.ttl", f"/id/{YUZHEN}.xyz", f"/id/{YUZHEN}/",
    "/id/paper/0000000000000000.html", "/id/person", f"/id/{YUZHEN}.ttl.ttl",
])
def test_iris_with_no_triples_are_404(client: FlaskClient, path: str) -> None:
    r = client.get(path, headers={"Accept": "application/json"})
    assert r.status_code == 404
    assert r.get_json()["error"]["status"] == 404


# the descriptions -------------------------------------------------------------------

@pytest.mark.parametrize("rest", [
    YUZHEN, SCRIPT_PAPER, SHARED_PAPER, ARXIV_PAPER, "category/LG", "organization/mila%20quebec",
    f"{SHARED_PAPER}/authorship/1-72727d35", f"{YUZHEN}/observation/hIndex/2026-10-01",
    "document/f55ff16f66f43360266b95db6f8fec01d76031054306ae4a4b380598f6cfd114",
    "source/arxiv-org-artificial-intelligence",
])
@pytest.mark.parametrize("media_type", sorted(RDFLIB_FORMATS))
def test_every_rdf_representation_parses_and_holds_the_entity(
        client: FlaskClient, rest: str, media_type: str) -> None:
    r = client.get(f"/id/{rest}", headers={"Accept": media_type})
    assert r.status_code == 200, r.data
    graph = parse(r.data, media_type)
    expected = own_triples(BASE + rest)
    assert len(expected) > 0
    missing = [t for t in expected if t not in graph]
    assert not missing


def test_description_has_incoming_links_and_labels(client: FlaskClient) -> None:
    graph = parse(client.get(f"/id/{ZHICHENG}.ttl").data, "text/turtle")
    person = URIRef(BASE + ZHICHENG)
    paper = URIRef(BASE + SHARED_PAPER)
    # incoming: the paper names the person as author
    assert (paper, URIRef(SCHEMA + "author"), person) in graph
    # labels of linked entities: the paper's title and the category's code
    assert (paper, URIRef(SCHEMA + "name"), None) in graph
    assert (URIRef(BASE + "category/AI"), URIRef(SCHEMA + "termCode"), Literal("AI")) in graph
    # but not the linked entities' other properties
    assert (paper, URIRef(SCHEMA + "abstract"), None) not in graph


def test_json_ld_is_compact_with_the_project_context(client: FlaskClient) -> None:
    document = client.get(f"/id/{SCRIPT_PAPER}.jsonld").get_json()
    context = json.loads((ONTOLOGY_DIR / "context.jsonld").read_text())["@context"]
    assert document["@context"] == context
    nodes = document.get("@graph", [document])
    paper = next(n for n in nodes if n["id"] == BASE + SCRIPT_PAPER)
    assert paper["type"] == "ScholarlyArticle"
    assert paper["name"] == SCRIPT_TITLE


def test_json_ld_falls_back_to_expanded_without_a_context(tmp_path: Path) -> None:
    (tmp_path / "ontology").mkdir()
    client = make_app(tmp_path / "exports", ontology_dir=str(tmp_path / "ontology")).test_client()
    r = client.get(f"/id/{YUZHEN}.jsonld")
    assert r.status_code == 200
    document = r.get_json()
    assert isinstance(document, list) and "@context" not in json.dumps(document)
    assert (URIRef(BASE + YUZHEN), URIRef(SCHEMA + "name"), Literal("Yuzhen Huang")) \
        in parse(r.data, "application/ld+json")


def test_literals_survive_every_format_exactly(client: FlaskClient) -> None:
    title = (URIRef(BASE + SCRIPT_PAPER), URIRef(SCHEMA + "name"), Literal(SCRIPT_TITLE))
    for media_type in RDFLIB_FORMATS:
        r = client.get(f"/id/{SCRIPT_PAPER}", headers={"Accept": media_type})
        assert title in parse(r.data, media_type), media_type


def test_html_representation_embeds_safe_json_ld(client: FlaskClient) -> None:
    html = client.get(f"/id/{SCRIPT_PAPER}", headers={"Accept": BROWSER}).get_data(as_text=True)
    assert SCRIPT_TITLE not in html
    assert "<script>alert" not in html
    [block] = jsonld_blocks(html)
    assert "</" not in block and "<" not in block
    data = json.loads(block)
    graph = parse_jsonld(data)
    assert (URIRef(BASE + SCRIPT_PAPER), URIRef(SCHEMA + "name"), Literal(SCRIPT_TITLE)) in graph


def test_head_and_conditional_get(client: FlaskClient) -> None:
    r = client.get(f"/id/{YUZHEN}.ttl")
    etag = r.headers["ETag"]
    head = client.head(f"/id/{YUZHEN}.ttl")
    assert head.status_code == 200 and head.data == b"" and head.headers["ETag"] == etag
    again = client.get(f"/id/{YUZHEN}.ttl", headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.data == b""


def test_cors_on_entities_and_preflight(client: FlaskClient) -> None:
    r = client.get(f"/id/{YUZHEN}", headers={"Origin": "https://ex.org"})
    assert r.headers["Access-Control-Allow-Origin"] == "*"
    assert "Content-Location" in r.headers["Access-Control-Expose-Headers"]
    assert "KG-Release" in r.headers["Access-Control-Expose-Headers"]
    pre = client.options(f"/id/{YUZHEN}", headers={
        "Origin": "https://ex.org", "Access-Control-Request-Method": "GET",
        "Access-Control-Request-Headers": "Accept"})
    assert pre.status_code == 200
    assert pre.headers["Access-Control-Allow-Origin"] == "*"
    assert "GET" in pre.headers["Access-Control-Allow-Methods"]
    assert "Accept" in pre.headers["Access-Control-Allow-Headers"]


def test_cors_origin_comes_from_the_setting(tmp_path: Path) -> None:
    client = make_app(tmp_path, cors_origins="https://app.example, https://b.example"
                      ).test_client()
    r = client.get(f"/id/{YUZHEN}.ttl", headers={"Origin": "https://b.example"})
    assert r.headers["Access-Control-Allow-Origin"] == "https://b.example"
    assert "Origin" in r.headers["Vary"]
    other = client.get(f"/id/{YUZHEN}.ttl", headers={"Origin": "https://c.example"})
    assert "Access-Control-Allow-Origin" not in other.headers
    assert "Origin" in other.headers["Vary"]


# other base IRIs --------------------------------------------------------------------

@pytest.mark.parametrize(("base", "path"), [
    ("http://localhost:8123/kg/", "/kg/"),
    ("https://data.example.org/", "/"),
    ("https://w3id.org/other/ns/id/", "/ns/id/"),
    ("https://purl.org/x/y/", "/y/"),
])
def test_entities_are_served_below_the_base_path(tmp_path: Path, base: str, path: str) -> None:
    client = make_app(tmp_path, base_iri=base).test_client()
    r = client.get(f"{path}{YUZHEN}", headers={"Accept": "text/turtle"})
    assert r.status_code == 200
    assert r.headers["Content-Location"] == f"{path}{YUZHEN}.ttl"
    assert (URIRef(base + YUZHEN), URIRef(SCHEMA + "name"), Literal("Yuzhen Huang")) \
        in parse(r.data, "text/turtle")
    html = client.get(f"{path}{YUZHEN}.html").get_data(as_text=True)
    assert f'href="{path}{SHARED_PAPER}"' in html
    assert f'href="{base}' not in html


def test_entity_path_setting_overrides_the_derived_path(tmp_path: Path) -> None:
    client = make_app(tmp_path, entity_path="/resource/").test_client()
    assert client.get(f"/resource/{YUZHEN}.ttl").status_code == 200
    assert client.get(f"/id/{YUZHEN}.ttl").status_code == 404


def test_the_dataset_iri_dereferences(client: FlaskClient) -> None:
    html = client.get("/id/dataset", headers={"Accept": BROWSER})
    assert html.status_code == 200 and html.mimetype == "text/html"
    assert 'data-count="persons"' in html.get_data(as_text=True)
    graph = parse(client.get("/id/dataset.ttl").data, "text/turtle")
    void = PREFIXES["void"]
    dataset = URIRef(BASE + "dataset")
    assert (dataset, URIRef(PREFIXES["rdf"] + "type"), URIRef(void + "Dataset")) in graph
    assert (dataset, URIRef(void + "sparqlEndpoint"), URIRef("http://localhost/sparql")) in graph


# the vocabulary -----------------------------------------------------------------------

def test_vocabulary_is_negotiated(client: FlaskClient) -> None:
    source = (ONTOLOGY_DIR / "scholarkg.ttl").read_bytes()
    turtle = client.get("/ns", headers={"Accept": "text/turtle"})
    assert turtle.mimetype == "text/turtle" and turtle.data == source
    assert "Accept" in turtle.headers["Vary"]
    expected = Graph().parse(data=source, format="turtle")
    jsonld = client.get("/ns", headers={"Accept": "application/ld+json"})
    assert jsonld.mimetype == "application/ld+json"
    assert isomorphic(parse(jsonld.data, "application/ld+json"), expected)
    assert isomorphic(parse(client.get("/ns.nt").data, "application/n-triples"), expected)
    html = client.get("/ns", headers={"Accept": BROWSER})
    assert html.mimetype == "text/html"
    text = html.get_data(as_text=True)
    for term in ("hIndex", "Authorship", "nameAsStated", "supersededBy"):
        assert f'id="{term}"' in text
    assert client.get("/ns", headers={"Accept": "image/png"}).status_code == 406
    assert client.get("/ns.docx").status_code == 404


def test_context_is_served_with_cors(client: FlaskClient) -> None:
    r = client.get("/ns/context.jsonld", headers={"Origin": "https://ex.org"})
    assert r.status_code == 200
    assert r.mimetype == "application/ld+json"
    assert r.headers["Access-Control-Allow-Origin"] == "*"
    assert r.get_json() == json.loads((ONTOLOGY_DIR / "context.jsonld").read_text())


def test_missing_ontology_files_are_404(tmp_path: Path) -> None:
    client = make_app(tmp_path, ontology_dir=str(tmp_path / "nothing")).test_client()
    for path in ("/ns", "/ns.ttl", "/ns/context.jsonld"):
        r = client.get(path, headers={"Accept": "application/json"})
        assert r.status_code == 404
        assert "KG_ONTOLOGY_DIR" in r.get_json()["error"]["message"]


@pytest.mark.parametrize(("path", "turtle_path"), [
    ("/ns", "/ns"), ("/ns.rdf", "/ns"), ("/.well-known/void", "/.well-known/void")])
def test_the_vocabulary_and_void_are_offered_as_rdf_xml(
        client: FlaskClient, path: str, turtle_path: str) -> None:
    """Ontology tools (Protégé, the OWL API) ask a vocabulary IRI for RDF/XML, as entity
    IRIs already answer it: the same graph as the Turtle."""
    r = client.get(path, headers={"Accept": "application/rdf+xml"})
    assert r.status_code == 200 and r.mimetype == "application/rdf+xml"
    turtle = client.get(turtle_path, headers={"Accept": "text/turtle"})
    assert isomorphic(Graph().parse(data=r.data, format="xml"),
                      Graph().parse(data=turtle.data, format="turtle"))
