"""The scholarkg web server: a Flask app over a :class:`kg.store.KnowledgeStore`.

Nothing opens a store or builds an app at import time; :func:`create_app` does.
"""

from __future__ import annotations

from typing import Any

from flask import Flask

from server.errors import register_error_handlers
from server.settings import Settings


def create_app(settings: Settings | None = None, **overrides: Any) -> Flask:
    """Build the app. ``settings`` defaults to environment variables plus ``overrides``."""
    if settings is None:
        settings = Settings.from_sources(overrides=overrides)
    app = Flask(__name__)
    app.config["KG_SETTINGS"] = settings
    register_error_handlers(app)
    # Blueprints are registered here, one per route family (added as they are built).
    return app
