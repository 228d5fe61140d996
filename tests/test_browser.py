"""End to end in a real headless Chromium: the query page runs queries, pages draw charts,
and no request ever leaves the machine.

Needs the Debian packages ``chromium`` and ``chromium-driver`` and the ``selenium``
package. Without them the tests skip, except under CI (``CI`` set), where they fail.
Screenshots go to tests/screenshots/ (git-ignored).
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import pytest

from tests.server_app import SCRIPT_PAPER, SCRIPT_TITLE, YUZHEN, load_store, make_app

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
SCREENSHOTS = Path(__file__).parent / "screenshots"
TIMEOUT = 15


def _missing() -> str | None:
    for path in (CHROMIUM, CHROMEDRIVER):
        if not Path(path).exists():
            return f"{path} is missing: apt-get install chromium chromium-driver"
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "the selenium package is missing: pip install selenium"
    return None


_REASON = _missing()
if _REASON and os.environ.get("CI"):
    pytest.fail(f"browser tests cannot run under CI: {_REASON}", pytrace=False)
pytestmark = pytest.mark.skipif(_REASON is not None, reason=_REASON or "")

if _REASON is None:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.remote.webdriver import WebDriver
    from selenium.webdriver.support.ui import Select, WebDriverWait


class Server:
    """The app on 127.0.0.1 at a free port, in a background thread, logging every request."""

    def __init__(self, app: Any) -> None:
        from werkzeug.serving import make_server

        self.requests: list[tuple[str, str]] = []
        inner = app.wsgi_app

        def logged(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
            self.requests.append((environ.get("HTTP_HOST", ""), environ.get("PATH_INFO", "")))
            return inner(environ, start_response)

        app.wsgi_app = logged
        self.server = make_server("127.0.0.1", 0, app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    exports = tmp_path_factory.mktemp("exports")
    graph = load_store().dump_graph(None, "turtle")
    (exports / "scholarkg-2026-11-21.ttl.gz").write_bytes(gzip.compress(graph, mtime=0))
    digest = hashlib.sha256((exports / "scholarkg-2026-11-21.ttl.gz").read_bytes()).hexdigest()
    (exports / "SHA256SUMS").write_text(f"{digest}  scholarkg-2026-11-21.ttl.gz\n")
    # a cap of 3 rows shows the "result cut" note on bigger results
    running = Server(make_app(exports, result_cap=3))
    yield running
    running.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[WebDriver]:
    profile = tempfile.mkdtemp(prefix="kg-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--disable-extensions",
                 "--disable-default-apps", "--disable-dev-shm-usage",
                 "--window-size=1280,1000", f"--user-data-dir={profile}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"performance": "ALL", "browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(TIMEOUT)
    driver.set_script_timeout(TIMEOUT)
    SCREENSHOTS.mkdir(exist_ok=True)
    yield driver
    driver.quit()
    shutil.rmtree(profile, ignore_errors=True)


def wait_for(driver: WebDriver, condition: Callable[[WebDriver], Any]) -> Any:
    return WebDriverWait(driver, TIMEOUT).until(condition)


def screenshot(driver: WebDriver, name: str, width: int = 1280) -> None:
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(width, min(max(int(height) + 120, 600), 4000))
    driver.save_screenshot(str(SCREENSHOTS / f"{name}.png"))
    driver.set_window_size(1280, 1000)


def requested_urls(driver: WebDriver) -> list[str]:
    """Every URL the page asked the network for since the last call (performance log)."""
    urls = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            urls.append(message["params"]["request"]["url"])
    return urls


def editor_text(driver: WebDriver) -> str:
    return str(driver.execute_script("return window.kgQueryEditor.getValue()"))


def set_editor_text(driver: WebDriver, text: str) -> None:
    wait_for(driver, lambda d: d.find_element(By.CSS_SELECTOR, "#editor .cm-content"))
    driver.execute_script("window.kgQueryEditor.setValue(arguments[0])", text)


def type_at_end(driver: WebDriver, *keys: str) -> None:
    content = driver.find_element(By.CSS_SELECTOR, "#editor .cm-content")
    content.click()
    content.send_keys(Keys.CONTROL, Keys.END)
    content.send_keys(*keys)


def forget_tabs_and_history(driver: WebDriver, server: Server) -> None:
    """Clear what the query page keeps in local storage (after leaving it, which saves)."""
    driver.get("about:blank")
    driver.execute_cdp_cmd("Storage.clearDataForOrigin",
                           {"origin": server.url, "storageTypes": "local_storage"})


def click(driver: WebDriver, element: Any) -> None:
    """Click an element after scrolling it to the middle (clear of the sticky header)."""
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", element)
    element.click()


def press(driver: WebDriver, *keys: str) -> None:
    """Keys to the focused element, as typed (no click that would close a popup)."""
    driver.switch_to.active_element.send_keys(*keys)


def run_query(driver: WebDriver, server: Server, query: str) -> None:
    forget_tabs_and_history(driver, server)
    driver.get(server.url + "/")
    set_editor_text(driver, query)
    driver.find_element(By.ID, "run").click()
    wait_for(driver, lambda d: d.find_element(By.ID, "status").text.endswith(" ms"))


def table_rows(driver: WebDriver) -> list[list[str]]:
    rows = driver.find_elements(By.CSS_SELECTOR, "#results tbody tr")
    return [[td.text for td in row.find_elements(By.TAG_NAME, "td")][1:] for row in rows]


PERSONS = """PREFIX schema: <https://schema.org/>
PREFIX skg: <https://w3id.org/scholarkg/ns#>
SELECT ?person ?name ?h WHERE {
?person a schema:Person ; schema:name ?name ; skg:hIndex ?h .
} ORDER BY DESC(?h)"""


def test_query_page_runs_a_query_and_shows_the_table(browser: WebDriver, server: Server) -> None:
    run_query(browser, server, PERSONS)
    assert table_rows(browser) == [
        ["person/yuzhen-huang", "Yuzhen Huang", "9"],
        ["person/zhicheng-zhu", "Zhicheng Zhu", "7"],
    ]
    status = browser.find_element(By.ID, "status").text
    assert status.startswith("2 rows in ")
    assert not browser.find_element(By.ID, "error").is_displayed()
    assert not browser.find_element(By.ID, "capped").is_displayed()
    headers = [th.text for th in browser.find_elements(By.CSS_SELECTOR, "#results thead th")]
    assert headers == ["#", "person", "name", "h"]
    # IRIs link to their local pages; downloads ask the endpoint for the same query
    link = browser.find_element(By.CSS_SELECTOR, "#results tbody a")
    assert urlsplit(link.get_attribute("href")).path == f"/id/{YUZHEN}"
    formats = {a.text: a.get_attribute("href")
               for a in browser.find_elements(By.CSS_SELECTOR, "#downloads a")}
    assert set(formats) == {"SPARQL JSON", "SPARQL XML", "CSV", "TSV"}
    assert formats["CSV"].startswith(server.url + "/sparql?query=")
    assert formats["CSV"].endswith("&format=csv")
    # the address now holds the query, so reloading or sharing it keeps it
    assert quote("?person", safe="") in browser.current_url
    screenshot(browser, "query-results")
    link.click()
    wait_for(browser, lambda d: d.find_element(By.TAG_NAME, "h1").text == "Yuzhen Huang")


def test_ctrl_enter_runs_and_capped_results_say_so(browser: WebDriver, server: Server) -> None:
    browser.get(server.url + "/")
    Select(browser.find_element(By.ID, "examples")).select_by_visible_text(
        "Metric history of a person")
    assert "schema:observationAbout" in editor_text(browser)
    type_at_end(browser, Keys.CONTROL, Keys.ENTER)
    wait_for(browser, lambda d: d.find_element(By.ID, "status").text.endswith(" ms"))
    assert len(table_rows(browser)) == 3  # cut at KG_RESULT_CAP=3
    capped = browser.find_element(By.ID, "capped")
    assert capped.is_displayed() and "Result cut at 3 rows" in capped.text
    screenshot(browser, "query-capped")


def test_tab_indents_in_the_editor(browser: WebDriver, server: Server) -> None:
    browser.get(server.url + "/")
    set_editor_text(browser, "")
    type_at_end(browser, "a", Keys.TAB, "b")
    assert editor_text(browser) == "  ab"
    content = browser.find_element(By.CSS_SELECTOR, "#editor .cm-content")
    assert browser.switch_to.active_element == content


def test_query_errors_show_the_server_message(browser: WebDriver, server: Server) -> None:
    run_query(browser, server, "SELECT ?x WHERE { ?x ?y }")
    error = browser.find_element(By.ID, "error")
    assert error.is_displayed()
    assert "not valid SPARQL" in error.text
    assert table_rows(browser) == []
    screenshot(browser, "query-error")


def test_construct_results_render_as_triples(browser: WebDriver, server: Server) -> None:
    run_query(browser, server, "CONSTRUCT { ?s <https://schema.org/name> ?o } WHERE { "
                               "?s <https://schema.org/name> ?o FILTER(CONTAINS(?o, 'script')) }")
    rows = table_rows(browser)
    assert rows == [[SCRIPT_PAPER, "schema:name", SCRIPT_TITLE]]
    # the title arrived as text: no element was made from it, no dialog opened
    assert browser.find_elements(By.CSS_SELECTOR, "#results script") == []
    formats = [a.text for a in browser.find_elements(By.CSS_SELECTOR, "#downloads a")]
    assert "Turtle" in formats and "N-Triples" in formats


def test_a_query_link_runs_the_query(browser: WebDriver, server: Server) -> None:
    forget_tabs_and_history(browser, server)
    browser.get(server.url + "/")  # a first visit: one tab, the first example
    wait_for(browser, lambda d: d.find_element(By.CSS_SELECTOR, "#tabs .tab-title"))
    browser.get(server.url + "/?query=" + quote("ASK { ?s ?p ?o }"))
    # no click: the link runs what it names, in a tab of its own
    wait_for(browser, lambda d: d.find_element(By.ID, "status").text.endswith(" ms"))
    assert editor_text(browser) == "ASK { ?s ?p ?o }"
    assert browser.find_element(By.CSS_SELECTOR, "#results .boolean").text == "true"
    tabs = [t.text for t in browser.find_elements(By.CSS_SELECTOR, "#tabs .tab-title")]
    assert tabs == ["Query 1", "Query 2"]
    active = browser.find_element(By.CSS_SELECTOR, "#tabs .tab.active .tab-title")
    assert active.text == "Query 2"
    # the first tab still holds the page's first example; the history has the run query
    browser.find_element(By.XPATH, "//button[text()='Query 1']").click()
    assert "schema:Person" in editor_text(browser)
    history = [o.text for o in Select(browser.find_element(By.ID, "history")).options]
    assert len(history) == 2 and history[1].endswith("ASK { ?s ?p ?o }")


def test_person_page_draws_the_charts(browser: WebDriver, server: Server) -> None:
    browser.get(f"{server.url}/id/{YUZHEN}")
    charts = browser.find_elements(By.CSS_SELECTOR, "svg.line-chart")
    assert len(charts) == 4  # the AI score, observed once, is a value with its date
    h_index = browser.find_element(By.CSS_SELECTOR, 'figure[data-metric="hIndex"] svg')
    points = h_index.find_elements(By.CSS_SELECTOR, "circle.point")
    assert [p.get_attribute("data-value") for p in points] == ["7", "9"]
    # drawn and visible: real size on screen, the later (higher) point above the earlier one
    assert h_index.size["width"] > 200
    assert points[1].location["y"] < points[0].location["y"]
    single = browser.find_element(By.CSS_SELECTOR, '.observed-once [data-metric="aiScore"]')
    assert single.is_displayed() and "41" in single.text and "2026-11-21" in single.text
    screenshot(browser, "person")


def test_person_page_reads_on_a_phone(browser: WebDriver, server: Server) -> None:
    browser.get(f"{server.url}/id/{YUZHEN}")
    browser.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
        "width": 390, "height": 844, "deviceScaleFactor": 1, "mobile": True})
    try:
        overflow = browser.execute_script("""
          const width = document.documentElement.clientWidth;
          const wide = [...document.querySelectorAll('body *')]
            .filter(e => e.getBoundingClientRect().right > width + 1 && !e.closest('.table-wrap'))
            .map(e => e.tagName + '.' + e.className);
          const scrolled = [...document.querySelectorAll('.table-wrap')]
            .filter(w => w.scrollWidth > w.clientWidth + 1).map(w => w.firstElementChild.className);
          return [width, document.documentElement.scrollWidth, wide, scrolled];""")
        width, page_width, wide, scrolled = overflow
        assert width == 390 and page_width == 390  # no sideways scrolling of the page
        assert wide == [] and scrolled == []  # nothing sticks out, no table scrolls sideways
        # the papers read as blocks: a title takes most of the width
        title = browser.find_element(By.CSS_SELECTOR, "table.papers a.paper-title")
        assert title.size["width"] > 200
        chart = browser.find_element(By.CSS_SELECTOR, 'figure[data-metric="hIndex"] svg')
        assert 250 < chart.size["width"] <= 390
        height = browser.execute_script("return document.documentElement.scrollHeight")
        browser.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
            "width": 390, "height": min(int(height), 4000), "deviceScaleFactor": 1,
            "mobile": True})
        browser.save_screenshot(str(SCREENSHOTS / "person-phone.png"))
    finally:
        browser.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})


def test_pages_render_titles_as_text(browser: WebDriver, server: Server) -> None:
    browser.get_log("browser")  # forget messages of earlier tests
    browser.get(f"{server.url}/id/{SCRIPT_PAPER}")
    assert browser.find_element(By.TAG_NAME, "h1").text == SCRIPT_TITLE
    screenshot(browser, "paper")
    browser.get(f"{server.url}/dataset")
    bars = browser.find_elements(By.CSS_SELECTOR, "#papers-by-year g.bar")
    assert [b.get_attribute("data-label") for b in bars] == ["2024", "2025", "2026"]
    screenshot(browser, "dataset")
    screenshot(browser, "dataset-narrow", width=390)
    for name, path in (("vocabulary", "/ns"), ("dumps", "/dumps/"),
                       ("category", "/id/category/LG")):
        browser.get(server.url + path)
        screenshot(browser, name)
    errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert errors == []


def test_no_request_leaves_localhost(browser: WebDriver, server: Server) -> None:
    requested_urls(browser)  # forget what earlier tests logged
    for path in ("/", f"/id/{YUZHEN}", f"/id/{SCRIPT_PAPER}", "/dataset", "/ns", "/dumps/"):
        browser.get(server.url + path)
    run_query(browser, server, PERSONS)
    urls = requested_urls(browser)
    assert any(u.endswith("/sparql") for u in urls)
    assert any(u.endswith("/static/style.css") for u in urls)
    assert any(u.endswith("/static/editor/editor.js") for u in urls)
    for url in urls:
        parts = urlsplit(url)
        assert parts.scheme in ("http", "data", "about", "blob"), url
        if parts.scheme == "http":
            assert parts.hostname == "127.0.0.1" and parts.port == server.server.server_port, url
    hosts = {host for host, _ in server.requests}
    assert hosts == {f"127.0.0.1:{server.server.server_port}"}


# ---------------------------------------------------------------- the SPARQL editor

SAMPLE_DUMP = Path(__file__).parent.parent / "exports"


@pytest.fixture(scope="module")
def sample_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, int]]:
    """The bundled sample (the committed N-Quads dump) with no result cap, and the number
    of triples in its default graph."""
    from kg.storage.store import KnowledgeStore

    dump = sorted(SAMPLE_DUMP.glob("scholarkg-*.nq.gz"))[-1]
    store = KnowledgeStore.open(None)
    store.load_nquads(gzip.decompress(dump.read_bytes()).decode("utf-8"))
    triples = store.count_quads(None)
    running = Server(make_app(tmp_path_factory.mktemp("exports"), store=store))
    yield running, triples
    running.stop()


def test_the_editor_highlights_sparql(browser: WebDriver, server: Server) -> None:
    browser.get(server.url + "/")
    set_editor_text(browser, "PREFIX schema: <https://schema.org/>\n"
                             "SELECT ?name WHERE { ?s schema:name ?name . FILTER(?name != 'x') }")
    keywords = [e.text for e in browser.find_elements(By.CSS_SELECTOR, "#editor .tok-keyword")]
    variables = [e.text for e in browser.find_elements(By.CSS_SELECTOR,
                                                        "#editor .tok-variableName")]
    strings = [e.text for e in browser.find_elements(By.CSS_SELECTOR, "#editor .tok-string")]
    assert {"PREFIX", "SELECT", "WHERE", "FILTER"} <= set(keywords)
    assert "?name" in variables and "'x'" in strings
    colour = browser.execute_script(
        "return [getComputedStyle(document.querySelector('#editor .tok-keyword')).color,"
        " getComputedStyle(document.querySelector('#editor .tok-variableName')).color,"
        " getComputedStyle(document.querySelector('#editor .cm-line')).color]")
    assert len(set(colour)) == 3  # keywords, variables and plain text look different


def completion_options(driver: WebDriver) -> list[str]:
    wait_for(driver, lambda d: d.find_elements(By.CSS_SELECTOR, ".cm-tooltip-autocomplete li"))
    return [e.text for e in driver.find_elements(
        By.CSS_SELECTOR, ".cm-tooltip-autocomplete li .cm-completionLabel")]


def test_the_editor_completes_a_prefix_and_a_property(browser: WebDriver,
                                                      server: Server) -> None:
    browser.get(server.url + "/")
    set_editor_text(browser, "SELECT ?s ?h WHERE {\n  ?s ")
    type_at_end(browser, "sk")
    options = completion_options(browser)
    assert options[0].startswith("skg:"), options
    press(browser, Keys.ENTER)
    assert editor_text(browser).endswith("?s skg:")
    press(browser, "hInd")
    options = completion_options(browser)
    assert any(o.startswith("skg:hIndex") for o in options), options
    screenshot(browser, "query-completion")
    press(browser, Keys.ENTER)
    text = editor_text(browser)
    # the completed name brought its PREFIX declaration along
    assert text == ("PREFIX skg: <https://w3id.org/scholarkg/ns#>\n"
                    "SELECT ?s ?h WHERE {\n  ?s skg:hIndex")
    # a class from the data model's shapes, with its prefix declared by hand
    set_editor_text(browser, "PREFIX schema: <https://schema.org/>\nSELECT * { ?s a ")
    type_at_end(browser, "schema:Scholarly")
    assert "schema:ScholarlyArticle" in completion_options(browser)
    # "PREFIX sch" offers whole declarations
    set_editor_text(browser, "")
    type_at_end(browser, "PREFIX prov")
    completion_options(browser)
    press(browser, Keys.ENTER)
    assert editor_text(browser) == "PREFIX prov: <http://www.w3.org/ns/prov#>"


def test_a_syntax_error_is_marked_at_its_position(browser: WebDriver, server: Server) -> None:
    run_query(browser, server, "PREFIX schema: <https://schema.org/>\n"
                               "SELECT ?s WHERE {\n  ?s schema:name ?n ;\n     ex:p ?o\n}")
    error = browser.find_element(By.ID, "error")
    assert "line 4, column 6: prefix `ex:` is not declared" in error.text
    assert "  4 |      ex:p ?o\n    |      ^" in error.text
    mark = wait_for(browser, lambda d: d.find_element(By.CSS_SELECTOR,
                                                      "#editor .cm-lintRange-error"))
    assert mark.text == "ex:p"
    lines = browser.find_elements(By.CSS_SELECTOR, "#editor .cm-line")
    assert "cm-lintRange-error" in lines[3].get_attribute("innerHTML")
    screenshot(browser, "query-error-mark")
    # editing the text takes the mark away
    type_at_end(browser, " ")
    wait_for(browser, lambda d: not d.find_elements(By.CSS_SELECTOR,
                                                    "#editor .cm-lintRange-error"))


def test_the_mark_counts_characters_outside_the_bmp_as_the_server_does(
        browser: WebDriver, server: Server) -> None:
    """The server's column counts code points; the editor's document counts UTF-16
    units, two for each emoji: converted, the mark stands on the mistake itself."""
    run_query(browser, server, 'SELECT * WHERE { ?s ?p "\U0001F600\U0001F600" ; ex:p ?o }')
    error = browser.find_element(By.ID, "error")
    assert "line 1, column 31: prefix `ex:` is not declared" in error.text
    mark = wait_for(browser, lambda d: d.find_element(By.CSS_SELECTOR,
                                                      "#editor .cm-lintRange-error"))
    assert mark.text == "ex:p"


def test_a_query_too_long_for_a_url_gets_no_link_and_downloads_by_post(
        browser: WebDriver, server: Server) -> None:
    """The page runs queries by POST; a query whose GET URL the server would refuse (414,
    KG_MAX_URL_BYTES) is not put in the address bar, and its downloads are POSTed."""
    long_query = PERSONS + "\n# " + "\u00e9" * 3000  # 18 KB percent-encoded
    run_query(browser, server, long_query)
    assert "too long for a link" in browser.find_element(By.ID, "downloads").text
    assert browser.execute_script("return location.search") == ""
    links = browser.find_elements(By.CSS_SELECTOR, "#downloads a.download")
    csv = next(link for link in links if link.text == "CSV")
    assert csv.get_attribute("href").endswith("#")
    # keep what the page saves instead of saving it, then read it back
    browser.execute_script("""window.kgSaved = null; var make = URL.createObjectURL;
        URL.createObjectURL = function (blob) { window.kgSaved = blob; return make(blob); };""")
    click(browser, csv)
    wait_for(browser, lambda d: d.execute_script("return window.kgSaved !== null"))
    saved = browser.execute_async_script(
        "var done = arguments[0]; window.kgSaved.text().then(done);")
    assert saved.splitlines()[0] == "person,name,h"
    assert len(saved.splitlines()) > 1
    assert not browser.find_element(By.ID, "error").text
    # a short query keeps its link and GET downloads
    run_query(browser, server, PERSONS)
    assert browser.execute_script("return location.search").startswith("?query=")
    csv = next(link for link in browser.find_elements(By.CSS_SELECTOR, "#downloads a.download")
               if link.text == "CSV")
    assert "format=csv" in csv.get_attribute("href")


def test_a_large_result_is_paged_and_sorted(browser: WebDriver,
                                            sample_server: tuple[Server, int]) -> None:
    running, triples = sample_server
    assert triples > 100  # the bundled sample's default graph (386 triples when written)
    run_query(browser, running, "SELECT ?s ?p ?o WHERE { ?s ?p ?o }")
    assert browser.find_element(By.ID, "status").text.startswith(f"{triples} rows in ")
    assert len(table_rows(browser)) == 50
    info = browser.find_element(By.ID, "page-info")
    pages = -(-triples // 50)
    assert info.text == f"Rows 1–50 of {triples} · page 1 of {pages}"
    click(browser, browser.find_element(By.ID, "page-next"))
    assert info.text.startswith("Rows 51–100 of ")
    numbers = browser.find_elements(By.CSS_SELECTOR, "#results tbody td.rownum")
    assert numbers[0].text == "51"
    for _ in range(pages - 2):
        click(browser, browser.find_element(By.ID, "page-next"))
    assert len(table_rows(browser)) == triples - 50 * (pages - 1)
    assert not browser.find_element(By.ID, "page-next").is_enabled()
    # sorting by a column orders every row, then shows the first page again
    click(browser, browser.find_element(By.XPATH, "//th/button[text()='p']"))
    assert info.text.startswith("Rows 1–50 of ")
    column = [row[1] for row in table_rows(browser)]
    assert column == sorted(column)
    click(browser, browser.find_element(By.XPATH, "//th/button[starts-with(text(), 'p')]"))
    descending = [row[1] for row in table_rows(browser)]
    assert descending == sorted(descending, reverse=True) and descending != column
    Select(browser.find_element(By.ID, "page-size")).select_by_visible_text("500")
    assert len(table_rows(browser)) == triples
    assert info.text == f"Rows 1–{triples} of {triples} · page 1 of 1"
    assert not browser.find_element(By.ID, "page-next").is_enabled()
    Select(browser.find_element(By.ID, "page-size")).select_by_visible_text("50")
    screenshot(browser, "query-paged")
    # every download format is offered
    formats = [a.text for a in browser.find_elements(By.CSS_SELECTOR, "#downloads a")]
    assert formats == ["SPARQL JSON", "SPARQL XML", "CSV", "TSV"]
