"""Remote SPARQL engines on 127.0.0.1 for the tests: ``oxigraph serve`` and Virtuoso 7.

Each engine runs in its own process group with a throwaway database, on free loopback
ports, under a ``timeout`` watchdog (it ends by itself even if the test process dies), and
is stopped by the fixture that started it.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.server_fixtures import free_port, stop_process

OXIGRAPH = Path(sys.executable).with_name("oxigraph")
VIRTUOSO = shutil.which("virtuoso-t")
ISQL = shutil.which("isql-vt") or shutil.which("isql")
#: the engines' own query time limit: below the client's (KG_ENGINE_TIMEOUT_S in the tests)
ENGINE_TIMEOUT_S = 3
CLIENT_TIMEOUT_S = 20.0
STARTUP_TIMEOUT_S = 90.0
LIFETIME_S = 900


@dataclass
class EngineProcess:
    name: str
    proc: subprocess.Popen[bytes]
    log_path: Path
    ready_url: str

    def log(self) -> str:
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")[-4000:]
        except OSError:
            return ""

    def wait_ready(self, timeout: float = STARTUP_TIMEOUT_S) -> None:
        """Until the engine answers ASK {} over HTTP."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode}:\n"
                                   f"{self.log()}")
            with contextlib.suppress(httpx.HTTPError):
                response = httpx.post(self.ready_url, data={"query": "ASK {}"}, timeout=5,
                                      headers={"Accept": "application/sparql-results+json"})
                if response.status_code == 200:
                    return
            time.sleep(0.2)
        raise RuntimeError(f"{self.name} not ready within {timeout} s:\n{self.log()}")

    def stop(self) -> None:
        stop_process(self.proc, grace_s=30, group=True)


def _spawn(name: str, cmd: list[str], log_path: Path, ready_url: str,
           cwd: Path | None = None) -> EngineProcess:
    watchdog = shutil.which("timeout")
    if watchdog:
        cmd = [watchdog, str(LIFETIME_S), *cmd]
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=cwd,
                                start_new_session=True)
    return EngineProcess(name, proc, log_path, ready_url)


# oxigraph serve ---------------------------------------------------------------------------

@dataclass
class OxigraphServe:
    process: EngineProcess
    port: int

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        return {"KG_ENGINE": "remote", "KG_ENGINE_QUERY_URL": f"{self.base}/query",
                "KG_ENGINE_UPDATE_URL": f"{self.base}/update",
                "KG_ENGINE_STORE_URL": f"{self.base}/store",
                "KG_ENGINE_TIMEOUT_S": str(CLIENT_TIMEOUT_S)}


def start_oxigraph_serve(location: Path, log_dir: Path, nquads: Path | None = None) -> OxigraphServe:
    """``oxigraph serve`` (read-write) over ``location``, loaded first with ``nquads``."""
    if nquads is not None:
        subprocess.run([str(OXIGRAPH), "load", "--location", str(location), "--file",
                        str(nquads)], check=True, capture_output=True, timeout=120)
    port = free_port()
    cmd = [str(OXIGRAPH), "serve", "--location", str(location), "--bind", f"127.0.0.1:{port}",
           "--timeout-s", str(ENGINE_TIMEOUT_S)]
    process = _spawn("oxigraph serve", cmd, log_dir / f"oxigraph-{port}.log",
                     f"http://127.0.0.1:{port}/query")
    try:
        process.wait_ready()
    except BaseException:
        process.stop()
        raise
    return OxigraphServe(process, port)


# Virtuoso ----------------------------------------------------------------------------------

VIRTUOSO_INI = """\
[Database]
DatabaseFile = {db}/virtuoso.db
ErrorLogFile = {db}/virtuoso.log
LockFile = {db}/virtuoso.lck
TransactionFile = {db}/virtuoso.trx
xa_persistent_file = {db}/virtuoso.pxa
ErrorLogLevel = 7
FileExtend = 200
Striping = 0
TempStorage = TempDatabase

[TempDatabase]
DatabaseFile = {db}/virtuoso-temp.db
TransactionFile = {db}/virtuoso-temp.trx

[Parameters]
ServerPort = 127.0.0.1:{isql_port}
DisableUnixSocket = 1
CheckpointInterval = 0
CaseMode = 2
DirsAllowed = ., {load_dir}
NumberOfBuffers = {buffers}
MaxDirtyBuffers = {dirty_buffers}
ThreadsPerQuery = 2
MaxClientConnections = 8

[HTTPServer]
ServerPort = 127.0.0.1:{http_port}
ServerRoot = {www}
ServerThreads = 8
MaxKeepAlives = 8
KeepAliveTimeout = 10
Charset = UTF-8

[SPARQL]
; results are never cut silently: far above any cap kg sets
ResultSetMaxRows = 1000000000
; the engine stops a query before the client gives up on it
MaxQueryExecutionTime = {engine_timeout_s}
MaxQueryCostEstimationTime = 0
"""


@dataclass
class Virtuoso:
    process: EngineProcess
    name: str
    isql_port: int
    http_port: int
    load_dir: Path

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def slot(self) -> dict[str, str]:
        """This instance as a slot of ``kg publish``."""
        return {"isql": f"127.0.0.1:{self.isql_port}", "query_url": f"{self.base}/sparql",
                "update_url": f"{self.base}/sparql-auth",
                "store_url": f"{self.base}/sparql-graph-crud-auth",
                "load_dir": str(self.load_dir)}

    def isql(self, sql: str) -> str:
        assert ISQL is not None
        done = subprocess.run([ISQL, f"127.0.0.1:{self.isql_port}", "dba", "dba",
                               "VERBOSE=OFF", "BANNER=OFF", "PROMPT=OFF", "ERRORS=STDOUT"],
                              input=sql, capture_output=True, text=True, timeout=60, check=True)
        return done.stdout


def spawn_virtuoso(root: Path, name: str, *, engine_timeout_s: int = ENGINE_TIMEOUT_S,
                   buffers: int = 10000) -> Virtuoso:
    """Start (without waiting) a Virtuoso with a fresh database under ``root/name``;
    ``buffers`` of 8 kB each (Virtuoso's guide: about 2/3 of the memory it may use)."""
    assert VIRTUOSO is not None
    home = root / name
    db, www, load_dir = home / "db", home / "www", home / "load"
    for d in (db, www, load_dir):
        d.mkdir(parents=True, exist_ok=True)
    isql_port, http_port = free_port(), free_port()
    ini = home / "virtuoso.ini"
    ini.write_text(VIRTUOSO_INI.format(db=db, www=www, load_dir=load_dir, isql_port=isql_port,
                                       http_port=http_port, engine_timeout_s=engine_timeout_s,
                                       buffers=buffers, dirty_buffers=buffers * 3 // 4),
                   encoding="utf-8")
    cmd = [VIRTUOSO, "+foreground", "+configfile", str(ini)]
    process = _spawn(f"virtuoso {name}", cmd, home / "console.log",
                     f"http://127.0.0.1:{http_port}/sparql", cwd=home)
    return Virtuoso(process, name, isql_port, http_port, load_dir)


def start_virtuosos(root: Path, names: list[str], **options: int) -> list[Virtuoso]:
    """Several Virtuoso instances started side by side, each ready when returned."""
    started = [spawn_virtuoso(root, name, **options) for name in names]
    try:
        for v in started:
            v.process.wait_ready()
    except BaseException:
        for v in started:
            v.process.stop()
        raise
    return started


def stop_all(stoppers: list[Callable[[], None]]) -> None:
    for stop in stoppers:
        with contextlib.suppress(Exception):
            stop()
