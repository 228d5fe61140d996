"""Behind a reverse proxy: X-Forwarded-* headers believed from ``trusted_proxies``
proxies (werkzeug's ProxyFix), so every URL the server writes carries the public scheme,
host and path prefix; and Debian's nginx on loopback in front of ``kg serve`` under /kg/,
with the configuration docs/deployment.md shows."""

from __future__ import annotations

import gzip
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import rdflib
from flask import Flask

from kg.storage.store import KnowledgeStore
from tests.server_app import BASE, YUZHEN, make_app
from tests.server_fixtures import (
    ROOT,
    HttpResponse,
    ServerProcess,
    free_port,
    http_request,
    server_env,
)

PROXIED = {"X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "https",
           "X-Forwarded-Host": "data.example.org", "X-Forwarded-Prefix": "/kg"}
PUBLIC = "https://data.example.org/kg"
VOID = rdflib.Namespace("http://rdfs.org/ns/void#")


@pytest.fixture
def exports(tmp_path: Path) -> Path:
    folder = tmp_path / "exports"
    shutil.copytree(ROOT / "exports", folder)
    return folder


def proxied_app(exports: Path, trusted: int) -> Flask:
    return make_app(exports, trusted_proxies=trusted)


def test_forwarded_headers_are_ignored_by_default(exports: Path) -> None:
    client = proxied_app(exports, 0).test_client()
    manifest = client.get("/reconcile", headers=PROXIED).get_json()
    assert manifest["view"]["url"] == "http://localhost/reconcile/view?id={{id}}"


def test_every_url_carries_the_public_scheme_host_and_prefix(exports: Path) -> None:
    client = proxied_app(exports, 1).test_client()
    manifest = client.get("/reconcile", headers=PROXIED).get_json()
    assert manifest["view"]["url"] == f"{PUBLIC}/reconcile/view?id={{{{id}}}}"
    assert manifest["suggest"]["entity"]["service_url"] == f"{PUBLIC}/reconcile"
    view = client.get(f"/reconcile/view?id={quote(BASE + YUZHEN)}", headers=PROXIED)
    assert view.status_code == 303 and view.headers["Location"] == f"/kg/id/{YUZHEN}"
    # VoID: the endpoint and every dump under the public URL
    resp = client.get("/.well-known/void", headers={**PROXIED, "Accept": "text/turtle"})
    void = rdflib.Graph().parse(data=resp.data, format="turtle")
    assert {str(o) for o in void.objects(None, VOID.sparqlEndpoint)} == {f"{PUBLIC}/sparql"}
    dumps = {str(o) for o in void.objects(None, VOID.dataDump)}
    served = {f"{PUBLIC}/dumps/{p.name}" for p in exports.glob("scholarkg-*.gz")}
    assert served and served <= dumps
    assert not [d for d in dumps if "localhost" in d]
    # the service description names the public endpoint
    sd = client.get("/sparql", headers={**PROXIED, "Accept": "text/turtle"})
    assert f"<{PUBLIC}/sparql>".encode() in sd.data
    # pages: links, forms and scripts under the prefix
    page = client.get(f"/id/{YUZHEN}", headers={**PROXIED, "Accept": "text/html"})
    html = page.get_data(as_text=True)
    assert 'href="/kg/static/style.css"' in html and 'href="/kg/dumps/"' in html
    assert f'href="/kg/id/{YUZHEN}.ttl"' in html
    assert page.headers["Content-Location"] == f"/kg/id/{YUZHEN}.html"
    assert f"</kg/id/{YUZHEN}>; rel=\"canonical\"" in page.headers["Link"]
    query_page = client.get("/", headers={**PROXIED, "Accept": "text/html"})
    html = query_page.get_data(as_text=True)
    assert 'data-endpoint="/kg/sparql"' in html and 'data-entity-path="/kg/id/"' in html
    assert 'src="/kg/static/editor/editor.js"' in html
    # a browser sent to the endpoint lands on the query page under the prefix
    redirect = client.get("/sparql?query=ASK%7B%7D", headers={**PROXIED, "Accept": "text/html"})
    assert redirect.headers["Location"] == "/kg/?query=ASK%7B%7D"
    listing = client.get("/dumps/", headers={**PROXIED, "Accept": "text/html"})
    assert 'href="/kg/dumps/scholarkg-' in listing.get_data(as_text=True)


def test_only_the_trusted_number_of_proxies_is_believed(exports: Path) -> None:
    client = proxied_app(exports, 1).test_client()
    # two hosts, the client's forged one first: one trusted proxy believes only the last
    headers = {**PROXIED, "X-Forwarded-Host": "evil.example, data.example.org"}
    manifest = client.get("/reconcile", headers=headers).get_json()
    assert manifest["view"]["url"].startswith(f"{PUBLIC}/reconcile/")


# nginx --------------------------------------------------------------------------------------

NGINX = shutil.which("nginx") or next(
    (p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if Path(p).exists()), None)
DOCS = ROOT / "docs" / "deployment.md"


def nginx_location() -> str:
    """The ``location /kg/ { ... }`` block of docs/deployment.md, as documented."""
    text = DOCS.read_text(encoding="utf-8")
    block = re.search(r"```nginx\n(.*?)```", text, re.DOTALL)
    assert block, "docs/deployment.md has no nginx example"
    location = re.search(r"(    location /kg/ \{.*?\n    \})", block.group(1), re.DOTALL)
    assert location, "the nginx example has no 'location /kg/' block"
    return location.group(1)


@pytest.fixture(scope="module")
def behind_nginx(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if NGINX is None:
        pytest.skip("nginx is not installed (apt-get install nginx-light); the nginx "
                    "reverse-proxy test needs Debian's nginx")
    tmp = tmp_path_factory.mktemp("nginx")
    # the bundled sample, served by kg serve with the committed dumps
    store = KnowledgeStore.open(tmp / "store")
    dump = sorted((ROOT / "exports").glob("scholarkg-*.nq.gz"))[-1]
    store.load_nquads(gzip.decompress(dump.read_bytes()).decode("utf-8"))
    store.flush()
    del store
    port = free_port()
    env = server_env(tmp / "store", port)
    kg = Path(sys.executable).with_name("kg")
    cmd = [str(kg), "serve", "--store", str(tmp / "store"), "--port", str(port),
           "--trusted-proxies", "1", "--exports-dir", str(ROOT / "exports"),
           "--workers", "1", "--threads", "4", "--query-workers", "1"]
    log_path = tmp / "kg-serve.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    server = ServerProcess(proc, port, log_path, env)
    nginx: subprocess.Popen[bytes] | None = None
    try:
        server.wait_ready()
        front = free_port()
        location = nginx_location().replace("127.0.0.1:8000", f"127.0.0.1:{port}")
        for name in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
            (tmp / name).mkdir()
        user = "user root;\n" if os.geteuid() == 0 else ""
        (tmp / "nginx.conf").write_text(f"""{user}worker_processes 1;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log;
events {{ worker_connections 64; }}
http {{
  access_log {tmp}/access.log;
  client_body_temp_path {tmp}/client_body;
  proxy_temp_path {tmp}/proxy;
  fastcgi_temp_path {tmp}/fastcgi;
  uwsgi_temp_path {tmp}/uwsgi;
  scgi_temp_path {tmp}/scgi;
  server {{
    listen 127.0.0.1:{front};
    server_name localhost;
{location}
  }}
}}
""")
        with open(tmp / "nginx.out", "wb") as out:
            nginx = subprocess.Popen([NGINX, "-p", str(tmp), "-e", str(tmp / "error.log"),
                                      "-c", str(tmp / "nginx.conf"), "-g", "daemon off;"],
                                     stdout=out, stderr=subprocess.STDOUT)
        url = f"http://127.0.0.1:{front}"
        deadline = time.monotonic() + 20
        while True:
            if nginx.poll() is not None:
                raise RuntimeError("nginx exited: "
                                   + (tmp / "nginx.out").read_text(errors="replace"))
            try:
                if http_request(url + "/kg/healthz", timeout=5).status == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("nginx did not answer within 20 s")
            time.sleep(0.1)
        yield url
    finally:
        if nginx is not None:
            nginx.terminate()
            try:
                nginx.wait(timeout=10)
            except subprocess.TimeoutExpired:
                nginx.kill()
                nginx.wait(timeout=10)
        server.stop()


def get(url: str, **headers: str) -> HttpResponse:
    return http_request(url, headers=headers)


def test_nginx_serves_pages_sparql_dumps_and_reconciliation_under_a_prefix(
        behind_nginx: str) -> None:
    front = behind_nginx
    public = f"{front}/kg"
    # pages, with their links under /kg/
    page = get(f"{public}/id/person/mei-tanaka", Accept="text/html")
    assert page.status == 200, page.text[:300]
    assert 'href="/kg/static/style.css"' in page.text
    assert 'href="/kg/id/person/mei-tanaka.ttl"' in page.text
    assert get(f"{public}/static/style.css").status == 200
    query_page = get(f"{public}/", Accept="text/html")
    assert 'data-endpoint="/kg/sparql"' in query_page.text
    bundle = get(f"{public}/static/editor/editor.js", **{"Accept-Encoding": "gzip"})
    assert bundle.status == 200 and bundle.header("Content-Encoding") == "gzip"
    assert len(bundle.body) < 200_000  # compressed by nginx, as the documented block says
    # SPARQL, and the service description naming the public endpoint
    answer = get(f"{public}/sparql?query=" + quote("SELECT (COUNT(*) AS ?n) { ?s ?p ?o }"),
                 Accept="application/sparql-results+json")
    assert answer.status == 200
    assert int(json.loads(answer.body)["results"]["bindings"][0]["n"]["value"]) > 0
    sd = get(f"{public}/sparql", Accept="text/turtle")
    assert f"<{public}/sparql>" in sd.text
    # dumps: the listing links under /kg/, a file downloads whole
    listing = json.loads(get(f"{public}/dumps/", Accept="application/json").body)
    name = next(f["name"] for f in listing["files"] if f["name"].endswith(".nq.gz"))
    dump = get(f"{public}/dumps/{name}")
    assert dump.status == 200 and dump.body == (ROOT / "exports" / name).read_bytes()
    html = get(f"{public}/dumps/", Accept="text/html").text
    assert f'href="/kg/dumps/{name}"' in html
    assert f"curl -O {public}/dumps/latest/scholarkg.nq.gz" in html
    latest = get(f"{public}/dumps/latest/scholarkg.nq.gz")
    assert latest.status == 200 and latest.body == dump.body
    assert latest.header("Content-Location") == f"/kg/dumps/{name}"
    # VoID and the reconciliation manifest: absolute URLs with the prefix
    void = rdflib.Graph().parse(data=get(f"{front}/kg/.well-known/void",
                                         Accept="text/turtle").body, format="turtle")
    assert {str(o) for o in void.objects(None, VOID.sparqlEndpoint)} == {f"{public}/sparql"}
    assert f"{public}/dumps/{name}" in {str(o) for o in void.objects(None, VOID.dataDump)}
    manifest: dict[str, Any] = json.loads(get(f"{public}/reconcile").body)
    assert manifest["view"]["url"] == f"{public}/reconcile/view?id={{{{id}}}}"
    assert manifest["preview"]["url"].startswith(f"{public}/reconcile/preview")
    found = http_request(f"{public}/reconcile", method="POST",
                         body=b"queries=" + quote(json.dumps(
                             {"q0": {"query": "Mei Tanaka"}})).encode(),
                         headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert json.loads(found.body)["q0"]["result"], found.text[:300]
    # a browser sent to the endpoint lands on the query page under the prefix
    redirect = get(f"{public}/sparql?query=ASK%7B%7D", Accept="text/html")
    assert redirect.status == 303 and redirect.header("Location") == "/kg/?query=ASK%7B%7D"
