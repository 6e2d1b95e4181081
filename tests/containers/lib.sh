# shellcheck shell=bash
# Shared by tests/containers/run.sh: a private docker daemon and a locally made Debian 12 base
# image. Sourced; needs W (the work folder) set. Nothing here touches the host's network: the
# daemon creates no bridge and no iptables rules, and every container uses the host network.

log() { printf '[containers %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }

# Install what is missing of: docker.io docker-compose debootstrap, and for the Raspberry Pi
# images' test qemu-user-static (the ARM programs in the images run under it, as the
# container's entry point: no binfmt_misc needed) and skopeo (reads the OCI index back). The
# ARM build's own packages (cross compilers, mmdebstrap) come from scripts/build-images.
ensure_packages() {
  local missing=() p sudo=()
  for p in docker.io docker-compose debootstrap qemu-user-static skopeo; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
      missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  [ "$(id -u)" -ne 0 ] && sudo=(sudo)
  log "installing ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" >/dev/null
}

# A dockerd of our own: its data under $W/docker (kept as the image and build cache), its
# socket, pid file and containerd under $W/run. Sets DOCKER_HOST and DOCKERD_PID.
start_dockerd() {
  mkdir -p "$W/docker" "$W/run"
  rm -f "$W/run/docker.sock"
  dockerd --data-root "$W/docker" --exec-root "$W/run/exec" --pidfile "$W/run/dockerd.pid" \
    --host "unix://$W/run/docker.sock" --bridge=none --iptables=false --ip6tables=false \
    --ip-forward=false --ip-masq=false --userland-proxy=false >"$W/dockerd.log" 2>&1 &
  DOCKERD_PID=$!
  export DOCKER_HOST="unix://$W/run/docker.sock"
  for _ in $(seq 1 120); do # at most 60 s
    if docker version >/dev/null 2>&1; then
      log "dockerd $DOCKERD_PID ready ($(docker version -f '{{.Server.Version}}'))"
      return 0
    fi
    kill -0 "$DOCKERD_PID" 2>/dev/null || break
    sleep 0.5
  done
  log "dockerd did not start; its log:"
  tail -n 30 "$W/dockerd.log" >&2
  return 1
}

# SIGTERM to our dockerd (it stops its containerd), SIGKILL after 30 s.
stop_dockerd() {
  [ -n "${DOCKERD_PID:-}" ] || return 0
  kill -TERM "$DOCKERD_PID" 2>/dev/null || { DOCKERD_PID=; return 0; }
  for _ in $(seq 1 60); do
    kill -0 "$DOCKERD_PID" 2>/dev/null || break
    sleep 0.5
  done
  if kill -0 "$DOCKERD_PID" 2>/dev/null; then
    log "dockerd did not stop in 30 s: SIGKILL"
    kill -KILL "$DOCKERD_PID" 2>/dev/null || true
  fi
  wait "$DOCKERD_PID" 2>/dev/null || true
  DOCKERD_PID=
  # dockerd leaves its network namespace bind-mounted under the exec root: unmounted, so
  # that the build folder can be removed (rm -rf met "Device or resource busy").
  if [ -d "$W/run/exec/netns" ]; then
    for m in "$W"/run/exec/netns/*; do
      mountpoint -q "$m" 2>/dev/null && umount "$m" 2>/dev/null || true
    done
  fi
  log "dockerd stopped"
}

# The Debian 12 base image BASE_TAG, made with debootstrap (minbase) and docker import. The
# root file system's tarball is cached as $W/base-bookworm.tar between runs.
make_base_image() {
  local tar="$W/base-bookworm.tar" rootfs="$W/rootfs" mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
  if [ ! -s "$tar" ]; then
    log "debootstrap bookworm (minbase) from $mirror"
    rm -rf "$rootfs"
    timeout 900 debootstrap --variant=minbase bookworm "$rootfs" "$mirror" >"$W/debootstrap.log" 2>&1 ||
      { tail -n 30 "$W/debootstrap.log" >&2; return 1; }
    # As Debian's own images: no services started by package scripts, updates and security
    # sources, no package lists or caches in the image.
    printf '#!/bin/sh\nexit 101\n' >"$rootfs/usr/sbin/policy-rc.d"
    chmod 755 "$rootfs/usr/sbin/policy-rc.d"
    cat >"$rootfs/etc/apt/sources.list" <<SOURCES
deb $mirror bookworm main
deb $mirror bookworm-updates main
deb http://deb.debian.org/debian-security bookworm-security main
SOURCES
    # Like debian:bookworm-slim: no documentation, manual pages or translations, now or
    # from packages installed later.
    cat >"$rootfs/etc/dpkg/dpkg.cfg.d/slim" <<EXCLUDES
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-exclude /usr/share/lintian/*
EXCLUDES
    find "$rootfs/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete
    rm -rf "$rootfs"/usr/share/man/* "$rootfs"/usr/share/info/* "$rootfs"/usr/share/locale/* \
      "$rootfs"/usr/share/lintian/*
    rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/* "$rootfs"/var/log/*.log \
      "$rootfs"/var/log/apt/*
    tar --numeric-owner -C "$rootfs" -cf "$tar.tmp" . && mv "$tar.tmp" "$tar"
    rm -rf "$rootfs"
  fi
  if ! docker image inspect "$BASE_TAG" >/dev/null 2>&1; then
    log "docker import $tar as $BASE_TAG"
    docker import --change 'CMD ["/bin/bash"]' "$tar" "$BASE_TAG" >/dev/null
  fi
}

# docker build of one target from the local base, never pulling.
# `docker build --pull` is a yes/no flag (no "never"): --pull=false never fetches a base
# image that is present, and the base is checked to be present first. The legacy builder
# (DOCKER_BUILDKIT=0): Debian 12 packages no buildx plugin, which a client needs for BuildKit.
build_image() {
  local target=$1 tag=$2
  shift 2
  docker image inspect "$BASE_TAG" >/dev/null 2>&1 || { log "no local $BASE_TAG"; return 1; }
  if ! DOCKER_BUILDKIT=0 docker build --pull=false --network host \
    --build-arg BASE_IMAGE="$BASE_TAG" --build-arg JOBS="${JOBS:-2}" \
    --target "$target" -t "$tag" "$@" "$ROOT" >"$W/build-$target.log" 2>&1; then
    log "docker build --target $target failed:"
    tail -n 40 "$W/build-$target.log" >&2
    return 1
  fi
}
