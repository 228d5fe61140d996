// The query page: a small editor, example queries, and results rendered as a table.
// Every value from the server reaches the page through textContent (never innerHTML),
// and the only requests made are to this server's SPARQL endpoint.
(function () {
  "use strict";

  var form = document.getElementById("query-form");
  var editor = document.getElementById("query");
  var runButton = document.getElementById("run");
  var examplesSelect = document.getElementById("examples");
  var statusBox = document.getElementById("status");
  var cappedBox = document.getElementById("capped");
  var errorBox = document.getElementById("error");
  var resultsBox = document.getElementById("results");
  var downloadsBox = document.getElementById("downloads");

  var endpoint = form.dataset.endpoint;
  var baseIri = form.dataset.baseIri;
  var entityPath = form.dataset.entityPath;
  var examples = readJson("kg-examples");
  var downloads = readJson("kg-downloads");
  var prefixes = readJson("kg-prefixes");
  var XSD = "http://www.w3.org/2001/XMLSchema#";
  var NUMERIC = ["integer", "decimal", "double", "float", "int", "long", "short",
                 "nonNegativeInteger", "positiveInteger"];

  function readJson(id) {
    return JSON.parse(document.getElementById(id).textContent);
  }

  // ------------------------------------------------------------------ the editor

  var releaseTab = false;  // after Escape, Tab moves focus as usual (keyboard users)

  editor.addEventListener("keydown", function (event) {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
      event.preventDefault();
      run();
      return;
    }
    if (event.key === "Escape") {
      releaseTab = true;
      return;
    }
    if (event.key === "Tab" && !releaseTab && !event.shiftKey && !event.altKey &&
        !event.ctrlKey && !event.metaKey) {
      event.preventDefault();
      editor.setRangeText("  ", editor.selectionStart, editor.selectionEnd, "end");
      return;
    }
    releaseTab = false;
  });

  examplesSelect.addEventListener("change", function () {
    var example = examples[Number(examplesSelect.value)];
    if (examplesSelect.value !== "" && example) {
      editor.value = example.query;
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
  }

  function run() {
    var text = editor.value;
    var kind = queryForm(text);
    var isGraph = kind === "CONSTRUCT" || kind === "DESCRIBE";
    clearResults();
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
          show(errorBox, errorMessage(response, payload));
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
        try {
          history.replaceState(null, "", "?query=" + encodeURIComponent(text));
        } catch (e) { /* a very long query: keep the old address */ }
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

  function renderTable(columns, rows) {
    var table = el("table", "data results-table");
    var head = table.createTHead().insertRow();
    var corner = el("th", "rownum", "#");
    head.appendChild(corner);
    columns.forEach(function (name) { head.appendChild(el("th", null, name)); });
    var tbody = table.createTBody();
    rows.forEach(function (row, index) {
      var tr = tbody.insertRow();
      tr.appendChild(el("td", "rownum", String(index + 1)));
      columns.forEach(function (name) {
        var td = el("td", isNumeric(row[name]) ? "num" : null);
        td.appendChild(termNode(row[name]));
        tr.appendChild(td);
      });
    });
    resultsBox.appendChild(table);
  }

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

  function renderDownloads(text, isGraph) {
    var formats = isGraph ? downloads.graph : downloads.results;
    downloadsBox.appendChild(el("span", "label", "Download:"));
    formats.forEach(function (format) {
      var link = el("a", "download", format.label);
      link.href = endpoint + "?query=" + encodeURIComponent(text) + "&format=" +
        encodeURIComponent(format.name);
      link.setAttribute("download", "");
      downloadsBox.appendChild(link);
    });
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
})();
