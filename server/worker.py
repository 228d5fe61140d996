"""gunicorn's gthread worker, keeping a busy keep-alive connection on its thread.

A gthread worker hands every keep-alive connection back to its main thread after each
response: the main thread registers the socket with its poller, wakes when the next
request arrives and submits the connection to the thread pool again. For a client
that sends its next request straight away (a script running queries, a page fetching
its parts) that round trip (two thread hand-offs, a pipe write, selector calls under
the GIL) costs more CPU than answering a cached point query.

:class:`LingeringThreadWorker` lets the thread that answered a request wait up to
:data:`LINGER_S` for the next one on the same connection and answer it itself; a
connection that stays quiet longer goes back to the poller as before. The wait holds a
thread but no CPU, and never longer than :data:`LINGER_S` per request.

It also shares the connections out evenly between the workers. gunicorn's workers all
accept on one listening socket, and whichever wakes first takes the connection: a burst
of keep-alive clients (a script's connection pool, a load balancer's upstream
connections) often lands mostly on one worker, which then answers on one core while the
other idles, for as long as the connections live. Each worker publishes its number of
open connections in a small table shared by the workers (:class:`ConnectionTable`,
memory mapped by the gunicorn master before it forks them) and accepts only while it
holds at most one connection more than the least loaded of its peers.

And it sends a response's head with its first body bytes (:class:`OneSendResponse`):
gunicorn writes the status line and headers in one ``sendall`` and each body chunk in
another, so a small answer went out as two packets, and the client woke up twice to read
it. One send per small answer cut the server's and the client's CPU per request: point
queries 10-19 % more answered per second without the result cache, cached answers 4-15 %
(two A/B pairs each, docs/server.md).
"""

from __future__ import annotations

import mmap
import select
import struct
from typing import Any

from gunicorn.http import wsgi
from gunicorn.workers.gthread import ThreadWorker

#: workers the connection table has room for (a worker's slot: its gunicorn age modulo)
SLOTS = 64

#: how long a thread waits for the next request on the connection it just served
LINGER_S = 0.002


def next_request_waiting(sock: Any, timeout: float = LINGER_S) -> bool:
    """True when the socket becomes readable (a request, or the client closing) within
    ``timeout`` seconds.

    >>> import socket
    >>> a, b = socket.socketpair()
    >>> next_request_waiting(a, 0.0)
    False
    >>> _ = b.send(b"GET / HTTP/1.1\\r\\n")
    >>> next_request_waiting(a)
    True
    >>> a.close(); b.close()
    """
    poller = select.poll()
    poller.register(sock.fileno(), select.POLLIN)
    return bool(poller.poll(timeout * 1000))


class ConnectionTable:
    """Open connections per worker, in anonymous shared memory (inherited on fork).

    A slot holds a worker's count plus one; 0 is a free slot.

    >>> table = ConnectionTable()
    >>> table.set(1, 3); table.set(2, 1)
    >>> table.may_accept(1), table.may_accept(2)
    (False, True)
    >>> table.set(2, 2); table.may_accept(1)
    True
    >>> table.free(2); table.may_accept(1)   # no peer left: nothing to balance against
    True
    """

    _FORMAT = f"{SLOTS}I"

    def __init__(self) -> None:
        self._memory = mmap.mmap(-1, struct.calcsize(self._FORMAT))

    def set(self, slot: int, connections: int) -> None:
        struct.pack_into("I", self._memory, 4 * (slot % SLOTS), connections + 1)

    def free(self, slot: int) -> None:
        struct.pack_into("I", self._memory, 4 * (slot % SLOTS), 0)

    def may_accept(self, slot: int) -> bool:
        """Whether the worker in ``slot`` holds at most one connection more than its
        least loaded peer (always, without peers)."""
        counts = struct.unpack_from(self._FORMAT, self._memory)
        mine = counts[slot % SLOTS]
        peers = [c for i, c in enumerate(counts) if c and i != slot % SLOTS]
        return not peers or mine <= min(peers) + 1


#: made when gunicorn's master imports the worker class, before it forks the workers
CONNECTIONS = ConnectionTable()


def forget_worker(age: int) -> None:
    """Free the slot of a worker that exited (called by the master)."""
    CONNECTIONS.free(age)


class _Sends:
    """A socket stand-in that keeps what is sent through it."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []

    def sendall(self, data: bytes) -> None:
        self.parts.append(bytes(data))


class OneSendResponse(wsgi.Response):  # type: ignore[misc]
    """gunicorn's HTTP/1 response, sending the head together with the first body bytes.

    The first :meth:`write` (the one that sends the head) runs gunicorn's own ``write``
    against a stand-in socket and puts what it sent (the head, and the body bytes with
    gunicorn's framing) on the wire in one ``sendall``. So the bytes are gunicorn's, and
    whatever ``write`` sends no body for (HEAD, 304, an empty chunk, bytes past
    Content-Length) still gets its head at once. The head is sent on its own, as before,
    when the response has no body written through ``write``: ``close`` of an empty
    answer, and ``sendfile`` (dumps), which sends the head before the file.
    """

    headers_sent: bool  # gunicorn's
    sock: Any  # gunicorn's

    def write(self, arg: bytes) -> None:
        if self.headers_sent:
            super().write(arg)
            return
        sock, sends = self.sock, _Sends()
        self.sock = sends
        try:
            super().write(arg)
        finally:
            self.sock = sock
            if sends.parts:
                sock.sendall(b"".join(sends.parts))


class LingeringThreadWorker(ThreadWorker):  # type: ignore[misc]
    """gthread, answering a keep-alive connection's next request on the same thread
    when it arrives within :data:`LINGER_S`, accepting connections only while it
    holds no more than its share (:class:`ConnectionTable`), and sending a response's
    head with its first body bytes (:class:`OneSendResponse`)."""

    def init_process(self) -> None:
        # gunicorn's wsgi.create builds the HTTP/1 response of every request from this
        # module global (HTTP/2 passes its own class); set in the worker process only
        wsgi.Response = OneSendResponse
        super().init_process()

    @property
    def nr_conns(self) -> int:
        return self.__dict__.get("_nr_conns", 0)

    @nr_conns.setter
    def nr_conns(self, value: int) -> None:
        self.__dict__["_nr_conns"] = value
        CONNECTIONS.set(self.age, value)

    def set_accept_enabled(self, enabled: bool) -> None:
        super().set_accept_enabled(enabled and CONNECTIONS.may_accept(self.age))

    def accept(self, listener: Any) -> None:
        super().accept(listener)
        if not CONNECTIONS.may_accept(self.age):
            super().set_accept_enabled(False)  # the run loop asks again on its next turn

    def handle(self, conn: Any) -> Any:
        keepalive = super().handle(conn)
        while (keepalive is True and self.alive and not getattr(conn, "is_http2", False)
               and next_request_waiting(conn.sock)):
            keepalive = super().handle(conn)
        return keepalive
