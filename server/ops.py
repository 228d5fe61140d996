"""Operational endpoints: /healthz and Prometheus /metrics."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("ops", __name__)
