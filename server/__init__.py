"""The scholarkg web server: a Flask app over a :class:`kg.storage.store.KnowledgeStore`.

Nothing opens a store or builds an app at import time; :func:`create_app` does.
"""

from __future__ import annotations

import importlib
import os
from functools import lru_cache
from typing import Any

from flask import Flask, Request
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.sansio.utils import get_current_url
from werkzeug.utils import cached_property

from kg.storage.store import KnowledgeStore
from server.settings import Settings
from server.sparql.service import InProcessQueryService, QueryService
from server.web.compression import install_static_compression
from server.web.cors import install_cors
from server.web.errors import register_error_handlers
from server.web.limits import install_limits

#: one blueprint (``bp``) per route family
BLUEPRINT_MODULES = (
    "server.ops",
    "server.sparql.protocol",
    "server.sparql.graph_store",
    "server.pages.dumps",
    "server.pages.query_page",
    "server.pages.html",
    "server.pages.reconcile",
    "server.pages.linked_data",  # last: it answers for every path under the base IRI
)


@lru_cache(maxsize=256)
def _current_url(scheme: str, host: str, root_path: str, path: str) -> str:
    return get_current_url(scheme, host, root_path, path)


class KgRequest(Request):
    """Flask's request, with ``base_url`` (the endpoint IRI of every SPARQL request)
    remembered per scheme, host and path rather than rebuilt (quoted, then converted
    back to an IRI) on every request: a pure function of those, so the same value."""

    @cached_property
    def base_url(self) -> str:
        return _current_url(self.scheme, self.host, self.root_path, self.path)


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
    app.request_class = KgRequest
    app.config["KG_SETTINGS"] = settings
    if service is None:
        if store is not None:
            service = InProcessQueryService(store)
        else:
            from server.sparql.executor import ProcessPoolQueryService

            service = ProcessPoolQueryService(settings)
    app.extensions["kg_query_service"] = service
    register_error_handlers(app)
    install_cors(app)
    install_static_compression(app)
    for name in BLUEPRINT_MODULES:
        app.register_blueprint(importlib.import_module(name).bp)
    # plain GET /sparql queries, answered without Flask (inside the limits and proxy fix)
    from server.sparql.lane import install_lane

    install_lane(app)
    install_limits(app, settings)
    if settings.trusted_proxies > 0:
        # outside the limits: they and every URL see the public scheme, host and prefix
        n = settings.trusted_proxies
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=n, x_proto=n, x_host=n, x_port=n, x_prefix=n)
    _install_response_cache(app, service)
    return app


def _install_response_cache(app: Flask, service: Any) -> None:
    """Answer repeated GET queries before the app runs (:mod:`server.sparql.response_cache`),
    when the query service keeps answers (a result cache of KG_RESULT_CACHE_MB > 0).
    Outside the proxy layer too: its key holds the forwarded headers themselves."""
    cache = getattr(service, "cache", None)
    if cache is None or not cache.enabled:
        return
    from server.sparql import shared_answers
    from server.sparql.response_cache import EXTENSION, ResponseCache

    # under kg serve the workers share one store of whole answers (server.shared_state)
    shared = os.environ.get(shared_answers.ENV)
    answers = (shared_answers.SharedAnswers(shared, cache.max_bytes) if shared else None)

    metrics = app.extensions["kg_metrics"]

    def hit() -> None:
        metrics.count_request("sparql.endpoint", 200)
        metrics.cache_hits.inc()

    layer = ResponseCache(app.wsgi_app, service, hit, answers,
                          wait_limit=app.config["KG_SETTINGS"].query_timeout_s)
    app.wsgi_app = layer  # type: ignore[method-assign]
    app.extensions[EXTENSION] = layer
