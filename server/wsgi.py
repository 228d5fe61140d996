"""WSGI entry point for running under a WSGI server's own command line.

    granian --interface wsgi --factory --workers 2 --blocking-threads 8 \
        --host 127.0.0.1 --port 8000 server.wsgi:app

or gunicorn:

    gunicorn -k server.worker.LingeringThreadWorker --threads 8 -w 2 \
        -b 127.0.0.1:8000 --limit-request-line 0 'server.wsgi:app()'

(``-k gthread`` works too; :mod:`server.worker` explains the difference.)

``--limit-request-line 0`` leaves URL length to KG_MAX_URL_BYTES (414 with the server's
error shape; gunicorn's own limit is 4094 bytes).
``app()`` builds the app from ``KG_*`` environment variables in each worker (nothing is
built at import time); its query executors start on first use. With ``KG_UPDATE_TOKEN``
set, run exactly one worker (``-w 1``, ``--workers 1``): the store is then opened
read-write by one process (see :mod:`server.sparql.executor`).
``kg serve`` (:func:`server.run.serve`) sets all of this up itself.
"""

from __future__ import annotations

from flask import Flask

from server import create_app


def app() -> Flask:
    """The app, configured from the environment."""
    return create_app()
