"""Reading files: which files, which layout, and what bad files turn into."""

from __future__ import annotations

import datetime as dt
import hashlib
import shutil
import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kg.errors import DocumentError
from kg.parse.detect import iter_input_files, read_documents
from kg.parse.records import SourceDocument

DATA = Path(__file__).parent / "data" / "parsing"
AS_OF = dt.date(2026, 11, 21)


def read(path: Path) -> list[SourceDocument | DocumentError]:
    return list(read_documents(path, as_of=AS_OF))


def read_one(path: Path) -> SourceDocument | DocumentError:
    (result,) = read(path)
    return result


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


# --- layouts -------------------------------------------------------------------------------


def test_profile_page_is_layout_a() -> None:
    path = DATA / "profile_page.txt"
    document = read_one(path)
    assert isinstance(document, SourceDocument)
    assert document.profile.layout == "scored-profile-page"
    assert document.path == str(path)
    assert document.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert (document.as_of, document.line) == (AS_OF, None)
    assert len(document.profile.papers) == 3


def test_collaborating_authors_is_layout_b() -> None:
    document = read_one(DATA / "collaborating_authors.txt")
    assert isinstance(document, SourceDocument)
    assert document.profile.layout == "collaborating-authors"
    assert document.profile.name == "Ada Lovelace"


def test_layout_b_is_detected_after_blank_lines_and_with_crlf(tmp_path: Path) -> None:
    text = (DATA / "collaborating_authors.txt").read_bytes().replace(b"\n", b"\r\n")
    document = read_one(write(tmp_path, "b.txt", b"\r\n\r\n" + text))
    assert isinstance(document, SourceDocument)
    assert document.profile.layout == "collaborating-authors"


def test_goto_alone_is_read_as_layout_a(tmp_path: Path) -> None:
    failure = read_one(write(tmp_path, "a.txt", b"Goto\n\nSomething else\n"))
    assert isinstance(failure, DocumentError)
    assert (failure.line, failure.reason) == (
        3,
        "expected a category code like 'LG', found 'Something else'",
    )


def test_json_lines_give_one_result_per_record() -> None:
    results = read(DATA / "profiles.jsonl")
    assert [type(r).__name__ for r in results] == [
        "SourceDocument",
        "SourceDocument",
        "DocumentError",
        "DocumentError",
    ]
    assert [r.line for r in results] == [1, 3, 4, 5]
    assert all(r.path == str(DATA / "profiles.jsonl") for r in results)


def test_suffixes_are_case_insensitive(tmp_path: Path) -> None:
    path = write(tmp_path, "P.JSONL", b'{"name": "A"}\n')
    document = read_one(path)
    assert isinstance(document, SourceDocument)
    assert document.profile.layout == "jsonl"


def test_utf8_bom_is_accepted(tmp_path: Path) -> None:
    data = b"\xef\xbb\xbf" + (DATA / "profile_page.txt").read_bytes()
    document = read_one(write(tmp_path, "bom.txt", data))
    assert isinstance(document, SourceDocument)
    assert document.sha256 == hashlib.sha256(data).hexdigest()


# --- bad files -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "data", "line", "reason"),
    [
        ("empty.txt", b"", None, "empty document"),
        ("blank.txt", b" \n\r\n\t", None, "empty document (only whitespace)"),
        ("empty.jsonl", b"", None, "empty document: no JSON records"),
        (
            "latin1.txt",
            b"Ada\n\nLG\nh-index7\nJos\xe9\n",
            5,
            "not UTF-8: invalid byte 0xe9 at byte offset 20",
        ),
        ("crlf.txt", b"Ada\r\n\r\nNa\xefve", 3, "not UTF-8: invalid byte 0xef at byte offset 9"),
        ("nul.txt", b"Ada\n\nL\x00G\n", 3, "binary file: NUL byte at offset 6"),
        ("nul.jsonl", b'{"name": "A"}\n\x00', 2, "binary file: NUL byte at offset 14"),
        (
            "control.txt",
            b"Ada\n\xc3\xa9\x01\n",
            2,
            "binary file: control character U+0001 at byte offset 6",
        ),
        (
            "garbage.txt",
            bytes(range(255, 0, -1)),
            1,
            "not UTF-8: invalid byte 0xff at byte offset 0",
        ),
        (
            "truncated.txt",
            b"Ada Lovelace\n\nLG\nh-index7\n",
            4,
            "expected '<int>papers', found end of document",
        ),
    ],
)
def test_bad_files_are_document_errors(
    tmp_path: Path, name: str, data: bytes, line: int | None, reason: str
) -> None:
    path = write(tmp_path, name, data)
    failure = read_one(path)
    assert isinstance(failure, DocumentError)
    assert (failure.path, failure.line, failure.reason) == (str(path), line, reason)


def test_missing_file_and_folder_are_document_errors(tmp_path: Path) -> None:
    for path in (tmp_path / "missing.txt", tmp_path):
        failure = read_one(path)
        assert isinstance(failure, DocumentError)
        assert (failure.path, failure.line) == (str(path), None)
        assert failure.reason.startswith("cannot read: ")


@settings(max_examples=100, deadline=None, database=None)
@given(st.binary(max_size=300), st.sampled_from(["x.txt", "x.jsonl", "x.dat"]))
def test_any_bytes_give_documents_or_errors(data: bytes, name: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        results = read(write(Path(tmp), name, data))
    assert results
    assert all(isinstance(r, SourceDocument | DocumentError) for r in results)
    if not name.endswith(".jsonl"):
        assert len(results) == 1


# --- which files ---------------------------------------------------------------------------


def test_folders_are_walked_recursively_in_sorted_order(tmp_path: Path) -> None:
    for name in (
        "b.txt",
        "a.jsonl",
        "sub/z.txt",
        "sub/deeper/y.JSONL",
        "sub/.hidden.txt",
        ".git/x.txt",
        "notes.md",
        "data.json",
        "sub/readme",
    ):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("x")
    (tmp_path / "folder.txt").mkdir()
    found = [p.relative_to(tmp_path).as_posix() for p in iter_input_files([tmp_path])]
    assert found == ["a.jsonl", "b.txt", "sub/deeper/y.JSONL", "sub/z.txt"]


def test_files_are_taken_as_given(tmp_path: Path) -> None:
    hidden = write(tmp_path, ".hidden.md", b"x")
    missing = tmp_path / "missing.txt"
    assert list(iter_input_files([hidden, str(missing), hidden])) == [hidden, missing, hidden]


def test_a_folder_inside_a_hidden_folder_given_explicitly_is_walked(tmp_path: Path) -> None:
    folder = tmp_path / ".cache" / "inputs"
    folder.mkdir(parents=True)
    shutil.copy(DATA / "profile_page.txt", folder / "p.txt")
    assert list(iter_input_files([folder])) == [folder / "p.txt"]
