#!/usr/bin/env bash
# Runs one browser test file with node's built-in test runner; installs playwright-core
# from the committed package-lock.json first if node_modules is missing.
# Usage: run.sh FILE.test.mjs   (ROUNDHOUSE_BIN_DIR: where the built programs are)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cd "$here"
# Several ctest jobs may start at once: one installs, the others wait for it. The marker is
# written only after npm ci finished, so a half-extracted node_modules never counts.
marker=node_modules/.roundhouse-installed
if [ ! -e "$marker" ]; then
  exec 9>"${TMPDIR:-/tmp}/roundhouse-browser-npm-install.lock"
  flock -w 280 9
  if [ ! -e "$marker" ]; then
    npm ci --no-audit --no-fund >&2
    touch "$marker"
  fi
  flock -u 9
fi
if [ ! -x "${ROUNDHOUSE_CHROMIUM:-/usr/bin/chromium}" ]; then
  echo "run.sh: ${ROUNDHOUSE_CHROMIUM:-/usr/bin/chromium} is missing (scripts/install-deps.sh installs it)" >&2
  exit 1
fi
exec node --test "$1"
