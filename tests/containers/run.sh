#!/usr/bin/env bash
# make test-containers: the container deployment end to end, on this machine, without any
# image registry. Installs what is missing (docker.io, docker-compose, debootstrap), starts a
# private dockerd (no bridge, no iptables: containers use the host network), makes a Debian 12
# base image with debootstrap + docker import (its tarball cached in the work folder), builds
# the images from it, and runs tests/containers/test_compose.py against deploy/compose.yaml
# on loopback ports. Everything it started (the stack, dockerd) is removed at the end, also
# on failure; the work folder keeps the base tarball and docker's image and build cache.
#
# Environment: ROUNDHOUSE_CONTAINERS_DIR work folder (default build-containers),
# ROUNDHOUSE_CONTAINERS_FRESH=1 empties docker's data first (a cold build from the cached
# base; delete base-bookworm.tar too for a cold debootstrap), COMPOSE the compose command,
# DEBIAN_MIRROR, JOBS (make's parallelism in the image build, default 2),
# ROUNDHOUSE_CONTAINERS_SYSTEMD=0 leaves out the systemd units under systemd
# (tests/containers/Dockerfile.systemd and test_systemd.py, run after the compose scenario),
# ROUNDHOUSE_CONTAINERS_ARM=0 the Raspberry Pi images (scripts/build-images and
# tests/containers/test_arm_images.py, run after that).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
W=${ROUNDHOUSE_CONTAINERS_DIR:-$ROOT/build-containers}
mkdir -p "$W"
W=$(cd "$W" && pwd)
BASE_TAG=roundhouse-base:bookworm
export ROOT W BASE_TAG
# shellcheck source=tests/containers/lib.sh
. "$ROOT/tests/containers/lib.sh"

# A machine that cannot run them skips them, saying so (CI runs as root and runs them).
if [ "$(id -u)" -ne 0 ]; then
  echo "test-containers: SKIPPED: needs root (a private dockerd, debootstrap); run make check as root to test the containers" >&2
  exit 0
fi
t_start=$SECONDS
phase() { log "$1 done in $((SECONDS - t_phase)) s"; t_phase=$SECONDS; }
t_phase=$SECONDS

DOCKERD_PID=
compose=(docker-compose)
project=rhtest$$
systemd_container=rhsystemd$$
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  if [ -n "$DOCKERD_PID" ]; then
    # The test removes its stack itself; this is for a failure or an interrupt before that.
    "${compose[@]}" -p "$project" -f "$ROOT/deploy/compose.yaml" down --volumes --timeout 20 \
      >/dev/null 2>&1 || true
    # Anything else of this project (a half-created container).
    ids=$(docker ps -aq --filter "label=com.docker.compose.project=$project" 2>/dev/null || true)
    # shellcheck disable=SC2086
    [ -n "$ids" ] && docker rm -f $ids >/dev/null 2>&1
    docker rm -f "$systemd_container" >/dev/null 2>&1 || true
    stop_dockerd
  fi
  log "total $((SECONDS - t_start)) s, exit $rc"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

ensure_packages
if [ -n "${COMPOSE:-}" ]; then
  read -r -a compose <<<"$COMPOSE"
elif docker compose version >/dev/null 2>&1; then
  compose=(docker compose)
else
  compose=(docker-compose)
fi
phase "packages"

if [ "${ROUNDHOUSE_CONTAINERS_FRESH:-0}" = 1 ]; then
  log "emptying docker's data ($W/docker)"
  rm -rf "$W/docker"
fi
start_dockerd
phase "dockerd"
make_base_image
phase "base image"

export ROUNDHOUSE_TAG=test ROUNDHOUSE_IMAGE_PREFIX=roundhouse
for t in mosquitto central edge; do
  build_image "$t" "$ROUNDHOUSE_IMAGE_PREFIX-$t:$ROUNDHOUSE_TAG"
done
phase "images"
docker image ls --format '{{.Repository}}:{{.Tag}} {{.Size}}' | grep -E "^(roundhouse-base:bookworm|$ROUNDHOUSE_IMAGE_PREFIX-[a-z]+:$ROUNDHOUSE_TAG) " |
  while read -r ref size; do log "image $ref $size"; done

# The stack's environment: loopback, ports the kernel just handed out.
ports=$(python3 -c '
import socket
ss = [socket.socket() for _ in range(4)]
for s in ss: s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in ss))')
read -r MQTT_PORT CENTRAL_PORT MOTOR1_HEALTH_PORT MOTOR2_HEALTH_PORT <<<"$ports"
export MQTT_PORT CENTRAL_PORT MOTOR1_HEALTH_PORT MOTOR2_HEALTH_PORT
export COMPOSE_PROJECT_NAME=$project ROUNDHOUSE_BIND=127.0.0.1 CENTRAL_HOST=127.0.0.1
export ROUNDHOUSE_SIMULATE=true PI_NAME=yard-pi COMPOSE="${compose[*]}"
export DOCKER_BUILDKIT=0
log "compose: ${compose[*]} ($("${compose[@]}" version --short 2>/dev/null || true)), project $project," \
  "ports mqtt $MQTT_PORT central $CENTRAL_PORT health $MOTOR1_HEALTH_PORT $MOTOR2_HEALTH_PORT"
timeout 1200 /usr/bin/python3 "$ROOT/tests/containers/test_compose.py" -v
phase "scenario"

# The units of deploy/ under systemd as PID 1 of a container (host network, loopback ports),
# in an image with systemd, mosquitto and the programs of the images above, made from the
# same local base (tests/containers/Dockerfile.systemd). ROUNDHOUSE_CONTAINERS_SYSTEMD=0 skips.
if [ "${ROUNDHOUSE_CONTAINERS_SYSTEMD:-1}" = 1 ]; then
  build_image systemd "$ROUNDHOUSE_IMAGE_PREFIX-systemd:$ROUNDHOUSE_TAG" \
    -f "$ROOT/tests/containers/Dockerfile.systemd" \
    --build-arg CENTRAL_IMAGE="$ROUNDHOUSE_IMAGE_PREFIX-central:$ROUNDHOUSE_TAG" \
    --build-arg EDGE_IMAGE="$ROUNDHOUSE_IMAGE_PREFIX-edge:$ROUNDHOUSE_TAG"
  phase "systemd image"
  SYSTEMD_IMAGE="$ROUNDHOUSE_IMAGE_PREFIX-systemd:$ROUNDHOUSE_TAG" \
    SYSTEMD_CONTAINER=$systemd_container \
    timeout 300 /usr/bin/python3 "$ROOT/tests/containers/test_systemd.py" -v
  phase "systemd units test"
fi

# The Raspberry Pi images: built without running ARM code (scripts/build-images: cross
# compilers, mmdebstrap --variant=extract, Dockerfile.cross), then checked and run under
# qemu-user-static (tests/containers/test_arm_images.py). The cross builds, root file systems
# and base images stay cached in $W/arm and docker's data. ROUNDHOUSE_CONTAINERS_ARM=0 skips.
if [ "${ROUNDHOUSE_CONTAINERS_ARM:-1}" = 1 ]; then
  export ARM_ARCHES="arm64 armhf" ARM_DIST=$W/arm/dist ARM_OCI=$W/arm/oci
  if ! WORK=$W/arm timeout 900 "$ROOT/scripts/build-images" --arch arm64,armhf \
    --version "$ROUNDHOUSE_TAG" --prefix "$ROUNDHOUSE_IMAGE_PREFIX" --save "$ARM_DIST" \
    --oci "$ARM_OCI" >"$W/build-images.log" 2>&1; then
    log "scripts/build-images failed:"
    tail -n 40 "$W/build-images.log" >&2
    exit 1
  fi
  grep -E ' MB$' "$W/build-images.log" >&2 || true
  phase "ARM images"
  timeout 600 /usr/bin/python3 "$ROOT/tests/containers/test_arm_images.py" -v
  phase "ARM images test"
fi
