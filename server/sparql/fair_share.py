"""Fair share of query time between clients: one client cannot starve the others.

Each client (its address, see :func:`client_key`) has a budget of SPARQL query time,
``KG_CLIENT_QUERY_BUDGET_S`` seconds per ``KG_CLIENT_QUERY_WINDOW_S`` (60 s per 60 s by
default, as the Wikidata Query Service gives every address). It is a token bucket: the
budget is full at first, every query is charged the time it took (measured around the
job, from taking an executor to having the whole result, so a query stopped at the
timeout costs the timeout), and spent time comes back at budget/window seconds per
second. A query is admitted while the client's balance, less the time its queries
running in this worker have taken so far, is positive; otherwise the answer is **429**
with ``Retry-After`` (the seconds until the balance is positive again) and a message
naming the setting. A client that sends one query at a time can never use more than
the time that passes, so at the default (budget = window) only a client running
queries in parallel is ever refused.

Time alone cannot protect the others once a flood starts: a client sending runaway
queries on many connections would hold every executor, and be charged only as each is
stopped. So one client also runs at most ``KG_QUERY_WORKERS - 1`` (at least 1) queries
at once in each worker process, and each worker keeps an executor for the other clients.
A further query of that client **waits for one of them to end**, within its own deadline
(``KG_QUERY_TIMEOUT_S`` from its arrival; the wait is not charged), so a script or page
sending two or three queries side by side is answered, not refused. Running and waiting
together, a client holds at most half the worker's request threads (``KG_THREADS``; at
least as many wait as may run, which with few threads is more than half); one more is
refused at once (429, ``Retry-After: 1``), so a flood leaves the rest to the other
clients. At the defaults (8 threads, 2 executors) that is 1 running and 3 waiting per
worker: a client sending four queries side by side is answered even when its four
connections land on one worker. A query whose deadline passes while it waits for the
client's own queries is answered 429 too. A cap that spared clients of short queries
would have to admit the first queries of a flood, which can all be runaways.

Across web workers
------------------
The balances live in one small table shared by the worker processes: a file of fixed
size (``SLOTS`` slots of key hash, balance, time), mapped into each worker, changed
under ``flock`` (which the kernel releases when a process dies, so a killed worker can
never leave the table locked). ``kg serve`` creates the file in its private run
directory (:mod:`server.shared_state`) and names it in ``KG_FAIR_SHARE_TABLE``; without
it (tests, a bare granian or gunicorn command line) each process keeps its own table in
memory, so the budget holds per worker. Splitting the budget (budget / workers per worker)
would be wrong: a client's connections land on workers unevenly, so it could be
refused with most of its budget unused. Running time is counted per worker only (it
dies with the worker); a client can so overrun its budget by at most the queries it had
running when the budget ran out (at most ``workers x (query_workers - 1)`` queries,
each at most the timeout), and pays it back before its next query.

A client key is hashed into the table; a slot whose bucket is full again holds nothing
worth remembering and is reused. When a probe window has no such slot, the client with
the most budget left is forgotten first (so a client in debt is never forgotten in
favour of a new one).
"""

from __future__ import annotations

import fcntl
import hashlib
import math
import mmap
import os
import struct
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from functools import lru_cache
from typing import Any

from flask import Flask, current_app

from server.settings import Settings
from server.web.errors import ApiError

#: environment variable naming the shared table file (set by ``kg serve``)
TABLE_ENV = "KG_FAIR_SHARE_TABLE"
SLOTS = 4096
#: slots looked at for one key (open addressing, linear probing)
PROBE = 16
_SLOT = struct.Struct("<Qdd")  # key hash (0: empty), balance (s), updated (CLOCK_MONOTONIC s)
TABLE_BYTES = SLOTS * _SLOT.size


def client_key(environ: Mapping[str, Any], trusted_proxies: int) -> str:
    """The address a request is charged to.

    Without trusted proxies, the connection's address: ``X-Forwarded-For`` is whatever
    the client wrote. Behind ``trusted_proxies`` proxies that each append the address
    they saw, the entry that many places from the right (the one the outermost trusted
    proxy saw); with fewer entries the connection's address. When werkzeug's ProxyFix
    has already rewritten ``REMOTE_ADDR`` (it keeps the original environment under
    ``werkzeug.proxy_fix.orig``), that address is used as it is.

    >>> env = {"REMOTE_ADDR": "10.0.0.1", "HTTP_X_FORWARDED_FOR": "1.2.3.4, 5.6.7.8"}
    >>> client_key(env, 0), client_key(env, 1), client_key(env, 2), client_key(env, 3)
    ('10.0.0.1', '5.6.7.8', '1.2.3.4', '10.0.0.1')
    """
    remote = str(environ.get("REMOTE_ADDR") or "unknown")
    if trusted_proxies <= 0 or "werkzeug.proxy_fix.orig" in environ:
        return remote
    forwarded = [part.strip() for part in str(environ.get("HTTP_X_FORWARDED_FOR", "")).split(",")
                 if part.strip()]
    if len(forwarded) < trusted_proxies:
        return remote
    return forwarded[-trusted_proxies]


@lru_cache(maxsize=4096)
def _hash(key: str) -> int:
    value = int.from_bytes(hashlib.blake2b(key.encode("utf-8", "replace"),
                                           digest_size=8).digest(), "little")
    return value or 1


class BudgetTable:
    """Clients' query-time balances (token buckets), shared by every process that maps
    the same file (``path``), or private to this process (``path`` None).

    >>> table = BudgetTable(None, budget=10.0, window=10.0)
    >>> table.balance("a", now=100.0)
    10.0
    >>> table.charge("a", 12.0, now=100.0)
    >>> table.balance("a", now=100.0), table.balance("a", now=103.0), table.balance("b", 103.0)
    (-2.0, 1.0, 10.0)
    >>> table.balance("a", now=1000.0)
    10.0
    """

    def __init__(self, path: str | None, budget: float, window: float) -> None:
        self.path = path
        self.budget = budget
        self.rate = budget / window
        self._lock = threading.Lock()
        self._pid = -1
        self._fd: int | None = None
        self._map: mmap.mmap | None = None

    def _open(self) -> mmap.mmap:
        """The mapping, opened by this process (a descriptor inherited across a fork
        would share its flock with the parent, so each process opens its own)."""
        if self._map is not None and self._pid == os.getpid():
            return self._map
        if self.path is None:
            self._map = mmap.mmap(-1, TABLE_BYTES)
        else:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
            if os.fstat(fd).st_size < TABLE_BYTES:
                os.ftruncate(fd, TABLE_BYTES)
            self._fd, self._map = fd, mmap.mmap(fd, TABLE_BYTES)
        self._pid = os.getpid()
        return self._map

    @contextmanager
    def _locked(self) -> Iterator[mmap.mmap]:
        with self._lock:
            table = self._open()
            if self._fd is not None:
                fcntl.flock(self._fd, fcntl.LOCK_EX)
            try:
                yield table
            finally:
                if self._fd is not None:
                    fcntl.flock(self._fd, fcntl.LOCK_UN)

    def _refilled(self, balance: float, updated: float, now: float) -> float:
        return min(self.budget, balance + max(0.0, now - updated) * self.rate)

    def _slot(self, table: mmap.mmap, key: int, now: float) -> tuple[int, float, bool]:
        """(slot index, balance now, found) for ``key``; when not found, the slot to use."""
        start = key % SLOTS
        spare, spare_balance = start, -math.inf
        for step in range(PROBE):
            index = (start + step) % SLOTS
            held, balance, updated = _SLOT.unpack_from(table, index * _SLOT.size)
            if held == key:
                return index, self._refilled(balance, updated, now), True
            refilled = self.budget if held == 0 else self._refilled(balance, updated, now)
            if refilled > spare_balance:  # empty or full first, else the least in debt
                spare, spare_balance = index, refilled
        return spare, self.budget, False

    def balance(self, key: str, now: float) -> float:
        """Seconds of query time ``key`` has left (negative: owed)."""
        with self._locked() as table:
            return self._slot(table, _hash(key), now)[1]

    def charge(self, key: str, seconds: float, now: float) -> None:
        hashed = _hash(key)
        with self._locked() as table:
            index, balance, _ = self._slot(table, hashed, now)
            _SLOT.pack_into(table, index * _SLOT.size, hashed, balance - seconds, now)


class FairShare:
    """Admission of one worker's SPARQL operations: :meth:`query` around each job."""

    def __init__(self, settings: Settings, table_path: str | None = None) -> None:
        self.enabled = settings.client_query_budget_s > 0
        self.budget = settings.client_query_budget_s
        self.window = settings.client_query_window_s
        self.trusted_proxies = settings.trusted_proxies
        self.max_running = max(1, settings.query_workers - 1)
        #: a client's queries that may wait for its running ones, per worker: up to half
        #: the worker's request threads in all, and never fewer than may run
        self.max_waiting = max(self.max_running, settings.threads // 2 - self.max_running)
        self.timeout = settings.query_timeout_s
        self.table = BudgetTable(table_path, self.budget, self.window) if self.enabled else None
        #: client -> start times of its queries running in this process
        self._running: dict[str, list[float]] = {}
        #: client -> its queries waiting for one of its running ones to end
        self._waiting: dict[str, int] = {}
        self._lock = threading.Lock()
        #: notified whenever a query ends (a waiting one may run)
        self._ended = threading.Condition(self._lock)
        #: called with "budget" or "running" for each refusal (metrics)
        self.on_refusal: Any = None

    def _refuse(self, reason: str, message: str, retry_after: int) -> ApiError:
        if self.on_refusal is not None:
            self.on_refusal(reason)
        return ApiError(429, message, headers={"Retry-After": str(retry_after)})

    def _admit(self, key: str, deadline: float) -> tuple[float, bool]:
        """Admit a query of ``key``, waiting until ``deadline`` for one of its running
        queries to end if it must; returns (when the query started, whether it waited),
        or raises the 429."""
        assert self.table is not None
        with self._lock:
            waiting = False
            try:
                while True:
                    now = time.monotonic()
                    starts = self._running.get(key, [])
                    self._check_budget(key, now, sum(now - s for s in starts))
                    if len(starts) < self.max_running:
                        self._running.setdefault(key, []).append(now)
                        return now, waiting
                    if waiting and now >= deadline:
                        raise self._refuse(
                            "running",
                            f"client {key} already has {_queries(len(starts))} running in "
                            "this server process, and this one waited for them until its "
                            f"own time limit (KG_QUERY_TIMEOUT_S, {self.timeout:g} s) passed; "
                            "send the next one when one has been answered", 1)
                    if not waiting:
                        if self._waiting.get(key, 0) >= self.max_waiting:
                            raise self._refuse(
                                "running",
                                f"client {key} already has {_queries(len(starts))} running "
                                f"and {_queries(self._waiting[key])} waiting in this server "
                                "process, the most one client may have (KG_QUERY_WORKERS - 1, "
                                "at least 1, run at once, so that other clients keep an "
                                "executor, and more wait up to half of KG_THREADS in all; "
                                "fair share, KG_CLIENT_QUERY_BUDGET_S=0 turns it off); send "
                                "the next one when one has been answered", 1)
                        waiting = True
                        self._waiting[key] = self._waiting.get(key, 0) + 1
                    self._ended.wait(deadline - now)
            finally:
                if waiting:
                    self._waiting[key] -= 1
                    if not self._waiting[key]:
                        del self._waiting[key]

    def _check_budget(self, key: str, now: float, running: float) -> None:
        """The 429 when the client's balance, less its running queries' time so far, is
        not positive (call with the lock held)."""
        assert self.table is not None
        available = self.table.balance(key, now) - running
        if available <= 0:
            wait = max(1, math.ceil(-available / self.table.rate + 1e-9))
            raise self._refuse(
                "budget",
                f"client {key} has used its share of query time: "
                f"KG_CLIENT_QUERY_BUDGET_S allows {self.budget:g} s of query time per "
                f"{self.window:g} s (KG_CLIENT_QUERY_WINDOW_S), and the queries it sent "
                f"took {self.budget - available:.1f} s; try again in {wait} s", wait)

    @contextmanager
    def query(self, environ: Mapping[str, Any], arrived: float | None = None,
              ) -> Iterator[float]:
        """Admit one operation of the request's client (or raise the 429), and charge its
        time when it ends, however it ends (a timeout's 503 included). Yields the seconds
        it waited for the client's own queries: they count against its time limit
        (``KG_QUERY_TIMEOUT_S`` from ``arrived``, by default now), not its budget."""
        if self.table is None:
            yield 0.0
            return
        key = client_key(environ, self.trusted_proxies)
        begun = time.monotonic()
        started, queued = self._admit(key, (begun if arrived is None else arrived)
                                      + self.timeout)
        _excused.seconds = 0.0
        try:
            yield started - begun if queued else 0.0
        finally:
            ended = time.monotonic()
            with self._lock:
                starts = self._running.get(key, [])
                if started in starts:
                    starts.remove(started)
                if not starts:
                    self._running.pop(key, None)
                self._ended.notify_all()
            waited, _excused.seconds = _excused.seconds, 0.0
            self.table.charge(key, max(0.0, ended - started - waited), ended)


def _queries(n: int) -> str:
    """How many queries, in words.

    >>> _queries(1), _queries(2)
    ('1 SPARQL query', '2 SPARQL queries')
    """
    return f"{n} SPARQL {'query' if n == 1 else 'queries'}"


#: per request thread: seconds of the current operation spent waiting for an executor
_excused = threading.local()


def excuse_wait(seconds: float) -> None:
    """Time the current operation waited for a query executor (in the queue, or while one
    opened the store): the server's doing, so it is not charged to the client. A client
    whose queries wait because others keep the executors busy keeps its budget.

    >>> _excused.seconds = 0.0
    >>> excuse_wait(0.5)
    >>> excuse_wait(0.25)
    >>> _excused.seconds
    0.75
    """
    _excused.seconds = getattr(_excused, "seconds", 0.0) + seconds


def fair_share(app: Flask | None = None) -> FairShare:
    """The app's fair share (``app.extensions["kg_fair_share"]``, set up by server.ops)."""
    return (app or current_app).extensions["kg_fair_share"]  # type: ignore[no-any-return]


def fair_share_for(settings: Settings) -> FairShare:
    """The fair share of a new app: the table ``kg serve`` shares between its workers
    (``KG_FAIR_SHARE_TABLE``), or this process's own."""
    return FairShare(settings, os.environ.get(TABLE_ENV) or None)
