"""Measure commands: wall time and peak resident memory of a whole process tree.

Shared by the benchmarks. Memory is sampled every ``interval`` seconds (50 ms by
default) as the sum of the RSS of a process and all its descendants; the largest sum
seen is the peak. Short spikes between two samples can be missed.

>>> import sys
>>> m = run_measured([sys.executable, "-c", "x = bytearray(50_000_000)"])
>>> m.returncode, m.wall_seconds > 0, m.peak_rss_bytes > 0
(0, True, True)
>>> median([3.0, 1.0, 2.0])
2.0
>>> percentile([5.0, 1.0, 4.0, 2.0, 3.0], 50), percentile(range(1, 101), 99)
(3.0, 99.0)
"""

from __future__ import annotations

import math
import os
import statistics
import subprocess
import tempfile
import threading
import time
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import psutil

DEFAULT_INTERVAL = 0.05
MB = 1024 * 1024


@dataclass(frozen=True, slots=True)
class Measurement:
    """One run of a command."""

    command: tuple[str, ...]
    wall_seconds: float
    peak_rss_bytes: int
    returncode: int
    samples: int

    @property
    def peak_rss_mb(self) -> float:
        """Peak RSS in MiB (what the reports call MB)."""
        return self.peak_rss_bytes / MB


class CommandFailed(RuntimeError):
    """A measured command exited with a non-zero status."""

    def __init__(self, measurement: Measurement, output_tail: str) -> None:
        self.measurement = measurement
        self.output_tail = output_tail
        super().__init__(
            f"command failed with status {measurement.returncode}: "
            f"{' '.join(measurement.command)}\n{output_tail}"
        )


def tree_processes(process: psutil.Process) -> list[psutil.Process]:
    """``process`` and all its live descendants (empty when it has gone)."""
    try:
        return [process, *process.children(recursive=True)]
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return []


def tree_cpu_seconds(process: psutil.Process) -> dict[int, float]:
    """User + system CPU seconds of ``process`` and each descendant, by pid.

    Subtract two snapshots with :func:`cpu_delta` to get the CPU a tree used meanwhile.
    """
    seconds: dict[int, float] = {}
    for member in tree_processes(process):
        try:
            times = member.cpu_times()
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        seconds[member.pid] = times.user + times.system
    return seconds


def cpu_delta(before: Mapping[int, float], after: Mapping[int, float]) -> float:
    """CPU seconds used between two :func:`tree_cpu_seconds` snapshots (new processes
    count from zero; processes that exited meanwhile are missed).

    >>> cpu_delta({1: 2.0, 2: 1.0}, {1: 3.5, 3: 0.25})
    1.75
    """
    return sum(value - before.get(pid, 0.0) for pid, value in after.items())


def tree_rss(process: psutil.Process) -> int:
    """RSS of ``process`` plus all its descendants, in bytes; vanished processes count 0."""
    try:
        members = [process, *process.children(recursive=True)]
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return 0
    total = 0
    for member in members:
        try:
            total += member.memory_info().rss
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return total


class PeakRssSampler:
    """Samples the tree RSS of a running process in a background thread.

    For processes that outlive one command (a server under load)::

        with PeakRssSampler(server_pid) as sampler:
            run_the_load()
        sampler.peak_bytes

    ``min_bytes`` is the smallest sample and ``history`` keeps the last
    ``history_size`` samples as ``(perf_counter seconds, bytes)``, to show whether
    memory stayed flat over a window.
    """

    def __init__(
        self, pid: int, interval: float = DEFAULT_INTERVAL, history_size: int = 100_000
    ) -> None:
        self._process = psutil.Process(pid)
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"rss-{pid}", daemon=True)
        self.peak_bytes = 0
        self.min_bytes = 0
        self.samples = 0
        self.history: deque[tuple[float, int]] = deque(maxlen=history_size)

    def _run(self) -> None:
        while True:
            self.sample()
            if self._stop.wait(self._interval):
                return

    def sample(self) -> int:
        """Take one sample now; returns it and updates the peak."""
        rss = tree_rss(self._process)
        self.min_bytes = rss if self.samples == 0 else min(self.min_bytes, rss)
        self.samples += 1
        self.peak_bytes = max(self.peak_bytes, rss)
        self.history.append((time.perf_counter(), rss))
        return rss

    def __enter__(self) -> PeakRssSampler:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join()


def _tail(path: Path, limit: int = 4000) -> str:
    data = path.read_bytes()[-limit:]
    return data.decode("utf-8", errors="replace")


def run_measured(
    command: Sequence[str | os.PathLike[str]],
    *,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    log: Path | None = None,
    interval: float = DEFAULT_INTERVAL,
    check: bool = True,
) -> Measurement:
    """Run ``command`` to completion, sampling the RSS of its process tree.

    Output (stdout and stderr together) goes to ``log``, or to a temporary file that is
    removed afterwards. With ``check``, a non-zero exit raises :class:`CommandFailed`
    carrying the end of the output.
    """
    argv = tuple(os.fspath(part) for part in command)
    if log is None:
        with tempfile.TemporaryDirectory(prefix="measure-") as scratch:
            return run_measured(
                argv,
                cwd=cwd,
                env=env,
                log=Path(scratch) / "output.log",
                interval=interval,
                check=check,
            )
    peak = samples = 0
    with log.open("wb") as output:
        started = time.perf_counter()
        process = psutil.Popen(
            argv,
            cwd=cwd,
            env=None if env is None else dict(env),
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
        while True:
            peak = max(peak, tree_rss(process))
            samples += 1
            try:
                returncode = process.wait(timeout=interval)
                break
            except psutil.TimeoutExpired:
                continue
        wall = time.perf_counter() - started
    measurement = Measurement(argv, wall, peak, returncode, samples)
    if check and returncode != 0:
        raise CommandFailed(measurement, _tail(log))
    return measurement


def median(values: Iterable[float]) -> float:
    """The median of the values (the mean of the middle two for an even count)."""
    return float(statistics.median(list(values)))


def percentile(values: Iterable[float], q: float) -> float:
    """The ``q``-th percentile (0-100) by the nearest-rank method; nan for no values."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return float(ordered[min(rank, len(ordered)) - 1])
