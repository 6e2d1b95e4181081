#!/usr/bin/env bash
# Runs every Roundhouse benchmark on loopback and prints one table (docs/performance.md).
#
#   bench/run-all.sh                 full sizes (a few minutes; 10,000 simulated controllers)
#   bench/run-all.sh --quick         small sizes, for trying the scripts out
#   bench/run-all.sh --only boot10k,reassign --json results.json
#   bench/run-all.sh --only register100k  re-registrations over 100,000 registered (when named)
#   bench/run-all.sh --only pg2_boot100k  100,000 controllers (run only when named; see
#                                         docs/performance.md, "Boot storms across backends")
#
# Programs come from $ROUNDHOUSE_BIN_DIR or build/bin (roundhouse-central, roundhouse-edge,
# roundhouse-fleet); needs wrk and python3-paho-mqtt (Debian packages).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# 10,000 MQTT connections: the broker and the fleet each need that many descriptors (the
# *_boot* benchmarks raise the limit further themselves when run as root).
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
python=/usr/bin/python3
[ -x "$python" ] || python=python3
# Imports tests/integration helpers: keep __pycache__ out of the source tree.
export PYTHONDONTWRITEBYTECODE=1
exec "$python" "$here/bench.py" "$@"
