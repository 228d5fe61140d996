"""State the worker processes of one ``kg serve`` share: a private run directory.

:func:`prepare` (called by :func:`server.run.serve` in the main process, before any
worker forks) creates a new directory (mode 0700) under the system's temporary
directory, named ``kg-serve-<pid>-*``, holding

- ``metrics/``: ``PROMETHEUS_MULTIPROC_DIR``, where prometheus-client keeps each
  process's metric values, so /metrics sums every worker (:mod:`server.ops`); it must
  be set before prometheus-client is imported, hence here, and it starts empty;
- ``fair-share.table``: the clients' query-time balances (:mod:`server.sparql.fair_share`),
  named in ``KG_FAIR_SHARE_TABLE``;
- ``answers/``: the whole answers of repeated GET queries that every worker reads and
  writes (:mod:`server.sparql.shared_answers`), named in ``KG_SHARED_ANSWERS``.

The workers inherit the variables. The directory is removed when the server stops
(by the master only: a worker leaving through the same code must not), and run
directories of servers that are no longer running (killed before they could clean up)
are removed when the next server starts.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from kg.storage.store_lock import process_alive
from server.sparql.fair_share import TABLE_BYTES, TABLE_ENV
from server.sparql.shared_answers import ENV as ANSWERS_ENV

PREFIX = "kg-serve-"




def remove_stale(parent: Path) -> None:
    """Remove this user's run directories whose server process is gone."""
    with contextlib.suppress(OSError):
        for entry in parent.iterdir():
            if not entry.name.startswith(PREFIX) or not entry.is_dir():
                continue
            pid = entry.name[len(PREFIX):].split("-", 1)[0]
            try:
                owned = entry.stat().st_uid == os.getuid()
            except OSError:
                continue
            if pid.isdigit() and owned and not process_alive(int(pid)):
                shutil.rmtree(entry, ignore_errors=True)


def prepare() -> tuple[Path, Callable[[], None]]:
    """Create the run directory and set the variables; returns it and its cleanup."""
    parent = Path(tempfile.gettempdir())
    remove_stale(parent)
    run_dir = Path(tempfile.mkdtemp(prefix=f"{PREFIX}{os.getpid()}-", dir=parent))
    metrics_dir = run_dir / "metrics"
    metrics_dir.mkdir()
    table = run_dir / "fair-share.table"
    with open(table, "wb") as out:
        out.truncate(TABLE_BYTES)
    answers = run_dir / "answers"
    answers.mkdir()
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)
    os.environ[TABLE_ENV] = str(table)
    os.environ[ANSWERS_ENV] = str(answers)
    if "prometheus_client" in sys.modules:  # it chose its kind of values when imported
        from prometheus_client import values

        values.ValueClass = values.get_value_class()  # type: ignore[no-untyped-call]
    owner = os.getpid()

    def cleanup() -> None:
        if os.getpid() == owner:
            shutil.rmtree(run_dir, ignore_errors=True)

    return run_dir, cleanup
