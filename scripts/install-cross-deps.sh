#!/usr/bin/env bash
# Installs what cross-building Roundhouse for a Raspberry Pi needs, for each ARCH given
# (armhf: 32-bit Raspberry Pi OS / Debian armhf; arm64): Debian's cross compiler, the target's
# multiarch -dev packages, and qemu-user to run the results on this machine. Adds the
# architecture to dpkg when it is missing. Idempotent: does nothing when all is installed.
#   scripts/install-cross-deps.sh armhf arm64
set -euo pipefail
[ $# -gt 0 ] || { echo "usage: $0 armhf|arm64 ..." >&2; exit 2; }

sudo=()
[ "$(id -u)" -eq 0 ] || sudo=(sudo)

packages=(qemu-user)
for arch in "$@"; do
  case "$arch" in
    armhf | arm64) ;;
    *) echo "install-cross-deps: unknown architecture '$arch' (armhf or arm64)" >&2; exit 2 ;;
  esac
  packages+=("crossbuild-essential-$arch")
  # The libraries of every program and of the unit tests. libhttp-parser-dev cannot be
  # installed for two architectures at once: the target gets the runtime library, the header
  # comes from the host's -dev package (CMakeLists.txt links the library by its full name).
  for p in libjansson-dev libmosquitto-dev uuid-dev libssl-dev libyaml-dev libcmocka-dev \
           libmicrohttpd-dev libsqlite3-dev libsystemd-dev libcurl4-openssl-dev \
           libavahi-client-dev libsodium-dev libhttp-parser2.9; do
    packages+=("$p:$arch")
  done
done
packages+=(libhttp-parser-dev)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

for arch in "$@"; do
  dpkg --print-foreign-architectures | grep -qx "$arch" || "${sudo[@]}" dpkg --add-architecture "$arch"
done
echo "install-cross-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
