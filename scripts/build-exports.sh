#!/usr/bin/env bash
# Rebuild exports/ from examples/profiles, reproducibly (fixed as-of date and ingest time).
set -euo pipefail
cd "$(dirname "$0")/.."
store=$(mktemp -d)/store
SOURCE_DATE_EPOCH=1795262400 .venv/bin/kg ingest examples/profiles --as-of 2026-11-21 --store "$store"
.venv/bin/kg export --store "$store" --out exports
rm -rf "$(dirname "$store")"
