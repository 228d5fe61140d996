#!/usr/bin/env bash
# Build the query page's SPARQL editor (CodeMirror 6 + codemirror-lang-sparql) from
# editor/ into server/static/editor/: the bundle and the licences of what it contains.
# Needs Node 20+ and npm with access to the npm registry; the server itself needs
# neither (the built files are committed, nothing is fetched at run time).
set -euo pipefail
cd "$(dirname "$0")/../editor"
npm ci --no-audit --no-fund
npm run build
out=../server/static/editor
# the licence of every package in the bundle (the production dependency tree)
{
  echo "Third-party software bundled in editor.js (built by scripts/build-editor.sh)."
  echo
  npm ls --omit=dev --all --parseable | tail -n +2 | sort -u | while read -r dir; do
    name=$(node -p "require('$dir/package.json').name")
    version=$(node -p "require('$dir/package.json').version")
    license=$(node -p "require('$dir/package.json').license")
    echo "================================================================"
    echo "$name $version ($license)"
    echo "================================================================"
    for file in "$dir"/LICENSE* "$dir"/LICENCE* "$dir"/license*; do
      if [ -f "$file" ]; then cat "$file"; echo; break; fi
    done
  done
} > "$out/THIRD_PARTY_LICENSES"
ls -l "$out"
