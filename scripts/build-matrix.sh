#!/usr/bin/env bash
# Builds the tree with gcc and clang in each CMake build type (Debug, Release, RelWithDebInfo,
# MinSizeRel) under build-matrix/, warnings as errors, and says which combination failed.
# make check builds three of them (gcc RelWithDebInfo, gcc Debug with sanitizers, clang
# Release); this covers the rest before a release.
set -uo pipefail
cd "$(dirname "$0")/.."
jobs=${1:-2}
failed=()
mkdir -p build-matrix
for cc in gcc clang; do
  for type in Debug Release RelWithDebInfo MinSizeRel; do
    dir=build-matrix/$cc-$type
    if cmake -S . -B "$dir" -DCMAKE_C_COMPILER="$cc" -DCMAKE_BUILD_TYPE="$type" >"$dir.log" 2>&1 &&
       cmake --build "$dir" -j"$jobs" >>"$dir.log" 2>&1; then
      echo "build-matrix: $cc $type ok"
    else
      echo "build-matrix: $cc $type FAILED (log: $dir.log)"
      grep -E 'error|warning' "$dir.log" | head -n 10
      failed+=("$cc-$type")
    fi
  done
done
[ ${#failed[@]} -eq 0 ] || { echo "build-matrix: failed: ${failed[*]}"; exit 1; }
