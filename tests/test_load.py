"""The load test (benchmarks/load_test.py), short: 8 clients for 18 s of mixed requests
(point queries over many persons, entity pages as HTML and Turtle, /dataset,
aggregations, dumps) against ``kg serve`` at its default settings with a 5 s query
timeout, while one more client sends a runaway query every 8 s. The full run is the
benchmark: ``python benchmarks/load_test.py --seconds 60``."""

from __future__ import annotations

import json
from pathlib import Path

from benchmarks import load_test
from server.settings import Settings

TIMEOUT_S = 5.0


def documented_rss_bound_mb(settings: Settings, base_mb: int = 1024) -> int:
    """docs/server.md: workers x executors x KG_QUERY_MEMORY_MB + base (the server's
    main process, the web workers with their caches, a warm spare executor each)."""
    return settings.workers * settings.query_workers * settings.query_memory_mb + base_mb


def test_mixed_load_with_runaways_gets_only_expected_answers(tmp_path: Path) -> None:
    bound = documented_rss_bound_mb(Settings())  # kg serve's defaults, as the test runs it
    args = load_test.parse_args(["--profiles", "200", "--seconds", "18", "--clients", "8",
                                 "--query-timeout-s", str(TIMEOUT_S), "--runaway-every-s", "8",
                                 "--rss-bound-mb", str(bound),
                                 "--workdir", str(tmp_path / "work")])
    report = load_test.run(args)
    print(json.dumps({k: report[k] for k in ("requests", "unexpected", "by_kind",
                                             "runaway_stop_seconds", "server_rss_mb")},
                     indent=1))
    kinds = report["by_kind"]
    assert isinstance(kinds, dict)
    assert {"point", "describe", "page", "dataset", "dump", "timeout"} <= set(kinds), kinds
    assert report["unexpected"] == 0, report["unexpected_examples"]
    assert report["checks"][f"peak server RSS <= {bound} MB"] is True, report["server_rss_mb"]
    # a published release is served, as in production: /dataset computed nothing
    assert report["checks"]["dataset_figures_published"] is True
    assert report["checks"]["no_log_alarm"] is True, report["log_alarms"]
    stops = report["runaway_stop_seconds"]
    assert isinstance(stops, list) and len(stops) >= 2
    # stopped at the deadline, or earlier by the memory bound (a sorting runaway)
    assert all(s <= TIMEOUT_S + load_test.STOP_MARGIN_S for s in stops), stops
