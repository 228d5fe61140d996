"""Dumps under /dumps/ (listing, streaming, ranges, validators, traversal) and VoID."""

from __future__ import annotations

import gzip
import hashlib
import os
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from rdflib import RDF, Graph, Literal, Namespace, URIRef
from werkzeug.test import TestResponse

from kg.mapping.vocab import PREFIXES
from tests.server_app import BASE, load_store, make_app, parse_jsonld

VOID = Namespace(PREFIXES["void"])
DCTERMS = Namespace(PREFIXES["dcterms"])
TTL = "scholarkg-2026-11-21.ttl.gz"
NT = "scholarkg-2026-11-21.nt.gz"
SECRET = b"TOP SECRET: outside the exports folder"


def get(client: FlaskClient, path: str, **kwargs: Any) -> TestResponse:
    """GET read in full and closed (a WSGI server closes streamed files the same way)."""
    return client.get(path, buffered=True, **kwargs)


def head(client: FlaskClient, path: str, **kwargs: Any) -> TestResponse:
    return client.head(path, buffered=True, **kwargs)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def exports(tmp_path: Path) -> Path:
    """An exports folder as ``kg export`` leaves it, plus things that must not be served."""
    out = tmp_path / "exports"
    out.mkdir()
    store = load_store()
    (out / TTL).write_bytes(gzip.compress(store.dump_graph(None, "turtle"), mtime=0))
    (out / NT).write_bytes(gzip.compress(store.dump_graph(None, "ntriples"), mtime=0))
    dataset = f"<{BASE}dataset>"
    (out / "void.ttl").write_text(
        "@prefix void: <http://rdfs.org/ns/void#> .\n"
        "@prefix dcterms: <http://purl.org/dc/terms/> .\n"
        f'{dataset} a void:Dataset ; dcterms:title "scholarkg (exported)" ;\n'
        f"  void:triples 257 ; void:dataDump <{BASE}dumps/{TTL}> .\n"
        # a link set's target is a dataset too (ORCID's): it has no endpoint or dumps here
        f"<{BASE}dataset/target/orcid> a void:Dataset ; dcterms:title \"ORCID\" .\n",
        encoding="utf-8")
    sums = "".join(f"{sha256((out / n).read_bytes())}  {n}\n" for n in (NT, TTL, "void.ttl"))
    (out / "SHA256SUMS").write_text(sums, encoding="utf-8")
    # never served: hidden files, folders, links out of the folder, files beside it
    (out / ".hidden").write_bytes(SECRET)
    (out / "sub").mkdir()
    (out / "sub" / "nested.ttl").write_bytes(SECRET)
    (tmp_path / "secret.txt").write_bytes(SECRET)
    os.symlink(tmp_path / "secret.txt", out / "escape.ttl")
    os.symlink(tmp_path, out / "parent")
    # a link that stays inside is an ordinary file of the folder
    os.symlink(out / TTL, out / "latest.ttl.gz")
    return out


@pytest.fixture
def client(exports: Path) -> FlaskClient:
    return make_app(exports).test_client()


def test_listing_as_json(client: FlaskClient, exports: Path) -> None:
    r = get(client, "/dumps/", headers={"Accept": "application/json"})
    assert r.status_code == 200 and r.mimetype == "application/json"
    files = {f["name"]: f for f in r.get_json()["files"]}
    assert set(files) == {NT, TTL, "latest.ttl.gz", "void.ttl", "SHA256SUMS"}
    ttl = files[TTL]
    assert ttl["size"] == (exports / TTL).stat().st_size
    assert ttl["sha256"] == sha256((exports / TTL).read_bytes())
    assert ttl["media_type"] == "application/gzip"
    assert ttl["description"] == "Turtle, gzip-compressed"
    assert ttl["href"] == f"/dumps/{TTL}"
    assert ttl["rdf_format"] == "turtle"
    assert files[NT]["rdf_format"] == "ntriples"
    assert files["void.ttl"]["media_type"] == "text/turtle"
    assert files["void.ttl"]["rdf_format"] is None
    assert files["SHA256SUMS"]["media_type"] == "text/plain"
    assert files["SHA256SUMS"]["sha256"] is None
    assert "Accept" in r.headers["Vary"]


def test_listing_as_html_for_browsers(client: FlaskClient, exports: Path) -> None:
    r = get(client, "/dumps/", headers={
        "Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"})
    assert r.status_code == 200 and r.mimetype == "text/html"
    html = r.get_data(as_text=True)
    assert f'href="/dumps/{TTL}"' in html
    assert sha256((exports / TTL).read_bytes())[:16] in html
    assert ".hidden" not in html and "escape.ttl" not in html and "nested" not in html


def test_listing_of_a_missing_folder_is_empty(tmp_path: Path) -> None:
    client = make_app(tmp_path / "nothing-here").test_client()
    r = get(client, "/dumps/", headers={"Accept": "application/json"})
    assert r.status_code == 200 and r.get_json() == {"files": []}
    assert "kg export" in get(client, "/dumps/", headers={"Accept": "text/html"}).get_data(
        as_text=True)


def test_download_with_validators(client: FlaskClient, exports: Path) -> None:
    data = (exports / TTL).read_bytes()
    r = get(client, f"/dumps/{TTL}")
    assert r.status_code == 200
    assert r.data == data
    assert r.mimetype == "application/gzip"
    assert "Content-Encoding" not in r.headers
    assert int(r.headers["Content-Length"]) == len(data)
    assert r.headers["ETag"] == f'"{sha256(data)}"'
    assert r.headers["Last-Modified"]
    assert r.headers["Accept-Ranges"] == "bytes"
    assert r.headers["Content-Disposition"].startswith("attachment")
    assert r.headers["Access-Control-Allow-Origin"] == "*"
    assert gzip.decompress(data).startswith(b"@prefix")


def test_plain_files_are_served_with_their_media_type(client: FlaskClient) -> None:
    r = get(client, "/dumps/void.ttl")
    assert r.mimetype == "text/turtle"
    assert "attachment" not in r.headers.get("Content-Disposition", "")
    r = get(client, "/dumps/SHA256SUMS")
    assert r.mimetype == "text/plain" and TTL.encode() in r.data


def test_link_inside_the_folder_is_served(client: FlaskClient, exports: Path) -> None:
    r = get(client, "/dumps/latest.ttl.gz")
    assert r.status_code == 200 and r.data == (exports / TTL).read_bytes()


@pytest.mark.parametrize(("header", "start", "end"), [
    ("bytes=10-19", 10, 20), ("bytes=0-0", 0, 1), ("bytes=-5", -5, None), ("bytes=40-", 40, None),
])
def test_range_requests(client: FlaskClient, exports: Path, header: str, start: int,
                        end: int | None) -> None:
    data = (exports / TTL).read_bytes()
    r = get(client, f"/dumps/{TTL}", headers={"Range": header})
    assert r.status_code == 206
    expected = data[start:end]
    assert r.data == expected
    first = start % len(data)
    assert r.headers["Content-Range"] == f"bytes {first}-{first + len(expected) - 1}/{len(data)}"
    assert int(r.headers["Content-Length"]) == len(expected)


def test_unsatisfiable_range_is_416(client: FlaskClient, exports: Path) -> None:
    size = (exports / TTL).stat().st_size
    r = get(client, f"/dumps/{TTL}", headers={"Range": f"bytes={size + 10}-",
                                              "Accept": "application/json"})
    assert r.status_code == 416
    assert r.headers["Content-Range"] == f"bytes */{size}"
    assert r.get_json()["error"] == {
        "status": 416, "title": "Range Not Satisfiable",
        "message": f"the range bytes={size + 10}- starts past the end of {TTL} ({size} bytes)"}


@pytest.mark.parametrize("header", [
    "bytes=0-9,20-29", "bytes=0-9, 5-", "bytes=abc", "bytes=5-2", "bytes=", "items=0-5",
])
def test_a_range_not_served_is_ignored(client: FlaskClient, exports: Path, header: str) -> None:
    """Several ranges, bad syntax, another unit: 200 with the whole file (RFC 9110 §14.2)."""
    data = (exports / TTL).read_bytes()
    r = get(client, f"/dumps/{TTL}", headers={"Range": header})
    assert r.status_code == 200
    assert r.data == data
    assert int(r.headers["Content-Length"]) == len(data)
    assert "Content-Range" not in r.headers
    assert r.headers["Accept-Ranges"] == "bytes"


def test_if_range_with_several_ranges_sends_the_whole_file(client: FlaskClient,
                                                          exports: Path) -> None:
    data = (exports / TTL).read_bytes()
    etag = f'"{sha256(data)}"'
    several = get(client, f"/dumps/{TTL}", headers={"Range": "bytes=0-9,20-29",
                                                    "If-Range": etag})
    assert several.status_code == 200 and several.data == data
    fresh = get(client, f"/dumps/{TTL}", headers={"Range": "bytes=0-9", "If-Range": etag})
    assert fresh.status_code == 206 and fresh.data == data[:10]
    stale = get(client, f"/dumps/{TTL}", headers={"Range": "bytes=0-9", "If-Range": '"old"'})
    assert stale.status_code == 200 and stale.data == data


def test_conditional_get(client: FlaskClient, exports: Path) -> None:
    first = get(client, f"/dumps/{NT}")
    etag, modified = first.headers["ETag"], first.headers["Last-Modified"]
    r = get(client, f"/dumps/{NT}", headers={"If-None-Match": etag})
    assert r.status_code == 304 and r.data == b""
    r = get(client, f"/dumps/{NT}", headers={"If-Modified-Since": modified})
    assert r.status_code == 304
    r = get(client, f"/dumps/{NT}", headers={"If-None-Match": '"something-else"'})
    assert r.status_code == 200
    # If-Range with a stale validator sends the whole file
    r = get(client, f"/dumps/{NT}", headers={"Range": "bytes=0-9", "If-Range": '"stale"'})
    assert r.status_code == 200 and r.data == (exports / NT).read_bytes()


def test_head(client: FlaskClient, exports: Path) -> None:
    r = head(client, f"/dumps/{TTL}")
    assert r.status_code == 200 and r.data == b""
    assert int(r.headers["Content-Length"]) == (exports / TTL).stat().st_size


def test_etag_falls_back_when_sha256sums_lacks_the_file(client: FlaskClient,
                                                        exports: Path) -> None:
    (exports / "extra.nq.gz").write_bytes(gzip.compress(b"", mtime=0))
    r = get(client, "/dumps/extra.nq.gz")
    assert r.status_code == 200 and r.headers["ETag"]


TRAVERSALS = [
    "/dumps/../secret.txt",
    "/dumps/..%2fsecret.txt",
    "/dumps/..%2Fsecret.txt",
    "/dumps/%2e%2e/secret.txt",
    "/dumps/%2e%2e%2fsecret.txt",
    "/dumps/%252e%252e%252fsecret.txt",
    "/dumps/..%5csecret.txt",
    "/dumps/..\\secret.txt",
    "/dumps/....//secret.txt",
    "/dumps/./../secret.txt",
    "/dumps/escape.ttl",
    "/dumps/parent/secret.txt",
    "/dumps/parent%2fsecret.txt",
    "/dumps/.hidden",
    "/dumps/sub/nested.ttl",
    "/dumps/sub",
    "/dumps/.",
    "/dumps/..",
    "/dumps/%2e%2e",
    "/dumps//etc/passwd",
    "/dumps/%2fetc%2fpasswd",
    "/dumps/void.ttl%00.txt",
    "/dumps/%00",
    "/dumps/C:%5cWindows%5cwin.ini",
    "/dumps/void.ttl/..",
    "/dumps/no-such-file.ttl.gz",
]


@pytest.mark.parametrize("path", TRAVERSALS)
def test_nothing_outside_the_folder_is_served(client: FlaskClient, path: str) -> None:
    r = get(client, path, headers={"Accept": "application/json"})
    assert r.status_code == 404, (path, r.status_code)
    assert SECRET not in r.data
    assert r.get_json()["error"]["status"] == 404


def test_cors_preflight_for_range_requests(client: FlaskClient) -> None:
    r = client.options(f"/dumps/{TTL}", headers={
        "Origin": "https://ex.org", "Access-Control-Request-Method": "GET",
        "Access-Control-Request-Headers": "Range"})
    assert r.status_code == 200
    assert r.headers["Access-Control-Allow-Origin"] == "*"
    assert "Range" in r.headers["Access-Control-Allow-Headers"]
    assert "Content-Range" in r.headers["Access-Control-Expose-Headers"]


# VoID ------------------------------------------------------------------------------

def test_void_from_the_export_links_this_server(client: FlaskClient) -> None:
    r = get(client, "/.well-known/void", headers={"Accept": "text/turtle"})
    assert r.status_code == 200 and r.mimetype == "text/turtle"
    assert "Accept" in r.headers["Vary"]
    g = Graph().parse(data=r.data, format="turtle")
    dataset = URIRef(BASE + "dataset")
    # what the export said stays
    assert (dataset, DCTERMS.title, Literal("scholarkg (exported)")) in g
    assert (dataset, VOID.dataDump, URIRef(f"{BASE}dumps/{TTL}")) in g
    # and this server's endpoint and dump URLs are added
    assert (dataset, VOID.sparqlEndpoint, URIRef("http://localhost/sparql")) in g
    dumps = {str(o) for o in g.objects(dataset, VOID.dataDump)}
    assert {f"http://localhost/dumps/{n}" for n in (TTL, NT, "latest.ttl.gz")} <= dumps
    assert "http://localhost/dumps/SHA256SUMS" not in dumps
    assert "http://localhost/dumps/void.ttl" not in dumps
    # only the dataset gets this server's endpoint and dumps, not the datasets it links to
    target = URIRef(BASE + "dataset/target/orcid")
    assert (target, DCTERMS.title, Literal("ORCID")) in g
    assert not list(g.objects(target, VOID.sparqlEndpoint))
    assert not list(g.objects(target, VOID.dataDump))


def test_void_urls_follow_the_request_host(client: FlaskClient) -> None:
    r = get(client, "/.well-known/void", base_url="http://kg.example:8080",
                   headers={"Accept": "application/n-triples"})
    assert r.mimetype == "application/n-triples"
    g = Graph().parse(data=r.data, format="nt")
    assert (URIRef(BASE + "dataset"), VOID.sparqlEndpoint,
            URIRef("http://kg.example:8080/sparql")) in g


def test_void_negotiates_json_ld_and_refuses_others(client: FlaskClient) -> None:
    r = get(client, "/.well-known/void", headers={"Accept": "application/ld+json"})
    assert r.mimetype == "application/ld+json"
    g = parse_jsonld(r.get_json())
    assert (URIRef(BASE + "dataset"), RDF.type, VOID.Dataset) in g
    assert get(client, "/.well-known/void").mimetype == "text/turtle"
    bad = get(client, "/.well-known/void", headers={"Accept": "text/csv"})
    assert bad.status_code == 406
    assert "text/turtle" in bad.get_data(as_text=True)


def test_void_is_generated_from_counts_without_an_export(tmp_path: Path) -> None:
    store = load_store()
    client = make_app(tmp_path / "empty", store=store).test_client()
    g = Graph().parse(data=get(client, "/.well-known/void").data, format="turtle")
    dataset = URIRef(BASE + "dataset")
    assert (dataset, RDF.type, VOID.Dataset) in g
    assert g.value(dataset, VOID.triples).toPython() == store.count_quads(None)
    assert (dataset, VOID.sparqlEndpoint, URIRef("http://localhost/sparql")) in g
    assert (dataset, VOID.uriSpace, Literal(BASE)) in g
    partitions = {g.value(p, VOID["class"]): g.value(p, VOID.entities).toPython()
                  for p in g.objects(dataset, VOID.classPartition)}
    assert partitions[URIRef("https://schema.org/Person")] == 2
    assert partitions[URIRef("https://schema.org/ScholarlyArticle")] == 5
    assert not list(g.objects(dataset, VOID.dataDump))


def test_change_sets_are_listed_but_are_no_data_dump(exports: Path) -> None:
    stem = "scholarkg-2026-11-21-to-2026-12-01"
    names = [f"{stem}.removed.nq.gz", f"{stem}.added.nq.gz", f"{stem}.changes.json"]
    for name in names:
        (exports / name).write_bytes(gzip.compress(b"", mtime=0))
    client = make_app(exports).test_client()
    files = {f["name"]: f for f in get(client, "/dumps/", headers={
        "Accept": "application/json"}).get_json()["files"]}
    assert set(names) <= set(files)
    assert files[names[1]]["description"] == (
        "N-Quads, gzip-compressed: the quads added by a change set")
    assert files[names[2]]["media_type"] == "application/json"
    assert get(client, f"/dumps/{names[0]}").status_code == 200
    g = Graph().parse(data=get(client, "/.well-known/void", headers={
        "Accept": "text/turtle"}).data, format="turtle")
    dumps = {str(o) for o in g.objects(URIRef(BASE + "dataset"), VOID.dataDump)}
    assert f"http://localhost/dumps/{TTL}" in dumps
    assert not any(stem in url for url in dumps)
