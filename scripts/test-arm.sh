#!/usr/bin/env bash
# Cross-builds every program for ARCH (armhf or arm64) into build-ARCH with the toolchain file
# cmake/toolchain-ARCH.cmake, runs its unit tests under qemu-user, then the edge's integration
# tests with the ARM edge under qemu-user against the host's central, CLI and broker (the host
# build in HOST_BUILD, default build/, must exist: make build). Used by make test-arm.
#   scripts/test-arm.sh armhf [HOST_BUILD]
set -euo pipefail
cd "$(dirname "$0")/.."
arch=${1:?usage: scripts/test-arm.sh armhf|arm64 [HOST_BUILD]}
host_build=$(realpath "${2:-build}")
jobs=${JOBS:-2}
case "$arch" in
  armhf) qemu=qemu-arm ;;
  arm64) qemu=qemu-aarch64 ;;
  *) echo "test-arm: unknown architecture '$arch' (armhf or arm64)" >&2; exit 2 ;;
esac
dir=$(pwd)/build-$arch
[ -x "$host_build/bin/roundhouse-central" ] || { echo "test-arm: no host build in $host_build (make build)" >&2; exit 1; }

cmake -S . -B "$dir" -DCMAKE_TOOLCHAIN_FILE=cmake/toolchain-$arch.cmake \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$dir" -j"$jobs" >"$dir/build.log" 2>&1 || { tail -n 40 "$dir/build.log"; exit 1; }
! command -v file >/dev/null || file -b "$dir/bin/roundhouse-edge"
(cd "$dir" && ctest --output-on-failure -j"$jobs" -L unit)

# The harness takes every program from one directory: the host's, but for an edge that runs
# the ARM binary under qemu-user (exec: signals reach it as they would the real one).
bin=$dir/qemu-bin
mkdir -p "$bin"
for p in roundhouse-central roundhouse roundhouse-fleet; do ln -sfn "$host_build/bin/$p" "$bin/$p"; done
printf '#!/bin/sh\nexec %s %s "$@"\n' "$qemu" "$dir/bin/roundhouse-edge" >"$bin/roundhouse-edge"
chmod +x "$bin/roundhouse-edge"

python=/usr/bin/python3 # Debian's: the one python3-paho-mqtt installs into
[ -x "$python" ] || python=python3
files=(test_edge_central test_edge_live test_edge_offline test_edge_misc)
fail=0
for f in "${files[@]}"; do
  echo "$f" # two at a time: each waits mostly on timers
done | xargs -P "$jobs" -I{} sh -c \
  'ROUNDHOUSE_BIN_DIR="$1" PYTHONDONTWRITEBYTECODE=1 timeout 600 "$2" tests/integration/{}.py \
     >"$3/{}.log" 2>&1 && echo "test-arm: '"$arch"' {} passed" ||
   { echo "test-arm: '"$arch"' {} FAILED"; tail -n 60 "$3/{}.log"; exit 1; }' _ "$bin" "$python" "$dir" || fail=1
for f in "${files[@]}"; do
  echo "test-arm: $arch $f: $(grep -h -E '^Ran [0-9]+ tests' "$dir/$f.log" || echo 'no result')"
done
[ $fail -eq 0 ] || { echo "test-arm: $arch: integration tests failed"; exit 1; }
echo "test-arm: $arch passed (unit tests and ${#files[@]} edge integration files under $qemu)"
