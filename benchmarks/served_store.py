"""A store built, exported and served the way an operator does it, for the robustness runs.

Used by ``benchmarks/fuzz_server.py``, ``benchmarks/load_test.py`` and the server tests that
need a real ``kg serve`` (hostile requests, resource bounds, release switch). Everything runs
the real commands (``kg ingest``, ``kg export``, ``kg serve``) in subprocesses on 127.0.0.1;
every wait is bounded and every server is stopped by whoever started it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.generate_corpus import generate  # noqa: E402
from benchmarks.hostile_documents import markup_page  # noqa: E402
from tests.server_fixtures import ServerProcess, free_port, server_env  # noqa: E402

KG = [sys.executable, "-m", "kg.cli"]
AS_OF = "2026-11-21"
EPOCH = "1795262400"  # 2026-11-21T12:00:00Z
EXAMPLES = ROOT / "examples" / "profiles"


def kg(*args: str | Path, check: bool = True, timeout: float = 3600,
       env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run one ``kg`` command (reproducible ingest times), output captured."""
    full_env = {**os.environ, "SOURCE_DATE_EPOCH": EPOCH, "PYTHONPATH": str(ROOT), **(env or {})}
    proc = subprocess.run([*KG, *map(str, args)], cwd=ROOT, env=full_env, capture_output=True,
                          text=True, timeout=timeout, check=False)
    if check and proc.returncode != 0:
        raise RuntimeError(f"kg {' '.join(map(str, args))} exited {proc.returncode}:\n"
                           f"{proc.stderr[-3000:]}")
    return proc


def write_corpus(folder: Path, profiles: int, *, seed: int = 1, markup: bool = True) -> Path:
    """``profiles`` generated profiles, the bundled examples, and (``markup``) a profile whose
    name, titles and byline carry HTML and script."""
    folder.mkdir(parents=True, exist_ok=True)
    if profiles:
        generate(profiles, folder / "generated", seed=seed)
    extra = folder / "extra"
    extra.mkdir(exist_ok=True)
    for path in sorted(EXAMPLES.glob("*")):
        (extra / path.name).write_bytes(path.read_bytes())
    if markup:
        (extra / "markup.txt").write_text(markup_page(), encoding="utf-8")
        (extra / "markup-b.txt").write_text(
            "Goto\n\nCollaborating Authors\n\n\u00a0Tables</td><script>alert(1)</script>, "
            "Bobby\n\n\n<iframe src=javascript:alert(1)> title\n\narXiv.org Artificial "
            "Intelligence\n\nAbstract \"><img src=x onerror=alert(1)>.\n", encoding="utf-8")
    return folder


def build_store(store: Path, corpus: Iterable[Path], *, jobs: int = 2) -> None:
    kg("ingest", *corpus, "--store", store, "--as-of", AS_OF, "--jobs", str(jobs),
       "--no-progress")


def release(store: Path, releases: Path) -> Path:
    """Publish ``store`` as a release (``kg release``): its ``current`` link, what
    ``kg serve`` serves in production, with the dataset's figures computed into it."""
    kg("release", "--store", store, "--releases", releases, "--keep", "1")
    return releases / "current"


def export(store: Path, out: Path) -> None:
    kg("export", "--store", store, "--out", out)


def start_kg_serve(store: Path, log_dir: Path, **settings: object) -> ServerProcess:
    """``kg serve`` on 127.0.0.1 and a free port, ready (/healthz answers) when returned."""
    port = free_port()
    env = server_env(store, port, **settings)
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"kg-serve-{port}.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([*KG, "serve"], cwd=ROOT, env=env, stdout=log,
                                stderr=subprocess.STDOUT)
    server = ServerProcess(proc, port, log_path, env)
    try:
        server.wait_ready(timeout=60)
    except BaseException:
        server.stop()
        raise
    return server


#: what a server log must not hold after a run
LOG_ALARMS = ("Traceback", "Error handling request", "unhandled error", "WORKER TIMEOUT",
              "Worker was sent", "Segmentation fault",
              # granian's: an exception out of the app, a worker that died or hung
              "Application callable raised", "Unexpected exit from worker",
              "refused to gracefully stop", "crash loop")


def log_lines(server: ServerProcess, *needles: str) -> list[str]:
    """Lines of the server log that contain any of ``needles``."""
    try:
        text = server.log_path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return []
    return [line for line in text.splitlines() if any(needle in line for needle in needles)]


def log_alarms(server: ServerProcess) -> list[str]:
    """Lines of the server log that show a crash, a bug or a killed worker."""
    return log_lines(server, *LOG_ALARMS)
