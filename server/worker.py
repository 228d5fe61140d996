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
"""

from __future__ import annotations

import select
from typing import Any

from gunicorn.workers.gthread import ThreadWorker

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


class LingeringThreadWorker(ThreadWorker):  # type: ignore[misc]
    """gthread, answering a keep-alive connection's next request on the same thread
    when it arrives within :data:`LINGER_S`."""

    def handle(self, conn: Any) -> Any:
        keepalive = super().handle(conn)
        while (keepalive is True and self.alive and not getattr(conn, "is_http2", False)
               and next_request_waiting(conn.sock)):
            keepalive = super().handle(conn)
        return keepalive
