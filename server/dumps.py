"""Dump downloads under /dumps/ and VoID at /.well-known/void."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("dumps", __name__)
