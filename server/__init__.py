"""The scholarkg web server: a Flask app over a :class:`kg.store.KnowledgeStore`.

Nothing opens a store or builds an app at import time; :func:`create_app` does.
"""

from __future__ import annotations

import importlib
from typing import Any

from flask import Flask

from kg.store import KnowledgeStore
from server.errors import register_error_handlers
from server.limits import install_limits
from server.query_service import InProcessQueryService, QueryService
from server.settings import Settings

#: one blueprint (``bp``) per route family
BLUEPRINT_MODULES = (
    "server.ops",
    "server.sparql",
    "server.graph_store",
    "server.dumps",
    "server.query_page",
    "server.pages",
    "server.reconcile",
    "server.linked_data",  # last: it answers for every path under the base IRI
)


def create_app(
    settings: Settings | None = None,
    *,
    store: KnowledgeStore | None = None,
    service: QueryService | None = None,
    **overrides: Any,
) -> Flask:
    """Build the app.

    ``settings`` defaults to ``KG_*`` environment variables plus ``overrides``.
    ``store`` runs queries in-process on that store (tests); ``service`` injects a
    ready query service; with neither, queries run in killable executor processes.
    """
    if settings is None:
        settings = Settings.from_sources(overrides=overrides)
    app = Flask(__name__)
    app.config["KG_SETTINGS"] = settings
    if service is None:
        if store is not None:
            service = InProcessQueryService(store)
        else:
            from server.query_executor import ProcessPoolQueryService

            service = ProcessPoolQueryService(settings)
    app.extensions["kg_query_service"] = service
    register_error_handlers(app)
    for name in BLUEPRINT_MODULES:
        app.register_blueprint(importlib.import_module(name).bp)
    install_limits(app, settings)
    return app
