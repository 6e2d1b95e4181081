#!/usr/bin/env bash
# Renews the screenshots in docs/screenshots/ (shown in the README) from a running world of
# real programs: the browser tests that walk the pages at phone size (ui.test.mjs) and at
# desktop size (fleet.test.mjs) save what they see when ROUNDHOUSE_SCREENSHOTS names a
# directory. Needs a build (make build) and Chromium (scripts/install-deps.sh).
# Usage: scripts/screenshots.sh [BIN_DIR]   (default build/bin)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
bin="$(cd "${1:-$root/build/bin}" && pwd)"
out="$root/docs/screenshots"
mkdir -p "$out"
cd "$root/tests/browser"
export ROUNDHOUSE_BIN_DIR="$bin" ROUNDHOUSE_SCREENSHOTS="$out"
./run.sh ui.test.mjs >/dev/null
./run.sh fleet.test.mjs >/dev/null
ls -1 "$out"
