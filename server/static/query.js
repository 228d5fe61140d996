// The query page: a SPARQL editor (CodeMirror 6, static/editor/editor.js) in tabs,
// example queries, a history of the queries run here, and results as a table with
// sorting and paging. Every value from the server reaches the page through textContent
// (never innerHTML), and the only requests made are to this server's SPARQL endpoint.
(function () {
  "use strict";

  var form = document.getElementById("query-form");
  var textarea = document.getElementById("query");
  var editorBox = document.getElementById("editor");
  var runButton = document.getElementById("run");
  var examplesSelect = document.getElementById("examples");
  var historySelect = document.getElementById("history");
  var tabsBar = document.getElementById("tabs");
  var newTabButton = document.getElementById("new-tab");
  var statusBox = document.getElementById("status");
  var cappedBox = document.getElementById("capped");
  var errorBox = document.getElementById("error");
  var resultsBox = document.getElementById("results");
  var downloadsBox = document.getElementById("downloads");
  var pager = document.getElementById("pager");
  var pageInfo = document.getElementById("page-info");
  var pagePrev = document.getElementById("page-prev");
  var pageNext = document.getElementById("page-next");
  var pageSizeSelect = document.getElementById("page-size");

  var endpoint = form.dataset.endpoint;
  var baseIri = form.dataset.baseIri;
  var entityPath = form.dataset.entityPath;
  // the server refuses longer request URLs (KG_MAX_URL_BYTES, 414): such queries are
  // never put in a link; their downloads are POSTed
  var maxUrlBytes = Number(form.dataset.maxUrlBytes) || 16384;
  var examples = readJson("kg-examples");
  var downloads = readJson("kg-downloads");
  var prefixes = readJson("kg-prefixes");
  var terms = readJson("kg-terms");
  var XSD = "http://www.w3.org/2001/XMLSchema#";
  var NUMERIC = ["integer", "decimal", "double", "float", "int", "long", "short",
                 "nonNegativeInteger", "positiveInteger"];
  var TABS_KEY = "kg-query-tabs";
  var HISTORY_KEY = "kg-query-history";
  var HISTORY_SIZE = 25;

  function readJson(id) {
    return JSON.parse(document.getElementById(id).textContent);
  }

  function load(key, fallback) {
    try {
      var value = JSON.parse(window.localStorage.getItem(key));
      return value === null ? fallback : value;
    } catch (e) {
      return fallback;
    }
  }

  function save(key, value) {
    try {
      window.localStorage.setItem(key, JSON.stringify(value));
    } catch (e) { /* storage full or off: the page works without it */ }
  }

  // ------------------------------------------------------------------ the editor

  // CodeMirror when its bundle loaded; the plain textarea otherwise
  var editor = window.KgEditor ? codeEditor() : textareaEditor();

  function codeEditor() {
    textarea.hidden = true;
    return window.KgEditor.create(editorBox, {
      doc: textarea.value, prefixes: prefixes, terms: terms, onRun: run
    });
  }

  function textareaEditor() {
    editorBox.hidden = true;
    textarea.addEventListener("keydown", function (event) {
      if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
        event.preventDefault();
        run();
      }
    });
    return {
      getValue: function () { return textarea.value; },
      setValue: function (text) { textarea.value = text; },
      focus: function () { textarea.focus(); },
      markError: function () { return false; },
      clearError: function () {}
    };
  }

  // ------------------------------------------------------------------ tabs and history

  var tabs = load(TABS_KEY, null);
  if (!tabs || !Array.isArray(tabs.list) || !tabs.list.length) {
    tabs = { list: [{ title: "Query 1", text: textarea.value }], active: 0 };
  }
  tabs.active = Math.min(Math.max(Number(tabs.active) || 0, 0), tabs.list.length - 1);
  var linked = form.dataset.run === "yes";
  if (linked) {
    // a ?query= link opens in a tab of its own (or the tab already holding it)
    var at = tabs.list.map(function (t) { return t.text; }).indexOf(textarea.value);
    if (at === -1) {
      tabs.list.push({ title: nextTitle(), text: textarea.value });
      at = tabs.list.length - 1;
    }
    tabs.active = at;
  }
  editor.setValue(tabs.list[tabs.active].text);

  function nextTitle() {
    var n = 1;
    var titles = tabs.list.map(function (t) { return t.title; });
    while (titles.indexOf("Query " + n) !== -1) { n++; }
    return "Query " + n;
  }

  function storeTabs() {
    tabs.list[tabs.active].text = editor.getValue();
    save(TABS_KEY, tabs);
  }

  function selectTab(index) {
    tabs.list[tabs.active].text = editor.getValue();
    tabs.active = index;
    editor.setValue(tabs.list[index].text);
    editor.clearError();
    storeTabs();
    renderTabs();
    editor.focus();
  }

  function closeTab(index) {
    tabs.list[tabs.active].text = editor.getValue();
    tabs.list.splice(index, 1);
    if (tabs.active >= index && tabs.active > 0) { tabs.active--; }
    editor.setValue(tabs.list[tabs.active].text);
    storeTabs();
    renderTabs();
  }

  function renderTabs() {
    Array.prototype.slice.call(tabsBar.querySelectorAll(".tab")).forEach(function (node) {
      tabsBar.removeChild(node);
    });
    tabs.list.forEach(function (tab, index) {
      var wrap = el("span", "tab" + (index === tabs.active ? " active" : ""));
      var button = el("button", "tab-title", tab.title);
      button.type = "button";
      button.setAttribute("role", "tab");
      button.setAttribute("aria-selected", index === tabs.active ? "true" : "false");
      button.addEventListener("click", function () { selectTab(index); });
      wrap.appendChild(button);
      if (tabs.list.length > 1) {
        var close = el("button", "tab-close", "×");
        close.type = "button";
        close.title = "Close " + tab.title;
        close.setAttribute("aria-label", "Close " + tab.title);
        close.addEventListener("click", function () { closeTab(index); });
        wrap.appendChild(close);
      }
      tabsBar.insertBefore(wrap, newTabButton);
    });
  }

  newTabButton.addEventListener("click", function () {
    tabs.list[tabs.active].text = editor.getValue();
    tabs.list.push({ title: nextTitle(), text: examples[0] ? examples[0].query : "" });
    selectTab(tabs.list.length - 1);
  });

  window.addEventListener("beforeunload", storeTabs);

  function summary(text) {
    var lines = text.split("\n").filter(function (line) {
      return line.trim() && !/^\s*(PREFIX|BASE|#)/i.test(line);
    });
    var first = (lines[0] || text).trim().replace(/\s+/g, " ");
    return first.length > 70 ? first.slice(0, 69) + "…" : first;
  }

  function renderHistory() {
    var entries = load(HISTORY_KEY, []);
    while (historySelect.options.length > 1) { historySelect.remove(1); }
    entries.forEach(function (entry, index) {
      var option = el("option", null, entry.when + " · " + summary(entry.text));
      option.value = String(index);
      historySelect.appendChild(option);
    });
  }

  function remember(text) {
    var entries = load(HISTORY_KEY, []).filter(function (e) { return e.text !== text; });
    var now = new Date();
    var when = now.toISOString().slice(0, 10) + " " + now.toTimeString().slice(0, 5);
    entries.unshift({ text: text, when: when });
    save(HISTORY_KEY, entries.slice(0, HISTORY_SIZE));
    renderHistory();
  }

  historySelect.addEventListener("change", function () {
    var entry = load(HISTORY_KEY, [])[Number(historySelect.value)];
    if (historySelect.value !== "" && entry) {
      editor.setValue(entry.text);
      storeTabs();
      editor.focus();
    }
    historySelect.value = "";
  });

  examplesSelect.addEventListener("change", function () {
    var example = examples[Number(examplesSelect.value)];
    if (examplesSelect.value !== "" && example) {
      editor.setValue(example.query);
      storeTabs();
      editor.focus();
    }
  });

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    run();
  });

  // ------------------------------------------------------------------ running a query

  // SELECT, ASK, CONSTRUCT or DESCRIBE, ignoring IRIs, strings and comments
  function queryForm(text) {
    var plain = text
      .replace(/<[^<>\s]*>/g, "<>")
      .replace(/"""[\s\S]*?"""|'''[\s\S]*?'''/g, "''")
      .replace(/"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*'/g, "''")
      .replace(/#[^\n]*/g, "");
    var match = plain.match(/\b(SELECT|ASK|CONSTRUCT|DESCRIBE)\b/i);
    return match ? match[1].toUpperCase() : "SELECT";
  }

  function show(box, text) {
    box.textContent = text;
    box.hidden = !text;
  }

  function clearResults() {
    show(errorBox, "");
    show(cappedBox, "");
    resultsBox.textContent = "";
    downloadsBox.textContent = "";
    downloadsBox.hidden = true;
    pager.hidden = true;
    table = null;
    editor.clearError();
  }

  function run() {
    var text = editor.getValue();
    var kind = queryForm(text);
    var isGraph = kind === "CONSTRUCT" || kind === "DESCRIBE";
    clearResults();
    storeTabs();
    remember(text);
    statusBox.textContent = "Running…";
    runButton.disabled = true;
    var started = performance.now();
    var body = new URLSearchParams();
    body.set("query", text);
    fetch(endpoint, {
      method: "POST",
      headers: {
        "Content-Type": "application/x-www-form-urlencoded",
        "Accept": isGraph ? "application/n-triples" : "application/sparql-results+json"
      },
      body: body
    }).then(function (response) {
      return response.text().then(function (payload) {
        var elapsed = Math.round(performance.now() - started);
        if (!response.ok) {
          statusBox.textContent = "HTTP " + response.status + " after " + elapsed + " ms";
          var message = errorMessage(response, payload);
          show(errorBox, message);
          markPosition(message);
          return;
        }
        var count = isGraph ? renderTriples(payload) : renderResults(payload);
        statusBox.textContent = count.label + " in " + elapsed + " ms";
        var capped = response.headers.get("KG-Result-Capped");
        if (capped) {
          show(cappedBox, "Result cut at " + capped + " " + (isGraph ? "triples" : "rows") +
               ": the server returns at most that many (setting KG_RESULT_CAP). " +
               "Narrow the query or page through it with LIMIT and OFFSET.");
        }
        renderDownloads(text, isGraph);
        var address = "?query=" + encodeURIComponent(text);
        try {
          if (fitsUrl(location.pathname + address)) {
            history.replaceState(null, "", address);
          } else {
            history.replaceState(null, "", location.pathname);  // a link would get 414
          }
        } catch (e) { /* the browser refused the address: keep the old one */ }
      });
    }).catch(function (error) {
      statusBox.textContent = "Failed";
      show(errorBox, "The endpoint could not be reached: " + error.message);
    }).finally(function () {
      runButton.disabled = false;
    });
  }

  function errorMessage(response, payload) {
    var type = response.headers.get("Content-Type") || "";
    if (type.indexOf("json") !== -1) {
      try {
        var data = JSON.parse(payload);
        if (data && data.error && data.error.message) {
          return data.error.message;
        }
      } catch (e) { /* not JSON after all */ }
    }
    return payload.trim() || ("HTTP " + response.status);
  }

  // "line 2, column 6: prefix `ex:` is not declared" -> a mark in the editor
  function markPosition(message) {
    var match = /line (\d+), column (\d+): ([^\n]*)/.exec(message);
    if (match) {
      editor.markError(Number(match[1]), Number(match[2]), match[3]);
    }
  }

  // ------------------------------------------------------------------ rendering

  function localHref(iri) {
    if (entityPath && iri.indexOf(baseIri) === 0) {
      return entityPath + iri.slice(baseIri.length);
    }
    if (/^https?:\/\//i.test(iri)) {
      return iri;
    }
    return null;
  }

  function shortIri(iri) {
    if (iri.indexOf(baseIri) === 0 && iri.length > baseIri.length) {
      return iri.slice(baseIri.length);
    }
    for (var prefix in prefixes) {
      var ns = prefixes[prefix];
      if (iri.indexOf(ns) === 0) {
        var local = iri.slice(ns.length);
        if (local && !/[\/#?:]/.test(local)) {
          return prefix + ":" + local;
        }
      }
    }
    return iri;
  }

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) { node.className = className; }
    if (text !== undefined) { node.textContent = text; }
    return node;
  }

  function termNode(term) {
    if (!term) {
      return el("span", "unbound", "");
    }
    if (term.type === "uri") {
      var href = localHref(term.value);
      var link = el(href ? "a" : "span", "iri", shortIri(term.value));
      if (href) { link.href = href; }
      link.title = term.value;
      return link;
    }
    if (term.type === "bnode") {
      return el("span", "bnode", "_:" + term.value);
    }
    if (term.type === "literal" || term.type === "typed-literal") {
      var wrap = el("span", "literal");
      wrap.appendChild(el("span", "value", term.value));
      var lang = term["xml:lang"];
      if (lang) {
        wrap.appendChild(el("span", "lang", "@" + lang));
      } else if (isNumeric(term)) {
        wrap.title = shortIri(term.datatype);  // numbers speak for themselves
      } else if (term.datatype && term.datatype !== XSD + "string") {
        wrap.appendChild(el("span", "datatype", shortIri(term.datatype)));
      }
      return wrap;
    }
    return el("span", "other", JSON.stringify(term.value));
  }

  function isNumeric(term) {
    return !!(term && term.datatype && term.datatype.indexOf(XSD) === 0 &&
              NUMERIC.indexOf(term.datatype.slice(XSD.length)) !== -1);
  }

  // the table on screen: all its rows, the sort order and the page shown
  var table = null;

  function renderTable(columns, rows) {
    table = { columns: columns, rows: rows.slice(), order: null, descending: false, page: 0 };
    drawTable();
  }

  function sortKey(term) {
    if (!term) { return null; }
    if (isNumeric(term)) { return Number(term.value); }
    return term.value;
  }

  function compareTerms(a, b) {
    var x = sortKey(a);
    var y = sortKey(b);
    if (x === null || y === null) { return x === y ? 0 : (x === null ? 1 : -1); }
    if (typeof x === "number" && typeof y === "number") { return x - y; }
    return String(x).localeCompare(String(y), undefined, { numeric: true });
  }

  function sortBy(name) {
    table.descending = table.order === name ? !table.descending : false;
    table.order = name;
    table.rows.sort(function (a, b) {
      var c = compareTerms(a[name], b[name]);
      return table.descending ? -c : c;
    });
    table.page = 0;
    drawTable();
  }

  function pageSize() {
    return Number(pageSizeSelect.value) || 50;
  }

  function drawTable() {
    resultsBox.textContent = "";
    var size = pageSize();
    var pages = Math.max(1, Math.ceil(table.rows.length / size));
    table.page = Math.min(table.page, pages - 1);
    var first = table.page * size;
    var shown = table.rows.slice(first, first + size);
    var node = el("table", "data results-table");
    var head = node.createTHead().insertRow();
    head.appendChild(el("th", "rownum", "#"));
    table.columns.forEach(function (name) {
      var th = el("th");
      var button = el("button", "sort", name);
      button.type = "button";
      button.title = "Sort by " + name;
      if (table.order === name) {
        th.setAttribute("aria-sort", table.descending ? "descending" : "ascending");
        button.appendChild(el("span", "arrow", table.descending ? " ▼" : " ▲"));
      }
      button.addEventListener("click", function () { sortBy(name); });
      th.appendChild(button);
      head.appendChild(th);
    });
    var tbody = node.createTBody();
    shown.forEach(function (row, index) {
      var tr = tbody.insertRow();
      tr.appendChild(el("td", "rownum", String(first + index + 1)));
      table.columns.forEach(function (name) {
        var td = el("td", isNumeric(row[name]) ? "num" : null);
        td.appendChild(termNode(row[name]));
        tr.appendChild(td);
      });
    });
    resultsBox.appendChild(node);
    // shown while a smaller page size could split the rows (so a larger one can be undone)
    pager.hidden = table.rows.length <= Number(pageSizeSelect.options[0].value);
    pageInfo.textContent = "Rows " + (first + 1) + "–" + (first + shown.length) + " of " +
      table.rows.length + " · page " + (table.page + 1) + " of " + pages;
    pagePrev.disabled = table.page === 0;
    pageNext.disabled = table.page >= pages - 1;
  }

  pagePrev.addEventListener("click", function () {
    if (table && table.page > 0) { table.page--; drawTable(); }
  });
  pageNext.addEventListener("click", function () {
    if (table) { table.page++; drawTable(); }
  });
  pageSizeSelect.addEventListener("change", function () {
    if (table) { table.page = 0; drawTable(); }
  });

  function plural(n, word) {
    return n + " " + word + (n === 1 ? "" : "s");
  }

  function renderResults(payload) {
    var data = JSON.parse(payload);
    if (typeof data.boolean === "boolean") {
      resultsBox.appendChild(el("p", "boolean " + (data.boolean ? "yes" : "no"),
                                data.boolean ? "true" : "false"));
      return { label: "ASK answered " + data.boolean };
    }
    var columns = (data.head && data.head.vars) || [];
    var rows = (data.results && data.results.bindings) || [];
    if (rows.length) {
      renderTable(columns, rows);
    } else {
      resultsBox.appendChild(el("p", "empty", "No results."));
    }
    return { label: plural(rows.length, "row") };
  }

  function renderTriples(payload) {
    var triples = parseNTriples(payload);
    if (triples.length) {
      renderTable(["subject", "predicate", "object"], triples);
    } else {
      resultsBox.appendChild(el("p", "empty", "No triples."));
    }
    return { label: plural(triples.length, "triple") };
  }

  // a URL's length as the server counts it (percent-encoded, so one byte a character)
  function fitsUrl(url) {
    return url.length <= maxUrlBytes;
  }

  // a download the server would refuse as a GET (414) is POSTed and saved from memory
  function postDownload(text, format, link) {
    link.classList.add("busy");
    var body = new URLSearchParams({ query: text, format: format.name });
    fetch(endpoint, { method: "POST", body: body }).then(function (response) {
      return response.blob().then(function (blob) {
        if (!response.ok) {
          return blob.text().then(function (message) {
            show(errorBox, message || ("HTTP " + response.status));
          });
        }
        var url = URL.createObjectURL(blob);
        var save = el("a", "", "");
        save.href = url;
        save.download = "query-results." + format.extension;
        document.body.appendChild(save);
        save.click();
        save.remove();
        setTimeout(function () { URL.revokeObjectURL(url); }, 60000);
      });
    }).catch(function (error) {
      show(errorBox, "The endpoint could not be reached: " + error.message);
    }).finally(function () {
      link.classList.remove("busy");
    });
  }

  function renderDownloads(text, isGraph) {
    var formats = isGraph ? downloads.graph : downloads.results;
    var queryUrl = endpoint + "?query=" + encodeURIComponent(text);
    downloadsBox.appendChild(el("span", "label", "Download:"));
    formats.forEach(function (format) {
      var link = el("a", "download", format.label);
      var href = queryUrl + "&format=" + encodeURIComponent(format.name);
      if (fitsUrl(href)) {
        link.href = href;
        link.setAttribute("download", "");
      } else {
        link.href = "#";
        link.title = "The query is too long for a link: the download is sent with POST";
        link.addEventListener("click", function (event) {
          event.preventDefault();
          postDownload(text, format, link);
        });
      }
      downloadsBox.appendChild(link);
    });
    if (!fitsUrl(queryUrl)) {
      downloadsBox.appendChild(el("span", "note",
        "(the query is too long for a link to share; downloads are sent with POST)"));
    }
    downloadsBox.hidden = false;
  }

  // ------------------------------------------------------------------ N-Triples

  var TERM = /^(<[^>]*>|_:[^\s.]+(?:\.[^\s.]+)*|"(?:[^"\\]|\\.)*"(?:@[A-Za-z]+(?:-[A-Za-z0-9]+)*|\^\^<[^>]*>)?)\s*/;

  function unescape(text) {
    return text.replace(/\\(?:u([0-9A-Fa-f]{4})|U([0-9A-Fa-f]{8})|(.))/g,
      function (all, u4, u8, c) {
        if (u4 || u8) { return String.fromCodePoint(parseInt(u4 || u8, 16)); }
        return { t: "\t", b: "\b", n: "\n", r: "\r", f: "\f", '"': '"', "'": "'", "\\": "\\" }[c] || c;
      });
  }

  function toTerm(token) {
    if (token.charAt(0) === "<") {
      return { type: "uri", value: unescape(token.slice(1, -1)) };
    }
    if (token.charAt(0) === "_") {
      return { type: "bnode", value: token.slice(2) };
    }
    var end = token.lastIndexOf('"');
    var term = { type: "literal", value: unescape(token.slice(1, end)) };
    var rest = token.slice(end + 1);
    if (rest.charAt(0) === "@") { term["xml:lang"] = rest.slice(1); }
    if (rest.slice(0, 2) === "^^") { term.datatype = rest.slice(3, -1); }
    return term;
  }

  function parseNTriples(text) {
    var out = [];
    text.split(/\r?\n/).forEach(function (line) {
      var rest = line.trim();
      if (!rest || rest.charAt(0) === "#") { return; }
      var terms = [];
      for (var i = 0; i < 3; i++) {
        var match = rest.match(TERM);
        if (!match) { return; }
        terms.push(toTerm(match[1]));
        rest = rest.slice(match[0].length);
      }
      out.push({ subject: terms[0], predicate: terms[1], object: terms[2] });
    });
    return out;
  }

  // ------------------------------------------------------------------ start

  window.kgQueryEditor = editor;  // getValue/setValue for scripts driving the page

  renderTabs();
  renderHistory();
  if (linked) {
    run();  // a ?query= link runs what it names
  }
})();
