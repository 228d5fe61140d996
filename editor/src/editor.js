// The query page's SPARQL editor: CodeMirror 6 with the SPARQL grammar of
// codemirror-lang-sparql, completion of prefixes and vocabulary terms from data the
// page carries (no request of its own), and server errors marked at their position.
// Bundled by scripts/build-editor.sh into server/static/editor/editor.js (global KgEditor).
import { EditorState } from "@codemirror/state";
import {
  EditorView, keymap, lineNumbers, highlightActiveLine, highlightActiveLineGutter,
  drawSelection, placeholder
} from "@codemirror/view";
import { defaultKeymap, history, historyKeymap, indentWithTab } from "@codemirror/commands";
import { syntaxHighlighting, bracketMatching, indentOnInput } from "@codemirror/language";
import {
  autocompletion, completionKeymap, closeBrackets, closeBracketsKeymap
} from "@codemirror/autocomplete";
import { setDiagnostics, lintGutter } from "@codemirror/lint";
import { classHighlighter } from "@lezer/highlight";
import { sparql } from "codemirror-lang-sparql";

const KEYWORDS = [
  "SELECT", "CONSTRUCT", "ASK", "DESCRIBE", "WHERE", "PREFIX", "BASE", "DISTINCT",
  "OPTIONAL", "FILTER", "UNION", "MINUS", "GRAPH", "BIND", "VALUES", "GROUP BY",
  "ORDER BY", "HAVING", "LIMIT", "OFFSET", "COUNT", "GROUP_CONCAT", "SAMPLE", "EXISTS",
  "NOT EXISTS", "CONTAINS", "STRSTARTS", "LANG", "STR", "YEAR", "DESC", "ASC"
];

// The prefixes the query text declares: {name: namespace}
function declared(text) {
  const out = {};
  const re = /PREFIX\s+([A-Za-z][\w.-]*)?:\s*<([^<>\s]*)>/gi;
  let m;
  while ((m = re.exec(text)) !== null) {
    out[m[1] || ""] = m[2];
  }
  return out;
}

function prologueEnd(text) {
  // after the last PREFIX/BASE line at the top of the text
  const re = /^\s*(?:#[^\n]*|(?:PREFIX\s+[\w.-]*:\s*<[^>]*>|BASE\s*<[^>]*>)\s*)\n?/i;
  let pos = 0;
  let m;
  while ((m = re.exec(text.slice(pos))) !== null && m[0].length) {
    pos += m[0].length;
  }
  return pos;
}

function completionSource(prefixes, terms) {
  return (context) => {
    const line = context.state.doc.lineAt(context.pos);
    const before = line.text.slice(0, context.pos - line.from);
    const text = context.state.doc.toString();
    // "PREFIX sch|": offer whole declarations
    const decl = /PREFIX\s+([\w.-]*:?)$/i.exec(before);
    if (decl) {
      const from = context.pos - decl[1].length;
      return {
        from,
        options: Object.keys(prefixes).map((name) => ({
          label: name + ":", type: "namespace", detail: prefixes[name],
          apply: name + ": <" + prefixes[name] + ">"
        })),
        validFor: /^[\w.-]*:?$/
      };
    }
    const word = context.matchBefore(/[A-Za-z][\w.-]*:[\w.-]*|[A-Za-z][\w-]*/);
    if (!word || (word.from === word.to && !context.explicit)) {
      return null;
    }
    const colon = word.text.indexOf(":");
    const known = Object.assign({}, prefixes, declared(text));
    if (colon === -1) {
      const options = Object.keys(known).map((name) => ({
        label: name + ":", type: "namespace", detail: known[name], boost: 1
      }));
      KEYWORDS.forEach((k) => options.push({ label: k, type: "keyword" }));
      return { from: word.from, options, validFor: /^[\w-]*$/ };
    }
    const prefix = word.text.slice(0, colon);
    const ns = known[prefix];
    if (!ns) {
      return null;
    }
    const needsDeclaration = !(prefix in declared(text));
    const options = terms
      .filter((t) => t.iri.indexOf(ns) === 0 && t.iri.length > ns.length)
      .map((t) => {
        const label = prefix + ":" + t.iri.slice(ns.length);
        const option = {
          label, type: t.kind === "class" ? "class" : "property",
          detail: t.kind, info: t.comment || undefined
        };
        if (needsDeclaration) {
          // the completed name brings its PREFIX line along
          option.apply = (view, completion, from, to) => {
            const at = prologueEnd(view.state.doc.toString());
            const line = "PREFIX " + prefix + ": <" + ns + ">\n";
            view.dispatch({
              changes: [{ from: at, insert: line }, { from, to, insert: label }],
              selection: { anchor: from + line.length + label.length }
            });
          };
        }
        return option;
      });
    return { from: word.from, options, validFor: /^[\w.-]*:[\w.-]*$/ };
  };
}

export function create(parent, options) {
  const prefixes = options.prefixes || {};
  // Server errors are marked with setDiagnostics (the server's parser is the reference:
  // no syntax check of its own); the first edit afterwards clears the mark.
  let marked = false;
  const clearOnEdit = EditorView.updateListener.of((update) => {
    if (update.docChanged && marked) {
      marked = false;
      setTimeout(() => update.view.dispatch(setDiagnostics(update.view.state, [])), 0);
    }
  });
  const terms = options.terms || [];
  const runKeys = keymap.of([
    { key: "Mod-Enter", run: () => { options.onRun(); return true; } },
    { key: "Shift-Enter", run: () => { options.onRun(); return true; } }
  ]);
  const view = new EditorView({
    parent,
    state: EditorState.create({
      doc: options.doc || "",
      extensions: [
        lineNumbers(), highlightActiveLineGutter(), history(), drawSelection(),
        indentOnInput(), bracketMatching(), closeBrackets(), highlightActiveLine(),
        syntaxHighlighting(classHighlighter), sparql(),
        autocompletion({ override: [completionSource(prefixes, terms)], icons: false }),
        lintGutter(), clearOnEdit,
        placeholder("SELECT * WHERE { ?s ?p ?o } LIMIT 10"),
        runKeys,
        keymap.of([...closeBracketsKeymap, ...defaultKeymap, ...historyKeymap,
                   ...completionKeymap, indentWithTab]),
        EditorView.contentAttributes.of({ "aria-label": "SPARQL query" }),
        EditorView.lineWrapping
      ]
    })
  });
  return {
    view,
    getValue: () => view.state.doc.toString(),
    setValue: (text) => {
      view.dispatch({ changes: { from: 0, to: view.state.doc.length, insert: text } });
    },
    focus: () => view.focus(),
    // mark line/column (1-based) of the server's message; false when out of range
    markError: (lineNo, column, message) => {
      const doc = view.state.doc;
      if (!(lineNo >= 1 && lineNo <= doc.lines)) {
        return false;
      }
      const line = doc.line(lineNo);
      // the server counts columns in code points, the document in UTF-16 units: an emoji
      // or other character outside the BMP before the column takes two units
      let units = 0;
      for (let seen = 1; seen < column && units < line.text.length; seen += 1) {
        units += line.text.codePointAt(units) > 0xffff ? 2 : 1;
      }
      let from = Math.min(line.from + units, line.to);
      let to;
      const rest = doc.sliceString(from, line.to);
      const token = /^[^\s{}().;,]+/.exec(rest);
      to = from + (token ? token[0].length : Math.min(1, rest.length));
      if (to === from && from > line.from) {
        from -= 1;  // at the end of a line: mark the character before
      }
      marked = true;
      view.dispatch(setDiagnostics(view.state, [{ from, to, severity: "error", message }]));
      return true;
    },
    clearError: () => {
      marked = false;
      view.dispatch(setDiagnostics(view.state, []));
    }
  };
}
