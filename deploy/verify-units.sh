#!/usr/bin/env bash
# Checks deploy/*.service with systemd-analyze verify, pointing ExecStart at the programs of
# a build (systemd-analyze requires the executable to exist). Usage: verify-units.sh BIN_DIR
set -euo pipefail
bin=$(cd "${1:?BIN_DIR}" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for unit in "$here"/*.service; do
  sed "s|/usr/local/bin/|$bin/|" "$unit" >"$tmp/$(basename "$unit")"
done
out=$(systemd-analyze verify "$tmp"/*.service 2>&1) || { echo "$out"; exit 1; }
# verify also reports problems without failing; any output is a problem here.
if [ -n "$out" ]; then
  echo "$out"
  exit 1
fi
echo "units verified: $(cd "$tmp" && ls *.service | tr '\n' ' ')"
