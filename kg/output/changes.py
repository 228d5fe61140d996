"""Change sets between releases: the quads removed and the quads added.

``kg export`` writes, beside a release ``scholarkg-<new>.nq.gz`` whose folder held an
earlier release ``scholarkg-<old>.nq.gz``:

- ``scholarkg-<old>-to-<new>.removed.nq.gz``: quads of the old release not in the new;
- ``scholarkg-<old>-to-<new>.added.nq.gz``: quads of the new release not in the old;
- ``scholarkg-<old>-to-<new>.changes.json``: what the change set goes from and to, with
  the SHA-256 of both releases' N-Quads (the ``.nq.gz`` files and their decompressed
  text) and of the two change files.

Both change files are N-Quads in code-point order, gzip'd like the dumps: removing the
removed lines from the old release's N-Quads and merging in the added ones gives the
new release's N-Quads byte for byte. :func:`apply_change_set` (``kg apply-changes``)
does the same to a store, after checking that the store holds exactly the old release.
See ``docs/decisions/0009-change-sets.md``.

>>> release_name("scholarkg-2026-11-21.nq.gz"), is_change_file("scholarkg-a-to-b.added.nq.gz")
('2026-11-21', True)
>>> apply_to_lines([b"a\\n", b"b\\n", b"c\\n"], removed=[b"b\\n"], added=[b"bb\\n", b"d\\n"])
[b'a\\n', b'bb\\n', b'c\\n', b'd\\n']
"""

from __future__ import annotations

import bisect
import gzip
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from kg.errors import KgError
from kg.output.gzip_writer import GzipWriter
from kg.output.sorting import line_blocks, merge_sorted_blocks
from kg.storage.store import KnowledgeStore

FORMAT = "scholarkg-changes/1"
CHANGES_SUFFIX = ".changes.json"
REMOVED_SUFFIX = ".removed.nq.gz"
ADDED_SUFFIX = ".added.nq.gz"
_PREFIX = "scholarkg-"
#: quads removed from a store per transaction
REMOVE_BATCH = 20_000


class ChangeSetError(KgError):
    """A change set that cannot be applied: unreadable, damaged, or for another base."""


def is_change_file(name: str) -> bool:
    """True for the files of a change set (kept across exports)."""
    return name.startswith(_PREFIX) and name.endswith((CHANGES_SUFFIX, REMOVED_SUFFIX,
                                                       ADDED_SUFFIX))


def release_name(dump_name: str) -> str:
    """The release of a ``scholarkg-<release>.nq.gz`` file name."""
    name = Path(dump_name).name
    if not (name.startswith(_PREFIX) and name.endswith(".nq.gz")):
        raise KgError(f"{name} is not a release's N-Quads dump (scholarkg-<release>.nq.gz)")
    return name[len(_PREFIX):-len(".nq.gz")]


@dataclass(frozen=True)
class Part:
    """One file of a change set, or one release's N-Quads, as the metadata records it."""

    file: str
    size: int
    sha256: str
    quads: int
    #: SHA-256 of the decompressed N-Quads (releases only)
    nquads_sha256: str = ""


@dataclass(frozen=True)
class ChangeSet:
    """The metadata of a change set (``.changes.json``)."""

    name: str
    source: str
    target: str
    base: Part
    result: Part
    removed: Part
    added: Part

    def as_json(self) -> dict[str, Any]:
        return {"format": FORMAT, "from": self.source, "to": self.target,
                "base": asdict(self.base), "result": asdict(self.result),
                "removed": asdict(self.removed), "added": asdict(self.added)}


def read_change_set(path: str | os.PathLike[str]) -> ChangeSet:
    """The metadata of a change set, checked for shape; ChangeSetError says what is wrong."""
    p = Path(path)
    if not p.name.endswith(CHANGES_SUFFIX):
        raise ChangeSetError(f"{p}: a change set is given by its {CHANGES_SUFFIX} file")
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ChangeSetError(f"{p}: cannot read the change set: {exc}") from exc
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ChangeSetError(f"{p}: not a change set of format {FORMAT}")
    try:
        parts = {key: Part(**data[key]) for key in ("base", "result", "removed", "added")}
        source, target = str(data["from"]), str(data["to"])
    except (KeyError, TypeError) as exc:
        raise ChangeSetError(f"{p}: the change set's metadata is incomplete: {exc}") from exc
    for key, part in parts.items():
        if (not isinstance(part.quads, int) or not isinstance(part.size, int)
                or not isinstance(part.file, str) or Path(part.file).name != part.file):
            raise ChangeSetError(f"{p}: bad entry {key!r} in the change set's metadata")
    return ChangeSet(p.name[:-len(CHANGES_SUFFIX)], source, target, **parts)


class _OldLines:
    """The lines of the earlier release's N-Quads, read in blocks, hashed as they go."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file = gzip.open(path, "rb")  # noqa: SIM115 (closed by close())
        self.digest = hashlib.sha256()
        self.lines = 0
        self._blocks = line_blocks(self._file, on_data=self.digest.update)
        self._block: list[bytes] = []
        self._pos = 0

    def _next_block(self) -> list[bytes] | None:
        try:
            return next(self._blocks, None)
        except (OSError, EOFError) as exc:
            raise KgError(f"{self.path}: cannot read the earlier release: {exc}") from exc

    def upto(self, bound: bytes | None) -> list[bytes]:
        """The unread lines up to ``bound`` (all of them for None)."""
        taken: list[bytes] = []
        while True:
            if self._pos == len(self._block):
                following = self._next_block()
                if following is None:
                    return taken
                self._block, self._pos = following, 0
                self.lines += len(following)
            end = (len(self._block) if bound is None
                   else bisect.bisect_right(self._block, bound, self._pos))
            taken += self._block[self._pos:end]
            self._pos = end
            if end < len(self._block):
                return taken

    def close(self) -> None:
        self._file.close()


class ChangeWriter:
    """Writes the change set from an earlier release's ``.nq.gz`` to the release whose
    sorted N-Quads lines are fed to it in blocks, into ``directory``."""

    def __init__(self, base: Path, directory: Path, *, stem_from: str | None,
                 release: str) -> None:
        self.base = base
        self.source = stem_from or release_name(base.name)
        self.target = release
        self.name = f"{_PREFIX}{self.source}-to-{release}"
        self.directory = directory
        self._old = _OldLines(base)
        self._removed = GzipWriter(directory / (self.name + REMOVED_SUFFIX), digest=False)
        self._added = GzipWriter(directory / (self.name + ADDED_SUFFIX), digest=False)
        self.removed = self.added = 0

    def feed(self, block: list[bytes]) -> None:
        """The next lines of the new release (sorted, after every line fed before)."""
        if not block:
            return
        old = self._old.upto(block[-1])
        if old:
            new = set(block)
            gone = [line for line in old if line not in new]
            kept = set(old)
            came = [line for line in block if line not in kept]
        else:
            gone, came = [], block
        self._write(gone, came)

    def _write(self, gone: list[bytes], came: list[bytes]) -> None:
        if gone:
            self._removed.write(b"".join(gone))
            self.removed += len(gone)
        if came:
            self._added.write(b"".join(came))
            self.added += len(came)

    def close(self, *, target: str, target_size: int, target_sha256: str,
              target_nquads_sha256: str, target_quads: int) -> ChangeSet:
        """Finish both files and write the metadata; returns it."""
        self._write(self._old.upto(None), [])
        self._old.close()
        self._removed.close()
        self._added.close()
        base_sha256 = _sha256(self.base)

        def part(suffix: str, quads: int) -> Part:
            path = self.directory / (self.name + suffix)
            return Part(path.name, path.stat().st_size, _sha256(path), quads)

        changes = ChangeSet(
            self.name, self.source, self.target,
            base=Part(self.base.name, self.base.stat().st_size, base_sha256, self._old.lines,
                      self._old.digest.hexdigest()),
            result=Part(target, target_size, target_sha256, target_quads, target_nquads_sha256),
            removed=part(REMOVED_SUFFIX, self.removed), added=part(ADDED_SUFFIX, self.added))
        (self.directory / (self.name + CHANGES_SUFFIX)).write_text(
            json.dumps(changes.as_json(), indent=2) + "\n", encoding="utf-8")
        return changes


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def apply_to_lines(lines: Iterable[bytes], *, removed: Iterable[bytes],
                   added: Iterable[bytes]) -> list[bytes]:
    """A release's sorted N-Quads lines with a change set applied (for small data)."""
    gone = set(removed)
    kept = [line for line in lines if line not in gone]
    return [line for block in merge_sorted_blocks([iter([kept]), iter([sorted(added)])])
            for line in block]


@dataclass(frozen=True)
class Applied:
    """What :func:`apply_change_set` did."""

    changes: ChangeSet
    #: False when the store already held the change set's result
    applied: bool
    removed: int
    added: int


def _check_file(directory: Path, part: Part) -> Path:
    path = directory / part.file
    if not path.is_file():
        raise ChangeSetError(f"{path} is missing: a change set needs its {REMOVED_SUFFIX} and "
                             f"{ADDED_SUFFIX} files beside its {CHANGES_SUFFIX}")
    if _sha256(path) != part.sha256:
        raise ChangeSetError(f"{path} does not match its SHA-256 in the change set's metadata "
                             "(damaged or partly downloaded)")
    return path


def _gz_blocks(path: Path) -> Iterator[list[bytes]]:
    try:
        with gzip.open(path, "rb") as f:
            yield from line_blocks(f)
    except (OSError, EOFError) as exc:
        raise ChangeSetError(f"{path}: not a readable gzip file: {exc}") from exc


def apply_change_set(store: KnowledgeStore, changes_file: str | os.PathLike[str], *,
                     progress: Callable[[str, int], None] | None = None) -> Applied:
    """Bring ``store`` from a change set's base release to its result.

    Refused (ChangeSetError) unless the store holds exactly the base release: the same
    number of quads and the same SHA-256 of its sorted N-Quads. A store already at the
    result is left as it is. Removals go in transactions of ``REMOVE_BATCH`` quads, the
    additions in one bulk load: an apply that is interrupted leaves a store that is
    neither release, which a second apply refuses (load the full release then).
    """
    from kg.output.export import nquads_sha256

    report = progress or (lambda _stage, _n: None)
    path = Path(changes_file)
    changes = read_change_set(path)
    removed_path = _check_file(path.parent, changes.removed)
    added_path = _check_file(path.parent, changes.added)
    held = len(store)
    if held not in (changes.base.quads, changes.result.quads):
        raise ChangeSetError(
            f"the store holds {held} quads, release {changes.source} (the base of "
            f"{changes.name}) {changes.base.quads}: this change set is for another release")
    report("checking the store against the base release", 0)
    digest, _ = nquads_sha256(store, tmp_dir=store.path.parent if store.path else None)
    if digest == changes.result.nquads_sha256:
        return Applied(changes, False, 0, 0)
    if digest != changes.base.nquads_sha256:
        raise ChangeSetError(
            f"the store's N-Quads (SHA-256 {digest}) are not release {changes.source}'s "
            f"({changes.base.nquads_sha256}), the base of {changes.name}: refusing to apply it")
    removed = 0
    for block in _gz_blocks(removed_path):
        for start in range(0, len(block), REMOVE_BATCH):
            part = block[start:start + REMOVE_BATCH]
            store.remove_nquads(b"".join(part))
            removed += len(part)
            report("removing quads", len(part))
    with tempfile.TemporaryDirectory(prefix="kg-changes-") as tmp:
        plain = Path(tmp) / "added.nq"
        try:
            with gzip.open(added_path, "rb") as src, plain.open("wb") as dst:
                shutil.copyfileobj(src, dst, 1 << 20)
        except (OSError, EOFError) as exc:
            raise ChangeSetError(f"{added_path}: not a readable gzip file: {exc}") from exc
        if changes.added.quads:
            store.load_nquads_file(plain)
    report("adding quads", changes.added.quads)
    store.flush()
    if len(store) != changes.result.quads:
        raise ChangeSetError(f"after applying {changes.name} the store holds {len(store)} "
                             f"quads, not the {changes.result.quads} of release {changes.target}")
    return Applied(changes, True, removed, changes.added.quads)
