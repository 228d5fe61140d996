"""Every IRI the dataset description and the pages mint under the base IRI answers.

- the download URLs of the VoID/DCAT description (``<base>dumps/<file>``) download the
  file, from the exported void.ttl and from the served description alike;
- the nodes the description mints below the dataset IRI (distributions, checksum nodes,
  class partitions) lead to the description that describes them;
- a named graph that is not a source document (``graph/author-links``) is described in
  HTML and RDF, and the paper page shows it as what it is;
- answers whose form follows ``Accept`` (error bodies) say so with ``Vary: Accept``.

The sample profiles are ingested for real and exported with ``kg export``'s code; one
module checks the exported links against a real server on 127.0.0.1, the others use the
app's test client.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from flask.testing import FlaskClient
from rdflib import RDF, Graph, Literal, URIRef
from rdflib.namespace import XSD

from kg.mapping.iris import IriMinter
from kg.mapping.vocab import PREFIXES
from kg.output.export import export_store
from kg.storage.store import KnowledgeStore
from tests.sample_data import BASE, EXAMPLES, build_store
from tests.server_app import Page, make_app
from tests.server_fixtures import HttpResponse, ServerProcess, running_server

VOID = PREFIXES["void"]
DCAT = PREFIXES["dcat"]
SD = PREFIXES["sd"]
AUTHOR_LINKS = IriMinter(BASE).author_links()
SECRET = b"outside the exports folder: never served"
#: most redirects one link may take before it must have answered
MAX_HOPS = 3


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory, sample_store: KnowledgeStore) -> Path:
    """``kg export`` of the sample, next to a file that must never be served."""
    root = tmp_path_factory.mktemp("minted-links")
    (root / "secret.txt").write_bytes(SECRET)
    export_store(sample_store, root / "exports", base_iri=BASE)
    return root / "exports"


@pytest.fixture
def client(exported: Path, sample_store: KnowledgeStore) -> FlaskClient:
    return make_app(exported, store=sample_store).test_client()


def local(iri: str) -> str:
    """Where decision 0002 serves a minted IRI: ``<base>X`` at ``/id/X``."""
    assert iri.startswith(BASE), iri
    return "/id/" + iri[len(BASE):]


def follow(client: FlaskClient, path: str, accept: str | None = None) -> tuple[int, bytes,
                                                                              list[str]]:
    """(final status, body, the redirect chain) of GET ``path``, at most MAX_HOPS redirects."""
    headers = {"Accept": accept} if accept else {}
    chain = [path]
    for _ in range(MAX_HOPS + 1):
        r = client.get(path, headers=headers, buffered=True)
        if r.status_code not in (301, 302, 303, 307, 308):
            return r.status_code, r.get_data(), chain
        location = urlsplit(r.headers["Location"])
        assert not location.netloc or location.netloc == "localhost", r.headers["Location"]
        path = location.path + (f"?{location.query}" if location.query else "")
        chain.append(path)
    raise AssertionError(f"more than {MAX_HOPS} redirects: {chain}")


def download_urls(void: Graph) -> set[str]:
    """Every void:dataDump and dcat:downloadURL the description gives."""
    return {str(o) for p in (VOID + "dataDump", DCAT + "downloadURL")
            for o in void.objects(None, URIRef(p))}


def checksums(void: Graph) -> dict[str, str]:
    """Download URL -> the SHA-256 the description gives for it."""
    rows = void.query("""PREFIX dcat: <http://www.w3.org/ns/dcat#>
        PREFIX spdx: <http://spdx.org/rdf/terms#>
        SELECT ?url ?sum WHERE { ?d dcat:downloadURL ?url ;
                                    spdx:checksum [ spdx:checksumValue ?sum ] }""")
    return {str(r.url): str(r.sum) for r in rows}  # type: ignore[union-attr]


# the exported void.ttl --------------------------------------------------------------


def test_exported_void_names_the_download_url_as_the_data_dump(exported: Path) -> None:
    void = Graph().parse(exported / "void.ttl", format="turtle")
    dumps = {str(o) for o in void.objects(None, URIRef(VOID + "dataDump"))}
    downloads = {str(o) for o in void.objects(None, URIRef(DCAT + "downloadURL"))}
    assert dumps and dumps == downloads
    assert all(u.startswith(BASE + "dumps/") for u in dumps)


def test_every_download_url_of_the_exported_void_downloads_its_file(
        client: FlaskClient, exported: Path) -> None:
    void = Graph().parse(exported / "void.ttl", format="turtle")
    sums = checksums(void)
    urls = download_urls(void)
    assert len(urls) >= 4 and set(sums) <= urls
    for url in sorted(urls):
        status, body, chain = follow(client, local(url))
        name = url.rpartition("/")[2]
        assert status == 200, (url, chain)
        assert chain[-1] == f"/dumps/{name}"
        assert body == (exported / name).read_bytes()
        if url in sums:
            assert hashlib.sha256(body).hexdigest() == sums[url]


def test_every_iri_the_exported_description_mints_answers(
        client: FlaskClient, exported: Path) -> None:
    """Distributions, checksum nodes (``#sha256``), class partitions: none is a 404, and
    each lands on a description that mentions it."""
    void = Graph().parse(exported / "void.ttl", format="turtle")
    minted = {str(t) for triple in void for t in triple
              if isinstance(t, URIRef) and str(t).startswith(BASE)}
    kinds = {"dataset/dump/", "dataset/class/", "dumps/"}
    assert all(any(str(m)[len(BASE):].startswith(k) for m in minted) for k in kinds)
    assert any("#sha256" in m for m in minted)
    for iri in sorted(minted):
        document = iri.partition("#")[0]  # a client strips the fragment
        if document.startswith(BASE + "dumps/"):
            continue  # downloads: see above
        status, body, chain = follow(client, local(document), "text/turtle")
        assert status == 200, (iri, chain)
        described = Graph().parse(data=body, format="turtle")
        assert (URIRef(iri), None, None) in described or (None, None, URIRef(iri)) in described


def test_a_minted_description_node_is_see_other_to_the_dataset(client: FlaskClient) -> None:
    r = client.get("/id/dataset/class/foaf-Person", headers={"Accept": "text/html"})
    assert r.status_code == 303 and r.headers["Location"] == "/id/dataset"
    r = client.get("/id/dataset/class/foaf-Person.ttl")
    assert r.status_code == 303 and r.headers["Location"] == "/id/dataset.ttl"
    assert client.get("/id/dataset/class/no-such-class").status_code == 404


# the served description -------------------------------------------------------------


@pytest.mark.parametrize("path", ["/.well-known/void", "/id/dataset"])
def test_every_download_url_of_the_served_description_downloads(
        client: FlaskClient, exported: Path, path: str) -> None:
    r = client.get(path, headers={"Accept": "text/turtle"})
    assert r.status_code == 200
    urls = download_urls(Graph().parse(data=r.data, format="turtle"))
    minted = {u for u in urls if u.startswith(BASE)}
    assert len(minted) >= 4
    for url in sorted(urls):
        target = local(url) if url in minted else urlsplit(url).path
        status, body, chain = follow(client, target)
        assert status == 200, (url, chain)
        assert body == (exported / url.rpartition("/")[2]).read_bytes()


# unknown names and traversal --------------------------------------------------------

UNKNOWN_DUMPS = [
    "/id/dumps/no-such-file.nq.gz",
    "/id/dumps/",
    "/id/dumps/.",
    "/id/dumps/..",
    "/id/dumps/../secret.txt",
    "/id/dumps/..%2Fsecret.txt",
    "/id/dumps/..%2fsecret.txt",
    "/id/dumps/%2e%2e%2fsecret.txt",
    "/id/dumps/%2Fetc%2Fpasswd",
    "/id/dumps//etc/passwd",
    "/id/dumps/https://evil.example/x.nq.gz",
    "/id/dumps/https:%2F%2Fevil.example%2Fx",
    "/id/dumps//evil.example/x",
    "/id/dumps/%5C%5Cevil.example%5Cx",
    "/id/dumps/latest/scholarkg.nq.gz",
    "/id/dumps/.hidden",
    "/id/dumps/void.ttl%00.txt",
    "/id/dumps/void.ttl/..",
]


@pytest.mark.parametrize("path", UNKNOWN_DUMPS)
def test_unknown_dump_names_are_404_without_a_redirect(client: FlaskClient, path: str) -> None:
    r = client.get(path, headers={"Accept": "application/json"}, buffered=True)
    assert r.status_code == 404, (path, r.status_code, r.headers.get("Location"))
    assert "Location" not in r.headers
    assert SECRET not in r.data
    assert r.get_json()["error"]["status"] == 404


# named graphs -----------------------------------------------------------------------


def test_a_named_graph_that_is_not_a_document_is_described_in_html(
        client: FlaskClient, sample_store: KnowledgeStore) -> None:
    quads = len(list(sample_store.graph_triples(AUTHOR_LINKS)))
    assert quads > 0
    r = client.get(local(AUTHOR_LINKS), headers={"Accept": "text/html"})
    assert r.status_code == 200 and r.mimetype == "text/html"
    assert "Accept" in r.vary
    page = Page(r.get_data(as_text=True))
    assert page.find("h1").text == "Author links"
    assert page.find("strong", data_count="quads").text == str(quads)
    query = page.find("a", class_="query-graph").attrs["href"]
    sparql = parse_qs(urlsplit(query).query)["query"][0]
    assert client.get(query).status_code == 200
    answer = client.get("/sparql", query_string={"query": sparql},
                        headers={"Accept": "application/sparql-results+json"})
    assert len(answer.get_json()["results"]["bindings"]) == min(quads, 100)
    download = client.get(page.find("a", class_="download-graph").attrs["href"],
                          headers={"Accept": "application/n-triples"})
    assert download.status_code == 200
    assert len(Graph().parse(data=download.data, format="nt")) == quads


@pytest.mark.parametrize("path_suffix, accept", [("", "text/turtle"), (".ttl", None)])
def test_a_named_graph_that_is_not_a_document_is_described_in_turtle(
        client: FlaskClient, sample_store: KnowledgeStore, path_suffix: str,
        accept: str | None) -> None:
    quads = len(list(sample_store.graph_triples(AUTHOR_LINKS)))
    r = client.get(local(AUTHOR_LINKS) + path_suffix,
                   headers={"Accept": accept} if accept else {})
    assert r.status_code == 200 and r.mimetype == "text/turtle"
    g = Graph().parse(data=r.data, format="turtle")
    node = URIRef(AUTHOR_LINKS)
    assert (node, RDF.type, URIRef(SD + "Graph")) in g
    assert (node, URIRef(VOID + "triples"), Literal(quads, datatype=XSD.integer)) in g
    assert (node, URIRef(PREFIXES["dcterms"] + "isPartOf"), URIRef(BASE + "dataset")) in g


def test_an_unknown_graph_iri_is_still_404(client: FlaskClient) -> None:
    assert client.get("/id/graph/no-such-graph", headers={"Accept": "text/turtle"}
                      ).status_code == 404


def _paper_in_author_links(store: KnowledgeStore) -> str:
    schema_author = f"<{PREFIXES['schema']}author>"
    for s, p, _o in store.graph_triples(AUTHOR_LINKS):
        if p == schema_author:
            return s.strip("<>")
    raise AssertionError("the sample has no author link of a paper")


def test_the_paper_page_shows_a_named_graph_as_a_graph_not_a_document(
        client: FlaskClient, sample_store: KnowledgeStore) -> None:
    paper = _paper_in_author_links(sample_store)
    r = client.get(local(paper), headers={"Accept": "text/html"})
    assert r.status_code == 200
    html = r.get_data(as_text=True)
    page = Page(html)
    documents = Page(_inner_html(html, "documents")).links()
    assert documents and local(AUTHOR_LINKS) not in documents
    graphs = page.find("ul", class_="named-graphs")
    assert "Author links" in graphs.text
    href = next(a.attrs["href"] for a in page.find_all("a") if a.attrs.get("title") == AUTHOR_LINKS)
    assert href == local(AUTHOR_LINKS)
    assert client.get(href, headers={"Accept": "text/html"}).status_code == 200


def _inner_html(html: str, table_class: str) -> str:
    start = html.index(f'class="data {table_class}')
    return html[start:html.index("</table>", start)]


# Vary -------------------------------------------------------------------------------


@pytest.mark.parametrize("accept", ["text/html", "application/json", "text/plain", None])
def test_the_negotiated_404_of_an_unknown_entity_varies_by_accept(
        client: FlaskClient, accept: str | None) -> None:
    r = client.get("/id/person/nobody", headers={"Accept": accept} if accept else {})
    assert r.status_code == 404
    assert "Accept" in r.vary


@pytest.mark.parametrize("path", ["/ns", "/.well-known/void", "/id/person/nobody.png"])
def test_a_406_or_404_of_a_negotiated_route_varies_by_accept(client: FlaskClient,
                                                               path: str) -> None:
    r = client.get(path, headers={"Accept": "image/png"})
    assert r.status_code in (404, 406)
    assert "Accept" in r.vary


# against a real server --------------------------------------------------------------


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, exported: Path) -> Iterator[ServerProcess]:
    """The sample in an on-disk store, served with its exports on 127.0.0.1."""
    root = tmp_path_factory.mktemp("minted-links-server")
    store = build_store([EXAMPLES], root / "store")
    store.flush()
    del store  # closed, so the server may open it
    with running_server(root / "store", root, exports_dir=exported, workers=1,
                        query_workers=1) as server:
        yield server


def _follow_http(server: ServerProcess, path: str) -> tuple[HttpResponse, list[str]]:
    chain = [path]
    for _ in range(MAX_HOPS + 1):
        r = server.request(path)
        if r.status not in (301, 302, 303, 307, 308):
            return r, chain
        location = urlsplit(r.header("Location") or "")
        assert location.netloc in ("", f"127.0.0.1:{server.port}"), chain
        path = location.path
        chain.append(path)
    raise AssertionError(f"more than {MAX_HOPS} redirects: {chain}")


def test_the_exported_download_urls_resolve_on_a_running_server(
        served: ServerProcess, exported: Path) -> None:
    void = Graph().parse(exported / "void.ttl", format="turtle")
    urls = download_urls(void)
    assert urls
    for url in sorted(urls):
        r, chain = _follow_http(served, local(url))
        assert r.status == 200, (url, chain, r.status)
        assert r.body == (exported / url.rpartition("/")[2]).read_bytes()


@pytest.mark.parametrize("path", ["/id/dumps/../secret.txt", "/id/dumps/../../etc/passwd",
                                  "/id/dumps/..%2Fsecret.txt", "/id/dumps/%2e%2e/secret.txt",
                                  "/id/dumps//evil.example/x", "/id/dumps/http://evil.example/"])
def test_raw_traversal_paths_are_404_on_a_running_server(served: ServerProcess,
                                                         path: str) -> None:
    r = served.request(path)
    assert r.status == 404, (path, r.status, r.header("Location"))
    assert SECRET not in r.body
