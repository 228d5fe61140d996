"""The query page at /."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("query_page", __name__)
