"""Reading input files: which files to read, and which parser reads each one.

``.jsonl`` files hold one record per line; any other file is UTF-8 text in one of the two text
layouts, told apart by its first lines. Nothing here raises for a bad document: unreadable,
empty, binary or non-UTF-8 files come back as :class:`~kg.errors.DocumentError` values.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from collections.abc import Iterable, Iterator
from itertools import islice
from pathlib import Path

from kg.errors import DocumentError
from kg.parse_collaborating_authors import parse_collaborating_authors
from kg.parse_jsonl import parse_jsonl
from kg.parse_profile_page import parse_profile_page, split_lines
from kg.records import SourceDocument

#: file name suffixes picked up when a folder is walked
INPUT_SUFFIXES = (".txt", ".jsonl")
_NEWLINE = re.compile(rb"\r\n|\r|\n")
#: control characters that never occur in text (tab, line and form feeds are allowed)
_CONTROL = re.compile(r"[\x00-\x08\x0e-\x1f\x7f]")
#: the same characters as UTF-8 bytes (in UTF-8 these bytes stand only for themselves)
_CONTROL_BYTES = bytes([*range(0x00, 0x09), *range(0x0E, 0x20), 0x7F])


def iter_input_files(paths: Iterable[Path | str]) -> Iterator[Path]:
    """Files to read: each file as given, each folder walked recursively in sorted order for
    ``*.txt`` and ``*.jsonl`` files, hidden files and folders skipped.

    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     root = Path(tmp)
    ...     for name in ("b.txt", "a/c.jsonl", "a/.hidden.txt", "notes.md"):
    ...         (root / name).parent.mkdir(exist_ok=True)
    ...         _ = (root / name).write_text("x")
    ...     [p.relative_to(root).as_posix() for p in iter_input_files([root])]
    ['a/c.jsonl', 'b.txt']
    """
    for given in paths:
        path = Path(given)
        if not path.is_dir():
            yield path  # a missing file is reported when it is read
            continue
        found = (
            candidate
            for candidate in path.rglob("*")
            if candidate.suffix.lower() in INPUT_SUFFIXES
            and not any(part.startswith(".") for part in candidate.relative_to(path).parts)
            and candidate.is_file()
        )
        yield from sorted(found)


def read_documents(path: Path, *, as_of: dt.date) -> Iterator[SourceDocument | DocumentError]:
    """The documents in one file: one per JSON Lines record, or one for a text file.

    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     empty = Path(tmp) / "empty.txt"
    ...     _ = empty.write_bytes(b"")
    ...     [str(error).removeprefix(tmp) for error in read_documents(empty, as_of=dt.date.today())]
    ['/empty.txt: empty document']
    """
    name = str(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        yield DocumentError(name, None, f"cannot read: {exc.strerror or exc}")
        return
    if path.suffix.lower() == ".jsonl":
        nul = data.find(b"\x00")
        if nul >= 0:
            yield DocumentError(name, _line_at(data, nul), f"binary file: NUL byte at offset {nul}")
        else:
            yield from parse_jsonl(data, path=name, as_of=as_of)
        return
    try:
        yield _text_document(data, path=name, as_of=as_of)
    except DocumentError as exc:
        yield exc


def _line_at(data: bytes, offset: int) -> int:
    return len(_NEWLINE.findall(data, 0, offset)) + 1


def _text_document(data: bytes, *, path: str, as_of: dt.date) -> SourceDocument:
    if not data.strip():
        raise DocumentError(path, None, "empty document" + (" (only whitespace)" if data else ""))
    nul = data.find(b"\x00")
    if nul >= 0:
        raise DocumentError(path, _line_at(data, nul), f"binary file: NUL byte at offset {nul}")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DocumentError(
            path,
            _line_at(data, exc.start),
            f"not UTF-8: invalid byte 0x{data[exc.start]:02x} at byte offset {exc.start}",
        ) from exc
    if not text.removeprefix("\ufeff").strip():  # a BOM, no-break or ideographic spaces
        raise DocumentError(path, None, "empty document (only whitespace)")
    # a delete-translate of the bytes screens for control characters several times faster
    # than a regular expression scan of the text; the scan only finds the first of them
    has_control = len(data.translate(None, _CONTROL_BYTES)) != len(data)
    control = _CONTROL.search(text) if has_control else None
    if control is not None:
        offset = len(text[: control.start()].encode("utf-8"))
        raise DocumentError(
            path,
            _line_at(data, offset),
            f"binary file: control character U+{ord(control.group()):04X} at byte offset {offset}",
        )
    if _is_collaborating_authors(text):
        profile = parse_collaborating_authors(text, path=path)
    else:
        profile = parse_profile_page(text, path=path, as_of=as_of)
    return SourceDocument(
        path=path, sha256=hashlib.sha256(data).hexdigest(), as_of=as_of, profile=profile
    )


def _is_collaborating_authors(text: str) -> bool:
    # blank lines are whitespace only, so the first non-blank line (stripped) starts the
    # text without its leading whitespace: most documents are told apart without a split
    if not text.removeprefix("\ufeff").lstrip().startswith("Goto"):
        return False
    non_blank = (line.strip() for line in split_lines(text) if line.strip())
    return list(islice(non_blank, 2)) == ["Goto", "Collaborating Authors"]
