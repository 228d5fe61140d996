"""Pages, entity descriptions and static files are gzip-compressed for clients that
accept it (server/web/compression.py): same content, a weak ETag for the compressed
bytes that still revalidates (304), and ``Vary: Accept-Encoding`` either way."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from tests.server_app import YUZHEN, make_app

GZIP = {"Accept-Encoding": "gzip"}


@pytest.fixture
def client(tmp_path: Path) -> FlaskClient:
    return make_app(tmp_path / "exports").test_client()


@pytest.mark.parametrize(("path", "accept"), [
    (f"/id/{YUZHEN}", "text/html"),
    (f"/id/{YUZHEN}", "text/turtle"),
    (f"/id/{YUZHEN}", "application/ld+json"),
    ("/", "text/html"),
    ("/dataset", "text/html"),
])
def test_pages_and_descriptions_are_compressed_and_revalidate(
        client: FlaskClient, path: str, accept: str) -> None:
    plain = client.get(path, headers={"Accept": accept})
    packed = client.get(path, headers={"Accept": accept, **GZIP})
    assert plain.status_code == packed.status_code == 200
    assert "Content-Encoding" not in plain.headers
    assert packed.headers["Content-Encoding"] == "gzip"
    assert gzip.decompress(packed.data) == plain.data
    assert len(packed.data) < len(plain.data)
    assert "accept-encoding" in plain.vary and "accept-encoding" in packed.vary
    strong, weak = plain.headers["ETag"], packed.headers["ETag"]
    assert not strong.startswith("W/") and weak == f"W/{strong}"
    for etag in (strong, weak):  # either validator gets 304 in either coding
        for extra in ({}, GZIP):
            again = client.get(path, headers={"Accept": accept, "If-None-Match": etag, **extra})
            assert again.status_code == 304, (etag, extra)
            assert "accept-encoding" in again.vary


def test_the_editor_script_is_compressed_once_and_revalidates(client: FlaskClient) -> None:
    path = "/static/editor/editor.js"
    with client.get(path) as plain, client.get(path, headers=GZIP) as packed:
        check_static(client, path, plain, packed)


def check_static(client: FlaskClient, path: str, plain: TestResponse,
                 packed: TestResponse) -> None:
    assert plain.status_code == packed.status_code == 200
    assert packed.headers["Content-Encoding"] == "gzip"
    assert gzip.decompress(packed.data) == plain.data
    assert len(packed.data) < len(plain.data) / 2
    assert int(packed.headers["Content-Length"]) == len(packed.data)
    assert packed.headers["ETag"] == "W/" + plain.headers["ETag"]
    assert "accept-encoding" in packed.vary and "accept-encoding" in plain.vary
    with client.get(path, headers=GZIP) as again:  # from memory, the same bytes
        assert again.data == packed.data
    with client.get(path, headers={"If-None-Match": packed.headers["ETag"], **GZIP}) as same:
        assert same.status_code == 304


def test_identity_clients_and_refusing_clients_get_the_body_as_it_is(
        client: FlaskClient) -> None:
    for encoding in ("identity", "gzip;q=0", "br"):
        r = client.get(f"/id/{YUZHEN}", headers={"Accept": "text/html",
                                                 "Accept-Encoding": encoding})
        assert "Content-Encoding" not in r.headers, encoding
        assert not r.headers["ETag"].startswith("W/")
