"""The dataset's figures as the server shows them (the dataset page, VoID).

A release carries its figures, computed when it was published (:mod:`kg.stats`), so
answering ``/dataset`` costs no query. They are read once per generation of the served
data (a new release, an update) and kept in memory meanwhile. A store without them (not
a release), or whose data changed since they were computed, has them computed from the
data through the query service, once per generation, and the server logs that it did.
"""

from __future__ import annotations

import contextlib
import threading
from typing import Any

from flask import current_app

from kg.stats import compute_stats, read_stats
from server.sparql.executor import ProcessPoolQueryService, job_runner, served_directory
from server.sparql.service import query_service

_lock = threading.Lock()


def dataset_stats() -> dict[str, Any]:
    """The figures of the data served now (see :func:`kg.stats.compute_stats` for keys).

    With a process pool, figures are kept per generation (so at most one computation per
    worker and generation); in-process (tests, development) nothing is kept, as writes
    to the store there do not change the generation.
    """
    runner = job_runner()
    keep = isinstance(runner, ProcessPoolQueryService)
    generation = runner.generation()
    memo: dict[str, Any] = current_app.extensions.setdefault("kg_dataset_stats", {})
    if keep and memo.get("generation") == generation:
        return memo["figures"]  # type: ignore[no-any-return]
    with _lock if keep else contextlib.nullcontext():
        if keep and memo.get("generation") == generation:
            return memo["figures"]  # type: ignore[no-any-return]
        directory = served_directory(runner)
        figures = read_stats(directory)
        if figures is None:
            figures = compute_stats(query_service().select)
            log = current_app.logger.warning if directory else current_app.logger.info
            log(
                "no statistics published with %s (a release made by 'kg release' has "
                "them), or its data changed since: computed them from the data in %.1f s",
                directory or "the store", figures["seconds"])
        if keep:
            memo.update(generation=generation, figures=figures)
    return figures
