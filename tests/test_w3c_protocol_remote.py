"""The W3C SPARQL 1.1 Protocol and Graph Store Protocol cases over a remote engine.

The cases of tests/test_w3c_protocol.py, run the same way (one server, emptied through the
protocol between cases), against ``kg serve`` over a fresh, empty ``oxigraph serve``:
every read, update and Graph Store request goes through the remote engine.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.engine_fixtures import CLIENT_TIMEOUT_S, OXIGRAPH, start_oxigraph_serve
from tests.server_fixtures import TOKEN, ServerProcess, start_server
from tests.test_w3c_protocol import CASES, WRITES, _check, _load_graph_data, _map_path, _reset


@pytest.fixture(scope="module")
def remote_w3c_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    if not OXIGRAPH.is_file():
        pytest.fail(f"the oxigraph server ({OXIGRAPH}) is not installed: pip install -e '.[test]'")
    tmp = tmp_path_factory.mktemp("w3c-remote")
    engine = start_oxigraph_serve(tmp / "db", tmp)
    try:
        settings: dict[str, object] = {k[3:].lower(): v for k, v in engine.env().items()}
        settings["engine_timeout_s"] = CLIENT_TIMEOUT_S
        server = start_server(tmp / "no-store", tmp, update_token=TOKEN, workers=1, threads=4,
                              query_timeout_s=20, **settings)
        try:
            yield server
        finally:
            server.stop()
    finally:
        engine.process.stop()


@pytest.fixture
def case_server(request: pytest.FixtureRequest,
                remote_w3c_server: ServerProcess) -> ServerProcess:
    _reset(remote_w3c_server)
    _load_graph_data(remote_w3c_server, request.param)
    return remote_w3c_server


if not CASES:
    def test_w3c_protocol_cases_present() -> None:
        pytest.skip("the W3C protocol cases (shared/w3c-protocol/tests.json) are not present "
                    "on this machine; set SCHOLARKG_SHARED to the shared folder to run them")
else:
    @pytest.mark.parametrize("case_server", CASES, ids=[c["id"] for c in CASES],
                             indirect=True)
    def test_w3c_case_over_oxigraph_serve(case_server: ServerProcess,
                                          request: pytest.FixtureRequest) -> None:
        case = request.node.callspec.params["case_server"]
        location: str | None = None
        for step, req in enumerate(case["requests"]):
            path = _map_path(req["path"], location)
            headers = dict(req["headers"])
            if req["method"] in WRITES:
                headers["Authorization"] = f"Bearer {TOKEN}"
            body = None
            if req["body"] is not None:
                body = req["body"]["chars"].encode(req["body"]["encoding"])
            resp = case_server.request(path, req["method"], headers=headers, body=body)
            expect = req["expect"]
            try:
                _check(resp, expect, case_server.url + path.split("?", 1)[0])
            except AssertionError as exc:
                raise AssertionError(f"step {step}: {req['method']} {path}: {exc}") from exc
            if expect.get("location_template"):
                location = resp.header("location")
                assert location, f"step {step}: no Location header"



