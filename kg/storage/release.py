"""Releases: consistent copies of the working store, published by switching a symlink.

``kg ingest`` writes the *working* store; a server never opens it (a RocksDB store opened
read-only while another process writes it is undefined behaviour). :func:`publish_release`
copies the working store with :meth:`KnowledgeStore.backup` (a RocksDB checkpoint: hard
links, cheap) into ``RELEASES/<UTC timestamp>-<n>`` and repoints the symlink
``RELEASES/current`` at it atomically (a new symlink moved over the old one with
``os.replace``). Each release holds its statistics (``kg-stats.json``, :mod:`kg.stats`),
computed from the copy before it is published. ``kg serve --store RELEASES/current``
serves whatever ``current`` points at: its query executors open the release the link
resolves to, and reopen when it changes.

A release in use is marked by a shared ``flock`` on its ``.in-use`` file, held by every
process that has it open (:mod:`kg.storage.store_lock`); old releases are pruned only when nobody
holds that lock, and the newest ``keep`` releases and the current one are always kept.

>>> import tempfile
>>> with tempfile.TemporaryDirectory() as tmp:
...     work = KnowledgeStore.open(Path(tmp) / "work")
...     work.update("INSERT DATA { <http://ex.org/a> <http://ex.org/p> 1 }")
...     del work
...     first = publish_release(Path(tmp) / "work", Path(tmp) / "releases")
...     second = publish_release(Path(tmp) / "work", Path(tmp) / "releases", keep=1)
...     [first.number, second.number, second.pruned == [first.name]]
...     current_release(Path(tmp) / "releases") == second.path
[1, 2, True]
True
"""

from __future__ import annotations

import datetime as dt
import fcntl
import os
import re
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from kg.errors import KgError, StoreError
from kg.stats import compute_stats, store_select, write_stats
from kg.storage.store import KnowledgeStore
from kg.storage.store_lock import IN_USE, lock_store, release_lock

CURRENT = "current"
#: ``20261122T054512Z-7``: when it was made (UTC) and its sequence number
RELEASE_NAME = re.compile(r"^(?P<stamp>[0-9]{8}T[0-9]{6}Z)-(?P<number>[0-9]+)$")


class ReleaseError(KgError):
    """A release could not be made or published."""


@dataclass
class Release:
    """One published release and what publishing it pruned."""

    name: str
    path: Path
    number: int
    pruned: list[str] = field(default_factory=list)
    #: old releases kept because a process still has them open
    in_use: list[str] = field(default_factory=list)
    #: how long computing its statistics took (:mod:`kg.stats`)
    stats_seconds: float = 0.0


def releases(directory: Path) -> list[tuple[int, Path]]:
    """The releases in ``directory`` as (number, path), oldest first."""
    if not directory.is_dir():
        return []
    found = []
    for entry in directory.iterdir():
        match = RELEASE_NAME.match(entry.name)
        if match and entry.is_dir() and not entry.is_symlink():
            found.append((int(match["number"]), entry))
    return sorted(found)


def current_release(directory: Path) -> Path | None:
    """The release ``directory/current`` points at, if any."""
    link = directory / CURRENT
    if not link.is_symlink():
        return None
    return (directory / os.readlink(link)).resolve()


def _now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")


def publish_release(store_dir: Path, directory: Path, *, keep: int = 3,
                    optimize: bool = False) -> Release:
    """Copy the working store into a new release, make it current, prune old ones.

    With ``optimize`` the working store is compacted first (:meth:`KnowledgeStore.optimize`).
    Fails (``StoreError``) while another process has the working store open for writing,
    e.g. a running ``kg ingest``: a release is made between ingests.
    """
    if keep < 1:
        raise ReleaseError(f"keep must be at least 1, got {keep}")
    store_dir, directory = Path(store_dir), Path(directory)
    if not store_dir.is_dir():
        raise ReleaseError(f"no working store at {store_dir}: run 'kg ingest' first")
    directory.mkdir(parents=True, exist_ok=True)
    existing = releases(directory)
    number = (existing[-1][0] if existing else 0) + 1
    name = f"{_now()}-{number}"
    staging = directory / f".staging-{name}"
    if staging.exists():
        shutil.rmtree(staging)
    try:
        store = KnowledgeStore.open(store_dir)  # read-write: no ingest may run meanwhile
    except StoreError as exc:
        raise ReleaseError(f"cannot open the working store {store_dir} (is an ingest "
                           f"running?): {exc}") from exc
    try:
        if optimize:
            store.optimize()
        store.backup(staging)
    finally:
        del store
    (staging / IN_USE).touch()
    seconds = _check_and_count(staging)
    target = directory / name
    os.rename(staging, target)  # a release appears whole, or not at all
    _point_current(directory, name)
    release = Release(name, target, number, stats_seconds=seconds)
    _prune(directory, keep, release)
    return release


def _check_and_count(path: Path) -> float:
    """Check that the copy opens, and write its statistics (:mod:`kg.stats`) into it.
    Returns the seconds the statistics took."""
    try:
        copy = KnowledgeStore.open(path, read_only=True)
    except KgError as exc:
        raise ReleaseError(f"the new release at {path} does not open: {exc}") from exc
    try:
        copy.query("ASK { ?s ?p ?o }")
        started = time.monotonic()
        write_stats(copy, compute_stats(store_select(copy)))
        return time.monotonic() - started
    except KgError as exc:
        raise ReleaseError(f"the new release at {path} cannot be read: {exc}") from exc
    finally:
        copy.close()


def _point_current(directory: Path, name: str) -> None:
    """Repoint ``current`` atomically: readers see the old target or the new, never none."""
    temporary = directory / f".{CURRENT}-{os.getpid()}"
    if temporary.is_symlink() or temporary.exists():
        temporary.unlink()
    os.symlink(name, temporary)
    os.replace(temporary, directory / CURRENT)


def _prune(directory: Path, keep: int, release: Release) -> None:
    current = current_release(directory)
    candidates = releases(directory)[:-keep]
    for _, path in candidates:
        if current is not None and path.resolve() == current:
            continue
        if not _remove_if_unused(path):
            release.in_use.append(path.name)
            continue
        release.pruned.append(path.name)


def _remove_if_unused(path: Path) -> bool:
    marker = path / IN_USE
    try:
        fd = os.open(marker, os.O_RDONLY)
    except FileNotFoundError:
        shutil.rmtree(path)
        return True
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        shutil.rmtree(path)  # while holding the lock: nobody opens it meanwhile
        return True
    finally:
        os.close(fd)


@contextmanager
def hold_release(path: str | os.PathLike[str]) -> Iterator[None]:
    """Mark the release at ``path`` in use while the block runs (a shared lock on its
    ``.in-use`` file, :mod:`kg.storage.store_lock`; nothing happens for a store that is not a
    release).

    Never waits: while a writer holds the release, the block runs without the mark, and
    opening the store in it fails with a message saying so. A release cannot be opened
    read-write in the block: releases are served read-only.
    """
    if not RELEASE_NAME.match(Path(path).name) or not Path(path).is_dir():
        yield
        return
    try:
        fd = lock_store(Path(path), exclusive=False)
    except StoreError:
        fd = None
    try:
        yield
    finally:
        release_lock(fd)
