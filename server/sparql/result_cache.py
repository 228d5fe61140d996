"""Answers of repeated read queries, kept per WSGI worker while the served data is unchanged.

Point queries (an entity's papers, a profile card) repeat: the same page, the same
client script. Their answers are small and the store they were computed on is a fixed
release (or a store that only this server writes), so a repeated query can be answered
from memory instead of being evaluated again. Like QLever's query cache, and unlike a
cache in front of the server, it knows exactly when an answer goes stale: every key
holds the store's *generation* (:meth:`ProcessPoolQueryService.generation`), which
changes with a new release and with every update, so an answer computed on other data
is never found again.

What is kept: the whole answer (head and body) of a read job that arrived in one piece
from its executor (at most :data:`MAX_ENTRY_BYTES`), up to ``KG_RESULT_CACHE_MB`` per
worker, least recently used first out. What is never kept: writes, answers too big to
arrive whole, errors, and queries whose answer may differ between two runs on the same
data: a ``SERVICE`` clause, or a call of ``RAND()``, ``NOW()``, ``UUID()``, ``STRUUID()`` or
``BNODE()``. That is decided from the query's tokens (:mod:`server.sparql.text`) after
its ``\\u`` escapes are decoded, as SPARQL does: the same words inside an IRI (the
``sd:`` prefix ends in ``...sparql-service-description#``), a prefixed name
(``schema:knowsAbout``), a string, a comment or a variable name change nothing.

>>> cache = ResultCache(max_bytes=10_000)
>>> job = {"op": "query", "sparql": "SELECT * { ?s ?p ?o }", "cap": 10}
>>> key = cache.key(job, "gen1")
>>> cache.get(key) is None
True
>>> cache.put(key, {"kind": "select"}, b"[1]")
True
>>> cache.get(key)
({'kind': 'select'}, b'[1]')
>>> cache.get(cache.key(job, "gen2")) is None   # other data, other key
True
>>> cache.key({"op": "query", "sparql": "SELECT (RAND() AS ?r) {}"}, "gen1") is None
True
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from typing import Any

from kg.sparql_tokens import decode_codepoints, tokens

#: the read jobs whose answers are kept (their heads hold plain values)
CACHED_OPS = frozenset({"query", "construct", "ask", "rows"})
#: an answer bigger than this is not kept (it would evict many point answers)
MAX_ENTRY_BYTES = 1024 * 1024
#: keywords whose use makes a query's answer differ between two runs on the same data
_UNREPEATABLE = frozenset({"SERVICE", "RAND", "NOW", "UUID", "STRUUID", "BNODE"})
#: a text whose upper case holds none of these has no such keyword, escaped or not
_CANDIDATES = ("SERVICE", "RAND", "NOW", "UUID", "BNODE", "\\U")
#: a function call inside what the tokenizer takes for an IRI
_CALL_IN_IRI = re.compile(r"(?:RAND|NOW|UUID|BNODE)\(")
#: tokens after which ``<`` inside an expression may be less-than
_OPERAND_KINDS = frozenset({"var", "number", "string", "iri", "pname", "word"})
#: bytes counted per entry on top of its body (key, head, bookkeeping)
_OVERHEAD = 512

Key = tuple[str, str]


def repeatable(sparql: str) -> bool:
    """Whether two runs of a query on the same data give the same answer.

    >>> repeatable("SELECT ?n { ?p <http://schema.org/name> ?n }")
    True
    >>> [repeatable(q) for q in ("SELECT (now() AS ?t) {}", "SELECT * { service <x> {} }",
    ...                          "SELECT (\\\\u004eOW() AS ?t) {}")]
    [False, False, False]
    >>> repeatable("PREFIX sd: <http://www.w3.org/ns/sparql-service-description#> "
    ...            "SELECT ?now { ?p <http://schema.org/knowsAbout> 'RAND()' } # NOW()")
    True
    """
    upper = sparql.upper()
    if not any(word in upper for word in _CANDIDATES):
        return True  # most queries: no token can be one of the keywords
    depth = 0
    previous = None
    for token in tokens(decode_codepoints(sparql)):
        if token.kind == "word" and token.text.upper() in _UNREPEATABLE:
            return False
        if token.kind == "punct" and token.text in "()":
            depth += 1 if token.text == "(" else -1
        elif (token.kind == "iri" and depth > 0 and previous is not None
              and (previous.kind in _OPERAND_KINDS or previous.text == ")")
              and _CALL_IN_IRI.search(token.text.upper())):
            # in ``FILTER(?a<NOW()&&?b>?c)`` the "IRI" is less-than, a call, greater-than
            return False
        previous = token
    return True


class ResultCache:
    """A thread-safe LRU map from (generation, job) to (head, body), bounded in bytes."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max(0, max_bytes)
        self._entries: OrderedDict[Key, tuple[dict[str, Any], bytes, int]] = OrderedDict()
        self._lock = threading.Lock()
        self.size = 0
        #: the generation of the entries kept: a new one drops them all at once
        self._generation: str | None = None
        self.hits = 0
        self.misses = 0

    @property
    def enabled(self) -> bool:
        return self.max_bytes > 0

    def key(self, job: dict[str, Any], generation: str) -> Key | None:
        """The key of a job's answer on data of this generation; None when it is not kept."""
        if not self.enabled or job.get("op") not in CACHED_OPS:
            return None
        sparql = job.get("sparql")
        if not isinstance(sparql, str) or not repeatable(sparql):
            return None
        # every field of a job is a str, number, bool, None, or a list/dict of those,
        # built in a fixed order by its route: repr() is a faithful key
        return generation, repr(sorted(job.items()))

    def get(self, key: Key | None) -> tuple[dict[str, Any], bytes] | None:
        if key is None:
            return None
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                self.misses += 1
                return None
            self._entries.move_to_end(key)
            self.hits += 1
        head, body, _ = entry
        return _fresh(head), body

    def fits(self, key: Key | None, body: bytes) -> bool:
        """Whether :meth:`put` would keep this answer."""
        return (key is not None and len(body) <= MAX_ENTRY_BYTES
                and len(body) + len(key[1]) + _OVERHEAD <= self.max_bytes)

    def put(self, key: Key | None, head: dict[str, Any], body: bytes) -> bool:
        """Keep an answer; False when it is not kept (no key, too big, cache off)."""
        if key is None or not self.fits(key, body):
            return False
        cost = len(body) + len(key[1]) + _OVERHEAD
        with self._lock:
            if key[0] != self._generation:
                self._entries.clear()
                self.size = 0
                self._generation = key[0]
            old = self._entries.pop(key, None)
            if old is not None:
                self.size -= old[2]
            self._entries[key] = (_fresh(head), body, cost)
            self.size += cost
            while self.size > self.max_bytes:
                _, (_, _, dropped) = self._entries.popitem(last=False)
                self.size -= dropped
        return True

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self.size = 0

    def __len__(self) -> int:
        return len(self._entries)


def _fresh(head: dict[str, Any]) -> dict[str, Any]:
    """A copy of a head that its receiver may change without changing the cache's
    (the rows of a "rows" answer are a list of dicts of tuples)."""
    copy = dict(head)
    rows = copy.get("rows")
    if isinstance(rows, list):
        copy["rows"] = [dict(row) for row in rows]
    return copy
