"""Operational endpoints: /healthz and Prometheus /metrics; the ``KG-Release`` header.

A server serving a release (``kg serve --store RELEASES/current``, :mod:`kg.storage.release`) names
it on every answer in ``KG-Release`` (``20261122T054512Z-7``): the release served when the
answer was made, after looking at where the link points now (one ``stat``). Behind a load
balancer a client reads it to see which release answered (docs/operations.md, "Replicas").

Metrics live in a :class:`prometheus_client.CollectorRegistry` per app, so apps built
in one process (tests) never clash. Each web worker process counts its own
requests; ``kg serve`` sets ``PROMETHEUS_MULTIPROC_DIR`` to an empty directory of its
own before any worker starts (:mod:`server.shared_state`): prometheus-client then keeps
every process's values in files there and /metrics sums them, whichever worker answers
the scrape (exited workers are marked dead; their counts stay in the sums). Without it
(a bare granian or gunicorn command line), /metrics shows the worker that answered the
scrape.
"""

from __future__ import annotations

import os
import time
from typing import Any

from flask import Blueprint, Flask, Response, current_app, jsonify, request
from flask.sansio.blueprints import BlueprintSetupState
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)

from kg.storage.release import RELEASE_NAME
from server.sparql.executor import ProcessPoolQueryService, job_runner, run_job
from server.sparql.fair_share import fair_share_for
from server.web.errors import ApiError

bp = Blueprint("ops", __name__)

_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)


class Metrics:
    """The server's Prometheus metrics."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter("kg_http_requests", "HTTP requests answered, by endpoint "
                                "and status.", ["endpoint", "status"], registry=r)
        self.query_seconds = Histogram("kg_query_duration_seconds", "Time from receiving a "
                                       "SPARQL operation to having its result ready.",
                                       ["operation"], buckets=_BUCKETS, registry=r)
        self.timeouts = Counter("kg_query_timeouts", "Queries and updates stopped for "
                                "overrunning KG_QUERY_TIMEOUT_S.", registry=r)
        self.capped = Counter("kg_results_capped", "Responses cut to KG_RESULT_CAP rows or "
                              "triples.", registry=r)
        self.restarts = Counter("kg_executor_restarts", "Query executor processes killed "
                                "and replaced.", registry=r)
        self.busy = Counter("kg_server_busy", "Requests refused because every query "
                            "executor stayed busy.", registry=r)
        self.cache_hits = Counter("kg_result_cache_hits", "Read queries answered from the "
                                  "result cache (KG_RESULT_CACHE_MB).", registry=r)
        self.cache_misses = Counter("kg_result_cache_misses", "Cacheable read queries that "
                                    "had to be evaluated.", registry=r)
        self.fair_share_refusals = Counter(
            "kg_fair_share_refusals", "SPARQL operations refused with 429 by the fair share "
            "(reason: budget, KG_CLIENT_QUERY_BUDGET_S spent; running, too many at once).",
            ["reason"], registry=r)
        #: (endpoint, status) -> its child of ``requests`` (endpoints and statuses are few)
        self._request_children: dict[tuple[str, int], Any] = {}

    def count_request(self, endpoint: str, status: int) -> None:
        key = (endpoint, status)
        child = self._request_children.get(key)
        if child is None:  # labels() takes a lock and builds a key on every call
            child = self.requests.labels(endpoint=endpoint, status=str(status))
            self._request_children[key] = child
        child.inc()

    def on_service_event(self, name: str) -> None:
        counter = {"timeout": self.timeouts, "restart": self.restarts,
                   "busy": self.busy, "cache_hit": self.cache_hits,
                   "cache_miss": self.cache_misses}.get(name)
        if counter is not None:
            counter.inc()

    def on_fair_share_refusal(self, reason: str) -> None:
        self.fair_share_refusals.labels(reason=reason).inc()

    def exposition(self) -> bytes:
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            from prometheus_client import multiprocess

            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
            return generate_latest(registry)
        return generate_latest(self.registry)


def metrics(app: Flask | None = None) -> Metrics:
    """The app's metrics (``app.extensions["kg_metrics"]``)."""
    return (app or current_app).extensions["kg_metrics"]  # type: ignore[no-any-return]


@bp.record_once
def _install(state: BlueprintSetupState) -> None:
    app = state.app
    m = Metrics()
    app.extensions["kg_metrics"] = m
    service: Any = app.extensions.get("kg_query_service")
    if service is not None and hasattr(service, "on_event"):
        service.on_event = m.on_service_event
    app.extensions["kg_fair_share"] = fair_share = fair_share_for(app.config["KG_SETTINGS"])
    fair_share.on_refusal = m.on_fair_share_refusal

    @app.after_request
    def _count(response: Response) -> Response:
        m.count_request(request.endpoint or "unmatched", response.status_code)
        release = served_release(service)
        if release is not None:
            response.headers["KG-Release"] = release
        return response


def served_release(service: Any, *, follow: bool = True) -> str | None:
    """The name of the release a read-only pool serves now (a moved link or release
    pointer followed; ``follow=False``: as last followed, when a job has just looked),
    or None when the served data is not a release: over a remote engine, the release
    its pointer names (``kg publish``); else the release folder."""
    if not isinstance(service, ProcessPoolQueryService) or not service.read_only:
        return None
    if follow:
        service.generation()  # follows a moved RELEASES/current or release pointer
    serving, release = service.serving()
    if service.remote:
        return release or None
    name = os.path.basename(serving)
    return name if RELEASE_NAME.match(name) else None


@bp.get("/healthz")
def healthz() -> tuple[Response, int]:
    runner = job_runner()
    started = time.monotonic()
    body: dict[str, Any] = dict(runner.status())
    try:
        run_job(runner, {"op": "ping"},
                timeout=min(5.0, current_app.config["KG_SETTINGS"].query_timeout_s))
    except ApiError as exc:
        if exc.message.startswith("server busy"):
            body.update(status="ok", store_check="skipped: every executor is busy")
            return jsonify(body), 200
        body.update(status="unavailable", error=exc.message)
        return jsonify(body), 503
    body.update(status="ok", store_check="ok", generation=runner.generation(),
                check_ms=round((time.monotonic() - started) * 1000, 1))
    return jsonify(body), 200


@bp.get("/metrics")
def prometheus_metrics() -> Response:
    return Response(metrics().exposition(), content_type=CONTENT_TYPE_LATEST)
