#!/usr/bin/env bash
# Installs every Debian package Roundhouse needs to build, test and run its demo.
# Idempotent: does nothing (and needs no network) when everything is already installed.
set -euo pipefail

packages=(
  # build
  build-essential cmake pkg-config
  # make format-check and make lint (in make check)
  clang-format clang-tidy cppcheck
  # libraries
  libmicrohttpd-dev libcurl4-openssl-dev libjansson-dev libmosquitto-dev libsqlite3-dev
  libyaml-dev uuid-dev libssl-dev libsystemd-dev libhttp-parser-dev
  # tests
  libcmocka-dev python3 python3-paho-mqtt sqlite3 curl
  # systemd-analyze verify of deploy/*.service
  systemd
  # the broker and its command-line clients
  mosquitto mosquitto-clients
  # fuzzing (make fuzz, and briefly in make check): clang's libFuzzer and sanitizer runtime
  clang libclang-rt-14-dev
  # benchmarks (bench/run-all.sh)
  wrk
  # promtool checks the /metrics output in the tests
  prometheus
  # memcheck runs of the daemons (tests/integration/test_*_ops.py)
  valgrind
  # browser tests (tests/browser): headless Chromium driven by playwright-core from npm
  chromium
  # operator accounts (--auth): Argon2id password hashing
  libsodium-dev
  # DNS-SD/mDNS advertisement and discovery (--advertise; tests run avahi-daemon on a
  # private D-Bus inside network namespaces they create)
  libavahi-client-dev avahi-daemon avahi-utils dbus iproute2
  # the PostgreSQL backend (--db postgresql://...): the tests run a throwaway cluster
  libpq-dev postgresql
  # the scale-out recipe's load balancer
  haproxy
  # TLS tests generate their certificates with the openssl command-line tool
  openssl
)
# node and npm: Debian's, unless the commands are already there (a nodejs from another apt
# source may bundle npm, and then conflicts with Debian's npm package).
if ! command -v node >/dev/null 2>&1; then
  packages+=(nodejs)
fi
if ! command -v npm >/dev/null 2>&1; then
  packages+=(npm)
fi

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

sudo=()
if [ "$(id -u)" -ne 0 ]; then
  sudo=(sudo)
fi
echo "install-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
