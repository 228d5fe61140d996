"""Dereferenceable entity IRIs, the vocabulary and the JSON-LD context."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("linked_data", __name__)
