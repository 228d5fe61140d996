#!/usr/bin/env bash
# The main job: install, build the graph from the bundled sample profiles, export
# the dumps, and serve everything on http://127.0.0.1:${KG_PORT:-8000}/ (embedded Oxigraph).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export KG_STORE=${KG_STORE:-var/sample-store}
rm -rf "$KG_STORE"
# the sample documents were captured on 2026-11-21; year-less dates resolve against it
SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-1795262400} \
  .venv/bin/kg ingest examples/profiles --as-of 2026-11-21 --store "$KG_STORE"
.venv/bin/kg export --store "$KG_STORE" --out "${KG_EXPORTS_DIR:-exports}"
exec .venv/bin/kg serve --store "$KG_STORE" --exports-dir "${KG_EXPORTS_DIR:-exports}" \
  --host "${KG_HOST:-127.0.0.1}" --port "${KG_PORT:-8000}"
