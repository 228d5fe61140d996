"""Dumps people can script: stable /dumps/latest/ names for the current release, and
checksums that check one downloaded file with the real ``sha256sum``."""

from __future__ import annotations

import gzip
import hashlib
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from tests.server_app import load_store, make_app

OLD, NEW = "2026-11-21", "2026-12-05"
SHA256SUM = shutil.which("sha256sum")


def get(client: FlaskClient, path: str, **kwargs: Any) -> TestResponse:
    return client.get(path, buffered=True, **kwargs)


def write_release(out: Path, release: str, extra: bytes = b"") -> None:
    """A release as ``kg export`` writes it: dated dumps, void.ttl, SHA256SUMS."""
    store = load_store()
    for ext, fmt in (("ttl", "turtle"), ("nt", "ntriples")):
        data = store.dump_graph(None, fmt) + extra
        (out / f"scholarkg-{release}.{ext}.gz").write_bytes(gzip.compress(data, mtime=0))
    (out / "void.ttl").write_text(f"# release {release}\n", encoding="utf-8")
    names = [f"scholarkg-{release}.nt.gz", f"scholarkg-{release}.ttl.gz", "void.ttl"]
    (out / "SHA256SUMS").write_text("".join(
        f"{hashlib.sha256((out / n).read_bytes()).hexdigest()}  {n}\n" for n in names))


@pytest.fixture
def exports(tmp_path: Path) -> Path:
    out = tmp_path / "exports"
    out.mkdir()
    write_release(out, OLD)
    return out


@pytest.fixture
def client(exports: Path) -> FlaskClient:
    return make_app(exports).test_client()


def test_a_stable_name_serves_the_current_release(client: FlaskClient, exports: Path) -> None:
    r = get(client, "/dumps/latest/scholarkg.ttl.gz")
    dated = exports / f"scholarkg-{OLD}.ttl.gz"
    assert r.status_code == 200 and r.data == dated.read_bytes()
    assert r.mimetype == "application/gzip"
    assert r.headers["Content-Location"] == f"/dumps/scholarkg-{OLD}.ttl.gz"
    assert 'filename=scholarkg.ttl.gz' in r.headers["Content-Disposition"]
    assert r.headers["ETag"] == f'"{hashlib.sha256(dated.read_bytes()).hexdigest()}"'
    assert r.headers["Cache-Control"] == "no-cache"
    part = get(client, "/dumps/latest/scholarkg.ttl.gz", headers={"Range": "bytes=0-9"})
    assert part.status_code == 206 and part.data == dated.read_bytes()[:10]
    assert get(client, "/dumps/latest/void.ttl").data == b"# release 2026-11-21\n"
    # a new export replaces the files: the same address now serves the new release
    for old in exports.iterdir():
        old.unlink()
    write_release(exports, NEW, extra=b"# new\n")
    r = get(client, "/dumps/latest/scholarkg.ttl.gz")
    assert r.data == (exports / f"scholarkg-{NEW}.ttl.gz").read_bytes()
    assert r.headers["Content-Location"] == f"/dumps/scholarkg-{NEW}.ttl.gz"


def test_two_releases_side_by_side_serve_the_newer(client: FlaskClient, exports: Path) -> None:
    store = load_store()
    (exports / f"scholarkg-{NEW}.ttl.gz").write_bytes(
        gzip.compress(store.dump_graph(None, "turtle") + b"# new\n", mtime=0))
    sums = (exports / "SHA256SUMS").read_text()
    digest = hashlib.sha256((exports / f"scholarkg-{NEW}.ttl.gz").read_bytes()).hexdigest()
    (exports / "SHA256SUMS").write_text(sums + f"{digest}  scholarkg-{NEW}.ttl.gz\n")
    listing = get(client, "/dumps/latest/", headers={"Accept": "application/json"}).get_json()
    assert {f["name"]: f["file"] for f in listing["files"]} == {
        "scholarkg.ttl.gz": f"scholarkg-{NEW}.ttl.gz", "void.ttl": "void.ttl"}
    r = get(client, "/dumps/latest/scholarkg.nt.gz")  # the newer release has no N-Triples
    assert r.status_code == 404
    assert "stable names: scholarkg.ttl.gz, void.ttl" in r.get_data(as_text=True)


def test_the_latest_index(client: FlaskClient, exports: Path) -> None:
    r = get(client, "/dumps/latest/", headers={"Accept": "application/json"})
    files = {f["name"]: f for f in r.get_json()["files"]}
    assert set(files) == {"scholarkg.ttl.gz", "scholarkg.nt.gz", "void.ttl"}
    ttl = files["scholarkg.ttl.gz"]
    assert ttl["href"] == "/dumps/latest/scholarkg.ttl.gz"
    assert ttl["file_href"] == f"/dumps/scholarkg-{OLD}.ttl.gz"
    assert ttl["size"] == (exports / f"scholarkg-{OLD}.ttl.gz").stat().st_size
    browser = get(client, "/dumps/latest/", headers={"Accept": "text/html"})
    assert browser.status_code == 303 and browser.headers["Location"] == "/dumps/"
    assert get(client, "/dumps/latest/nothing.nq.gz").status_code == 404
    assert get(client, "/dumps/latest/../SHA256SUMS").status_code == 404


def sha256sum_check(folder: Path, sums: str, *options: str) -> subprocess.CompletedProcess[str]:
    assert SHA256SUM, "sha256sum (coreutils) is missing"
    return subprocess.run([SHA256SUM, "-c", *options, sums], cwd=folder, capture_output=True,
                          text=True, timeout=30, check=False)


@pytest.mark.parametrize("saved_as", ["latest", "dated"])
def test_one_downloaded_file_checks_out(client: FlaskClient, exports: Path, tmp_path: Path,
                                        saved_as: str) -> None:
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    if saved_as == "latest":  # curl -O .../dumps/latest/scholarkg.nq.gz
        name, url, sums_url = "scholarkg.ttl.gz", "/dumps/latest/scholarkg.ttl.gz", \
            "/dumps/latest/SHA256SUMS"
    else:  # curl -O .../dumps/scholarkg-<release>.ttl.gz
        name = f"scholarkg-{OLD}.ttl.gz"
        url, sums_url = f"/dumps/{name}", "/dumps/SHA256SUMS"
    (downloads / name).write_bytes(get(client, url).data)
    (downloads / "SHA256SUMS").write_bytes(get(client, sums_url).data)
    (downloads / f"{name}.sha256").write_bytes(get(client, url + ".sha256").data)
    # the page's instructions: only the files that are there are checked
    done = sha256sum_check(downloads, "SHA256SUMS", "--ignore-missing")
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout == f"{name}: OK\n"
    done = sha256sum_check(downloads, f"{name}.sha256")
    assert done.returncode == 0 and done.stdout == f"{name}: OK\n"
    # and a damaged file fails both
    (downloads / name).write_bytes(b"damaged")
    assert sha256sum_check(downloads, "SHA256SUMS", "--ignore-missing").returncode == 1
    assert sha256sum_check(downloads, f"{name}.sha256").returncode == 1


def test_a_checksum_file_for_a_file_without_one_is_a_404(client: FlaskClient) -> None:
    r = get(client, "/dumps/SHA256SUMS.sha256")
    assert r.status_code == 404 and "no checksum" in r.get_data(as_text=True)


def test_the_dumps_page_lays_out_names_sizes_and_whole_hashes(client: FlaskClient,
                                                             exports: Path) -> None:
    html = get(client, "/dumps/", headers={"Accept": "text/html"}).get_data(as_text=True)
    for path in exports.glob("scholarkg-*.gz"):
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        assert f'<code class="hash" tabindex="0">{digest}</code>' in html
    sizes = re.findall(r'data-bytes="(\d+)">([^<]+)</td>', html)
    assert len(sizes) == 4  # two dumps, void.ttl, SHA256SUMS
    for raw, label in sizes:
        number, unit = label.split(" ")
        assert unit in ("B", "kB", "MB", "GB"), label
        assert unit != "B" or number == raw
    assert "Bytes" not in html
    assert "sha256sum -c --ignore-missing SHA256SUMS" in html
    assert 'href="/dumps/latest/scholarkg.ttl.gz"' in html
