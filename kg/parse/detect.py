"""Reading input files: which files to read, and which parser reads each one.

``.jsonl`` files hold one record per line; any other file is UTF-8 text in one of the two text
layouts, told apart by its first lines. Nothing here raises for a bad document: unreadable,
empty, binary or non-UTF-8 files come back as :class:`~kg.errors.DocumentError` values.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path

from kg.errors import DocumentError
from kg.parse.collaborating_authors import parse_collaborating_authors
from kg.parse.jsonl import parse_jsonl
from kg.parse.profile_page import parse_profile_page, split_lines
from kg.parse.records import SourceDocument

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


@dataclass
class InputScan:
    """What a set of input paths holds: the files to read, with their documents and
    bytes, and every file or folder left out with the reason why."""

    files: list[Path] = field(default_factory=list)
    documents: int = 0
    bytes: int = 0
    #: (path, why it is not read)
    skipped: list[tuple[Path, str]] = field(default_factory=list)
    #: documents per file, in the order of ``files``
    documents_per_file: list[int] = field(default_factory=list)
    bytes_per_file: list[int] = field(default_factory=list)


def count_documents(path: Path) -> int:
    """How many documents a file holds: its non-blank lines for JSON Lines, else 1.

    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     records = Path(tmp) / "r.jsonl"
    ...     _ = records.write_bytes(b'{"a": 1}\\n\\n  \\n{"b": 2}')
    ...     count_documents(records), count_documents(Path(tmp) / "missing.txt")
    (2, 1)
    """
    if path.suffix.lower() != ".jsonl":
        return 1  # an unreadable or empty text file is one document, reported when read
    try:
        with path.open("rb") as lines:
            return sum(1 for line in lines if line.strip())
    except OSError:
        return 1  # reported when read


def scan_inputs(paths: Iterable[Path | str]) -> InputScan:
    """The files :func:`iter_input_files` reads, counted, and what a folder walk leaves out:
    files of other kinds, hidden files and hidden folders (each folder once).

    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     root = Path(tmp)
    ...     for name in ("b.txt", "a/c.jsonl", "a/.hidden.txt", "notes.md", ".git/x"):
    ...         (root / name).parent.mkdir(exist_ok=True)
    ...         _ = (root / name).write_text("x")
    ...     scan = scan_inputs([root])
    ...     [p.relative_to(root).as_posix() for p in scan.files], scan.documents
    ...     for path, why in scan.skipped:
    ...         print(path.relative_to(root).as_posix(), why, sep=": ")
    (['a/c.jsonl', 'b.txt'], 2)
    .git: hidden folder
    a/.hidden.txt: hidden file
    notes.md: not a .txt or .jsonl file
    """
    scan = InputScan()
    for given in paths:
        path = Path(given)
        if path.is_dir():
            for candidate in sorted(_walk(path)):
                if candidate.name.startswith("."):
                    why = "hidden folder" if candidate.is_dir() else "hidden file"
                    scan.skipped.append((candidate, why))
                elif candidate.is_dir():
                    scan.skipped.append((candidate, "a link to a folder (not followed)"))
                elif candidate.suffix.lower() not in INPUT_SUFFIXES:
                    scan.skipped.append((candidate, "not a .txt or .jsonl file"))
                elif not candidate.is_file():
                    scan.skipped.append((candidate, "not a regular file"))
                else:
                    _add(scan, candidate)
        else:
            _add(scan, path)  # a file named on the command line is read whatever its name
    return scan


def _walk(folder: Path) -> Iterator[Path]:
    """Every file below ``folder``, and each hidden entry itself (a hidden folder is not
    entered: a .git folder is one line of the report, not thousands)."""
    for root, dirs, files in os.walk(folder):
        here = Path(root)
        for name in [d for d in dirs if d.startswith(".") or (here / d).is_symlink()]:
            dirs.remove(name)  # os.walk would not enter a linked folder either
            yield here / name
        for name in files:
            yield here / name


def _add(scan: InputScan, path: Path) -> None:
    documents = count_documents(path)
    try:
        size = path.stat().st_size
    except OSError:
        size = 0
    scan.files.append(path)
    scan.documents += documents
    scan.bytes += size
    scan.documents_per_file.append(documents)
    scan.bytes_per_file.append(size)


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
