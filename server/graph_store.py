"""SPARQL 1.1 Graph Store HTTP Protocol at /store."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("graph_store", __name__)
