#!/usr/bin/env bash
# The main job: install, build the graph from the bundled sample profiles, publish it as a
# release, export the dumps, and serve the release on http://127.0.0.1:${KG_PORT:-8000}/
# (embedded Oxigraph). The server serves var/sample-releases/current, never the working
# store: run this script again (or ingest into var/sample-store and 'kg release') and a
# running server switches to the new release (docs/operations.md).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
work=${KG_SAMPLE_WORK:-var/sample-store}
releases=${KG_SAMPLE_RELEASES:-var/sample-releases}
rm -rf "$work"
# the sample documents were captured on 2026-11-21; year-less dates resolve against it
SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-1795262400} \
  .venv/bin/kg ingest examples/profiles --as-of 2026-11-21 --store "$work"
.venv/bin/kg release --store "$work" --releases "$releases" --keep 2
.venv/bin/kg export --store "$releases/current" --out "${KG_EXPORTS_DIR:-exports}"
exec .venv/bin/kg serve --store "$releases/current" --exports-dir "${KG_EXPORTS_DIR:-exports}" \
  --host "${KG_HOST:-127.0.0.1}" --port "${KG_PORT:-8000}"
