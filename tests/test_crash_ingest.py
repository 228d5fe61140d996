"""SIGKILL during ingest loses nothing and tears nothing (the small version of
``benchmarks/crash_ingest.py``, which kills ``kg ingest`` 20 times over 3,000 profiles).

An ingest (the library, as ``kg ingest`` runs it, with small bulk-load batches so that a
small corpus has many batch boundaries) is killed three times: once after a few batches
have landed, then at random moments, in both phases (first snapshots, bulk-loaded; later
snapshots, one transaction each). After each kill the store holds only whole documents, a
prefix of the ingest order (but for batches that were loading together), each described,
and, once the run-level passes have run, is exactly the store a clean ingest of those
documents gives. The completed ingest's dumps are byte-identical to a clean run's.
"""

from __future__ import annotations

import contextlib
import os
import random
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks import crash_ingest as ci  # noqa: E402
from kg.storage.store import KnowledgeStore  # noqa: E402

BATCH_QUADS = 2000
PROFILES = 40


def test_killed_ingests_keep_whole_documents_and_converge(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", ci.EPOCH)
    scratch = tmp_path / "tmp"  # the killed ingests' temporary folder
    scratch.mkdir()
    monkeypatch.setenv("TMPDIR", str(scratch))
    corpus = ci.make_corpus(tmp_path / "corpus", PROFILES, seed=4, share=0.15)
    reference_store = tmp_path / "reference"
    for phase, (_, as_of) in enumerate(ci.PHASES):
        ci.ingest_once(corpus.folder(phase), reference_store, as_of, 1, BATCH_QUADS)
    opened = KnowledgeStore.open(reference_store, read_only=True)
    reference = ci.graph_digests(opened)
    del opened
    crashed = tmp_path / "crashed"
    rng = random.Random(4)
    argv = [ci.ingest_argv(corpus.folder(p), crashed, as_of, jobs=1, batch_quads=BATCH_QUADS)
            for p, (_, as_of) in enumerate(ci.PHASES)]
    checks = []
    plan = [(0, {"documents": 8, "delay": 30.0}),  # a few batches in
            (0, {"delay": rng.uniform(0.5, 2.5)}),
            (1, {"delay": rng.uniform(0.5, 2.0)})]
    for number, (phase, how) in enumerate(plan, start=1):
        killed = ci.run_and_kill(argv[phase], how.pop("delay"), store=crashed, **how)
        check = ci.KillCheck(number, phase, 0.0, killed)
        ci.check_after_kill(check, corpus, crashed, reference, tmp_path / "check", jobs=1,
                            batch_quads=BATCH_QUADS, in_process=True)
        assert not check.problems, check
        checks.append(check)
    assert checks[0].killed and 0 < checks[0].documents < PROFILES, checks[0]
    # a killed ingest leaves no batch of N-Quads behind (each can be a gigabyte)
    assert sorted(p.name for p in scratch.iterdir() if p.name.startswith("kg-batch")) == []
    for phase, _ in enumerate(ci.PHASES):  # finish, then compare the dumps
        ci.run_to_end(argv[phase])
    ci.export(reference_store, tmp_path / "exports-reference")
    ci.export(crashed, tmp_path / "exports-crashed")
    assert ci.compare_exports(tmp_path / "exports-reference", tmp_path / "exports-crashed") == []


def test_a_killed_mapping_worker_stops_the_ingest_instead_of_hanging_it(tmp_path: Path) -> None:
    """A worker that dies (the out-of-memory killer, a kill -9) used to leave ``kg ingest``
    waiting for ever for the files it was mapping."""
    import signal
    import subprocess

    import psutil

    from benchmarks.generate_corpus import generate

    # enough mapping work to catch a worker at it: a worker starts on about 0.2 s of CPU and
    # maps a document in under 1 ms, so each of the two spends about a second on 2,000
    generate(2000, tmp_path / "corpus", seed=5)
    proc = subprocess.Popen(
        [sys.executable, "-m", "kg.cli", "ingest", str(tmp_path / "corpus"), "--store",
         str(tmp_path / "store"), "--jobs", "2", "--no-progress"],
        cwd=ROOT, stderr=subprocess.PIPE, start_new_session=True)
    try:
        victim = None
        deadline = time.monotonic() + 30
        while victim is None and time.monotonic() < deadline and proc.poll() is None:
            for child in psutil.Process(proc.pid).children(recursive=True):
                with contextlib.suppress(psutil.Error):
                    parent = child.parent()
                    busy = child.cpu_times().user > 0.5  # mapping files, not starting up
                    if busy and parent is not None and "forkserver" in " ".join(
                            parent.cmdline()):
                        victim = child
                        break
            time.sleep(0.05)
        assert victim is not None, "no mapping worker seen"
        victim.send_signal(signal.SIGKILL)
        _, err = proc.communicate(timeout=90)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
        assert proc.stderr is not None
        proc.stderr.close()
    assert proc.returncode == 1, err
    assert b"worker process died" in err and b"run the ingest again" in err
    opened = KnowledgeStore.open(tmp_path / "store", read_only=True)  # what was written holds
    del opened


def test_a_worker_dying_between_results_is_reported_not_raised_raw(tmp_path: Path) -> None:
    """When a worker dies while the writer is between results, the next hand-out to the
    pool (not only the next result) fails; it too says what happened."""
    import datetime as dt
    import signal

    import psutil

    from benchmarks.generate_corpus import generate
    from kg.errors import KgError
    from kg.mapping.iris import DEFAULT_BASE_IRI
    from kg.parallel import map_files

    generate(40, tmp_path / "corpus", seed=9)
    files = sorted((tmp_path / "corpus").rglob("*.txt"))
    results = map_files(files, as_of=dt.date(2026, 11, 21), base_iri=DEFAULT_BASE_IRI,
                        ingested_at=dt.datetime(2026, 11, 21, tzinfo=dt.UTC), processes=2,
                        max_in_flight=1)
    assert next(results)
    workers = [child for child in psutil.Process().children(recursive=True)
               if "forkserver" in " ".join(child.parent().cmdline())]
    assert workers, "no mapping worker found"
    for worker in workers:
        worker.send_signal(signal.SIGKILL)
    psutil.wait_procs(workers, timeout=10)
    time.sleep(1.0)  # the pool notices and marks itself broken
    with pytest.raises(KgError, match="worker process died"):
        for _ in results:
            pass
