"""Who may have a store directory open: one writer, or any number of readers, never both.

RocksDB lets one process open a store read-write, or any number open it read-only, but
it does not stop a process from opening read-only a store that another one is writing,
nor a writer from starting under readers. Either way the reader's view is undefined (it
may miss files the writer replaced, or serve half of a write). So every on-disk
:class:`~kg.storage.store.KnowledgeStore` holds a ``flock`` on ``STORE/.in-use`` for as long as
it is open: shared when read-only, exclusive when read-write, taken without waiting. A
store that is open one way cannot be opened the other way: the second opener gets a
:class:`StoreInUseError` saying who holds it.

The kernel drops the lock when its process ends, however it ends (``kill -9``, the
out-of-memory killer), so a leftover ``.in-use`` file never blocks anyone. A server also
writes ``STORE/.serving`` (its pid and address) while it serves a directory, only to name
itself in a refused writer's message; the file of a server that is gone is ignored.

>>> import tempfile
>>> with tempfile.TemporaryDirectory() as tmp:
...     reader = lock_store(Path(tmp), exclusive=False)
...     try:
...         lock_store(Path(tmp), exclusive=True)
...     except StoreInUseError as exc:
...         print("refused:", "is open read-only in this process" in str(exc))
...     release_lock(reader)
...     release_lock(lock_store(Path(tmp), exclusive=True))   # free again
refused: True
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from kg.errors import StoreError

#: the file whose flock marks a store directory open (shared: read, exclusive: write)
IN_USE = ".in-use"
#: who serves a directory: {"pid": ..., "address": ...}, written by a server
SERVING = ".serving"

_WRITERS = ("'kg ingest', 'kg link', 'kg optimize', 'kg release' or a 'kg serve' with "
            "KG_UPDATE_TOKEN")
_ADVICE = ("a served store never changes under its server: write the working store, "
           "publish it with 'kg release' and serve the release (docs/operations.md), "
           "or stop the server first")


#: directories this process holds shared locks on (real path -> descriptors), to tell
#: a writer refused by its own process's readers what happened
_SHARED_HERE: dict[str, set[int]] = {}


class StoreInUseError(StoreError):
    """The store is open in another process in a way that excludes this opening."""


def _open_marker(directory: Path) -> int | None:
    """A descriptor of ``directory/.in-use``, created when missing; None when it can be
    neither opened nor created (a read-only file system without the file)."""
    path = directory / IN_USE
    for flags in (os.O_RDWR | os.O_CREAT, os.O_RDONLY):
        try:
            return os.open(path, flags | os.O_CLOEXEC, 0o644)
        except OSError as exc:
            if exc.errno not in (errno.EROFS, errno.EACCES, errno.EPERM, errno.ENOENT):
                raise StoreError(f"cannot open the lock file {path}: {exc}") from exc
    return None


def lock_store(directory: Path, *, exclusive: bool) -> int | None:
    """Lock a store directory for reading (shared) or writing (exclusive), without waiting.

    Returns the descriptor holding the lock (give it to :func:`release_lock`), or None
    when the directory cannot hold a lock file (read-only media: nothing can write there
    anyway). Raises :class:`StoreInUseError` when another process holds it the other way.
    """
    fd = _open_marker(directory)
    if fd is None:
        return None
    try:
        fcntl.flock(fd, (fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH) | fcntl.LOCK_NB)
    except BlockingIOError:
        readers = exclusive and _only_readers(directory)
        os.close(fd)
        if readers and _SHARED_HERE.get(os.path.realpath(directory)):
            raise StoreInUseError(
                f"the store at {directory} is open read-only in this process already; "
                "close it first (a release is served read-only: a server with "
                "KG_UPDATE_TOKEN cannot write one)") from None
        raise StoreInUseError(_refusal(directory, exclusive, readers)) from None
    except OSError as exc:
        os.close(fd)
        raise StoreError(f"cannot lock {directory / IN_USE}: {exc}") from exc
    if not exclusive:
        _SHARED_HERE.setdefault(os.path.realpath(directory), set()).add(fd)
    return fd


def release_lock(fd: int | None) -> None:
    """Drop a lock taken by :func:`lock_store` (closing its descriptor drops it)."""
    if fd is not None:
        for held in _SHARED_HERE.values():
            held.discard(fd)
        with contextlib.suppress(OSError):
            os.close(fd)


def _only_readers(directory: Path) -> bool:
    """True when the holders of ``directory``'s lock are readers (shared)."""
    try:
        probe = os.open(directory / IN_USE, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        fcntl.flock(probe, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    finally:
        os.close(probe)
    return True


def _refusal(directory: Path, exclusive: bool, readers: bool) -> str:
    if not exclusive:
        return (f"the store at {directory} is being written by another process ({_WRITERS}); "
                "open it when that has finished, or serve a release (docs/operations.md)")
    if readers:
        server = serving_process(directory)
        who = (f"'kg serve' (pid {server['pid']}, {server.get('address', '?')}) serves it"
               if server else "a server, 'kg query', 'kg export' or 'kg stats' reads it")
        return f"the store at {directory} is open read-only in another process: {who}; {_ADVICE}"
    return f"the store at {directory} is being written by another process ({_WRITERS})"


def process_alive(pid: int) -> bool:
    """Whether a process with this id exists (one of another user counts)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def serving_process(directory: Path) -> dict[str, Any] | None:
    """What ``directory/.serving`` says about the server serving it, if that server is
    still running (the file of a server that was killed is ignored)."""
    try:
        info = json.loads((directory / SERVING).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    pid = info.get("pid") if isinstance(info, dict) else None
    if not isinstance(pid, int) or not process_alive(pid):
        return None
    return info  # type: ignore[no-any-return]


@contextlib.contextmanager
def serving(directory: str | os.PathLike[str], address: str) -> Iterator[None]:
    """Hold ``directory`` open for reading while the block runs (a server serving it):
    every writer is refused meanwhile, with a message naming this process and ``address``.

    Raises :class:`StoreInUseError` when a writer has it open now.
    """
    path = Path(directory)
    fd = lock_store(path, exclusive=False)
    marker = path / SERVING
    written = False
    try:
        try:
            marker.write_text(json.dumps({"pid": os.getpid(), "address": address}) + "\n",
                              encoding="utf-8")
            written = True
        except OSError:
            pass  # read-only media: the lock alone keeps writers out
        yield
    finally:
        if written:
            with contextlib.suppress(OSError, ValueError):
                if json.loads(marker.read_text(encoding="utf-8")).get("pid") == os.getpid():
                    marker.unlink()
        release_lock(fd)
