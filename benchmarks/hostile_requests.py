"""Hostile HTTP requests against a running ``kg serve``, and what their answers must not be.

Shared by the fuzzing run (``benchmarks/fuzz_server.py``) and the test
(``tests/test_hostile_requests.py``). Requests are raw bytes sent on a fresh socket, so
they can be as malformed as anyone likes: random and mutated SPARQL, bad percent-encoding
and invalid UTF-8, huge bodies and URLs, odd methods and headers, Content-Length that lies,
path traversal on ``/dumps/`` and entity paths, markup and script everywhere.

:func:`check_reply` says what is wrong with an answer: a 5xx other than a 503 that says
why (timeout, busy) or a 501 for an unknown transfer coding, no answer at all to a
well-formed request, a file from outside the exports folder, or markup sent to a browser
unescaped.

>>> ctx = Context(port=1, entity_paths=["/id/person/a"], dumps=["void.ttl"])
>>> a, b = make_request(5, 1, ctx), make_request(5, 1, ctx)
>>> a == b and a.raw.startswith(a.raw.split(b" ", 1)[0])
True
>>> head = b"HTTP/1.1 200 OK\\r\\nTransfer-Encoding: chunked\\r\\n\\r\\n"
>>> parse_reply(head + b"3\\r\\nabc\\r\\n0\\r\\n\\r\\n").body
b'abc'
"""

from __future__ import annotations

import hashlib
import random
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

#: payloads that must never reach an HTML page as markup
MARKUP = ("<script>alert(1)</script>", '"><img src=x onerror=alert(1)>',
          "</textarea><svg onload=alert(1)>", "<iframe src=javascript:alert(1)>")
#: what would show that markup got through unescaped
MARKUP_SIGNS = ("<script>alert(1)", "<img src=x onerror", "<svg onload", "<iframe src=javascript",
                "';alert(String.fromCharCode")
#: what a leaked system file looks like
LEAK_SIGNS = (b"root:x:0:0:", b"[build-system]", b"def create_app(")

READ_LIMIT = 64 * 1024 * 1024


# --------------------------------------------------------------------------- the wire


@dataclass
class Reply:
    """An answer: status None when the server closed (or stayed silent) without one."""

    status: int | None
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    error: str | None = None
    seconds: float = 0.0

    def header(self, name: str) -> str:
        return self.headers.get(name.lower(), "")


def _dechunk(data: bytes) -> bytes:
    out = bytearray()
    while data:
        size_line, sep, rest = data.partition(b"\r\n")
        if not sep:
            break
        try:
            size = int(size_line.split(b";")[0].strip() or b"0", 16)
        except ValueError:
            break
        if size == 0:
            break
        out += rest[:size]
        data = rest[size + 2:]
    return bytes(out)


def parse_reply(data: bytes) -> Reply:
    head, sep, body = data.partition(b"\r\n\r\n")
    if not sep or not head.startswith(b"HTTP/"):
        return Reply(None, error=f"no HTTP answer ({len(data)} bytes)" if data else "no answer")
    lines = head.decode("latin-1").split("\r\n")
    try:
        status = int(lines[0].split(" ", 2)[1])
    except (IndexError, ValueError):
        return Reply(None, error=f"bad status line {lines[0][:80]!r}")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        key = name.strip().lower()
        headers[key] = f"{headers[key]}, {value.strip()}" if key in headers else value.strip()
    if "chunked" in headers.get("transfer-encoding", "").lower():
        body = _dechunk(body)
    return Reply(status, headers, body)


def send_raw(port: int, data: bytes, *, timeout: float = 30.0, shut_write: bool = False,
             host: str = "127.0.0.1") -> Reply:
    """Send ``data`` on a fresh connection and read until the server closes it.

    ``shut_write`` closes our sending side after the data (a client that promised more
    body than it sent). Everything is bounded by ``timeout``.
    """
    started = time.monotonic()
    deadline = started + timeout
    chunks: list[bytes] = []
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            try:
                sock.sendall(data)
                if shut_write:
                    sock.shutdown(socket.SHUT_WR)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the server answered (413, 414) before reading everything
            size = 0
            while time.monotonic() < deadline and size < READ_LIMIT:
                sock.settimeout(max(0.05, deadline - time.monotonic()))
                try:
                    chunk = sock.recv(256 * 1024)
                except TimeoutError:
                    break
                except ConnectionResetError:
                    break
                if not chunk:
                    break
                chunks.append(chunk)
                size += len(chunk)
    except OSError as exc:
        reply = Reply(None, error=f"{type(exc).__name__}: {exc}")
        reply.seconds = time.monotonic() - started
        return reply
    reply = parse_reply(b"".join(chunks))
    reply.seconds = time.monotonic() - started
    return reply


def build(method: str, target: str | bytes, *, headers: list[tuple[str, str]] | None = None,
          body: bytes = b"", version: str = "HTTP/1.1", host: str = "127.0.0.1",
          content_length: bool = True) -> bytes:
    """Request bytes; Host and Connection: close are added unless given."""
    target_bytes = target if isinstance(target, bytes) else target.encode("latin-1")
    given = {name.lower() for name, _ in headers or []}
    lines = [f"{method} ".encode("latin-1") + target_bytes + f" {version}".encode("latin-1")]
    all_headers = list(headers or [])
    if "host" not in given:
        all_headers.insert(0, ("Host", host))
    if "connection" not in given:
        all_headers.append(("Connection", "close"))
    if body and content_length and "content-length" not in given \
            and "transfer-encoding" not in given:
        all_headers.append(("Content-Length", str(len(body))))
    lines += [f"{name}: {value}".encode("latin-1", "replace") for name, value in all_headers]
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


# --------------------------------------------------------------------------- generating


@dataclass
class Context:
    """What the generators aim at: the served entities and dump files."""

    port: int
    entity_paths: list[str]
    dumps: list[str]
    #: entity pages whose titles or names carry MARKUP (must come back escaped)
    markup_paths: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class HostileRequest:
    kind: str
    raw: bytes
    body: bytes = b""
    #: False when the request is malformed enough that closing without an answer is fine
    well_formed: bool = True
    shut_write: bool = False
    timeout: float = 30.0


SEED_QUERIES = (
    "SELECT * WHERE { ?s ?p ?o } LIMIT 10",
    "PREFIX schema: <https://schema.org/> SELECT ?p ?n WHERE { ?p a schema:Person ; "
    "schema:name ?n } ORDER BY ?n LIMIT 20",
    "ASK { ?s ?p ?o }",
    "CONSTRUCT { ?s ?p ?o } WHERE { ?s ?p ?o } LIMIT 5",
    "DESCRIBE <https://w3id.org/scholarkg/id/dataset>",
    "SELECT (COUNT(*) AS ?n) WHERE { GRAPH ?g { ?s ?p ?o } }",
    "SELECT ?g (COUNT(*) AS ?n) WHERE { GRAPH ?g { ?s ?p ?o } } GROUP BY ?g LIMIT 3",
    'SELECT ?s WHERE { ?s ?p ?o FILTER(REGEX(STR(?o), "a.*b", "i")) } LIMIT 3',
    "SELECT ?x WHERE { VALUES ?x { 1 2.5 \"x\"@en <http://e/x> } }",
    "SELECT * WHERE { SERVICE <http://127.0.0.1:9/sparql> { ?s ?p ?o } }",
    "SELECT * WHERE { OPTIONAL { ?s ?p ?o } } LIMIT 1",
    "SELECT (STRLEN(REPLACE(\"aaaa\", \"a\", \"bb\")) AS ?l) {}",
    "SELECT ?o WHERE { ?s <https://schema.org/name> ?o FILTER(CONTAINS(?o, \"<script>\")) }",
)
SPARQL_TOKENS = ("{", "}", "(", ")", "<", ">", '"', "'", "\\", "#", "?", "$", ";", ".", ",",
                 " SERVICE <http://x/> { } ", " SERVICE SILENT ?e { } ",
                 " LOAD <file:///etc/passwd> ",
                 " \\u0053ERVICE <http://x/> {} ", " FILTER(", " GRAPH ?g ", " UNION ",
                 "\u0000", "\ud7ff", "\U0001f600", "\u202e", " a ", " ^^ ", "@en-", "1e999999",
                 '"""', "<<", ">>", " OPTIONAL ", " MINUS ", " BIND(", " AS ", " VALUES ",
                 " LIMIT -1 ", " OFFSET 99999999999999999999 ", " ORDER BY ", MARKUP[0])


def mutate_query(text: str, rng: random.Random) -> str:
    for _ in range(rng.randint(1, 4)):
        choice = rng.random()
        i = rng.randrange(len(text) + 1)
        if choice < 0.35:
            text = text[:i] + rng.choice(SPARQL_TOKENS) + text[i:]
        elif choice < 0.6 and text:
            j = min(len(text), i + rng.randint(1, 10))
            text = text[:i] + text[j:]
        elif choice < 0.75:
            text = text[:i]
        elif choice < 0.85:
            text = text * rng.randint(2, 4)
        else:
            code = rng.choice((rng.randrange(0x20, 0x7f), rng.randrange(0xa0, 0xd7ff),
                               rng.randrange(0x1, 0x20)))
            text = text[:i] + chr(code) + text[i:]
    return text


def _encode(text: str, rng: random.Random) -> bytes:
    """``text`` for a URL: properly percent-encoded, or not quite."""
    choice = rng.random()
    raw = text.encode("utf-8", "surrogatepass")
    if choice < 0.6:
        return quote(raw, safe="").encode()
    if choice < 0.7:  # raw non-ASCII bytes in the request line
        return quote(raw, safe="/:?=&\x80\x81").encode("latin-1", "ignore") + bytes(
            [rng.randrange(0x80, 0x100)])
    if choice < 0.85:  # bad percent-encoding
        encoded = quote(raw, safe="")
        i = rng.randrange(len(encoded) + 1)
        return (encoded[:i] + rng.choice(["%", "%G1", "%e9", "%c0%ae", "%ed%a0%80", "%ff%fe",
                                          "%00", "%2", "%%"]) + encoded[i:]).encode()
    return quote(raw, safe="").replace("%20", "+").encode()


ODD_METHODS = ("PROPFIND", "TRACE", "CONNECT", "BREW", "PATCH", "DELETE", "PUT", "OPTIONS",
               "HEAD", "MKCOL", "get", "G\x00T", "X" * 300, "POST", "LINK", "SEARCH")
PATHS = ("/", "/sparql", "/sparql/", "/store", "/store?default", "/dumps/", "/healthz",
         "/metrics", "/dataset", "/ns", "/ns.ttl", "/ns/context.jsonld", "/.well-known/void",
         "/static/style.css", "/id/", "/nope", "/id/person/")
TRAVERSALS = (
    "/dumps/../../etc/passwd", "/dumps/..%2f..%2fetc%2fpasswd", "/dumps/%2e%2e/%2e%2e/etc/passwd",
    "/dumps/%252e%252e%252fetc%252fpasswd", "/dumps/..%5c..%5cetc%5cpasswd",
    "/dumps/..\\..\\etc\\passwd", "/dumps/%c0%ae%c0%ae/%c0%ae%c0%ae/etc/passwd",
    "/dumps/%c0%af..%c0%afetc%c0%afpasswd", "/dumps/passwd%00.ttl", "/dumps/%00",
    "/dumps//etc/passwd", "/dumps/.%2e/pyproject.toml", "/dumps/../pyproject.toml",
    "/dumps/passwd", "/dumps/leak", "/dumps/.hidden", "/dumps/%2fetc%2fpasswd",
    "/dumps/....//....//etc/passwd", "/dumps/..%252f..%252fREADME.md", "/dumps/SHA256SUMS/..",
    "/id/../../etc/passwd", "/id/..%2f..%2fetc%2fpasswd", "/id/%2e%2e/%2e%2e/etc/passwd",
    "/id/%252e%252e/etc/passwd", "/id/..\\..\\etc\\passwd", "/id/person/%00", "/id/%c0%ae%c0%ae/x",
    "/id/person/..%2f..%2f..%2fpyproject.toml", "/static/../../pyproject.toml",
    "/static/..%2f..%2fpyproject.toml", "/static/%2e%2e/%2e%2e/kg/storage/store.py",
    "/static/..%5c..%5cpyproject.toml", "/ns/../README.md", "/ns/..%2f..%2fREADME.md",
    "/../../../etc/passwd", "//etc/passwd", "/%2e%2e/%2e%2e/etc/passwd", "/.git/config",
    "/dumps/%2e%2e%2f%2e%2e%2fserver%2fsettings.py", "/id/person/x%2f..%2f..%2f..%2fetc%2fpasswd",
)
ACCEPTS = ("*/*", "text/html", "application/json", "text/turtle", "application/ld+json",
           "application/sparql-results+json", "text/csv", "application/n-triples",
           "image/png", "", "text/html;q=0, */*;q=0", "text/*;q=abc", "*/*;q=2",
           ";;;,,,", "text/html;level=1;q=0.9, */*;q=0.1")


def _absurd_accept(rng: random.Random) -> str:
    types = ("text/html", "text/turtle", "application/json", "*/*", "text/*", "x/y")
    return ", ".join(f"{rng.choice(types)};q=0.{rng.randrange(1000):03d}"
                     for _ in range(rng.choice((100, 500, 1000))))


def _get(target: str | bytes, accept: str = "*/*", extra: list[tuple[str, str]] | None = None,
         ) -> bytes:
    headers = [("Accept", accept)] if accept else []
    return build("GET", target, headers=headers + (extra or []))


def make_request(number: int, seed: int, ctx: Context) -> HostileRequest:
    """Request ``number``: a pure function of the seed, the number and the context."""
    rng = random.Random(f"{seed}:request:{number}")
    family = rng.choices(
        ["sparql_get", "sparql_post", "huge", "method", "headers", "traversal", "markup",
         "entity", "graph_store", "plain"],
        weights=[22, 14, 3, 6, 10, 10, 12, 12, 5, 6])[0]
    return globals()[f"_{family}"](rng, ctx)


def _query(rng: random.Random) -> str:
    text = rng.choice(SEED_QUERIES)
    return mutate_query(text, rng) if rng.random() < 0.75 else text


def _sparql_get(rng: random.Random, ctx: Context) -> HostileRequest:
    target = b"/sparql?query=" + _encode(_query(rng), rng)
    if rng.random() < 0.2:
        target += rng.choice([b"&query=ASK{}", b"&update=CLEAR%20ALL", b"&default-graph-uri=x%20y",
                              b"&named-graph-uri=http://a%25zz", b"&format=nope",
                              b"&format=text/html", b"&default-graph-uri=" + _encode(
                                  "http://e/" + MARKUP[0], rng)])
    well_formed = b"%ff" not in target and all(b < 0x80 for b in target)
    return HostileRequest("sparql_get", _get(target, rng.choice(ACCEPTS)),
                          well_formed=well_formed)


def _sparql_post(rng: random.Random, ctx: Context) -> HostileRequest:
    text = _query(rng)
    choice = rng.random()
    if choice < 0.4:
        ctype = rng.choice(["application/x-www-form-urlencoded",
                            "application/x-www-form-urlencoded; charset=latin-1",
                            "application/x-www-form-urlencoded; charset=UTF-8"])
        body = rng.choice([b"query=", b"update=", b"query=ASK{}&query="]) + _encode(text, rng)
    elif choice < 0.8:
        ctype = rng.choice(["application/sparql-query", "application/sparql-update",
                            "application/sparql-query; charset=utf-16", "text/plain", "",
                            "multipart/form-data; boundary=x", "application/json"])
        body = text.encode("utf-8", "surrogatepass")
        if rng.random() < 0.3:
            body += rng.choice([b"\xff", b"\xc0\xaf", b"\xed\xa0\x80", b"\x00"])
    else:
        ctype = "application/sparql-update"
        body = rng.choice([b"CLEAR ALL", b"DROP GRAPH <http://x>", b"LOAD <file:///etc/passwd>",
                           b'INSERT DATA { <http://a> <http://b> "' + MARKUP[0].encode() + b'" }'])
    headers = [("Content-Type", ctype)] if ctype else []
    if rng.random() < 0.2:
        headers.append(("Authorization", rng.choice(["Bearer x", "Bearer ", "Basic Zm9vOmJhcg==",
                                                      "Bearer " + "a" * 5000])))
    path = rng.choice(["/sparql", "/sparql/", "/sparql?query=ASK%7B%7D"])
    return HostileRequest("sparql_post", build("POST", path, headers=headers, body=body), body)


def _huge(rng: random.Random, ctx: Context) -> HostileRequest:
    choice = rng.random()
    if choice < 0.3:  # a URL over KG_MAX_URL_BYTES, or far over
        size = rng.choice((17_000, 200_000, 2_000_000))
        target = b"/sparql?query=" + b"%20" * (size // 3)
        return HostileRequest("huge_url", _get(target), well_formed=size < 1_000_000)
    if choice < 0.55:  # a body that says it is huge and is not
        claimed = str(rng.choice((10**9, 10**15)))
        raw = build("POST", "/sparql", headers=[("Content-Type", "application/sparql-query"),
                                                ("Content-Length", claimed)],
                    body=b"SELECT * {}")
        return HostileRequest("huge_body_claimed", raw, shut_write=True)
    if choice < 0.8:  # a query over KG_MAX_QUERY_BYTES
        body = b"ASK {} #" + b"x" * rng.choice((120_000, 900_000))
        raw = build("POST", "/sparql", headers=[("Content-Type", "application/sparql-query")],
                    body=body)
        return HostileRequest("huge_query", raw, body)
    body = b"<http://a> <http://b> <http://c> .\n" * 60_000  # 2 MB, over KG_MAX_BODY_BYTES
    raw = build("PUT", "/store?default", headers=[("Content-Type", "application/n-triples")],
                body=body)
    return HostileRequest("huge_body", raw, body)


def _method(rng: random.Random, ctx: Context) -> HostileRequest:
    method = rng.choice(ODD_METHODS)
    target = rng.choice(PATHS + tuple(ctx.entity_paths[:5]) + ("*", "127.0.0.1:443",
                                                               "http://127.0.0.1/etc/passwd"))
    well_formed = method.isalpha() and method.isupper() and len(method) < 20 \
        and target.startswith("/")
    return HostileRequest("method", build(method, target, headers=[("Accept", "*/*")]),
                          well_formed=well_formed)


def _headers(rng: random.Random, ctx: Context) -> HostileRequest:
    choice = rng.randrange(12)
    path = rng.choice(["/sparql?query=ASK%7B%7D", "/", "/dumps/", *ctx.entity_paths[:3]])
    if choice == 0:
        return HostileRequest("accept_absurd", _get(path, _absurd_accept(rng)))
    if choice == 1:
        raw = build("POST", "/sparql", headers=[("Content-Type", "application/sparql-query"),
                                                ("Content-Type", "text/plain")], body=b"ASK {}")
        return HostileRequest("content_type_twice", raw, b"ASK {}")
    if choice == 2:  # says more body than it sends, then stops sending
        raw = build("POST", "/sparql", headers=[("Content-Type", "application/sparql-query"),
                                                ("Content-Length", "500")], body=b"ASK {}")
        return HostileRequest("content_length_long", raw, shut_write=True, timeout=60)
    if choice == 3:  # says less body than it sends (the rest looks like a next request)
        raw = build("POST", "/sparql", headers=[("Content-Type", "application/sparql-query"),
                                                ("Content-Length", "3")],
                    body=b"ASK {}\r\nGET /etc/passwd HTTP/1.1\r\n\r\n")
        return HostileRequest("content_length_short", raw, well_formed=False)
    if choice == 4:
        value = rng.choice(["-5", "abc", "1e3", "0x10", " 6", "6, 6", "99999999999999999999999"])
        raw = build("POST", "/sparql", headers=[("Content-Type", "application/sparql-query"),
                                                ("Content-Length", value)], body=b"ASK {}")
        return HostileRequest("content_length_bad", raw, well_formed=False, shut_write=True)
    if choice == 5:
        raw = build("POST", "/sparql", headers=[("Content-Type", "application/sparql-query"),
                                                ("Transfer-Encoding", rng.choice(
                                                    ["chunked", "gzip, chunked", "chunked, chunked",
                                                     "identity", "bogus"]))],
                    body=rng.choice([b"6\r\nASK {}\r\n0\r\n\r\n", b"zz\r\nASK\r\n",
                                     b"6\r\nASK {}"]))
        return HostileRequest("transfer_encoding", raw, well_formed=False, shut_write=True)
    if choice == 6:
        name = rng.choice(ctx.dumps) if ctx.dumps else "void.ttl"
        ranges = rng.choice(["bytes=-1", "bytes=999999999-", "bytes=5-1", "bytes=0-0,1-1,2-2",
                             ",".join(f"{i}-{i}" for i in range(2000)), "lines=1-2", "bytes=--1"])
        return HostileRequest("range", _get(f"/dumps/{name}", "*/*", [("Range", f"{ranges}"),
                                                                      ("If-Range", "x")]))
    if choice == 7:
        extra = [(rng.choice(["If-None-Match", "If-Modified-Since", "Origin", "Cookie",
                              "Accept-Encoding", "Accept-Language", "X-Forwarded-For",
                              "Authorization"]), rng.choice(["*", "W/\"x\"", "garbage\x01",
                                                             "gzip;q=0, identity;q=0",
                                                             "a" * 8000, MARKUP[0]]))]
        return HostileRequest("odd_header", _get(path, rng.choice(ACCEPTS), extra))
    if choice == 8:
        extra = [(f"X-H{i}", "v") for i in range(rng.choice((50, 150, 500)))]
        return HostileRequest("many_headers", _get(path, "*/*", extra), well_formed=False)
    if choice == 9:
        version = rng.choice(["HTTP/1.0", "HTTP/2.0", "HTTP/9.9", "HTTP/1.1 extra", "FOO"])
        return HostileRequest("version", build("GET", path, version=version),
                              well_formed=version == "HTTP/1.0")
    if choice == 10:
        raw = rng.choice([b"\r\n\r\n", b"GET\r\n\r\n", b"GET /\r\n\r\n", b"\x16\x03\x01\x00\xa5",
                          bytes(rng.randbytes(200)),
                          b"GET / HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n",
                          b"GET / HTTP/1.1\r\nHost: x\r\nX: a\x00b\r\n\r\n",
                          b"GET / HTTP/1.1\r\nHost: x\r\n Folded: y\r\n\r\n"])
        return HostileRequest("garbage", raw, well_formed=False, shut_write=True, timeout=20)
    raw = build("GET", path, headers=[("Host", rng.choice(["", "evil.example", "a" * 300,
                                                           "127.0.0.1:99999", "[::1"]))])
    return HostileRequest("host", raw, well_formed=False)


def _traversal(rng: random.Random, ctx: Context) -> HostileRequest:
    target = rng.choice(TRAVERSALS)
    well_formed = "\\" not in target
    return HostileRequest("traversal", _get(target, rng.choice(ACCEPTS)), well_formed=well_formed)


def _markup(rng: random.Random, ctx: Context) -> HostileRequest:
    choice = rng.random()
    html = rng.choice(["text/html", "text/html,application/xhtml+xml,*/*;q=0.8"])
    payload = rng.choice(MARKUP)
    if choice < 0.4 and ctx.markup_paths:
        path = rng.choice(ctx.markup_paths)
        return HostileRequest("markup_page", _get(path + rng.choice(["", ".html"]), html))
    if choice < 0.55:
        return HostileRequest("markup_query_page", _get(b"/?query=" + _encode(payload, rng), html))
    if choice < 0.7:
        return HostileRequest("markup_sparql", _get(b"/sparql?query=" + quote(
            f"SELECT * WHERE {{ ?s ?p '{payload}' }}").encode(), html))
    if choice < 0.85:
        return HostileRequest("markup_404", _get(b"/id/" + quote(payload).encode(), html))
    return HostileRequest("markup_dumps", _get(b"/dumps/" + quote(payload).encode(), html))


def _entity(rng: random.Random, ctx: Context) -> HostileRequest:
    base = rng.choice(ctx.entity_paths) if ctx.entity_paths else "/id/person/x"
    choice = rng.random()
    if choice < 0.4:
        path = base + rng.choice(["", ".ttl", ".html", ".jsonld", ".nt", ".rdf", ".xyz", ".",
                                  "/", "//", ".ttl.ttl", "%2ettl", "?x=1", "#frag"])
    elif choice < 0.7:
        path = base + "/" + quote(mutate_query("observation/hIndex/2026-11-21", rng))
    else:
        path = "/id/" + _encode(mutate_query("person/yuzhen-huang", rng), rng).decode("latin-1")
    return HostileRequest("entity", _get(path, rng.choice(ACCEPTS)),
                          well_formed=all(ord(c) < 0x80 for c in path) and "#" not in path)


def _graph_store(rng: random.Random, ctx: Context) -> HostileRequest:
    method = rng.choice(["GET", "HEAD", "PUT", "POST", "DELETE"])
    target = rng.choice([b"/store?graph=" + _encode(rng.choice(
        ["http://x/" + MARKUP[0], "not an iri", "http://a%zz", "", "https://w3id.org/scholarkg/id/"
         "graph/author-links"]), rng), b"/store?default", b"/store?graph=a&graph=b",
                         b"/store/" + _encode("x/../y", rng), b"/store"])
    body = b"<http://a> <http://b> <http://c> ." if method in ("PUT", "POST") else b""
    headers = [("Content-Type", rng.choice(["text/turtle", "application/n-triples", "x/y"]))]
    return HostileRequest("graph_store", build(method, target, headers=headers, body=body), body,
                          well_formed=all(b < 0x80 for b in target) and b"%ff" not in target)


def _plain(rng: random.Random, ctx: Context) -> HostileRequest:
    return HostileRequest("plain", _get(rng.choice(PATHS), rng.choice(ACCEPTS)))


# --------------------------------------------------------------------------- checking


def forbidden_bodies(root: Path, served: list[Path]) -> set[str]:
    """SHA-256 of files no response may carry: system files and the repository's own
    files, except those it serves on purpose (static files, ontology, exports)."""
    allowed = {p.resolve() for folder in served for p in folder.rglob("*") if p.is_file()}
    digests: set[str] = set()
    candidates = [Path("/etc/passwd"), Path("/etc/hosts"), Path("/etc/hostname")]
    for folder in ("kg", "server", "tests", "benchmarks", "docs", "scripts"):
        candidates += [p for p in (root / folder).rglob("*") if p.is_file()
                       and "__pycache__" not in p.parts]
    candidates += [p for p in root.iterdir() if p.is_file()]
    for path in candidates:
        if path.resolve() in allowed:
            continue
        try:
            data = path.read_bytes()
        except OSError:
            continue
        if data:
            digests.add(hashlib.sha256(data).hexdigest())
    return digests


def check_reply(request: HostileRequest, reply: Reply, forbidden: set[str]) -> list[str]:
    """What is wrong with this answer (empty when nothing is)."""
    problems = []
    status = reply.status
    if status is None:
        if request.well_formed:
            problems.append(f"no answer: {reply.error}")
        return problems
    if status >= 500 and status not in (501, 503):  # 501: a transfer coding nobody knows
        problems.append(f"status {status}: {reply.body[:300]!r}")
    if status == 503:
        text = reply.body.decode("utf-8", "replace")
        if "KG_QUERY_TIMEOUT_S" not in text and "busy" not in text:
            problems.append(f"503 without a reason a client can act on: {text[:200]!r}")
    if 200 <= status < 300 and reply.body:
        if hashlib.sha256(reply.body).hexdigest() in forbidden:
            problems.append("served a file from outside the exports folder")
        for sign in LEAK_SIGNS:
            if sign in reply.body:
                problems.append(f"body holds {sign!r}: a leaked file")
    content_type = reply.header("content-type").lower()
    if "html" in content_type or reply.body.lstrip()[:15].lower().startswith(b"<!doctype html"):
        text = reply.body.decode("utf-8", "replace")
        for sign in MARKUP_SIGNS:
            if sign in text:
                problems.append(f"HTML holds unescaped markup {sign!r}")
    return problems
