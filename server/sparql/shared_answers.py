"""Whole answers shared by the web workers of one ``kg serve``: an LMDB map in its run
directory.

Each web worker keeps its own result cache, so a query asked of one worker is a miss
in the others: with two workers a new query is evaluated twice before every client is
answered from memory, and the memory holds two copies of each answer. ``kg serve`` makes
a directory for an LMDB environment in the run directory the workers share
(:mod:`server.shared_state`, named in ``KG_SHARED_ANSWERS``); the whole-answer layer
(:mod:`server.sparql.response_cache`) keeps its answers there, so a query evaluated by one
worker is a hit in every worker. LMDB is a memory-mapped B+tree that many processes read
without locks and one writes at a time: a hit is one read transaction (a few
microseconds), not a message to another process.

What is kept and for how long follows the result cache's rules: only answers the query
route marked as kept (at most 1 MB each), under the generation of the data they were
computed on. A put under a new generation empties the map first; a put that finds the map
full (``KG_RESULT_CACHE_MB``) empties it and starts over, as LMDB keeps no usage order to
evict by. Nothing here is durable: the directory goes with the server.

>>> import tempfile
>>> with tempfile.TemporaryDirectory() as tmp:
...     one, two = SharedAnswers(tmp, 1 << 20), SharedAnswers(tmp, 1 << 20)  # two workers
...     one.put("g1", "GET /sparql?query=A", [("Content-Type", "text/csv")], b"a\\r\\n1\\r\\n")
...     two.get("g1", "GET /sparql?query=A"), two.get("g2", "GET /sparql?query=A")
...     one.put("g2", "GET /sparql?query=B", [], b"b")   # new data: the old answers go
...     two.get("g1", "GET /sparql?query=A") is None
True
(([('Content-Type', 'text/csv')], b'a\\r\\n1\\r\\n'), None)
True
True
"""

from __future__ import annotations

import hashlib
import os
import pickle
import threading
from typing import Any

import lmdb

from server.sparql.result_cache import MAX_ENTRY_BYTES

#: the environment variable naming the directory (set by server.shared_state.prepare)
ENV = "KG_SHARED_ANSWERS"
#: the key under which the generation of the kept answers is stored
_GENERATION = b"\x00generation"
#: readers: every request thread of every worker may hold one read transaction
_MAX_READERS = 1024

Headers = list[tuple[str, str]]

#: environments this process opened, by (pid, path)
_OPENED: dict[tuple[int, str], Any] = {}
_OPEN_LOCK = threading.Lock()


def _key(generation: str, variant: str) -> bytes:
    return hashlib.blake2b(f"{generation}\x00{variant}".encode("utf-8", "surrogatepass"),
                           digest_size=32).digest()


class SharedAnswers:
    """Whole answers in an LMDB environment at ``path``, at most ``max_bytes`` in all."""

    def __init__(self, path: str, max_bytes: int) -> None:
        self.path = path
        self.max_bytes = max(1 << 20, max_bytes)
        self._env: Any = None
        self._pid = -1

    @property
    def enabled(self) -> bool:
        return True

    def _open(self) -> Any:
        """The environment, opened by this process (never one opened before a fork; LMDB
        opens a path once per process, so apps built in one process share it)."""
        if self._env is None or self._pid != os.getpid():
            with _OPEN_LOCK:
                where = (os.getpid(), os.path.realpath(self.path))
                env = _OPENED.get(where)
                if env is None:
                    env = lmdb.open(
                        self.path, map_size=self.max_bytes, subdir=True, lock=True,
                        sync=False, metasync=False, writemap=True, map_async=True,
                        readahead=False, max_readers=_MAX_READERS, max_dbs=0)
                    _OPENED[where] = env
                self._env, self._pid = env, os.getpid()
        return self._env

    def get(self, generation: str, variant: str) -> tuple[Headers, bytes] | None:
        with self._open().begin() as txn:
            data = txn.get(_key(generation, variant))
        if data is None:
            return None
        headers, body = pickle.loads(data)
        return headers, body

    def put(self, generation: str, variant: str, headers: Headers, body: bytes) -> bool:
        """Keep an answer; False when it is not kept (too big for the map)."""
        if len(body) > MAX_ENTRY_BYTES:
            return False
        value = pickle.dumps((headers, body), protocol=pickle.HIGHEST_PROTOCOL)
        if 4 * len(value) > self.max_bytes:
            return False
        env = self._open()
        mark = generation.encode("utf-8", "surrogatepass")
        key = _key(generation, variant)
        for attempt in range(2):
            try:
                with env.begin(write=True) as txn:
                    if attempt or txn.get(_GENERATION) != mark:
                        txn.drop(env.open_db(txn=txn), delete=False)
                        txn.put(_GENERATION, mark)
                    txn.put(key, value)
                return True
            except lmdb.MapFullError:
                continue  # the map is full: empty it and start over
        return False
