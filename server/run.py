"""Serve the app: ``serve(settings)`` (what ``kg serve`` calls).

The HTTP server (``KG_HTTP_SERVER``) runs ``settings.workers`` processes with
``settings.threads`` request threads each:

- granian (the default): HTTP is parsed and written by granian's Rust runtime, and the
  app runs on its blocking threads (:func:`granian_options`, :func:`worker_app`);
- gunicorn: gthread workers, tuned in :mod:`server.worker` (:func:`gunicorn_options`).

Every worker builds its own app with :func:`server.create_app` after the fork, and
its query executors start after the fork too (warmed up when the worker starts, and
stopped when it exits).

With ``KG_UPDATE_TOKEN`` set the store is opened read-write by a single executor
process, so exactly one worker runs (``workers`` is forced to 1; see
:mod:`server.sparql.executor`).

The workers share a private run directory (:mod:`server.shared_state`): prometheus-client's
multiprocess directory, so /metrics sums every worker, and the fair-share table.

``python -m server.run`` serves with settings from ``KG_*`` environment variables.
"""

from __future__ import annotations

import base64
import contextlib
import ctypes.util
import logging
import multiprocessing.util
import os
import pickle
import re
import sys
import time
from collections.abc import Callable
from typing import Any

from gunicorn.app.base import BaseApplication

from kg.storage.store_lock import serving
from server.settings import Settings


def web_workers(settings: Settings) -> int:
    """Worker processes to run: one when updates are enabled (one process writes the store).

    >>> web_workers(Settings(workers=4)), web_workers(Settings(workers=4, update_token="t"))
    (4, 1)
    """
    return 1 if settings.updates_enabled else max(1, settings.workers)


def grace_s(settings: Settings) -> int:
    """Seconds a stopping worker gets to finish its requests (each bounded by the query
    deadline) before it is killed."""
    return int(settings.query_timeout_s) + 5


def gunicorn_options(settings: Settings) -> dict[str, Any]:
    """The gunicorn configuration for these settings.

    >>> opts = gunicorn_options(Settings(update_token="t", workers=4, port=9000))
    >>> opts["workers"], opts["bind"], opts["worker_class"], opts["accesslog"]
    (1, '127.0.0.1:9000', 'server.worker.LingeringThreadWorker', None)
    >>> gunicorn_options(Settings(access_log=True))["accesslog"]
    '-'
    """
    return {
        "bind": f"{settings.host}:{settings.port}",
        "workers": web_workers(settings),
        "threads": max(1, settings.threads),
        # gthread, answering a busy keep-alive connection on its thread (server.worker)
        "worker_class": "server.worker.LingeringThreadWorker",
        # a worker's request threads wait on executors, never longer than the deadline
        "timeout": max(30, int(settings.query_timeout_s * 2) + 10),
        "graceful_timeout": grace_s(settings),
        "keepalive": 5,
        # URL length is enforced by server.web.limits (414), with the one error shape
        "limit_request_line": 0,
        # one line per request costs CPU on every request: only when asked for
        "accesslog": "-" if settings.access_log else None,
        "errorlog": "-",
        "loglevel": "info",
        "post_worker_init": _warm_up,
        "worker_exit": _stop_executors,
        "child_exit": _mark_dead,
        # gunicorn >= 24 opens a control socket in ~/.gunicorn; a served store needs none
        "control_socket_disable": True,
    }


#: the served settings, handed from ``kg serve`` to the granian workers (pickled, base64)
SETTINGS_ENV = "KG_SERVE_SETTINGS"


def granian_options(settings: Settings) -> dict[str, Any]:
    """The granian configuration for these settings (keyword arguments of its
    ``Server``).

    >>> opts = granian_options(Settings(update_token="t", workers=4, port=9000))
    >>> opts["workers"], opts["address"], opts["port"], opts["target"]
    (1, '127.0.0.1', 9000, 'server.run:worker_app')
    >>> granian_options(Settings(access_log=True))["log_access"]
    True
    """
    from granian.constants import HTTPModes, Interfaces
    from granian.http import HTTP1Settings

    return {
        "target": "server.run:worker_app",
        "factory": True,  # each worker builds its own app after the fork
        "interface": Interfaces.WSGI,
        "address": settings.host,
        "port": settings.port,
        "workers": web_workers(settings),
        "blocking_threads": max(1, settings.threads),
        "http": HTTPModes.http1,
        "websockets": False,  # a WSGI app has none
        # URL length is enforced by server.web.limits (414, with the one error shape):
        # granian's buffer for a request head must hold the longest URL allowed
        "http1_settings": HTTP1Settings(
            max_buffer_size=max(HTTP1Settings.max_buffer_size,
                                settings.max_url_bytes + 65_536)),
        # one line per request costs CPU on every request: only when asked for
        "log_access": settings.access_log,
        # a worker that died (a crash, the kernel's OOM killer) is started again
        "respawn_failed_workers": True,
        "workers_kill_timeout": grace_s(settings),
    }


class _ThreadsWarning(logging.Filter):
    """Drops granian's warning, at every start, that ``KG_THREADS`` is more than twice the
    cores: our request threads mostly wait for an executor's answer, holding no CPU."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "Python threads" not in record.getMessage()


class _RacedKill(logging.Filter):
    """Tells the truth about granian's "Killing worker-N after it refused to gracefully
    stop" when the worker had in fact stopped.

    granian 2.8 waits for each worker twice: a watcher thread per worker blocks in
    ``join()``, and the stopping thread calls ``join(workers_kill_timeout)``, then
    ``is_alive()``, then once more after 1 ms. When the watcher collects the worker's
    exit first, the stopping thread's ``join`` returns at once while the worker's exit
    code is not yet recorded, and both checks can still see the worker "alive": granian
    logs the warning and "kills" a worker that is already gone (the signal finds no
    process). On a busy 2-core machine that happens in a few stops in a hundred.

    A worker that really refused is only reported once the whole kill timeout has passed
    since granian began to stop it. A report that comes sooner is this race: it is
    logged at INFO level, saying so, instead of a warning operators would chase.

    >>> clock = iter([0.0, 0.2, 10.0, 40.5]).__next__
    >>> raced = _RacedKill(30, clock=clock)
    >>> def record(message: str, level: int = logging.INFO) -> logging.LogRecord:
    ...     return logging.LogRecord("_granian", level, __file__, 0, message, None, None)
    >>> raced.filter(record("Shutting down granian"))
    True
    >>> early = record("Killing worker-1 after it refused to gracefully stop", logging.WARNING)
    >>> raced.filter(early), early.levelname, early.getMessage()[:31]
    (True, 'INFO', 'worker-1 had stopped gracefully')
    >>> raced.filter(record("Stopping old worker-2"))
    True
    >>> late = record("Killing old worker-2 after it refused to gracefully stop", logging.WARNING)
    >>> raced.filter(late), late.levelname
    (True, 'WARNING')
    """

    _KILLING = re.compile(r"Killing (old )?worker-(\d+) after it refused to gracefully stop")
    _STOPPING_OLD = re.compile(r"Stopping old worker-(\d+)$")

    def __init__(self, kill_timeout_s: float, clock: Callable[[], float] = time.monotonic,
                 ) -> None:
        super().__init__()
        self.kill_timeout_s = kill_timeout_s
        self.clock = clock
        #: when granian began to stop every worker (its shutdown), and each replaced one
        self._shutdown: float | None = None
        self._old: dict[str, float] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if message == "Shutting down granian":
            self._shutdown = self.clock()
        elif stopping := self._STOPPING_OLD.match(message):
            self._old[stopping[1]] = self.clock()
        elif killing := self._KILLING.match(message):
            began = self._old.pop(killing[2], None) if killing[1] else self._shutdown
            if began is not None and self.clock() - began < self.kill_timeout_s:
                record.msg = (f"worker-{killing[2]} had stopped gracefully (granian reported "
                              "it still running because its watcher thread had collected "
                              "the worker's exit first: nothing was left to kill)")
                record.args = None
                record.levelno, record.levelname = logging.INFO, "INFO"
        return True


def worker_app() -> Any:
    """The app of one granian worker: built from the settings ``kg serve`` was given,
    its query executors started at once (as gunicorn's ``post_worker_init`` does) and
    stopped when the worker exits."""
    from server import create_app

    encoded = os.environ.get(SETTINGS_ENV)
    settings = (pickle.loads(base64.b64decode(encoded)) if encoded
                else Settings.from_sources())
    app = create_app(settings)
    _start_executors(app)
    # granian's worker is a multiprocessing process: finalizers run when it exits,
    # before its daemonic children (the executors) would be terminated
    multiprocessing.util.Finalize(None, _worker_exit, args=(app, os.getpid()),
                                  exitpriority=10)
    return app


def _worker_exit(app: Any, pid: int) -> None:
    _stop_executors_of(app)
    _forget_metrics(pid)


def _query_service(app: Any) -> Any:
    """The query service of an app (None for an app that is not built or has none)."""
    return getattr(app, "extensions", {}).get("kg_query_service")


def _start_executors(app: Any) -> None:
    service = _query_service(app)
    if service is not None and hasattr(service, "start"):
        service.start()


def _stop_executors_of(app: Any) -> None:
    service = _query_service(app)
    if service is not None:
        service.close()


def _forget_metrics(pid: int) -> None:
    """Drop a worker's live metric values from the sums (its counts stay)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid)  # type: ignore[no-untyped-call]


def executor_allocator(choice: str) -> str | None:
    """The malloc library the query executors preload (``KG_QUERY_ALLOCATOR``), or None
    for the C library's.

    Oxigraph allocates and frees many small objects per query (solutions, terms, hash
    tables); jemalloc serves that about a fifth faster than glibc's malloc (measured on
    the benchmark's point queries, docs/server.md). Only the executors are affected: the
    variable is set before the HTTP server starts, the workers are forked (their allocator is
    already chosen) and the executors are started afresh, so they load it.

    >>> executor_allocator("system") is None
    True
    >>> executor_allocator("/no/such/libmalloc.so")
    Traceback (most recent call last):
    ...
    ValueError: setting query_allocator (KG_QUERY_ALLOCATOR): no file at /no/such/libmalloc.so
    """
    if choice == "system":
        return None
    if choice == "auto":
        return ctypes.util.find_library("jemalloc")
    if not os.path.isfile(choice):
        raise ValueError(f"setting query_allocator (KG_QUERY_ALLOCATOR): no file at {choice}")
    return choice


def _preload_for_executors(settings: Settings) -> None:
    library = executor_allocator(settings.query_allocator)
    if library is not None:
        os.environ["LD_PRELOAD"] = ":".join(
            part for part in (library, os.environ.get("LD_PRELOAD", "")) if part)


def _warm_up(worker: Any) -> None:
    _start_executors(getattr(worker, "wsgi", None))


def _stop_executors(server: Any, worker: Any) -> None:
    _stop_executors_of(getattr(worker, "wsgi", None))


def _mark_dead(server: Any, worker: Any) -> None:
    from server.worker import forget_worker

    forget_worker(worker.age)
    _forget_metrics(worker.pid)


class ScholarKgServer(BaseApplication):  # type: ignore[misc]
    """gunicorn, configured from :class:`Settings`, serving :func:`server.create_app`."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        super().__init__()

    def load_config(self) -> None:
        for key, value in gunicorn_options(self.settings).items():
            if key in self.cfg.settings:  # options older gunicorn versions lack are skipped
                self.cfg.set(key, value)

    def load(self) -> Any:
        from server import create_app

        return create_app(self.settings)


def serve(settings: Settings) -> None:
    """Run the server in the foreground until it is stopped (SIGINT/SIGTERM).

    A store served read-only under its own name (not a symlink such as
    ``RELEASES/current``, whose executors mark the release they have open) stays
    marked served for the server's whole life (:func:`kg.storage.store_lock.serving`): every
    process that would write it is refused, even while no executor has it open. Raises
    :class:`kg.storage.store_lock.StoreInUseError` when a writer has it open now. Over a remote
    engine (``KG_ENGINE=remote``) there is no store directory, and no lock.
    """
    from server.shared_state import prepare

    sys.argv = sys.argv[:1]  # gunicorn must not read our command line as its own
    _preload_for_executors(settings)
    with contextlib.ExitStack() as stack:
        if (not settings.remote and not settings.updates_enabled
                and not os.path.islink(settings.store)):
            stack.enter_context(serving(settings.store,
                                        f"http://{settings.host}:{settings.port}/"))
        _, cleanup = prepare()  # metrics and fair-share table shared by the workers
        stack.callback(cleanup)
        if settings.http_server == "gunicorn":
            ScholarKgServer(settings).run()
        else:
            from granian.server import Server

            os.environ[SETTINGS_ENV] = base64.b64encode(pickle.dumps(settings)).decode()
            options = granian_options(settings)
            server = Server(options.pop("target"), **options)
            granian_log = logging.getLogger("_granian")  # after its set-up
            granian_log.addFilter(_ThreadsWarning())
            granian_log.addFilter(_RacedKill(options["workers_kill_timeout"]))
            server.serve()


if __name__ == "__main__":
    serve(Settings.from_sources())
